"""Learning the quality model that ``learned_router.quality`` serves.

One latent scale for every model, one link per label source, support-aware
shrinkage (the runtime module's docstring has the formula):

    z_raw(x, m) = ability_m + v_m . h(x) - difficulty . h(x),   h = gelu(W e + b)
    P(label | x, m, source s) = sigmoid(link_scale_s * z_raw + link_shift_s)

- A model's ``ability`` and skill vector ``v`` are shared by every dataset it
  appears in; a label source (a dataset with its own judge, metric and
  difficulty) only gets its own monotone link. So a model seen only through
  AlpacaEval's judge is still placed on the scale the others live on.
- A *deployment* (the same weights on another host, a reasoning-effort setting,
  a prompting variant: catalog ``base``) shares its base model's ability and
  vector plus a small offset (``deployment_l2``).
- Labels are soft targets (binary cross-entropy), weighted per dataset by
  ``rows_d ** -dataset_balance``.
- After training: ``prior_m`` is model m's ability from a one-parameter IRT
  fit to the (dataset, model) accuracy table (:func:`irt_prior`), the k-means
  ``centroids`` of the training prompts hold the label counts per model, and a
  ridge regression predicts log answer length from the embedding plus a
  per-model verbosity offset (:func:`fit_lengths`).

Why the prior is not the network's mean latent: leave-one-dataset-out (the
protocol, ``training.protocol``) showed that a model's mean latent over every
training prompt is not comparable across models seen in different datasets
(its skill vector extrapolates freely to prompts it was never graded on): the
Spearman correlation between that prior and the held-out dataset's real
per-model accuracy was 0.33 on MATH level 5 and 0.12 on MMLU-Pro, where the
IRT ability of the same training labels reaches 0.89 and 0.43
(``python -m training.lodo_diagnose``). Off the training distribution the
router falls back to the prior, so the prior is what "do no harm" rests on.

The latent scale is anchored softly (``link_l2`` pulls every link towards
scale 1, shift 0), so the canonical link of serving is an "average source".
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from learned_router.catalog import Catalog
from learned_router.neighbours import NeighbourMisses
from learned_router.quality import LatentQualityModel

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class QualityData:
    """Training rows: one per (prompt, label source), labels for the models that answered."""

    embeddings: F32  # [n, d]
    labels: F32  # [n, m], NaN where no label
    source: npt.NDArray[np.int64]  # [n] label source of the row
    dataset: npt.NDArray[np.int64]  # [n] dataset of the row (for weighting)
    lengths: npt.NDArray[np.float64] | None = None  # [n, m] answer tokens, NaN where unknown


@dataclass(frozen=True)
class QualityConfig:
    hidden: int = 128
    dropout: float = 0.1
    epochs: int = 40
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    vector_l2: float = 1e-3
    deployment_l2: float = 1e-2
    link_l2: float = 1e-2
    dataset_balance: float = 0.5
    patience: int = 4
    seed: int = 0
    centroids: int = 2048
    bandwidth: float = 0.05
    prior_strength: float = 1.0
    joint_trust: bool = True  # every candidate shares the least supported one's trust
    length_prior_strength: float = 20.0  # the verbosity offsets' own strength; 0: prior_strength
    length_l2: float = 1.0
    irt_l2: float = 0.01
    irt_min_labels: int = 20
    neighbour_k: int = 100  # bank prompts read per prompt for the neighbour misses; 0: no bank
    neighbour_tau: float = 0.1  # their weights exp((cos - 1) / tau)
    neighbour_pseudo: float = 5.0  # pseudo-counts shrinking a model's mean miss towards 0
    neighbour_dims: int = 32  # principal axes the bank's int8 embeddings keep
    neighbour_max_prompts: int = 60000  # a larger training set's bank is a seeded sample


def config_with(items: Sequence[str], base: QualityConfig | None = None) -> QualityConfig:
    """``base`` (default: ``QualityConfig()``) with ``FIELD=VALUE`` items applied, each
    value read as its field's type (the CLIs' ``--set`` / ``--config``).

    >>> config_with(["centroids=1024", "bandwidth=0.1"]).centroids
    1024
    """
    base = QualityConfig() if base is None else base
    changes: dict[str, object] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or field not in {f.name for f in dataclasses.fields(QualityConfig)}:
            raise ValueError(f"{item!r}: expected FIELD=VALUE with a QualityConfig field")
        kind = type(getattr(base, field))
        if kind is bool:
            if value.lower() not in {"true", "false"}:
                raise ValueError(f"{item!r}: the QualityConfig field {field} is true or false")
            changes[field] = value.lower() == "true"
        else:
            changes[field] = kind(value)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class LatentQuality(nn.Module):
    def __init__(
        self,
        dim: int,
        base_of: Sequence[int],
        n_sources: int,
        hidden: int,
        dropout: float,
    ) -> None:
        super().__init__()
        n_models = len(base_of)
        self.register_buffer("base_of", torch.tensor(list(base_of), dtype=torch.long))
        self.base_of: torch.Tensor
        self.trunk = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout)
        )
        self.difficulty = nn.Parameter(torch.zeros(hidden))
        self.ability = nn.Parameter(torch.zeros(n_models))
        self.vectors = nn.Parameter(torch.randn(n_models, hidden) * 0.01)
        self.ability_offset = nn.Parameter(torch.zeros(n_models))
        self.vector_offset = nn.Parameter(torch.zeros(n_models, hidden))
        self.log_scale = nn.Parameter(torch.zeros(n_sources))
        self.shift = nn.Parameter(torch.zeros(n_sources))
        # Deployments use base + offset; a base model's own offset stays 0.
        is_deployment = torch.tensor([b != j for j, b in enumerate(base_of)], dtype=torch.float32)
        self.register_buffer("is_deployment", is_deployment)
        self.is_deployment: torch.Tensor

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ability [m], vectors [m, hidden]) with deployments composed onto their base."""
        gate = self.is_deployment
        ability = self.ability[self.base_of] + gate * self.ability_offset
        vectors = self.vectors[self.base_of] + gate[:, None] * self.vector_offset
        return ability, vectors

    def latent(self, embeddings: torch.Tensor) -> torch.Tensor:
        h = self.trunk(embeddings)
        ability, vectors = self.effective()
        out: torch.Tensor = h @ vectors.T + ability - (h @ self.difficulty)[:, None]
        return out

    def forward(self, embeddings: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        z = self.latent(embeddings)
        return torch.exp(self.log_scale[source])[:, None] * z + self.shift[source][:, None]

    def penalty(self, config: QualityConfig) -> torch.Tensor:
        gate = self.is_deployment
        return (
            config.vector_l2 * self.vectors.pow(2).sum(1).mean()
            + config.deployment_l2
            * (gate * (self.ability_offset.pow(2) + self.vector_offset.pow(2).sum(1))).sum()
            / gate.sum().clamp(min=1)
            + config.link_l2 * (self.log_scale.pow(2).mean() + self.shift.pow(2).mean())
        )


def base_columns(models: Sequence[str], catalog: Catalog) -> list[int]:
    """Each model's base model's column (itself unless it is a deployment of one of ``models``)."""
    index = {m: j for j, m in enumerate(models)}
    out = []
    for j, m in enumerate(models):
        base = catalog.base_of(m) if catalog.knows(m) else None
        out.append(index.get(base, j) if base else j)
    return out


def row_weights(data: QualityData, balance: float) -> F32:
    """Per-row weights: datasets weighted by labelled cells ** -balance, mean 1 per label."""
    known = (~np.isnan(data.labels)).sum(1)
    counts = np.bincount(data.dataset, weights=known)
    per_dataset = np.where(counts > 0, counts, 1.0) ** -balance
    per_row = per_dataset[data.dataset]
    return np.asarray(per_row / (per_row * known).sum() * known.sum(), dtype=np.float32)


def _tensors(data: QualityData, balance: float) -> dict[str, torch.Tensor]:
    return {
        "x": torch.from_numpy(np.ascontiguousarray(data.embeddings, dtype=np.float32)),
        "y": torch.from_numpy(np.ascontiguousarray(data.labels, dtype=np.float32)),
        "s": torch.from_numpy(np.ascontiguousarray(data.source, dtype=np.int64)),
        "w": torch.from_numpy(row_weights(data, balance)),
    }


def masked_bce(
    logits: torch.Tensor, labels: torch.Tensor, row_weight: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy on soft labels over the known (non-NaN) cells, each row
    weighted, averaged per known cell (shared with the legacy heads)."""
    known = ~torch.isnan(labels)
    target = torch.where(known, labels, torch.zeros_like(labels))
    loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * known * row_weight[:, None]).sum() / known.sum().clamp(min=1)


def _loss(
    model: LatentQuality, t: dict[str, torch.Tensor], rows: torch.Tensor, config: QualityConfig
) -> torch.Tensor:
    logits = model(t["x"][rows], t["s"][rows])
    return masked_bce(logits, t["y"][rows], t["w"][rows]) + model.penalty(config)


def train_latent(
    train: QualityData,
    val: QualityData | None,
    base_of: Sequence[int],
    n_sources: int,
    config: QualityConfig,
    *,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[LatentQuality, list[dict[str, float]]]:
    """Fits the latent model; early stopping on validation loss when ``val`` is given."""
    torch.manual_seed(config.seed)
    model = LatentQuality(
        train.embeddings.shape[1], base_of, n_sources, config.hidden, config.dropout
    )
    with torch.no_grad():
        counts = (~np.isnan(train.labels)).sum(0)
        means = np.nansum(train.labels, axis=0) / np.maximum(counts, 1)
        base = np.clip(np.where(counts > 0, means, 0.5), 0.02, 0.98)
        model.ability.copy_(torch.from_numpy(np.log(base / (1 - base)).astype(np.float32)))
    tr = _tensors(train, config.dataset_balance)
    va = _tensors(val, config.dataset_balance) if val is not None and len(val.labels) else None
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best, best_state, waited = float("inf"), copy.deepcopy(model.state_dict()), 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(tr["x"]), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            loss = _loss(model, tr, order[start : start + config.batch_size], config)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # untyped in torch's stubs
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        model.eval()
        train_loss = total / max(batches, 1)
        if va is None:
            history.append({"epoch": epoch, "train_loss": train_loss})
            if on_epoch is not None:
                on_epoch(epoch, train_loss, float("nan"))
            continue
        with torch.no_grad():
            val_loss = float(_loss(model, va, torch.arange(len(va["x"])), config))
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)
        if val_loss < best - 1e-5:
            best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    if va is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history


def kmeans_centroids(embeddings: F32, k: int, *, seed: int) -> F32:
    """Unit-norm k-means centres of the training prompts (spherical k-means via sklearn)."""
    from sklearn.cluster import MiniBatchKMeans

    k = max(1, min(k, len(embeddings)))
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048)
    km.fit(embeddings)
    centres = km.cluster_centers_.astype(np.float32)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return np.asarray(centres / np.maximum(norms, 1e-12), dtype=np.float32)


def centroid_counts(embeddings: F32, labels: F32, centroids: F32, *, bandwidth: float) -> F32:
    """``[k, m]`` labelled prompts per centroid and model (each prompt spread over
    the centroids by the serving kernel, normalised to sum 1, so that the
    support of a training prompt is about its number of labelled neighbours)."""
    return _kernel_totals(embeddings, (~np.isnan(labels)).astype(np.float64), centroids, bandwidth)


def centroid_label_sums(embeddings: F32, labels: F32, centroids: F32, *, bandwidth: float) -> F32:
    """``[k, m]`` like :func:`centroid_counts`, but each labelled prompt adds its label
    instead of 1: divided by the counts, the kernel-weighted mean label per model."""
    values = np.nan_to_num(labels.astype(np.float64), nan=0.0)
    return _kernel_totals(embeddings, values, centroids, bandwidth)


def _kernel_totals(
    embeddings: F32, values: npt.NDArray[np.float64], centroids: F32, bandwidth: float
) -> F32:
    out = np.zeros((len(centroids), values.shape[1]), dtype=np.float64)
    for start in range(0, len(embeddings), 4096):
        e = embeddings[start : start + 4096]
        kernel = np.exp((e @ centroids.T - 1.0) / bandwidth)
        kernel /= np.maximum(kernel.sum(1, keepdims=True), 1e-300)
        out += kernel.T @ values[start : start + 4096]
    return out.astype(np.float32)


@dataclass(frozen=True)
class IrtFit:
    """The one-parameter IRT fit behind the prior."""

    prior: npt.NDArray[np.float64]  # [m] ability on an average training dataset
    datasets: npt.NDArray[np.int64]  # [d] the dataset ids, in residual's row order
    residual: npt.NDArray[np.float64]  # [d, m] shrunk cell residuals, 0 where no cell


def irt_fit(
    labels: F32,
    dataset: npt.NDArray[np.int64],
    *,
    l2: float,
    min_labels: int,
    base_of: Sequence[int] | None = None,
    deployment_l2: float = 1.0,
    shrink: float = 20.0,
) -> IrtFit:
    """Each model's ability on the latent scale from a one-parameter IRT fit.

    The data are the (dataset, model) mean labels with at least ``min_labels``
    labels: ``logit(mean) ~ a_m + b_d`` by least squares, each cell weighted by
    ``min(n, 200) / 200``, with ``l2 * a_m ** 2`` pulling models with little
    evidence to the average. Returns ``a_m + mean_d(b_d)``: the model's logit
    accuracy on an average training dataset. A model's standing is thereby
    judged only where it was graded, against the models graded beside it;
    models with no qualifying cell get the average ability. With ``base_of``,
    a deployment's ability is its base model's plus an offset held near 0 by
    ``deployment_l2``, as in the network.

    ``residual[k, m]`` is what the fit leaves in cell (``datasets[k]``, model m),
    ``logit(mean) - a_m - b_d``, shrunk by ``n / (n + shrink)``; 0 where there is
    no cell (``training/family_prior_study.py`` reads it).

    >>> labels = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], np.float32)
    >>> fit = irt_fit(labels, np.array([0, 0, 1, 1]), l2=0.01, min_labels=2)
    >>> bool(fit.prior[0] > fit.prior[1]), fit.residual.shape
    (True, (2, 2))
    """
    from scipy.optimize import minimize

    m = labels.shape[1]
    datasets = np.unique(dataset)
    rows: list[int] = []
    cols: list[int] = []
    target: list[float] = []
    weight: list[float] = []
    count: list[float] = []
    for k, d in enumerate(datasets):
        part = labels[dataset == d]
        counts = (~np.isnan(part)).sum(0)
        for j in np.flatnonzero(counts >= min_labels):
            mean = float(np.clip(np.nanmean(part[:, j]), 0.02, 0.98))
            rows.append(k)
            cols.append(int(j))
            target.append(float(np.log(mean / (1.0 - mean))))
            weight.append(min(int(counts[j]), 200) / 200.0)
            count.append(float(counts[j]))
    if not target:
        return IrtFit(np.zeros(m), datasets, np.zeros((len(datasets), m)))
    r, c = np.array(rows), np.array(cols)
    y, w = np.array(target), np.array(weight)
    n_d = len(datasets)
    base = np.asarray(base_of if base_of is not None else range(m), dtype=np.int64)
    deployment = base != np.arange(m)
    # Parameters: a [m] (a deployment's own entry is its offset), then b [datasets].

    def ability(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        a = x[:m]
        return np.asarray(a[base] + np.where(deployment, a, 0.0), dtype=np.float64)

    def loss(x: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        a, b = x[:m], x[m:]
        residual = ability(x)[c] + b[r] - y
        per_model = np.bincount(c, weights=w * residual, minlength=m)
        grad = np.zeros_like(x)
        np.add.at(grad, base, per_model)  # every model's error moves its base's ability
        grad[:m] += np.where(deployment, per_model, 0.0)  # ... and a deployment's offset
        np.add.at(grad[m:], r, w * residual)
        penalty = np.where(deployment, deployment_l2, l2)
        grad[:m] += penalty * a
        value = 0.5 * (w * residual**2).sum() + 0.5 * (penalty * a**2).sum()
        return float(value), grad

    x = minimize(loss, np.zeros(m + n_d), jac=True, method="L-BFGS-B").x
    used = np.unique(r)
    n = np.array(count)
    residual = np.zeros((n_d, m))
    residual[r, c] = (y - ability(x)[c] - x[m:][r]) * n / (n + shrink)
    return IrtFit(
        prior=np.asarray(ability(x) + x[m:][used].mean(), dtype=np.float64),
        datasets=datasets,
        residual=residual,
    )


def irt_prior(
    labels: F32,
    dataset: npt.NDArray[np.int64],
    *,
    l2: float,
    min_labels: int,
    base_of: Sequence[int] | None = None,
    deployment_l2: float = 1.0,
) -> npt.NDArray[np.float64]:
    """``irt_fit(...).prior``: the shipped prior (see :func:`irt_fit`)."""
    fit = irt_fit(
        labels,
        dataset,
        l2=l2,
        min_labels=min_labels,
        base_of=base_of,
        deployment_l2=deployment_l2,
    )
    return fit.prior


def fit_lengths(
    embeddings: F32,
    lengths: npt.NDArray[np.float64],
    *,
    l2: float,
    dataset: npt.NDArray[np.int64] | None = None,
) -> tuple[F32, float, F32]:
    """Ridge regression of log(answer tokens) on the embedding plus a per-model offset.

    Returns (weight [d], bias, offset [m]); models without length data get the
    mean offset. Solved by alternating two closed forms (a few rounds converge).

    With ``dataset``, a model's offset (its verbosity) is estimated beside a
    per-dataset effect, so that it compares a model with the others graded on
    the same prompts: pooled, a model graded mostly on maths (long worked
    answers) looked verbose everywhere and was priced 3-6x too high on short
    factual questions. The embedding regression is then fitted to what the
    offsets leave, with no dataset effect, so it carries how long each kind of
    prompt's answers are.
    """
    m = lengths.shape[1]
    d = embeddings.shape[1]
    rows, cols = np.nonzero(np.isfinite(lengths) & (lengths > 0))
    if rows.size == 0:
        return np.zeros(d, np.float32), float(np.log(200.0)), np.zeros(m, np.float32)
    y = np.log(lengths[rows, cols])
    counts = np.bincount(cols, minlength=m)
    seen = counts > 0
    offset = np.zeros(m)
    if dataset is not None:
        # Verbosity: alternate per-model and per-(dataset) means of what the other leaves.
        group = dataset[rows]
        n_groups = int(group.max()) + 1
        group_counts = np.bincount(group, minlength=n_groups)
        effect = np.zeros(n_groups)
        for _ in range(20):
            effect = np.bincount(group, weights=y - offset[cols], minlength=n_groups) / np.maximum(
                group_counts, 1
            )
            offset = np.bincount(cols, weights=y - effect[group], minlength=m) / np.maximum(
                counts, 1
            )
            offset -= offset[seen].mean()
    x = embeddings[rows].astype(np.float64)
    weight = np.zeros(d)
    bias = float(y.mean())
    for _ in range(1 if dataset is not None else 5):
        target = y - offset[cols]
        xc = x - x.mean(0)
        weight = np.linalg.solve(xc.T @ xc + l2 * np.eye(d), xc.T @ (target - target.mean()))
        bias = float(target.mean() - x.mean(0) @ weight)
        if dataset is not None:
            break
        residual = y - x @ weight - bias
        sums = np.bincount(cols, weights=residual, minlength=m)
        offset = np.where(seen, sums / np.maximum(counts, 1), 0.0)
    offset[~seen] = offset[seen].mean()
    return weight.astype(np.float32), bias, offset.astype(np.float32)


def export(
    model: LatentQuality,
    train: QualityData,
    models: Sequence[str],
    sources: Sequence[str],
    config: QualityConfig,
) -> LatentQualityModel:
    """The serving model: effective weights, priors, support centroids, length model."""
    linear = model.trunk[0]
    assert isinstance(linear, nn.Linear)
    with torch.no_grad():
        ability, vectors = model.effective()
    # The prior: each model's IRT ability on the training datasets (see the module docstring).
    prior = irt_prior(
        train.labels,
        train.dataset,
        l2=config.irt_l2,
        min_labels=config.irt_min_labels,
        base_of=model.base_of.tolist(),
    )
    centroids = kmeans_centroids(train.embeddings, config.centroids, seed=config.seed)
    counts = centroid_counts(train.embeddings, train.labels, centroids, bandwidth=config.bandwidth)
    if train.lengths is not None:
        weight, bias, offset = fit_lengths(
            train.embeddings, train.lengths, l2=config.length_l2, dataset=train.dataset
        )
    else:
        weight = np.zeros(train.embeddings.shape[1], np.float32)
        bias, offset = float(np.log(200.0)), np.zeros(len(models), np.float32)
    arrays = {
        "trunk_weight": linear.weight.detach().numpy().T.copy(),
        "trunk_bias": linear.bias.detach().numpy().copy(),
        "difficulty": model.difficulty.detach().numpy().copy(),
        "ability": ability.numpy().copy(),
        "model_vectors": vectors.numpy().copy(),
        "prior": prior.astype(np.float32),
        "link_scale": torch.exp(model.log_scale).detach().numpy().copy(),
        "link_shift": model.shift.detach().numpy().copy(),
        "centroids": centroids,
        "centroid_counts": counts,
        "length_weight": weight,
        "length_bias": np.array([bias], np.float32),
        "length_offset": offset,
    }
    served = LatentQualityModel.from_arrays(
        arrays,
        models=models,
        sources=sources,
        bandwidth=config.bandwidth,
        prior_strength=config.prior_strength,
        joint_trust=config.joint_trust,
        length_prior_strength=config.length_prior_strength or None,
    )
    if config.neighbour_k <= 0:
        return served
    rows = np.arange(len(train.embeddings))
    if len(rows) > config.neighbour_max_prompts:  # bounds the bundle: ~60 bytes a prompt
        rng = np.random.default_rng(config.seed)
        rows = np.sort(rng.choice(rows, size=config.neighbour_max_prompts, replace=False))
    sample = dataclasses.replace(
        train,
        embeddings=train.embeddings[rows],
        labels=train.labels[rows],
        source=train.source[rows],
        dataset=train.dataset[rows],
        lengths=None,
    )
    bank = NeighbourMisses.build(
        sample.embeddings,
        sample.labels - fitted_on_own_scale(served, sample),
        dims=config.neighbour_dims,
        k=min(config.neighbour_k, len(sample.embeddings)),
        tau=config.neighbour_tau,
        pseudo=config.neighbour_pseudo,
    )
    return dataclasses.replace(served, neighbours=bank)


def fitted_on_own_scale(model: LatentQualityModel, data: QualityData) -> npt.NDArray[np.float64]:
    """``[n, m]`` the model's prediction for each row on the row's own label source's
    scale, each model on its own trust (joint trust over every model would be the
    prior) and without neighbour misses: what the misses are measured against."""
    own = dataclasses.replace(model, joint_trust=False, neighbours=None)
    fitted = np.full(data.labels.shape, np.nan)
    for k, name in enumerate(model.scales):
        on = data.source == k
        if on.any():
            fitted[on] = own.predict(data.embeddings[on], scale=name).p_success
    return fitted


def fit_quality_model(
    train: QualityData,
    val: QualityData | None,
    models: Sequence[str],
    sources: Sequence[str],
    base_of: Sequence[int],
    config: QualityConfig,
    *,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[LatentQualityModel, list[dict[str, float]]]:
    """Trains and exports; see the module docstring."""
    model, history = train_latent(train, val, base_of, len(sources), config, on_epoch=on_epoch)
    served = export(model, train, models, sources, config)
    if val is not None and len(val.embeddings):
        served = novelty_reference(served, val.embeddings)
    return served, history


def novelty_reference(model: LatentQualityModel, held_out: F32) -> LatentQualityModel:
    """``model`` with its input-drift reference: the 95th percentile of ``held_out``
    prompts' distance to the nearest centroid (prompts the centroids never saw)."""
    from learned_router.drift.inputs import REFERENCE_QUANTILE, novelty

    distance = novelty(held_out, model.centroids)
    return dataclasses.replace(
        model, novelty_reference=float(np.quantile(distance, REFERENCE_QUANTILE))
    )
