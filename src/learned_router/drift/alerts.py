"""Arbitrage alerts: what the drift monitor says when a model changed.

An alert is a frozen record (model, signal, magnitude with a 95% interval,
the window of samples it compares, the ids of the requests that are its
evidence). Sinks receive it: the log (always), a webhook (optional; JSON
POST with the standard library, off the request path), and an MLflow run
(optional; the ``train`` extra).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

LOG = logging.getLogger("learned_router.drift")

AlertSink = Callable[["DriftAlert"], None]


@dataclass(frozen=True)
class DriftAlert:
    """One detected change in a model's quality."""

    alert_id: str
    model: str
    signal: str
    """``shadow_agreement`` or ``outcome_residual``."""
    magnitude: float
    """Change in quality, in points of P(success) (negative: worse; positive: a
    recovery)."""
    interval: tuple[float, float]
    """95% interval of ``magnitude`` (normal approximation)."""
    baseline: float
    recent: float
    window: tuple[int, int]
    """Sample numbers (of this model's stream) of the change point and the alarm."""
    samples_before: int
    samples_after: int
    evidence_ids: tuple[str, ...]
    """Request ids of the samples after the change point (at most 50, latest last)."""
    threshold: float
    at_request: int | None = None
    timestamp: str = ""
    tenant: str | None = None
    tier: str | None = None
    """Set when the alarm came from the model's stream on one complexity tier."""
    reference_suspect: bool = False
    """A shadow-agreement alarm raised after the golden model itself was found to
    drift: the drop may be the reference's, so it did not re-score the model."""
    recovery: bool = False
    """Raised by a re-scored model's recovery watch: ``magnitude`` (positive) is the
    improvement, and the model's drift shift was raised by it (at most to 0)."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = "arbitrage_alert"
        return out


def log_sink(alert: DriftAlert) -> None:
    LOG.warning("arbitrage alert %s", json.dumps(alert.as_dict(), sort_keys=True))


def webhook_sink(url: str, *, timeout_s: float = 5.0) -> AlertSink:
    """A sink that POSTs the alert as JSON to ``url`` (failures are logged, not raised)."""

    def send(alert: DriftAlert) -> None:
        body = json.dumps(alert.as_dict()).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
        except OSError as error:
            LOG.error("arbitrage alert %s: webhook %s failed: %s", alert.alert_id, url, error)

    return send


def mlflow_sink(experiment: str = "learned-router-drift") -> AlertSink:
    """A sink that records each alert as an MLflow run (tags, metrics, the alert JSON)."""

    def record(alert: DriftAlert) -> None:
        from learned_router.registry import mlflow_module, tracking_uri

        mlflow = mlflow_module()
        mlflow.set_tracking_uri(tracking_uri())
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=f"alert-{alert.model}-{alert.alert_id[:8]}"):
            mlflow.set_tags(
                {
                    "drift.alert_id": alert.alert_id,
                    "drift.model": alert.model,
                    "drift.signal": alert.signal,
                }
            )
            mlflow.log_metrics(
                {
                    "magnitude": alert.magnitude,
                    "magnitude_low": alert.interval[0],
                    "magnitude_high": alert.interval[1],
                    "samples_after": alert.samples_after,
                }
            )
            mlflow.log_dict(alert.as_dict(), "alert.json")

    return record
