"""Model bundles: a self-describing folder, verified before anything is used.

A bundle holds everything the router needs to predict, and nothing
executable beyond the ONNX graph (no pickles):

``encoder.onnx``          the student prompt encoder (int8), with pooling
``tokenizer.json``        its WordPiece tokenizer
``heads.npz``             the quality heads' weights (plain arrays)
``models.json``           model ids in head order, label scales, metadata
``calibration.json``      per-model Platt scaling of the heads' logits
``output_lengths.json``   expected output tokens per (model, task)
``catalog.toml``          the price catalog at training time (live prices replace it)
``model_card.md``         data, method, metrics, latency, limits
``train_prompt_groups.npy``  (optional) hashes of the training prompts' texts, so
                          an evaluation can prove it holds none of them
``manifest.json``         format version, sha256 and size of every file above,
                          encoder settings, the quality model's kind, data
                          fingerprint, config, metrics (:class:`BundleManifest`)

This module owns the format: :class:`Bundle` reads it, :func:`write_bundle`
writes it (training and ``Bundle.with_model`` both go through it), and
:func:`verify_bundle` refuses a bundle whose manifest is missing or of an
unknown format, whose files are missing, or whose bytes differ from the
recorded checksums. ``bundle.quality_model()`` is the one way from a bundle
to P(success) (:mod:`learned_router.predictor`); ``bundle.scorer()`` adds the
encoder, for callers that hold prompts (:mod:`learned_router.scoring`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import learned_router.quality  # noqa: F401  (registers the "latent-v2" quality model kind)
from learned_router.catalog import Catalog
from learned_router.encoder import Encoder, Truncation
from learned_router.errors import BundleError
from learned_router.manifest import (
    MANIFEST,
    check_files,
    file_records,
    read_manifest,
    write_manifest_json,
)
from learned_router.predictor import (
    DEFAULT_KIND,
    QualityModel,
    StoredQuality,
    quality_model_from_stored,
)
from learned_router.tokens import TOKENIZER_PATH, OutputLengthModel, load_tokenizer

if TYPE_CHECKING:
    from learned_router.scoring import Scorer

FORMAT = "learned-router-bundle"
FORMAT_VERSION = 1
REQUIRED_FILES = (
    "encoder.onnx",
    "tokenizer.json",
    "heads.npz",
    "models.json",
    "calibration.json",
    "output_lengths.json",
    "catalog.toml",
    "model_card.md",
)
OPTIONAL_FILES = ("train_prompt_groups.npy",)
DEFAULT_BUNDLE = Path("models") / "default"


#: The encoder's position embeddings end here (BERT-style students: 512).
MAX_ENCODER_TOKENS = 512


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"encoder.truncation.{name} = {value!r} is not an integer")
    if name == "max_tokens" and not 3 <= value <= MAX_ENCODER_TOKENS:
        raise ValueError(f"encoder.truncation.max_tokens = {value} is not in [3, 512]")
    return value


# --- the manifest, typed -------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderInfo:
    """``manifest.json``'s ``encoder``: how prompts become embeddings."""

    truncation: Truncation
    dim: int | None = None
    teacher: str | None = None
    student_layers: tuple[int, ...] = ()
    quantization: str | None = None


@dataclass(frozen=True)
class HeadsInfo:
    """``manifest.json``'s ``heads``: which quality model the arrays hold
    (:func:`~learned_router.predictor.quality_model_from_stored` builds it)."""

    kind: str = DEFAULT_KIND


