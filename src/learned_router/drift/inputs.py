"""Input drift: are today's prompts still like the ones the bundle was trained on?

A prompt's *novelty* is ``1 - max_c(e . centroid_c)``: its cosine distance to
the nearest of the quality model's k-means centres of the training prompts
(the same centres that count its support). Training stores the reference: the
95th percentile of the novelty of validation prompts, which never shaped the
centres (``LatentQualityModel.novelty_reference``). So on traffic like the
training data, about 5% of prompts lie beyond it.

:class:`InputDriftWatch` tests that share window by window: in each window of
``window`` prompts, the count beyond the reference is compared with a
Binomial(window, reference share) by its exact upper tail. The per-window
level is the target false-alarm probability over the horizon divided by the
windows in it (Bonferroni), so the threshold follows from the target, not from
a hand-set number. An alarm is an :class:`~learned_router.drift.alerts.DriftAlert`
with model ``(inputs)`` and signal ``input_novelty``; its ``magnitude`` is the
observed share minus the reference share (positive: more novel). After an
alarm the observed share becomes the reference, so one lasting shift raises
one alert, and a further shift raises another.

Why not a library detector: river's detectors (ADWIN, Page-Hinkley, KSWIN)
compare a stream with its own past, not with a fixed training reference, and
alibi-detect's online embedding tests (MMD, LSDD) need TensorFlow or torch,
which the runtime wheel must not; a binomial tail is a few lines of ``math``.
Why novelty rather than the raw embeddings: it is what matters for routing
(far from the training prompts, predictions fall back to the prior), and it
is one number per prompt, so the test is exact and costs nothing.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.drift.alerts import DriftAlert
from learned_router.errors import InvalidInputError
from learned_router.quality import one_blas_thread

INPUTS = "(inputs)"
"""The ``model`` of an input-drift alert (it concerns the traffic, not one model)."""
SIGNAL = "input_novelty"
REFERENCE_QUANTILE = 0.95
"""The reference is this quantile of held-out training prompts' novelty."""

F32 = npt.NDArray[np.float32]


def novelty(embeddings: F32, centroids: F32) -> npt.NDArray[np.float64]:
    """``[n]`` cosine distance of each (unit) embedding to its nearest centroid.

    >>> c = np.eye(2, dtype=np.float32)
    >>> novelty(np.array([[1, 0], [0.6, 0.8]], np.float32), c).round(2).tolist()
    [0.0, 0.2]
    """
    with one_blas_thread():  # 2,048 centroids: see learned_router.quality.one_blas_thread
        similarity = np.asarray(embeddings, np.float32) @ np.asarray(centroids, np.float32).T
    out: npt.NDArray[np.float64] = 1.0 - similarity.max(1).astype(np.float64)
    return out


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space.

    >>> round(binomial_upper_tail(2, 2, 0.5), 6), binomial_upper_tail(0, 5, 0.1)
    (0.25, 1.0)
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def critical_count(n: int, p: float, level: float) -> int:
    """The least count k with P(X >= k) <= ``level`` for X ~ Binomial(n, p).

    >>> critical_count(200, 0.05, 0.001)
    22
    """
    k = int(n * p)
    while k <= n and binomial_upper_tail(k, n, p) > level:
        k += 1
    return k


@dataclass(frozen=True)
class InputReference:
    """What training left to compare traffic with: the centres and the novelty cut."""

    centroids: F32
    threshold: float
    share: float = 1.0 - REFERENCE_QUANTILE

    @classmethod
    def from_quality_model(cls, quality: Any) -> InputReference:
        """From a bundle's quality model (``bundle.quality_model()``)."""
        centroids = getattr(quality, "centroids", None)
        threshold = getattr(quality, "novelty_reference", None)
        if centroids is None or threshold is None:
            raise InvalidInputError(
                "this bundle has no input-drift reference (quality-model centroids and "
                "calibration.json's novelty_reference); retrain it with `python -m training "
                "train` to watch input drift"
            )
        return cls(centroids=np.asarray(centroids, np.float32), threshold=float(threshold))


