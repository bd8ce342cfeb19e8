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


class CapacityReference:
    """The capacity tracker's rules, one model at a time (``rust/src/capacity.rs``).

    ``limits`` holds ``(tokens_per_s, burst_tokens, max_concurrent)`` per model,
    ``None`` for no limit.
    """

    def __init__(self, limits: Sequence[tuple[float | None, float | None, int | None]]) -> None:
        self.limits = list(limits)
        self.tokens = [burst if burst is not None else math.inf for _, burst, _ in limits]
        self.updated: list[float | None] = [None] * len(limits)
        self.in_flight = [0] * len(limits)
        self.down = [False] * len(limits)

    def level(self, j: int, now: float) -> float:
        rate, burst, _ = self.limits[j]
        if rate is None or burst is None:
            return math.inf
        then = self.updated[j]
        if then is None:
            return burst
        return min(burst, self.tokens[j] + max(0.0, now - then) * rate)

    def admits(self, j: int, tokens: float, now: float) -> bool:
        _, burst, max_concurrent = self.limits[j]
        if self.down[j]:
            return False
        if max_concurrent is not None and self.in_flight[j] >= max_concurrent:
            return False
        return burst is None or self.level(j, now) >= min(tokens, burst)

    def try_acquire(self, j: int, tokens: float, now: float) -> bool:
        if self.limits[j][0] is not None:
            self.tokens[j] = self.level(j, now)
            then = self.updated[j]
            self.updated[j] = now if then is None else max(then, now)
        if not self.admits(j, tokens, now):
            return False
        if self.limits[j][0] is not None:
            self.tokens[j] -= tokens
        self.in_flight[j] += 1
        return True

    def release(self, j: int, unused: float) -> bool:
        """False (and nothing changes) for a release with nothing in flight."""
        if self.in_flight[j] == 0:
            return False
        self.in_flight[j] -= 1
        burst = self.limits[j][1]
        if burst is not None:
            self.tokens[j] = min(burst, self.tokens[j] + unused)
        return True
