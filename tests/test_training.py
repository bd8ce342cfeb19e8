"""Training end to end on a tiny synthetic log (training.train), plus its parts.

The end-to-end test runs the real pipeline: teacher embeddings, a one-layer
student distilled and exported to int8 ONNX, heads, calibration, parity
check, bundle, MLflow run and registered version, pyfunc loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import synthetic

pytest.importorskip("torch", reason="training needs the train extra")

from training.config import load_config
from training.train import main


def _config(root: Path, **overrides: Any) -> Any:
    values = {
        "data.paths": [str(synthetic.write_log(root / "log.jsonl", prompts_per_task=100))],
        "data.catalog": str(synthetic.write_catalog(root / "catalog.toml")),
        "encoder.student_layers": [0],
        "encoder.max_tokens": 32,
        "encoder.head_tokens": 8,
        # One epoch of distillation (the shipped config runs none) so the test
        # covers it; no teacher comparison, to keep the run short.
        "encoder.distill_epochs": 1,
        "encoder.compare_teacher": False,
        "encoder.reuse_from": "",
        "encoder.distill_batch_size": 16,
        "encoder.distill_learning_rate": 3e-4,
        "quality.hidden": 32,
        "quality.epochs": 60,
        "quality.patience": 10,
        "quality.learning_rate": 1e-2,
        # A few hundred prompts: fewer centroids, and trust a prompt's own estimate sooner.
        "quality.centroids": 32,
        "quality.prior_strength": 5.0,
        "output.bundle_dir": str(root / "bundle"),
        "output.cache_dir": str(root / "cache"),
        "tracking.tracking_uri": f"sqlite:///{root}/mlflow.db",
        "tracking.experiment": "tests",
    }
    values.update(overrides)
    return load_config(None, **values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("training")
    return root, main(_config(root))


@pytest.mark.slow
def test_a_run_writes_a_verified_bundle_that_learned_the_signal(trained: Any) -> None:
    from learned_router.router import Router

    _root, result = trained
    router = Router.load(result.bundle)
    assert router.models == ("cheap", "frontier", "mid")
    p = router.predict(
        ["Prove lemma 71 about primes by induction", "Convert the date 12 March to ISO format"],
        models=["cheap", "frontier"],
    )
    # cheap fails proofs and solves formatting; the heads must have seen that.
    assert p[1, 0] - p[0, 0] > 0.3
    assert p[0, 1] > p[0, 0]
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["encoder"]["truncation"] == {"max_tokens": 32, "head_tokens": 8}
    assert manifest["data"]["fingerprint"]
    assert set(manifest["files"]) >= {"encoder.onnx", "heads.npz", "model_card.md"}
    assert "pickle" not in (result.bundle / "model_card.md").read_text()
    assert result.metrics["parity_max_abs_diff"] < 0.08
    assert not any(path.suffix in {".pkl", ".pickle"} for path in result.bundle.iterdir())
    # The input-drift reference travels with the bundle: a distance, from held-out prompts.
    reference = router.quality.novelty_reference  # type: ignore[attr-defined]
    assert reference is not None
    assert 0.0 < reference < 2.0
    assert json.loads((result.bundle / "calibration.json").read_text())["novelty_reference"] == (
        pytest.approx(reference)
    )


@pytest.mark.slow
def test_a_run_is_tracked_and_registered_in_mlflow(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, result = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    from learned_router.registry import client, mlflow_module

    mlflow = mlflow_module()
    run = client().get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["data_fingerprint"]
    assert run.data.params["encoder.student_layers"] == "(0,)"
    assert "test_brier" in run.data.metrics
    history = client().get_metric_history(result.run_id, "quality_val_loss")
    assert len(history) >= 2
    assert result.model_version == "1"
    import pandas as pd

    model = mlflow.pyfunc.load_model("models:/learned-router/1")
    out = model.predict(
        pd.DataFrame({"prompt": ["Prove lemma 3 about primes by induction"]}),
        params={"min_quality": 0.5},
    )
    assert list(out.columns[:4]) == ["chosen_model", "p_success", "expected_cost_usd", "tier"]
    assert {"p_success:cheap", "p_success:mid", "p_success:frontier"} <= set(out.columns)


@pytest.mark.slow
def test_an_interrupted_run_leaves_the_store_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.train as train_module

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "prepare", interrupted)
    config = _config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        main(config)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    from learned_router.registry import client

    experiment = client().get_experiment_by_name("tests")
    runs = client().search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]
    assert not (tmp_path / "bundle").exists()


def test_parity_check_fails_a_broken_export() -> None:
    from training.encoder_model import student_encoder
    from training.train import ParityError, _embed_torch, parity_check

    from learned_router.encoder import Truncation

    student = student_encoder([0])
    truncation = Truncation(16, 4)
    texts = [f"prompt number {i}" for i in range(8)]
    exact = _embed_torch(student, texts, truncation)
    direction = np.random.default_rng(1).normal(size=(exact.shape[1], 2))

    def p_of(embeddings: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(embeddings @ direction)))

    labels = np.zeros((8, 2), dtype=np.float32)
    ok = parity_check(
        student,
        texts,
        exact,
        p_of,
        labels,
        ["a", "b"],
        truncation,
        max_abs_diff=1e-5,
        max_auc_drop=0.01,
    )
    assert ok["parity_max_abs_diff"] < 1e-5
    broken = exact + np.random.default_rng(0).normal(0, 0.05, exact.shape).astype(np.float32)
    with pytest.raises(ParityError, match="parity broken"):
        parity_check(
            student,
            texts,
            broken,
            p_of,
            labels,
            ["a", "b"],
            truncation,
            max_abs_diff=0.08,
            max_auc_drop=0.01,
        )


@pytest.mark.slow
def test_promotion_gates_promote_a_good_version_and_refuse_a_worse_one(
    trained: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from training.promote import promote

    from learned_router.bundle import write_manifest
    from learned_router.registry import client, mlflow_module

    root, result = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    # Held out from training: other prompt numbers than the training log's.
    eval_log = synthetic.write_log(
        tmp_path / "eval.jsonl", prompts_per_task=80, seed=5, first_number=5000
    )
    first = promote("1", eval_data=[str(eval_log)])
    assert first.promoted, first.reasons
    assert first.champion_before is None
    registry = client()
    assert str(registry.get_model_version_by_alias("learned-router", "champion").version) == "1"
    tags = registry.get_model_version("learned-router", "1").tags
    assert tags["promotion.decision"] == "promoted"
    assert "beats heuristic routing: pass" in tags["promotion.reasons"]

    # A worse version: the same bundle with scrambled heads, registered as version 2.
    worse = tmp_path / "worse"
    shutil.copytree(result.bundle, worse)
    with np.load(worse / "heads.npz") as heads:
        arrays = {k: heads[k] for k in heads.files}
    rng = np.random.default_rng(0)
    for name in ("model_vectors", "ability", "prior"):
        arrays[name] = rng.normal(size=arrays[name].shape).astype(np.float32) * 3
    np.savez(worse / "heads.npz", **arrays)
    manifest = json.loads((worse / "manifest.json").read_text())
    write_manifest(
        worse, {k: v for k, v in manifest.items() if k not in ("files", "format", "format_version")}
    )
    mlflow = mlflow_module()
    from training.tracking import pyfunc_code

    with mlflow.start_run(experiment_id=registry.get_experiment_by_name("tests").experiment_id):
        mlflow.pyfunc.log_model(
            name="router",
            python_model=str(pyfunc_code()),
            artifacts={"bundle": str(worse)},
            registered_model_name="learned-router",
        )
    second = promote("2", eval_data=[str(eval_log)])
    assert not second.promoted
    assert any(g.name == "no worse than champion" and not g.passed for g in second.gates)
    assert str(registry.get_model_version_by_alias("learned-router", "champion").version) == "1"
    assert registry.get_model_version("learned-router", "2").tags["promotion.decision"] == "refused"


def test_the_code_defaults_are_the_shipped_config() -> None:
    """A knob left out of a config file means what training/configs/default.toml says."""
    assert load_config(None) == load_config(
        Path(__file__).parents[1] / "training/configs/default.toml"
    )
