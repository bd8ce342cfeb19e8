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
                          encoder settings, data fingerprint, config, metrics

:func:`verify_bundle` refuses a bundle whose manifest is missing or of an
unknown format, whose files are missing, or whose bytes differ from the
recorded checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
from learned_router.predictor import HeadWeights, PlattCalibration
from learned_router.tokens import OutputLengthModel, load_tokenizer

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


def write_manifest(folder: str | os.PathLike[str], fields: Mapping[str, Any]) -> Path:
    """Writes ``manifest.json`` with checksums of the required files (training side)."""
    folder = Path(folder)
    present = [name for name in OPTIONAL_FILES if (folder / name).is_file()]
    files = file_records(folder, [*REQUIRED_FILES, *present])
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **fields, "files": files}
    return write_manifest_json(folder, manifest)


def verify_bundle(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Checks a bundle's manifest and every file's checksum; returns the manifest.

    Raises :class:`BundleError` naming the file at fault and what to do.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: no such bundle folder; train one (`learned-router train`) or pass "
            "the path of an existing bundle"
        )
    manifest = read_manifest(folder, missing="not a bundle", damaged="the bundle is damaged")
    manifest_path = folder / MANIFEST
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: format {manifest.get('format')!r} is not {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format version {manifest.get('format_version')!r}; this "
            f"learned-router reads version {FORMAT_VERSION}. Retrain, or install the version "
            "that wrote it."
        )
    files = manifest.get("files", {})
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
    return dict(manifest)


#: The encoder's position embeddings end here (BERT-style students: 512).
MAX_ENCODER_TOKENS = 512


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"encoder.truncation.{name} = {value!r} is not an integer")
    if name == "max_tokens" and not 3 <= value <= MAX_ENCODER_TOKENS:
        raise ValueError(f"encoder.truncation.max_tokens = {value} is not in [3, 512]")
    return value


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, loaded. Build the encoder with :meth:`encoder`."""

    path: Path
    manifest: Mapping[str, Any]
    models: tuple[str, ...]
    scales: tuple[str, ...]
    truncation: Truncation
    heads: HeadWeights
    calibration: PlattCalibration
    output_lengths: OutputLengthModel

    @property
    def version(self) -> str:
        """The bundle's name and the first 12 hex digits of its encoder+heads checksums."""
        files = self.manifest["files"]
        digest = hashlib.sha256(
            (files["encoder.onnx"]["sha256"] + files["heads.npz"]["sha256"]).encode()
        ).hexdigest()[:12]
        return f"{self.manifest.get('name', 'bundle')}@{digest}"

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
            encoder_info = manifest["encoder"]
            truncation = Truncation(
                max_tokens=_int(encoder_info["truncation"]["max_tokens"], "max_tokens"),
                head_tokens=_int(encoder_info["truncation"]["head_tokens"], "head_tokens"),
            )
            models = tuple(m["id"] for m in models_info["models"])
            heads = HeadWeights.from_arrays(arrays)
            calibration = PlattCalibration(
                np.asarray(calibration_info["a"], dtype=np.float64),
                np.asarray(calibration_info["b"], dtype=np.float64),
            )
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
        if heads.model_vectors.shape[0] != len(models) or calibration.a.shape[0] != len(models):
            raise BundleError(
                f"{folder}: heads.npz has {heads.model_vectors.shape[0]} models, models.json "
                f"{len(models)}, calibration.json {calibration.a.shape[0]}; they must agree"
            )
        return cls(
            path=folder,
            manifest=manifest,
            models=models,
            scales=tuple(models_info.get("scales", ())),
            truncation=truncation,
            heads=heads,
            calibration=calibration,
            output_lengths=lengths,
        )

    def train_prompt_groups(self) -> frozenset[str] | None:
        """:func:`~learned_router.data.prompt_group` keys of the prompts the bundle
        was trained and calibrated on, if recorded."""
        path = self.path / "train_prompt_groups.npy"
        if "train_prompt_groups.npy" not in self.manifest["files"]:
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
