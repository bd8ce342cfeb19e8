"""``benchmarks.adaptation_eval``'s zero-router reference: the hull of the single
models' points on the test prompts, under each bootstrap weighting."""

from __future__ import annotations

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
