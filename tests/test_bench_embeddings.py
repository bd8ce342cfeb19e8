"""The on-disk embedding cache (learned_router.routing_benchmark.embeddings)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from learned_router.errors import InvalidInputError
from learned_router.routing_benchmark.embeddings import EmbeddingCache, text_key


class Counting:
    def __init__(self, dim: int = 3) -> None:
        self.seen: list[str] = []
        self.dim = dim

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), t.count("a"), 1.0][: self.dim] for t in texts], np.float32)


def test_cache_embeds_each_text_once_across_runs(tmp_path: Path) -> None:
    embed = Counting()
    first = EmbeddingCache(embed, name="t", cache_dir=tmp_path, chunk_size=2)
    a = first(["aa", "b", "aa", "ccc", "a"])
    assert embed.seen == ["aa", "b", "ccc", "a"]
    b = EmbeddingCache(embed, name="t", cache_dir=tmp_path)(["a", "ccc", "new"])
    assert embed.seen[-1:] == ["new"]
    assert a.dtype == np.float32
    assert a.shape == (5, 3)
    assert np.array_equal(b[0], a[4])
    assert len(list((tmp_path / "t").glob("shard-*.npz"))) == 3  # 2 + 1 chunks, then 1


def test_cache_names_are_separate(tmp_path: Path) -> None:
    EmbeddingCache(Counting(), name="one", cache_dir=tmp_path)(["x"])
    other = Counting()
    EmbeddingCache(other, name="two", cache_dir=tmp_path)(["x"])
    assert other.seen == ["x"]


def test_cache_rejects_bad_names_and_shapes(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="name"):
        EmbeddingCache(Counting(), name="../escape", cache_dir=tmp_path)
    bad = EmbeddingCache(lambda texts: np.zeros(3, np.float32), name="bad", cache_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="returned shape"):
        bad(["x", "y"])


def test_text_key_is_exact() -> None:
    assert text_key("a") != text_key("a ")
    assert text_key("é") == text_key("é")
