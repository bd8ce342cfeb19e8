"""From outcome logs to training arrays, using the runtime's own data layer.

Model names are resolved through the catalog, so every spelling of a model
in the logs ("Meta-Llama-3.1-8B-Instruct", "meta/llama-3.1-8b-instruct", ...)
trains the one head the router will serve.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router import data
from learned_router.catalog import Catalog
from learned_router.data import OutcomeLog, Splits


@dataclass(frozen=True)
class SplitArrays:
    """One split as arrays: a row per prompt, a column per model."""

    texts: list[str]
    keys: list[tuple[str, str]]
    datasets: list[str]
    tasks: list[str | None]
    labels: npt.NDArray[np.float32]  # [n, m] NaN where unlabelled
    scale_index: npt.NDArray[np.int64]  # [n]
    dataset_index: npt.NDArray[np.int64]  # [n]
    cost_usd: npt.NDArray[np.float64]  # [n, m] real cost where logged, NaN elsewhere
    output_tokens: npt.NDArray[np.float64]  # [n, m] observed answer tokens, NaN where unknown

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: npt.NDArray[np.int64]) -> SplitArrays:
        return SplitArrays(
            texts=[self.texts[i] for i in rows],
            keys=[self.keys[i] for i in rows],
            datasets=[self.datasets[i] for i in rows],
            tasks=[self.tasks[i] for i in rows],
            labels=self.labels[rows],
            scale_index=self.scale_index[rows],
            dataset_index=self.dataset_index[rows],
            cost_usd=self.cost_usd[rows],
            output_tokens=self.output_tokens[rows],
        )


@dataclass(frozen=True)
class TrainingData:
    """The log split and arranged for training, with what identifies it."""

    log: OutcomeLog
    splits: Splits
    models: list[str]  # catalog ids, the heads' order
    scales: list[str]
    dataset_names: list[str]
    parts: dict[str, SplitArrays]
    fingerprint: str
    rows: dict[str, int] = field(default_factory=dict)


def fingerprint(log: OutcomeLog) -> str:
    """A hash of the prompts and outcomes the model learns from."""
    digest = hashlib.sha256()
    for table, columns in (
        (log.prompts, ("dataset", "prompt_id", "prompt")),
        (log.outcomes, ("dataset", "prompt_id", "model", "quality")),
    ):
        for column in columns:
            digest.update(json.dumps(table.column(column).to_pylist(), default=str).encode())
    return digest.hexdigest()


def prepare(
    paths: Sequence[str | Path],
    catalog: Catalog,
    *,
    fractions: dict[str, float],
    seed: int,
    rejects: str | Path | None = None,
) -> TrainingData:
    """Loads, resolves, splits and arranges outcome logs for training."""
    log, _ = (
        data.load(list(paths), rejects=rejects)
        .with_catalog_names(catalog)
        .without_self_comparisons()
    )
    splits = data.split_prompts(log, fractions=fractions, seed=seed)
    data.check_no_leakage(log, splits)
    models = sorted(set(log.models))
    scales = sorted(set(log.outcomes.column("quality_scale").to_pylist()))
    dataset_names = list(log.datasets)
    parts = {
        name: _arrays(splits.log(log, name), models, scales, dataset_names) for name in splits.names
    }
    return TrainingData(
        log=log,
        splits=splits,
        models=models,
        scales=scales,
        dataset_names=dataset_names,
        parts=parts,
        fingerprint=fingerprint(log),
        rows={
            "prompts": log.num_prompts,
            "outcomes": log.num_outcomes,
            **{f"{k}_prompts": len(v) for k, v in parts.items()},
        },
    )


def _arrays(
    part: OutcomeLog, models: list[str], scales: list[str], datasets: list[str]
) -> SplitArrays:
    matrix = part.matrix(models)
    scale_of = {s: i for i, s in enumerate(scales)}
    dataset_of = {d: i for i, d in enumerate(datasets)}
    return SplitArrays(
        texts=list(matrix.prompts),
        keys=matrix.keys,
        datasets=list(matrix.datasets),
        tasks=list(matrix.tasks),
        labels=matrix.quality.astype(np.float32),
        scale_index=np.array([scale_of.get(s, 0) for s in matrix.quality_scales], dtype=np.int64),
        dataset_index=np.array([dataset_of[d] for d in matrix.datasets], dtype=np.int64),
        cost_usd=matrix.cost_usd,
        output_tokens=observed_output_tokens(part, matrix.keys, models),
    )


def observed_output_tokens(
    log: OutcomeLog,
    keys: Sequence[tuple[str, str]],
    models: Sequence[str],
    *,
    tokens: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """``[len(keys), len(models)]`` answer lengths in tokens where the log has them
    (token counts, or the answer text / its length in characters), NaN elsewhere.
    ``tokens``: the log's rows already counted (``learned_router.tokens``)."""
    from learned_router.tokens import TokenCounter
    from learned_router.tokens import observed_output_tokens as per_row

    if tokens is None:
        tokens = per_row(log, TokenCounter())
    column = {m: j for j, m in enumerate(models)}
    row = {key: i for i, key in enumerate(keys)}
    out = np.full((len(keys), len(models)), np.nan)
    outcomes = log.outcomes
    for value, dataset, pid, model in zip(
        tokens,
        outcomes.column("dataset").to_pylist(),
        outcomes.column("prompt_id").to_pylist(),
        outcomes.column("model").to_pylist(),
        strict=True,
    ):
        i, j = row.get((dataset, pid)), column.get(model)
        if i is not None and j is not None and np.isfinite(value):
            out[i, j] = value
    return out
