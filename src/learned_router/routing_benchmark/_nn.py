"""Small numpy networks for the learned baselines (no torch in the runtime).

Two models, both predicting ``P(good answer)`` for every (prompt, model) cell
from the prompt embedding, trained with binary cross-entropy on soft labels
(quality in [0, 1]) by Adam, with early stopping on the validation split:

- :class:`MLPNet`: embedding -> ReLU -> ReLU -> one logit per model.
- :class:`MFNet`: RouteLLM's matrix factorisation, one logit per (prompt, model):
  ``w . (normalize(v_model) * (P^T x)) + b_model``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Params = dict[str, FloatArray]
Gradient = Callable[[Params, FloatArray, FloatArray], tuple[float, Params]]


def sigmoid(x: FloatArray) -> FloatArray:
    """Numerically stable logistic function."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def bce(p: FloatArray, y: FloatArray) -> float:
    """Mean binary cross-entropy of predictions ``p`` against soft labels ``y``."""
    p = np.clip(p, 1e-7, 1.0 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def logit(p: FloatArray) -> FloatArray:
    p = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)


@dataclass(frozen=True)
class NetTrainConfig:
    """Optimiser settings shared by the numpy baselines."""

    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    """L2 penalty on weight matrices (not biases)."""
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 8
    """Stop after this many epochs without a better validation loss."""
    seed: int = 0


