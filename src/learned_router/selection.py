"""Choosing a model per prompt under a cost/quality policy.

This is the Python face of the Rust selection kernel (``learned_router._core``).
It coerces inputs to what the kernel takes (C-contiguous float64 arrays of
shape ``[n_prompts, n_models]``; float64 because costs are money and go down to
1e-7 USD per call), picks the policy from the one keyword given, and returns a
frozen :class:`Selection`.

Ties break deterministically: quality-maximising policies prefer higher p, then
lower cost, then the lower model index; cost-minimising ones prefer lower cost,
then higher p, then the lower index.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from learned_router import _core
from learned_router.errors import InvalidInputError

PolicyName = Literal["min_quality", "max_cost", "cost_weight", "relative_quality"]


class Outcome(enum.IntEnum):
    """Why a prompt got the model it got (the kernel's ``outcome`` codes)."""

    MET = 0
    """The policy's constraint was met."""
    FALLBACK = 1
    """Nothing met the constraint; the policy's fallback chose."""
    NONE_AVAILABLE = 2
    """No model was available; ``index`` is -1 and p/cost are NaN."""


@dataclass(frozen=True)
class Selection:
    """One chosen model per prompt, as read-only parallel arrays."""

    index: npt.NDArray[np.int64]
    """Chosen model's column index, or -1 when no model was available."""
    p_success: npt.NDArray[np.float64]
    """The chosen model's predicted probability of success."""
    cost_usd: npt.NDArray[np.float64]
    """The chosen model's expected cost in USD."""
    outcome: npt.NDArray[np.uint8]
    """:class:`Outcome` code per prompt."""
    policy: PolicyName
    """The policy applied."""
    value: float
    """The policy's parameter (bar, budget, weight or fraction)."""


def _as_matrix(name: str, value: npt.ArrayLike, dtype: type) -> npt.NDArray[Any]:
    array: npt.NDArray[Any] = np.asarray(value, dtype=dtype)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidInputError(
            f"invalid argument `{name}`: expected a [n_prompts, n_models] matrix "
            f"(or one row for a single prompt), got an array of shape {array.shape}"
        )
    return np.ascontiguousarray(array)


def _policy(
    min_quality: float | None,
    max_cost_usd: float | None,
    cost_weight: float | None,
    quality_fraction: float | None,
) -> tuple[PolicyName, float]:
    options: tuple[tuple[PolicyName, float | None], ...] = (
        ("min_quality", min_quality),
        ("max_cost", max_cost_usd),
        ("cost_weight", cost_weight),
        ("relative_quality", quality_fraction),
    )
    given = [(name, float(value)) for name, value in options if value is not None]
    if len(given) != 1:
        raise InvalidInputError(
            "give exactly one policy: min_quality=, max_cost_usd=, cost_weight= "
            f"or quality_fraction= (got {len(given)})"
        )
    return given[0]


def select_models(
    p_success: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    *,
    available: npt.ArrayLike | None = None,
    min_quality: float | None = None,
    max_cost_usd: float | None = None,
    cost_weight: float | None = None,
    quality_fraction: float | None = None,
) -> Selection:
    """Choose one model per prompt.

    Give exactly one policy:

    - ``min_quality``: the cheapest model with p >= the bar; if none clears it,
      the model with the highest p (outcome ``FALLBACK``).
    - ``max_cost_usd``: the highest-p model costing at most the budget; if none
      is affordable, the cheapest model (outcome ``FALLBACK``).
    - ``cost_weight``: the model maximising ``p - cost_weight * cost_usd``.
    - ``quality_fraction``: the cheapest model reaching that fraction of the
      best available model's p for the prompt.

    ``p_success`` and ``cost_usd`` are ``[n_prompts, n_models]`` (a 1-D row is
    one prompt). ``available`` is a boolean mask of the same shape, or one row
    of ``n_models`` applied to every prompt; by default every model is available.

    >>> sel = select_models([0.95, 0.80, 0.40], [0.030, 0.002, 0.0002], min_quality=0.7)
    >>> int(sel.index[0]), float(sel.cost_usd[0])
    (1, 0.002)
    """
    policy, value = _policy(min_quality, max_cost_usd, cost_weight, quality_fraction)
    p = _as_matrix("p_success", p_success, np.float64)
    cost = _as_matrix("cost_usd", cost_usd, np.float64)
    mask: npt.NDArray[Any]
    if available is None:
        mask = np.ones(p.shape, dtype=np.bool_)
    else:
        mask = np.asarray(available, dtype=np.bool_)
        if mask.ndim == 1 and mask.shape[0] == p.shape[1]:
            mask = np.broadcast_to(mask, p.shape)
        mask = _as_matrix("available", mask, np.bool_)
    index, p_chosen, cost_chosen, outcome = _core.select(p, cost, mask, policy, value)
    for array in (index, p_chosen, cost_chosen, outcome):
        array.flags.writeable = False
    return Selection(
        index=index,
        p_success=p_chosen,
        cost_usd=cost_chosen,
        outcome=outcome,
        policy=policy,
        value=value,
    )
