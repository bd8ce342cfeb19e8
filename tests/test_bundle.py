"""The bundle format, owned by learned_router.bundle: typed manifest, writer, reader,
``with_model``, and the quality-model factory keyed on ``heads.kind``."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from bundles import make_tiny_bundle
from learned_router import predictor as predictor_module
from learned_router.bundle import (
    AddedModelRecord,
    Bundle,
    BundleManifest,
    ModelEntry,
    verify_bundle,
    write_bundle,
)
from learned_router.errors import BundleError, InvalidInputError
from learned_router.predictor import (
    QualityModel,
    QualityPrediction,
    QualityPredictor,
    StoredQuality,
)

PROMPTS = ["summarise this memo", "review this contract clause for liability"]
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"


def _rewrite(bundle: Bundle, target: Path, **changes: object) -> Bundle:
    """``bundle`` written again through :func:`write_bundle`, with ``changes``."""
    options: dict[str, object] = {
        "manifest": bundle.manifest,
        "quality": bundle.quality_model(),
        "entries": bundle.entries,
        "encoder_onnx": bundle.path / "encoder.onnx",
        "tokenizer": bundle.path / "tokenizer.json",
        "output_lengths": bundle.output_lengths,
        "catalog": bundle.catalog(),
        "model_card": "# rewritten\n",
        **changes,
    }
    return write_bundle(target, **options)  # type: ignore[arg-type]


def test_write_bundle_round_trips_predictions_and_manifest(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    original = Bundle.load(tiny_bundle)
    copy = _rewrite(original, tmp_path / "copy", train_prompt_groups=["a", "b", "a"])
    assert copy.models == original.models
    assert copy.scales == original.scales
    assert copy.manifest.encoder == original.manifest.encoder
    assert copy.manifest.heads.kind == "mlp-heads"
    assert copy.train_prompt_groups() == frozenset({"a", "b"})
    np.testing.assert_array_equal(
        copy.scorer().p_success(PROMPTS), original.scorer().p_success(PROMPTS)
    )
    raw = json.loads((copy.path / "manifest.json").read_text())
    assert raw["heads"] == {"kind": "mlp-heads"}
    assert set(raw["files"]) >= {"encoder.onnx", "heads.npz", "train_prompt_groups.npy"}
    assert not (tmp_path / ".copy.staging").exists()


def test_a_failed_write_leaves_the_target_as_it_was(tiny_bundle: Path, tmp_path: Path) -> None:
    original = Bundle.load(tiny_bundle)
    target = _rewrite(original, tmp_path / "target").path
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(FileNotFoundError):
        _rewrite(original, target, encoder_onnx=tmp_path / "missing.onnx")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert not (tmp_path / ".target.staging").exists()
    with pytest.raises(BundleError, match="model entries and the quality model's models differ"):
        _rewrite(original, target, entries=original.entries[:-1])


def test_manifest_json_round_trip_keeps_unknown_fields() -> None:
    raw = {
        "name": "x",
        "encoder": {"truncation": {"max_tokens": 16, "head_tokens": 4}, "dim": 8},
        "metrics": {"test_auc": 0.7},
        "added_models": [{"model": "m", "labels": 60, "at": "2026-01-01", "data": ["a.jsonl"]}],
        "future_field": {"kept": True},
    }
    manifest = BundleManifest.from_json(raw)
    assert manifest.heads.kind == "mlp-heads"  # manifests before heads.kind existed
    assert manifest.added_models == (AddedModelRecord("m", 60, "2026-01-01", ("a.jsonl",)),)
    again = manifest.to_json()
    assert again["future_field"] == {"kept": True}
    assert again["metrics"] == {"test_auc": 0.7}
    assert BundleManifest.from_json(again) == manifest


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "x"}, "encoder"),
        ({"encoder": {"truncation": {"max_tokens": 16}}}, "head_tokens"),
        ({"encoder": {"truncation": {"max_tokens": "many", "head_tokens": 4}}}, "many"),
    ],
)
def test_a_malformed_manifest_is_refused_naming_the_field(
    raw: dict[str, object], field: str
) -> None:
    with pytest.raises(BundleError, match=f"manifest is malformed.*{field}"):
        BundleManifest.from_json(raw, source="here/manifest.json")


def test_the_shipped_bundle_still_loads() -> None:
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("models/default is not in this checkout")
    bundle = Bundle.load(SHIPPED)
    assert bundle.manifest.heads.kind == "latent-v2"
    assert len(bundle.models) == len(bundle.entries) > 10
    assert bundle.manifest.encoder.truncation.max_tokens == 128


def test_a_manifest_written_before_heads_kind_reads_as_mlp_heads(tiny_bundle: Path) -> None:
    raw = json.loads((tiny_bundle / "manifest.json").read_text())
    raw.pop("heads", None)
    assert BundleManifest.from_json(raw).heads.kind == "mlp-heads"


def test_with_model_writes_a_new_bundle_and_leaves_the_old_one(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    base = Bundle.load(_rewrite(Bundle.load(tiny_bundle), tmp_path / "base").path)
    before = {p.name: p.read_bytes() for p in base.path.iterdir()}
    quality = base.quality_model()
    assert isinstance(quality, QualityPredictor)
    grown = quality.with_model("gpt-new", np.ones(quality.heads.model_vectors.shape[1]), 0.5)
    added = AddedModelRecord("gpt-new", 120, "2026-12-01T00:00:00+00:00", ("new.jsonl",))
    new = base.with_model(
        tmp_path / "new",
        quality=grown,
        entry=ModelEntry("gpt-new", train_labels=120, added_after_training=True),
        added=added,
    )
    assert {p.name: p.read_bytes() for p in base.path.iterdir()} == before
    reloaded = Bundle.load(new.path)
    assert reloaded.models == (*base.models, "gpt-new")
    assert reloaded.manifest.added_models == (added,)
    assert reloaded.entries[-1].added_after_training
    old_p = base.scorer().p_success(PROMPTS)
    new_p = reloaded.scorer().p_success(PROMPTS)
    np.testing.assert_allclose(new_p[:, :-1], old_p)  # existing heads untouched
    assert new_p.shape == (2, len(base.models) + 1)
    with pytest.raises(BundleError, match="another folder"):
        base.with_model(base.path, quality=grown, entry=ModelEntry("gpt-new"), added=added)
    with pytest.raises(BundleError, match="expected this bundle's models"):
        base.with_model(tmp_path / "bad", quality=quality, entry=ModelEntry("x"), added=added)
    with pytest.raises(InvalidInputError, match="already has a head"):
        grown.with_model("gpt-new", np.ones(quality.heads.model_vectors.shape[1]), 0.0)


def _set_kind(folder: Path, kind: str) -> None:
    raw = json.loads((folder / "manifest.json").read_text())
    raw["heads"] = {"kind": kind}
    (folder / "manifest.json").write_text(json.dumps(raw))


def test_an_unknown_quality_model_kind_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    _set_kind(folder, "irt-v9")
    with pytest.raises(BundleError, match=r"kind 'irt-v9' is unknown.*mlp-heads"):
        Bundle.load(folder)


class _ConstantModel:
    """A different architecture: every model's P(success) is its stored constant,
    with a support value. Registered only inside the test below."""

    kind: ClassVar[str] = "constant-test"

    def __init__(self, models: Sequence[str], scales: Sequence[str], p: npt.NDArray[np.float64]):
        self.models = tuple(models)
        self.scales = tuple(scales)
        self._p = p

    @property
    def dim(self) -> int:
        return 8

    def columns(self, models: Sequence[str]) -> npt.NDArray[np.intp]:
        return np.array([self.models.index(m) for m in models], dtype=np.intp)

    def predict(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> QualityPrediction:
        cols = self.columns(models) if models is not None else np.arange(len(self.models))
        p = np.tile(self._p[cols], (len(embeddings), 1))
        return QualityPrediction(p, support=np.full_like(p, 3.0))

    def p_success(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> npt.NDArray[np.float64]:
        return self.predict(embeddings, models=models, scale=scale).p_success

    def to_stored(self) -> StoredQuality:
        return StoredQuality({"p": self._p}, {"method": "none"})

    @classmethod
    def from_stored(
        cls, stored: StoredQuality, models: Sequence[str], scales: Sequence[str]
    ) -> QualityModel:
        return cls(models, scales, np.asarray(stored.arrays["p"], dtype=np.float64))


def test_a_new_architecture_drops_in_through_heads_kind(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seam the next quality model uses: register a kind, write it, and the Router,
    the scorer and the benchmark predictor all score with it."""
    monkeypatch.setitem(predictor_module._KINDS, _ConstantModel.kind, _ConstantModel)
    tiny = Bundle.load(tiny_bundle)
    p = np.linspace(0.2, 0.9, len(tiny.models))
    bundle = _rewrite(
        tiny, tmp_path / "constant", quality=_ConstantModel(tiny.models, tiny.scales, p)
    )
    assert json.loads((bundle.path / "manifest.json").read_text())["heads"]["kind"] == (
        "constant-test"
    )
    loaded = Bundle.load(bundle.path)
    assert isinstance(loaded.quality_model(), _ConstantModel)
    prediction = loaded.scorer().predict(PROMPTS)
    np.testing.assert_allclose(prediction.p_success, np.tile(p, (2, 1)))
    assert prediction.support is not None

    from learned_router.router import Router
    from learned_router.routing_benchmark.learned import BundlePredictor

    router = Router(loaded, capacity=False)
    np.testing.assert_allclose(router.predict(PROMPTS, models=["small"]), [[p[0]], [p[0]]])
    best = tiny.models[int(np.argmax(p))]
    assert router.route(PROMPTS[0], min_quality=0.99).model == best  # fallback: highest P
    np.testing.assert_allclose(
        BundlePredictor(bundle.path).predict_quality(PROMPTS, ["small"]), [[p[0]], [p[0]]]
    )


