"""Prompt embeddings: the bundle's tokenizer and ONNX encoder on onnxruntime.

Training and serving share this module's tokenisation (``encode_ids``), so the
student encoder sees at serving time exactly the token ids it was trained on.

Long prompts dominate latency, so every prompt is cut to a token budget
before the encoder runs. Few-shot prompts put their examples first and the
question last, so the cut keeps the head (the instruction, which says what
kind of task this is) and the tail (the question) and drops the middle.
Before tokenising, text longer than :data:`CHARS_PER_TOKEN_BOUND` characters
per budgeted token is cut the same way, so a 50,000-character prompt costs no
more to tokenise than a 2,000-character one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError, InvalidInputError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: A token spans fewer characters than this in any text we saw (WordPiece
#: averages 3.5-4.5 characters per token), so cutting the text at this many
#: characters per budgeted token never removes a token the budget would keep
#: except in pathological strings (e.g. one 10,000-character word).
CHARS_PER_TOKEN_BOUND = 16
#: Name of the ONNX encoder's output.
OUTPUT_NAME = "prompt_embedding"


@dataclass(frozen=True)
class Truncation:
    """How a prompt is cut to the encoder's token budget.

    ``max_tokens`` counts the [CLS] and [SEP] markers; of the rest, the first
    ``head_tokens`` and the last ``max_tokens - 2 - head_tokens`` are kept.

    >>> Truncation(max_tokens=8, head_tokens=2).keep(10)
    (2, 4)
    """

    max_tokens: int = 128
    head_tokens: int = 32

    def __post_init__(self) -> None:
        if self.max_tokens < 3:
            raise InvalidInputError(f"Truncation.max_tokens = {self.max_tokens} must be >= 3")
        if not 0 <= self.head_tokens <= self.max_tokens - 2:
            raise InvalidInputError(
                f"Truncation.head_tokens = {self.head_tokens} must be in [0, max_tokens - 2]"
            )

    @property
    def content_tokens(self) -> int:
        return self.max_tokens - 2

    def keep(self, n_tokens: int) -> tuple[int, int]:
        """(tokens kept from the head, tokens kept from the tail) of ``n_tokens``."""
        if n_tokens <= self.content_tokens:
            return n_tokens, 0
        return self.head_tokens, self.content_tokens - self.head_tokens

    def cut_text(self, text: str) -> str:
        """The text with its middle dropped if it is far longer than the budget."""
        limit = self.content_tokens * CHARS_PER_TOKEN_BOUND
        if len(text) <= limit:
            return text
        head = self.head_tokens * CHARS_PER_TOKEN_BOUND
        tail = limit - head
        return text[:head] + " " + text[len(text) - tail :]


def encode_ids_and_counts(
    tokenizer: Tokenizer, texts: Sequence[str], truncation: Truncation
) -> tuple[list[list[int]], list[int]]:
    """Token ids per text cut to the budget (with [CLS] ... [SEP]), and each
    text's full token count: the ids feed the encoder, the count prices the
    prompt and is checked against context windows, so a text cut before
    tokenising is counted in full (a second pass over the whole text; an
    extrapolation from the kept head and tail under-counted 200,000 tokens
    of repeated filler as 401)."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise BundleError("the tokenizer has no [CLS]/[SEP] tokens; it is not a BERT WordPiece one")
    cut = [truncation.cut_text(text) for text in texts]
    encodings = tokenizer.encode_batch(cut, add_special_tokens=False)
    long_texts = [text for text, short in zip(texts, cut, strict=True) if short is not text]
    # encode_batch_fast (tokenizers >= 0.20) skips the offsets: 3.3x faster
    # on a 1 MB prompt (1.1 s vs 3.6 s on the shared 2-core VM).
    count_batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    full_counts = iter(
        len(encoding.ids)
        for encoding in (count_batch(long_texts, add_special_tokens=False) if long_texts else [])
    )
    out, counts = [], []
    for text, short, encoding in zip(texts, cut, encodings, strict=True):
        ids = encoding.ids
        head, tail = truncation.keep(len(ids))
        kept = ids[:head] + (ids[len(ids) - tail :] if tail else [])
        out.append([cls_id, *kept, sep_id])
        counts.append(len(ids) if short is text else next(full_counts))
    return out, counts


def encode_ids(
    tokenizer: Tokenizer, texts: Sequence[str], truncation: Truncation
) -> list[list[int]]:
    """Token ids per text, cut to the budget, with [CLS] ... [SEP] around them."""
    return encode_ids_and_counts(tokenizer, texts, truncation)[0]


class Encoder:
    """Embeds prompts with an ONNX encoder that outputs L2-normalised vectors.

    The ONNX graph takes ``input_ids`` and ``attention_mask`` (int64,
    ``[batch, seq]``) and returns ``prompt_embedding`` (float32, ``[batch, dim]``).
    onnxruntime sessions are safe to call from several threads at once.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        tokenizer: Tokenizer,
        truncation: Truncation,
        *,
        threads: int | None = None,
        spinning: bool = False,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's intra-op threads spin-wait after each run by default. One prompt
        # at a time (a service, the gateway) then burns ~5.5 ms of CPU per call for
        # ~2 ms of work (`python -m benchmarks.bench_spinning`): CPU the other
        # requests on the box need. Latency is the same within noise. `spinning=True`
        # restores onnxruntime's default.
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise BundleError(f"{onnx_path}: cannot load the ONNX encoder: {error}") from error
        self._tokenizer = tokenizer
        self.truncation = truncation
        shape: Any = self._session.get_outputs()[0].shape
        self.dim = int(shape[-1]) if isinstance(shape[-1], int) else -1

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return encode_ids(self._tokenizer, texts, self.truncation)

    def token_ids_and_counts(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Encoder ids and each prompt's full token count (for pricing)."""
        return encode_ids_and_counts(self._tokenizer, texts, self.truncation)

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """Embeddings of already-tokenised prompts, each computed alone.

        Every prompt runs as its own batch of one, without padding: the int8
        encoder quantises activations dynamically, with one scale per tensor,
        so inside a shared batch a prompt's vector depended on its batch mates
        (up to 0.04 in P(success); 13 of 640 routing decisions changed). Alone,
        the same prompt gets the same bits in ``route`` and ``route_batch``.
        Static quantisation (fixed scales) was tried: batch-invariant too, but
        onnxruntime leaves the fused BERT graph's attention in float and
        dequantises the weights at every call, 3-5x slower than this.
        """
        if not ids:
            return np.zeros((0, max(self.dim, 0)), dtype=np.float32)
        out: npt.NDArray[np.float32] | None = None
        for i, row in enumerate(ids):
            input_ids = np.asarray([row], dtype=np.int64)
            (embedding,) = self._session.run(
                [OUTPUT_NAME], {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
            )
            if out is None:
                out = np.empty((len(ids), embedding.shape[1]), dtype=np.float32)
            out[i] = embedding[0]
        assert out is not None
        return out

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``[n, dim]`` float32 L2-normalised embeddings of ``texts``."""
        return self.embed_ids(self.token_ids(texts))
