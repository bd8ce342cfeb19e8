"""The router's corrections hook: re-scoring and tenant adaptation move traffic at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learned_router.drift import Corrections
from learned_router.router import Router

PROMPTS = [f"Summarise the memo about budget line {i}" for i in range(20)]


def _router(tiny_bundle: Path, corrections: Corrections) -> Router:
    return Router.load(
        tiny_bundle,
        capacity=False,
        corrections=corrections,
        policy={"quality_fraction": 0.95},
    )


def _chosen(router: Router, tenant: str | None = None) -> list[str]:
    candidates = ["small", "mid", "frontier"]
    return [d.model for d in router.route_batch(PROMPTS, candidates=candidates, tenant=tenant)]


def test_a_drift_correction_moves_traffic_on_the_next_decision(tiny_bundle: Path) -> None:
    corrections = Corrections()
    router = _router(tiny_bundle, corrections)
    before = router.route_batch(PROMPTS, candidates=["small", "mid", "frontier"])
    assert {d.model for d in before} == {"small"}
    corrections.set_drift("small", -0.4)
    after = router.route_batch(PROMPTS, candidates=["small", "mid", "frontier"])
    assert "small" not in {d.model for d in after}
    # The decision shows the corrected P(success), lowered by exactly the shift.
    np.testing.assert_allclose(
        [d.candidate("small").p_success for d in after],
        [d.candidate("small").p_success - 0.4 for d in before],
    )
    corrections.clear_drift("small")  # reversible
    assert set(_chosen(router)) == {"small"}


def test_tenant_corrections_change_only_that_tenants_routing(tiny_bundle: Path) -> None:
    corrections = Corrections(prior_strength=5)
    router = _router(tiny_bundle, corrections)
    for _ in range(200):  # acme's outcomes: "small" fails on its traffic, "mid" does not
        corrections.observe("small", predicted=0.94, observed=0.0, tenant="acme")
        corrections.observe("mid", predicted=0.94, observed=1.0, tenant="acme")
    assert "small" not in set(_chosen(router, tenant="acme"))
    assert set(_chosen(router, tenant="other")) == {"small"}
    assert set(_chosen(router)) == {"small"}


def _attached(tiny_bundle: Path, tmp_path: Path, **kw: float) -> tuple[Router, Corrections, Any]:
    from learned_router.drift import DriftMonitor

    corrections = Corrections(prior_strength=5, **kw)
    router = Router.load(
        tiny_bundle,
        capacity=False,
        corrections=corrections,
        policy={"quality_fraction": 0.95},
        outcome_store=tmp_path / "outcomes.sqlite",
    )
    monitor = DriftMonitor(corrections=corrections, adapt=True, sinks=[])
    monitor.attach(router)
    return router, corrections, monitor


def _residual_samples(monitor: Any, model: str) -> int:
    monitor.flush()  # the detectors are fed on the monitor's worker thread
    return _residual_samples_now(monitor, model)


def test_recorded_outcomes_reach_an_attached_monitor_against_the_uncorrected_prediction(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    # The service only calls record_outcome: the attached monitor's residual detector
    # and the tenant's corrections learn from it, compared with the P(success) the
    # decision had *before* corrections (which move as the outcomes arrive).
    router, corrections, monitor = _attached(tiny_bundle, tmp_path)
    candidates = ["small", "mid", "frontier"]
    prompt = PROMPTS[0]
    first = router.route(prompt, candidates=candidates, tenant="acme")
    assert first.model == "small"
    p0 = first.candidate("small").p_success
    router.record_outcome(first.decision_id, quality=0.0)
    recorded = 1
    while recorded < 200:
        decision = router.route(prompt, candidates=candidates, tenant="acme")
        if decision.model != "small":
            break
        assert decision.candidate("small").p_success < p0  # corrected downwards
        router.record_outcome(decision.decision_id, quality=0.0)
        recorded += 1
    assert recorded < 200, "the tenant's failures never moved its traffic off 'small'"
    residuals = corrections._tenant[("acme", "small")]
    assert residuals.n == recorded
    np.testing.assert_allclose(residuals.total, -recorded * p0, rtol=1e-6)
    assert _residual_samples(monitor, "small") == recorded
    assert set(_chosen(router, tenant="other")) == {"small"}  # only acme's routing moved


def test_an_outcome_recorded_against_another_candidate_is_that_models(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    router, corrections, monitor = _attached(tiny_bundle, tmp_path)
    decision = router.route(PROMPTS[1], candidates=["small", "mid", "frontier"], tenant="acme")
    assert decision.model == "small"
    router.record_outcome(decision.decision_id, quality=1.0, model="mid")  # explored
    residuals = corrections._tenant[("acme", "mid")]
    assert residuals.n == 1
    assert residuals.total == pytest.approx(1.0 - decision.candidate("mid").p_success, rel=1e-6)
    assert ("acme", "small") not in corrections._tenant
    assert _residual_samples(monitor, "mid") == 1


def test_outcomes_without_a_comparable_prediction_are_stored_not_observed(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    router, corrections, monitor = _attached(tiny_bundle, tmp_path)
    # Answered by a model that was not a candidate (a caller's own fallback) ...
    decision = router.route(PROMPTS[2], candidates=["small", "mid"], tenant="acme")
    router.record_outcome(decision.decision_id, quality=0.0, model="frontier")
    # ... or graded on another scale than the router predicts on.
    other_scale = next(s for s in router.bundle.scales if s != router.quality_scale)
    decision = router.route(PROMPTS[3], candidates=["small", "mid"], tenant="acme")
    router.record_outcome(decision.decision_id, quality=0.0, quality_scale=other_scale)
    assert router.outcome_store is not None
    assert len(router.outcome_store.records()) == 2
    assert corrections._tenant == {}
    monitor.flush()
    assert monitor.status() == []


def test_a_failing_outcome_hook_leaves_the_outcome_recorded(
    tiny_bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    router, _, _ = _attached(tiny_bundle, tmp_path)

    def broken(event: object) -> None:
        raise RuntimeError("monitor down")

    router.on_outcome = broken
    decision = router.route(PROMPTS[4], candidates=["small", "mid"], tenant="acme")
    with caplog.at_level("ERROR", logger="learned_router.router"):
        record_id = router.record_outcome(decision.decision_id, quality=1.0)
    assert record_id >= 0
    assert router.outcome_store is not None
    assert len(router.outcome_store.records()) == 1
    assert "on_outcome failed" in caplog.text


def test_record_outcome_does_not_wait_for_the_detectors(tiny_bundle: Path, tmp_path: Path) -> None:
    # A detector's first threshold calibration simulates its stream (up to a minute
    # at the default outcome horizon): the caller's record_outcome must not wait for it.
    import threading

    router, corrections, monitor = _attached(tiny_bundle, tmp_path)
    release = threading.Event()
    monitor._submit(lambda: release.wait(30) and None)  # the worker is busy
    decision = router.route(PROMPTS[5], candidates=["small", "mid"], tenant="acme")
    router.record_outcome(decision.decision_id, quality=0.0)  # returns while it is
    assert not release.is_set()
    assert corrections._tenant[("acme", decision.model)].n == 1  # learned at once
    assert _residual_samples_now(monitor, decision.model) == 0  # queued, not yet fed
    release.set()
    assert _residual_samples(monitor, decision.model) == 1


def _residual_samples_now(monitor: Any, model: str) -> int:
    return sum(
        r["samples"]
        for r in monitor.status()
        if r["model"] == model and r["signal"] == "outcome_residual" and not r["tier"]
    )
