"""The drift monitor: alerts with evidence, re-scoring, off-path shadow checks, state."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from decisions import decision

pytest.importorskip("river", reason="drift detection needs the drift extra")

from typer.testing import CliRunner

from learned_router.cli import app
from learned_router.drift import DetectorSettings, DriftAlert, DriftMonitor, webhook_sink
from learned_router.drift.monitor import change_point
from learned_router.errors import InvalidInputError
from learned_router.outcomes import OutcomeStore
from learned_router.router import RouteDecision

FAST = DetectorSettings(simulations=1000, false_alarm_rate=0.01, min_instances=20)


def _feed(monitor: DriftMonitor, model: str, agreements: np.ndarray) -> list[DriftAlert]:
    out = []
    for i, a in enumerate(agreements):
        alert = monitor.observe_agreement(f"{model}-{i}", model, float(a), at_request=i)
        if alert is not None:
            out.append(alert)
    return out


def test_an_alarm_measures_the_drop_and_re_scores_the_model() -> None:
    rng = np.random.default_rng(0)
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(settings=FAST, shadow_horizon=600, sinks=[seen.append])
    stream = np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.6]).astype(float)
    alerts = _feed(monitor, "m", stream)
    assert alerts
    assert seen == alerts[:1] + alerts[1:]
    first = alerts[0]
    assert first.model == "m"
    assert first.signal == "shadow_agreement"
    assert 300 <= first.window[1] < 450
    low, high = first.interval
    assert low < first.magnitude < high
    assert low < -0.3 < high
    assert first.evidence_ids
    assert all(e.startswith("m-") for e in first.evidence_ids)
    assert int(first.evidence_ids[-1].split("-")[1]) == first.window[1] - 1
    assert monitor.corrections.drift_shift("m") == pytest.approx(sum(a.magnitude for a in alerts))


def test_stationary_streams_raise_nothing() -> None:
    rng = np.random.default_rng(1)
    monitor = DriftMonitor(settings=FAST, shadow_horizon=500, sinks=[])
    for model in ("a", "b", "c"):
        assert _feed(monitor, model, (rng.random(500) < 0.85).astype(float)) == []
    assert monitor.corrections.drift_shift("a") == 0.0


def test_outcome_residuals_detect_a_drop_the_predictions_missed() -> None:
    rng = np.random.default_rng(2)
    monitor = DriftMonitor(settings=FAST, outcome_horizon=800, sinks=[])
    alerts = []
    for i in range(800):
        observed = float(rng.random() < (0.8 if i < 400 else 0.45))
        alert = monitor.observe_outcome(f"o{i}", "m", predicted=0.8, observed=observed)
        if alert is not None:
            alerts.append((i, alert))
    assert alerts
    assert 400 <= alerts[0][0] < 520
    assert alerts[0][1].signal == "outcome_residual"
    assert alerts[0][1].magnitude < -0.2


def test_adaptation_learns_from_outcomes_per_tenant() -> None:
    monitor = DriftMonitor(settings=FAST, sinks=[], adapt=True)
    for i in range(300):
        monitor.observe_outcome(f"o{i}", "m", predicted=0.5, observed=1.0, tenant="acme")
    assert monitor.corrections.shift("m", 0.5, tenant="acme") > 0.2
    assert monitor.corrections.shift("m", 0.5, tenant="other") == 0.0


def test_the_change_point_is_where_the_mean_moved() -> None:
    assert change_point([0.0] * 50 + [1.0] * 20) == 50


def test_shadow_checks_run_off_the_request_path_and_become_labels(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "shadow.sqlite")
    release = threading.Event()

    def slow_judge(prompt: str, routed: str, golden: str) -> float:
        release.wait(5)
        return float(routed == golden)

    monitor = DriftMonitor(settings=FAST, sinks=[], judge=slow_judge, shadow_store=store)
    future = monitor.submit_shadow("r1", "m", "4", "4", prompt="2+2?")
    assert not future.done()  # submit returned while the judge still works
    release.set()
    monitor.flush()
    assert future.result() is None
    records = list(store.records().values())
    assert [(r.model, r.quality, r.dataset) for r in records] == [("m", 1.0, "shadow")]
    monitor.close()
    store.close()


def test_alerts_reach_a_webhook(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/alerts"
        monitor = DriftMonitor(settings=FAST, shadow_horizon=400, sinks=[webhook_sink(url)])
        rng = np.random.default_rng(3)
        alerts = _feed(
            monitor, "m", np.concatenate([rng.random(200) < 0.95, rng.random(200) < 0.3])
        )
    finally:
        server.shutdown()
        server.server_close()
    assert alerts
    assert received[0]["kind"] == "arbitrage_alert"
    assert received[0]["alert_id"] == alerts[0].alert_id
    assert received[0]["evidence_ids"] == list(alerts[0].evidence_ids)


def test_drift_status_shows_the_saved_state(tmp_path: Path) -> None:
    monitor = DriftMonitor(settings=FAST, shadow_horizon=400, sinks=[])
    rng = np.random.default_rng(4)
    _feed(monitor, "weak", np.concatenate([rng.random(200) < 0.95, rng.random(200) < 0.3]))
    _feed(monitor, "steady", (rng.random(100) < 0.9).astype(float))
    path = monitor.save_state(tmp_path / "drift.json")
    result = CliRunner().invoke(app, ["drift", "status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    by_model = {row["model"]: row for row in payload["status"]}
    assert by_model["weak"]["alarms"] >= 1
    assert by_model["weak"]["drift_shift"] < -0.3
    assert by_model["steady"]["alarms"] == 0
    assert by_model["steady"]["drift_shift"] == 0.0
    table = CliRunner().invoke(app, ["drift", "status", str(path)])
    assert table.exit_code == 0
    assert "weak" in table.output
    assert "alert" in table.output
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    failed = CliRunner().invoke(app, ["drift", "status", str(bad)])
    assert failed.exit_code == 1
    assert "not a drift state file" in failed.output


def test_a_drop_on_hard_prompts_alone_is_caught_on_that_tier() -> None:
    # The model keeps agreeing on easy prompts; on the high tier agreement falls from
    # 95% to 40%. The tier stream alarms; re-scoring stays per model (only a
    # model-level alert moves the correction).
    rng = np.random.default_rng(3)
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(settings=FAST, shadow_horizon=3000, sinks=[seen.append])
    tiers = ("low", "medium", "high")
    for i in range(3000):
        tier = tiers[i % 3]
        p = 0.4 if (tier == "high" and i >= 900) else 0.95
        monitor.observe_agreement(f"r{i}", "m", float(rng.random() < p), at_request=i, tier=tier)
    tier_alerts = [a for a in seen if a.tier is not None]
    assert tier_alerts
    assert {a.tier for a in tier_alerts} == {"high"}
    assert tier_alerts[0].at_request is not None
    assert tier_alerts[0].at_request >= 900
    model_level = sum(a.magnitude for a in seen if a.tier is None and a.magnitude < 0)
    assert monitor.corrections.drift_shift("m") == pytest.approx(model_level)
    rows = {(r["signal"], r["tier"]) for r in monitor.status()}
    assert ("shadow_agreement", "high") in rows
    assert ("shadow_agreement", None) in rows


def test_tier_streams_stay_silent_on_a_stationary_stream() -> None:
    rng = np.random.default_rng(4)
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(settings=FAST, shadow_horizon=6000, sinks=[seen.append])
    for i in range(6000):
        monitor.observe_agreement(
            f"r{i}", "m", float(rng.random() < 0.9), tier=("low", "medium", "high")[i % 3]
        )
    assert seen == []


def test_an_unknown_tier_is_refused() -> None:
    from learned_router.errors import InvalidInputError

    monitor = DriftMonitor(settings=FAST, sinks=[])
    with pytest.raises(InvalidInputError, match="tier"):
        monitor.observe_agreement("r", "m", 1.0, tier="extreme")


def _graded_by_g(settings: DetectorSettings, horizon: int, seen: list[DriftAlert]) -> DriftMonitor:
    """A monitor shadowing half the traffic against golden model ``g``."""
    from learned_router.drift import ShadowSampler

    return DriftMonitor(
        sampler=ShadowSampler(golden_model="g", rate=0.5),
        settings=settings,
        shadow_horizon=horizon,
        outcome_horizon=horizon,
        sinks=[seen.append],
    )


def test_a_drifting_golden_model_does_not_get_the_models_it_grades_re_scored() -> None:
    # The golden model g is also routed; its recorded outcomes show a drop. Agreement
    # with g then falls for m too: that alarm is marked and m keeps its score.
    rng = np.random.default_rng(5)
    seen: list[DriftAlert] = []
    monitor = _graded_by_g(FAST, 600, seen)
    for i in range(600):
        observed = float(rng.random() < (0.9 if i < 300 else 0.4))
        monitor.observe_outcome(f"o{i}", "g", predicted=0.9, observed=observed)
    assert monitor.corrections.drift_shift("g") < 0
    _feed(monitor, "m", np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.5]))
    (m_alert, *_) = [a for a in seen if a.model == "m"]
    assert m_alert.reference_suspect
    assert monitor.corrections.drift_shift("m") == 0.0
    # Once g's drift is cleared (the provider fixed it), agreement alarms count again.
    monitor.corrections.clear_drift("g")
    _feed(monitor, "m2", np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.5]))
    (m2_alert, *_) = [a for a in seen if a.model == "m2"]
    assert not m2_alert.reference_suspect
    assert monitor.corrections.drift_shift("m2") < 0


class _Decision:
    """What :meth:`DriftMonitor.should_shadow` reads of a routing decision."""

    def __init__(self, model: str, decision_id: str) -> None:
        self.model, self.decision_id, self.tenant = model, decision_id, None

    def candidate(self, name: str) -> Any:
        raise KeyError(name)


def test_a_model_is_shadowed_at_the_warm_up_rate_until_its_detector_has_a_baseline() -> None:
    from learned_router.drift import ShadowSampler

    sampler = ShadowSampler(
        golden_model="g", rate=0.02, warmup_rate=0.5, warmup_checks=40, warmup_min_share=0.0
    )
    monitor = DriftMonitor(sampler=sampler, settings=FAST, sinks=[])
    picked: dict[str, list[int]] = {"m": [], "n": []}
    for i in range(6000):
        model = "m" if i < 3000 else "n"  # n is first routed at request 3000
        if monitor.should_shadow(_Decision(model, f"d{i}"), request_id=f"r{i}") is not None:
            picked[model].append(i)
            monitor.observe_agreement(f"r{i}", model, 1.0)
    for model, start in (("m", 0), ("n", 3000)):
        warm = picked[model][39] - start + 1  # requests it took to get 40 checks
        assert 40 <= warm <= 160  # ~80 at 0.5
        later = len(picked[model]) - 40
        assert later <= 0.02 * (3000 - warm) + 5 * (0.02 * 3000) ** 0.5
        assert later >= 0.02 * (3000 - warm) - 5 * (0.02 * 3000) ** 0.5
    assert monitor.baseline_checks("m") == len(picked["m"])
    # The golden model is never shadowed against itself, warm-up or not.
    assert monitor.should_shadow(_Decision("g", "dg"), request_id="r1") is None


def test_a_rarely_routed_model_gets_no_warm_up() -> None:
    from learned_router.drift import ShadowSampler

    sampler = ShadowSampler(
        golden_model="g", rate=0.02, warmup_rate=0.5, warmup_checks=40, warmup_min_share=0.2
    )
    monitor = DriftMonitor(sampler=sampler, settings=FAST, sinks=[])
    checks = {"big": 0, "rare": 0}
    for i in range(5000):
        model = "rare" if i % 10 == 0 else "big"  # 10% of decisions, under the 20% asked
        if monitor.should_shadow(_Decision(model, f"d{i}"), request_id=f"r{i}") is not None:
            checks[model] += 1
            monitor.observe_agreement(f"r{i}", model, 1.0)
    # rare: the plain 2% of its 500 requests (10 +- 5 sd), not the warm-up's 0.5.
    assert checks["rare"] <= 10 + 5 * (500 * 0.02) ** 0.5
    # big: 40 checks in ~80 requests, then 2% of the rest.
    assert checks["big"] >= 40 + 0.02 * 4400 - 5 * (0.02 * 4400) ** 0.5


def test_an_alarm_restarts_the_baseline_the_warm_up_counts() -> None:
    rng = np.random.default_rng(3)
    monitor = DriftMonitor(settings=FAST, shadow_horizon=600, sinks=[])
    assert monitor.baseline_checks("m") == 0
    alerts = _feed(monitor, "m", np.concatenate([rng.random(300) < 0.9, rng.random(60) < 0.3]))
    assert alerts
    # After the alarm the detector's baseline is only what came after the change point.
    assert monitor.baseline_checks("m") < 360
    assert monitor.baseline_checks("m") == alerts[-1].samples_after + (360 - alerts[-1].window[1])


def test_an_agreement_alarm_while_the_golden_models_outcomes_slip_does_not_re_score() -> None:
    # g's recorded outcomes fall (residuals up 0.2) but its own detector, tolerant of
    # changes below 2 x delta, has not alarmed; agreement with g then collapses for m.
    # Which side changed cannot be told from agreement: m's alarm is suspect, m keeps
    # its score. Without g's slip the same agreement alarm re-scores m.
    tolerant = DetectorSettings(
        simulations=1000, false_alarm_rate=0.01, min_instances=20, delta=0.3
    )
    rng = np.random.default_rng(11)
    for slip in (True, False):
        seen: list[DriftAlert] = []
        monitor = _graded_by_g(tolerant, 400, seen)
        for i in range(400):
            p_ok = 0.9 if (i < 250 or not slip) else 0.7
            monitor.observe_outcome(
                f"o{i}", "g", predicted=0.9, observed=float(rng.random() < p_ok)
            )
        assert [a.model for a in seen] == []  # g itself never alarmed
        _feed(monitor, "m", np.concatenate([rng.random(200) < 0.97, rng.random(100) < 0.05]))
        (m_alert, *_) = [a for a in seen if a.model == "m"]
        assert m_alert.reference_suspect is slip
        assert (monitor.corrections.drift_shift("m") == 0.0) is slip


def test_a_long_quiet_stream_keeps_bounded_memory_and_still_alarms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import learned_router.drift.monitor as monitor_module

    monkeypatch.setattr(monitor_module, "STREAM_WINDOW", 100)
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(settings=FAST, shadow_horizon=2000, sinks=[seen.append])
    _feed(monitor, "m", np.ones(1500))  # agrees every time: nothing to alarm on
    stream = monitor._streams[("m", "shadow_agreement", "")]
    assert len(stream.errors) == len(stream.ids) <= 200
    assert monitor.baseline_checks("m") == 1500
    (row,) = [r for r in monitor.status() if r["model"] == "m"]
    assert (row["samples"], row["since_restart"]) == (1500, 1500)
    # A drop after the quiet stretch is still found, its evidence the latest samples.
    alerts = [
        monitor.observe_agreement(f"late-{i}", "m", 0.0, at_request=1500 + i) for i in range(60)
    ]
    alert = next(a for a in alerts if a is not None)
    assert alert.magnitude < -0.5
    assert all(e.startswith("late-") for e in alert.evidence_ids)


def test_river_is_imported_and_thresholds_found_outside_the_monitors_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first Page-Hinkley test of a process imports river (seconds): done under the
    monitor's lock it held record_outcome (and should_shadow, which takes the same lock)
    for 7 s on the 2-core VM (benchmarks/bench_outcome_path.py). It must happen in
    prepare(), before the lock is taken."""
    from learned_router.drift import detectors

    monitor = DriftMonitor(sinks=[])
    held: list[bool] = []
    real = detectors.river_drift

    def spy() -> Any:
        held.append(monitor._lock.locked())
        return real()

    monkeypatch.setattr(detectors, "river_drift", spy)
    rng = np.random.default_rng(0)
    for i in range(40):
        monitor.observe_outcome(
            f"r{i}", "m", predicted=0.8, observed=float(rng.random() < 0.8), tier="low"
        )
    # Two streams (the model's and its tier's) started: each time, prepare() reached
    # river first, outside the lock; update() then finds it imported.
    assert held == [False, True, False, True]


