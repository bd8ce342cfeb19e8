"""The lexical stand-in encoder used by tests and examples."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from learned_router.cache import HashingEmbedder, embedding


def test_docstring_examples() -> None:
    assert doctest.testmod(embedding).failed == 0


def test_unit_rows_deterministic_and_word_based() -> None:
    embed = HashingEmbedder(dim=64)
    vectors = embed(["reset my password", "Reset my password!", "order a pizza", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, 64)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0)
    assert not vectors[3].any(), "no words, no direction"
    assert np.array_equal(
        vectors,
        HashingEmbedder(dim=64)(["reset my password", "Reset my password!", "order a pizza", ""]),
    )
    assert vectors[0] @ vectors[1] == pytest.approx(1.0)
    assert vectors[0] @ vectors[2] < 0.5
    with pytest.raises(ValueError, match="dim"):
        HashingEmbedder(dim=2)
