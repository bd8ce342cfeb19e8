"""Fitting heads on a set of embeddings and measuring them: shared by the
training run and the design study, so both judge encoders the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.dataset import SplitArrays
from training.heads import HeadConfig, HeadData, QualityHeads, logits_of, train_heads
from training.platt import ModelMetrics, fit_platt, per_model_metrics, sigmoid, summarise


def head_data(part: SplitArrays, embeddings: npt.NDArray[np.float32]) -> HeadData:
    return HeadData(embeddings, part.labels, part.scale_index, part.dataset_index)


@dataclass(frozen=True)
class Calibration:
    a: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]

    def apply(self, logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return sigmoid(self.a * logits + self.b)


def calibrate(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.float32]) -> Calibration:
    """Platt scaling per model on validation logits."""
    a = np.ones(logits.shape[1])
    b = np.zeros(logits.shape[1])
    for j in range(logits.shape[1]):
        known = ~np.isnan(labels[:, j])
        a[j], b[j] = fit_platt(logits[known, j], labels[known, j].astype(np.float64))
    return Calibration(a, b)


@dataclass(frozen=True)
class Evaluation:
    heads: QualityHeads
    calibration: Calibration
    history: list[dict[str, float]]
    before: list[ModelMetrics]
    after: list[ModelMetrics]
    summary: dict[str, float]
    test_p: npt.NDArray[np.float64]

    def per_dataset_auc(
        self, part: SplitArrays, models: list[str], names: list[str]
    ) -> dict[str, float]:
        """Mean test AUC per dataset, over models with labels there."""
        out = {}
        p = self.test_p
        for d, name in enumerate(names):
            rows = part.dataset_index == d
            if not rows.any():
                continue
            metrics = per_model_metrics(p[rows], part.labels[rows].astype(np.float64), models)
            aucs = [m.auc for m in metrics if not np.isnan(m.auc)]
            if aucs:
                out[name] = float(np.mean(aucs))
        return out


def fit_and_measure(
    train: SplitArrays,
    val: SplitArrays,
    test: SplitArrays,
    embeddings: dict[str, npt.NDArray[np.float32]],
    models: list[str],
    n_scales: int,
    config: HeadConfig,
    *,
    offset_scales: list[bool] | None = None,
    on_epoch: object = None,
) -> Evaluation:
    """Trains heads on ``embeddings['train']``, calibrates on val, measures on test.

    Test predictions use the scale offset of each test prompt's own label
    scale: the question is how well the model ranks prompts on the scale they
    were graded on.
    """
    heads, history = train_heads(
        head_data(train, embeddings["train"]),
        head_data(val, embeddings["val"]),
        n_scales,
        config,
        offset_scales=offset_scales,
        on_epoch=on_epoch,  # type: ignore[arg-type]
    )
    val_logits = logits_of(heads, embeddings["val"], val.scale_index)
    calibration = calibrate(val_logits, val.labels)
    test_logits = logits_of(heads, embeddings["test"], test.scale_index)
    labels = test.labels.astype(np.float64)
    before = per_model_metrics(sigmoid(test_logits), labels, models)
    test_p = calibration.apply(test_logits)
    after = per_model_metrics(test_p, labels, models)
    summary = {f"test_{k}": v for k, v in summarise(after).items()}
    summary.update(
        {f"test_uncalibrated_{k}": v for k, v in summarise(before).items() if k != "models"}
    )
    return Evaluation(heads, calibration, history, before, after, summary, test_p)
