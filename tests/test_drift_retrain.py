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
from training.retrain import CHALLENGER, replay_gate, retrain_on_alert

from learned_router.bundle import Bundle, write_manifest
from learned_router.drift import DriftAlert
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
        recent_traffic=[str(store)],
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
    assert "drift_alert.json" in [a.path for a in registry.list_artifacts(result.run_id)]
    assert str(store) in run.data.params["data.paths"]  # trained on the recorded outcomes too
    gates = {g.name: g for g in result.decision.gates}
    assert set(gates) == {
        "no worse than champion",
        "beats heuristic routing",
        "replay of recent traffic",
    }
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
