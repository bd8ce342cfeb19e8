"""Per-model quality heads on the student's prompt embedding.

Architecture (``QualityHeads``): a shared trunk turns the embedding into
features ``h = gelu(W e + b)``; each model m has a vector ``v_m`` and a bias
``c_m`` (a learned "model embedding"), and ``logit(P(success)) = v_m . h + c_m``.
A new model is added by fitting only its ``(v, c)`` on the frozen trunk's
features (:func:`fit_new_model`): a logistic regression, a few hundred
labels suffice, and neither the encoder nor the other heads change.

Mixed label scales. Datasets grade on different scales: 0/1 correctness,
task scores, a judge's probability of beating a reference model, a win rate
with ties. Two things handle that explicitly:
- the loss is binary cross-entropy against the label as a soft target, valid
  for any label in [0, 1];
- conditioning on comparative scales: a scale that grades a model *against
  another model* (a judge's win rate, pairwise battles: its name mentions
  "win", "judge", "pairwise" or " vs ") gets a learned offset per (scale,
  model) added to the logit in training, lightly L2-penalised. Absolute scales
  (correctness, pass rates, task scores) get none: they define what P(success)
  means when serving, which uses no offset. A model graded both ways (GPT-4
  is graded by RouterBench's correctness and is AlpacaEval 2's reference,
  where its win rate against itself is 0.5 by construction) keeps its
  correctness-scale base rate; the judge's scale moves only its offset. A model
  graded only on a comparative scale is predicted on that scale.

Labels are weighted per dataset by ``rows_d ** -dataset_balance`` so that the
largest dataset (MMLU-Pro, half of all labels) does not shape the shared trunk
alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from training.quality_model import masked_bce


@dataclass(frozen=True)
class HeadData:
    """Training rows: one per prompt, labels for whichever models answered it."""

    embeddings: npt.NDArray[np.float32]  # [n, d]
    labels: npt.NDArray[np.float32]  # [n, m], NaN where no label
    scale_index: npt.NDArray[np.int64]  # [n], index into the scales list
    dataset_index: npt.NDArray[np.int64]  # [n]


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 256
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    scale_offset_l2: float = 1e-3
    comparative_scale_words: tuple[str, ...] = ("win", "judge", "pairwise", " vs ")
    dataset_balance: float = 0.5
    patience: int = 4
    seed: int = 0


class QualityHeads(nn.Module):
    offset_mask: torch.Tensor  # a registered buffer: [n_scales, 1]

    def __init__(
        self,
        dim: int,
        n_models: int,
        n_scales: int,
        hidden: int,
        dropout: float,
        offset_scales: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        mask = [True] * n_scales if offset_scales is None else list(offset_scales)
        if len(mask) != n_scales:
            raise ValueError(f"offset_scales has {len(mask)} entries for {n_scales} scales")
        # 1 for scales with a learned offset, 0 for absolute scales (fixed at 0).
        self.register_buffer("offset_mask", torch.tensor(mask, dtype=torch.float32)[:, None])
        self.trunk = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout)
        )
        self.model_vectors = nn.Parameter(torch.randn(n_models, hidden) * 0.01)
        self.model_bias = nn.Parameter(torch.zeros(n_models))
        self.scale_offsets = nn.Parameter(torch.zeros(n_scales, n_models))

    def features(self, embeddings: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.trunk(embeddings)
        return out

    def forward(
        self, embeddings: torch.Tensor, scale_index: torch.Tensor | None = None
    ) -> torch.Tensor:
        logits = self.features(embeddings) @ self.model_vectors.T + self.model_bias
        if scale_index is not None:
            logits = logits + self.offsets()[scale_index]
        return logits

    def offsets(self) -> torch.Tensor:
        return self.scale_offsets * self.offset_mask

    def to_arrays(self) -> dict[str, npt.NDArray[np.float32]]:
        """The weights the runtime reads (``heads.npz``)."""
        linear = self.trunk[0]
        assert isinstance(linear, nn.Linear)
        return {
            "trunk_weight": linear.weight.detach().numpy().T.copy(),  # [d, hidden]
            "trunk_bias": linear.bias.detach().numpy().copy(),
            "model_vectors": self.model_vectors.detach().numpy().copy(),  # [m, hidden]
            "model_bias": self.model_bias.detach().numpy().copy(),
            "scale_offsets": self.offsets().detach().numpy().copy(),  # [s, m]
        }


def _weights(data: HeadData, balance: float) -> npt.NDArray[np.float32]:
    counts = np.bincount(data.dataset_index, weights=(~np.isnan(data.labels)).sum(1))
    per_dataset = np.where(counts > 0, counts, 1.0) ** -balance
    per_row = per_dataset[data.dataset_index]
    labelled = (~np.isnan(data.labels)).sum()
    return np.asarray(
        per_row / (per_row * (~np.isnan(data.labels)).sum(1)).sum() * labelled, dtype=np.float32
    )


def _loss(
    heads: QualityHeads, data: dict[str, torch.Tensor], rows: torch.Tensor, l2: float
) -> torch.Tensor:
    logits = heads(data["x"][rows], data["scale"][rows])
    weighted = masked_bce(logits, data["y"][rows], data["w"][rows])
    return weighted + l2 * heads.offsets().pow(2).mean()


def _tensors(data: HeadData, balance: float) -> dict[str, torch.Tensor]:
    return {
        "x": torch.from_numpy(np.ascontiguousarray(data.embeddings, dtype=np.float32)),
        "y": torch.from_numpy(np.ascontiguousarray(data.labels, dtype=np.float32)),
        "scale": torch.from_numpy(np.ascontiguousarray(data.scale_index, dtype=np.int64)),
        "w": torch.from_numpy(_weights(data, balance)),
    }


def train_heads(
    train: HeadData,
    val: HeadData,
    n_scales: int,
    config: HeadConfig,
    *,
    offset_scales: Sequence[bool] | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[QualityHeads, list[dict[str, float]]]:
    """Trains the heads with early stopping on the validation loss."""
    torch.manual_seed(config.seed)
    n_models = train.labels.shape[1]
    heads = QualityHeads(
        train.embeddings.shape[1], n_models, n_scales, config.hidden, config.dropout, offset_scales
    )
    with torch.no_grad():
        # Each model's label mean (0.5 for a model without training labels).
        counts = (~np.isnan(train.labels)).sum(axis=0)
        means = np.nansum(train.labels, axis=0) / np.maximum(counts, 1)
        base = np.clip(np.where(counts > 0, means, 0.5), 0.02, 0.98)
        heads.model_bias.copy_(torch.from_numpy(np.log(base / (1 - base)).astype(np.float32)))
    tr, va = _tensors(train, config.dataset_balance), _tensors(val, config.dataset_balance)
    optimiser = torch.optim.AdamW(
        heads.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best, best_state, waited = float("inf"), copy.deepcopy(heads.state_dict()), 0
    all_val = torch.arange(len(va["x"]))
    for epoch in range(config.epochs):
        heads.train()
        order = torch.randperm(len(tr["x"]), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            loss = _loss(
                heads, tr, order[start : start + config.batch_size], config.scale_offset_l2
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # untyped in torch's stubs
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        heads.eval()
        with torch.no_grad():
            val_loss = float(_loss(heads, va, all_val, config.scale_offset_l2))
        history.append(
            {"epoch": epoch, "train_loss": total / max(batches, 1), "val_loss": val_loss}
        )
        if on_epoch is not None:
            on_epoch(epoch, history[-1]["train_loss"], val_loss)
        if val_loss < best - 1e-5:
            best, best_state, waited = val_loss, copy.deepcopy(heads.state_dict()), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    heads.load_state_dict(best_state)
    heads.eval()
    return heads, history


def comparative(scales: Sequence[str], words: Sequence[str]) -> list[bool]:
    """Which scales grade against another model (and so get learned offsets).

    >>> comparative(["correct(0/1)", "P(win vs gpt4), judge x"], ("win", "judge"))
    [False, True]
    """
    return [any(word in scale.lower() for word in words) for scale in scales]


def logits_of(
    heads: QualityHeads,
    embeddings: npt.NDArray[np.float32],
    scale_index: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float64]:
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
        scale = (
            None
            if scale_index is None
            else torch.from_numpy(np.asarray(scale_index, dtype=np.int64))
        )
        return np.asarray(heads(x, scale).numpy(), dtype=np.float64)


def features_of(
    heads: QualityHeads, embeddings: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    with torch.no_grad():
        return (
            heads.features(torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)))
            .double()
            .numpy()
        )


L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _newton_logistic(
    x: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    penalty: npt.NDArray[np.float64],
    prior: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """argmin of soft-label log loss + 1/2 sum(penalty * (w - prior)^2)."""
    w = prior.copy()
    for _ in range(50):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))  # the sigmoid, without overflow
        gradient = x.T @ (p - labels) + penalty * (w - prior)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return np.asarray(w, dtype=np.float64)


def prior_candidates(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    existing: npt.NDArray[np.float64],
    *,
    top: int = 5,
) -> dict[str, npt.NDArray[np.float64]]:
    """Vectors a new model's head may be shrunk towards: none (zero), the mean
    of the ``existing`` model vectors, and the mean of the ``top`` existing
    models whose scores on these prompts correlate best with the labels ("a
    new model ranks prompts like the models most like it")."""
    scores = features @ existing.T
    centred = scores - scores.mean(axis=0)
    y = labels - labels.mean()
    norms = np.linalg.norm(centred, axis=0) * max(float(np.linalg.norm(y)), 1e-12)
    correlation = np.divide(centred.T @ y, norms, out=np.zeros(len(existing)), where=norms > 0)
    nearest = np.argsort(-correlation, kind="stable")[:top]
    return {
        "none": np.zeros(features.shape[1]),
        "mean": existing.mean(axis=0),
        f"top{top}": existing[nearest].mean(axis=0),
    }


def fit_new_model(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    *,
    l2: float | None = None,
    prior: npt.NDArray[np.float64] | None = None,
    existing: npt.NDArray[np.float64] | None = None,
    folds: int = 5,
) -> tuple[npt.NDArray[np.float64], float]:
    """A new model's head ``(v, c)`` on frozen trunk features: logistic
    regression with soft labels, by Newton's method (it is convex; a few
    steps converge on a few hundred rows).

    ``v`` is shrunk towards ``prior`` (zero when absent) with strength ``l2``.
    With ``existing`` (the bundle's model vectors, ``[k, d]``) the prior is
    chosen among :func:`prior_candidates`; whatever of the prior and ``l2`` is
    not given is chosen by ``folds``-fold cross-validated log loss
    (deterministic folds; ``l2`` from ``L2_GRID``). The candidate ranking
    itself sees all the labels, a mild optimism the cross-validation does not
    remove.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 3))
    >>> y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    >>> v, c = fit_new_model(x, y, l2=0.1)
    >>> bool(v[0] > 5 * abs(v[1]))
    True
    """
    d = features.shape[1]
    x = np.hstack([features, np.ones((len(features), 1))])
    if prior is not None and existing is not None:
        raise ValueError("give a fixed prior or the existing vectors to choose one from, not both")
    if prior is not None:
        if prior.shape != (d,):
            raise ValueError(f"prior has shape {prior.shape}; expected ({d},)")
        priors = {"given": prior}
    elif existing is not None:
        if existing.ndim != 2 or existing.shape[1] != d:
            raise ValueError(f"existing has shape {existing.shape}; expected (k, {d})")
        priors = prior_candidates(features, labels, existing)
    else:
        priors = {"none": np.zeros(d)}
    centres = {name: np.append(vector, 0.0) for name, vector in priors.items()}

    def penalty(strength: float) -> npt.NDArray[np.float64]:
        out = np.full(x.shape[1], strength)
        out[-1] = 1e-6  # do not shrink the bias
        return out

    grid = [(name, strength) for name in centres for strength in ((l2,) if l2 else L2_GRID)]
    if len(grid) > 1:
        fold = np.random.default_rng(0).permutation(len(x)) % folds
        losses = []
        for name, strength in grid:
            loss = 0.0
            for k in range(folds):
                held = fold == k
                w = _newton_logistic(x[~held], labels[~held], penalty(strength), centres[name])
                z = x[held] @ w
                y = labels[held]
                # log loss, stably: -log sigmoid(z) = logaddexp(0, -z)
                loss += float(np.sum(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)))
            losses.append(loss)
        grid = [grid[int(np.argmin(losses))]]
    name, strength = grid[0]
    w = _newton_logistic(x, labels, penalty(strength), centres[name])
    return w[:-1], float(w[-1])
