"""The runtime encoder (learned_router.encoder): token budget, ids, embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learned_router.bundle import Bundle
from learned_router.encoder import Encoder, Truncation, encode_ids_and_counts
from learned_router.errors import BundleError, InvalidInputError
from learned_router.tokens import load_tokenizer


@pytest.mark.parametrize(
    ("max_tokens", "head", "n", "kept"),
    [
        (8, 2, 5, (5, 0)),
        (8, 2, 6, (6, 0)),
        (8, 2, 7, (2, 4)),
        (8, 0, 100, (0, 6)),
        (3, 1, 9, (1, 0)),
    ],
)
def test_truncation_keeps_head_and_tail(
    max_tokens: int, head: int, n: int, kept: tuple[int, int]
) -> None:
    assert Truncation(max_tokens, head).keep(n) == kept


@pytest.mark.parametrize(("max_tokens", "head"), [(2, 0), (8, 7), (8, -1)])
def test_an_impossible_budget_is_refused(max_tokens: int, head: int) -> None:
    with pytest.raises(InvalidInputError, match="Truncation"):
        Truncation(max_tokens, head)


def test_ids_are_framed_cut_to_budget_and_counts_stay_whole() -> None:
    tokenizer = load_tokenizer()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    words = [f"w{i}" for i in range(40)]
    text = " ".join(words)
    full = tokenizer.encode(text, add_special_tokens=False).ids
    (ids,), (count,) = encode_ids_and_counts(tokenizer, [text], Truncation(12, 4))
    assert count == len(full)  # pricing sees every token
    assert len(ids) == 12
    assert ids[0] == cls_id
    assert ids[-1] == sep_id
    assert ids[1:5] == full[:4]  # the head
    assert ids[5:-1] == full[-6:]  # the tail


def test_a_huge_prompt_is_cut_before_tokenising_and_its_count_extrapolated() -> None:
    tokenizer = load_tokenizer()
    truncation = Truncation(16, 4)
    text = "alpha beta " * 20_000
    (ids,), (count,) = encode_ids_and_counts(tokenizer, [text], truncation)
    assert len(ids) == 16
    exact = len(tokenizer.encode(text, add_special_tokens=False).ids)
    assert abs(count - exact) / exact < 0.05


def test_embeddings_are_normalised_and_the_same_alone_or_in_any_batch(tiny_bundle: Path) -> None:
    encoder = Bundle.load(tiny_bundle).encoder()
    prompts = ["short", "a somewhat longer prompt about a contract", "mid length text", "x y"]
    together = encoder.embed(prompts)
    assert together.shape == (4, 8)
    assert together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    for i, prompt in enumerate(prompts):
        np.testing.assert_allclose(encoder.embed([prompt])[0], together[i], rtol=1e-5, atol=1e-6)
    reversed_ = encoder.embed(prompts[::-1])
    np.testing.assert_allclose(reversed_[::-1], together, rtol=1e-5, atol=1e-6)
    assert encoder.embed([]).shape == (0, 8)


def test_a_broken_onnx_file_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "encoder.onnx"
    path.write_bytes(b"not onnx")
    with pytest.raises(BundleError, match="cannot load the ONNX encoder"):
        Encoder(path, load_tokenizer(), Truncation())


def test_the_shipped_encoder_does_not_spin_between_calls() -> None:
    # onnxruntime's default thread spinning costs ~3.5x the CPU per one-prompt call
    # (python -m benchmarks.bench_spinning); services and the gateway run without it.
    encoder = Bundle.load(Path(__file__).resolve().parents[1] / "models" / "default").encoder()
    options = encoder._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
