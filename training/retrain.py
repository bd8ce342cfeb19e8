"""Retraining triggered by drift: alert -> training run -> `challenger` -> gated promotion.

:func:`retrain_on_alert` is what a drift alert (or a schedule) starts:

1. trains on the base logs plus the outcome store (recorded outcomes) plus
   the shadow labels (golden-model outcomes written by the monitor), with
   the given training config (``training.train.main``), *except* the store's
   most recent records (``recent_share``, default 20%) and every other record
   of their prompts: those are what the replay gate judges on, so the gate
   never scores the challenger on outcomes it was trained on;
2. links the MLflow run to the alert: tags ``drift.alert_id``,
   ``drift.model``, ``drift.signal``, ``drift.magnitude`` and the alert JSON
   as an artifact;
3. registers the bundle as a new version and points the ``challenger`` alias
   at it;
4. runs the existing promotion gates (``training.promote``) with one more:
   **replay of recent traffic** — on the held-out recent records (plus any
   ``recent_traffic`` logs given), the challenger's Brier score must be at
   most the champion's plus a tolerance (so a retrain that did not learn the
   drift is refused).
   ``champion`` moves only if every gate passes.

Runs end to end on the embedded sqlite MLflow store.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from learned_router import data
from learned_router.bundle import Bundle
from learned_router.data.splits import prompt_group
from learned_router.errors import InvalidInputError
from learned_router.outcomes import read_store
from learned_router.registry import CHAMPION, DEFAULT_MODEL_NAME, client, download_bundle
from training.config import TrainConfig
from training.promote import Gate, PromotionDecision, promote

CHALLENGER = "challenger"
THIN_MODEL_SHARE = 0.05
"""A model with fewer training records in the store than this share of the
most-recorded model's is named in a warning (see ``StoreSplit.train_per_model``)."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainResult:
    run_id: str | None
    version: str
    decision: PromotionDecision


@dataclass(frozen=True)
class StoreSplit:
    """An outcome store split for a retrain: what it trains on and what its gate judges on."""

    train: Path | None
    """Older records, without any prompt of the recent part (None: nothing left)."""
    recent: Path | None
    """The most recent records (None: the store is empty or the share is 0)."""
    train_records: int
    recent_records: int
    train_per_model: dict[str, int] = dataclasses.field(default_factory=dict)
    """Training records per model. With joint trust (the shipped setting) a prompt's
    region counts only as far as its least-graded candidate was graded there: a
    model with few of the tenant's outcomes keeps the retrained bundle on its
    priors for every request it is a candidate of (docs/drift.md, "Retraining on
    the tenant's outcomes")."""


def split_recent_outcomes(store: str | Path, share: float, out_dir: Path) -> StoreSplit:
    """Splits an outcome store by record order: its latest ``share`` of records are
    held out for the replay gate, and older records of the same prompts (grouped by
    normalised text) are left out of training too. Both parts are written as
    Parquet named after the store, so they keep its dataset (label source) name.

    >>> import tempfile, pathlib
    >>> from learned_router.outcomes import OutcomeRecord, OutcomeStore
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with OutcomeStore(tmp / "outcomes.sqlite") as store:
    ...     _ = store.append_many([OutcomeRecord(prompt_id=str(i), prompt=f"q {i % 4}",
    ...                                          model="m", quality=1.0) for i in range(10)])
    >>> split = split_recent_outcomes(tmp / "outcomes.sqlite", 0.2, tmp / "split")
    >>> split.train_records, split.recent_records, split.train_per_model
    (4, 2, {'m': 4})
    """
    if not 0.0 <= share < 1.0:
        raise InvalidInputError(f"recent_share must be in [0, 1), got {share}")
    store = Path(store)
    table = read_store(store)
    n = table.num_rows
    held = 0 if n == 0 or share == 0.0 else max(1, round(share * n))
    flat = table.drop_columns([c for c in ("id", "decision_id") if c in table.column_names])
    if "dataset" in flat.column_names:
        filled = pc.fill_null(flat.column("dataset"), store.stem)
        flat = flat.set_column(flat.column_names.index("dataset"), "dataset", filled)
    prompts = flat.column("prompt").to_pylist()
    ids = flat.column("prompt_id").to_pylist()
    groups = [prompt_group(p) if p else f"id:{i}" for p, i in zip(prompts, ids, strict=True)]
    recent_groups = set(groups[n - held :])
    recent_mask = np.arange(n) >= n - held
    train_mask = ~recent_mask & np.array([g not in recent_groups for g in groups], dtype=bool)

    def write(mask: np.ndarray, part: str) -> Path | None:
        if not mask.any():
            return None
        path = out_dir / part / f"{store.stem}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(flat.filter(pa.array(mask)), path)
        return path

    models = flat.column("model").to_pylist()
    per_model = Counter(m for m, keep in zip(models, train_mask, strict=True) if keep)
    return StoreSplit(
        write(train_mask, "train"),
        write(recent_mask, "recent"),
        int(train_mask.sum()),
        int(recent_mask.sum()),
        dict(sorted(per_model.items())),
    )


