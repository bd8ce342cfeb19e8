"""Quality heads at serving time: embeddings in, calibrated P(success) out.

Plain numpy on the arrays of ``heads.npz`` (no torch):

    h      = gelu_tanh(embedding @ trunk_weight + trunk_bias)
    logit  = h @ model_vectors.T + model_bias (+ scale_offsets[scale])
    p      = sigmoid(a * logit + b)            # per-model Platt calibration

See ``training/heads.py`` for how the weights are learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError, InvalidInputError

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def gelu_tanh(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """GELU, tanh approximation (the one the heads are trained with)."""
    out: npt.NDArray[np.float32] = (
        0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    ).astype(np.float32, copy=False)
    return out


@dataclass(frozen=True)
class HeadWeights:
    trunk_weight: npt.NDArray[np.float32]  # [dim, hidden]
    trunk_bias: npt.NDArray[np.float32]  # [hidden]
    model_vectors: npt.NDArray[np.float32]  # [models, hidden]
    model_bias: npt.NDArray[np.float32]  # [models]
    scale_offsets: npt.NDArray[np.float32]  # [scales, models]

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.generic]]) -> HeadWeights:
        names = ("trunk_weight", "trunk_bias", "model_vectors", "model_bias", "scale_offsets")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise BundleError(f"heads.npz lacks {missing}")
        weights = cls(*(np.ascontiguousarray(arrays[n], dtype=np.float32) for n in names))
        _dim, hidden = weights.trunk_weight.shape
        if weights.trunk_bias.shape != (hidden,) or weights.model_vectors.shape[1] != hidden:
            raise BundleError("heads.npz: trunk and model vectors disagree on the hidden size")
        return weights

    @property
    def dim(self) -> int:
        return int(self.trunk_weight.shape[0])

    def features(self, embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return gelu_tanh(embeddings @ self.trunk_weight + self.trunk_bias)

    def logits(
        self, embeddings: npt.NDArray[np.float32], *, scale_index: int | None = None
    ) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (
            self.features(embeddings) @ self.model_vectors.T + self.model_bias
        )
        if scale_index is not None:
            out = out + self.scale_offsets[scale_index]
        return out


@dataclass(frozen=True)
class PlattCalibration:
    a: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]

    def apply(self, logits: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        z = np.clip(self.a * logits.astype(np.float64) + self.b, -40.0, 40.0)
        return 1.0 / (1.0 + np.exp(-z))


class QualityPredictor:
    """P(success) of each model for each prompt embedding.

    >>> heads = HeadWeights(np.eye(2, dtype=np.float32), np.zeros(2, np.float32),
    ...                     np.array([[1, 0], [0, 1]], np.float32), np.zeros(2, np.float32),
    ...                     np.zeros((1, 2), np.float32))
    >>> calibration = PlattCalibration(np.ones(2), np.zeros(2))
    >>> predictor = QualityPredictor(("a", "b"), (), heads, calibration)
    >>> predictor.p_success(np.array([[2.0, -2.0]], np.float32)).round(2).tolist()
    [[0.88, 0.49]]
    """

    def __init__(
        self,
        models: Sequence[str],
        scales: Sequence[str],
        heads: HeadWeights,
        calibration: PlattCalibration,
    ) -> None:
        self.models = tuple(models)
        self.scales = tuple(scales)
        self.heads = heads
        self.calibration = calibration
        self._column = {m: j for j, m in enumerate(self.models)}

    def columns(self, models: Sequence[str]) -> npt.NDArray[np.intp]:
        """Head indices of ``models`` (raises for a model the bundle does not cover)."""
        try:
            return np.array([self._column[m] for m in models], dtype=np.intp)
        except KeyError as error:
            raise InvalidInputError(
                f"model {error.args[0]!r} has no quality head in this bundle; it covers "
                f"{len(self.models)} models (see models.json). Add it with "
                "`learned-router add-model` or leave it out of the candidates."
            ) from None

    def p_success(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> npt.NDArray[np.float64]:
        """``[n, m]`` calibrated probabilities; ``scale`` adds that label scale's offsets."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.heads.dim:
            raise InvalidInputError(
                f"invalid argument `embeddings`: expected shape [n, {self.heads.dim}], "
                f"got {embeddings.shape}"
            )
        scale_index = None
        if scale is not None:
            if scale not in self.scales:
                raise InvalidInputError(
                    f"unknown quality scale {scale!r}; known: {list(self.scales)}"
                )
            scale_index = self.scales.index(scale)
        logits = self.heads.logits(embeddings, scale_index=scale_index)
        p = self.calibration.apply(logits)
        if models is None:
            return p
        return p[:, self.columns(models)]
