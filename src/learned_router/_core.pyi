# Type stub for the private Rust extension `learned_router._core`.
# Checked against the built binary by `make lint` (python -m mypy.stubtest).
# Users never import this module; they call learned_router.selection,
# learned_router.capacity and learned_router.cache.
from typing import Final, Protocol, final, type_check_only

import numpy as np
import numpy.typing as npt

__all__ = [
    "CapacityTracker",
    "ExactCache",
    "ExactSnapshot",
    "__version__",
    "context_digest",
    "normalise_prompt",
    "prompt_digest",
    "select",
]

__version__: Final[str]

@type_check_only
class _Policy(Protocol):
    """What the kernel reads of ``learned_router.selection.Policy``."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...

def select(
    p: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    available: npt.NDArray[np.bool_],
    policy: _Policy,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint8],
]:
    """Choose one model per prompt. Returns (index, p, cost, outcome) arrays."""

@final
class CapacityTracker:
    """Thread-safe capacity of self-hosted models (see `capacity.rs`)."""

    def __new__(
        cls,
        tokens_per_s: list[float | None],
        burst_tokens: list[float | None],
        max_concurrent: list[int | None],
    ) -> CapacityTracker: ...
    def __len__(self) -> int: ...
    def available(self, tokens: npt.NDArray[np.float64], now_s: float) -> npt.NDArray[np.bool_]:
        """Which models could admit each request now: `[n, m]` tokens in, `[n, m]` mask out."""
    def try_acquire(self, model: int, tokens: float, now_s: float) -> bool:
        """Atomically claims `tokens` and a slot on `model`; False if it is saturated."""
    def try_acquire_many(
        self, models: npt.NDArray[np.int64], tokens: npt.NDArray[np.float64], now_s: float
    ) -> npt.NDArray[np.bool_]:
        """`try_acquire` for a batch, in order, under one lock; index -1 is skipped."""
    def release(self, model: int, unused_tokens: float) -> None:
        """Frees a slot on `model` and returns its unused tokens to the bucket."""
    def set_down(self, model: int, down: bool) -> None:
        """Marks `model` down (never available) or up again."""
    def snapshot(
        self, now_s: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """(bucket level, requests in flight, down) per model at `now_s`."""

# --- the answer cache's exact tier (rust/src/cache.rs) ----------------------

_Ids = npt.NDArray[np.int64]
# (ids, scopes, reasons) of entries that left the cache; reasons: 0 replaced,
# 1 evicted, 2 expired, 3 invalidated.
_Removed = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]
# (id, response, cost_usd, created_at)
_Hit = tuple[int, str, float, float]
# (tenant, namespace, model, context digest)
_Scope = tuple[str, str, str | None, bytes]

@final
class ExactSnapshot:
    """The exact tier's contents, entries least recently used first, as columns:
    what `ExactCache.export()` returns and `ExactCache.restore()` takes."""

    def __new__(
        cls,
        *,
        next_id: int,
        scopes: list[_Scope],
        ids: _Ids,
        entry_scopes: _Ids,
        prompts: bytes,
        key_texts: list[str],
        responses: list[str],
        cost_usd: npt.NDArray[np.float64],
        created_at: npt.NDArray[np.float64],
        expires_at: npt.NDArray[np.float64],
    ) -> ExactSnapshot: ...
    def __len__(self) -> int:
        """Number of entries."""
    @property
    def next_id(self) -> int:
        """The id the next entry will get."""
    @property
    def scopes(self) -> list[_Scope]:
        """Scopes as (tenant, namespace, model, context digest), by scope id."""
    @property
    def ids(self) -> _Ids:
        """Entry ids (int64)."""
    @property
    def entry_scopes(self) -> _Ids:
        """Each entry's scope id (int64)."""
    @property
    def prompts(self) -> bytes:
        """Each entry's 32-byte prompt digest, concatenated."""
    @property
    def key_texts(self) -> list[str]: ...
    @property
    def responses(self) -> list[str]: ...
    @property
    def cost_usd(self) -> npt.NDArray[np.float64]: ...
    @property
    def created_at(self) -> npt.NDArray[np.float64]: ...
    @property
    def expires_at(self) -> npt.NDArray[np.float64]: ...

def normalise_prompt(prompt: str) -> str:
    """The exact tier's key text: line endings made \\n, outer whitespace trimmed, nothing else."""

def prompt_digest(prompt: str) -> bytes:
    """SHA-256 of the normalised prompt."""

def context_digest(
    namespace: str, model: str | None, system_prompt: str | None, params: str
) -> bytes:
    """SHA-256 of (namespace, model, system prompt, canonical params JSON)."""

@final
class ExactCache:
    """The exact tier: entries by (scope, prompt digest) with TTL and LRU."""

    def __new__(cls, max_entries: int) -> ExactCache: ...
    @property
    def max_entries(self) -> int: ...
    def __len__(self) -> int: ...
    def scope(self, tenant: str, namespace: str, model: str | None, context: bytes) -> int:
        """The scope id of (tenant, context), created on first use."""
    def find_scope(self, tenant: str, context: bytes) -> int | None:
        """The scope id of (tenant, context), or None if it was never used."""
    def get(self, scope: int, prompt: bytes, now: float) -> _Hit | None:
        """(id, response, cost_usd, created_at) of the live entry under this key."""
    def contains(self, ids: _Ids) -> npt.NDArray[np.bool_]:
        """For each id, whether an entry with it is stored (live or not yet purged)."""
    def peek(self, id: int, scope: int, now: float) -> tuple[str, str] | None:
        """(key_text, response) of a live entry of this scope, without marking
        it used."""
    def hit(self, id: int, scope: int, now: float) -> _Hit | None:
        """Like get() but by id: marks the entry used and returns it."""
    def insert(
        self,
        scope: int,
        prompt: bytes,
        key_text: str,
        response: str,
        cost_usd: float,
        created_at: float,
        expires_at: float,
        now: float,
    ) -> tuple[int, _Removed]:
        """Stores an entry; returns its id and the entries that left the cache."""
    def remove(self, id: int) -> _Removed:
        """Removes one entry by id."""
    def remove_key(self, scope: int, prompt: bytes) -> _Removed:
        """Removes the entry under this key."""
    def remove_matching(
        self, tenant: str | None = None, model: str | None = None, namespace: str | None = None
    ) -> _Removed:
        """Removes every entry whose scope matches all the given fields."""
    def purge_expired(self, now: float) -> _Removed:
        """Removes every entry whose TTL ran out by `now`."""
    def counters(self) -> dict[str, int]:
        """Event counts: inserts, replaced, evicted, expired, invalidated."""
    def scopes(self) -> list[_Scope]:
        """Scopes as (tenant, namespace, model, context digest) tuples, by id."""
    def lru_order(self) -> _Ids:
        """Entry ids in LRU order, least recently used first."""
    def export(self) -> ExactSnapshot:
        """Everything needed by restore(), entries least recently used first."""
    @staticmethod
    def restore(max_entries: int, snapshot: ExactSnapshot) -> tuple[ExactCache, _Removed]:
        """Rebuilds a cache from an `ExactSnapshot` (export()'s result); returns it
        and the entries dropped to fit `max_entries`. An inconsistent snapshot
        is rejected."""
