"""Teacher embeddings (computed once, cached) and distillation of the student.

The student sees exactly the token ids the runtime will give it
(``learned_router.encoder.encode_ids`` with the bundle's truncation), and so
does the teacher when it makes the targets: the student learns to compress
what the teacher sees in the same budget, not to guess what was cut away.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from learned_router.encoder import Encoder, Truncation, encode_ids
from learned_router.tokens import load_tokenizer
from training.encoder_model import PromptEncoder

Progress = Callable[[int, int], None]


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """The first 12 hex digits of a file's sha256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def encoder_store(
    folder: str | os.PathLike[str], encoder_onnx: str | os.PathLike[str]
) -> EmbeddingStore:
    """The store of one encoder file's embeddings, named by its content: training,
    the protocol and the studies share it, and retraining the quality model (same
    encoder) keeps it valid."""
    return EmbeddingStore(folder, f"served-{file_digest(encoder_onnx)}")


class EmbeddingStore:
    """Embeddings of texts under one encoder and truncation, kept on disk.

    One ``.npz`` file (``keys``: 16-byte text hashes, ``vectors``: float32) per
    (encoder, truncation) pair; written atomically, so an interrupted run
    leaves the previous file intact and the next run only computes what is
    missing.
    """

    def __init__(self, folder: str | os.PathLike[str], name: str) -> None:
        self.path = Path(folder) / f"{name}.npz"
        self._rows: dict[bytes, npt.NDArray[np.float32]] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as stored:
                keys, vectors = stored["keys"], stored["vectors"]
            self._rows = {bytes(k): v for k, v in zip(keys, vectors, strict=True)}

    def __len__(self) -> int:
        return len(self._rows)

    def missing(self, texts: Sequence[str]) -> list[str]:
        seen: set[bytes] = set()
        out = []
        for text in texts:
            key = _text_key(text)
            if key not in self._rows and key not in seen:
                seen.add(key)
                out.append(text)
        return out

    def add(self, texts: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._rows[_text_key(text)] = vector.astype(np.float32)

    def get(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([self._rows[_text_key(text)] for text in texts])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._rows), dtype="S16")
        vectors = (
            np.stack(list(self._rows.values())) if self._rows else np.zeros((0, 0), np.float32)
        )
        tmp = self.path.with_name(f".{self.path.stem}.tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        os.replace(tmp, self.path)


def embed_with_onnx(
    onnx_path: str | os.PathLike[str],
    texts: Sequence[str],
    truncation: Truncation,
    *,
    cache: EmbeddingStore | None = None,
    chunk: int = 2048,
    progress: Progress | None = None,
) -> npt.NDArray[np.float32]:
    """Embeds texts with an exported encoder, reusing and filling ``cache``."""
    encoder = Encoder(onnx_path, load_tokenizer(), truncation)
    if cache is None:
        return encoder.embed(texts)
    todo = cache.missing(texts)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        cache.add(part, encoder.embed(part))
        cache.save()  # a crash loses at most one chunk
        if progress is not None:
            progress(min(start + chunk, len(todo)), len(todo))
    return cache.get(texts)


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar lengths (little padding), in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _padded(
    ids: Sequence[Sequence[int]], batch: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids[i]) for i in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for row, i in enumerate(batch):
        input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
        mask[row, : len(ids[i])] = 1
    return input_ids, mask


def init_projection(
    student: PromptEncoder,
    ids: Sequence[Sequence[int]],
    target: torch.Tensor,
    *,
    rows: int,
    seed: int,
) -> None:
    """Least-squares start for the student's projection on up to ``rows`` prompts.

    The truncated student's pooled vectors point elsewhere than the teacher's
    (cosine ~0.2); one linear map fitted in closed form recovers much of the
    gap before any gradient step, so a short distillation goes further.
    """
    chosen = random.Random(seed).sample(range(len(ids)), min(rows, len(ids)))
    features = []
    student.eval()
    with torch.no_grad():
        for start in range(0, len(chosen), 64):
            batch = chosen[start : start + 64]
            features.append(student.pooled_features(*_padded(ids, batch)))
    student.init_projection(torch.cat(features), target[chosen])


def distill(
    student: PromptEncoder,
    texts: Sequence[str],
    targets: npt.NDArray[np.float32],
    truncation: Truncation,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    init_rows: int = 4000,
    on_epoch: Callable[[int, float], None] | None = None,
    progress: Progress | None = None,
) -> list[float]:
    """Trains ``student`` so its embeddings match ``targets`` (cosine loss).

    The word-embedding table stays frozen: it is most of the student's
    parameters, the teacher's table is already good, and freezing it roughly
    halves the time of a step on CPU. Returns the mean loss of each epoch.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    ids = encode_ids(load_tokenizer(), texts, truncation)
    target = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    init_projection(student, ids, target, rows=init_rows, seed=seed)
    student.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    steps = epochs * ((len(ids) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=learning_rate, total_steps=max(steps, 1), pct_start=0.1
    )
    losses: list[float] = []
    done = 0
    student.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for batch in _batches([len(row) for row in ids], batch_size, rng):
            output = student(*_padded(ids, batch))
            loss = (1.0 - (output * target[batch]).sum(-1)).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            done += 1
            if progress is not None:
                progress(done, steps)
        losses.append(total / max(count, 1))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    student.eval()
    return losses
