"""Hand-built RouteDecisions for tests of what consumes them (exploration, probes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from learned_router.router import CandidateEstimate, RouteDecision
from learned_router.selection import Outcome


def decision(
    i: int,
    chosen: str,
    costs: Mapping[str, float],
    *,
    tenant: str | None = None,
    excluded: Mapping[str, str] | None = None,
) -> RouteDecision:
    """Decision ``d{i}`` routed to ``chosen`` among ``costs``' models (each at P 0.7 and
    its expected cost), ``excluded`` mapping a model to why it could not be chosen."""
    return RouteDecision(
        decision_id=f"d{i}",
        timestamp=datetime.now(timezone.utc),
        model=chosen,
        p_success=0.7,
        expected_cost_usd=costs[chosen],
        expected_latency_ms=100.0,
        policy="relative_quality",
        policy_value=0.9,
        outcome=Outcome.MET,
        decided_by="policy",
        tier="medium",
        candidates=tuple(
            CandidateEstimate(m, 0.7, cost, 100.0, 50.0, (excluded or {}).get(m))
            for m, cost in costs.items()
        ),
        price_version="p",
        router_version="r",
        input_tokens=10,
        priority="interactive",
        tenant=tenant,
    )
