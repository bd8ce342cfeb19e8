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


# --- the answer cache's exact tier (rust/src/cache.rs) -----------------------


def normalise_prompt(prompt: str) -> str:
    """Line endings made \\n, leading and trailing whitespace trimmed; nothing else."""
    return prompt.replace("\r\n", "\n").replace("\r", "\n").strip()


class ExactCacheModel:
    """The exact tier's documented rules over plain dicts: entries keyed by
    (scope, key); LRU order; TTL; on overflow expired entries go first (by
    deadline, then id), then the least recently used. Reasons: 0 replaced,
    1 evicted, 2 expired, 3 invalidated."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.next_id = 1
        # id -> (scope, key, expires_at), in LRU order (oldest first).
        self.entries: dict[int, tuple[int, bytes, float]] = {}
        self.by_key: dict[tuple[int, bytes], int] = {}

    def _remove(self, entry_id: int, reason: int) -> tuple[int, int, int]:
        scope, key, _ = self.entries.pop(entry_id)
        del self.by_key[(scope, key)]
        return entry_id, scope, reason

    def get(self, scope: int, key: bytes, now: float) -> int | None:
        entry_id = self.by_key.get((scope, key))
        if entry_id is None or now >= self.entries[entry_id][2]:
            return None
        self.entries[entry_id] = self.entries.pop(entry_id)  # most recent
        return entry_id

    def purge_expired(self, now: float) -> list[tuple[int, int, int]]:
        expired = sorted(
            (expires, entry_id)
            for entry_id, (_, _, expires) in self.entries.items()
            if expires <= now
        )
        return [self._remove(entry_id, 2) for _, entry_id in expired]

    def insert(
        self, scope: int, key: bytes, expires_at: float, now: float
    ) -> tuple[int, list[tuple[int, int, int]]]:
        removed = []
        if (scope, key) in self.by_key:
            removed.append(self._remove(self.by_key[(scope, key)], 0))
        entry_id = self.next_id
        self.next_id += 1
        self.entries[entry_id] = (scope, key, expires_at)
        self.by_key[(scope, key)] = entry_id
        if len(self.entries) > self.max_entries:
            removed += self.purge_expired(now)
        while len(self.entries) > self.max_entries:
            removed.append(self._remove(next(iter(self.entries)), 1))
        return entry_id, removed

    def remove_key(self, scope: int, key: bytes) -> list[tuple[int, int, int]]:
        entry_id = self.by_key.get((scope, key))
        return [] if entry_id is None else [self._remove(entry_id, 3)]

    def lru_order(self) -> list[int]:
        return list(self.entries)
