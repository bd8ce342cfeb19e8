"""Per-prompt tenant corrections: the residuals of a tenant's outcomes near a prompt.

The tenant corrections of :mod:`learned_router.drift.corrections` are one
shift per (model, band of predicted P): they re-rank models everywhere alike.
What a tenant's traffic shows is often local: the routed model fails on one
kind of prompt and not on another. A :class:`LocalResiduals` memory keeps the
tenant's latest outcomes with the prompt's embedding (unit rows, float32),
and for a new prompt ``x`` and model ``m`` reads them:

    near     = the k remembered outcomes most similar to x (cosine)
    w_i      = exp((cos(x, i) - 1) / tau)
    d_i      = observed_i - predicted_i - global_shift(model_i, predicted_i)
    pool(x)  = sum_i w_i d_i / (sum_i w_i + pseudo)
    prior_m  = pseudo + support_m(x)
    local_m  = (sum_{i: model_i = m} w_i d_i + prior_m * pooled * pool(x))
               / (sum_{i: model_i = m} w_i + prior_m)

``d`` is what the global correction left unexplained, so the local term adds
to it instead of counting the same evidence twice. ``support_m(x)`` is the
quality model's own effective count of labelled training prompts near ``x``
for ``m`` (``RouteDecision.support``): the tenant's outcomes and the bundle's
training labels are weighed as evidence of the same kind, so on traffic like
the training data (support in the hundreds) the term stays small, and on
traffic the bundle never saw (support ~0) the tenant's outcomes lead. ``pooled`` is the share of
the neighbourhood's mean deviation a model gets where it has no outcomes of
its own near ``x`` (see ``Corrections``' docstring for the winner's curse it
answers; measured per-prompt in docs/drift.md).

The memory is a ring of the latest ``capacity`` outcomes per tenant, so it
stays bounded (``capacity x dim x 4`` bytes; 4,096 x 384: 6 MB).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]


class LocalResiduals:
    """The latest outcomes of one tenant with their prompts' embeddings."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.dim = int(dim)
        self.capacity = int(capacity)
        self.keys = np.zeros((capacity, dim), np.float32)
        self.model = np.zeros(capacity, np.int32)
        self.predicted = np.zeros(capacity, np.float64)
        self.residual = np.zeros(capacity, np.float64)
        self.models: list[str] = []
        self._index: dict[str, int] = {}
        self.count = 0  # outcomes ever added; the ring holds the latest ``capacity``

    @property
    def size(self) -> int:
        return min(self.count, self.capacity)

    def add(self, embedding: F32, model: str, predicted: float, residual: float) -> None:
        j = self._index.get(model)
        if j is None:
            j = self._index[model] = len(self.models)
            self.models.append(model)
        slot = self.count % self.capacity
        norm = float(np.linalg.norm(embedding))
        self.keys[slot] = embedding / max(norm, 1e-12)
        self.model[slot] = j
        self.predicted[slot] = predicted
        self.residual[slot] = residual
        self.count += 1

    def shift(
        self,
        embeddings: F32,
        models: Sequence[str],
        global_table: FloatArray,
        *,
        k: int,
        tau: float,
        pseudo: float,
        pooled: float,
        bands: int,
        support: FloatArray | None = None,
    ) -> FloatArray:
        """``[n, len(models)]`` the local term for each prompt and model.

        ``global_table[j, b]``: the global shift of ``self.models[j]`` at band ``b``
        (what ``d_i`` subtracts). ``support`` (``[n, len(models)]``, the quality
        model's effective count of labelled training prompts near each prompt for
        each model) adds to ``pseudo``: where the bundle was graded on hundreds of
        prompts like this one, a few of the tenant's outcomes move it little."""
        size = self.size
        out = np.zeros((len(embeddings), len(models)))
        if size == 0:
            return out
        keys = self.keys[:size]  # a view: float32, no copy on the hot path
        owner = self.model[:size]
        band = np.minimum(bands - 1, np.maximum(0, (self.predicted[:size] * bands).astype(int)))
        deviation = self.residual[:size] - global_table[owner, band]
        column = np.array([self._index.get(m, -1) for m in models])
        k = min(k, size)
        for r, x in enumerate(np.asarray(embeddings, np.float64)):
            # One prompt at a time (a matrix-vector product of the same shape for every
            # prompt): which k outcomes count never depends on the batch.
            unit = (x / max(float(np.linalg.norm(x)), 1e-12)).astype(np.float32)
            cos = (keys @ unit).astype(np.float64)
            near = np.argpartition(-cos, k - 1)[:k] if k < size else np.arange(size)
            w = np.exp((cos[near] - 1.0) / tau)
            d = deviation[near]
            pool = float(w @ d) / (float(w.sum()) + pseudo)
            mine = w[:, None] * (owner[near][:, None] == column[None, :])  # [k, models]
            prior = pseudo if support is None else pseudo + support[r]
            out[r] = (d @ mine + prior * pooled * pool) / (mine.sum(0) + prior)
        return out

    # --- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-ready: the ring in order (oldest first), keys as base64 float16."""
        size = self.size
        order = (np.arange(size) + (self.count - size)) % self.capacity
        return {
            "dim": self.dim,
            "capacity": self.capacity,
            "count": self.count,
            "models": list(self.models),
            "model": self.model[order].tolist(),
            "predicted": self.predicted[order].tolist(),
            "residual": self.residual[order].tolist(),
            "keys": base64.b64encode(self.keys[order].astype("<f2").tobytes()).decode("ascii"),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LocalResiduals:
        """Inverse of :meth:`state`; raises ``ValueError``/``KeyError`` on a damaged one."""
        out = cls(int(state["dim"]), int(state["capacity"]))
        models = [str(m) for m in state["models"]]
        model = np.asarray(state["model"], np.int32)
        predicted = np.asarray(state["predicted"], np.float64)
        residual = np.asarray(state["residual"], np.float64)
        raw = base64.b64decode(state["keys"], validate=True)
        size = len(model)
        keys = np.frombuffer(raw, "<f2").astype(np.float32)
        if (
            out.dim < 1
            or not 0 <= size <= out.capacity
            or keys.size != size * out.dim
            or predicted.shape != (size,)
            or residual.shape != (size,)
            or (size and (model.min() < 0 or model.max() >= len(models)))
            or not (np.isfinite(keys).all() and np.isfinite(predicted).all())
            or not np.isfinite(residual).all()
            or int(state["count"]) < size
        ):
            raise ValueError("local residuals: arrays of inconsistent shape or values")
        out.models = models
        out._index = {m: j for j, m in enumerate(models)}
        out.keys[:size] = keys.reshape(size, out.dim)
        out.model[:size] = model
        out.predicted[:size] = predicted
        out.residual[:size] = residual
        # Stored oldest first from slot 0: the next outcome overwrites slot ``size``.
        out.count = size
        return out
