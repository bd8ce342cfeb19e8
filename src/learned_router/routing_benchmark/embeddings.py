"""Prompt embeddings for the benchmark: an injected callable, cached on disk.

The benchmark never chooses an encoder itself. It takes any callable
``embed(texts) -> float32 [n, d]`` (the learned router's own encoder, or the
teacher during development) and wraps it in :class:`EmbeddingCache`, which
stores every vector under a hash of its text so a second run embeds nothing.
The cache holds derived data (one vector per prompt): keep it under a
git-ignored folder (``.cache/`` by default).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Embeds texts: ``embed(texts) -> float32 [len(texts), d]``."""

DEFAULT_CACHE_DIR = Path(".cache") / "embeddings"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def text_key(text: str) -> str:
    """The cache key of a text: a 128-bit hash of its exact characters.

    >>> text_key("What is 2+2?") == text_key("What is 2+2?"), len(text_key("x"))
    (True, 32)
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def cache_name_for(name: str) -> str:
    """``name`` made a valid :class:`EmbeddingCache` name (other characters -> ``-``).

    >>> cache_name_for("learned-router-encoder-default@bdb70e0f35f3")
    'learned-router-encoder-default-bdb70e0f35f3'
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


class EmbeddingCache:
    """Wraps an :data:`Embed` callable with an on-disk cache keyed by text hash.

    Vectors are stored in shards (``<cache_dir>/<name>/shard-*.npz``), one per
    chunk embedded, so an interrupted run keeps what it finished. ``name`` must
    identify the encoder and its settings (a different encoder needs another
    name, or its vectors would be mixed with the old ones).

    >>> import tempfile
    >>> calls = []
    >>> def embed(texts):
    ...     calls.append(len(texts))
    ...     return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cache = EmbeddingCache(embed, name="toy", cache_dir=tmp)
    ...     first = cache(["a", "bb", "a"])
    ...     again = EmbeddingCache(embed, name="toy", cache_dir=tmp)(["bb", "a"])
    >>> first.tolist(), again.tolist(), calls
    ([[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]], [[2.0, 1.0], [1.0, 1.0]], [2])
    """

    def __init__(
        self,
        embed: Embed,
        *,
        name: str,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        chunk_size: int = 512,
    ) -> None:
        if not name or _SAFE_NAME.sub("", name) != name:
            raise InvalidInputError(
                f"invalid embedding cache name {name!r}: use letters, digits, '_', '.' and '-'"
            )
        if chunk_size < 1:
            raise InvalidInputError(f"chunk_size must be >= 1, got {chunk_size}")
        self.embed = embed
        self.name = name
        self.folder = Path(cache_dir) / name
        self.chunk_size = chunk_size
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as stored:
                keys = [str(k) for k in stored["keys"]]
                vectors = np.asarray(stored["vectors"], dtype=np.float32)
            self._vectors.update(zip(keys, vectors, strict=True))
        self._loaded = True

    def _store(self, keys: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        index = len(list(self.folder.glob("shard-*.npz")))
        path = self.folder / f"shard-{index:05d}-{keys[0][:8]}.npz"
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=vectors)
        os.replace(tmp, path)

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embeddings of ``texts`` (``float32 [n, d]``), computing only unseen ones."""
        self._load()
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._vectors:
                missing.setdefault(key, text)
        todo = list(missing.items())
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            vectors = np.asarray(self.embed([text for _, text in chunk]), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
                raise InvalidInputError(
                    f"embedder {self.name!r} returned shape {vectors.shape} for "
                    f"{len(chunk)} texts; expected [{len(chunk)}, d]"
                )
            chunk_keys = [key for key, _ in chunk]
            self._store(chunk_keys, vectors)
            self._vectors.update(zip(chunk_keys, vectors, strict=True))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[key] for key in keys]).astype(np.float32, copy=False)
