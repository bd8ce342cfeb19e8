"""The drift monitor: shadow checks and recorded outcomes in, alerts and re-scoring out.

Per model it keeps two error streams, each watched by a calibrated
Page-Hinkley detector (:mod:`learned_router.drift.detectors`):

- ``shadow_agreement``: ``1 - agreement`` of the routed model's answer with
  the golden model's, on the sampled share of traffic;
- ``outcome_residual``: ``predicted - observed`` quality, on the outcomes
  callers record.

Each model's streams also run per complexity tier (``low`` / ``medium`` /
``high``, :attr:`RouteDecision.tier`) when callers pass the tier: a provider
change that only hurts hard prompts shows there first. Tier streams split the
model's false-alarm target between them (Bonferroni over the three tiers) and
alarm only once they have ``min_instances`` samples (where traffic allows).
Their alerts carry ``tier``; re-scoring stays per model (the corrections hold
one shift per model), so a tier alert is a warning and a retraining trigger.

With an :class:`~learned_router.drift.inputs.InputDriftWatch` (``inputs=``,
fed by :meth:`DriftMonitor.attach` from every routed batch), it also watches
input drift: the share of prompts far from every training prompt, against the
bundle's reference.

When the golden model itself drifts (found through recorded outcomes: a
model is never shadowed against itself), agreement with it falls for every
model it is compared with; shadow alarms raised while a golden model's drift
stands, or while its recorded outcomes already show a significant rise of its
residuals that its own detector has not yet alarmed on, are marked
``reference_suspect`` and do not re-score.

On an alarm it estimates the change point (the split of the stream since the
last alarm that maximises the CUSUM of deviations from its mean), measures
the change with a 95% interval, sends an :class:`~learned_router.drift.alerts.DriftAlert`
to every sink, and (``rescore=True``) shifts the model's P(success) in the
shared :class:`~learned_router.drift.corrections.Corrections` by the change,
so the router's next decisions move traffic away from it.

A re-scored model is not written off for good: a provider fixes what broke.
While a model's drift shift stands, :meth:`DriftMonitor.should_probe` picks a
small share of requests (``probe_rate``, default 0.5%, deterministic per request
id) on which to also try it. The probes' samples (shadow checks or recorded
outcomes with that request id and model) feed a *recovery* detector only: the
same calibrated Page-Hinkley test on the quality instead of the error, its
baseline the alarming stream's samples after the change point plus the first
probes (the drifted level; see ``_watch_recovery`` for why and its bias). Probes
do not feed the drift streams: the model's routed traffic is the prompts the
router picked it for, the probes an unselected mix on which it does worse, so
they would read as a further drop (measured: a second, spurious re-score on
RouterBench when they did). On its alarm the
shift is raised by the measured improvement (never above 0: a recovery gives
back at most what drift took; a rest within the improvement's own 95% margin
is given back too), an alert with ``recovery`` set and a positive
magnitude goes to every sink, and traffic returns in the next decisions.
Probes neither feed the model's drift streams nor teach tenant corrections.

Shadow comparisons run off the request path, on one background thread
(:meth:`DriftMonitor.submit_shadow` returns at once); :meth:`flush` waits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from learned_router.drift.alerts import AlertSink, DriftAlert, log_sink
from learned_router.drift.corrections import Corrections
from learned_router.drift.detectors import DetectorSettings, ErrorStreamDetector, split_over
from learned_router.drift.inputs import InputDriftWatch
from learned_router.drift.sampling import ShadowSampler, _unit, keyed_pick
from learned_router.drift.signals import AgreementPolicy, Embedder, Judge, agreement
from learned_router.errors import InvalidInputError
from learned_router.outcomes import OutcomeRecord, OutcomeStore

if TYPE_CHECKING:
    from learned_router.router import RecordedOutcome, RouteDecision, Router

SIGNALS = ("shadow_agreement", "outcome_residual")
TIERS = ("low", "medium", "high")
EVIDENCE_IDS = 50
SLIP_Z = 3.5
"""A golden model's outcome residuals risen by this many standard errors since their
most likely change point make its agreement alarms suspect (see ``_golden_slipping``).
``python -m benchmarks.slip_threshold``: a steady stream trips it 1.5-2.7% of the time
(100-1,500 samples); a 20-point drop 100 outcomes in, 55%; a 40-point drop, > 97%."""
SLIP_MIN_SAMPLES = 20
RECENT_EMBEDDINGS = 20_000
"""Decisions whose prompt embedding ``attach`` keeps for outcomes recorded later
(30 MB at 384 dimensions); an outcome older than that teaches only the global term."""
PROBE_RATE = 0.005
"""Default share of requests on which a re-scored model is tried again
(:meth:`DriftMonitor.should_probe`). Measured on RouterBench replays (docs/drift.md,
"Recovery"): a 40-point drop fixed 30,000 requests after it was found 26,000-34,000
requests (about 130-170 probes) after the fix."""
PROBES_KEPT = 100_000
"""Probe request ids the monitor remembers (to tell a probe's samples from others)."""
STREAM_WINDOW = 20_000
"""Samples a stream keeps (between 1x and 2x this) for measuring an alarm: a service
that runs for months without an alarm must not grow its monitor without bound."""


@dataclass
class _Stream:
    detector: ErrorStreamDetector
    errors: list[float] = field(default_factory=list)
    """The latest samples since the (re)start, at most ``2 * STREAM_WINDOW``: what an
    alarm's change point and magnitude are measured on (the detector is O(1))."""
    ids: list[str] = field(default_factory=list)
    since_restart: int = 0
    total: int = 0
    alarms: int = 0
    feeding: bool = False
    """True while a restart feeds the fresh detector the samples after the change point,
    outside the monitor's lock; samples that arrive meanwhile wait in ``backlog``."""
    backlog: list[float] = field(default_factory=list)
    seeded: int = 0
    """A recovery stream's first samples that are not probes (the drifted level it was
    seeded with); the rest are probes."""

    def add(self, error: float, request_id: str) -> None:
        self.errors.append(error)
        self.ids.append(request_id)
        self.since_restart += 1
        if len(self.errors) > 2 * STREAM_WINDOW:  # amortised O(1), bounded memory
            dropped = len(self.errors) - STREAM_WINDOW
            del self.errors[:-STREAM_WINDOW]
            del self.ids[:-STREAM_WINDOW]
            self.seeded = max(0, self.seeded - dropped)


def change_point(errors: Sequence[float] | npt.NDArray[np.float64]) -> int:
    """Index where the stream's mean most plausibly changed (CUSUM argmax), in [1, n-1].

    >>> change_point([0, 0, 0, 0, 1, 1, 1])
    4
    """
    x = np.asarray(errors, dtype=np.float64)
    n = len(x)
    if n < 2:
        return max(0, n - 1)
    cusum = np.cumsum(x - x.mean())[:-1]
    k = np.arange(1, n)
    # Standardised by the split's size, so early or late splits are not favoured.
    score = np.abs(cusum) / np.sqrt(k * (n - k) / n)
    return int(np.argmax(score)) + 1


class DriftMonitor:
    """Watches every model for quality drift; see the module docstring.

    ``shadow_horizon`` / ``outcome_horizon``: samples one stream is expected to
    see between restarts (the span its false-alarm target covers).

    >>> m = DriftMonitor(sinks=[], settings=DetectorSettings(simulations=200, min_instances=20))
    >>> alarms = [m.observe_agreement(f"r{i}", "m", 1.0 if i < 200 else 0.0) for i in range(300)]
    >>> next(i for i, a in enumerate(alarms) if a is not None) < 230
    True
    """

    def __init__(
        self,
        *,
        sampler: ShadowSampler | None = None,
        corrections: Corrections | None = None,
        settings: DetectorSettings = DetectorSettings(),  # noqa: B008 (frozen)
        shadow_horizon: int = 1_000,
        outcome_horizon: int = 100_000,
        sinks: Sequence[AlertSink] = (log_sink,),
        agreement_policy: AgreementPolicy = AgreementPolicy(),  # noqa: B008 (frozen)
        embed: Embedder | None = None,
        judge: Judge | None = None,
        rescore: bool = True,
        adapt: bool = False,
        shadow_store: OutcomeStore | None = None,
        inputs: InputDriftWatch | None = None,
        probe_rate: float = PROBE_RATE,
    ) -> None:
        if not 0.0 <= probe_rate <= 1.0:
            raise InvalidInputError(f"probe_rate must be in [0, 1], got {probe_rate}")
        self.probe_rate = float(probe_rate)
        self.sampler = sampler
        self.corrections = corrections if corrections is not None else Corrections()
        self.settings = settings
        self.horizons = {"shadow_agreement": shadow_horizon, "outcome_residual": outcome_horizon}
        self.sinks = list(sinks)
        self.agreement_policy = agreement_policy
        self.embed = embed
        self.judge = judge
        self.rescore = rescore
        self.adapt = adapt
        self.shadow_store = shadow_store
        """Where shadow labels go (the routed model's agreement with the golden
        answer, dataset ``shadow``): training data for the next retrain."""
        self.inputs = inputs
        self._tier_settings = split_over(settings, len(TIERS))
        self.alerts: list[DriftAlert] = []
        # Streams are updated from the background shadow thread and from the
        # threads recording outcomes: one lock.
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str, str], _Stream] = {}  # (model, signal, tier or "")
        # (model, signal) -> the recovery stream of a re-scored model: its errors, a
        # detector fed the quality (``_recovery_value``), started at the re-score.
        self._recovery: dict[tuple[str, str], _Stream] = {}
        # Request id -> the model should_probe named for it (the latest PROBES_KEPT).
        self._probes: OrderedDict[str, str] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[DriftAlert | None]] = []
        # Decisions seen per model (should_shadow counts them): the warm-up's share.
        self._routed: Counter[str] = Counter()
        self._routed_total = 0
        # Decision id -> prompt embedding of the latest decisions (attach, with adapt
        # and a per-prompt term): what observe_outcome learns the local term from.
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    # --- shadow checks ----------------------------------------------------------------------

    def should_shadow(
        self, decision: RouteDecision, *, task: str | None = None, request_id: str | None = None
    ) -> str | None:
        """The golden model to also ask for ``decision``, or None (not sampled, over budget,
        or the routed model is the golden one). Sampling is keyed by ``request_id``
        (default: the decision id), so a retried request makes the same choice."""
        if self.sampler is None:
            return None
        if decision.model == "cache":
            return None
        golden = self.sampler.golden_for(task)
        with self._lock:  # one lock round per decision: count it, read the warm-up state
            self._routed[decision.model] += 1
            self._routed_total += 1
            warmup = self._warming_up(decision.model)
        if decision.model == golden:
            return None
        try:
            cost = decision.candidate(golden).expected_cost_usd
        except KeyError:
            cost = 0.0
        chosen = self.sampler.choose(
            request_id or decision.decision_id,
            expected_cost_usd=cost,
            tenant=decision.tenant,
            task=task,
            warmup=warmup,
        )
        return golden if chosen else None

    def _warming_up(self, model: str) -> bool:
        """Whether ``model`` is shadowed at the warm-up rate: its detector has fewer
        than ``warmup_checks`` checks since its (re)start, and it carries at least
        ``warmup_min_share`` of the decisions seen. Called with the lock held."""
        assert self.sampler is not None
        if self._baseline_checks(model) >= self.sampler.warmup_checks:
            return False
        share = self._routed[model] / max(1, self._routed_total)
        return share >= self.sampler.warmup_min_share

    def baseline_checks(self, model: str) -> int:
        """Shadow checks of ``model`` its agreement detector has since its last (re)start:
        what its baseline is estimated from. Below the sampler's ``warmup_checks`` the
        model is shadowed at the warm-up rate. Comparisons still queued on the shadow
        thread are not counted yet (a service may sample a few more than needed)."""
        with self._lock:
            return self._baseline_checks(model)

    def _baseline_checks(self, model: str) -> int:
        stream = self._streams.get((model, "shadow_agreement", ""))
        return 0 if stream is None else stream.since_restart

    def should_probe(self, decision: RouteDecision, *, request_id: str | None = None) -> str | None:
        """A re-scored model to try on this request, or None: on ``probe_rate`` of the
        requests (keyed by ``request_id``, default the decision id), one of the
        decision's available candidates whose drift shift stands, other than the routed
        model (a second keyed draw picks which). Its outcome is how a recovery shows:
        answer the request with it and record the outcome with ``model=`` (as for an
        :class:`~learned_router.drift.Explorer` choice), or call it off the request path
        and compare its answer with the golden model's through :meth:`submit_shadow`
        (not for the golden model itself)."""
        if self.probe_rate <= 0.0 or decision.model == "cache":
            return None
        key = request_id if request_id is not None else decision.decision_id
        if _unit(key, "learned-router-probe") >= self.probe_rate:
            return None
        drifted = sorted(
            c.model
            for c in decision.candidates
            if c.model != decision.model
            and c.excluded_by is None
            and self.corrections.drift_shift(c.model) < 0
        )
        probe = keyed_pick(key, "learned-router-probe", drifted)
        if probe is None:
            return None
        with self._lock:
            self._probes[key] = probe
            while len(self._probes) > PROBES_KEPT:
                self._probes.popitem(last=False)
        return probe

    def _is_probe(self, request_id: str, model: str) -> bool:
        with self._lock:
            return self._probes.get(request_id) == model

    def submit_shadow(
        self,
        request_id: str,
        model: str,
        routed_answer: str,
        golden_answer: str,
        *,
        prompt: str = "",
        at_request: int | None = None,
        tier: str | None = None,
    ) -> Future[DriftAlert | None]:
        """Compares the two answers off the request path; returns at once."""

        def work() -> DriftAlert | None:
            value, _method = agreement(
                routed_answer,
                golden_answer,
                prompt=prompt,
                embed=self.embed,
                judge=self.judge,
                policy=self.agreement_policy,
            )
            if self.shadow_store is not None and prompt:
                self.shadow_store.append(
                    OutcomeRecord(
                        prompt_id=f"shadow-{request_id}",
                        prompt=prompt,
                        model=model,
                        quality=value,
                        timestamp=datetime.now(timezone.utc),
                        dataset="shadow",
                        quality_scale="agreement with golden",
                        response=routed_answer,
                        decision_id=request_id,
                    )
                )
            return self.observe_agreement(
                request_id, model, value, at_request=at_request, tier=tier
            )

        return self._submit(work)

    def _submit(self, work: Callable[[], DriftAlert | None]) -> Future[DriftAlert | None]:
        """Runs ``work`` on the monitor's one worker thread, in submission order."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lr-monitor")
            future = self._executor.submit(work)
            self._pending = [f for f in self._pending if not f.done()] + [future]
        return future

    def flush(self) -> None:
        """Waits until every submitted shadow comparison and outcome was processed."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- signals ----------------------------------------------------------------------------

    def observe_agreement(
        self,
        request_id: str,
        model: str,
        value: float,
        *,
        at_request: int | None = None,
        tier: str | None = None,
    ) -> DriftAlert | None:
        """One shadow check of ``model``: agreement in [0, 1] with the golden answer.
        ``tier``: the decision's complexity tier, to also feed that tier's stream."""
        if not 0.0 <= value <= 1.0:
            raise InvalidInputError(f"agreement for {request_id!r} must be in [0, 1], got {value}")
        return self._observe(
            "shadow_agreement", model, 1.0 - value, request_id, at_request, None, tier
        )

    def observe_outcome(
        self,
        request_id: str,
        model: str,
        *,
        predicted: float,
        observed: float,
        tenant: str | None = None,
        at_request: int | None = None,
        tier: str | None = None,
        embedding: npt.NDArray[np.float32] | None = None,
    ) -> DriftAlert | None:
        """One recorded outcome: ``predicted`` P(success) (before corrections) and the
        ``observed`` quality. Feeds the residual detector (and ``tier``'s) and, with
        ``adapt``, the tenant's corrections (``embedding``, the prompt's, their
        per-prompt term)."""
        self._learn(request_id, model, predicted, observed, tenant, embedding)
        return self._observe(
            "outcome_residual", model, predicted - observed, request_id, at_request, tenant, tier
        )

    def submit_outcome(
        self,
        request_id: str,
        model: str,
        *,
        predicted: float,
        observed: float,
        tenant: str | None = None,
        tier: str | None = None,
    ) -> Future[DriftAlert | None]:
        """:meth:`observe_outcome` for a caller that must not wait: with ``adapt`` the
        tenant's corrections learn from it at once (cheap), and the residual detectors
        are fed on the monitor's worker thread (a detector may calibrate a threshold
        there: a lookup for the default settings, a simulation of seconds to minutes
        for others). What ``Router.record_outcome`` calls on an attached monitor."""
        if tier is not None and tier not in TIERS:
            raise InvalidInputError(f"tier must be one of {TIERS} or None, got {tier!r}")
        self._learn(request_id, model, predicted, observed, tenant, None)
        error = predicted - observed
        return self._submit(
            lambda: self._observe("outcome_residual", model, error, request_id, None, tenant, tier)
        )

    def _learn(
        self,
        request_id: str,
        model: str,
        predicted: float,
        observed: float,
        tenant: str | None,
        embedding: npt.NDArray[np.float32] | None,
    ) -> None:
        """Checks an outcome and, with ``adapt``, teaches the tenant's corrections."""
        if not (0.0 <= predicted <= 1.0 and 0.0 <= observed <= 1.0):
            raise InvalidInputError(
                f"outcome {request_id!r}: predicted and observed must be in [0, 1]; "
                f"got {predicted}, {observed}"
            )
        if self.adapt and not self._is_probe(request_id, model):
            if embedding is None and self.corrections.local_k:
                with self._lock:
                    embedding = self._recent.pop(request_id, None)
            self.corrections.observe(
                model, predicted=predicted, observed=observed, tenant=tenant, embedding=embedding
            )

    def _observe(
        self,
        signal: str,
        model: str,
        error: float,
        request_id: str,
        at_request: int | None,
        tenant: str | None,
        tier: str | None,
    ) -> DriftAlert | None:
        """Feeds the model's stream and, with ``tier``, that tier's; the model's alert wins.
        A probe's sample feeds the model's recovery stream instead."""
        if tier is not None and tier not in TIERS:
            raise InvalidInputError(f"tier must be one of {TIERS} or None, got {tier!r}")
        if self._is_probe(request_id, model):
            return self._update_recovery(signal, model, error, request_id, at_request, tenant)
        alert = self._update(signal, model, error, request_id, at_request, tenant, "")
        if tier is None:
            return alert
        tier_alert = self._update(signal, model, error, request_id, at_request, tenant, tier)
        return alert if alert is not None else tier_alert

    def _golden_drifted(self) -> bool:
        """Whether a golden model was itself found to drift (and was not cleared since):
        agreement with it then no longer measures the routed model alone."""
        if self.sampler is None:
            return False
        golden = {self.sampler.golden_model, *self.sampler.golden_by_task.values()}
        return any(
            alert.model in golden
            and alert.magnitude < 0
            and alert.tier is None
            and (not self.rescore or self.corrections.drift_shift(alert.model) < 0)
            for alert in self.alerts
        )

    def _golden_slipping(self) -> bool:
        """Whether a golden model's recorded outcomes already show a drop its own
        detector has not yet alarmed on: since its stream's most likely change point,
        its residuals rose by more than ``SLIP_Z`` standard errors. Agreement with it
        falls then too, and an agreement alarm cannot tell which side changed; it is
        marked suspect rather than re-scoring the model it grades. (A wrong "suspect"
        only delays a re-score; a wrong re-score moves traffic to the broken model.)
        Called with the lock held."""
        if self.sampler is None:
            return False
        for golden in {self.sampler.golden_model, *self.sampler.golden_by_task.values()}:
            stream = self._streams.get((golden, "outcome_residual", ""))
            if stream is None or len(stream.errors) < 2 * SLIP_MIN_SAMPLES:
                continue
            errors = np.asarray(stream.errors)
            k = change_point(errors)
            before, after = errors[:k], errors[k:]
            if min(len(before), len(after)) < SLIP_MIN_SAMPLES:
                continue
            se = math.sqrt(before.var(ddof=1) / len(before) + after.var(ddof=1) / len(after))
            if after.mean() - before.mean() > SLIP_Z * max(se, 1e-9):
                return True
        return False

    def _new_stream(self, signal: str, tier: str, *, total: int = 0, alarms: int = 0) -> _Stream:
        settings = self._tier_settings if tier else self.settings
        return _Stream(
            ErrorStreamDetector(self.horizons[signal], settings), total=total, alarms=alarms
        )

    def _update(
        self,
        signal: str,
        model: str,
        error: float,
        request_id: str,
        at_request: int | None,
        tenant: str | None,
        tier: str,
    ) -> DriftAlert | None:
        key = (model, signal, tier)
        # A due threshold calibration is simulated outside the lock (the lock guards
        # should_shadow on the request path); under it the update then finds it cached.
        known = self._streams.get(key)
        if known is not None and not known.feeding:
            known.detector.prepare(error)
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                stream = self._new_stream(signal, tier)
                self._streams[key] = stream
            stream.total += 1
            stream.add(error, request_id)
            if stream.feeding:  # a restart is feeding the detector: it takes this one after
                stream.backlog.append(error)
                return None
            if not stream.detector.update(error):
                return None
            alert = self._alert(signal, model, stream, at_request, tenant)
            if tier:
                alert = dataclasses.replace(alert, tier=tier)
            if signal == "shadow_agreement" and (self._golden_drifted() or self._golden_slipping()):
                alert = dataclasses.replace(alert, reference_suspect=True)
            stream.alarms += 1
            # Restart the stream after the change point: the new level is the baseline.
            # The fresh detector is fed those samples outside the lock (a threshold it
            # calibrates on them may be a simulation: seconds or more with settings the
            # shipped table lacks); the stream keeps what arrives meanwhile for it.
            start = len(stream.errors) - alert.samples_after
            fresh = self._new_stream(signal, tier, total=stream.total, alarms=stream.alarms)
            fresh.feeding = True
            for e, rid in zip(stream.errors[start:], stream.ids[start:], strict=True):
                fresh.add(e, rid)
            tail = list(fresh.errors)
            self._streams[key] = fresh
            self.alerts.append(alert)
        self._feed_restart(fresh, tail)
        if self.rescore and alert.magnitude < 0 and not tier and not alert.reference_suspect:
            self.corrections.set_drift(model, self.corrections.drift_shift(model) + alert.magnitude)
            self._watch_recovery(model, signal, tail, list(fresh.ids[: len(tail)]))
        for sink in self.sinks:
            sink(alert)
        return alert

    def _watch_recovery(self, model: str, signal: str, errors: list[float], ids: list[str]) -> None:
        """Starts a re-scored model's recovery streams, the alarming signal's seeded with
        the samples after the change point (the drifted level). Page-Hinkley measures a
        rise against the mean of all it has seen, so a baseline of a few probes alone
        finds a fix late (on the tiny replay of the tests, not within 3,000 requests).
        The seed is the routed traffic the router picked the model for, where it did
        better than on the probes' unselected mix: a bias against finding a recovery,
        never towards a false one. Seeded outside the lock (a threshold it calibrates
        may be simulated)."""
        streams = {name: self._new_stream(name, "") for name in SIGNALS}
        seeded = streams[signal]
        for error, request_id in zip(errors, ids, strict=True):
            seeded.total += 1
            seeded.add(error, request_id)
            seeded.detector.update(self._recovery_value(signal, error))  # the baseline
        seeded.seeded = len(seeded.errors)
        with self._lock:
            for name, stream in streams.items():
                self._recovery[(model, name)] = stream

    @staticmethod
    def _probes_start(stream: _Stream) -> int:
        """Where a recovery is measured from: the first probe when there are enough of
        them (``2 * SLIP_MIN_SAMPLES``), so the improvement compares one prompt mix with
        itself; the seed (the model's routed prompts, on which it does better) would
        make it look smaller. The detector itself runs on the whole stream."""
        probes = len(stream.errors) - stream.seeded
        return stream.seeded if stream.seeded and probes >= 2 * SLIP_MIN_SAMPLES else 0

    @staticmethod
    def _recovery_value(signal: str, error: float) -> float:
        """What a recovery detector watches rise: the quality, not the error (agreement
        for shadow checks, ``observed - predicted`` for outcomes). Its failures
        (value > 0) are then a Bernoulli of at least the value's variance, as the
        threshold's calibration assumes."""
        return 1.0 - error if signal == "shadow_agreement" else -error

    def _update_recovery(
        self,
        signal: str,
        model: str,
        error: float,
        request_id: str,
        at_request: int | None,
        tenant: str | None,
    ) -> DriftAlert | None:
        """Feeds a probe's sample to the model's recovery stream; on its alarm, raises the
        model's drift shift by the measured improvement (at most to 0) and alerts. A
        probe of a model no longer re-scored (recovered or cleared meanwhile) is dropped."""
        key = (model, signal)
        value = self._recovery_value(signal, error)
        known = self._recovery.get(key)
        if known is None:
            return None
        known.detector.prepare(value)
        with self._lock:
            stream = self._recovery.get(key)
            if stream is None:
                return None
            stream.total += 1
            stream.add(error, request_id)
            if not stream.detector.update(value):
                return None
            alert = dataclasses.replace(
                self._alert(
                    signal, model, stream, at_request, tenant, start=self._probes_start(stream)
                ),
                recovery=True,
            )
            if alert.magnitude <= 0:  # the test saw noise rise, not the mean: keep watching
                return None
            stream.alarms += 1
            self.alerts.append(alert)
            shift = min(0.0, self.corrections.drift_shift(model) + alert.magnitude)
            if -shift <= alert.interval[1] - alert.magnitude:
                # What is left lies within the improvement's own 95% margin: given back
                # whole, or a model that is fixed would be probed for ever over noise.
                shift = 0.0
            # Both of the model's streams on this signal start again, their next samples
            # the new baseline: the drift stream's was the drifted level.
            main = self._streams.get((model, signal, ""))
            if main is not None and not main.feeding:
                self._streams[(model, signal, "")] = self._new_stream(
                    signal, "", total=main.total, alarms=main.alarms
                )
            if shift < 0:  # part of the drop remains: watch on from the new level
                self._recovery[key] = self._new_stream(
                    signal, "", total=stream.total, alarms=stream.alarms
                )
            else:
                for name in SIGNALS:
                    self._recovery.pop((model, name), None)
        if shift < 0:
            self.corrections.set_drift(model, shift)
        else:
            self.corrections.clear_drift(model)
        for sink in self.sinks:
            sink(alert)
        return alert

    def _feed_restart(self, fresh: _Stream, tail: list[float]) -> None:
        """Feeds a restarted stream's detector the samples after the change point,
        outside the lock (``_update`` keeps new samples in its backlog meanwhile), then,
        under it, the backlog. Alarms during the re-feed are not raised: those samples
        set the new baseline."""
        try:
            for error in tail:
                fresh.detector.update(error)
        finally:
            with self._lock:
                try:
                    for error in fresh.backlog:
                        fresh.detector.update(error)
                finally:
                    fresh.backlog.clear()
                    fresh.feeding = False

    def _alert(
        self,
        signal: str,
        model: str,
        stream: _Stream,
        at_request: int | None,
        tenant: str | None,
        *,
        start: int = 0,
    ) -> DriftAlert:
        """The alert for ``stream``'s alarm, its change measured on the samples from
        ``start`` on."""
        errors = np.asarray(stream.errors[start:])
        ids = stream.ids[start:]
        k = change_point(errors)
        before, after = errors[:k], errors[k:]
        magnitude = -(float(after.mean()) - float(before.mean()))
        se = math.sqrt(
            float(before.var(ddof=1) if len(before) > 1 else 0.25) / max(1, len(before))
            + float(after.var(ddof=1) if len(after) > 1 else 0.25) / max(1, len(after))
        )
        baseline = (
            1.0 - float(before.mean()) if signal == "shadow_agreement" else -float(before.mean())
        )
        return DriftAlert(
            alert_id=uuid.uuid4().hex,
            model=model,
            signal=signal,
            magnitude=magnitude,
            interval=(magnitude - 1.96 * se, magnitude + 1.96 * se),
            baseline=baseline,
            recent=baseline + magnitude,
            window=(stream.total - len(after), stream.total),
            samples_before=len(before),
            samples_after=len(after),
            evidence_ids=tuple(ids[k:][-EVIDENCE_IDS:]),
            threshold=float(stream.detector.threshold or 0.0),
            at_request=at_request,
            timestamp=datetime.now(timezone.utc).isoformat(),
            tenant=tenant,
        )

    def observe_inputs(
        self,
        request_ids: Sequence[str],
        embeddings: npt.NDArray[np.float32],
        *,
        at_request: int | None = None,
    ) -> list[DriftAlert]:
        """Routed prompts' embeddings for the input-drift watch; returns its alarms."""
        if self.inputs is None:
            raise InvalidInputError(
                "this monitor watches no input drift: pass inputs=InputDriftWatch("
                "InputReference.from_quality_model(bundle.quality_model()))"
            )
        alerts = self.inputs.observe(request_ids, embeddings, at_request=at_request)
        with self._lock:
            self.alerts.extend(alerts)
        for alert in alerts:
            for sink in self.sinks:
                sink(alert)
        return alerts

    def attach(self, router: Router) -> None:
        """Watches ``router``'s traffic: the two share one set of corrections (the
        router's, if it has them), so re-scoring reaches its next decisions; every
        outcome ``router.record_outcome`` stores is observed (:meth:`submit_outcome`,
        with the answering model's P(success) before corrections, kept from the
        decision): with ``adapt`` the tenant's corrections learn from it at once, the
        residual detectors on the worker thread, so a service does not call it; with an
        input watch, every routed batch's embeddings feed it; with ``adapt`` and the
        corrections' per-prompt term, the latest decisions' embeddings are kept
        (``RECENT_EMBEDDINGS`` of them) for the outcomes recorded against them."""
        if router.corrections is None:
            router.corrections = self.corrections
        else:
            self.corrections = router.corrections

        def outcome(event: RecordedOutcome) -> None:
            self.submit_outcome(
                event.decision_id,
                event.model,
                predicted=event.predicted,
                observed=event.quality,
                tenant=event.tenant,
                tier=event.tier,
            )

        router.on_outcome = outcome
        keep = self.adapt and self.corrections.local_k > 0
        if self.inputs is None and not keep:
            return

        def watch(ids: list[str], embeddings: npt.NDArray[np.float32]) -> None:
            if keep:
                with self._lock:
                    for decision_id, row in zip(ids, embeddings, strict=True):
                        # A copy: a view would keep the whole batch's array alive.
                        self._recent[decision_id] = np.array(row, np.float32)
                    while len(self._recent) > RECENT_EMBEDDINGS:
                        self._recent.popitem(last=False)
            if self.inputs is not None:
                self.observe_inputs(ids, embeddings)

        router.on_inputs = watch

    # --- state ------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Per (model, signal): samples, alarms, baseline error, threshold, drift shift,
        and, for a re-scored model, the samples its recovery watch has.
        ``mean_error_since_restart`` is over the samples the stream keeps (the latest
        ``STREAM_WINDOW`` to ``2 x STREAM_WINDOW`` of them)."""
        with self._lock:
            rows: list[dict[str, Any]] = []
            for (model, signal, tier), stream in sorted(self._streams.items()):
                detector = stream.detector
                rows.append(
                    {
                        "model": model,
                        "signal": signal,
                        "tier": tier or None,
                        "samples": stream.total,
                        "since_restart": stream.since_restart,
                        "mean_error_since_restart": float(np.mean(stream.errors))
                        if stream.errors
                        else None,
                        "threshold": detector.threshold,
                        "alarms": stream.alarms,
                    }
                )
                recovery = None if tier else self._recovery.get((model, signal))
                # Samples the recovery watch has of a re-scored model (None: not watched).
                rows[-1]["recovery_samples"] = None if recovery is None else recovery.total
        for row in rows:
            row["drift_shift"] = self.corrections.drift_shift(row["model"])
            if row["drift_shift"] >= 0:  # cleared by hand: nothing is probed any more
                row["recovery_samples"] = None
        if self.inputs is not None:
            rows.append(self.inputs.status())
        return rows

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Writes status and alerts as JSON (atomically), for ``learned-router drift status``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "updated": datetime.now(timezone.utc).isoformat(),
            "status": self.status(),
            "alerts": [a.as_dict() for a in self.alerts],
            "corrections": self.corrections.state(),
        }
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=1, default=str))
        os.replace(tmp, target)
        return target