def train_adam(
    params: Params,
    gradient: Gradient,
    predict: Callable[[Params, FloatArray], FloatArray],
    x: FloatArray,
    y: FloatArray,
    *,
    x_val: FloatArray | None,
    y_val: FloatArray | None,
    config: NetTrainConfig,
) -> Params:
    """Minibatch Adam with early stopping; returns the parameters of the best epoch.

    Without validation data it trains for ``max_epochs // 4`` epochs.
    """
    rng = np.random.default_rng(config.seed)
    first = {k: np.zeros_like(v) for k, v in params.items()}
    second = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    best = {k: v.copy() for k, v in params.items()}
    best_loss = math.inf
    stale = 0
    epochs = config.max_epochs if x_val is not None else max(1, config.max_epochs // 4)
    for _ in range(epochs):
        order = rng.permutation(x.shape[0])
        for start in range(0, x.shape[0], config.batch_size):
            batch = order[start : start + config.batch_size]
            _, grads = gradient(params, x[batch], y[batch])
            step += 1
            for k, g in grads.items():
                if k.startswith("W"):
                    g = g + config.weight_decay * params[k]
                first[k] = beta1 * first[k] + (1 - beta1) * g
                second[k] = beta2 * second[k] + (1 - beta2) * g * g
                m_hat = first[k] / (1 - beta1**step)
                v_hat = second[k] / (1 - beta2**step)
                params[k] = params[k] - config.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        if x_val is None or y_val is None:
            best = {k: v.copy() for k, v in params.items()}
            continue
        loss = bce(predict(params, x_val), y_val)
        if loss < best_loss - 1e-5:
            best_loss, stale = loss, 0
            best = {k: v.copy() for k, v in params.items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    return best


class _AdamNet:
    """A numpy network trained by :func:`train_adam`: subclasses give the
    initial parameters, the forward pass and its gradient."""

    config: NetTrainConfig
    params: Params

    def _init_params(self, rng: np.random.Generator, x: FloatArray, y: FloatArray) -> Params:
        raise NotImplementedError

    @classmethod
    def _predict(cls, params: Params, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    @classmethod
    def _gradient(cls, params: Params, x: FloatArray, y: FloatArray) -> tuple[float, Params]:
        raise NotImplementedError

    def fit(
        self,
        x: FloatArray,
        y: FloatArray,
        *,
        x_val: FloatArray | None = None,
        y_val: FloatArray | None = None,
    ) -> _AdamNet:
        params = self._init_params(np.random.default_rng(self.config.seed), x, y)
        self.params = train_adam(
            params,
            self._gradient,
            self._predict,
            x,
            y,
            x_val=x_val,
            y_val=y_val,
            config=self.config,
        )
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        return self._predict(self.params, x)


class MLPNet(_AdamNet):
    """Embedding -> hidden ReLU layers -> one sigmoid output per model."""

    def __init__(self, *, hidden: tuple[int, ...] = (128, 128), config: NetTrainConfig) -> None:
        self.hidden = hidden
        self.config = config
        self.params: Params = {}

    @staticmethod
    def _forward(params: Params, x: FloatArray) -> tuple[list[FloatArray], FloatArray]:
        activations = [x]
        layers = sum(1 for k in params if k.startswith("W"))
        h = x
        for i in range(layers - 1):
            h = np.maximum(h @ params[f"W{i}"] + params[f"b{i}"], 0.0)
            activations.append(h)
        out = h @ params[f"W{layers - 1}"] + params[f"b{layers - 1}"]
        return activations, out

    @classmethod
    def _predict(cls, params: Params, x: FloatArray) -> FloatArray:
        return sigmoid(cls._forward(params, x)[1])

    @classmethod
    def _gradient(cls, params: Params, x: FloatArray, y: FloatArray) -> tuple[float, Params]:
        activations, out = cls._forward(params, x)
        p = sigmoid(out)
        delta = (p - y) / y.size
        grads: Params = {}
        layers = len(activations)
        for i in reversed(range(layers)):
            grads[f"W{i}"] = activations[i].T @ delta
            grads[f"b{i}"] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ params[f"W{i}"].T) * (activations[i] > 0)
        return bce(p, y), grads

    def _init_params(self, rng: np.random.Generator, x: FloatArray, y: FloatArray) -> Params:
        sizes = [x.shape[1], *self.hidden, y.shape[1]]
        params: Params = {}
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            params[f"W{i}"] = rng.normal(0.0, math.sqrt(2.0 / a), size=(a, b))
            params[f"b{i}"] = np.zeros(b)
        params[f"b{len(sizes) - 2}"] = logit(y.mean(axis=0))
        return params


class MFNet(_AdamNet):
    """RouteLLM's matrix factorisation, pointwise: one logit per (prompt, model).

    ``logit[q, m] = w . (v_m / |v_m| * (P^T x_q)) + b_m``: the prompt embedding
    is projected to ``dim``, multiplied elementwise with the model's
    normalised embedding, and read out by a shared vector ``w``. RouteLLM's
    MF scores a model pair by the difference of two such logits (without
    ``b_m``); predicting every model's own success needs the per-model bias.
    """

    def __init__(self, *, dim: int = 128, config: NetTrainConfig) -> None:
        self.dim = dim
        self.config = config
        self.params: Params = {}

    @staticmethod
    def _parts(params: Params, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        z = x @ params["W_proj"]
        norms = np.linalg.norm(params["W_models"], axis=1, keepdims=True)
        v_hat = params["W_models"] / np.maximum(norms, 1e-12)
        return z, v_hat, (z * params["w_out"]) @ v_hat.T + params["b_models"]

    @classmethod
    def _predict(cls, params: Params, x: FloatArray) -> FloatArray:
        return sigmoid(cls._parts(params, x)[2])

    @classmethod
    def _gradient(cls, params: Params, x: FloatArray, y: FloatArray) -> tuple[float, Params]:
        z, v_hat, out = cls._parts(params, x)
        p = sigmoid(out)
        g = (p - y) / y.size
        w = params["w_out"]
        d_a = g @ v_hat  # d loss / d (z * w)
        d_v_hat = g.T @ (z * w)
        norms = np.maximum(np.linalg.norm(params["W_models"], axis=1, keepdims=True), 1e-12)
        d_models = (d_v_hat - v_hat * np.sum(v_hat * d_v_hat, axis=1, keepdims=True)) / norms
        grads: Params = {
            "W_proj": x.T @ (d_a * w),
            "w_out": np.sum(d_a * z, axis=0),
            "W_models": d_models,
            "b_models": g.sum(axis=0),
        }
        return bce(p, y), grads

    def _init_params(self, rng: np.random.Generator, x: FloatArray, y: FloatArray) -> Params:
        d, m = x.shape[1], y.shape[1]
        return {
            "W_proj": rng.normal(0.0, 1.0 / math.sqrt(d), size=(d, self.dim)),
            "W_models": rng.normal(0.0, 1.0, size=(m, self.dim)),
            "w_out": rng.uniform(-1.0, 1.0, size=self.dim) / math.sqrt(self.dim),
            "b_models": logit(y.mean(axis=0)),
        }
