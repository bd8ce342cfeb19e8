"""The learned verifier (learned_router.cache.verifier): its features, its
file format, and the cache's fallback when no verifier is shipped."""

from __future__ import annotations

import doctest
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundles import make_tiny_bundle
from learned_router.cache import PairVerifier, SemanticCache, verifier
from learned_router.cache.encoder import write_cache_encoder_manifest
from learned_router.cache.semantic import CacheCandidate
from learned_router.cache.verifier import FEATURE_NAMES, pair_features
from learned_router.errors import BundleError


def test_docstring_examples() -> None:
    assert doctest.testmod(verifier).failed == 0


def _feature(query: str, candidate: str, name: str) -> float:
    return float(pair_features(query, candidate, 0.9)[FEATURE_NAMES.index(name)])


def test_features_see_order_and_swaps() -> None:
    same = "The cat chased the dog across the yard."
    swapped = "The dog chased the cat across the yard."
    assert _feature(same, same, "lcs_ratio") == 1.0
    assert _feature(same, swapped, "unigram_jaccard") == 1.0, "same words"
    assert _feature(same, swapped, "bigram_jaccard") < 1.0
    assert _feature(same, swapped, "neighbour_swaps") > 0.0
    assert _feature(same, same, "neighbour_swaps") == 0.0
    assert _feature("from Boston to Denver", "from Denver to Boston", "role_swap") == 1.0
    assert _feature("get rid of fleas", "get rid of fleas in my crawlspace", "scope_change") == 1.0


def _folder(tmp_path: Path, *, verifier_weights: dict[str, object] | None) -> Path:
    bundle = make_tiny_bundle(tmp_path / "bundle")
    folder = tmp_path / "cache-encoder"
    folder.mkdir()
    shutil.copyfile(bundle / "encoder.onnx", folder / "encoder.onnx")
    shutil.copyfile(bundle / "tokenizer.json", folder / "tokenizer.json")
    if verifier_weights is not None:
        (folder / "verifier.json").write_text(json.dumps(verifier_weights))
    write_cache_encoder_manifest(
        folder,
        {
            "name": "tiny-cache",
            "min_similarity": 0.3,
            "min_similarity_without_verifier": 0.95,
            "truncation": {"max_tokens": 16, "head_tokens": 4},
        },
    )
    return folder


def test_without_a_shipped_verifier_the_cache_falls_back_to_the_stricter_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LEARNED_ROUTER_CACHE_ENCODER", str(_folder(tmp_path, verifier_weights=None))
    )
    cache = SemanticCache.default(max_entries=10)
    assert cache._verifier is None
    assert cache.config.min_similarity == 0.95
    with pytest.raises(BundleError, match=r"no verifier\.json"):
        PairVerifier.load()


def test_with_a_shipped_verifier_the_cache_uses_it_at_its_own_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scores on similarity alone: sigmoid(similarity) >= 0.99 never holds.
    weights = PairVerifier.identity_weights(threshold=0.99)
    monkeypatch.setenv(
        "LEARNED_ROUTER_CACHE_ENCODER", str(_folder(tmp_path, verifier_weights=weights))
    )
    cache = SemanticCache.default(max_entries=10)
    assert cache.config.min_similarity == 0.3
    assert isinstance(cache._verifier, PairVerifier)
    cache.store("How do I reset my password?", "Settings", tenant="t")
    assert cache.lookup("How do I reset my password, please?", tenant="t") is None
    assert cache.stats().rejected_verifier == 1
    fallback = SemanticCache.default(with_verifier=False)
    assert fallback._verifier is None
    assert fallback.config.min_similarity == 0.95


def test_a_tampered_verifier_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path, verifier_weights=PairVerifier.identity_weights(threshold=0.5))
    monkeypatch.setenv("LEARNED_ROUTER_CACHE_ENCODER", str(folder))
    (folder / "verifier.json").write_text(json.dumps(PairVerifier.identity_weights(threshold=0.0)))
    with pytest.raises(BundleError, match="checksum"):
        PairVerifier.load()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mean", [0.0], "wrong shape"),
        ("scale", [0.0] * len(FEATURE_NAMES), "wrong shape"),
        ("threshold", 2.0, "wrong shape"),
        ("format_version", 7, "version 7"),
    ],
)
def test_bad_verifier_files_say_what_is_wrong(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    weights = PairVerifier.identity_weights(threshold=0.5)
    weights[field] = value
    path = tmp_path / "verifier.json"
    path.write_text(json.dumps(weights))
    with pytest.raises(BundleError, match=message) as raised:
        PairVerifier.load(path)
    assert str(path) in str(raised.value)


def test_the_verifier_is_a_cache_verifier() -> None:
    scorer = PairVerifier.from_dict(PairVerifier.identity_weights(threshold=0.6))
    candidate = CacheCandidate("q", "q", "a", similarity=0.9, tenant="t")
    assert scorer(candidate) is True  # sigmoid(0.9) = 0.71
    assert scorer(CacheCandidate("q", "q", "a", similarity=0.1, tenant="t")) is False
    assert np.isclose(scorer.probability("q", "q", 0.0), 0.5)


@pytest.mark.parametrize(
    ("stored", "paraphrase", "swap"),
    [
        (
            "He was born in Albury and went to Sydney.",
            "Born in Albury, he later went to Sydney.",
            "He was born in Sydney and went to Albury.",
        ),
        (
            "The film was written by Tom Hanks and directed by Ron Howard.",
            "The film was directed by Ron Howard and written by Tom Hanks.",
            "The film was written by Ron Howard and directed by Tom Hanks.",
        ),
        (
            "How do I reset my password?",
            "how do i reset my password",
            "How do I password my reset?",
        ),
    ],
)
def test_the_shipped_verifier_ranks_paraphrases_above_word_swaps(
    stored: str, paraphrase: str, swap: str
) -> None:
    from learned_router.cache import CacheEncoder

    shipped, encoder = PairVerifier.load(), CacheEncoder.load(threads=1)
    a, b, c = encoder([stored, paraphrase, swap])
    p_paraphrase = shipped.probability(paraphrase, stored, float(a @ b))
    p_swap = shipped.probability(swap, stored, float(a @ c))
    assert p_swap < shipped.threshold, "the swap is never served"
    assert p_paraphrase > p_swap