@dataclass(frozen=True)
class AddedModelRecord:
    """A model added after training (``python -m training add-model``)."""

    model: str
    labels: int
    at: str
    data: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRecord:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class BundleManifest:
    """``manifest.json``, typed. Provenance (``data``, ``config``, ``metrics``) stays
    free-form JSON; what the runtime reads has a type.

    >>> m = BundleManifest(name="tiny", encoder=EncoderInfo(Truncation(32, 8), dim=8))
    >>> BundleManifest.from_json(m.to_json()).heads.kind
    'mlp-heads'
    """

    name: str
    encoder: EncoderInfo
    heads: HeadsInfo = HeadsInfo()
    created_at: str | None = None
    package_version: str | None = None
    catalog_version: str | None = None
    mlflow_run_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    added_models: tuple[AddedModelRecord, ...] = ()
    files: Mapping[str, FileRecord] = field(default_factory=dict)
    """Filled by :func:`write_bundle`: sha256 and size of every file."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level fields this version does not know, kept as they were."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json`` (with format and version)."""
        t = self.encoder.truncation
        out: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "encoder": {
                "truncation": {"max_tokens": t.max_tokens, "head_tokens": t.head_tokens},
                **{
                    key: value
                    for key, value in (
                        ("dim", self.encoder.dim),
                        ("teacher", self.encoder.teacher),
                        ("student_layers", list(self.encoder.student_layers) or None),
                        ("quantization", self.encoder.quantization),
                    )
                    if value is not None
                },
            },
            "heads": {"kind": self.heads.kind},
            "files": {
                name: {"sha256": r.sha256, "bytes": r.bytes} for name, r in self.files.items()
            },
        }
        for key in ("created_at", "package_version", "catalog_version", "mlflow_run_id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("data", "config", "metrics"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.added_models:
            out["added_models"] = [
                {**dataclasses.asdict(r), "data": list(r.data)} for r in self.added_models
            ]
        return {**self.extra, **out}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], *, source: str = MANIFEST) -> BundleManifest:
        """Parses a manifest (bundles written before ``heads.kind`` existed read as
        ``mlp-heads``); raises :class:`BundleError` naming the field at fault."""
        try:
            encoder = raw["encoder"]
            truncation = encoder["truncation"]
            return cls(
                name=str(raw.get("name", "bundle")),
                encoder=EncoderInfo(
                    truncation=Truncation(
                        max_tokens=_int(truncation["max_tokens"], "max_tokens"),
                        head_tokens=_int(truncation["head_tokens"], "head_tokens"),
                    ),
                    dim=int(encoder["dim"]) if encoder.get("dim") is not None else None,
                    teacher=encoder.get("teacher"),
                    student_layers=tuple(int(x) for x in encoder.get("student_layers", ())),
                    quantization=encoder.get("quantization"),
                ),
                heads=HeadsInfo(kind=str(raw.get("heads", {}).get("kind", DEFAULT_KIND))),
                created_at=raw.get("created_at"),
                package_version=raw.get("package_version"),
                catalog_version=raw.get("catalog_version"),
                mlflow_run_id=raw.get("mlflow_run_id"),
                data=dict(raw.get("data", {})),
                config=dict(raw.get("config", {})),
                metrics=dict(raw.get("metrics", {})),
                added_models=tuple(
                    AddedModelRecord(
                        model=str(r["model"]),
                        labels=int(r["labels"]),
                        at=str(r["at"]),
                        data=tuple(str(d) for d in r.get("data", ())),
                    )
                    for r in raw.get("added_models", ())
                ),
                files={
                    name: FileRecord(sha256=str(r["sha256"]), bytes=int(r["bytes"]))
                    for name, r in raw.get("files", {}).items()
                },
                extra={k: v for k, v in raw.items() if k not in _MANIFEST_KEYS},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BundleError(
                f"{source}: the manifest is malformed ({error!r}); it needs at least "
                "encoder.truncation.max_tokens and .head_tokens. Rewrite it with "
                "learned_router.bundle.write_bundle instead of editing it by hand."
            ) from None


_MANIFEST_KEYS = frozenset(
    {"format", "format_version", *(f.name for f in dataclasses.fields(BundleManifest))} - {"extra"}
)


@dataclass(frozen=True)
class ModelEntry:
    """One model of ``models.json`` (its position is its column in the quality model)."""

    id: str
    train_labels: int | None = None
    catalog_version: str | None = None
    added_after_training: bool = False

    def to_json(self, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "index": index}
        if self.train_labels is not None:
            out["train_labels"] = self.train_labels
        if self.catalog_version is not None:
            out["catalog_version"] = self.catalog_version
        if self.added_after_training:
            out["added_after_training"] = True
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ModelEntry:
        return cls(
            id=str(raw["id"]),
            train_labels=int(raw["train_labels"]) if "train_labels" in raw else None,
            catalog_version=raw.get("catalog_version"),
            added_after_training=bool(raw.get("added_after_training", False)),
        )


# --- writing --------------------------------------------------------------------------------


def _seal(folder: Path, manifest: BundleManifest) -> BundleManifest:
    """Records every present file's checksum in ``manifest.json`` (atomically)."""
    present = [name for name in OPTIONAL_FILES if (folder / name).is_file()]
    records = file_records(folder, [*REQUIRED_FILES, *present])
    sealed = dataclasses.replace(
        manifest,
        files={name: FileRecord(r["sha256"], r["bytes"]) for name, r in records.items()},
    )
    write_manifest_json(folder, sealed.to_json())
    return sealed


def write_manifest(
    folder: str | os.PathLike[str], fields: BundleManifest | Mapping[str, Any]
) -> Path:
    """Re-seals ``folder``'s ``manifest.json`` over the files now there.

    For tools and tests that assemble a bundle folder themselves; training
    writes whole bundles with :func:`write_bundle`.
    """
    folder = Path(folder)
    manifest = fields if isinstance(fields, BundleManifest) else BundleManifest.from_json(fields)
    _seal(folder, manifest)
    return folder / MANIFEST


def write_bundle(
    target: str | os.PathLike[str],
    *,
    manifest: BundleManifest,
    quality: QualityModel,
    entries: Sequence[ModelEntry],
    encoder_onnx: str | os.PathLike[str],
    output_lengths: OutputLengthModel,
    catalog: Catalog,
    model_card: str,
    tokenizer: str | os.PathLike[str] = TOKENIZER_PATH,
    train_prompt_groups: Iterable[str] | None = None,
) -> Bundle:
    """Writes, verifies and returns the bundle at ``target`` (replacing what was there).

    ``entries`` describe ``quality.models`` in order. The folder is assembled
    beside ``target`` and renamed into place, so an interrupted run never leaves
    a half-written bundle where a router would load it. ``train_prompt_groups``
    are :func:`~learned_router.data.prompt_group` keys of the training prompts.
    """
    target = Path(target)
    if tuple(e.id for e in entries) != tuple(quality.models):
        raise BundleError(
            "write_bundle: the model entries and the quality model's models differ "
            f"({[e.id for e in entries]} vs {list(quality.models)})"
        )
    manifest = dataclasses.replace(manifest, heads=HeadsInfo(kind=quality.kind))
    staging = target.with_name(f".{target.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        shutil.copyfile(encoder_onnx, staging / "encoder.onnx")
        shutil.copyfile(tokenizer, staging / "tokenizer.json")
        stored = quality.to_stored()
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in stored.arrays.items()}
        # No allow_pickle= here: numpy < 2.1 saves that keyword as a stray array
        # named "allow_pickle" (savez never pickles plain numeric arrays anyway).
        # Compressed: the neighbour bank's misses are mostly "not graded" codes.
        np.savez_compressed(staging / "heads.npz", **arrays)
        models_json = {
            "models": [entry.to_json(j) for j, entry in enumerate(entries)],
            "scales": list(quality.scales),
        }
        (staging / "models.json").write_text(json.dumps(models_json, indent=1) + "\n")
        (staging / "calibration.json").write_text(
            json.dumps(dict(stored.calibration), indent=1) + "\n"
        )
        (staging / "output_lengths.json").write_text(output_lengths.to_json() + "\n")
        catalog.save(
            staging / "catalog.toml", description="The price catalog this bundle was trained with."
        )
        (staging / "model_card.md").write_text(model_card)
        keys = sorted(set(train_prompt_groups or ()))
        if keys:
            np.save(
                staging / "train_prompt_groups.npy", np.array(keys, dtype="S"), allow_pickle=False
            )
        _seal(staging, manifest)
        Bundle.load(staging)  # what we wrote must load and verify
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)
    return Bundle.load(target)


