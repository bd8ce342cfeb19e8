"""Pure-Python reference implementations the Rust core is checked against.

Written for clarity, not speed: each mirrors a kernel's documented rule
directly, so a disagreement points at the kernel (or at the documentation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def select_row(
    p: Sequence[float],
    cost: Sequence[float],
    available: Sequence[bool],
    policy: str,
    value: float,
) -> tuple[int, int]:
    """(chosen index or -1, outcome code 0 met / 1 fallback / 2 none available)."""
    models = [j for j in range(len(p)) if available[j]]
    if not models:
        return -1, 2

    def by_quality(j: int) -> tuple[float, float, int]:
        return (-p[j], cost[j], j)

    def by_price(j: int) -> tuple[float, float, int]:
        return (cost[j], -p[j], j)

    if policy == "min_quality":
        ok = [j for j in models if p[j] >= value]
        return (min(ok, key=by_price), 0) if ok else (min(models, key=by_quality), 1)
    if policy == "max_cost":
        ok = [j for j in models if cost[j] <= value]
        return (min(ok, key=by_quality), 0) if ok else (min(models, key=by_price), 1)
    if policy == "cost_weight":
        return min(models, key=lambda j: (-(p[j] - value * cost[j]), cost[j], j)), 0
    if policy == "relative_quality":
        bar = value * max(p[j] for j in models)
        return min((j for j in models if p[j] >= bar), key=by_price), 0
    raise ValueError(policy)


def select(
    p: Sequence[Sequence[float]],
    cost: Sequence[Sequence[float]],
    available: Sequence[Sequence[bool]],
    policy: str,
    value: float,
) -> list[tuple[int, int]]:
    """:func:`select_row` for every prompt."""
    assert all(math.isfinite(x) for row in p for x in row)
    return [
        select_row(p_row, c_row, a_row, policy, value)
        for p_row, c_row, a_row in zip(p, cost, available, strict=True)
    ]