def thin_models(per_model: Mapping[str, int], share: float = THIN_MODEL_SHARE) -> list[str]:
    """The models with fewer records than ``share`` of the most-recorded one's.

    >>> thin_models({"gemma": 13955, "llama-70b": 34, "qwen": 1995})
    ['llama-70b']
    """
    if not per_model:
        return []
    most = max(per_model.values())
    return [m for m, n in per_model.items() if n < share * most]


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
    recent_traffic: Sequence[str] = (),
    outcome_store: str | None = None,
    shadow_labels: str | None = None,
    recent_share: float = 0.2,
    model_name: str = DEFAULT_MODEL_NAME,
    replay_tolerance: float = 0.0,
) -> RetrainResult:
    """Retrains after ``alert`` (``DriftAlert.as_dict()``); see the module docstring."""
    from training.train import main

    with tempfile.TemporaryDirectory() as tmp:
        store_train: str | None = outcome_store
        recent = list(recent_traffic)
        coverage: dict[str, int] = {}
        if outcome_store is not None:
            split = split_recent_outcomes(outcome_store, recent_share, Path(tmp))
            coverage = split.train_per_model
            thin = thin_models(coverage)
            if thin:
                log.warning(
                    "retrain: the outcome store grades %s far less than its most-recorded model "
                    "(%s); with joint trust the retrained bundle stays on its priors wherever "
                    "those are candidates. Explore them (Explorer(max_cost_ratio=None)) or add "
                    "shadow labels of them",
                    thin,
                    coverage,
                )
            store_train = str(split.train) if split.train else None
            recent += [str(split.recent)] if split.recent else []
        if not recent:
            raise InvalidInputError(
                "retrain_on_alert: nothing to replay for the gate; give an outcome_store "
                "(its recent records are held out) or recent_traffic logs"
            )
        paths = [*base_data, *(p for p in (store_train, shadow_labels) if p)]
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
                # data.paths holds the store's temporary training part; name the
                # store itself and what was held out of it, for lineage.
                "drift.outcome_store": str(outcome_store or ""),
                "drift.recent_share": str(recent_share),
            }
            for key, value in tags.items():
                registry.set_tag(result.run_id, key, value)
            import json

            path = Path(tmp) / "drift_alert.json"
            path.write_text(json.dumps(dict(alert), default=str, indent=1))
            registry.log_artifact(result.run_id, str(path))
            if coverage:
                # The store's training records per model: what the retrain could learn.
                path = Path(tmp) / "store_coverage.json"
                path.write_text(json.dumps(coverage, indent=1))
                registry.log_artifact(result.run_id, str(path))
                registry.set_tag(
                    result.run_id,
                    "drift.store_thinnest_model",
                    min(coverage, key=coverage.__getitem__),
                )
        version = str(result.model_version)
        registry.set_registered_model_alias(model_name, CHALLENGER, version)
        registry.set_model_version_tag(
            model_name, version, "drift.alert_id", str(alert.get("alert_id", ""))
        )
        try:
            champion_version = str(
                registry.get_model_version_by_alias(model_name, CHAMPION).version
            )
            champion: Bundle | None = Bundle.load(
                download_bundle(f"models:/{model_name}/{champion_version}")
            )
        except Exception:  # MLflow raises its own exception when the alias does not exist
            champion = None
        candidate = Bundle.load(download_bundle(f"models:/{model_name}/{version}"))
        gate = replay_gate(candidate, champion, recent, tolerance=replay_tolerance)
    decision = promote(
        version, eval_data=list(eval_data), model_name=model_name, extra_gates=[gate]
    )
    return RetrainResult(result.run_id, version, decision)