def test_verify_bundle_returns_the_typed_manifest(tiny_bundle: Path) -> None:
    manifest = verify_bundle(tiny_bundle)
    assert isinstance(manifest, BundleManifest)
    assert manifest.name == "tiny"
    assert set(manifest.files) >= {"encoder.onnx", "heads.npz"}
    assert dataclasses.replace(manifest, name="y").name == "y"


def test_a_mismatch_between_heads_and_models_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = make_tiny_bundle(tmp_path / "b", models=("small", "mid"))
    models = json.loads((folder / "models.json").read_text())
    models["models"].append({"id": "frontier"})
    (folder / "models.json").write_text(json.dumps(models))
    from learned_router.bundle import write_manifest

    write_manifest(folder, json.loads((folder / "manifest.json").read_text()))
    with pytest.raises(BundleError, match=r"heads\.npz has 2 models, models\.json 3"):
        Bundle.load(folder)


def test_the_shipped_bundle_stays_under_25_mb_and_its_card_lists_every_model() -> None:
    """Issue 10's limit on ``models/default`` (the 2,048 support centroids brought it
    to ~23 MB) and its model card: one row per model with its label count."""
    root = Path(__file__).resolve().parents[1] / "models" / "default"
    size = sum(f.stat().st_size for f in root.iterdir() if f.is_file())
    assert size <= 25_000_000, f"models/default is {size / 1e6:.1f} MB"
    models = json.loads((root / "models.json").read_text())["models"]
    rows = {
        cells[1].strip(): cells[2].strip()
        for line in (root / "model_card.md").read_text().splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) >= 9
    }
    for entry in models:
        assert rows.get(entry["id"]) == str(entry["train_labels"]), entry["id"]
