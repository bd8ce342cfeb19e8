"""A lexical stand-in for a sentence encoder, for tests and examples.

Real deployments pass a sentence encoder to
:class:`~learned_router.cache.SemanticCache`: the measured choice is
:class:`~learned_router.cache.CacheEncoder` (all-MiniLM-L6-v2, int8 ONNX).
This one needs no model: it hashes word unigrams and bigrams into ``dim``
signed buckets and L2-normalises the result, so texts with the same words
land close together. It knows nothing about meaning: use it to exercise the
cache, not to serve it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[^\W_]+")


class HashingEmbedder:
    """Word 1- and 2-gram feature hashing into ``dim`` dimensions.

    >>> embed = HashingEmbedder(dim=64)
    >>> vectors = embed(["enable two-factor login", "Enable two-factor login!"])
    >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 3)
    ((2, 64), 1.0)
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ValueError(f"dim must be >= 8, got {dim}")
        self.dim = dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if value >> 63 else -1.0

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                bucket, sign = self._bucket(feature)
                out[row, bucket] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
