"""Calibrating a routing policy's parameter to a target stated on your own traffic.

In the spirit of RouteLLM's threshold calibration, for many models: on a
validation log with the router's predictions ``p`` ``[n, m]``, the true
quality ``q`` ``[n, m]`` (NaN where a model's answer was not judged) and the
costs ``c`` ``[n, m]``, sweep a policy's parameter through the selection
kernel and keep the setting that meets the target:

- ``quality_of_best=X``: reach ``X`` times the realised mean quality of the
  best single model (the model with the highest mean quality on the log) at
  the least mean cost per prompt;
- ``max_mean_cost_usd=B``: the highest realised mean quality with mean cost
  per prompt at most ``B``.

"Realised" means measured with the log's true quality of the model each
prompt was routed to (and its real cost, when given). Ties go to the higher
quality, then to the lower cost, then to the more quality-conservative
parameter. A target no setting meets gives the closest setting (highest
quality, or lowest cost) with ``target_met = False``.

Candidate parameters are where the kernel's choice can change: the values of
``p`` (``min_quality``), of ``p`` over its row's best (``relative_quality``),
of ``c`` (``max_cost``), or the quality-per-USD slopes between two models of a
prompt (``cost_weight``); above ``resolution`` distinct candidates, their
quantiles. The result is a frozen :class:`Calibration`, saved as JSON.

``learned-router calibrate`` is a thin shell over :func:`calibrate_on_log`:
it needs the trained predictor for ``p``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError
from learned_router.selection import KEYWORDS, Policy, PolicyName, select_models

if TYPE_CHECKING:
    from learned_router.catalog import Catalog
    from learned_router.data import OutcomeLog
    from learned_router.tokens import OutputLengthModel

TargetKind = Literal["quality_of_best", "budget"]
FORMAT = "learned-router/calibration"
FORMAT_VERSION = 1
DEFAULT_POLICY: dict[TargetKind, PolicyName] = {
    "quality_of_best": "relative_quality",
    "budget": "cost_weight",
}
# Which way each parameter is quality-conservative (used to break exact ties):
# a higher bar or budget asks for more quality, a higher cost weight for less.
_CONSERVATIVE_SIGN: dict[PolicyName, float] = {
    "min_quality": 1.0,
    "relative_quality": 1.0,
    "max_cost": 1.0,
    "cost_weight": -1.0,
}
# Tolerance for comparing realised means with a target: sums of many floats.
_EPS = 1e-12


@dataclass(frozen=True)
class PolicySweep:
    """Realised quality and cost of a policy at each candidate parameter value."""

    policy: PolicyName
    values: npt.NDArray[np.float64]
    """Candidate parameter values, ascending."""
    mean_quality: npt.NDArray[np.float64]
    """Mean true quality of the chosen models over prompts where it is known."""
    mean_cost_usd: npt.NDArray[np.float64]
    """Mean realised cost per prompt."""
    coverage: npt.NDArray[np.float64]
    """Share of prompts whose chosen model's quality is known."""


