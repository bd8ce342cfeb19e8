"""Exports the teacher (all-MiniLM-L6-v2) as the semantic cache's encoder.

The cache evaluation chose the teacher over the router's student to key the
semantic tier (``docs/cache.md``); services load it without torch through
:class:`learned_router.cache.encoder.CacheEncoder`.

The shipped copy lives in ``src/learned_router/assets/cache-encoder`` (in the
wheel, so ``CacheEncoder.load()`` needs no argument); ``make cache-encoder``
re-exports it there and retrains its verifier (``training/cache_verifier.py``).

``python -m training cache export-encoder --out models/cache-encoder``
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from learned_router.cache.encoder import CacheEncoder, write_cache_encoder_manifest
from learned_router.cache.semantic import DEFAULT_MIN_SIMILARITY
from learned_router.tokens import TOKENIZER_PATH
from training.encoder_model import TEACHER_NAME, teacher_encoder
from training.onnx_export import export_encoder
from training.train import ParityError

#: sentence-transformers' window for all-MiniLM-L6-v2; the cache's key text
#: (at most ``CacheConfig.key_max_chars`` = 1,000 characters) fits in it.
MAX_TOKENS = 256
#: The export must agree with sentence-transformers on these to this cosine.
PARITY_MIN_COSINE = 0.95
PARITY_TEXTS = (
    "How do I enable two-factor authentication on my account?",
    "How do I disable two-factor authentication on my account?",
    "Summarise the attached quarterly report in three bullet points.",
    "What is 17 times 23?",
    "Translate 'good morning' into French.",
    "Write a Python function that reverses a linked list.",
    "Which planet is closest to the sun?",
    "Explain the difference between TCP and UDP for a network engineer.",
)


def export_cache_encoder(out: str | os.PathLike[str]) -> Path:
    """Writes the int8 teacher, its tokenizer and a verified manifest to ``out``.

    Fails (:class:`~training.train.ParityError`) when the int8 export's embeddings drift
    from sentence-transformers' below :data:`PARITY_MIN_COSINE`; ``out`` is
    then left as it was.
    """
    out = Path(out)
    staging = out.with_name(f".{out.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        _, int8 = export_encoder(teacher_encoder(), tmp)
        assert int8 is not None
        shutil.copyfile(int8, staging / "encoder.onnx")
    shutil.copyfile(TOKENIZER_PATH, staging / "tokenizer.json")
    fields = {
        "name": f"{TEACHER_NAME}-int8",
        "teacher": TEACHER_NAME,
        "truncation": {"max_tokens": MAX_TOKENS, "head_tokens": MAX_TOKENS - 2},
        "min_similarity": DEFAULT_MIN_SIMILARITY,
    }
    write_cache_encoder_manifest(staging, fields)
    cosine = parity_min_cosine(CacheEncoder(staging, threads=1))
    if cosine < PARITY_MIN_COSINE:
        shutil.rmtree(staging)
        raise ParityError(
            f"the int8 cache encoder's embeddings drift from the teacher's (min cosine "
            f"{cosine:.3f} < {PARITY_MIN_COSINE}); nothing was written to {out}"
        )
    write_cache_encoder_manifest(staging, {**fields, "parity_min_cosine": cosine})
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return out


def parity_min_cosine(encoder: CacheEncoder) -> float:
    """Least cosine between ``encoder``'s and sentence-transformers' embeddings."""
    from training.teacher_embeddings import make_teacher_embedder

    reference = make_teacher_embedder(max_seq_length=MAX_TOKENS, truncation="head")
    ours = encoder(list(PARITY_TEXTS))
    theirs = reference(list(PARITY_TEXTS))
    return float(np.min(np.sum(ours * theirs, axis=1)))
