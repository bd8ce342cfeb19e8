"""Sequential change detection with thresholds set from a target false-alarm rate.

The online detector is river's Page-Hinkley test (``river.drift.PageHinkley``,
the ``drift`` extra): a well-kept, widely used implementation of a classic
CUSUM-type test, O(1) per sample, with no window to size. We feed it an
*error* signal (``1 - agreement`` for shadow checks, ``predicted - observed``
for recorded outcomes), so a quality drop is an upward change.

Its threshold (lambda) is not set by hand: :func:`calibrate_threshold`
simulates many stationary Bernoulli streams of the stream's baseline error
rate over the horizon the detector will watch, and takes the quantile of the
test statistic's maximum that gives the target false-alarm probability. The
simulation runs the same recursion as river's ``PageHinkley`` (mode "up"),
vectorised over streams with numpy (river is a per-sample Python loop:
thousands of streams x 100k samples would take minutes); a test checks that
the twin and river alarm on the same samples.

Why Page-Hinkley rather than ADWIN: ADWIN's ``delta`` bounds false alarms per
check very loosely (it alarms far less than its delta says on Bernoulli
streams, so it is slow), and its window cuts make the delay on 1% shadow
traffic long; Page-Hinkley with a calibrated threshold is near the optimal
CUSUM for a mean shift of about ``2 x delta``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learned_router.errors import InvalidInputError, LearnedRouterError

RATE_GRID = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
"""Baseline error rates thresholds are calibrated at (the next one up is used:
a Bernoulli's variance grows with its rate up to 0.5, so rounding up is safe)."""


def river_drift() -> Any:
    try:
        from river import drift
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise LearnedRouterError(
            "drift detection needs river: pip install 'learned-router[drift]'"
        ) from error
    return drift


@dataclass(frozen=True)
class DetectorSettings:
    """Page-Hinkley settings shared by every stream of a monitor."""

    delta: float = 0.03
    """Changes of the error rate below about 2 x delta are tolerated."""
    min_instances: int = 30
    """Samples a stream sees before it may alarm (they also set its baseline)."""
    alpha: float = 1 - 1e-4
    """Forgetting factor of the test's cumulative sum (river's default)."""
    false_alarm_rate: float = 0.002
    """Target probability that one stream alarms over its horizon without a change."""
    simulations: int = 4000
    """Stationary streams simulated per calibration."""


def simulate_max_statistic(
    rate: float,
    horizon: int,
    *,
    settings: DetectorSettings,
    streams: int,
    seed: int = 0,
) -> np.ndarray:
    """Per simulated stationary Bernoulli(``rate``) stream, the largest value the
    Page-Hinkley statistic reaches (from sample ``min_instances`` on) in ``horizon`` samples.

    The recursion is river's ``PageHinkley.update`` in mode "up": the running
    mean is updated with ``x`` first, then ``s = alpha * s + (x - mean) - delta``,
    ``low = min(low, s)``, and the statistic is ``s - low``.
    """
    rng = np.random.default_rng(seed)
    mean = np.zeros(streams)
    total = np.zeros(streams)
    low = np.full(streams, np.inf)
    peak = np.zeros(streams)
    # Uniforms are drawn in blocks of about 4M (32 MB): the same sequence as one
    # draw of any shape, so the thresholds do not depend on it, and the memory stays
    # bounded (a block of 4,096 rows x 30,000 streams was 1 GB, twice over).
    chunk = max(1, min(4096, (1 << 22) // max(1, streams)))
    t = 0
    while t < horizon:
        block = (rng.random((min(chunk, horizon - t), streams)) < rate).astype(np.float64)
        for row in block:
            t += 1
            mean += (row - mean) / t
            total = settings.alpha * total + (row - mean) - settings.delta
            np.minimum(low, total, out=low)
            if t >= settings.min_instances:
                np.maximum(peak, total - low, out=peak)
    return peak


@functools.lru_cache(maxsize=256)
def _threshold(rate: float, horizon: int, settings: DetectorSettings) -> float:
    streams = max(settings.simulations, math.ceil(20 / settings.false_alarm_rate))
    peaks = simulate_max_statistic(rate, horizon, settings=settings, streams=streams)
    # river alarms when the statistic exceeds the threshold: the quantile that all
    # but false_alarm_rate of the stationary maxima stay at or below.
    return float(np.quantile(peaks, 1.0 - settings.false_alarm_rate, method="higher"))


SHIPPED_THRESHOLDS = Path(__file__).resolve().parents[1] / "assets" / "ph_thresholds.json"
"""Thresholds precomputed by ``scripts/build_ph_thresholds.py`` for :func:`shipped_settings`
(the same simulation, seed 0, so the same numbers)."""
SHIPPED_HORIZONS = tuple(1 << k for k in range(6, 18))
"""The horizons the shipped table covers: 64 .. 131,072 (the default outcome horizon,
100,000, rounds up to the last)."""


def split_over(settings: DetectorSettings, streams: int) -> DetectorSettings:
    """``settings`` with the false-alarm target split over ``streams`` streams that
    watch the same samples (Bonferroni): what a monitor's per-tier streams use."""
    return dataclasses.replace(settings, false_alarm_rate=settings.false_alarm_rate / streams)


def shipped_settings() -> tuple[DetectorSettings, ...]:
    """The settings the shipped table covers: a default monitor's, per model and per
    model x tier."""
    from learned_router.drift.monitor import TIERS  # the monitor imports this module

    default = DetectorSettings()
    return default, split_over(default, len(TIERS))


@functools.lru_cache(maxsize=1)
def _shipped_table() -> dict[tuple[DetectorSettings, float, int], float]:
    """{(settings, rate, horizon): threshold} from :data:`SHIPPED_THRESHOLDS`; empty when
    the file is missing or unreadable (then every threshold simulates)."""
    try:
        raw = json.loads(SHIPPED_THRESHOLDS.read_text(encoding="utf-8"))
        return {
            (DetectorSettings(**block["settings"]), float(rate), int(horizon)): float(value)
            for block in raw["tables"]
            for rate, by_horizon in block["thresholds"].items()
            for horizon, value in by_horizon.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def calibrate_threshold(
    rate: float, horizon: int, *, settings: DetectorSettings = DetectorSettings()
) -> float:
    """The Page-Hinkley threshold for a stream whose baseline error rate is at most
    ``rate``, watched for ``horizon`` samples, at ``settings.false_alarm_rate``.

    The rate rounds up to :data:`RATE_GRID` and the horizon to a power of two. For a
    default monitor's settings (:func:`shipped_settings`) and horizons up to 131,072
    the threshold comes from the shipped table (:data:`SHIPPED_THRESHOLDS`, the same
    simulation run once); otherwise it is simulated here and cached (20 s to minutes
    of a core for a 100,000-sample horizon).

    >>> low = calibrate_threshold(0.05, 200, settings=DetectorSettings(simulations=500))
    >>> high = calibrate_threshold(0.4, 200, settings=DetectorSettings(simulations=500))
    >>> 0 < low < high
    True
    """
    if horizon < 1:
        raise InvalidInputError(f"calibrate_threshold: horizon must be >= 1, got {horizon}")
    if not 0 <= rate <= 1:
        raise InvalidInputError(f"calibrate_threshold: rate must be in [0, 1], got {rate}")
    grid = next((g for g in RATE_GRID if g >= rate), 0.5)
    # Horizons are rounded up to a power of two so calibrations are shared.
    rounded = 1 << max(0, int(horizon - 1).bit_length())
    shipped = _shipped_table().get((settings, grid, rounded))
    return shipped if shipped is not None else _threshold(grid, rounded, settings)


def wilson_upper(successes: float, n: float, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval of a proportion."""
    if n <= 0:
        return 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


class ErrorStreamDetector:
    """Page-Hinkley on one error stream, with a calibrated threshold.

    The first ``min_instances`` samples set the baseline error rate (its
    Wilson upper bound, so a lucky warm-up does not make the test jumpy); the
    threshold is calibrated for it, and re-calibrated each time the stream's
    length doubles, from every sample seen since the (re)start: the estimate
    tightens, so the threshold drops towards the one the true rate calls for.
    """

    def __init__(self, horizon: int, settings: DetectorSettings = DetectorSettings()) -> None:
        self.horizon = int(horizon)
        self.settings = settings
        self.threshold: float | None = None
        self._ph: Any = None
        self.samples = 0
        self.failures = 0
        self._next_calibration = settings.min_instances
        self._warmup: list[float] = []

    def _calibrate(self, failures: int, samples: int) -> float:
        rate = min(0.5, wilson_upper(failures, samples))
        return calibrate_threshold(rate, self.horizon, settings=self.settings)

    def prepare(self, error: float) -> None:
        """Does, outside any lock, the slow work the next ``update(error)`` would do:
        computes (and caches) the threshold it would calibrate, if it would (a
        simulation: seconds to minutes for long horizons unless the shipped table has
        it), and imports river before the first Page-Hinkley test starts (seconds, the
        first time in a process). A caller that updates under a lock calls this first,
        outside it. Changes nothing in the detector."""
        samples = self.samples + 1
        due = (
            samples >= self.settings.min_instances
            if self._ph is None
            else samples >= self._next_calibration
        )
        if due and self._ph is None:
            river_drift()
        if due:
            self._calibrate(self.failures + int(error > 0), samples)

    def update(self, error: float) -> bool:
        """Feeds one sample (an error in [-1, 1]); True when it raises an alarm."""
        self.samples += 1
        # A failure (error > 0): a Bernoulli of that rate has at least the
        # residual's variance, so its threshold is safe for residuals too.
        self.failures += int(error > 0)
        if self._ph is None:
            self._warmup.append(float(error))
            if self.samples < self.settings.min_instances:
                return False
            self.threshold = self._calibrate(self.failures, self.samples)
            self._next_calibration = 2 * self.samples
            self._ph = river_drift().PageHinkley(
                min_instances=self.settings.min_instances,
                delta=self.settings.delta,
                threshold=self.threshold,
                alpha=self.settings.alpha,
                mode="up",
            )
            alarmed = False
            for value in self._warmup:
                self._ph.update(value)
                alarmed = alarmed or bool(self._ph.drift_detected)
            self._warmup = []
            return alarmed
        if self.samples >= self._next_calibration:
            self.threshold = self._calibrate(self.failures, self.samples)
            self._ph.threshold = self.threshold
            self._next_calibration = 2 * self.samples
        self._ph.update(float(error))
        return bool(self._ph.drift_detected)