@dataclass
class InputDriftWatch:
    """Window-by-window binomial test of the share of novel prompts; see the module docstring.

    >>> c = np.eye(3, dtype=np.float32)
    >>> watch = InputDriftWatch(InputReference(c, threshold=0.1), window=100, horizon=10_000)
    >>> near = np.tile(np.array([[1, 0, 0]], np.float32), (300, 1))
    >>> far = np.tile(np.array([[0.6, 0.8, 0]], np.float32) / 1.0, (300, 1))
    >>> len(watch.observe([str(i) for i in range(300)], near)), len(
    ...     watch.observe([str(i) for i in range(300)], far))
    (0, 1)
    """

    reference: InputReference
    window: int = 200
    horizon: int = 100_000
    false_alarm_rate: float = 0.002
    share: float = field(init=False)
    alerts: list[DriftAlert] = field(default_factory=list, init=False)
    seen: int = field(default=0, init=False)
    _count: int = field(default=0, init=False)
    _in_window: int = field(default=0, init=False)
    _novel_ids: list[str] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 20 or self.horizon < self.window:
            raise InvalidInputError(
                f"input drift: window ({self.window}) must be >= 20 and <= horizon ({self.horizon})"
            )
        if not 0.0 < self.false_alarm_rate < 1.0:
            raise InvalidInputError(
                f"input drift: false_alarm_rate must be in (0, 1), got {self.false_alarm_rate}"
            )
        self.share = self.reference.share

    @property
    def level(self) -> float:
        """The per-window test level: the horizon's false-alarm target over its windows."""
        return self.false_alarm_rate / max(1, self.horizon // self.window)

    def observe(
        self, request_ids: Sequence[str], embeddings: F32, *, at_request: int | None = None
    ) -> list[DriftAlert]:
        """Feeds a batch of routed prompts' embeddings; returns the alarms it raised."""
        if len(request_ids) != len(embeddings):
            raise InvalidInputError(
                f"input drift: {len(request_ids)} request ids for {len(embeddings)} embeddings"
            )
        if len(embeddings) == 0:
            return []
        novel = novelty(embeddings, self.reference.centroids) > self.reference.threshold
        raised: list[DriftAlert] = []
        with self._lock:
            for rid, is_novel in zip(request_ids, novel.tolist(), strict=True):
                self.seen += 1
                self._in_window += 1
                if is_novel:
                    self._count += 1
                    self._novel_ids.append(rid)
                if self._in_window < self.window:
                    continue
                alert = self._close_window(at_request)
                if alert is not None:
                    raised.append(alert)
            self.alerts.extend(raised)
        return raised

    def _close_window(self, at_request: int | None) -> DriftAlert | None:
        n, k, reference = self._in_window, self._count, self.share
        ids = tuple(self._novel_ids[-50:])
        self._in_window, self._count, self._novel_ids = 0, 0, []
        limit = critical_count(n, reference, self.level)
        if k < limit:
            return None
        observed = k / n
        se = math.sqrt(max(observed * (1 - observed), 1e-12) / n)
        self.share = min(0.99, max(observed, reference))
        return DriftAlert(
            alert_id=uuid.uuid4().hex,
            model=INPUTS,
            signal=SIGNAL,
            magnitude=observed - reference,
            interval=(observed - reference - 1.96 * se, observed - reference + 1.96 * se),
            baseline=reference,
            recent=observed,
            window=(self.seen - n, self.seen),
            samples_before=0,
            samples_after=n,
            evidence_ids=ids,
            threshold=float(limit),
            at_request=at_request,
            timestamp=datetime.now(timezone.utc).isoformat(),
        )

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "model": INPUTS,
                "signal": SIGNAL,
                "samples": self.seen,
                "reference_share": self.share,
                "novelty_threshold": self.reference.threshold,
                "window": self.window,
                "in_window": self._in_window,
                "novel_in_window": self._count,
                "alarms": len(self.alerts),
            }
