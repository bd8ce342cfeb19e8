"""The cache's sentence encoder folder (learned_router.cache.encoder) and its
export from the teacher (training.cache_encoder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundles import make_tiny_bundle
from learned_router.cache import CacheEncoder, SemanticCache
from learned_router.cache.encoder import verify_cache_encoder, write_cache_encoder_manifest
from learned_router.errors import BundleError


def _folder(tmp_path: Path) -> Path:
    """A cache-encoder folder around the tiny bundle's ONNX graph."""
    bundle = make_tiny_bundle(tmp_path / "bundle")
    folder = tmp_path / "cache-encoder"
    folder.mkdir()
    shutil.copyfile(bundle / "encoder.onnx", folder / "encoder.onnx")
    shutil.copyfile(bundle / "tokenizer.json", folder / "tokenizer.json")
    write_cache_encoder_manifest(
        folder,
        {
            "name": "tiny-cache",
            "min_similarity": 0.9,
            "truncation": {"max_tokens": 16, "head_tokens": 4},
        },
    )
    return folder


def test_a_cache_encoder_embeds_and_configures_the_cache(tmp_path: Path) -> None:
    encoder = CacheEncoder.load(_folder(tmp_path))
    vectors = encoder(["enable two-factor login", "enable two-factor login", "what is 2 + 2"])
    assert vectors.shape == (3, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-6)
    config = encoder.cache_config(max_entries=10)
    assert (config.min_similarity, config.encoder_name, config.max_entries) == (
        0.9,
        "tiny-cache",
        10,
    )
    cache = SemanticCache(embed=encoder, config=config)
    cache.store("What is the capital of France?", "Paris", tenant="acme")
    hit = cache.lookup("what is the capital of france", tenant="acme")
    assert hit is not None
    assert hit.response == "Paris"


def test_a_tampered_or_incomplete_cache_encoder_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with open(folder / "encoder.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="checksum mismatch"):
        CacheEncoder.load(folder)
    (folder / "encoder.onnx").unlink()
    with pytest.raises(BundleError, match=r"encoder\.onnx is missing"):
        verify_cache_encoder(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(BundleError, match="export-encoder"):
        CacheEncoder.load(folder)


def test_a_cache_encoder_of_another_format_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="version 99"):
        CacheEncoder.load(folder)


@pytest.mark.slow
def test_the_exported_teacher_matches_sentence_transformers(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the export needs the train extra")
    from training.cache_encoder import PARITY_MIN_COSINE, export_cache_encoder

    folder = export_cache_encoder(tmp_path / "cache-encoder")
    encoder = CacheEncoder.load(folder)
    manifest = verify_cache_encoder(folder)
    assert manifest["parity_min_cosine"] >= PARITY_MIN_COSINE
    assert encoder.dim == 384
    assert encoder.min_similarity == 0.85
    a, b, c = encoder(
        [
            "How do I reset my password?",
            "how do i reset my password",
            "Give me a recipe for banana bread.",
        ]
    )
    assert float(a @ b) > 0.95
    assert float(a @ c) < 0.5