# --- reading --------------------------------------------------------------------------------


def verify_bundle(folder: str | os.PathLike[str]) -> BundleManifest:
    """Checks a bundle's manifest and every file's checksum; returns the manifest.

    Raises :class:`BundleError` naming the file at fault and what to do.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: no such bundle folder; train one (`python -m training train`) or pass "
            "the path of an existing bundle"
        )
    raw = read_manifest(folder, missing="not a bundle", damaged="the bundle is damaged")
    manifest_path = folder / MANIFEST
    if raw.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: format {raw.get('format')!r} is not {FORMAT!r}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format version {raw.get('format_version')!r}; this "
            f"learned-router reads version {FORMAT_VERSION}. Retrain, or install the version "
            "that wrote it."
        )
    files = raw.get("files", {})
    # Nothing but the listed files: a side file next to encoder.onnx (ONNX
    # external data) or anything else unchecked would be read unverified.
    listed = set(files) | {MANIFEST}
    stray = sorted(p.name for p in folder.iterdir() if p.name not in listed)
    if stray:
        raise BundleError(
            f"{folder}: holds file(s) {stray} that {MANIFEST} does not list, so their bytes are "
            "not checksummed (e.g. ONNX external data); remove them, or rebuild the bundle "
            "with a self-contained encoder.onnx"
        )
    check_files(
        folder,
        files,
        [*REQUIRED_FILES, *(name for name in OPTIONAL_FILES if name in files)],
        what="bundle",
        remedy="the file was changed after training (or is corrupt). Restore the bundle from "
        "its source (e.g. the MLflow artifact) instead of editing it.",
    )
    return BundleManifest.from_json(raw, source=str(manifest_path))


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, loaded. Score prompts with :meth:`scorer` (encoder and
    quality model) or embeddings with :meth:`quality_model`."""

    path: Path
    manifest: BundleManifest
    entries: tuple[ModelEntry, ...]
    quality: QualityModel
    output_lengths: OutputLengthModel

    @property
    def models(self) -> tuple[str, ...]:
        """Model ids, in the quality model's column order."""
        return self.quality.models

    @property
    def scales(self) -> tuple[str, ...]:
        """The label scales the quality model learned (``Router(quality_scale=...)``)."""
        return self.quality.scales

    @property
    def truncation(self) -> Truncation:
        return self.manifest.encoder.truncation

    @property
    def version(self) -> str:
        """The bundle's name and the first 12 hex digits of its encoder+heads checksums."""
        files = self.manifest.files
        digest = hashlib.sha256(
            (files["encoder.onnx"].sha256 + files["heads.npz"].sha256).encode()
        ).hexdigest()[:12]
        return f"{self.manifest.name}@{digest}"

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Bundle:
        """Verifies and loads a bundle folder.

        >>> Bundle.load("/nonexistent")
        Traceback (most recent call last):
        ...
        learned_router.errors.BundleError: /nonexistent: no such bundle folder; ...
        """
        if not isinstance(folder, (str, os.PathLike)):
            raise BundleError(
                f"Bundle.load: got {type(folder).__name__} {folder!r}; give a bundle folder path"
            )
        folder = Path(folder)
        manifest = verify_bundle(folder)
        try:
            models_info = json.loads((folder / "models.json").read_text())
            calibration_info = json.loads((folder / "calibration.json").read_text())
            with np.load(folder / "heads.npz", allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            lengths = OutputLengthModel.from_json((folder / "output_lengths.json").read_text())
            entries = tuple(ModelEntry.from_json(m) for m in models_info["models"])
            quality = quality_model_from_stored(
                manifest.heads.kind,
                StoredQuality(arrays, calibration_info),
                [e.id for e in entries],
                tuple(models_info.get("scales", ())),
            )
        except BundleError as error:
            raise BundleError(f"{folder}: {error}") from None
        except (
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            OSError,
            MemoryError,
        ) as error:
            raise BundleError(
                f"{folder}: the bundle's contents are inconsistent: {error!r}"
            ) from error
        return cls(
            path=folder,
            manifest=manifest,
            entries=entries,
            quality=quality,
            output_lengths=lengths,
        )

    def quality_model(self) -> QualityModel:
        """The one scoring interface: ``quality_model().p_success(embeddings, models=...,
        scale=...)`` (:class:`~learned_router.predictor.QualityModel`)."""
        return self.quality

    def scorer(self, *, threads: int | None = None) -> Scorer:
        """Prompts to P(success): this bundle's encoder and quality model."""
        from learned_router.scoring import Scorer

        return Scorer(self.encoder(threads=threads), self.quality)

    def train_prompt_groups(self) -> frozenset[str] | None:
        """:func:`~learned_router.data.prompt_group` keys of the prompts the bundle
        was trained and calibrated on, if recorded."""
        path = self.path / "train_prompt_groups.npy"
        if "train_prompt_groups.npy" not in self.manifest.files:
            return None
        return frozenset(key.decode() for key in np.load(path, allow_pickle=False).tolist())

    def catalog(self) -> Catalog:
        """The price catalog the bundle was trained with."""
        return Catalog.load(self.path / "catalog.toml")

    def encoder(self, *, threads: int | None = None) -> Encoder:
        """The bundle's ONNX encoder with its tokenizer and truncation."""
        return Encoder(
            self.path / "encoder.onnx",
            load_tokenizer(self.path / "tokenizer.json"),
            self.truncation,
            threads=threads,
        )

    def with_model(
        self,
        out: str | os.PathLike[str],
        *,
        quality: QualityModel,
        entry: ModelEntry,
        added: AddedModelRecord,
    ) -> Bundle:
        """Writes a new bundle at ``out``: this one with ``quality`` (which covers one
        more model, ``entry``) and ``added`` in the manifest. This bundle is untouched.
        """
        out = Path(out)
        if out.resolve() == self.path.resolve():
            raise BundleError(f"{out}: write the new bundle to another folder than its source")
        if tuple(quality.models) != (*self.models, entry.id):
            raise BundleError(
                f"with_model: the quality model covers {list(quality.models)}, expected this "
                f"bundle's models and then {entry.id!r}"
            )
        groups = self.train_prompt_groups()
        return write_bundle(
            out,
            manifest=dataclasses.replace(
                self.manifest, added_models=(*self.manifest.added_models, added)
            ),
            quality=quality,
            entries=(*self.entries, entry),
            encoder_onnx=self.path / "encoder.onnx",
            tokenizer=self.path / "tokenizer.json",
            output_lengths=self.output_lengths,
            catalog=self.catalog(),
            model_card=(self.path / "model_card.md").read_text(),
            train_prompt_groups=groups,
        )
