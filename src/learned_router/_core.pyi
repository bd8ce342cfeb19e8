# Type stub for the private Rust extension `learned_router._core`.
# Checked against the built binary by `make lint` (python -m mypy.stubtest).
# Users never import this module; they call learned_router.selection and
# learned_router.capacity.
from typing import Final, final

import numpy as np
import numpy.typing as npt

__all__ = ["CapacityTracker", "__version__", "select"]

__version__: Final[str]

def select(
    p: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    available: npt.NDArray[np.bool_],
    policy: str,
    value: float,
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
