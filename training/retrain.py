"""Retraining triggered by drift: alert -> training run -> `challenger` -> gated promotion.

:func:`retrain_on_alert` is what a drift alert (or a schedule) starts:

1. trains on the base logs plus the outcome store (recorded outcomes) plus
   the shadow labels (golden-model outcomes written by the monitor), with
   the given training config (``training.train.main``);
2. links the MLflow run to the alert: tags ``drift.alert_id``,
   ``drift.model``, ``drift.signal``, ``drift.magnitude`` and the alert JSON
   as an artifact;
3. registers the bundle as a new version and points the ``challenger`` alias
   at it;
4. runs the existing promotion gates (``training.promote``) with one more:
   **replay of recent traffic** — on the outcomes recorded after the alert's
   change point, the challenger's Brier score must be at most the champion's
   plus a tolerance (so a retrain that did not learn the drift is refused).
   ``champion`` moves only if every gate passes.

Runs end to end on the embedded sqlite MLflow store.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learned_router import data
from learned_router.bundle import Bundle
from learned_router.registry import CHAMPION, DEFAULT_MODEL_NAME, client, download_bundle
from training.config import TrainConfig
from training.promote import Gate, PromotionDecision, promote

CHALLENGER = "challenger"


@dataclass(frozen=True)
class RetrainResult:
    run_id: str | None
    version: str
    decision: PromotionDecision


def brier_on_traffic(bundle: Bundle, log: data.OutcomeLog) -> tuple[float, int]:
    """Brier score of ``bundle``'s P(success) on the (prompt, model, quality) rows of
    ``log`` whose model it knows, and how many rows that was."""
    catalog = bundle.catalog()
    known = [m for m in log.models if catalog.knows(m) and catalog.resolve(m) in bundle.models]
    if not known:
        return float("nan"), 0
    part = log.select(models=known).with_catalog_names(catalog)
    matrix = part.matrix()
    p = bundle.scorer().p_success(list(matrix.prompts), matrix.models)
    seen = ~np.isnan(matrix.quality)
    errors = (p[seen] - matrix.quality[seen]) ** 2
    return float(errors.mean()), int(seen.sum())


def replay_gate(
    candidate: Bundle,
    champion: Bundle | None,
    recent: Sequence[str],
    *,
    tolerance: float = 0.0,
) -> Gate:
    """The drift loop's gate: Brier on recent traffic no worse than the champion's."""
    with tempfile.TemporaryDirectory() as tmp:
        log = data.load(list(recent), rejects=Path(tmp) / "rejects.jsonl")
    cand, rows = brier_on_traffic(candidate, log)
    if champion is None:
        return Gate("replay of recent traffic", True, f"no champion; Brier {cand:.4f} on {rows}")
    champ, _ = brier_on_traffic(champion, log)
    ok = bool(np.isfinite(cand) and cand <= champ + tolerance)
    return Gate(
        "replay of recent traffic",
        ok,
        f"Brier {cand:.4f} vs champion {champ:.4f} on {rows} recent outcomes "
        f"(tolerance {tolerance})",
    )


def retrain_on_alert(
    alert: Mapping[str, Any],
    *,
    config: TrainConfig,
    base_data: Sequence[str],
    eval_data: Sequence[str],
    recent_traffic: Sequence[str],
    outcome_store: str | None = None,
    shadow_labels: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    replay_tolerance: float = 0.0,
) -> RetrainResult:
    """Retrains after ``alert`` (``DriftAlert.as_dict()``); see the module docstring."""
    from training.train import main

    paths = [*base_data, *(p for p in (outcome_store, shadow_labels) if p)]
    run_config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, paths=tuple(paths))
    )
    result = main(run_config)
    if result.model_version is None:
        raise RuntimeError(
            "the retraining run registered no model version; enable [tracking] in the config"
        )
    registry = client()
    if result.run_id is not None:
        tags = {
            "drift.alert_id": str(alert.get("alert_id", "")),
            "drift.model": str(alert.get("model", "")),
            "drift.signal": str(alert.get("signal", "")),
            "drift.magnitude": str(alert.get("magnitude", "")),
            "trigger": "drift-alert",
        }
        for key, value in tags.items():
            registry.set_tag(result.run_id, key, value)
        import json

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "drift_alert.json"
            path.write_text(json.dumps(dict(alert), default=str, indent=1))
            registry.log_artifact(result.run_id, str(path))
    version = str(result.model_version)
    registry.set_registered_model_alias(model_name, CHALLENGER, version)
    registry.set_model_version_tag(
        model_name, version, "drift.alert_id", str(alert.get("alert_id", ""))
    )
    try:
        champion_version = str(registry.get_model_version_by_alias(model_name, CHAMPION).version)
        champion: Bundle | None = Bundle.load(
            download_bundle(f"models:/{model_name}/{champion_version}")
        )
    except Exception:  # MLflow raises its own exception when the alias does not exist
        champion = None
    candidate = Bundle.load(download_bundle(f"models:/{model_name}/{version}"))
    gate = replay_gate(candidate, champion, recent_traffic, tolerance=replay_tolerance)
    decision = promote(
        version, eval_data=list(eval_data), model_name=model_name, extra_gates=[gate]
    )
    return RetrainResult(result.run_id, version, decision)
