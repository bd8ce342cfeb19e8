"""The sentence encoder that keys the semantic tier, loaded without torch.

The cache evaluation (``docs/cache.md``) measured both candidates on the same
false-hit set: the teacher, all-MiniLM-L6-v2 (a similarity model), reaches
100% hits on true repeats with 0.00% false hits at its threshold 0.85; the
router's distilled student (trained to predict answer quality, not
similarity) needs 0.96 and then still serves 1.0% of near misses while
missing 1.8% of repeats. The teacher keys the cache.

``python -m training cache export-encoder --out models/cache-encoder`` (train
extra) writes the teacher as an int8 ONNX folder:

``encoder.onnx``     all-MiniLM-L6-v2, mean pooling, L2 normalisation, int8
``tokenizer.json``   its WordPiece tokenizer
``manifest.json``    format, sha256 and size of both files, the token budget,
                     the calibrated ``min_similarity``, parity with torch

:class:`CacheEncoder` verifies that folder and embeds with onnxruntime.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.cache.semantic import CacheConfig
from learned_router.encoder import Encoder, Truncation
from learned_router.errors import BundleError
from learned_router.manifest import (
    MANIFEST,
    check_files,
    file_records,
    read_manifest,
    write_manifest_json,
)
from learned_router.tokens import load_tokenizer

FORMAT = "learned-router-cache-encoder"
FORMAT_VERSION = 1
FILES = ("encoder.onnx", "tokenizer.json")
OPTIONAL_FILES = ("verifier.json",)
#: The shipped cache encoder: inside the package, so a checkout and an
#: installed wheel find it alike. ``LEARNED_ROUTER_CACHE_ENCODER`` points
#: elsewhere.
PACKAGED_FOLDER = Path(__file__).resolve().parent.parent / "assets" / "cache-encoder"
ENV_VAR = "LEARNED_ROUTER_CACHE_ENCODER"


def default_encoder_folder() -> Path:
    """``$LEARNED_ROUTER_CACHE_ENCODER`` if set, else the packaged folder."""
    return Path(os.environ.get(ENV_VAR) or PACKAGED_FOLDER)


def write_cache_encoder_manifest(folder: str | os.PathLike[str], fields: dict[str, Any]) -> Path:
    """Writes ``manifest.json`` for a cache-encoder folder (export side)."""
    folder = Path(folder)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **fields,
        "files": file_records(
            folder, [*FILES, *(name for name in OPTIONAL_FILES if (folder / name).is_file())]
        ),
    }
    return write_manifest_json(folder, manifest)


def verify_cache_encoder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The folder's manifest, after checking every file's checksum.

    Raises :class:`~learned_router.errors.BundleError` naming the file at fault.
    """
    folder = Path(folder)
    manifest = read_manifest(
        folder,
        missing="no cache encoder here; write one with `python -m training cache export-encoder "
        "--out PATH`, which needs the train extra",
        damaged="re-export it",
    )
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{folder / MANIFEST}: format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    files = manifest.get("files", {})
    check_files(
        folder,
        files,
        [*FILES, *(name for name in OPTIONAL_FILES if name in files)],
        what="cache encoder",
        remedy="the file changed after export. Re-export it "
        "(`python -m training cache export-encoder`).",
    )
    return manifest


class CacheEncoder:
    """``embed(texts) -> float32 [n, d]`` for :class:`~learned_router.cache.SemanticCache`.

    Usage (after ``python -m training cache export-encoder``)::

        encoder = CacheEncoder.load("models/cache-encoder")
        cache = SemanticCache(embed=encoder, config=encoder.cache_config(max_entries=50_000))
    """

    def __init__(self, folder: str | os.PathLike[str], *, threads: int | None = None) -> None:
        self.path = Path(folder)
        self.manifest = verify_cache_encoder(self.path)
        truncation = self.manifest.get("truncation", {})
        self._encoder = Encoder(
            self.path / "encoder.onnx",
            load_tokenizer(self.path / "tokenizer.json"),
            Truncation(
                max_tokens=int(truncation.get("max_tokens", 256)),
                head_tokens=int(truncation.get("head_tokens", 254)),
            ),
            threads=threads,
        )
        self.name = str(self.manifest.get("name", "cache-encoder"))
        self.min_similarity = float(self.manifest.get("min_similarity", 0.85))
        #: The threshold calibrated for the guards alone (no verifier).
        self.min_similarity_without_verifier = float(
            self.manifest.get("min_similarity_without_verifier", self.min_similarity)
        )

    @classmethod
    def load(
        cls, folder: str | os.PathLike[str] | None = None, *, threads: int | None = None
    ) -> CacheEncoder:
        """The encoder in ``folder``, verified; without one, the shipped encoder
        (:func:`default_encoder_folder`)."""
        return cls(default_encoder_folder() if folder is None else folder, threads=threads)

    @property
    def dim(self) -> int:
        return self._encoder.dim

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text. Batch-invariant: the shared encoder embeds every
        text alone (:meth:`learned_router.encoder.Encoder.embed_ids`), so
        ``store_many`` and ``lookup`` key a text alike (with int8 dynamic
        quantisation a batch mate used to move a vector to cosine 0.986)."""
        return self._encoder.embed(list(texts))

    def cache_config(self, **settings: Any) -> CacheConfig:
        """A :class:`CacheConfig` with this encoder's calibrated threshold and name."""
        settings.setdefault("min_similarity", self.min_similarity)
        settings.setdefault("encoder_name", self.name)
        return CacheConfig(**settings)
