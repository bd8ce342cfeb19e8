"""Self-hosted capacity: base load on our own hardware, peak load to the market.

A self-hosted model can take only so much traffic: a token rate (a token
bucket that refills at ``tokens_per_s`` and holds at most ``burst_tokens``)
and/or a number of requests served at once (``max_concurrent_requests``). A
:class:`CapacityTracker` keeps every model's utilisation in the Rust core,
behind one lock, so that

- :meth:`~CapacityTracker.available` masks out saturated (or down) models
  before the selection kernel chooses, and the choice spills to the next-best
  model, typically a public API with no capacity limit;
- :meth:`~CapacityTracker.try_acquire` claims capacity for the chosen model
  atomically: of two threads racing for the last capacity exactly one wins,
  and the loser re-selects without that model;
- :meth:`~CapacityTracker.release` frees the slot when the request ends and
  returns the tokens it did not use.

Time is passed in (``now_s``, seconds on a monotonic clock; by default the
tracker reads its ``clock``), so behaviour is deterministic under a fake
clock. Exact rules (refill, debt, out-of-order clocks): ``docs/routing.md``.

Units: the tracker counts whatever tokens the caller charges. Built
:meth:`~CapacityTracker.from_catalog`, it counts *decode-equivalent tokens*:
a request with ``I`` input and ``O`` output tokens occupies the server for
``I / input_tokens_per_s + O / output_tokens_per_s`` seconds at full load,
i.e. ``O + I * output_tokens_per_s / input_tokens_per_s`` decode tokens
(:meth:`~CapacityTracker.request_tokens`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router import _core
from learned_router.catalog import Catalog
from learned_router.errors import InvalidInputError


@dataclass(frozen=True)
class ModelCapacity:
    """How much traffic one model takes. Every limit ``None``: unlimited.

    >>> ModelCapacity(tokens_per_s=1000.0, burst_tokens=4000.0, max_concurrent_requests=16)
    ModelCapacity(tokens_per_s=1000.0, burst_tokens=4000.0, max_concurrent_requests=16)
    """

    tokens_per_s: float | None = None
    """Sustained token rate (the bucket's refill), > 0; ``None``: no token limit."""
    burst_tokens: float | None = None
    """Bucket size, > 0: tokens admitted at once after an idle spell.
    Required with ``tokens_per_s``."""
    max_concurrent_requests: int | None = None
    """Requests in flight at once, >= 1; ``None``: no limit."""

    def __post_init__(self) -> None:
        if (self.tokens_per_s is None) != (self.burst_tokens is None):
            raise InvalidInputError(
                f"{self}: give both tokens_per_s and burst_tokens (a token bucket), or neither"
            )
        for name in ("tokens_per_s", "burst_tokens"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InvalidInputError(f"{self}: {name} = {value} must be finite and > 0")
        limit = self.max_concurrent_requests
        if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
            raise InvalidInputError(
                f"{self}: max_concurrent_requests = {limit} must be an integer >= 1, or None "
                "for no limit (mark a model down to take it out of service)"
            )

    @property
    def unlimited(self) -> bool:
        return self.tokens_per_s is None and self.max_concurrent_requests is None


@dataclass(frozen=True)
class CapacitySnapshot:
    """Utilisation of every model at one instant (arrays in the tracker's model order)."""

    models: tuple[str, ...]
    tokens: npt.NDArray[np.float64]
    """Tokens in the bucket (negative: debt from a request larger than the burst;
    ``inf``: no token limit)."""
    in_flight: npt.NDArray[np.int64]
    """Requests acquired and not yet released."""
    down: npt.NDArray[np.bool_]
    """Marked down: excluded until marked up."""


class CapacityTracker:
    """Thread-safe utilisation of self-hosted models, one column per router model.

    ``models`` are the router's columns in order; ``capacities`` limits some of
    them (the others, e.g. public APIs, are unlimited but can still be marked
    down). ``clock`` gives ``now_s`` when a call does not pass it.

    >>> now = [0.0]
    >>> tracker = CapacityTracker(
    ...     ["our-llama", "gpt-4o"],
    ...     capacities={"our-llama": ModelCapacity(max_concurrent_requests=1)},
    ...     clock=lambda: now[0],
    ... )
    >>> tracker.try_acquire("our-llama", 500)
    True
    >>> tracker.available().tolist()  # saturated: traffic spills to gpt-4o
    [False, True]
    >>> tracker.release("our-llama")
    >>> tracker.available().tolist()
    [True, True]
    """

    def __init__(
        self,
        models: Sequence[str],
        *,
        capacities: Mapping[str, ModelCapacity] | None = None,
        clock: Callable[[], float] = time.monotonic,
        input_token_weight: Sequence[float] | None = None,
    ) -> None:
        self.models: tuple[str, ...] = tuple(models)
        if not self.models:
            raise InvalidInputError("CapacityTracker needs at least one model")
        self._index = {name: j for j, name in enumerate(self.models)}
        if len(self._index) != len(self.models):
            raise InvalidInputError(f"models {list(self.models)} has duplicate names")
        capacities = dict(capacities or {})
        unknown = sorted(set(capacities) - set(self.models))
        if unknown:
            raise InvalidInputError(
                f"capacities for {unknown}, which are not among the models {list(self.models)}"
            )
        self.capacities: tuple[ModelCapacity, ...] = tuple(
            capacities.get(name, ModelCapacity()) for name in self.models
        )
        weights = [1.0] * len(self.models) if input_token_weight is None else input_token_weight
        self._input_weight = np.asarray(weights, dtype=np.float64)
        if self._input_weight.shape != (len(self.models),) or not np.all(
            np.isfinite(self._input_weight) & (self._input_weight >= 0)
        ):
            raise InvalidInputError(
                f"input_token_weight must be {len(self.models)} finite numbers >= 0, "
                f"got {list(weights)}"
            )
        self._clock = clock
        self._core = _core.CapacityTracker(
            [c.tokens_per_s for c in self.capacities],
            [c.burst_tokens for c in self.capacities],
            [c.max_concurrent_requests for c in self.capacities],
        )

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        models: Sequence[str],
        *,
        burst_s: float = 2.0,
        max_load: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> CapacityTracker:
        """A tracker for ``models`` with each self-hosted model's capacity from the catalog.

        A self-hosted model's bucket refills at ``max_load`` times its full-load
        decode throughput (``hosting.output_tokens_per_s``) and holds
        ``burst_s`` seconds of it; ``hosting.max_concurrent_requests`` (when
        stated) limits requests in flight. Public models are unlimited.

        >>> from learned_router.catalog import LatencyProfile, ModelSpec, SelfHosting
        >>> hosting = SelfHosting(2.0, 0.7, 0.15, 0.5, 20_000.0, 1_000.0, 16)
        >>> ours = ModelSpec("ours", "us", 0.0, 0.0, LatencyProfile(150.0, 90.0),
        ...                  self_hosted=True, hosting=hosting)
        >>> theirs = ModelSpec("theirs", "them", 1.0, 3.0, LatencyProfile(500.0, 60.0))
        >>> catalog = Catalog(models=(ours, theirs), version="v1")
        >>> tracker = CapacityTracker.from_catalog(catalog, ["ours", "theirs"])
        >>> tracker.capacities[0]
        ModelCapacity(tokens_per_s=1000.0, burst_tokens=2000.0, max_concurrent_requests=16)
        >>> tracker.request_tokens([2000], [[100, 100]]).tolist()  # 100 + 2000 * 1000 / 20000
        [[200.0, 2100.0]]
        """
        if not (math.isfinite(burst_s) and burst_s > 0):
            raise InvalidInputError(f"burst_s = {burst_s} must be finite and > 0 seconds")
        if not (0 < max_load <= 1):
            raise InvalidInputError(
                f"max_load = {max_load} must be in (0, 1]: the share of full-load throughput "
                "admitted"
            )
        capacities: dict[str, ModelCapacity] = {}
        weights: list[float] = []
        for name in models:
            spec = catalog.get(name)
            hosting = spec.hosting
            if not spec.self_hosted or hosting is None:
                weights.append(1.0)
                continue
            rate = max_load * hosting.output_tokens_per_s
            capacities[name] = ModelCapacity(
                tokens_per_s=rate,
                burst_tokens=burst_s * rate,
                max_concurrent_requests=hosting.max_concurrent_requests or None,
            )
            weights.append(hosting.output_tokens_per_s / hosting.input_tokens_per_s)
        return cls(models, capacities=capacities, clock=clock, input_token_weight=weights)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        limited = [m for m, c in zip(self.models, self.capacities, strict=True) if not c.unlimited]
        return f"CapacityTracker({len(self.models)} models, limited: {limited})"

    # --- helpers ---------------------------------------------------------------------------

    def index(self, model: int | str) -> int:
        """The column of ``model`` (a name, or an index checked against the model count)."""
        if isinstance(model, str):
            j = self._index.get(model)
            if j is None:
                raise InvalidInputError(
                    f"model {model!r} is not tracked; the tracker's models are {list(self.models)}"
                )
            return j
        j = int(model)
        if not 0 <= j < len(self.models):
            raise InvalidInputError(
                f"model index {model} is out of range; the tracker has {len(self.models)} models"
            )
        return j

    def _now(self, now_s: float | None) -> float:
        return float(self._clock() if now_s is None else now_s)

    def request_tokens(
        self, input_tokens: npt.ArrayLike, output_tokens: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Tokens each request charges each model: ``output + input * input_token_weight``.

        ``input_tokens`` is ``[n]``, ``output_tokens`` ``[n, m]``; the result is
        ``[n, m]``. Built from a catalog, the weight converts prefill tokens to
        decode-equivalent tokens (``output_tokens_per_s / input_tokens_per_s``);
        otherwise it is 1 (every token counts the same).
        """
        inputs = np.asarray(input_tokens, dtype=np.float64).reshape(-1, 1)
        outputs = np.asarray(output_tokens, dtype=np.float64)
        if outputs.shape != (inputs.shape[0], len(self.models)):
            raise InvalidInputError(
                f"invalid argument `output_tokens`: expected shape "
                f"[{inputs.shape[0]}, {len(self.models)}], got {outputs.shape}"
            )
        result: npt.NDArray[np.float64] = outputs + inputs * self._input_weight
        return result

    # --- the tracker -----------------------------------------------------------------------

    def available(
        self, *, tokens: npt.ArrayLike = 0.0, now_s: float | None = None
    ) -> npt.NDArray[np.bool_]:
        """Which models could admit a request of ``tokens`` now.

        ``tokens`` is a number (every model), a row ``[m]`` (one request), or a
        matrix ``[n, m]`` (a batch; each cell judged alone). The result has the
        shape of a row for a number or a row, ``[n, m]`` for a matrix. With the
        default ``tokens=0`` a model is available unless it is down, has every
        slot taken, or its bucket is in debt. This reads the state; claim
        capacity with :meth:`try_acquire`.
        """
        array = np.asarray(tokens, dtype=np.float64)
        m = len(self.models)
        if array.ndim > 2 or (array.ndim >= 1 and array.shape[-1] != m):
            raise InvalidInputError(
                f"invalid argument `tokens`: expected a number, [{m}] or [n, {m}], "
                f"got shape {array.shape}"
            )
        matrix = np.ascontiguousarray(array if array.ndim == 2 else np.broadcast_to(array, (1, m)))
        mask: npt.NDArray[np.bool_] = self._core.available(matrix, self._now(now_s))
        return mask if array.ndim == 2 else mask[0]

    def try_acquire(self, model: int | str, tokens: float, *, now_s: float | None = None) -> bool:
        """Claims ``tokens`` and one request slot on ``model``, atomically.

        True: the capacity is taken; call :meth:`release` once when the request
        ends. False: the model is saturated or down and nothing changed; choose
        again without it.
        """
        return self._core.try_acquire(self.index(model), float(tokens), self._now(now_s))

    def try_acquire_many(
        self, models: npt.ArrayLike, tokens: npt.ArrayLike, *, now_s: float | None = None
    ) -> npt.NDArray[np.bool_]:
        """:meth:`try_acquire` for a batch, in order, under one lock.

        ``models`` are column indices (-1: no model chosen, skipped and False),
        ``tokens`` one count per request. Returns which requests got capacity.
        """
        index = np.ascontiguousarray(np.asarray(models, dtype=np.int64).reshape(-1))
        counts = np.ascontiguousarray(np.asarray(tokens, dtype=np.float64).reshape(-1))
        won: npt.NDArray[np.bool_] = self._core.try_acquire_many(index, counts, self._now(now_s))
        return won

    def release(self, model: int | str, *, unused_tokens: float = 0.0) -> None:
        """Ends a request on ``model``: frees its slot, returns ``unused_tokens``.

        ``unused_tokens`` is what was acquired minus what the request really
        used (negative if it used more). Raises if nothing is in flight on the
        model (a release without a matching successful acquire).
        """
        self._core.release(self.index(model), float(unused_tokens))

    def mark_down(self, model: int | str) -> None:
        """Excludes ``model`` until :meth:`mark_up` (requests in flight still release)."""
        self._core.set_down(self.index(model), True)

    def mark_up(self, model: int | str) -> None:
        """Makes ``model`` available again after :meth:`mark_down`."""
        self._core.set_down(self.index(model), False)

    def snapshot(self, *, now_s: float | None = None) -> CapacitySnapshot:
        """Bucket levels, requests in flight and down flags of every model now."""
        tokens, in_flight, down = self._core.snapshot(self._now(now_s))
        return CapacitySnapshot(self.models, tokens, in_flight, down)
