"""Retraining triggered by drift, end to end on an embedded MLflow store:
alert -> training run linked to it -> `challenger` -> gates (with the replay of
recent traffic) -> `champion`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import synthetic

pytest.importorskip("torch", reason="training needs the train extra")

from training.config import load_config
from training.retrain import (
    CHALLENGER,
    replay_gate,
    retrain_on_alert,
    split_recent_outcomes,
    thin_models,
)

from learned_router import data
from learned_router.bundle import Bundle, write_manifest
from learned_router.data.splits import prompt_group
from learned_router.drift import DriftAlert
from learned_router.errors import InvalidInputError
from learned_router.outcomes import OutcomeRecord, OutcomeStore
from learned_router.registry import CHAMPION, client, download_bundle


def _drifted_traffic(path: Path, n: int = 60) -> Path:
    """Production outcomes after the drift: `cheap` now fails formatting tasks."""
    rng = np.random.default_rng(9)
    with OutcomeStore(path) as store:
        records = []
        for i in range(n):
            prompt = synthetic.TASKS["format"][i % 2].format(n=3000 + i)
            for model in synthetic.MODELS:
                quality = 0.0 if model == "cheap" else float(rng.random() < 0.97)
                records.append(
                    OutcomeRecord(
                        prompt_id=f"d-{i}-{model}",
                        prompt=prompt,
                        model=model,
                        quality=quality,
                        task="format",
                        dataset="production",
                        quality_scale="correct(0/1)",
                    )
                )
        store.append_many(records)
    return path


def test_the_replay_gate_judges_on_records_the_retrain_never_saw(tmp_path: Path) -> None:
    store = _drifted_traffic(tmp_path / "outcomes.sqlite", n=60)
    split = split_recent_outcomes(store, 0.2, tmp_path / "split")
    assert split.train is not None
    assert split.recent is not None
    train = data.load([split.train], rejects=tmp_path / "r1.jsonl")
    recent = data.load([split.recent], rejects=tmp_path / "r2.jsonl")
    # The latest 20% of 180 records (prompts 48-59, three models each) ...
    assert (split.recent_records, recent.num_outcomes) == (36, 36)
    assert {k[1].split("-")[1] for k in recent.prompt_keys()} == {str(i) for i in range(48, 60)}
    # ... and no record of those prompts is trained on; the label source keeps its name.
    texts = {prompt_group(t) for t in recent.prompts.column("prompt").to_pylist()}
    assert not texts & {prompt_group(t) for t in train.prompts.column("prompt").to_pylist()}
    assert split.train_records == train.num_outcomes == 144
    assert train.datasets == recent.datasets == ("production",)
    with pytest.raises(InvalidInputError, match="recent_share"):
        split_recent_outcomes(store, 1.0, tmp_path / "bad")


@pytest.mark.slow
def test_an_alert_retrains_a_challenger_promoted_only_through_the_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    base = synthetic.write_log(tmp_path / "base.jsonl", prompts_per_task=100)
    store = _drifted_traffic(tmp_path / "outcomes.sqlite")
    eval_log = synthetic.write_log(
        tmp_path / "eval.jsonl", prompts_per_task=80, seed=5, first_number=5000
    )
    config = load_config(
        None,
        **{
            "data.catalog": str(synthetic.write_catalog(tmp_path / "catalog.toml")),
            "encoder.student_layers": [0],
            "encoder.max_tokens": 32,
            "encoder.head_tokens": 8,
            "encoder.reuse_from": "",
            "quality.hidden": 32,
            "quality.epochs": 60,
            "quality.patience": 10,
            "quality.learning_rate": 1e-2,
            "quality.centroids": 32,
            "quality.prior_strength": 5.0,
            "output.bundle_dir": str(tmp_path / "bundle"),
            "output.cache_dir": str(tmp_path / "cache"),
            "tracking.tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
            "tracking.experiment": "tests",
        },
    )
    alert = DriftAlert(
        alert_id="a1b2c3",
        model="cheap",
        signal="shadow_agreement",
        magnitude=-0.6,
        interval=(-0.8, -0.4),
        baseline=0.95,
        recent=0.35,
        window=(100, 140),
        samples_before=100,
        samples_after=40,
        evidence_ids=("r1", "r2"),
        threshold=9.0,
    ).as_dict()
    result = retrain_on_alert(
        alert,
        config=config,
        base_data=[str(base)],
        eval_data=[str(eval_log)],
        outcome_store=str(store),
    )
    registry = client()
    assert str(registry.get_model_version_by_alias("learned-router", CHALLENGER).version) == (
        result.version
    )
    assert result.run_id is not None
    run = registry.get_run(result.run_id)
    assert run.data.tags["drift.alert_id"] == "a1b2c3"
    assert run.data.tags["trigger"] == "drift-alert"
    artifacts = [a.path for a in registry.list_artifacts(result.run_id)]
    assert "drift_alert.json" in artifacts
    # What the retrain could learn from, per model (each graded alike here).
    assert "store_coverage.json" in artifacts
    assert run.data.tags["drift.store_thinnest_model"] in synthetic.MODELS
    # Trained on the recorded outcomes too, except their latest 20% (12 prompts x 3
    # models), which the replay gate judges on instead.
    assert "outcomes.parquet" in run.data.params["data.paths"]
    assert str(store) not in run.data.params["data.paths"]
    assert run.data.tags["drift.outcome_store"] == str(store)
    assert run.data.tags["drift.recent_share"] == "0.2"
    gates = {g.name: g for g in result.decision.gates}
    assert set(gates) == {
        "no worse than champion",
        "beats heuristic routing",
        "replay of recent traffic",
    }
    assert gates["replay of recent traffic"].detail.endswith(" on 36")
    assert result.decision.promoted, result.decision.reasons
    assert str(registry.get_model_version_by_alias("learned-router", CHAMPION).version) == (
        result.version
    )

    # The replay gate refuses a candidate that predicts recent traffic worse.
    champion = Bundle.load(download_bundle(f"models:/learned-router/{result.version}"))
    worse = tmp_path / "worse"
    shutil.copytree(champion.path, worse)
    with np.load(worse / "heads.npz") as heads:
        arrays = {k: heads[k] for k in heads.files}
    for name in ("ability", "prior"):  # everything looks certain to succeed
        arrays[name] = arrays[name] + 4.0
    np.savez(worse / "heads.npz", **arrays)
    manifest = json.loads((worse / "manifest.json").read_text())
    write_manifest(
        worse, {k: v for k, v in manifest.items() if k not in ("files", "format", "format_version")}
    )
    refused = replay_gate(Bundle.load(worse), champion, [str(store)])
    assert not refused.passed
    assert "Brier" in refused.detail
    assert replay_gate(champion, champion, [str(store)]).passed


def test_the_split_counts_each_models_training_records_and_names_thin_ones(
    tmp_path: Path,
) -> None:
    # A tenant's store where the priciest model was hardly ever routed or explored:
    # with joint trust the retrain could not learn the tenant's ranking (docs/drift.md).
    with OutcomeStore(tmp_path / "outcomes.sqlite") as store:
        store.append_many(
            [
                OutcomeRecord(
                    prompt_id=str(i),
                    prompt=f"question {i}",
                    model="pricey" if i % 100 == 0 else "cheap",
                    quality=1.0,
                )
                for i in range(1000)
            ]
        )
    split = split_recent_outcomes(tmp_path / "outcomes.sqlite", 0.2, tmp_path / "split")
    assert split.train_per_model == {"cheap": 792, "pricey": 8}
    assert sum(split.train_per_model.values()) == split.train_records
    assert thin_models(split.train_per_model) == ["pricey"]
    assert thin_models({"a": 100, "b": 60}) == []
    assert thin_models({}) == []
