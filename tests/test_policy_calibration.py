"""Threshold calibration (learned_router.policy_calibration)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from learned_router import data, select_models
from learned_router.catalog import Catalog, LatencyProfile, ModelSpec
from learned_router.errors import InvalidInputError
from learned_router.policy_calibration import (
    Calibration,
    best_single_model,
    calibrate,
    calibrate_on_log,
    candidate_values,
    evaluate,
    sweep,
)
from learned_router.selection import PolicyName
from learned_router.tokens import OutputLengthModel
from logs import ROWS, write

# A synthetic routing problem with a known signal: each prompt has a
# difficulty d, each model a skill s; a model answers well with probability
# sigmoid(8 (s - d)). Better models cost more. The "predictor" sees that
# probability with a little noise.
SKILL = np.array([0.2, 0.4, 0.6, 0.75, 0.9])
PRICE_USD = np.array([0.0002, 0.001, 0.003, 0.01, 0.03])
Matrices = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def problem(n: int, seed: int) -> Matrices:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0, 1, n)
    length = rng.uniform(0.5, 1.5, n)
    p_true = 1 / (1 + np.exp(-8 * (SKILL - difficulty[:, None])))
    quality = (rng.uniform(size=p_true.shape) < p_true).astype(np.float64)
    p_predicted = np.clip(p_true + rng.normal(0, 0.05, p_true.shape), 0, 1)
    return p_predicted, quality, PRICE_USD * length[:, None]


VALIDATION = problem(3000, seed=1)
HELD_OUT = problem(3000, seed=2)


@pytest.mark.parametrize("policy", ["relative_quality", "min_quality", "cost_weight", "max_cost"])
def test_quality_target_holds_on_held_out_traffic(policy: PolicyName) -> None:
    cal = calibrate(*VALIDATION, quality_of_best=0.95, policy=policy)
    assert cal.target_met
    assert cal.realised_quality >= 0.95 * cal.best_model_quality
    assert cal.best_model == "column 4"
    quality, cost, coverage = evaluate(*HELD_OUT, policy=policy, value=cal.value)
    _, best_quality, best_cost = best_single_model(HELD_OUT[1], HELD_OUT[2])
    assert coverage == 1.0
    assert quality >= 0.95 * best_quality - 0.02  # the target, within sampling noise
    assert cost <= 0.6 * best_cost  # and it is much cheaper than the best model


@pytest.mark.parametrize("policy", ["cost_weight", "min_quality", "max_cost", "relative_quality"])
def test_budget_target_holds_on_held_out_traffic(policy: PolicyName) -> None:
    budget = 0.005
    cal = calibrate(*VALIDATION, max_mean_cost_usd=budget, policy=policy)
    assert cal.target_met
    assert cal.realised_cost_usd <= budget
    quality, cost, _ = evaluate(*HELD_OUT, policy=policy, value=cal.value)
    assert cost <= 1.05 * budget
    cheapest_quality = HELD_OUT[1][:, 0].mean()
    assert quality > cheapest_quality + 0.1


def test_the_cost_weighted_policy_spends_a_budget_best() -> None:
    """Lagrangian routing (the default for budgets) beats thresholding p."""
    by_policy = {
        policy: calibrate(*VALIDATION, max_mean_cost_usd=0.005, policy=policy)
        for policy in ("cost_weight", "min_quality")
    }
    assert by_policy["cost_weight"].policy == "cost_weight"
    assert (
        by_policy["cost_weight"].realised_quality > by_policy["min_quality"].realised_quality + 0.1
    )


def test_calibrated_setting_applies_through_select_models() -> None:
    p, q, c = VALIDATION
    cal = calibrate(p, q, c, quality_of_best=0.9)
    sel = select_models(p, c, **cal.select_kwargs())
    assert float(c[np.arange(len(c)), sel.index].mean()) == pytest.approx(cal.realised_cost_usd)


def test_small_table_by_hand() -> None:
    p = [[0.9, 0.5], [0.9, 0.8], [0.8, 0.2]]
    q = [[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]
    c = [[10.0, 1.0], [10.0, 1.0], [10.0, 1.0]]
    cal = calibrate(p, q, c, quality_of_best=0.9, models=["big", "small"])
    # Only prompt 1 can go to the small model without losing quality.
    assert (cal.realised_quality, cal.realised_cost_usd) == (1.0, 7.0)
    assert (cal.best_model, cal.best_model_quality, cal.best_model_cost_usd) == ("big", 1.0, 10.0)
    assert cal.n_prompts == 3
    cal = calibrate(p, q, c, max_mean_cost_usd=4.0, models=["big", "small"])
    assert (cal.realised_quality, cal.realised_cost_usd) == (pytest.approx(2 / 3), 4.0)
    assert cal.target_met


def test_unreachable_target_returns_the_closest_setting() -> None:
    # The predictor prefers the wrong (and cheaper) model on prompt 0, so 100%
    # of the best model's quality is out of reach: the router reaches 0.5.
    p = [[0.5, 0.9], [0.9, 0.5]]
    q = [[1.0, 0.0], [1.0, 0.0]]
    c = [[2.0, 1.0], [2.0, 1.0]]
    cal = calibrate(p, q, c, quality_of_best=1.0)
    assert not cal.target_met
    assert cal.realised_quality == 0.5
    assert cal.realised_quality == max(sweep(p, q, c, policy=cal.policy).mean_quality)
    cal = calibrate(p, q, c, max_mean_cost_usd=0.5)
    assert not cal.target_met
    assert cal.realised_cost_usd == 1.0  # the cheapest it can do


def test_unknown_quality_is_skipped_and_reported_as_coverage() -> None:
    p = [[0.9, 0.8], [0.9, 0.8], [0.9, 0.1]]
    q = [[1.0, math.nan], [0.0, 1.0], [math.nan, 1.0]]
    c = [[2.0, 1.0]] * 3
    quality, cost, coverage = evaluate(p, q, c, policy="min_quality", value=0.5)
    # Chosen: small, small, big -> qualities nan, 1.0, nan.
    assert (quality, cost, coverage) == (1.0, 4 / 3, pytest.approx(1 / 3))
    assert best_single_model(np.array(q), np.array(c)) == (1, 1.0, 1.0)


def test_realised_costs_replace_expected_ones_where_known() -> None:
    p, q, c = [[0.9, 0.8]], [[1.0, 1.0]], [[2.0, 1.0]]
    real = [[5.0, math.nan]]
    assert evaluate(p, q, c, policy="min_quality", value=0.5, realised_cost_usd=real)[1] == 1.0
    assert evaluate(p, q, c, policy="min_quality", value=0.85, realised_cost_usd=real)[1] == 5.0


@pytest.mark.parametrize("policy", ["relative_quality", "min_quality", "cost_weight", "max_cost"])
def test_candidates_are_bounded_and_sorted(policy: PolicyName) -> None:
    p, _, c = VALIDATION
    values = candidate_values(policy, p, c, np.ones(p.shape, bool), resolution=50)
    assert len(values) <= 53
    assert np.all(np.diff(values) > 0)
    assert values[0] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, (12, 4), elements=st.floats(0, 1)),
    hnp.arrays(np.float64, (12, 4), elements=st.sampled_from([0.0, 0.5, 1.0])),
    st.floats(0.5, 1.0),
)
def test_quality_calibration_is_the_cheapest_feasible_sweep_point(
    p: npt.NDArray[np.float64], q: npt.NDArray[np.float64], fraction: float
) -> None:
    c = np.tile([0.001, 0.01, 0.1, 1.0], (12, 1))
    cal = calibrate(p, q, c, quality_of_best=fraction, policy="min_quality")
    result = sweep(p, q, c, policy="min_quality")
    bar = fraction * cal.best_model_quality - 1e-12
    feasible = result.mean_quality >= bar
    if cal.target_met:
        assert cal.realised_quality >= bar
        assert cal.realised_cost_usd == result.mean_cost_usd[feasible].min()
    else:
        assert not feasible.any()
        assert cal.realised_quality == result.mean_quality.max()


def test_json_round_trip(tmp_path: Path) -> None:
    cal = calibrate(*VALIDATION, quality_of_best=0.95, models=["a", "b", "c", "d", "e"])
    assert Calibration.from_json(cal.to_json()) == cal
    assert Calibration.load(cal.save(tmp_path / "calibration.json")) == cal
    raw = json.loads((tmp_path / "calibration.json").read_text())
    assert raw["format"] == "learned-router/calibration"
    assert raw["models"] == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a learned-router calibration"),
        ('{"format": "learned-router/calibration", "format_version": 9}', "version 9"),
        ('{"format": "learned-router/calibration", "format_version": 1}', "fields missing"),
    ],
)
def test_bad_calibration_files_are_refused(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Calibration.from_json(text)


def test_unknown_fields_and_policies_are_refused() -> None:
    cal = calibrate(*VALIDATION, quality_of_best=0.9)
    raw = json.loads(cal.to_json())
    with pytest.raises(InvalidInputError, match="unknown \\['extra'\\]"):
        Calibration.from_json(json.dumps({**raw, "extra": 1}))
    with pytest.raises(InvalidInputError, match="unknown policy"):
        Calibration.from_json(json.dumps({**raw, "policy": "vibes"}))
    with pytest.raises(InvalidInputError, match="cannot read"):
        Calibration.load("/nonexistent/calibration.json")


P, Q, C = [[0.9, 0.5]], [[1.0, 0.0]], [[2.0, 1.0]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one target"),
        ({"quality_of_best": 0.9, "max_mean_cost_usd": 1.0}, "exactly one target"),
        ({"quality_of_best": 0.0}, "fraction in \\(0, 1\\]"),
        ({"quality_of_best": 1.5}, "fraction in \\(0, 1\\]"),
        ({"max_mean_cost_usd": -1.0}, "budget >= 0"),
        ({"max_mean_cost_usd": math.nan}, "budget >= 0"),
        ({"quality_of_best": 0.9, "policy": "vibes"}, "unknown policy"),
        ({"quality_of_best": 0.9, "models": ["a"]}, "1 names for 2 columns"),
        ({"quality_of_best": 0.9, "p": [[0.9, math.nan]]}, r"p_success\[0, 1\] = nan"),
        ({"quality_of_best": 0.9, "q": [[1.0, 2.0]]}, "in \\[0, 1\\]"),
        ({"quality_of_best": 0.9, "q": [[math.nan, math.nan]]}, "every value is NaN"),
        ({"quality_of_best": 0.9, "c": [[1.0, 2.0, 3.0]]}, "differs from p_success"),
        ({"quality_of_best": 0.9, "c": [[1.0, math.inf]]}, r"cost_usd\[0, 1\] = inf"),
        ({"quality_of_best": 0.9, "p": [[]], "q": [[]], "c": [[]]}, "non-empty"),
        ({"quality_of_best": 0.9, "available": [[False, False]]}, "no available model"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict[str, object], match: str) -> None:
    p, q, c = kwargs.pop("p", P), kwargs.pop("q", Q), kwargs.pop("c", C)
    with pytest.raises(InvalidInputError, match=match):
        calibrate(p, q, c, **kwargs)  # type: ignore[arg-type]


def test_calibrate_on_log_uses_the_predictor_and_the_catalog(tmp_path: Path) -> None:
    log = data.load(write(tmp_path / "val.jsonl", ROWS))
    catalog = Catalog(
        models=(
            ModelSpec("small", "p", 0.1, 0.1, LatencyProfile(100.0, 100.0)),
            ModelSpec("large", "p", 10.0, 10.0, LatencyProfile(100.0, 100.0)),
        ),
        version="v1",
    )
    lengths = OutputLengthModel({}, {"small": 20.0, "large": 20.0})
    seen: list[list[str]] = []

    def predict(prompts: list[str]) -> npt.NDArray[np.float64]:
        seen.append(list(prompts))
        # A perfect predictor: the true quality where known, else 0.5.
        quality = log.matrix(["small", "large"]).quality
        return np.where(np.isnan(quality), 0.5, quality)

    cal = calibrate_on_log(
        log,
        predict,
        models=["small", "large"],
        catalog=catalog,
        lengths=lengths,
        quality_of_best=1.0,
    )
    assert seen == [list(log.matrix(["small", "large"]).prompts)]
    assert cal.models == ("small", "large")
    assert cal.best_model == "large"
    assert cal.target_met
    assert cal.n_prompts == 3

    def wrong_shape(prompts: list[str]) -> npt.NDArray[np.float64]:
        return np.zeros((len(prompts), 3))

    with pytest.raises(InvalidInputError, match="predict returned shape"):
        calibrate_on_log(
            log,
            wrong_shape,
            models=["small", "large"],
            catalog=catalog,
            lengths=lengths,
            quality_of_best=1.0,
        )
