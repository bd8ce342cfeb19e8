"""The leave-one-dataset-out protocol's held-out block: which models and prompts a
router is scored on (training/protocol.py, shared by lodo_diagnose and the studies)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import synthetic

pytest.importorskip("torch", reason="the protocol trains quality models: train extra")

from training.protocol import held_out_block

from learned_router import data
from learned_router.catalog import Catalog


def _log(tmp_path: Path) -> data.OutcomeLog:
    path = synthetic.write_log(tmp_path / "held.jsonl", prompts_per_task=20, dataset="held")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # `mid` did not answer one prompt; `frontier` answered only half of them.
    rows = [r for r in rows if not (r["model"] == "mid" and r["prompt_id"] == "format-3")]
    rows = [
        r for r in rows if not (r["model"] == "frontier" and int(r["prompt_id"].split("-")[1]) % 2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data.load([path], rejects=tmp_path / "rejects.jsonl")


def test_the_block_keeps_known_well_covered_models_and_complete_prompts(tmp_path: Path) -> None:
    log = _log(tmp_path)
    catalog = Catalog.load(synthetic.write_catalog(tmp_path / "catalog.toml"))
    prompts = log.num_prompts
    known = ["cheap", "frontier", "mid", "never-seen"]
    counts = np.array([500.0, 500.0, 500.0, 0.0])
    block = held_out_block(log, "held", catalog, known, counts)
    assert block is not None
    # frontier answers half the prompts (< 90% coverage): not scored, not "unknown".
    assert block.models == ("cheap", "mid")
    assert block.unknown_models == ()
    assert len(block.texts) == prompts - 1  # the prompt mid did not answer
    assert block.quality.shape == block.realised_cost.shape == (prompts - 1, 2)
    assert np.isfinite(block.realised_cost).all()
    assert (block.realised_cost > 0).all()

    # A model the router has too few training labels of is reported, not scored.
    few = held_out_block(log, "held", catalog, known, np.array([500.0, 500.0, 10.0, 0.0]))
    assert few is not None
    assert few.models == ("cheap",)
    assert few.unknown_models == ("mid",)
    assert len(few.texts) == prompts
    # Too few models or prompts to score: None.
    assert held_out_block(log, "held", catalog, known, counts, min_models=3) is None
    assert held_out_block(log, "held", catalog, known, counts, min_prompts=10**6) is None


def test_the_block_says_whether_answer_lengths_were_logged(tmp_path: Path) -> None:
    """A set that logs answer lengths is scored on each model's own; one that logs
    neither costs nor lengths charges every model one assumed length, and the report
    marks it (LLMRouter NQ logs lengths, its 9-model set does not)."""
    from training.protocol import HeldOutResult, render
    from training.quality_model import QualityConfig

    from learned_router.routing_benchmark.harness import Estimate

    catalog = Catalog.load(synthetic.write_catalog(tmp_path / "catalog.toml"))
    known, counts = ["cheap", "mid"], np.array([500.0, 500.0])
    logged = held_out_block(_log(tmp_path), "held", catalog, known, counts)
    assert logged is not None
    assert logged.logged_share == 1.0

    bare = tmp_path / "bare"
    bare.mkdir()
    path = synthetic.write_log(bare / "held.jsonl", prompts_per_task=20, dataset="held")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.pop("output_tokens", None)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    log = data.load([path], rejects=bare / "rejects.jsonl")
    assumed = held_out_block(log, "held", catalog, known, counts)
    assert assumed is not None
    assert assumed.logged_share == 0.0

    def result(share: float) -> HeldOutResult:
        e = Estimate(0.5, 0.4, 0.6)
        row = {"aiq": e, "aiq_over_zero": Estimate(0.0, -0.001, 0.001)}
        return HeldOutResult(
            dataset=f"share-{share}",
            prompts=10,
            models=("a", "b", "c"),
            unknown_models=(),
            zero_router_aiq=e,
            routers={
                "learned-router": row,
                "knn (cross-fitted on D)": row,
                "tfidf-lr (cross-fitted on D)": row,
            },
            cost_error={"total_expected_over_real": 1.5, "logged_share": share},
        )

    report = render([result(0.0), result(1.0)], command="c", config=QualityConfig())
    assert "| 1.50 (one assumed length) | n/a | yes |" in report
    assert "| 1.50 | n/a | yes |" in report


def test_the_cost_error_between_models_ignores_a_set_wide_factor() -> None:
    from training.protocol import cost_error

    rng = np.random.default_rng(0)
    realised = rng.uniform(1e-4, 1e-3, size=(50, 4))
    uniform = cost_error(realised * 2.0, realised)
    assert uniform["total_expected_over_real"] == pytest.approx(2.0)
    assert uniform["between_models"] == pytest.approx(1.0)
    # One of four models priced 4x too high against the rest: log-std 0.6 -> x1.82.
    skewed = realised * 2.0
    skewed[:, 0] *= 4.0
    error = cost_error(skewed, realised)
    assert error["between_models"] == pytest.approx(np.exp(np.std(np.log([8, 2, 2, 2]))))
    assert error["between_models"] > 1.8
    # Cells without a cost on either side are left out, not counted as zero.
    skewed[0, 1] = np.nan
    assert cost_error(skewed, realised)["cells"] == 199


def _fixed_vs_zero(quality: np.ndarray, cost: np.ndarray) -> float:
    """Best fixed choice, cross-fitted, minus the zero router: AIQ on one held-out block."""
    from training.protocol import BEST_FIXED, CrossFitted

    from learned_router.routing_benchmark.baselines import BestFixedRouter
    from learned_router.routing_benchmark.harness import score_routings
    from learned_router.routing_benchmark.routers import Oracle, RouterInputs

    n, m = quality.shape
    inputs = RouterInputs(
        prompts=tuple(f"p{i}" for i in range(n)),
        embeddings=np.zeros((n, 2), np.float32),
        models=tuple(f"m{j}" for j in range(m)),
        expected_cost_usd=cost,
    )
    oracle = Oracle()
    oracle.reveal(quality, cost)
    routings = {
        BEST_FIXED: CrossFitted(BestFixedRouter, BEST_FIXED, quality, 5, 0).route(inputs),
        "oracle": oracle.route(inputs),
    }
    estimates, _ = score_routings(
        quality, cost, routings, best=m - 1, weak=0, bootstrap_resamples=0
    )
    return estimates[BEST_FIXED]["aiq_over_zero"].value


def test_the_zero_router_s_hindsight_is_worth_something_only_among_near_ties() -> None:
    """The protocol's reading of "do no harm": the zero router takes the hull of the
    held-out prompts' own single-model points. Among many models of one true quality
    that hull rides on the luckiest one, and the same choice made without hindsight
    (each model's mean on the other folds) falls short of it; with one model clearly
    best at each cost, it does not."""
    n, m = 600, 12
    tied_costs = np.tile(np.linspace(1.0, 3.0, m), (n, 1))
    clear_costs = np.tile(np.array([1.0, 2.0, 4.0, 8.0]), (n, 1))
    tied, clear = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        # Twelve models of one true quality, dearer and dearer.
        tied.append(_fixed_vs_zero((rng.random((n, m)) < 0.9).astype(float), tied_costs))
        # Four models, each clearly better than the cheaper ones.
        rates = np.array([0.3, 0.7, 0.85, 0.9])
        clear.append(_fixed_vs_zero((rng.random((n, 4)) < rates).astype(float), clear_costs))
    # Single-model choices never beat the hull of the single models' own points.
    assert max(tied + clear) <= 1e-12
    assert float(np.mean(tied)) < -0.004
    assert min(clear) > -0.001


def test_the_report_reads_the_router_against_the_best_fixed_choice() -> None:
    from training.protocol import BEST_FIXED, HeldOutResult, render
    from training.quality_model import QualityConfig

    from learned_router.routing_benchmark.harness import Estimate

    def row(aiq: float, over_zero: float, delta: float) -> dict[str, Estimate]:
        return {
            "aiq": Estimate(aiq, aiq - 0.01, aiq + 0.01),
            "aiq_over_zero": Estimate(over_zero, over_zero - 0.002, over_zero + 0.001),
            "aiq_delta": Estimate(delta, delta - 0.003, delta + 0.001),
        }

    result = HeldOutResult(
        dataset="held",
        prompts=100,
        models=("a", "b", "c"),
        unknown_models=(),
        zero_router_aiq=Estimate(0.9, 0.89, 0.91),
        routers={
            "learned-router": row(0.893, -0.007, 0.0),
            "knn (cross-fitted on D)": row(0.85, -0.05, -0.043),
            "tfidf-lr (cross-fitted on D)": row(0.88, -0.02, -0.013),
            BEST_FIXED: row(0.895, -0.005, 0.002),
        },
        cost_error={},
    )
    report = render([result], command="cmd", config=QualityConfig())
    # best fixed - router = +0.002 [-0.001, +0.003]: router - best fixed is its negation.
    assert "| held | 0.895 [0.885, 0.905] | -0.0050 [-0.0070, -0.0040] | " in report
    assert "| -0.0020 [-0.0030, 0.0010] |" in report
    assert HeldOutResult.from_dict(result.to_dict()) == result
    old = HeldOutResult.from_dict(
        {
            **result.to_dict(),
            "routers": {k: v for k, v in result.to_dict()["routers"].items() if k != BEST_FIXED},
        }
    )
    assert "best fixed (cross-fit) AIQ" not in render([old], command="c", config=QualityConfig())
