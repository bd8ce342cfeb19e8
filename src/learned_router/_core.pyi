# Type stub for the private Rust extension `learned_router._core`.
# Checked against the built binary by `make lint` (python -m mypy.stubtest).
# Users never import this module; they call learned_router.selection.
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "select"]

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