def test_a_restart_calibrates_outside_the_lock_and_keeps_what_arrives_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After an alarm the stream restarts at the change point and a fresh detector is
    fed the samples after it. Its threshold is calibrated for the new level: with
    settings the shipped table lacks, a simulation (seconds to minutes). Fed under the
    monitor's lock, that held should_shadow and record_outcome for as long. The re-feed
    now runs outside the lock; a sample that arrives meanwhile waits and is fed after."""
    from learned_router.drift import detectors

    settings = DetectorSettings(simulations=300, false_alarm_rate=0.01, min_instances=20)
    detectors._threshold.cache_clear()
    monitor = DriftMonitor(settings=settings, shadow_horizon=400, sinks=[])
    held: list[bool] = []
    arrived: list[str] = []
    real = detectors._threshold

    def spy(rate: float, horizon: int, s: DetectorSettings) -> float:
        misses = real.cache_info().misses
        if monitor.alerts and not arrived and not monitor._lock.locked():
            # The restart's calibration at the new level. A request records its
            # outcome meanwhile (the old code held the lock here, and listed the
            # alert only after the re-feed).
            arrived.append("meanwhile")
            monitor.observe_agreement("meanwhile", "m", 0.0)
        value = real(rate, horizon, s)
        if real.cache_info().misses > misses:  # a simulation ran
            held.append(monitor._lock.locked())
        return value

    monkeypatch.setattr(detectors, "_threshold", spy)
    rng = np.random.default_rng(5)
    stream_in = np.concatenate([rng.random(200) < 0.95, rng.random(200) < 0.7])
    alerts = _feed(monitor, "m", stream_in)
    assert alerts
    # The restart re-fed enough samples to calibrate the new level (min_instances).
    assert alerts[0].samples_after >= settings.min_instances
    assert held
    assert not any(held)  # every simulation ran with the lock free
    assert arrived == ["meanwhile"]
    stream = monitor._streams[("m", "shadow_agreement", "")]
    assert not stream.feeding
    assert stream.backlog == []
    # The detector saw every sample the stream keeps since its restart, the one that
    # arrived during the re-feed included.
    assert stream.detector.samples == stream.since_restart
    assert "meanwhile" in stream.ids


# --- recovery: a re-scored model is probed and, when it is fixed, gets its traffic back ---


def _drift_large(monitor: DriftMonitor, seed: int) -> None:
    """Routed traffic of ``large``: 300 checks at 0.9 agreement, then 300 at 0.5 (a drift)."""
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.5]).astype(float)
    assert _feed(monitor, "large", stream)
    assert monitor.corrections.drift_shift("large") < -0.25


def _probe_large(
    monitor: DriftMonitor, levels: list[tuple[int, float]], seed: int
) -> list[DriftAlert]:
    """Probes of ``large`` (each request id named by should_probe), ``n`` at each level."""
    rng = np.random.default_rng(seed)
    alerts, j = [], 0
    for n, level in levels:
        for _ in range(n):
            rid = f"probe-{j}"
            if monitor.should_probe(_decision(j, "small"), request_id=rid) != "large":
                return alerts  # no longer re-scored: no more probes
            alert = monitor.observe_agreement(
                rid, "large", float(rng.random() < level), at_request=j
            )
            if alert is not None:
                alerts.append(alert)
            j += 1
    return alerts


def _routed_samples(monitor: DriftMonitor, model: str) -> int:
    row = next(
        r
        for r in monitor.status()
        if r["model"] == model and r["signal"] == "shadow_agreement" and not r["tier"]
    )
    return int(row["samples"])


def test_a_re_scored_model_that_is_fixed_is_found_by_its_probes_and_gets_its_shift_back() -> None:
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(settings=FAST, shadow_horizon=1500, sinks=[seen.append], probe_rate=1.0)
    _drift_large(monitor, seed=11)
    alerts = _probe_large(monitor, [(200, 0.5), (600, 0.9)], seed=12)
    (recovery,) = alerts
    assert recovery.recovery
    assert recovery.model == "large"
    assert recovery.signal == "shadow_agreement"
    assert 200 <= recovery.at_request < 400  # type: ignore[operator]
    assert recovery.magnitude > 0.2
    assert recovery.interval[0] < recovery.magnitude < recovery.interval[1]
    assert recovery in seen  # the sinks hear of it like any alert
    # The shift is given back (what is left lies within the improvement's margin), so
    # probing stops and traffic returns.
    assert monitor.corrections.drift_shift("large") == 0.0
    assert monitor.should_probe(_decision(0, "small")) is None
    # Probes fed the recovery watch only, never the model's drift stream.
    assert _routed_samples(monitor, "large") == 600


def test_drift_status_shows_the_recovery_watch_and_the_recovery(tmp_path: Path) -> None:
    monitor = DriftMonitor(settings=FAST, shadow_horizon=1500, sinks=[], probe_rate=1.0)
    _drift_large(monitor, seed=11)
    _probe_large(monitor, [(40, 0.5)], seed=12)

    def large_row(path: Path) -> list[str]:
        result = CliRunner().invoke(app, ["drift", "status", str(path)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        (row,) = [
            line for line in result.output.splitlines() if "large " in line and " all " in line
        ]
        return [cell.strip() for cell in row.strip("│ ").split("│")]

    watched = monitor.status()[0]["recovery_samples"]
    assert large_row(monitor.save_state(tmp_path / "a"))[-1] == str(watched)
    _probe_large(monitor, [(600, 0.9)], seed=13)
    assert monitor.corrections.drift_shift("large") > -0.1
    state = monitor.save_state(tmp_path / "b")
    assert large_row(state)[-1] == "-"
    done = CliRunner().invoke(app, ["drift", "status", str(state)])
    assert "(recovery)" in done.output


def test_a_recovery_is_measured_on_the_probes_mix_not_against_the_routed_one() -> None:
    # Routed, large did its prompts at 0.9, then 0.5 (the drift). Probes draw every
    # prompt, where it does worse: 0.2 broken, 0.6 fixed, +0.4. Measured against the
    # seed (the routed samples at 0.5) as well, the fix would look smaller (0.29 here).
    for seed in (16, 17, 18):
        monitor = DriftMonitor(settings=FAST, shadow_horizon=1500, sinks=[], probe_rate=1.0)
        _drift_large(monitor, seed=11)
        (recovery,) = _probe_large(monitor, [(200, 0.2), (600, 0.6)], seed=seed)
        assert recovery.magnitude == pytest.approx(0.4, abs=0.07)
        assert recovery.samples_before < 230  # ~200 probes before the fix, not the seed too
        assert monitor.corrections.drift_shift("large") == 0.0


def test_a_model_that_stays_broken_keeps_its_shift() -> None:
    monitor = DriftMonitor(settings=FAST, shadow_horizon=2000, sinks=[], probe_rate=1.0)
    _drift_large(monitor, seed=11)
    shift = monitor.corrections.drift_shift("large")
    assert _probe_large(monitor, [(1400, 0.5)], seed=13) == []
    assert monitor.corrections.drift_shift("large") == shift


def test_recorded_outcomes_of_probes_show_a_recovery_too() -> None:
    rng = np.random.default_rng(14)
    monitor = DriftMonitor(settings=FAST, outcome_horizon=1500, sinks=[], probe_rate=1.0)
    first = None
    for i in range(900):
        level = 0.85 if i < 400 else 0.4
        alert = monitor.observe_outcome(
            f"o{i}", "large", predicted=0.85, observed=float(rng.random() < level)
        )
        first = first or alert
    assert first is not None
    assert first.magnitude < -0.25
    recoveries = []
    for j in range(800):
        rid = f"probe-{j}"
        if monitor.should_probe(_decision(j, "small"), request_id=rid) is None:
            break
        observed = float(rng.random() < (0.4 if j < 200 else 0.85))
        alert = monitor.observe_outcome(
            rid, "large", predicted=0.85, observed=observed, at_request=j
        )
        if alert is not None:
            recoveries.append(alert)
    (recovery,) = recoveries
    assert recovery.recovery
    assert recovery.signal == "outcome_residual"
    assert recovery.at_request >= 200  # type: ignore[operator]
    assert monitor.corrections.drift_shift("large") > -0.1


def test_a_partial_fix_gives_back_part_of_the_shift_and_the_watch_goes_on() -> None:
    rng = np.random.default_rng(21)
    monitor = DriftMonitor(settings=FAST, outcome_horizon=2000, sinks=[], probe_rate=1.0)
    for i in range(800):  # routed: 0.9, then 0.3 (a 60-point drop)
        level = 0.9 if i < 400 else 0.3
        monitor.observe_outcome(
            f"o{i}", "large", predicted=0.9, observed=float(rng.random() < level)
        )
    drop = monitor.corrections.drift_shift("large")
    assert drop < -0.45
    recoveries = []
    for j in range(900):  # probes: still 0.3, then 0.6 (half fixed)
        rid = f"probe-{j}"
        assert monitor.should_probe(_decision(j, "small"), request_id=rid) == "large"
        observed = float(rng.random() < (0.3 if j < 300 else 0.6))
        alert = monitor.observe_outcome(rid, "large", predicted=0.9, observed=observed)
        if alert is not None:
            recoveries.append(alert)
    (recovery,) = recoveries
    assert recovery.magnitude == pytest.approx(0.3, abs=0.1)
    left = monitor.corrections.drift_shift("large")
    assert left == pytest.approx(drop + recovery.magnitude)
    assert left < -0.15
    # Still re-scored: still probed, and its recovery watch goes on from the new level.
    row = next(r for r in monitor.status() if r["model"] == "large" and not r["tier"])
    assert row["recovery_samples"] is not None


def test_probe_outcomes_do_not_teach_tenant_corrections() -> None:
    monitor = DriftMonitor(sinks=[], adapt=True, probe_rate=1.0)
    monitor.corrections.set_drift("large", -0.4)
    for j in range(200):
        rid = f"probe-{j}"
        assert monitor.should_probe(_decision(j, "small"), request_id=rid) == "large"
        monitor.observe_outcome(rid, "large", predicted=0.8, observed=0.0, tenant="acme")
    # The tenant's shift is the drift shift alone: the probes taught it nothing.
    assert monitor.corrections.shift("large", 0.8, tenant="acme") == pytest.approx(-0.4)
    for j in range(200):  # the same outcomes, not probes: learned
        monitor.observe_outcome(f"o{j}", "large", predicted=0.8, observed=0.0, tenant="acme")
    assert monitor.corrections.shift("large", 0.8, tenant="acme") < -0.6


def test_without_re_scoring_nothing_is_probed_or_watched() -> None:
    monitor = DriftMonitor(settings=FAST, shadow_horizon=1500, sinks=[], rescore=False)
    rng = np.random.default_rng(11)
    stream = np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.5]).astype(float)
    assert _feed(monitor, "large", stream)
    assert all(monitor.should_probe(_decision(j, "small")) is None for j in range(1000))
    assert all(row["recovery_samples"] is None for row in monitor.status())


def test_the_recovery_watch_shows_in_the_status() -> None:
    monitor = DriftMonitor(settings=FAST, shadow_horizon=2000, sinks=[], probe_rate=1.0)
    _drift_large(monitor, seed=11)

    def row() -> dict[str, Any]:
        return next(r for r in monitor.status() if r["model"] == "large" and not r["tier"])

    seeded = row()["recovery_samples"]  # the drift alarm's samples after its change point
    assert isinstance(seeded, int)
    assert seeded > 0
    _probe_large(monitor, [(40, 0.5)], seed=15)
    assert row()["drift_shift"] < 0
    assert row()["recovery_samples"] == seeded + 40


def _decision(i: int, chosen: str, excluded: dict[str, str] | None = None) -> RouteDecision:
    return decision(i, chosen, {"small": 0.001, "mid": 0.004, "large": 0.02}, excluded=excluded)


def test_probes_go_to_re_scored_models_only_at_the_probe_rate() -> None:
    monitor = DriftMonitor(sinks=[], probe_rate=0.05)
    assert [monitor.should_probe(_decision(i, "small")) for i in range(2000)] == [None] * 2000
    monitor.corrections.set_drift("large", -0.4)
    monitor.corrections.set_drift("mid", -0.2)
    picks = [monitor.should_probe(_decision(i, "small")) for i in range(20_000)]
    assert picks == [monitor.should_probe(_decision(i, "small")) for i in range(20_000)]
    probed = [p for p in picks if p is not None]
    assert abs(len(probed) - 1000) <= 5 * (20_000 * 0.05 * 0.95) ** 0.5
    assert {"large", "mid"} == set(probed)
    assert abs(probed.count("large") - probed.count("mid")) < 0.2 * len(probed)
    # Never the routed model, never an excluded one; keyed by the request id.
    assert all(monitor.should_probe(_decision(i, "large")) in (None, "mid") for i in range(3000))
    down = [monitor.should_probe(_decision(i, "small", {"mid": "down"})) for i in range(3000)]
    assert set(down) == {None, "large"}
    assert monitor.should_probe(_decision(1, "small"), request_id="r9") == monitor.should_probe(
        _decision(2, "small"), request_id="r9"
    )
    assert DriftMonitor(sinks=[], probe_rate=0.0).should_probe(_decision(0, "small")) is None
    with pytest.raises(InvalidInputError, match="probe_rate"):
        DriftMonitor(sinks=[], probe_rate=1.5)
