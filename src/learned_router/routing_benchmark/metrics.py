"""Routing-quality metrics: every number the benchmark reports, defined once.

A router evaluated on held-out prompts gives one or more *operating points*:
its mean cost per prompt (USD) and mean quality (in [0, 1]). A router with a
knob (a cost weight, a threshold) gives a curve of them.

Sources:

- RouterBench (Hu et al., 2024, arXiv:2403.12031, Sec. 3.2; code
  ``withmartian/routerbench``, ``evaluation/AIQ.py``): the non-decreasing
  convex hull of a router's (cost, quality) points, AIQ, and the "zero router"
  (random mixtures of single models, whose curve is the hull of their points).
- RouteLLM (Ong et al., 2024, arXiv:2406.18665, Sec. 5; code
  ``lm-sys/RouteLLM``, ``routellm/evals/evaluate.py``): PGR, APGR and CPT(x%)
  for a router between one weak and one strong model.

Each function's docstring states its definition; ``docs/benchmark.md`` repeats
them with worked examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Frontier:
    """A router's non-decreasing convex hull (RouterBench's NDCH) of (cost, quality) points.

    ``cost`` is strictly increasing and ``quality`` strictly increasing along
    the vertices. Between two vertices the router is assumed to reach the
    straight line joining them, which it can by sending each prompt to one
    operating point or the other at random (RouterBench, Sec. 3.2); beyond the
    last vertex, quality stays flat (spending more never has to hurt).
    """

    cost: FloatArray
    quality: FloatArray

    def quality_at(self, cost_usd: float) -> float:
        """R~(c): the best quality reachable at a mean cost of ``cost_usd``.

        NaN below the cheapest vertex: the router cannot operate that cheaply.

        >>> f = frontier([1.0, 3.0], [0.5, 0.9])
        >>> f.quality_at(2.0), f.quality_at(10.0), math.isnan(f.quality_at(0.5))
        (0.7, 0.9, True)
        """
        if cost_usd < self.cost[0]:
            return math.nan
        return float(np.interp(cost_usd, self.cost, self.quality))

    def cost_to_reach(self, quality: float) -> float:
        """The least mean cost at which R~ reaches ``quality``; inf if it never does.

        >>> frontier([1.0, 3.0], [0.5, 0.9]).cost_to_reach(0.8)
        2.5
        """
        if quality <= self.quality[0]:
            return float(self.cost[0])
        if quality > self.quality[-1]:
            return math.inf
        # quality is strictly increasing along the vertices: invert the line.
        return float(np.interp(quality, self.quality, self.cost))


def frontier(cost_usd: npt.ArrayLike, quality: npt.ArrayLike) -> Frontier:
    """The non-decreasing convex hull of operating points (RouterBench's NDCH).

    Definition: sort the points by cost; drop every point that a cheaper (or
    equally cheap) point matches or beats in quality; of the rest keep the upper
    concave hull (a point strictly below the segment joining its neighbours on
    the hull is dropped). The result starts at the cheapest point and rises to
    the best one. NaN points are ignored.

    >>> f = frontier([1, 2, 2, 3, 4, 5], [0.5, 0.4, 0.6, 0.8, 0.6, 0.9])
    >>> f.cost.tolist(), f.quality.tolist()
    ([1.0, 3.0, 5.0], [0.5, 0.8, 0.9])
    """
    x = np.asarray(cost_usd, dtype=np.float64).ravel()
    y = np.asarray(quality, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(
            f"cost_usd and quality must have the same length, got {x.size} and {y.size}"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        raise InvalidInputError("a frontier needs at least one finite (cost, quality) point")
    order = np.lexsort((-y, x))  # by cost, then best quality first
    x, y = x[order], y[order]
    # Pareto staircase: strictly better than every cheaper point.
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(y)[:-1]))
    pareto = y > best_before
    px, py = x[pareto], y[pareto]
    hull: list[int] = []
    for i in range(px.size):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (px[a] - px[o]) * (py[i] - py[o]) - (py[a] - py[o]) * (px[i] - px[o])
            if cross >= 0:  # a is on or below the chord from o to i
                hull.pop()
            else:
                break
        hull.append(i)
    return Frontier(cost=px[hull].copy(), quality=py[hull].copy())


def aiq(front: Frontier, *, cost_range: tuple[float, float]) -> float:
    """AIQ, RouterBench's Average Improvement in Quality, of one frontier.

    Definition (RouterBench, Sec. 3.2): the area under the router's
    non-decreasing convex hull R~ over a cost range shared by every router
    compared, divided by the width of that range:

        AIQ = 1 / (c_max - c_min) * integral from c_min to c_max of R~(c) dc

    R~ is held flat past its last vertex, and counts as 0 below its cheapest
    vertex (where the router cannot operate), as in RouterBench's code. The
    benchmark uses ``c_min`` / ``c_max`` = the cheapest / most expensive single
    model's mean cost on the evaluated prompts. In quality units: a router
    that reached quality q at every cost would score q.

    >>> f = frontier([1.0, 3.0, 5.0], [0.5, 0.8, 0.9])
    >>> round(aiq(f, cost_range=(1.0, 5.0)), 6)  # (2*0.65 + 2*0.85) / 4
    0.75
    """
    low, high = cost_range
    if not high > low:
        raise InvalidInputError(f"cost_range must have c_max > c_min, got {cost_range}")
    start = max(low, float(front.cost[0]))
    if start >= high:
        return 0.0
    inner = front.cost[(front.cost > start) & (front.cost < high)]
    xs = np.concatenate(([start], inner, [high]))
    ys = np.interp(xs, front.cost, front.quality)
    area = float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))
    return area / (high - low)


def cost_to_reach(front: Frontier, *, target_quality: float) -> float:
    """Mean cost per prompt at which the frontier first reaches ``target_quality``.

    Definition: min { c : R~(c) >= target }, inf when the router never gets
    there. The benchmark asks for 90%, 95% and 100% of the best single model's
    quality (the model with the best mean quality on the training split).

    >>> round(cost_to_reach(frontier([1.0, 3.0], [0.5, 0.9]), target_quality=0.7), 9)
    2.0
    """
    return front.cost_to_reach(target_quality)


def quality_at_cost(front: Frontier, *, cost_usd: float) -> float:
    """R~(c): the quality the frontier reaches at a mean cost of ``cost_usd``.

    The benchmark reports it at the best single model's cost: how much better
    than that model the router does for the same money (NaN if it cannot
    operate that cheaply).

    >>> quality_at_cost(frontier([1.0, 3.0], [0.5, 0.9]), cost_usd=2.0)
    0.7
    """
    return front.quality_at(cost_usd)


def savings(cost_usd: float, *, baseline_cost_usd: float) -> float:
    """Share of the blended cost per decision saved against a baseline, in [.., 1].

    Blended cost per decision = total spend / number of prompts routed (the
    mean cost per prompt). Savings = 1 - cost / baseline cost; the benchmark's
    baseline is always-best, and ``cost`` is the router's cost to reach 95% or
    100% of always-best's quality (so savings at equal quality). -inf when the
    router never reaches that quality.

    >>> savings(1.5, baseline_cost_usd=10.0)
    0.85
    """
    if baseline_cost_usd <= 0:
        raise InvalidInputError(f"baseline_cost_usd must be > 0, got {baseline_cost_usd}")
    if math.isinf(cost_usd):
        return -math.inf
    return 1.0 - cost_usd / baseline_cost_usd


def oracle_gap_captured(router_aiq: float, *, zero_aiq: float, oracle_aiq: float) -> float:
    """Share of the oracle's gap captured: (AIQ - AIQ_zero) / (AIQ_oracle - AIQ_zero).

    AIQ_zero is RouterBench's zero router: random mixtures of single models,
    whose frontier is the hull of the single models' points (routing without
    looking at the prompt). AIQ_oracle is the oracle's: it knows every model's
    outcome and sends each prompt to the cheapest model that does best on it.
    0 means no better than not routing; 1 means as good as the oracle. NaN when
    the oracle is no better than the zero router.

    >>> round(oracle_gap_captured(0.7, zero_aiq=0.6, oracle_aiq=0.8), 9)
    0.5
    """
    gap = oracle_aiq - zero_aiq
    if gap <= 0:
        return math.nan
    return (router_aiq - zero_aiq) / gap


def _two_model_curve(
    strong_share: npt.ArrayLike, quality: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    s = np.asarray(strong_share, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if s.shape != q.shape or s.size < 2:
        raise InvalidInputError(
            "strong_share and quality need the same length, at least 2 points, got "
            f"{s.size} and {q.size}"
        )
    order = np.argsort(s, kind="stable")
    return s[order], q[order]


def apgr(
    strong_share: npt.ArrayLike,
    quality: npt.ArrayLike,
    *,
    weak_quality: float,
    strong_quality: float,
) -> float:
    """RouteLLM's APGR, average performance gap recovered, of a two-model router.

    Definition (RouteLLM, Sec. 5): with r(s) the router's quality when a share
    s of prompts goes to the strong model, PGR(s) = (r(s) - r_weak) / (r_strong
    - r_weak), and APGR is the mean of PGR over the shares evaluated,
    integrated with the trapezoid rule as RouteLLM's ``evaluate.py`` does:

        APGR = (AUC - r_weak * S) / ((r_strong - r_weak) * S)

    where AUC = trapezoid integral of r over the shares and S = max share -
    min share (1 when the points span 0% to 100% strong calls). A random
    router scores about 0.5.

    >>> apgr([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], weak_quality=0.5, strong_quality=0.9)
    0.625
    """
    s, q = _two_model_curve(strong_share, quality)
    gap = strong_quality - weak_quality
    span = float(s[-1] - s[0])
    if gap == 0 or span == 0:
        return math.nan
    auc = float(np.sum((s[1:] - s[:-1]) * (q[1:] + q[:-1]) / 2.0))
    return (auc - weak_quality * span) / (gap * span)


def cpt(
    strong_share: npt.ArrayLike,
    quality: npt.ArrayLike,
    *,
    weak_quality: float,
    strong_quality: float,
    fraction: float,
) -> float:
    """RouteLLM's CPT(x%): the share of strong-model calls needed to recover x% of the gap.

    Definition (RouteLLM, Sec. 5): the least share s of prompts sent to the
    strong model at which the router's quality reaches r_weak + x * (r_strong -
    r_weak), reading the router's curve as straight lines between its
    evaluated shares. RouteLLM computes it with ``np.interp(target, quality,
    share)``, which is the same on a curve that rises with s; this takes the
    first crossing, which is also defined for curves that dip. NaN if the
    curve never gets there.

    >>> round(cpt([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], weak_quality=0.5, strong_quality=0.9,
    ...           fraction=0.8), 9)
    0.6
    """
    s, q = _two_model_curve(strong_share, quality)
    target = weak_quality + fraction * (strong_quality - weak_quality)
    if q[0] >= target:
        return float(s[0])
    for i in range(1, s.size):
        if q[i] >= target:
            t = (target - q[i - 1]) / (q[i] - q[i - 1])
            return float(s[i - 1] + t * (s[i] - s[i - 1]))
    return math.nan


def bootstrap_weights(n: int, *, resamples: int, seed: int) -> FloatArray:
    """``[resamples, n]`` weights of a seeded bootstrap over prompts (each row sums to 1).

    Row b holds how often each prompt was drawn in resample b, divided by n, so
    a metric's mean over a resample is ``values @ weights[b]``.

    >>> w = bootstrap_weights(4, resamples=3, seed=0)
    >>> w.shape, np.allclose(w.sum(axis=1), 1.0)
    ((3, 4), True)
    """
    if n < 1 or resamples < 1:
        raise InvalidInputError(f"need n >= 1 and resamples >= 1, got n={n}, {resamples=}")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)
    return np.asarray(counts, dtype=np.float64) / n


def percentile_interval(samples: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of ``samples`` (NaN-aware; +-inf kept).

    >>> [round(x, 9) for x in percentile_interval(np.arange(101.0))]
    [2.5, 97.5]
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float(np.min(values)), float(np.max(values)))
    # Interpolating towards an infinite sample gives inf (or nan for inf - inf):
    # stand in finite sentinels, then map what lies beyond the data back to +-inf.
    top, bottom = float(finite.max()), float(finite.min())
    span = max(top - bottom, 1.0)
    clipped = np.clip(values, bottom - 2 * span, top + 2 * span)
    bounds = np.quantile(clipped, [tail, 1.0 - tail], method="linear")
    mapped = [math.inf if b > top else -math.inf if b < bottom else float(b) for b in bounds]
    return (mapped[0], mapped[1])
