"""The selection kernel (learned_router.selection over learned_router._core)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from learned_router import InvalidInputError, LearnedRouterError, Outcome, select_models
from learned_router.selection import KEYWORDS, Policy

P = [0.95, 0.80, 0.40]
COST = [0.030, 0.002, 0.0002]

POLICY_KWARG = {
    "min_quality": "min_quality",
    "max_cost": "max_cost_usd",
    "cost_weight": "cost_weight",
    "relative_quality": "quality_fraction",
}


@pytest.mark.parametrize(
    ("kwargs", "index", "outcome"),
    [
        ({"min_quality": 0.7}, 1, Outcome.MET),
        ({"min_quality": 0.3}, 2, Outcome.MET),
        ({"min_quality": 0.99}, 0, Outcome.FALLBACK),
        ({"max_cost_usd": 0.05}, 0, Outcome.MET),
        ({"max_cost_usd": 0.002}, 1, Outcome.MET),
        ({"max_cost_usd": 0.0001}, 2, Outcome.FALLBACK),
        ({"cost_weight": 0.0}, 0, Outcome.MET),
        ({"cost_weight": 10.0}, 1, Outcome.MET),  # 0.95-0.3 < 0.80-0.02
        ({"cost_weight": 1000.0}, 2, Outcome.MET),
        ({"quality_fraction": 0.8}, 1, Outcome.MET),
        ({"quality_fraction": 0.9}, 0, Outcome.MET),
        ({"quality_fraction": 0.0}, 2, Outcome.MET),
    ],
)
def test_policies_on_a_table(kwargs: dict[str, float], index: int, outcome: Outcome) -> None:
    sel = select_models(P, COST, **kwargs)
    assert sel.index.tolist() == [index]
    assert sel.outcome.tolist() == [outcome]
    assert sel.p_success[0] == P[index]
    assert sel.cost_usd[0] == COST[index]


def test_results_are_numpy_arrays_and_read_only() -> None:
    sel = select_models(np.array([P, P]), np.array([COST, COST]), min_quality=0.7)
    assert sel.index.dtype == np.int64
    assert sel.p_success.dtype == np.float64
    assert sel.cost_usd.dtype == np.float64
    assert sel.outcome.dtype == np.uint8
    with pytest.raises(ValueError, match="read-only"):
        sel.index[0] = 2


def test_availability_mask_excludes_models_and_can_empty_a_row() -> None:
    p = np.array([P, P])
    cost = np.array([COST, COST])
    mask = np.array([[True, False, True], [False, False, False]])
    sel = select_models(p, cost, available=mask, min_quality=0.7)
    assert sel.index.tolist() == [0, -1]
    assert sel.outcome.tolist() == [Outcome.MET, Outcome.NONE_AVAILABLE]
    assert np.isnan(sel.p_success[1])
    assert np.isnan(sel.cost_usd[1])
    one_row_mask = select_models(p, cost, available=[True, False, True], min_quality=0.7)
    assert one_row_mask.index.tolist() == [0, 0]


def test_ties_break_on_cost_then_index() -> None:
    sel = select_models([0.9, 0.9, 0.9], [0.2, 0.1, 0.1], max_cost_usd=1.0)
    assert sel.index.tolist() == [1]
    sel = select_models([0.5, 0.9, 0.9], [0.1, 0.1, 0.1], min_quality=0.4)
    assert sel.index.tolist() == [1]  # equal cost: higher p, then lower index


@pytest.mark.parametrize(
    ("p", "cost", "kwargs", "argument", "detail"),
    [
        ([np.nan, 0.5], [0.1, 0.1], {"min_quality": 0.5}, "p", "p[0, 0] = NaN"),
        ([0.5, 1.5], [0.1, 0.1], {"min_quality": 0.5}, "p", "p[0, 1] = 1.5"),
        ([0.5, 0.5], [0.1, np.inf], {"min_quality": 0.5}, "cost", "cost[0, 1] = inf"),
        ([0.5, 0.5], [0.1, -0.1], {"min_quality": 0.5}, "cost", "cost[0, 1] = -0.1"),
        ([0.5, 0.5], [0.1, 0.1, 0.1], {"min_quality": 0.5}, "cost", "shape 1 x 3"),
        (np.zeros((0, 3)), np.zeros((0, 3)), {"min_quality": 0.5}, "p", "empty"),
        ([0.5, 0.5], [0.1, 0.1], {"min_quality": 1.5}, "min_quality", "got 1.5"),
        ([0.5, 0.5], [0.1, 0.1], {"max_cost_usd": -1.0}, "max_cost_usd", "got -1"),
        ([0.5, 0.5], [0.1, 0.1], {"cost_weight": np.nan}, "cost_weight", "got NaN"),
        ([0.5, 0.5], [0.1, 0.1], {"quality_fraction": 2.0}, "quality_fraction", "got 2"),
        (np.zeros((1, 1, 2)), [0.1, 0.1], {"min_quality": 0.5}, "p_success", "shape (1, 1, 2)"),
    ],
)
def test_bad_input_raises_a_clear_value_error(
    p: object, cost: object, kwargs: dict[str, float], argument: str, detail: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        select_models(p, cost, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert f"`{argument}`" in message
    assert detail in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, LearnedRouterError)


def test_exactly_one_policy_is_required() -> None:
    with pytest.raises(InvalidInputError, match="exactly one policy"):
        select_models(P, COST)
    with pytest.raises(InvalidInputError, match="exactly one policy"):
        select_models(P, COST, min_quality=0.5, max_cost_usd=1.0)


def test_non_contiguous_views_are_coerced() -> None:
    p = np.tile(np.array(P), (4, 2))[:, ::2]  # a strided view, [4, 3]
    cost = np.tile(np.array(COST), (4, 1))
    assert not p.flags.c_contiguous
    sel = select_models(p, cost, min_quality=0.7)
    expected = reference.select(p.tolist(), cost.tolist(), [[True] * 3] * 4, "min_quality", 0.7)
    assert sel.index.tolist() == [i for i, _ in expected]


# --- properties against the pure-Python reference -------------------------------------------

probabilities = st.floats(0.0, 1.0, allow_nan=False)
# Costs drawn from a small grid so that ties actually happen.
costs = st.sampled_from([0.0, 1e-6, 1e-4, 0.001, 0.002, 0.01, 0.5])


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 6))
    # A few repeated values so that ties on p happen too.
    p_values = st.sampled_from([0.1, 0.5, 0.9]) | probabilities
    p = draw(hnp.arrays(np.float64, (n, m), elements=p_values))
    cost = draw(hnp.arrays(np.float64, (n, m), elements=costs))
    available = draw(hnp.arrays(np.bool_, (n, m)))
    return p, cost, available


@settings(max_examples=300, deadline=None)
@given(
    problem=problems(),
    policy=st.sampled_from(list(POLICY_KWARG)),
    value=st.sampled_from([0.0, 0.001, 0.3, 0.5, 0.9, 1.0]) | st.floats(0.0, 1.0),
)
def test_matches_the_python_reference(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray], policy: str, value: float
) -> None:
    p, cost, available = problem
    sel = select_models(p, cost, available=available, **{POLICY_KWARG[policy]: value})
    expected = reference.select(p.tolist(), cost.tolist(), available.tolist(), policy, value)
    assert list(zip(sel.index.tolist(), sel.outcome.tolist(), strict=True)) == expected


@settings(max_examples=200, deadline=None)
@given(problem=problems(), budget=st.floats(0.0, 0.6))
def test_budget_is_never_exceeded_when_a_feasible_model_exists(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray], budget: float
) -> None:
    p, cost, available = problem
    sel = select_models(p, cost, available=available, max_cost_usd=budget)
    for row in range(p.shape[0]):
        feasible = available[row] & (cost[row] <= budget)
        if feasible.any():
            assert sel.outcome[row] == Outcome.MET
            assert sel.cost_usd[row] <= budget
            assert sel.p_success[row] == p[row][feasible].max()


@settings(max_examples=200, deadline=None)
@given(problem=problems())
def test_zero_cost_weight_picks_the_max_p_model(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    p, cost, available = problem
    sel = select_models(p, cost, available=available, cost_weight=0.0)
    for row in range(p.shape[0]):
        if available[row].any():
            assert sel.p_success[row] == p[row][available[row]].max()
        else:
            assert sel.index[row] == -1


def test_identical_results_from_many_threads() -> None:
    rng = np.random.default_rng(7)
    p = rng.random((2_000, 20))
    cost = rng.choice([1e-4, 1e-3, 1e-2], size=(2_000, 20))
    available = rng.random((2_000, 20)) > 0.2
    expected = select_models(p, cost, available=available, min_quality=0.8)
    results: list[np.ndarray] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            got = select_models(p, cost, available=available, min_quality=0.8).index
            with lock:
                results.append(got)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 160
    for got in results:
        np.testing.assert_array_equal(got, expected.index)


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({"min_quality": 0.8}, Policy("min_quality", 0.8)),
        ({"max_cost_usd": 0.01}, Policy("max_cost", 0.01)),
        ({"cost_weight": 3.0, "max_cost_usd": 0.5}, Policy("cost_weight", 3.0, 0.5)),
        ({"quality_fraction": 0.9}, Policy("relative_quality", 0.9)),
        ({}, Policy("min_quality", 0.5)),  # the default
    ],
)
def test_policy_from_keywords(keywords: dict[str, float], expected: Policy) -> None:
    assert Policy.from_keywords(**keywords, default=Policy("min_quality", 0.5)) == expected


def test_policy_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(InvalidInputError, match="at most one of"):
        Policy.from_keywords(min_quality=0.8, cost_weight=1.0)
    with pytest.raises(InvalidInputError, match="give a policy"):
        Policy.from_keywords()
    with pytest.raises(InvalidInputError, match="`max_cost_usd`: got -1"):
        Policy.from_keywords(min_quality=0.8, max_cost_usd=-1.0)
    with pytest.raises(InvalidInputError, match="unknown policy 'cheapest'"):
        Policy("cheapest", 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="policy must name one of"):
        Policy.from_mapping({"max_cost": 1.0})
    with pytest.raises(InvalidInputError, match="policy= or a policy keyword"):
        select_models(P, COST, policy=Policy("min_quality", 0.7), min_quality=0.7)


def test_a_policy_object_selects_like_its_keyword_and_its_cap_masks() -> None:
    for name, keyword in KEYWORDS.items():
        value = {"min_quality": 0.7, "max_cost": 0.02, "cost_weight": 5.0}.get(name, 0.9)
        by_policy = select_models(P, COST, policy=Policy(name, value))
        by_keyword = select_models(P, COST, **{keyword: value})
        assert by_policy.index.tolist() == by_keyword.index.tolist()
        assert (by_policy.policy, by_policy.value) == (name, value)
    capped = select_models(P, COST, policy=Policy("cost_weight", 0.0, max_cost_usd=0.002))
    assert float(capped.cost_usd[0]) <= 0.002
    assert Policy.from_mapping({"quality_fraction": 0.9}).keywords() == {"quality_fraction": 0.9}