@dataclass(frozen=True)
class Calibration:
    """A calibrated policy setting and what it realised on the validation log.

    ``select_models(p, cost, **calibration.select_kwargs())`` applies it.
    """

    policy: PolicyName
    value: float
    target: TargetKind
    target_value: float
    """``X`` of ``quality_of_best`` or the budget ``B`` in USD per prompt."""
    target_met: bool
    realised_quality: float
    realised_cost_usd: float
    """Mean realised cost per prompt."""
    coverage: float
    best_model: str
    """The best single model on the log (by mean true quality)."""
    best_model_quality: float
    best_model_cost_usd: float
    n_prompts: int
    models: tuple[str, ...] = ()

    def select_kwargs(self) -> dict[str, float]:
        """The keyword for :func:`~learned_router.selection.select_models`.

        >>> Calibration("relative_quality", 0.8, "quality_of_best", 0.95, True, 0.9, 0.01,
        ...             1.0, "m", 0.92, 0.02, 100).select_kwargs()
        {'quality_fraction': 0.8}
        """
        return self.as_policy().keywords()

    def as_policy(self) -> Policy:
        """The calibrated setting as the :class:`~learned_router.selection.Policy` a
        Router routes with (``Router(calibration=...)``)."""
        return Policy(self.policy, self.value)

    def to_json(self) -> str:
        """The calibration as JSON text (:meth:`from_json` reads it back)."""
        payload: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
        payload.update(asdict(self))
        payload["models"] = list(self.models)
        return json.dumps(payload, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "calibration") -> Calibration:
        """Reads :meth:`to_json` output, checking every field."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{source}: not valid JSON: {error}") from error
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise InvalidInputError(
                f'{source}: not a learned-router calibration (expected "format": {FORMAT!r})'
            )
        if raw.get("format_version") != FORMAT_VERSION:
            raise InvalidInputError(
                f"{source}: calibration format version {raw.get('format_version')!r} is not "
                f"{FORMAT_VERSION}; recalibrate with this version of learned-router"
            )
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names - {"format", "format_version"})
        missing = sorted(f.name for f in fields(cls) if f.name not in raw and f.name != "models")
        if unknown or missing:
            raise InvalidInputError(
                f"{source}: calibration fields missing {missing}, unknown {unknown}"
            )
        if raw["policy"] not in KEYWORDS or raw["target"] not in DEFAULT_POLICY:
            raise InvalidInputError(
                f"{source}: unknown policy {raw['policy']!r} or target {raw['target']!r}"
            )
        values = {name: raw[name] for name in names if name in raw}
        values["models"] = tuple(values.get("models", ()))
        return cls(**values)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the calibration as JSON, atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_json() + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        """Reads a calibration saved with :meth:`save`.

        >>> import tempfile, pathlib
        >>> c = Calibration("min_quality", 0.7, "budget", 0.01, True, 0.8, 0.009, 1.0,
        ...                 "big", 0.85, 0.03, 500, ("big", "small"))
        >>> Calibration.load(c.save(pathlib.Path(tempfile.mkdtemp()) / "c.json")) == c
        True
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise InvalidInputError(f"{path}: cannot read the calibration: {error}") from error
        return cls.from_json(text, source=str(path))


# --- inputs -------------------------------------------------------------------------------------


def _matrix(name: str, value: npt.ArrayLike, *, nan_ok: bool = False) -> npt.NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape:
        raise InvalidInputError(
            f"invalid argument `{name}`: expected a non-empty [n_prompts, n_models] matrix, "
            f"got shape {array.shape}"
        )
    bad = ~np.isfinite(array)
    if nan_ok:
        bad &= ~np.isnan(array)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        allowed = " (NaN marks an unknown value)" if nan_ok else ""
        raise InvalidInputError(
            f"invalid argument `{name}`: {name}[{i}, {j}] = {array[i, j]}; values must be "
            f"finite{allowed}"
        )
    return array


def _inputs(
    p_success: npt.ArrayLike,
    quality: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    available: npt.ArrayLike | None,
    realised_cost_usd: npt.ArrayLike | None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
]:
    p = _matrix("p_success", p_success)
    q = _matrix("quality", quality, nan_ok=True)
    c = _matrix("cost_usd", cost_usd)
    for name, array in (("quality", q), ("cost_usd", c)):
        if array.shape != p.shape:
            raise InvalidInputError(
                f"invalid argument `{name}`: shape {array.shape} differs from p_success's "
                f"{p.shape}; all matrices are [n_prompts, n_models] over the same rows and columns"
            )
    known = q[~np.isnan(q)]
    if known.size and (known.min() < 0 or known.max() > 1):
        raise InvalidInputError("invalid argument `quality`: true quality must be in [0, 1]")
    mask = (
        np.ones(p.shape, dtype=np.bool_)
        if available is None
        else np.broadcast_to(np.asarray(available, dtype=np.bool_), p.shape)
    )
    real = c
    if realised_cost_usd is not None:
        real = _matrix("realised_cost_usd", realised_cost_usd, nan_ok=True)
        if real.shape != p.shape:
            raise InvalidInputError(
                f"invalid argument `realised_cost_usd`: shape {real.shape} differs from {p.shape}"
            )
        real = np.where(np.isnan(real), c, real)
    return p, q, c, mask, real


# --- sweeping -----------------------------------------------------------------------------------


