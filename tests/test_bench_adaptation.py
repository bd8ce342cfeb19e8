"""``benchmarks.adaptation_eval``'s zero-router reference: the hull of the single
models' points on the test prompts, under each bootstrap weighting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.adaptation_eval import _aiq, _zero_aiq

from learned_router.routing_benchmark.metrics import aiq, bootstrap_weights, frontier


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 200
    price = np.array([0.1, 0.5, 1.0, 3.0])  # per-model cost, the same for every prompt
    skill = np.array([0.3, 0.6, 0.5, 0.8])  # the third model is dominated
    quality = (rng.random((n, 4)) < skill).astype(np.float64)
    return np.broadcast_to(price, (n, 4)).copy(), quality


def test_the_zero_router_is_the_hull_of_the_single_models() -> None:
    cost, quality = _synthetic()
    uniform = np.full((1, len(cost)), 1.0 / len(cost))
    single_cost, single_quality = cost.mean(0), quality.mean(0)
    expected = aiq(
        frontier(single_cost.tolist(), single_quality.tolist()),
        cost_range=(single_cost.min(), single_cost.max()),
    )
    assert _zero_aiq(cost, quality, uniform)[0] == pytest.approx(expected)


def test_routing_on_true_means_is_the_zero_router_and_a_wrong_ranking_is_below() -> None:
    cost, quality = _synthetic()
    uniform = np.full((1, len(cost)), 1.0 / len(cost))
    weights = np.vstack([uniform, bootstrap_weights(len(cost), resamples=20, seed=1)])
    zero = _zero_aiq(cost, quality, weights)
    # A constant per model, equal to the set's own means: the sweep visits the hull's
    # vertices, the same curve as the zero router (up to the sweep's grid).
    truth = np.broadcast_to(quality.mean(0), quality.shape).copy()
    assert _aiq(truth, cost, quality, weights[:1])[0] == pytest.approx(zero[0], abs=1e-3)
    # The priciest model ranked below the cheapest: it is never chosen, the top of the
    # curve is lost.
    wrong = truth.copy()
    wrong[:, 3] = 0.0
    assert (_aiq(wrong, cost, quality, weights) < zero - 0.05).all()


def test_a_bundle_trained_without_part_of_a_set_sees_none_of_that_part(tmp_path: Path) -> None:
    # --train-without-share: the replayed set's held-out share is left out of every
    # set that repeats its prompts (the same questions sit in several public sets),
    # and the rest of it is trained on.
    from benchmarks.adaptation_eval import _hashed, logs_without

    from learned_router import data
    from learned_router.data.splits import prompt_group
    from synthetic import write_log

    write_log(tmp_path / "logs" / "a.jsonl", dataset="a", prompts_per_task=40)
    # b repeats a's prompts numbered 27-46 and has 20 per task of its own.
    write_log(tmp_path / "logs" / "b.jsonl", dataset="b", prompts_per_task=40, first_number=27)

    def groups(log: data.OutcomeLog) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        texts = log.prompts.column("prompt").to_pylist()
        for (dataset, _), text in zip(log.prompt_keys(), texts, strict=True):
            out.setdefault(dataset, set()).add(prompt_group(text))
        return out

    full = groups(data.load([tmp_path / "logs"], rejects=tmp_path / "r1.jsonl"))
    held = {g for g in full["a"] if _hashed(g) < 0.5}
    (tmp_path / "out").mkdir()
    path = logs_without(tmp_path / "logs", "a", tmp_path / "out" / "train.parquet", share=0.5)
    kept = groups(data.load([path], rejects=tmp_path / "r2.jsonl"))
    assert 0 < len(held) < len(full["a"])
    assert kept["a"] == full["a"] - held  # the rest of the set is trained on
    assert kept["b"] == full["b"] - held  # b keeps its own and a's unheld prompts
    assert full["b"] - full["a"] <= kept["b"]
