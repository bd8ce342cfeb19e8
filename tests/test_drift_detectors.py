"""Detectors: the calibration twin matches river; alarms on change, silence when stationary."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("river", reason="drift detection needs the drift extra")

from river import drift

from learned_router.drift.detectors import (
    DetectorSettings,
    ErrorStreamDetector,
    calibrate_threshold,
    simulate_max_statistic,
)

FAST = DetectorSettings(simulations=1000, false_alarm_rate=0.01, min_instances=20)


def test_the_numpy_twin_computes_rivers_statistic() -> None:
    """The calibration simulates river's recursion: on the same streams, the
    largest statistic the twin reports is exactly where river starts to alarm."""
    settings = DetectorSettings(min_instances=20, delta=0.03)
    peaks = simulate_max_statistic(0.2, 300, settings=settings, streams=5, seed=7)
    rng = np.random.default_rng(7)
    streams = (rng.random((300, 5)) < 0.2).astype(float)
    for k in range(5):

        def alarms(threshold: float, k: int = k) -> bool:
            ph = drift.PageHinkley(
                min_instances=20, delta=0.03, threshold=threshold, alpha=settings.alpha, mode="up"
            )
            for x in streams[:, k]:
                ph.update(x)
                if ph.drift_detected:
                    return True
            return False

        assert alarms(peaks[k] - 1e-9)
        assert not alarms(peaks[k] + 1e-9)


def test_thresholds_grow_with_the_error_rate_and_the_horizon() -> None:
    low = calibrate_threshold(0.05, 256, settings=FAST)
    high = calibrate_threshold(0.3, 256, settings=FAST)
    longer = calibrate_threshold(0.3, 4096, settings=FAST)
    assert 0 < low < high < longer


def _first_alarm(stream: np.ndarray, horizon: int, settings: DetectorSettings) -> int | None:
    detector = ErrorStreamDetector(horizon, settings)
    for i, x in enumerate(stream):
        if detector.update(float(x)):
            return i
    return None


def test_stationary_streams_stay_silent_at_the_target_rate() -> None:
    """Fresh stationary streams (another seed than the calibration's) alarm in at
    most about the target share: 1% target, 200 streams, binomial slack."""
    rng = np.random.default_rng(123)
    horizon = 400
    alarms = sum(
        _first_alarm((rng.random(horizon) < 0.1).astype(float), horizon, FAST) is not None
        for _ in range(200)
    )
    assert alarms <= 7  # P(Binomial(200, 0.01) > 7) < 0.001; the baseline estimate adds a little


def test_a_planted_drop_is_detected_soon_after_it_starts() -> None:
    rng = np.random.default_rng(5)
    before = (rng.random(200) < 0.1).astype(float)
    after = (rng.random(400) < 0.4).astype(float)  # agreement 90% -> 60%: 30 points
    first = _first_alarm(np.concatenate([before, after]), 600, FAST)
    assert first is not None
    assert 200 <= first < 300


def test_prepare_computes_each_due_calibration_before_the_update_needs_it() -> None:
    # The monitor calls prepare() outside its lock, then update() under it: every
    # simulation must happen in prepare, none in update.
    from learned_router.drift import detectors

    settings = DetectorSettings(simulations=200, false_alarm_rate=0.01, min_instances=20)
    detector = ErrorStreamDetector(horizon=777, settings=settings)
    rng = np.random.default_rng(3)
    simulated_in_update = 0
    for error in (rng.random(200) < 0.3).astype(float):
        detector.prepare(float(error))
        before = detectors._threshold.cache_info().misses
        detector.update(float(error))
        simulated_in_update += detectors._threshold.cache_info().misses - before
    assert detector.threshold is not None  # it did calibrate (at 20, 40, 80, 160)
    assert simulated_in_update == 0


def test_the_shipped_thresholds_are_the_simulation_for_a_default_monitors_settings() -> None:
    """scripts/build_ph_thresholds.py ran the same simulation once; the short horizons
    are recomputed here (the long ones take minutes) and must agree exactly."""
    from learned_router.drift import detectors
    from learned_router.drift.monitor import DriftMonitor

    table = detectors._shipped_table()
    default, per_tier = detectors.shipped_settings()
    # The settings a default monitor's streams use, per model and per model x tier.
    monitor = DriftMonitor()
    assert (monitor.settings, monitor._tier_settings) == (default, per_tier), (
        "a default monitor's settings changed: run make ph-thresholds"
    )
    assert set(table) == {
        (settings, rate, horizon)
        for settings in (default, per_tier)
        for rate in detectors.RATE_GRID
        for horizon in detectors.SHIPPED_HORIZONS
    }
    for settings in (default, per_tier):
        for rate in (0.01, 0.5):
            for horizon in (64, 256):
                simulated = detectors._threshold.__wrapped__(rate, horizon, settings)
                assert table[(settings, rate, horizon)] == simulated
        # Longer watches and noisier baselines need higher thresholds.
        for rate in detectors.RATE_GRID:
            assert table[(settings, rate, 64)] < table[(settings, rate, 131_072)]
        assert table[(settings, 0.01, 131_072)] < table[(settings, 0.5, 131_072)]
    # A rarer false alarm per stream (the tier split) needs a higher threshold.
    assert table[(default, 0.2, 131_072)] < table[(per_tier, 0.2, 131_072)]


def test_default_calibrations_come_from_the_table_and_other_settings_simulate() -> None:
    from learned_router.drift import detectors

    table = detectors._shipped_table()
    before = detectors._threshold.cache_info().misses
    # The default outcome horizon (100,000 -> 131,072) at a new rate: no simulation.
    default, per_tier = detectors.shipped_settings()
    assert calibrate_threshold(0.17, 100_000) == table[(default, 0.2, 131_072)]
    assert calibrate_threshold(0.17, 100_000, settings=per_tier) == table[(per_tier, 0.2, 131_072)]
    assert detectors._threshold.cache_info().misses == before
    other = DetectorSettings(simulations=300, false_alarm_rate=0.01, min_instances=20)
    calibrate_threshold(0.17, 100, settings=other)
    assert detectors._threshold.cache_info().misses == before + 1
