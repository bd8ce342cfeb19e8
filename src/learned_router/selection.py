"""Choosing a model per prompt under a cost/quality policy.

This is the Python face of the Rust selection kernel (``learned_router._core``).
It coerces inputs to what the kernel takes (C-contiguous float64 arrays of
shape ``[n_prompts, n_models]``; float64 because costs are money and go down to
1e-7 USD per call), takes the policy as one :class:`Policy` value (built once
from the caller's keywords, handed to the kernel as it is), and returns a
frozen :class:`Selection`.

One vocabulary: a policy is named by :data:`PolicyName` everywhere (the
Router's decisions, saved calibrations, the Rust ``Policy`` enum's variants);
the caller's keyword for each name is in :data:`KEYWORDS`, the one table that
maps between them.

Ties break deterministically: quality-maximising policies prefer higher p, then
lower cost, then the lower model index; cost-minimising ones prefer lower cost,
then higher p, then the lower index.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from learned_router import _core
from learned_router.errors import InvalidInputError

PolicyName = Literal["min_quality", "max_cost", "cost_weight", "relative_quality"]

KEYWORDS: dict[PolicyName, str] = {
    "min_quality": "min_quality",
    "max_cost": "max_cost_usd",
    "cost_weight": "cost_weight",
    "relative_quality": "quality_fraction",
}
"""The caller's keyword (``route(min_quality=...)``) for each policy name."""
_NAME_OF_KEYWORD: dict[str, PolicyName] = {kw: name for name, kw in KEYWORDS.items()}


@dataclass(frozen=True)
class Policy:
    """A routing policy: what to optimise, its parameter, and an optional hard budget.

    Built once from the caller's keywords (:meth:`from_keywords`) and handed
    down unchanged: the Router masks with it, the Rust kernel chooses with it,
    the decision reports it.

    >>> Policy.from_keywords(min_quality=0.8, max_cost_usd=0.01)
    Policy(name='min_quality', value=0.8, max_cost_usd=0.01)
    >>> Policy.from_keywords(max_cost_usd=0.01)
    Policy(name='max_cost', value=0.01, max_cost_usd=None)
    >>> Policy("relative_quality", 0.9).keywords()
    {'quality_fraction': 0.9}
    """

    name: PolicyName
    value: float
    max_cost_usd: float | None = None
    """A hard cap (USD per call) on top of a quality policy: dearer models are
    excluded. None when there is none, or when the budget *is* the policy."""

    def __post_init__(self) -> None:
        # The value's range is the kernel's to check (it names the keyword).
        if self.name not in KEYWORDS:
            raise InvalidInputError(
                f"unknown policy {self.name!r}; use one of {list(get_args(PolicyName))}"
            )
        if self.max_cost_usd is not None and not (
            np.isfinite(self.max_cost_usd) and self.max_cost_usd >= 0
        ):
            raise InvalidInputError(
                f"invalid argument `max_cost_usd`: got {self.max_cost_usd}; it must be >= 0"
            )

    @classmethod
    def from_keywords(
        cls,
        *,
        min_quality: float | None = None,
        max_cost_usd: float | None = None,
        cost_weight: float | None = None,
        quality_fraction: float | None = None,
        default: Policy | None = None,
    ) -> Policy:
        """The policy the caller's keywords name: at most one of ``min_quality``,
        ``cost_weight``, ``quality_fraction``; ``max_cost_usd`` alone is the
        ``max_cost`` policy, with another it is a hard cap; none: ``default``."""
        options: tuple[tuple[PolicyName, float | None], ...] = (
            ("min_quality", min_quality),
            ("cost_weight", cost_weight),
            ("relative_quality", quality_fraction),
        )
        given = [(name, float(value)) for name, value in options if value is not None]
        if len(given) > 1:
            raise InvalidInputError(
                "give at most one of min_quality=, cost_weight=, quality_fraction= "
                f"(got {', '.join(KEYWORDS[name] for name, _ in given)}); max_cost_usd= "
                "combines with any"
            )
        if max_cost_usd is not None and not (np.isfinite(max_cost_usd) and max_cost_usd >= 0):
            raise InvalidInputError(
                f"invalid argument `max_cost_usd`: got {max_cost_usd}; it must be >= 0"
            )
        budget = None if max_cost_usd is None else float(max_cost_usd)
        if given:
            return cls(given[0][0], given[0][1], budget)
        if budget is not None:
            return cls("max_cost", budget)
        if default is None:
            raise InvalidInputError(
                "give a policy: min_quality=, max_cost_usd=, cost_weight= or quality_fraction="
            )
        return default

    @classmethod
    def from_mapping(cls, keywords: Mapping[str, float]) -> Policy:
        """A policy from one caller keyword, e.g. ``{"min_quality": 0.8}`` (``Router(policy=...)``).

        >>> Policy.from_mapping({"quality_fraction": 0.9}).name
        'relative_quality'
        """
        if len(keywords) != 1 or next(iter(keywords)) not in _NAME_OF_KEYWORD:
            raise InvalidInputError(
                f"policy must name one of {', '.join(_NAME_OF_KEYWORD)}; got {dict(keywords)}"
            )
        ((keyword, value),) = keywords.items()
        return cls(_NAME_OF_KEYWORD[keyword], float(value))

    def keywords(self) -> dict[str, float]:
        """The caller's keyword for this policy (the hard cap, if any, is not included)."""
        return {KEYWORDS[self.name]: self.value}


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


def _one_policy(
    min_quality: float | None,
    max_cost_usd: float | None,
    cost_weight: float | None,
    quality_fraction: float | None,
) -> Policy:
    options = (min_quality, max_cost_usd, cost_weight, quality_fraction)
    given = sum(value is not None for value in options)
    if given != 1:
        raise InvalidInputError(
            "give exactly one policy: min_quality=, max_cost_usd=, cost_weight= "
            f"or quality_fraction= (got {given})"
        )
    return Policy.from_keywords(
        min_quality=min_quality,
        max_cost_usd=max_cost_usd,
        cost_weight=cost_weight,
        quality_fraction=quality_fraction,
    )


def select_models(
    p_success: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    *,
    available: npt.ArrayLike | None = None,
    policy: Policy | None = None,
    min_quality: float | None = None,
    max_cost_usd: float | None = None,
    cost_weight: float | None = None,
    quality_fraction: float | None = None,
) -> Selection:
    """Choose one model per prompt.

    Give ``policy`` (a :class:`Policy`; its hard cap, if any, excludes dearer
    models) or exactly one policy keyword:

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
    if policy is None:
        policy = _one_policy(min_quality, max_cost_usd, cost_weight, quality_fraction)
    elif any(v is not None for v in (min_quality, max_cost_usd, cost_weight, quality_fraction)):
        raise InvalidInputError("give policy= or a policy keyword, not both")
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
    if policy.max_cost_usd is not None and mask.shape == cost.shape:
        mask = np.ascontiguousarray(mask & (cost <= policy.max_cost_usd))
    index, p_chosen, cost_chosen, outcome = _core.select(p, cost, mask, policy)
    for array in (index, p_chosen, cost_chosen, outcome):
        array.flags.writeable = False
    return Selection(
        index=index,
        p_success=p_chosen,
        cost_usd=cost_chosen,
        outcome=outcome,
        policy=policy.name,
        value=policy.value,
    )
