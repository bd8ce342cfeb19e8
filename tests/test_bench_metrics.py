"""Routing metrics against hand-computed examples (learned_router.routing_benchmark.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learned_router.errors import InvalidInputError
from learned_router.routing_benchmark import metrics

# --- the non-decreasing convex hull ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "quality", "hull_cost", "hull_quality"),
    [
        # (2, 0.4) is beaten by the cheaper (1, 0.5); (4, 0.6) by (3, 0.8);
        # (2, 0.6) lies under the chord from (1, 0.5) to (3, 0.8) (0.65 there).
        (
            [1, 2, 2, 3, 4, 5],
            [0.5, 0.4, 0.6, 0.8, 0.6, 0.9],
            [1, 3, 5],
            [0.5, 0.8, 0.9],
        ),
        # A point exactly on the chord is not a vertex.
        ([0, 1, 2], [0.0, 0.5, 1.0], [0, 2], [0.0, 1.0]),
        # Equal cost: the better point wins; a decreasing tail is cut.
        ([1, 1, 2, 3], [0.2, 0.6, 0.7, 0.65], [1, 2], [0.6, 0.7]),
        # One point.
        ([2.5], [0.7], [2.5], [0.7]),
        # NaN points are ignored.
        ([1, float("nan"), 3], [0.5, 0.9, 0.7], [1, 3], [0.5, 0.7]),
    ],
)
def test_frontier_by_hand(
    cost: list[float], quality: list[float], hull_cost: list[float], hull_quality: list[float]
) -> None:
    front = metrics.frontier(cost, quality)
    assert front.cost.tolist() == pytest.approx(hull_cost)
    assert front.quality.tolist() == pytest.approx(hull_quality)


def test_frontier_needs_a_point() -> None:
    with pytest.raises(InvalidInputError, match="at least one finite"):
        metrics.frontier([math.nan], [0.5])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 10.0, allow_subnormal=False), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=30,
    )
)
def test_frontier_dominates_every_point(points: list[tuple[float, float]]) -> None:
    cost = np.array([c for c, _ in points])
    quality = np.array([q for _, q in points])
    front = metrics.frontier(cost, quality)
    assert np.all(np.diff(front.cost) > 0)
    assert np.all(np.diff(front.quality) > 0)
    # Concave: every vertex lies strictly above the chord of its neighbours.
    for i in range(1, front.cost.size - 1):
        (x0, x1, x2), (y0, y1, y2) = front.cost[i - 1 : i + 2], front.quality[i - 1 : i + 2]
        assert (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0) < 0
    # Every vertex is an input point, and every input point is on or under R~.
    for c, q in zip(front.cost, front.quality, strict=True):
        assert np.any((cost == c) & (quality == q))
    for c, q in points:
        assert q <= front.quality_at(c) + 1e-9
    # AIQ over the points' range lies between 0 and the best quality.
    if cost.max() > cost.min():
        value = metrics.aiq(front, cost_range=(float(cost.min()), float(cost.max())))
        assert 0.0 <= value <= quality.max() + 1e-12


# --- AIQ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "quality", "cost_range", "expected"),
    [
        # Trapezoids over [1, 5]: 2 * (0.5 + 0.8) / 2 + 2 * (0.8 + 0.9) / 2 = 3.0; / 4.
        ([1, 3, 5, 2, 4], [0.5, 0.8, 0.9, 0.4, 0.6], (1.0, 5.0), 0.75),
        # Flat past the last vertex: [1, 3] as above (1.3) plus 0.8 * 2 on [3, 5]; / 4.
        ([1, 3], [0.5, 0.8], (1.0, 5.0), (1.3 + 1.6) / 4),
        # No area below the cheapest vertex: [2, 4] only, 2 * 0.6; / 4.
        ([2, 4], [0.6, 0.6], (0.0, 4.0), 0.3),
        # A single model at c_min scores its quality; at c_max it scores 0.
        ([1], [0.6], (1.0, 5.0), 0.6),
        ([5], [0.9], (1.0, 5.0), 0.0),
        # A point cheaper than c_min: integrate from c_min on the interpolated hull.
        # Hull (0, 0.2) -> (2, 0.6): at 1, 0.4; [1, 2]: (0.4 + 0.6)/2; [2, 3]: 0.6. Sum 1.1 / 2.
        ([0, 2], [0.2, 0.6], (1.0, 3.0), 0.55),
    ],
)
def test_aiq_by_hand(
    cost: list[float], quality: list[float], cost_range: tuple[float, float], expected: float
) -> None:
    front = metrics.frontier(cost, quality)
    assert metrics.aiq(front, cost_range=cost_range) == pytest.approx(expected)


def test_aiq_needs_a_cost_range() -> None:
    with pytest.raises(InvalidInputError, match="c_max > c_min"):
        metrics.aiq(metrics.frontier([1.0], [0.5]), cost_range=(2.0, 2.0))


def test_aiq_ranks_a_better_router_higher() -> None:
    weak = metrics.frontier([1, 5], [0.5, 0.9])
    strong = metrics.frontier([1, 2, 5], [0.5, 0.85, 0.9])
    assert metrics.aiq(strong, cost_range=(1, 5)) > metrics.aiq(weak, cost_range=(1, 5))


# --- cost to reach, quality at cost, savings -------------------------------------------------


def test_cost_and_quality_along_the_frontier() -> None:
    front = metrics.frontier([1.0, 3.0, 5.0], [0.5, 0.8, 0.9])
    assert metrics.cost_to_reach(front, target_quality=0.5) == pytest.approx(1.0)
    assert metrics.cost_to_reach(front, target_quality=0.2) == pytest.approx(1.0)
    assert metrics.cost_to_reach(front, target_quality=0.65) == pytest.approx(2.0)
    assert metrics.cost_to_reach(front, target_quality=0.85) == pytest.approx(4.0)
    assert metrics.cost_to_reach(front, target_quality=0.9) == pytest.approx(5.0)
    assert metrics.cost_to_reach(front, target_quality=0.91) == math.inf
    assert metrics.quality_at_cost(front, cost_usd=4.0) == pytest.approx(0.85)
    assert metrics.quality_at_cost(front, cost_usd=9.0) == pytest.approx(0.9)
    assert math.isnan(metrics.quality_at_cost(front, cost_usd=0.5))


def test_savings_by_hand() -> None:
    assert metrics.savings(1.5, baseline_cost_usd=10.0) == pytest.approx(0.85)
    assert metrics.savings(12.0, baseline_cost_usd=10.0) == pytest.approx(-0.2)
    assert metrics.savings(math.inf, baseline_cost_usd=10.0) == -math.inf
    with pytest.raises(InvalidInputError):
        metrics.savings(1.0, baseline_cost_usd=0.0)


def test_oracle_gap_captured_by_hand() -> None:
    assert metrics.oracle_gap_captured(0.7, zero_aiq=0.6, oracle_aiq=0.8) == pytest.approx(0.5)
    assert metrics.oracle_gap_captured(0.8, zero_aiq=0.6, oracle_aiq=0.8) == pytest.approx(1.0)
    assert metrics.oracle_gap_captured(0.5, zero_aiq=0.6, oracle_aiq=0.8) == pytest.approx(-0.5)
    assert math.isnan(metrics.oracle_gap_captured(0.5, zero_aiq=0.6, oracle_aiq=0.6))


# --- RouteLLM's two-model metrics ------------------------------------------------------------

# A toy two-model case: weak model 0.5, strong 0.9. A router at 0%, 50%, 100% strong calls
# reaches 0.5, 0.8, 0.9. AUC = 0.5 * (0.5 + 0.8) / 2 + 0.5 * (0.8 + 0.9) / 2 = 0.75;
# APGR = (0.75 - 0.5) / (0.9 - 0.5) = 0.625. CPT(50%): 0.7 is reached on the first
# segment at 0.5 * (0.2 / 0.3) = 1/3; CPT(80%): 0.82 on the second at 0.5 + 0.5 * 0.2 = 0.6.
TOY = {"weak_quality": 0.5, "strong_quality": 0.9}


def test_apgr_on_the_toy_two_model_case() -> None:
    assert metrics.apgr([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], **TOY) == pytest.approx(0.625)
    # Order of the points does not matter.
    assert metrics.apgr([1.0, 0.0, 0.5], [0.9, 0.5, 0.8], **TOY) == pytest.approx(0.625)


def test_apgr_of_random_and_perfect_routers() -> None:
    shares = np.linspace(0.0, 1.0, 11)
    random_line = 0.5 + 0.4 * shares
    assert metrics.apgr(shares, random_line, **TOY) == pytest.approx(0.5)
    perfect = np.minimum(0.5 + 0.4 * shares / 0.2, 0.9)  # all the gain in 20% of calls
    assert metrics.apgr(shares, perfect, **TOY) == pytest.approx(0.9)
    assert math.isnan(metrics.apgr(shares, random_line, weak_quality=0.5, strong_quality=0.5))


def test_cpt_on_the_toy_two_model_case() -> None:
    points = ([0.0, 0.5, 1.0], [0.5, 0.8, 0.9])
    assert metrics.cpt(*points, fraction=0.5, **TOY) == pytest.approx(1 / 3)
    assert metrics.cpt(*points, fraction=0.8, **TOY) == pytest.approx(0.6)
    assert metrics.cpt(*points, fraction=0.0, **TOY) == pytest.approx(0.0)
    assert math.isnan(metrics.cpt([0.0, 1.0], [0.5, 0.6], fraction=0.5, **TOY))


def test_cpt_takes_the_first_crossing_of_a_curve_that_dips() -> None:
    # 0.7 is crossed at 0.25 (first segment), again after the dip: the first counts.
    shares, quality = [0.0, 0.5, 0.75, 1.0], [0.5, 0.9, 0.6, 0.9]
    assert metrics.cpt(shares, quality, fraction=0.5, **TOY) == pytest.approx(0.25)


# --- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_weights_are_seeded_resamples() -> None:
    a = metrics.bootstrap_weights(50, resamples=20, seed=3)
    b = metrics.bootstrap_weights(50, resamples=20, seed=3)
    c = metrics.bootstrap_weights(50, resamples=20, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.allclose(a.sum(axis=1), 1.0)
    counts = a * 50
    assert np.allclose(counts, np.round(counts))


def test_bootstrap_interval_covers_a_known_mean() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, size=400)
    means = metrics.bootstrap_weights(400, resamples=500, seed=0) @ values
    low, high = metrics.percentile_interval(means)
    # The standard error is 1 / sqrt(400) = 0.05: the interval is about +-0.1 wide.
    assert low < values.mean() < high
    assert 0.15 < high - low < 0.25


def test_percentile_interval_keeps_infinities() -> None:
    assert metrics.percentile_interval([1.0, 2.0, math.inf, math.inf] * 10) == (1.0, math.inf)
    assert all(math.isnan(x) for x in metrics.percentile_interval([math.nan]))
    assert metrics.percentile_interval([-math.inf, -math.inf]) == (-math.inf, -math.inf)
