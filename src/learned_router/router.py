"""The in-process router: ``Router.load(...)`` then ``router.route(prompt)``.

One decision, step by step (``docs/routing.md`` has the details):

1. tokenise and embed the prompt (the bundle's int8 encoder, cut to its token
   budget: head + tail), and count its tokens for pricing;
2. predict P(success) for every candidate (quality heads, calibrated);
3. price every candidate from one snapshot of the live catalog: input tokens
   (registered static prefixes at cached-input rates), expected output tokens,
   batch discount for ``priority="batch"``;
4. mask out models that are down, saturated (self-hosted capacity), over the
   latency SLO, over a hard budget, or not among ``candidates``;
5. choose with the Rust kernel under the policy; claim self-hosted capacity
   (spilling to the next-best model if another thread took it first);
6. return a frozen :class:`RouteDecision` with every candidate's estimates, the
   constraint that decided, the complexity tier, the price-table version.

Thread-safe: the encoder session, the catalog snapshot swap, the capacity
tracker and the decision memory are each safe to share; concurrent ``route``
calls give the same answers as serial ones.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from learned_router.bundle import DEFAULT_BUNDLE, Bundle
from learned_router.cache import CacheHit, SemanticCache
from learned_router.capacity import CapacityTracker
from learned_router.catalog import Catalog
from learned_router.costs import Priority, expected_cost_usd
from learned_router.errors import BundleError, CatalogError, InvalidInputError, LearnedRouterError
from learned_router.latency import LatencyTable
from learned_router.live_catalog import LiveCatalog
from learned_router.outcomes import OutcomeRecord, OutcomeStore
from learned_router.policy_calibration import Calibration
from learned_router.selection import Outcome, Policy, PolicyName, select_models

if TYPE_CHECKING:
    from learned_router.drift.corrections import Corrections

logger = logging.getLogger(__name__)

Tier = Literal["low", "medium", "high"]
TIER_FRACTION = 0.95
"""A price tier "suffices" when one of its models reaches this share of the best P(success)."""


class NoModelAvailableError(LearnedRouterError):
    """Every candidate is down, saturated or excluded, and no fallback model is up."""


@dataclass(frozen=True)
class CandidateEstimate:
    """What the router expected of one candidate for this prompt."""

    model: str
    p_success: float
    expected_cost_usd: float
    expected_latency_ms: float
    expected_output_tokens: float
    excluded_by: str | None
    """Why it could not be chosen (``down``, ``capacity``, ``context``, ``latency``,
    ``budget``), or None."""
    support: float | None = None
    """How many labelled training prompts near this one back the prediction (effective
    count; None when the bundle's quality model does not estimate it). Where it is
    small, ``p_success`` leans on the model's overall record instead of this prompt."""


@dataclass(frozen=True)
class RouteDecision:
    """One routing decision. ``model`` is the model to call."""

    decision_id: str
    timestamp: datetime
    model: str
    p_success: float
    expected_cost_usd: float
    expected_latency_ms: float
    policy: PolicyName
    policy_value: float
    outcome: Outcome
    decided_by: str
    """The constraint or fallback that decided, in words."""
    tier: Tier
    candidates: tuple[CandidateEstimate, ...]
    price_version: str
    router_version: str
    input_tokens: int
    priority: Priority
    tenant: str | None = None
    support: float | None = None
    """The chosen model's :attr:`CandidateEstimate.support`."""
    cached: CacheHit | None = None
    """The cached answer, when the cache answered: call no model, use
    ``cached.response`` (``model`` is then ``"cache"``)."""

    def candidate(self, model: str) -> CandidateEstimate:
        for estimate in self.candidates:
            if estimate.model == model:
                return estimate
        raise KeyError(model)

    @property
    def frontier_cost_usd(self) -> float:
        """Expected cost of the highest-P(success) candidate (what 'always the best' would pay)."""
        best = max(self.candidates, key=lambda c: (c.p_success, -c.expected_cost_usd))
        return best.expected_cost_usd


@dataclass(frozen=True)
class _Batch:
    """The prompts of one ``route_batch`` call the cache did not answer, and what the
    router worked out for them: ``[n, m]`` arrays over the candidate models."""

    prompts: Sequence[str]
    policy: Policy
    priority: Priority
    tenant: str | None
    models: list[str]
    """The candidates, in column order."""
    columns: npt.NDArray[np.intp]
    """The candidates' indices among the router's models."""
    input_tokens: Sequence[int]
    p: npt.NDArray[np.float64]
    p_before: npt.NDArray[np.float64]
    """``p`` before the corrections (drift re-scoring, tenant adaptation): what a
    recorded outcome is compared with."""
    support: npt.NDArray[np.float64] | None
    cost: npt.NDArray[np.float64]
    latency_ms: npt.NDArray[np.float64]
    output_tokens: npt.NDArray[np.float64]
    available: npt.NDArray[np.bool_]
    excluded: npt.NDArray[Any]
    """Why each candidate cannot be chosen (``down``, ``capacity``, ...) or None."""
    hard: npt.NDArray[np.bool_]
    """Hard limits (down, context, latency, budget): never overridden, not even by
    the fallback order (which replaces saturated models only)."""
    budget: float | None
    """The hard budget (USD per call) masked with: ``max_cost_usd=`` when the call
    gave it, alone or with another policy; None otherwise."""
    demand: npt.NDArray[np.float64]
    """``[n, all models]`` self-hosted capacity each prompt would claim."""
    price_version: str


@dataclass
class _Memory:
    """What ``record_outcome`` needs to know about a recent decision."""

    prompt: str
    model: str
    model_index: int
    tenant: str | None
    input_tokens: int
    claimed_tokens: float
    claimed: bool
    cost_usd: float
    prompt_bytes: int
    """What keeping the prompt costs (counted against ``decision_memory_bytes``)."""
    candidates: list[str]
    """The decision's candidates (shared by the decisions of one batch)."""
    p_before: npt.NDArray[np.float32]
    """Each candidate's P(success) before the corrections: what ``on_outcome`` compares
    the recorded quality with."""
    tier: str | None


@dataclass(frozen=True)
class RecordedOutcome:
    """An outcome :meth:`Router.record_outcome` has made durable, as ``on_outcome``
    gets it (:meth:`learned_router.drift.DriftMonitor.attach` feeds it to the
    residual detectors and, with ``adapt``, to the tenant's corrections)."""

    decision_id: str
    model: str
    """The model that answered (the decision's, or ``record_outcome``'s ``model=``)."""
    quality: float
    predicted: float
    """The answering model's P(success) for this prompt before the corrections, among
    the decision's candidates."""
    tenant: str | None
    tier: str | None


#: Tenant scope of the cache for ``tenant=None``: the NUL byte keeps it apart
#: from every tenant name a caller may pass (names with control characters
#: are refused).
ANONYMOUS_TENANT = "\x00anonymous"


def _number(name: str, value: object, low: float, high: float, *, open_low: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``open_low``), or
    :class:`InvalidInputError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(
            f"invalid argument `{name}`: got {value!r} ({type(value).__name__}); give a number"
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"invalid argument `{name}`: got {value!r}; it must be finite")
    if number > high or number < low or (open_low and number == low):
        bound = f"({low:g}, {high:g}]" if open_low else f"[{low:g}, {high:g}]"
        raise InvalidInputError(f"invalid argument `{name}`: got {value!r}; it must be in {bound}")
    return number


_POLICY_RANGES: dict[str, tuple[float, float, bool]] = {
    "min_quality": (0.0, 1.0, False),
    "max_cost_usd": (0.0, sys.float_info.max, False),
    "cost_weight": (0.0, sys.float_info.max, False),
    "quality_fraction": (0.0, 1.0, True),
}
"""Each policy keyword's range (low, high, low excluded) for :func:`_policy_keywords`."""


def _policy_keywords(**keywords: float | None) -> dict[str, float | None]:
    """The caller's policy keywords, each given one checked (a number, finite, in
    range) before :meth:`Policy.from_keywords` combines them."""
    named = [
        k for k in ("min_quality", "cost_weight", "quality_fraction") if keywords[k] is not None
    ]
    if len(named) > 1:
        raise InvalidInputError(
            "give at most one of min_quality=, cost_weight=, quality_fraction= "
            f"(got {', '.join(named)}); max_cost_usd= combines with any"
        )
    return {
        name: None
        if value is None
        else _number(name, value, *_POLICY_RANGES[name][:2], open_low=_POLICY_RANGES[name][2])
        for name, value in keywords.items()
    }


def check_prompts(prompts: object) -> list[str]:
    """The prompts of ``route_batch`` as a list, or :class:`InvalidInputError` naming
    the first bad item (its index) and what is wrong with it."""
    if isinstance(prompts, str):
        raise InvalidInputError("route_batch takes a list of prompts; use route() for one")
    if not isinstance(prompts, (list, tuple)):
        raise InvalidInputError(
            f"invalid argument `prompts`: got {type(prompts).__name__}; route_batch takes a list "
            "(or tuple) of prompt strings (a generator or a dict is not accepted: pass "
            "list(...) of the texts)"
        )
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise InvalidInputError(
                f"prompt #{i} is a {type(prompt).__name__}, not a string; give the text to route "
                "(decode bytes first)"
            )
        if not prompt.strip():
            raise InvalidInputError(f"prompt #{i} is empty; give the text to route")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidInputError(
                f"prompt #{i} is not valid Unicode text: character {error.start} is a lone "
                "surrogate; decode the text with errors='replace' (or fix its source)"
            ) from None
    return list(prompts)


def _check_tenant(tenant: object) -> str | None:
    if tenant is None:
        return None
    if not isinstance(tenant, str) or not tenant.strip():
        raise InvalidInputError(
            f"invalid argument `tenant`: got {tenant!r}; give a non-empty string, or None for "
            "anonymous requests (which share no cache entries with any named tenant)"
        )
    if any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 for c in tenant):
        raise InvalidInputError(
            f"invalid argument `tenant`: {tenant!r} contains a control character or a lone "
            "surrogate; use printable text"
        )
    return tenant


def _cache_tenant(tenant: str | None) -> str:
    return ANONYMOUS_TENANT if tenant is None else tenant


_DECIDED_BY: dict[tuple[str, int], str] = {
    ("min_quality", 0): "cheapest model with P(success) >= {v:g}",
    ("min_quality", 1): "fallback: no model reaches P(success) {v:g}; highest P(success)",
    ("max_cost", 0): "highest P(success) within {v:g} USD",
    ("max_cost", 1): "fallback: no model within {v:g} USD; cheapest",
    ("cost_weight", 0): "highest P(success) - {v:g} x cost",
    ("relative_quality", 0): "cheapest model within {v:.0%} of the best P(success)",
}


def complexity_tier(p: npt.NDArray[np.float64], cost: npt.NDArray[np.float64]) -> Tier:
    """The "intent triage" view of one prompt, derived from the predictions.

    Candidates are ranked by expected cost and cut into thirds: cheap, mid,
    frontier. The tier is the cheapest third holding a model whose P(success)
    reaches 95% of the best candidate's: ``low`` when a cheap model suffices,
    ``medium`` when a mid-priced one does, ``high`` when only frontier models do.

    >>> complexity_tier(np.array([0.9, 0.8, 0.5]), np.array([10.0, 1.0, 0.1]))
    'high'
    >>> complexity_tier(np.array([0.9, 0.88, 0.5]), np.array([10.0, 1.0, 0.1]))
    'medium'
    """
    order = np.argsort(cost, kind="stable")
    n = len(order)
    bar = TIER_FRACTION * float(p.max())
    thirds = np.array_split(order, 3) if n >= 3 else [order[:1], np.array([], dtype=int), order[1:]]
    for tier, members in zip(("low", "medium", "high"), thirds, strict=True):
        if len(members) and float(p[members].max()) >= bar:
            return tier  # type: ignore[return-value]
    return "high"


class Router:
    """Routes prompts to the cheapest model that clears the bar, in-process.

    Build one with :meth:`load`. ``catalog`` is a live catalog, a catalog, or a
    catalog file to watch (default: the catalog in the bundle). ``policy`` is
    the default when a call names none (e.g. ``{"min_quality": 0.8}``); a saved
    :class:`~learned_router.policy_calibration.Calibration` (``learned-router
    calibrate``) can supply it instead. With a ``cache``
    (:class:`~learned_router.cache.SemanticCache`), a prompt the tenant asked
    before is answered from it (``decision.cached``; the decision costs
    nothing), and :meth:`record_outcome` stores answers whose quality reaches
    ``cache_min_quality``. ``quality_scale`` states P(success) on one of the
    scales the bundle learned (e.g. a judge's win rate; ``bundle.scales``)
    instead of the absolute (correctness) scale. ``corrections``
    (:class:`~learned_router.drift.Corrections`) shifts predicted P(success)
    per model (drift re-scoring) and per tenant (learned from outcomes) at
    decision time, without reloading the bundle.

    Pending decisions (routed, not yet recorded or released) are kept for
    :meth:`record_outcome`, at most ``decision_memory`` of them and
    ``decision_memory_bytes`` of prompt text and the candidates' P(success) before
    corrections (4 bytes each, for ``on_outcome``); the oldest age out. A decision
    that took self-hosted capacity holds it as a *lease*: until
    :meth:`record_outcome`, :meth:`release`, ``lease_timeout_s`` seconds of
    ``clock`` (monotonic) or ageing out, whichever comes first. Anonymous
    requests (``tenant=None``) have their own cache scope, shared with no
    named tenant. ``docs/reliability.md`` lists what every bad input does.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        catalog: LiveCatalog | Catalog | str | os.PathLike[str] | None = None,
        models: Sequence[str] | None = None,
        policy: Mapping[str, float] | None = None,
        calibration: Calibration | str | os.PathLike[str] | None = None,
        capacity: CapacityTracker | bool = True,
        outcome_store: OutcomeStore | str | os.PathLike[str] | None = None,
        fallback_order: Sequence[str] = (),
        on_high_tier: Callable[[str], None] | None = None,
        latency_critical_tenants: Collection[str] = (),
        cache: SemanticCache | None = None,
        cache_min_quality: float = 0.8,
        quality_scale: str | None = None,
        threads: int | None = None,
        decision_memory: int = 100_000,
        corrections: Corrections | None = None,
        decision_memory_bytes: int = 128 * 2**20,
        lease_timeout_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.quality = bundle.quality_model()
        if isinstance(catalog, LiveCatalog):
            self.catalog = catalog
        elif isinstance(catalog, Catalog):
            self.catalog = LiveCatalog(catalog)
        elif catalog is not None:
            self.catalog = LiveCatalog.from_file(catalog)
        else:
            self.catalog = LiveCatalog(bundle.catalog())
        current = self.catalog.current
        if models is None:
            models = [m for m in bundle.models if current.knows(m)]
        # One column per canonical id, even where the bundle has heads under two spellings.
        self.models: tuple[str, ...] = tuple(dict.fromkeys(current.resolve(m) for m in models))
        if not self.models:
            raise InvalidInputError(
                "the router has no models: none of the bundle's models is in the catalog"
            )
        # Heads are keyed by the bundle's model names, which may be aliases of the
        # catalog's canonical ids (a bundle trained before the ids were canonical).
        head: dict[str, str] = {}
        for m in bundle.models:
            if current.knows(m):
                head.setdefault(current.resolve(m), m)
        # A new price table must price every model this router routes to, or
        # it is refused and the table in force stays (LiveCatalog.last_error).
        self.catalog.require(self.models)
        head_names = [head.get(m, m) for m in self.models]
        self.quality.columns(head_names)  # raises for a model without a head
        # The heads route() predicts (column j is self.models[j]): only these, not all
        # of the bundle's (251 in the shipped one; a gateway routes between a few).
        self._head_names = head_names
        self._head_of = dict(zip(self.models, head_names, strict=True))
        self._column_of = {m: j for j, m in enumerate(self.models)}
        if calibration is not None:
            if policy is not None:
                raise InvalidInputError("give policy= or calibration=, not both")
            if not isinstance(calibration, Calibration):
                calibration = Calibration.load(calibration)
        self.policy: Policy = (
            calibration.as_policy()
            if calibration is not None
            else Policy.from_mapping(policy or {"min_quality": 0.8})
        )
        if capacity is True:
            capacity = CapacityTracker.from_catalog(current, self.models)
        self.capacity: CapacityTracker | None = capacity or None
        if isinstance(outcome_store, (str, os.PathLike)):
            outcome_store = OutcomeStore(outcome_store)
        self.outcome_store = outcome_store
        self.fallback_order = tuple(current.resolve(m) for m in fallback_order)
        self.on_high_tier = on_high_tier
        self.on_inputs: Callable[[list[str], npt.NDArray[np.float32]], None] | None = None
        """Called with each routed batch's decision ids and prompt embeddings (set by
        :meth:`learned_router.drift.DriftMonitor.attach` to watch input drift)."""
        self.on_outcome: Callable[[RecordedOutcome], None] | None = None
        """Called with each outcome :meth:`record_outcome` made durable, on the
        recording thread (set by :meth:`learned_router.drift.DriftMonitor.attach`:
        the outcome residual detectors and the tenant's adaptation)."""
        self.latency_critical_tenants = frozenset(latency_critical_tenants)
        self.scorer = bundle.scorer(threads=threads)
        self.encoder = self.scorer.encoder
        self.cache = cache
        self.cache_min_quality = _number("cache_min_quality", cache_min_quality, 0.0, 1.0)
        if quality_scale is not None and quality_scale not in bundle.scales:
            raise InvalidInputError(
                f"unknown quality_scale {quality_scale!r}; the bundle learned {list(bundle.scales)}"
            )
        self.quality_scale = quality_scale
        self.corrections = corrections
        self._static: dict[str, int] = {}
        self._memory: OrderedDict[str, _Memory] = OrderedDict()
        for name, limit in (
            ("decision_memory", decision_memory),
            ("decision_memory_bytes", decision_memory_bytes),
        ):
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise InvalidInputError(
                    f"invalid argument `{name}`: got {limit!r}; give an int >= 1"
                )
        self._memory_size = decision_memory
        self._memory_bytes_limit = decision_memory_bytes
        self._memory_bytes = 0
        self.lease_timeout_s = _number("lease_timeout_s", lease_timeout_s, 0.0, 1e9, open_low=True)
        self._clock = clock
        # Decisions holding self-hosted capacity, oldest first: id -> deadline.
        self._leases: OrderedDict[str, float] = OrderedDict()
        # Who produced each answer the router put in the cache: entry id ->
        # (model, quality). A hit is served only to a request whose candidates
        # include that model and whose quality bar the answer clears.
        self._cache_provenance: OrderedDict[int, tuple[str, float]] = OrderedDict()
        # The decision memory is shared by all threads calling route() and
        # record_outcome(); an OrderedDict is not safe to mutate concurrently.
        self._lock = threading.Lock()
        self._output_tokens = bundle.output_lengths.expected(head_names, [None])[0]
        self._latency_tables: dict[tuple[str, tuple[str, ...]], LatencyTable] = {}

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def load(cls, source: str | os.PathLike[str] | None = None, **options: Any) -> Router:
        """A router from a bundle folder, an MLflow model URI, or the default bundle.

        ``source`` may be a folder, ``models:/NAME@ALIAS`` (or ``models:/NAME/VERSION``,
        resolved through MLflow), or None: ``$LEARNED_ROUTER_BUNDLE``, then
        ``./models/default``, then the ``models/default`` of the checkout the
        package runs from. The bundle is verified (checksums) before use.
        ``options`` go to the constructor.
        """
        return cls(Bundle.load(resolve_bundle(source)), **options)

    # --- prices and static prefixes --------------------------------------------------------

    def register_static_prefix(self, text: str) -> int:
        """Registers a static prompt prefix (system prompt, policy); prompts starting
        with it have those tokens priced at cached-input rates. Returns its tokens."""
        if not isinstance(text, str) or not text:
            raise InvalidInputError(
                f"invalid argument `text`: got {text!r}; a static prefix is a non-empty string"
            )
        check_prompts([text])
        tokens = self.encoder.token_ids_and_counts([text])[1][0]
        with self._lock:
            self._static[text] = tokens
        return tokens

    def _cached_tokens(self, prompt: str) -> int:
        best = 0
        for text, tokens in self._static.items():
            if tokens > best and prompt.startswith(text):
                best = tokens
        return best

    def mark_down(self, model: str) -> None:
        """Excludes ``model`` from decisions until :meth:`mark_up`."""
        self._require_capacity().mark_down(self._index(model))

    def mark_up(self, model: str) -> None:
        self._require_capacity().mark_up(self._index(model))

    def _require_capacity(self) -> CapacityTracker:
        if self.capacity is None:
            self.capacity = CapacityTracker(self.models)
        return self.capacity

    def _resolve(self, model: str) -> str:
        current = self.catalog.current
        return current.resolve(model) if current.knows(model) else model

    def _index(self, model: str) -> int:
        name = self.catalog.current.resolve(model)
        if name not in self._column_of:
            raise InvalidInputError(f"model {model!r} is not one of this router's models")
        return self._column_of[name]

    # --- predictions -----------------------------------------------------------------------

    def predict(
        self, prompts: Sequence[str], *, models: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """``[n, m]`` calibrated P(success) of ``models`` (default: the router's) per prompt."""
        prompts = check_prompts(prompts)
        if models is not None and (
            isinstance(models, str)
            or not isinstance(models, (list, tuple))
            or not all(isinstance(m, str) for m in models)
        ):
            raise InvalidInputError(
                f"invalid argument `models`: got {models!r}; give a list of model names"
            )
        heads = [self._head_of.get(self._resolve(m), m) for m in models or self.models]
        return self.scorer.p_success(prompts, heads, scale=self.quality_scale)

    # --- routing ---------------------------------------------------------------------------

    def route(
        self,
        prompt: str,
        *,
        min_quality: float | None = None,
        max_cost_usd: float | None = None,
        cost_weight: float | None = None,
        quality_fraction: float | None = None,
        max_latency_ms: float | None = None,
        priority: Priority = "interactive",
        tenant: str | None = None,
        candidates: Sequence[str] | None = None,
    ) -> RouteDecision:
        """Chooses the model for one prompt.

        Policies (at most one; the router's default otherwise):
        ``min_quality`` (cheapest model with P(success) >= bar, else the most
        likely to succeed), ``cost_weight`` (maximise P - weight x USD),
        ``quality_fraction`` (cheapest within that share of the best P).
        ``max_cost_usd`` alone picks the most likely model within budget; with a
        policy it is a hard cap. Budget, ``max_latency_ms`` (excludes models
        whose expected latency misses it) and the models' context windows
        (the whole prompt is counted) are hard limits: if they exclude every
        candidate, :class:`NoModelAvailableError` says which did, and
        ``fallback_order`` does not override them (it replaces saturated
        models only).

        Example (needs a trained bundle, e.g. ``models/default``)::

            router = Router.load()
            decision = router.route("Convert 3 March 2024 to ISO 8601", min_quality=0.8)
            decision.model, decision.expected_cost_usd, decision.tier
        """
        if not isinstance(prompt, str):
            raise InvalidInputError(
                f"invalid argument `prompt`: got {type(prompt).__name__}; give the text to route "
                "as a str (decode bytes first)"
            )
        return self.route_batch(
            [prompt],
            min_quality=min_quality,
            max_cost_usd=max_cost_usd,
            cost_weight=cost_weight,
            quality_fraction=quality_fraction,
            max_latency_ms=max_latency_ms,
            priority=priority,
            tenant=tenant,
            candidates=candidates,
        )[0]

    def route_batch(
        self,
        prompts: Sequence[str],
        *,
        min_quality: float | None = None,
        max_cost_usd: float | None = None,
        cost_weight: float | None = None,
        quality_fraction: float | None = None,
        max_latency_ms: float | None = None,
        priority: Priority = "interactive",
        tenant: str | None = None,
        candidates: Sequence[str] | None = None,
    ) -> list[RouteDecision]:
        """:meth:`route` for many prompts: one encoder call, one kernel call.

        ``prompts`` is a list or tuple of strings; a bad item raises
        :class:`InvalidInputError` naming its index, before anything is routed.
        """
        prompts = check_prompts(prompts)
        tenant = _check_tenant(tenant)
        if priority not in ("interactive", "batch"):
            raise InvalidInputError(
                f"invalid argument `priority`: {priority!r}; use 'interactive' or 'batch'"
            )
        if max_latency_ms is not None:
            max_latency_ms = _number(
                "max_latency_ms", max_latency_ms, 0.0, sys.float_info.max, open_low=True
            )
        keywords = _policy_keywords(
            min_quality=min_quality,
            max_cost_usd=max_cost_usd,
            cost_weight=cost_weight,
            quality_fraction=quality_fraction,
        )
        policy = Policy.from_keywords(
            min_quality=keywords["min_quality"],
            max_cost_usd=keywords["max_cost_usd"],
            cost_weight=keywords["cost_weight"],
            quality_fraction=keywords["quality_fraction"],
            default=self.policy,
        )
        # A budget the call gives is a hard cap under every policy: masked,
        # never exceeded (alone, it is also the max_cost policy's value).
        budget = policy.max_cost_usd
        if budget is None and max_cost_usd is not None:
            budget = policy.value
        columns = self._candidate_columns(candidates)
        if not prompts:
            return []
        hits: dict[int, CacheHit] = {}
        if self.cache is not None:
            for i, prompt in enumerate(prompts):
                hit = self.cache.lookup(prompt, tenant=_cache_tenant(tenant))
                if hit is not None and self._hit_serves(hit, columns, policy):
                    hits[i] = hit
        # Route only the prompts the cache did not answer, keep the order.
        misses = [prompt for i, prompt in enumerate(prompts) if i not in hits]
        routed = iter(
            self._route_uncached(
                misses, policy, budget, max_latency_ms, priority, tenant, candidates
            )
            if misses
            else []
        )
        return [
            self._cached_decision(hits[i], prompt, tenant, priority) if i in hits else next(routed)
            for i, prompt in enumerate(prompts)
        ]

    def _hit_serves(self, hit: CacheHit, columns: npt.NDArray[np.intp], policy: Policy) -> bool:
        """Whether a cached answer satisfies this request: the model that produced it
        is among the request's candidates, and its recorded quality clears the
        request's bar (``min_quality`` when given, else ``cache_min_quality``).
        An answer the router did not store (no provenance) is served only to a
        request that names no candidates and no quality bar above ``cache_min_quality``."""
        bar = policy.value if policy.name == "min_quality" else self.cache_min_quality
        with self._lock:
            provenance = self._cache_provenance.get(hit.entry_id)
        all_models = len(columns) == len(self.models)
        if provenance is None:
            return all_models and bar <= self.cache_min_quality
        model, quality = provenance
        column = self._column_of.get(model)
        return column is not None and column in set(columns.tolist()) and quality >= bar

    def _route_uncached(
        self,
        prompts: Sequence[str],
        policy: Policy,
        budget: float | None,
        max_latency_ms: float | None,
        priority: Priority,
        tenant: str | None,
        candidates: Sequence[str] | None,
    ) -> list[RouteDecision]:
        """Decisions for validated prompts the cache did not answer."""
        self._expire_leases()
        columns = self._candidate_columns(candidates)
        models = [self.models[j] for j in columns]
        n, m = len(prompts), len(columns)

        ids, input_tokens = self.encoder.token_ids_and_counts(list(prompts))
        embeddings = self.encoder.embed_ids(ids)
        # Predicted for this request's candidates only: a quality model with joint
        # trust compares the models asked for in one call with each other.
        prediction = self.quality.predict(
            embeddings, models=[self._head_names[j] for j in columns], scale=self.quality_scale
        )
        p = p_before = prediction.p_success
        support = prediction.support
        # Expected answer lengths: predicted per prompt where the quality model
        # does it, else the bundle's per-model table.
        if prediction.output_tokens is not None:
            output_tokens = np.asarray(prediction.output_tokens, dtype=np.float64)
        else:
            output_tokens = np.broadcast_to(self._output_tokens[columns], (n, m))
        if self.corrections is not None:
            # The learning loop's one hook: drift re-scoring and per-tenant adaptation.
            p = self.corrections.apply(
                p, models, tenant=tenant, embeddings=embeddings, support=support
            )

        priced = self.catalog.priced(models)
        cached = [
            min(self._cached_tokens(prompt), tokens)
            for prompt, tokens in zip(prompts, input_tokens, strict=True)
        ]
        cost = expected_cost_usd(
            input_tokens,
            output_tokens,
            priced.prices(),
            priority=priority,
            cached_input_tokens=cached,
        )
        latency = self._latency_table(priced.catalog, models)
        latency_ms = latency.expected_ms(output_tokens)

        excluded = np.full((n, m), None, dtype=object)
        available = np.ones((n, m), dtype=bool)
        # Hard limits (down, context, latency, budget): never overridden, not
        # even by the fallback order (which replaces saturated models only).
        hard = np.zeros((n, m), dtype=bool)
        demand = np.zeros((n, len(self.models)))
        if self.capacity is not None:
            # Self-hosted capacity is charged in decode-equivalent tokens; the
            # non-candidates' demand (never claimed) from the bundle's table.
            all_output_tokens = np.broadcast_to(self._output_tokens, (n, len(self.models))).copy()
            all_output_tokens[:, columns] = output_tokens
            demand = self.capacity.request_tokens(
                np.asarray(input_tokens, dtype=np.float64),
                all_output_tokens,
            )
            up = self.capacity.available(tokens=demand)[:, columns]
            down = self.capacity.snapshot().down[columns]
            excluded[~up] = "capacity"
            excluded[:, down] = "down"
            available &= up
            hard[:, down] = True
        windows = priced.context_window_tokens
        too_long = np.asarray(input_tokens, dtype=np.float64)[:, None] > windows[None, :]
        excluded[too_long & available] = "context"
        available &= ~too_long
        hard |= too_long
        if max_latency_ms is not None:
            slow = ~latency.meets(output_tokens, max_latency_ms=max_latency_ms)
            excluded[slow & available] = "latency"
            available &= ~slow
            hard |= slow
        if budget is not None:
            over = cost > budget
            excluded[over & available] = "budget"
            available &= ~over
            hard |= over

        batch = _Batch(
            prompts=prompts,
            policy=policy,
            priority=priority,
            tenant=tenant,
            models=models,
            columns=columns,
            input_tokens=input_tokens,
            p=p,
            p_before=p_before,
            support=support,
            cost=cost,
            latency_ms=latency_ms,
            output_tokens=output_tokens,
            available=available,
            excluded=excluded,
            hard=hard,
            budget=budget,
            demand=demand,
            price_version=priced.version,
        )
        sel = select_models(p, cost, available=available, policy=policy)
        decisions = [
            self._decide(batch, i, int(sel.index[i]), int(sel.outcome[i]))
            for i in range(len(prompts))
        ]
        if self.on_inputs is not None:
            # The learning loop's input-drift watch (DriftMonitor.attach): cheap, no I/O.
            self.on_inputs([d.decision_id for d in decisions], embeddings)
        return decisions

    def _latency_table(self, catalog: Catalog, models: list[str]) -> LatencyTable:
        """The latency profiles of ``models`` under ``catalog``, built once per price
        table (0.3 ms a decision for 147 models otherwise)."""
        key = (catalog.version, tuple(models))
        table = self._latency_tables.get(key)
        if table is None:
            table = LatencyTable.from_catalog(catalog, models)
            with self._lock:
                if len(self._latency_tables) > 64:
                    self._latency_tables.clear()
                self._latency_tables[key] = table
        return table

    def _candidate_columns(self, candidates: Sequence[str] | None) -> npt.NDArray[np.intp]:
        if candidates is None:
            return np.arange(len(self.models))
        if not isinstance(candidates, (list, tuple)) or not candidates:
            raise InvalidInputError(
                f"invalid argument `candidates`: got {candidates!r}; give a non-empty list "
                "of model names"
            )
        current = self.catalog.current
        columns = []
        for k, name in enumerate(candidates):
            if not isinstance(name, str):
                raise InvalidInputError(
                    f"invalid argument `candidates`: item #{k} is {name!r}, not a model name"
                )
            try:
                resolved = current.resolve(name)
            except CatalogError as error:
                raise InvalidInputError(f"unknown model {name!r} in candidates: {error}") from None
            if resolved not in self._column_of:
                routable = [d for d in current.deployments_of(resolved) if d in self._column_of]
                hint = (
                    f"; its deployments with a head: {', '.join(map(repr, routable))}"
                    if routable
                    else "; teach it from labelled outcomes with `learned-router add-model`"
                )
                raise InvalidInputError(
                    f"model {name!r} ({resolved!r}) in candidates has no quality head in this "
                    f"router's bundle{hint}"
                )
            columns.append(self._column_of[resolved])
        return np.array(sorted(set(columns)), dtype=np.intp)

    def _decide(self, batch: _Batch, i: int, index: int, outcome: int) -> RouteDecision:
        """The decision for prompt ``i`` of ``batch``, whose kernel choice was ``index``."""
        policy, models, columns = batch.policy, batch.models, batch.columns
        p, cost, excluded = batch.p, batch.cost, batch.excluded
        budget, demand, tenant = batch.budget, batch.demand[i], batch.tenant
        row_available = batch.available[i].copy()
        decided_by = _DECIDED_BY.get((policy.name, outcome), "").format(v=policy.value)
        if budget is not None and outcome == Outcome.MET and policy.name != "max_cost":
            decided_by += f", within {budget:g} USD"
        claimed, claimed_tokens = False, 0.0
        # Claim self-hosted capacity; if another thread took the last of it,
        # exclude that model and choose again (spill to the next best).
        while index >= 0 and self.capacity is not None:
            column = int(columns[index])
            if self.capacity.try_acquire(column, float(demand[column])):
                claimed, claimed_tokens = True, float(demand[column])
                break
            row_available[index] = False
            excluded[i, index] = "capacity"
            again = select_models(p[i], cost[i], available=row_available, policy=policy)
            index, outcome = int(again.index[0]), int(again.outcome[0])
            decided_by = (
                _DECIDED_BY.get((policy.name, outcome), "").format(v=policy.value)
                + " (capacity spill-over)"
            )
        if index < 0:
            index, decided_by = self._fallback(
                models, excluded[i], batch.hard[i], budget, int(batch.input_tokens[i])
            )
            outcome = Outcome.NONE_AVAILABLE
        model = models[index]
        tier = complexity_tier(p[i], cost[i])
        if (
            tier == "high"
            and self.on_high_tier is not None
            and tenant in self.latency_critical_tenants
        ):
            self.on_high_tier(_frontier(models, p[i], cost[i]))
        # Rows as Python floats in one call each (per-element float() costs ~1 ms for
        # 251 candidates).
        support_row = [None] * len(models) if batch.support is None else batch.support[i].tolist()
        estimates = tuple(
            map(
                CandidateEstimate,
                models,
                p[i].tolist(),
                cost[i].tolist(),
                batch.latency_ms[i].tolist(),
                batch.output_tokens[i].tolist(),
                excluded[i].tolist(),
                support_row,
            )
        )
        decision = RouteDecision(
            decision_id=uuid.uuid4().hex,
            timestamp=datetime.now(timezone.utc),
            model=model,
            p_success=float(p[i, index]),
            expected_cost_usd=float(cost[i, index]),
            expected_latency_ms=float(batch.latency_ms[i, index]),
            policy=policy.name,
            policy_value=policy.value,
            outcome=Outcome(outcome),
            decided_by=decided_by,
            tier=tier,
            candidates=estimates,
            price_version=batch.price_version,
            router_version=self.version,
            input_tokens=int(batch.input_tokens[i]),
            priority=batch.priority,
            tenant=tenant,
            support=None if batch.support is None else float(batch.support[i, index]),
        )
        memory = _Memory(
            batch.prompts[i],
            model,
            int(columns[index]),
            tenant,
            int(batch.input_tokens[i]),
            claimed_tokens,
            claimed,
            float(cost[i, index]),
            sys.getsizeof(batch.prompts[i]) + 4 * len(models),
            models,
            np.asarray(batch.p_before[i], dtype=np.float32),
            tier,
        )
        evicted = []
        with self._lock:
            self._memory[decision.decision_id] = memory
            self._memory_bytes += memory.prompt_bytes
            if claimed:
                self._leases[decision.decision_id] = self._clock() + self.lease_timeout_s
            # Bounded by count and by the bytes of the prompts kept; a decision
            # that ages out gives back the capacity it still holds.
            while len(self._memory) > 1 and (
                len(self._memory) > self._memory_size
                or self._memory_bytes > self._memory_bytes_limit
            ):
                old_id, old = self._memory.popitem(last=False)
                self._memory_bytes -= old.prompt_bytes
                if self._leases.pop(old_id, None) is not None:
                    evicted.append(old)
        for old in evicted:
            self._release_capacity(old, unused_tokens=0.0)
        return decision

    def _release_capacity(self, memory: _Memory, *, unused_tokens: float) -> None:
        if self.capacity is not None and memory.claimed:
            self.capacity.release(memory.model_index, unused_tokens=unused_tokens)

    def _expire_leases(self) -> None:
        """Frees the capacity of decisions whose lease ran out (no outcome, no
        :meth:`release` within ``lease_timeout_s``); they can still be recorded."""
        now = self._clock()
        expired = []
        with self._lock:
            while self._leases:
                decision_id, deadline = next(iter(self._leases.items()))
                if deadline > now:
                    break
                del self._leases[decision_id]
                memory = self._memory.get(decision_id)
                if memory is not None:
                    expired.append(memory)
                    memory.claimed = False
        for memory in expired:
            if self.capacity is not None:
                self.capacity.release(memory.model_index, unused_tokens=0.0)

    def release(self, decision_id: str) -> None:
        """Gives up a decision without an outcome (the model call failed or was
        not made): frees its self-hosted capacity and forgets it.

        A decision that holds capacity and gets neither :meth:`record_outcome`
        nor :meth:`release` frees it anyway after ``lease_timeout_s`` seconds
        (or when it ages out of the decision memory).
        """
        if not isinstance(decision_id, str):
            raise InvalidInputError(
                f"invalid argument `decision_id`: got {type(decision_id).__name__}; give the "
                "decision_id string of a RouteDecision"
            )
        with self._lock:
            memory = self._memory.pop(decision_id, None)
            owned = self._leases.pop(decision_id, None) is not None
            if memory is not None:
                self._memory_bytes -= memory.prompt_bytes
        if memory is None:
            raise InvalidInputError(self._unknown_decision(decision_id))
        if owned:
            self._release_capacity(memory, unused_tokens=0.0)

    def _unknown_decision(self, decision_id: str) -> str:
        return (
            f"unknown decision id {decision_id!r}: it was never made by this router, was "
            "already recorded or released, or aged out of its decision memory (the last "
            f"{self._memory_size} decisions, {self._memory_bytes_limit} bytes of prompts)"
        )

    def _cached_decision(
        self, hit: CacheHit, prompt: str, tenant: str | None, priority: Priority
    ) -> RouteDecision:
        return RouteDecision(
            decision_id=uuid.uuid4().hex,
            timestamp=datetime.now(timezone.utc),
            model="cache",
            p_success=1.0,
            expected_cost_usd=0.0,
            expected_latency_ms=0.0,
            policy="min_quality",
            policy_value=self.cache_min_quality,
            outcome=Outcome.MET,
            decided_by=f"cache hit ({hit.tier}, similarity {hit.similarity:.3f}); "
            f"{hit.cost_avoided_usd:.6f} USD avoided",
            tier="low",
            candidates=(),
            price_version=self.catalog.version,
            router_version=self.version,
            input_tokens=0,
            priority=priority,
            tenant=tenant,
            cached=hit,
        )

    def _fallback(
        self,
        models: list[str],
        excluded: npt.NDArray[Any],
        hard: npt.NDArray[np.bool_],
        budget: float | None,
        input_tokens: int,
    ) -> tuple[int, str]:
        """A model of ``fallback_order`` when every candidate was excluded.

        The fallback order replaces models that are saturated (capacity) only:
        a model that is down, too small for the prompt (context), over the
        latency SLO or over the budget is never chosen; those are hard limits.
        """
        for name in self.fallback_order:
            if name in models and not hard[models.index(name)]:
                return models.index(
                    name
                ), f"fallback order: every candidate was excluded; {name} is up"
        reasons = Counter(str(reason) for reason in excluded)
        described = {
            "down": "down",
            "capacity": "saturated (self-hosted capacity)",
            "context": f"too small a context window for its {input_tokens} input tokens",
            "latency": "over the latency SLO (max_latency_ms)",
            "budget": f"over the budget (max_cost_usd={budget:g})" if budget is not None else "",
        }
        emptied = "; ".join(f"{count} {described[reason]}" for reason, count in reasons.items())
        raise NoModelAvailableError(
            f"no model can take this prompt: of {len(models)} candidate(s), {emptied}; and no "
            "model of the fallback order is merely saturated (the fallback order never "
            "overrides the hard limits down, context, latency and budget). Relax the "
            "constraints, mark a model up, or set Router(fallback_order=[...])."
        )

    # --- feedback --------------------------------------------------------------------------

    def record_outcome(
        self,
        decision_id: str,
        *,
        quality: float,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        response: str | None = None,
        output_tokens: int | None = None,
        quality_scale: str | None = None,
        model: str | None = None,
    ) -> int:
        """Records how the chosen model did; durable when it returns.

        ``model``: the model that answered when it was not the decision's (an
        :class:`~learned_router.drift.Explorer` alternative, a caller's fallback);
        the outcome, and a cached answer's provenance, are then that model's.

        Frees the decision's self-hosted capacity (returning the tokens it did
        not use) and appends an outcome in the canonical schema to the outcome
        store, the next training set. Returns the record's id in the store.

        Every argument is checked first: on an invalid value (or a store that
        cannot append) nothing changes -- the decision is still pending, its
        capacity still held, nothing cached -- so the call can be retried.
        """
        if not isinstance(decision_id, str):
            raise InvalidInputError(
                f"invalid argument `decision_id`: got {type(decision_id).__name__}; give the "
                "decision_id string of a RouteDecision"
            )
        with self._lock:
            memory = self._memory.get(decision_id)
        if memory is None:
            raise InvalidInputError(self._unknown_decision(decision_id))
        if quality_scale is not None and (
            not isinstance(quality_scale, str) or quality_scale not in self.bundle.scales
        ):
            raise InvalidInputError(
                f"invalid argument `quality_scale`: got {quality_scale!r}; use one of "
                f"{list(self.bundle.scales)} or None"
            )
        answered = memory.model
        if model is not None:
            try:
                known = self.catalog.current.resolve(model) if isinstance(model, str) else None
            except CatalogError:
                known = None
            if known not in self._column_of:
                raise InvalidInputError(
                    f"invalid argument `model`: {model!r} is not a model this router routes "
                    "to; give the model that answered (e.g. the Explorer's choice) or None"
                )
            answered = known
        # Builds (and so validates) the record before anything changes.
        record = OutcomeRecord(
            prompt_id=decision_id,
            prompt=memory.prompt,
            model=answered,
            quality=quality,
            cost_usd=cost_usd,
            input_tokens=memory.input_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
            timestamp=datetime.now(timezone.utc),
            tenant=memory.tenant,
            dataset="production",
            quality_scale=quality_scale,
            response=response,
            decision_id=decision_id,
        )
        if response is not None:
            try:
                response.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInputError(
                    "invalid argument `response`: it holds a lone surrogate, which is not "
                    "valid Unicode text; decode the answer with errors='replace'"
                ) from None
        with self._lock:
            if self._memory.pop(decision_id, None) is None:  # recorded by another thread
                raise InvalidInputError(self._unknown_decision(decision_id))
            self._memory_bytes -= memory.prompt_bytes
            lease = self._leases.pop(decision_id, None)
        try:
            record_id = -1 if self.outcome_store is None else self.outcome_store.append(record)
        except BaseException:
            # Not recorded: the decision stays pending (and keeps its lease).
            with self._lock:
                self._memory[decision_id] = memory
                self._memory_bytes += memory.prompt_bytes
                if lease is not None:
                    self._leases[decision_id] = lease
            raise
        if lease is not None:
            unused = 0.0
            if output_tokens is not None:
                outputs = np.zeros((1, len(self.models)))
                outputs[0, memory.model_index] = float(output_tokens)
                used = self._require_capacity().request_tokens(
                    [float(memory.input_tokens)], outputs
                )
                unused = memory.claimed_tokens - float(used[0, memory.model_index])
            self._release_capacity(memory, unused_tokens=unused)
        self._notify_outcome(decision_id, memory, answered, quality, quality_scale)
        if self.cache is not None and response is not None and quality >= self.cache_min_quality:
            # Only answers known to be good are served again, and only to
            # requests whose candidates and bar they satisfy (_hit_serves).
            try:
                entry_id = self.cache.store(
                    memory.prompt,
                    response,
                    tenant=_cache_tenant(memory.tenant),
                    cost_usd=cost_usd if cost_usd is not None else memory.cost_usd,
                )
            except LearnedRouterError as error:
                # The outcome is recorded (durable); caching is best effort.
                logger.warning("decision %s: answer not cached: %s", decision_id, error)
                return record_id
            with self._lock:
                self._cache_provenance[entry_id] = (answered, float(quality))
                self._cache_provenance.move_to_end(entry_id)
                while len(self._cache_provenance) > max(self._memory_size, 1024):
                    self._cache_provenance.popitem(last=False)
        return record_id

    def _notify_outcome(
        self,
        decision_id: str,
        memory: _Memory,
        model: str,
        quality: float,
        quality_scale: str | None,
    ) -> None:
        """Hands a durable outcome to ``on_outcome``. Skipped where the prediction it
        would be compared with is not known: the answering model was not among the
        decision's candidates, or the quality was graded on another scale than the
        router predicts on. The outcome is stored either way; a failing hook is logged."""
        hook = self.on_outcome
        if hook is None or model not in memory.candidates:
            return
        if quality_scale is not None and quality_scale != self.quality_scale:
            return
        predicted = float(memory.p_before[memory.candidates.index(model)])
        event = RecordedOutcome(
            decision_id=decision_id,
            model=model,
            quality=float(quality),
            predicted=min(1.0, max(0.0, predicted)),
            tenant=memory.tenant,
            tier=memory.tier,
        )
        try:
            hook(event)
        except Exception:  # the outcome is durable: a retry would find no decision
            logger.exception("decision %s: on_outcome failed; the outcome is stored", decision_id)


def _frontier(models: list[str], p: npt.NDArray[np.float64], cost: npt.NDArray[np.float64]) -> str:
    """The model to warm up: the most likely to succeed among the priciest third."""
    order = np.argsort(cost, kind="stable")
    top = order[len(order) - max(1, len(order) // 3) :]
    return models[int(top[np.argmax(p[top])])]


def resolve_bundle(source: str | os.PathLike[str] | None) -> Path:
    """The bundle folder for ``Router.load``'s ``source`` (see there)."""
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise BundleError(
            f"Router.load: got {type(source).__name__} {source!r}; give a bundle folder, a "
            "models:/NAME@ALIAS URI, or None for the default bundle"
        )
    if source is not None and str(source).startswith("models:/"):
        from learned_router.registry import download_bundle

        return download_bundle(str(source))
    if source is not None:
        return Path(source)
    candidates = []
    if os.environ.get("LEARNED_ROUTER_BUNDLE"):
        candidates.append(Path(os.environ["LEARNED_ROUTER_BUNDLE"]))
    candidates += [DEFAULT_BUNDLE, Path(__file__).resolve().parents[2] / DEFAULT_BUNDLE]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BundleError(
        "no bundle given and no default found (looked in $LEARNED_ROUTER_BUNDLE, "
        f"./{DEFAULT_BUNDLE}, and the checkout's {DEFAULT_BUNDLE}). Pass Router.load(PATH) or "
        "Router.load('models:/learned-router@champion'); the wheel does not carry model weights."
    )
