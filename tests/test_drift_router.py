"""The router's corrections hook: re-scoring and tenant adaptation move traffic at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
