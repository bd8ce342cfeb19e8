"""Prometheus metrics of one gateway (``GET /metrics``), via ``prometheus_client``.

Each gateway has its own registry (no process-global state), so several
gateways in one process (tests) do not share counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from learned_router.gateway.app import Gateway


class GatewayMetrics:
    """Counters of requests, cost, tokens, cache hits, upstream errors; latency histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "learned_router_requests",
            "Chat completion requests",
            ["tenant", "model", "status"],
            registry=r,
        )
        self.cost = Counter(
            "learned_router_cost_usd",
            "Actual cost of answers, USD",
            ["tenant", "model", "tier"],
            registry=r,
        )
        self.frontier_cost = Counter(
            "learned_router_frontier_cost_usd",
            "What the tenant's frontier model would have cost for the same tokens, USD",
            ["tenant"],
            registry=r,
        )
        self.tokens = Counter(
            "learned_router_tokens", "Tokens", ["tenant", "model", "kind"], registry=r
        )
        self.cache_hits = Counter(
            "learned_router_cache_hits", "Answers served from the cache", ["tenant"], registry=r
        )
        self.upstream_errors = Counter(
            "learned_router_upstream_errors", "Upstream failures", ["upstream", "kind"], registry=r
        )
        self.feedback = Counter(
            "learned_router_feedback", "Feedback recorded", ["tenant"], registry=r
        )
        self.drift_alerts = Counter(
            "learned_router_drift_alerts",
            "Drift alarms raised by the shadow checks",
            ["model"],
            registry=r,
        )
        self.drift_recoveries = Counter(
            "learned_router_drift_recoveries",
            "Re-scored models found fixed by their probes (their traffic returns)",
            ["model"],
            registry=r,
        )
        self.shadow = Counter(
            "learned_router_shadow_samples", "Shadow samples", ["result"], registry=r
        )
        self.latency = Histogram(
            "learned_router_request_seconds",
            "Request latency until the answer ended",
            ["tier"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.breaker_open = Gauge(
            "learned_router_upstream_circuit_open",
            "1 while the upstream's circuit breaker is open",
            ["upstream"],
            registry=r,
        )

    def render(self, gateway: Gateway) -> tuple[Any, str]:
        """The text exposition format, with breaker states read at scrape time."""
        for name, upstream in gateway.upstreams.items():
            self.breaker_open.labels(name).set(1.0 if upstream.breaker.state == "open" else 0.0)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
