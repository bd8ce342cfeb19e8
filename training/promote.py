"""Promotion through the MLflow registry, with gates.

``python -m training promote VERSION --eval-data PATH`` moves the ``champion``
alias to a registered version only if, on a fixed evaluation log the caller
names (held out from every candidate's training):

1. **no worse than the champion**: mean per-model AUC at least the
   champion's minus ``auc_tolerance``, and Brier score at most the champion's
   plus ``brier_tolerance``, on the models both cover (passes when there is
   no champion yet);
2. **beats heuristic routing**: on every dataset of the log with at least
   three models, the candidate's AIQ (area under its cost-quality frontier,
   ``learned_router.routing_benchmark``) is above the heuristic triage router's. The
   log's prompts are split in half: the heuristic picks its cheap / mid /
   frontier models on one half, and both are scored on the other.

The decision, the reasons and the evidence are written as tags on the
version (``promotion.decision``, ``promotion.reasons``, ``promotion.evidence``),
whether it was promoted or refused.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from learned_router import data
from learned_router.bundle import Bundle
from learned_router.registry import CHAMPION, DEFAULT_MODEL_NAME, client, download_bundle
from training.platt import per_model_metrics, summarise


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class PromotionDecision:
    model_name: str
    version: str
    promoted: bool
    champion_before: str | None
    gates: tuple[Gate, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f"{g.name}: {'pass' if g.passed else 'FAIL'} ({g.detail})" for g in self.gates]


def quality_metrics(bundle: Bundle, log: data.OutcomeLog) -> dict[str, float]:
    """Mean per-model AUC, Brier, ECE of ``bundle`` on ``log`` (models it covers)."""
    catalog = bundle.catalog()
    known = [m for m in log.models if catalog.knows(m) and catalog.resolve(m) in bundle.models]
    if not known:
        return {"auc": float("nan"), "brier": float("nan"), "ece": float("nan"), "models": 0}
    part = log.select(models=known).with_catalog_names(catalog)
    models = list(part.models)
    matrix = part.matrix(models)
    p = bundle.scorer().p_success(list(matrix.prompts), models)
    return summarise(per_model_metrics(p, matrix.quality, models))


def routing_against_heuristic(
    bundle_dir: Path, log: data.OutcomeLog, *, seed: int = 0
) -> dict[str, Any]:
    """Per dataset: AIQ of the candidate and of heuristic triage (see the module docstring)."""
    from learned_router.errors import DatasetNotUsableError
    from learned_router.routing_benchmark import (
        BenchConfig,
        EmbeddingCache,
        PredictorRouter,
        load_learned_predictor,
    )
    from learned_router.routing_benchmark.harness import evaluate_dataset, prepare_dataset
    from learned_router.routing_benchmark.routers import HeuristicTriage

    predictor = load_learned_predictor(bundle_dir)
    config = BenchConfig(seed=seed, fractions={"train": 0.5, "test": 0.5}, bootstrap_resamples=0)
    splits = data.split_prompts(log, fractions=dict(config.fractions), seed=seed)
    catalog = Bundle.load(bundle_dir).catalog()
    with tempfile.TemporaryDirectory() as cache:
        embed = EmbeddingCache(predictor.embed, name="promotion", cache_dir=Path(cache))  # type: ignore[attr-defined]
        out: dict[str, Any] = {}
        for name in log.datasets:
            try:
                prepared = prepare_dataset(
                    log, name, splits.assignment, embed=embed, config=config, catalog=catalog
                )
            except DatasetNotUsableError as error:
                out[name] = {"skipped": str(error)}
                continue
            result = evaluate_dataset(
                prepared,
                [HeuristicTriage(), PredictorRouter(predictor, name="candidate")],
                config=config,
            )
            out[name] = {
                "candidate_aiq": result.router("candidate").aiq.value,
                "heuristic_aiq": result.router("heuristic-triage").aiq.value,
                "held_out_prompts": len(prepared.held_out.inputs),
            }
    return out


def promote(
    version: str,
    *,
    eval_data: list[str],
    model_name: str = DEFAULT_MODEL_NAME,
    auc_tolerance: float = 0.005,
    brier_tolerance: float = 0.005,
    extra_gates: Sequence[Gate] = (),
) -> PromotionDecision:
    """Checks the gates for ``version`` and moves the champion alias if they pass.

    ``extra_gates`` are further checks the caller already ran (e.g. the drift
    loop's replay of recent traffic, ``training.retrain``); all must pass too.
    """
    registry = client()
    candidate_dir = download_bundle(f"models:/{model_name}/{version}")
    candidate = Bundle.load(candidate_dir)
    champion_version: str | None = None
    try:
        champion_version = str(registry.get_model_version_by_alias(model_name, CHAMPION).version)
    except Exception:  # MLflow raises its own exception when the alias does not exist
        champion_version = None
    with tempfile.TemporaryDirectory() as tmp:
        log = data.load(eval_data, rejects=Path(tmp) / "rejects.jsonl")
    evidence: dict[str, Any] = {"eval_data": list(eval_data), "eval_prompts": log.num_prompts}

    cand = quality_metrics(candidate, log)
    evidence["candidate"] = cand
    gates = []
    if champion_version is None or champion_version == version:
        gates.append(
            Gate(
                "no worse than champion",
                True,
                "no champion yet" if champion_version is None else "this version is the champion",
            )
        )
    else:
        champion = Bundle.load(download_bundle(f"models:/{model_name}/{champion_version}"))
        champ = quality_metrics(champion, log)
        evidence["champion"] = {"version": champion_version, **champ}
        ok = (
            cand["auc"] >= champ["auc"] - auc_tolerance
            and cand["brier"] <= champ["brier"] + brier_tolerance
        )
        gates.append(
            Gate(
                "no worse than champion",
                bool(ok),
                f"AUC {cand['auc']:.4f} vs {champ['auc']:.4f} (tolerance {auc_tolerance}), "
                f"Brier {cand['brier']:.4f} vs {champ['brier']:.4f} (tolerance {brier_tolerance})",
            )
        )

    routing = routing_against_heuristic(candidate_dir, log)
    evidence["routing"] = routing
    scored = {k: v for k, v in routing.items() if "candidate_aiq" in v}
    if not scored:
        gates.append(
            Gate("beats heuristic routing", False, "no dataset in the eval log has >= 3 models")
        )
    else:
        losing = [k for k, v in scored.items() if not v["candidate_aiq"] > v["heuristic_aiq"]]
        detail = "; ".join(
            f"{k}: AIQ {v['candidate_aiq']:.4f} vs {v['heuristic_aiq']:.4f}"
            for k, v in scored.items()
        )
        gates.append(Gate("beats heuristic routing", not losing, detail))

    gates.extend(extra_gates)
    promoted = all(g.passed for g in gates)
    decision = PromotionDecision(
        model_name, version, promoted, champion_version, tuple(gates), evidence
    )
    registry.set_model_version_tag(
        model_name, version, "promotion.decision", "promoted" if promoted else "refused"
    )
    registry.set_model_version_tag(
        model_name, version, "promotion.reasons", "\n".join(decision.reasons)
    )
    registry.set_model_version_tag(
        model_name,
        version,
        "promotion.evidence",
        json.dumps(_finite(evidence), default=str)[:5000],
    )
    if promoted:
        registry.set_registered_model_alias(model_name, CHAMPION, version)
    return decision


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