def _thin(values: npt.NDArray[np.float64], resolution: int) -> npt.NDArray[np.float64]:
    unique = np.unique(values[np.isfinite(values)])
    if unique.size > resolution:
        unique = np.unique(np.quantile(unique, np.linspace(0.0, 1.0, resolution)))
    return unique


def candidate_values(
    policy: PolicyName,
    p: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    available: npt.NDArray[np.bool_],
    *,
    resolution: int = 256,
) -> npt.NDArray[np.float64]:
    """Parameter values at which ``policy``'s choices can change (at most
    ``resolution`` of them, plus the ends of the range), ascending.

    >>> p = np.array([[0.9, 0.6, 0.3]]); c = np.array([[3.0, 2.0, 1.0]])
    >>> candidate_values("min_quality", p, c, np.ones((1, 3), bool)).tolist()
    [0.0, 0.3, 0.6, 0.9, 1.0]
    """
    if policy == "min_quality":
        values = np.concatenate([_thin(p[available], resolution), [0.0, 1.0]])
    elif policy == "relative_quality":
        best = np.where(available, p, -np.inf).max(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(available & (best > 0), p / best, np.nan)
        # A hair below each ratio, so that `fraction * best <= p` holds for
        # the model that defines it despite rounding in the product.
        values = np.concatenate([_thin(ratio, resolution) * (1 - 1e-12), [0.0, 1.0]])
    elif policy == "max_cost":
        values = np.concatenate([_thin(cost[available], resolution), [0.0]])
    elif policy == "cost_weight":
        values = np.concatenate([_cost_weight_breakpoints(p, cost, available, resolution), [0.0]])
    else:
        raise InvalidInputError(f"unknown policy {policy!r}; use one of {list(KEYWORDS)}")
    return np.unique(np.clip(values, 0.0, None if policy in ("max_cost", "cost_weight") else 1.0))


def _cost_weight_breakpoints(
    p: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    available: npt.NDArray[np.bool_],
    resolution: int,
) -> npt.NDArray[np.float64]:
    """Weights at which two models of a prompt swap: (p_a - p_b) / (c_a - c_b)
    for a better and dearer model a. Beyond the largest, the cheapest model
    always wins; it is included doubled."""
    # Breakpoints from at most 2,000 evenly spaced prompts: quantiles of them
    # are all a sweep of `resolution` values uses (bounds memory at n*m*m).
    rows = np.unique(np.linspace(0, p.shape[0] - 1, min(p.shape[0], 2000)).astype(np.int64))
    dp = p[rows, :, None] - p[rows, None, :]
    dc = cost[rows, :, None] - cost[rows, None, :]
    pair = available[rows, :, None] & available[rows, None, :] & (dp > 0) & (dc > 0)
    slopes = dp[pair] / dc[pair]
    if slopes.size == 0:
        return np.zeros(0)
    return np.concatenate([_thin(slopes, resolution), [2.0 * slopes.max()]])


def evaluate(
    p_success: npt.ArrayLike,
    quality: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    *,
    policy: PolicyName,
    value: float,
    available: npt.ArrayLike | None = None,
    realised_cost_usd: npt.ArrayLike | None = None,
) -> tuple[float, float, float]:
    """(mean quality, mean cost per prompt, coverage) realised by one setting.

    >>> evaluate([[0.9, 0.6]], [[1.0, 0.0]], [[2.0, 1.0]], policy="min_quality", value=0.5)
    (0.0, 1.0, 1.0)
    """
    p, q, c, mask, real = _inputs(p_success, quality, cost_usd, available, realised_cost_usd)
    return _evaluate(p, q, c, mask, real, policy, value)


def _evaluate(
    p: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    c: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
    real: npt.NDArray[np.float64],
    policy: PolicyName,
    value: float,
) -> tuple[float, float, float]:
    selection = select_models(p, c, available=mask, policy=Policy(policy, value))
    rows = np.flatnonzero(selection.index >= 0)
    if rows.size != p.shape[0]:
        raise InvalidInputError(
            f"prompt {int(np.flatnonzero(selection.index < 0)[0])} has no available model; "
            "calibrate on prompts with at least one available model"
        )
    chosen = selection.index
    quality = q[rows, chosen]
    known = ~np.isnan(quality)
    mean_quality = float(quality[known].mean()) if known.any() else math.nan
    return mean_quality, float(real[rows, chosen].mean()), float(known.mean())


def sweep(
    p_success: npt.ArrayLike,
    quality: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    *,
    policy: PolicyName,
    available: npt.ArrayLike | None = None,
    realised_cost_usd: npt.ArrayLike | None = None,
    resolution: int = 256,
) -> PolicySweep:
    """Realised quality and cost of ``policy`` at every candidate value.

    >>> s = sweep([[0.9, 0.6]], [[1.0, 0.0]], [[2.0, 1.0]], policy="min_quality")
    >>> s.values.tolist(), s.mean_quality.tolist(), s.mean_cost_usd.tolist()
    ([0.0, 0.6, 0.9, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 2.0])
    """
    p, q, c, mask, real = _inputs(p_success, quality, cost_usd, available, realised_cost_usd)
    if not (isinstance(resolution, int) and resolution >= 2):
        raise InvalidInputError(f"resolution = {resolution!r} must be an integer >= 2")
    values = candidate_values(policy, p, c, mask, resolution=resolution)
    results = np.array([_evaluate(p, q, c, mask, real, policy, v) for v in values])
    return PolicySweep(
        policy=policy,
        values=values,
        mean_quality=results[:, 0],
        mean_cost_usd=results[:, 1],
        coverage=results[:, 2],
    )


# --- calibrating --------------------------------------------------------------------------------


def best_single_model(
    quality: npt.NDArray[np.float64], cost: npt.NDArray[np.float64]
) -> tuple[int, float, float]:
    """(column, mean quality over its known prompts, mean cost) of the best model."""
    known = ~np.isnan(quality)
    counts = known.sum(axis=0)
    if not counts.any():
        raise InvalidInputError("invalid argument `quality`: every value is NaN (unknown)")
    sums = np.where(known, quality, 0.0).sum(axis=0)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    j = int(np.argmax(means))
    return j, float(means[j]), float(cost[:, j].mean())


def calibrate(
    p_success: npt.ArrayLike,
    quality: npt.ArrayLike,
    cost_usd: npt.ArrayLike,
    *,
    quality_of_best: float | None = None,
    max_mean_cost_usd: float | None = None,
    policy: PolicyName | None = None,
    models: Sequence[str] | None = None,
    available: npt.ArrayLike | None = None,
    realised_cost_usd: npt.ArrayLike | None = None,
    resolution: int = 256,
) -> Calibration:
    """Finds the policy setting that meets a target on a validation log.

    Give exactly one target: ``quality_of_best`` (a fraction in (0, 1] of the
    best single model's mean quality, reached at least cost; default policy
    ``relative_quality``) or ``max_mean_cost_usd`` (a budget per prompt, at
    the highest quality; default policy ``cost_weight``). ``p_success`` are
    the router's predictions, ``quality`` the true outcomes (NaN: unknown),
    ``cost_usd`` the expected costs the router decides with, and
    ``realised_cost_usd`` (default: ``cost_usd``) what the calls really cost.

    >>> p = [[0.9, 0.5], [0.9, 0.8], [0.8, 0.2]]
    >>> q = [[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]
    >>> c = [[10.0, 1.0], [10.0, 1.0], [10.0, 1.0]]
    >>> cal = calibrate(p, q, c, quality_of_best=0.9, models=["big", "small"])
    >>> cal.best_model, cal.realised_quality, cal.realised_cost_usd, cal.target_met
    ('big', 1.0, 7.0, True)
    """
    targets = [
        (kind, value)
        for kind, value in (("quality_of_best", quality_of_best), ("budget", max_mean_cost_usd))
        if value is not None
    ]
    if len(targets) != 1:
        raise InvalidInputError(
            "give exactly one target: quality_of_best= (a fraction of the best single model's "
            f"quality) or max_mean_cost_usd= (a budget per prompt); got {len(targets)}"
        )
    kind: TargetKind = "budget" if targets[0][0] == "budget" else "quality_of_best"
    target = float(targets[0][1])
    if kind == "quality_of_best" and not 0 < target <= 1:
        raise InvalidInputError(
            f"invalid argument `quality_of_best`: {target}; give a fraction in (0, 1], "
            "e.g. 0.95 for 95% of the best model's quality"
        )
    if kind == "budget" and not (math.isfinite(target) and target >= 0):
        raise InvalidInputError(
            f"invalid argument `max_mean_cost_usd`: {target}; give a finite budget >= 0 USD"
        )
    policy = policy or DEFAULT_POLICY[kind]
    if policy not in KEYWORDS:
        raise InvalidInputError(f"unknown policy {policy!r}; use one of {list(KEYWORDS)}")
    p, q, c, mask, real = _inputs(p_success, quality, cost_usd, available, realised_cost_usd)
    names = tuple(models) if models is not None else ()
    if models is not None and len(names) != p.shape[1]:
        raise InvalidInputError(
            f"invalid argument `models`: {len(names)} names for {p.shape[1]} columns"
        )
    best, best_quality, best_cost = best_single_model(q, real)
    result = sweep(
        p, q, c, policy=policy, available=mask, realised_cost_usd=real, resolution=resolution
    )
    if not np.isfinite(result.mean_quality).any():
        raise InvalidInputError(
            "no prompt's chosen model has a known quality; calibrate on a log where the "
            "models' answers were judged"
        )
    quality_ = np.where(np.isnan(result.mean_quality), -np.inf, result.mean_quality)
    cost = result.mean_cost_usd
    conservative = _CONSERVATIVE_SIGN[policy] * result.values
    if kind == "quality_of_best":
        feasible = quality_ >= target * best_quality - _EPS
        # Cheapest feasible; else the highest quality.
        order = (
            np.lexsort((-conservative, -quality_, cost))
            if feasible.any()
            else np.lexsort((-conservative, cost, -quality_))
        )
    else:
        feasible = cost <= target + _EPS
        order = (
            np.lexsort((-conservative, cost, -quality_))
            if feasible.any()
            else np.lexsort((-conservative, -quality_, cost))
        )
    candidates = order[feasible[order]] if feasible.any() else order
    k = int(candidates[0])
    return Calibration(
        policy=policy,
        value=float(result.values[k]),
        target=kind,
        target_value=target,
        target_met=bool(feasible.any()),
        realised_quality=float(result.mean_quality[k]),
        realised_cost_usd=float(cost[k]),
        coverage=float(result.coverage[k]),
        best_model=names[best] if names else f"column {best}",
        best_model_quality=best_quality,
        best_model_cost_usd=best_cost,
        n_prompts=int(p.shape[0]),
        models=names,
    )


def calibrate_on_log(
    log: OutcomeLog,
    predict: Callable[[Sequence[str]], npt.ArrayLike],
    *,
    models: Sequence[str],
    catalog: Catalog,
    lengths: OutputLengthModel,
    quality_of_best: float | None = None,
    max_mean_cost_usd: float | None = None,
    policy: PolicyName | None = None,
    resolution: int = 256,
) -> Calibration:
    """:func:`calibrate` on an outcome log: the body of ``learned-router calibrate``.

    ``log`` is an :class:`~learned_router.data.OutcomeLog` (the validation
    split), ``predict`` maps prompt texts to ``[n, len(models)]`` P(success)
    (the trained predictor), ``catalog`` prices the models and ``lengths`` (an
    :class:`~learned_router.tokens.OutputLengthModel`) estimates answer
    lengths. The router decides with the estimated cost; the realised cost is
    the log's real ``cost_usd`` where it has one.
    """
    from learned_router.costs import log_costs

    matrix = log.matrix(models)
    costs = log_costs(matrix, catalog, lengths)
    p = np.asarray(predict(list(matrix.prompts)), dtype=np.float64)
    if p.shape != matrix.quality.shape:
        raise InvalidInputError(
            f"predict returned shape {p.shape}; expected {matrix.quality.shape} "
            "(one row per prompt, one column per model)"
        )
    return calibrate(
        p,
        matrix.quality,
        costs.estimated_usd,
        quality_of_best=quality_of_best,
        max_mean_cost_usd=max_mean_cost_usd,
        policy=policy,
        models=models,
        realised_cost_usd=costs.cost_usd,
        resolution=resolution,
    )
