"""The quality model at serving time: prompt embeddings in, P(success) out.

Every consumer (the Router, the benchmark, promotion, policy calibration)
scores through one interface, :class:`QualityModel`:
``quality.predict(embeddings, models=..., scale=...)`` returns a
:class:`QualityPrediction` (``p_success``, and optionally a per-prediction
``support`` and expected ``output_tokens``), and ``quality.p_success(...)``
returns just the probabilities. A bundle names its model's architecture in
``manifest.json`` (``heads.kind``); :func:`quality_model_from_stored` builds
the right class from the bundle's arrays, so a new architecture is one class
registered with :func:`register_quality_model`, nothing else changes.

The one kind today, ``mlp-heads`` (:class:`QualityPredictor`), is plain numpy
on the arrays of ``heads.npz`` (no torch):

    h      = gelu_tanh(embedding @ trunk_weight + trunk_bias)
    logit  = h @ model_vectors.T + model_bias (+ scale_offsets[scale])
    p      = sigmoid(a * logit + b)            # per-model Platt calibration

See ``training/heads.py`` for how the weights are learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError, InvalidInputError

DEFAULT_KIND = "mlp-heads"
"""The quality model of bundles whose manifest names no ``heads.kind`` (all before it existed)."""

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


@dataclass(frozen=True)
class QualityPrediction:
    """What a quality model says about ``n`` prompts and ``m`` models."""

    p_success: npt.NDArray[np.float64]
    """``[n, m]`` calibrated probability that each model answers each prompt well."""
    support: npt.NDArray[np.float64] | None = None
    """``[n, m]`` how well each prediction is supported by training data (higher: better),
    or None when the model does not estimate it."""
    output_tokens: npt.NDArray[np.float64] | None = None
    """``[n, m]`` expected output tokens, or None (then the bundle's output-length table
    applies)."""


@dataclass(frozen=True)
class StoredQuality:
    """A quality model as a bundle stores it: ``heads.npz`` arrays and ``calibration.json``."""

    arrays: Mapping[str, npt.NDArray[np.generic]]
    calibration: Mapping[str, Any] = field(default_factory=dict)


class QualityModel(Protocol):
    """The one scoring interface between a bundle and everything that uses it."""

    kind: ClassVar[str]

    @property
    def models(self) -> tuple[str, ...]:
        """The models it predicts, in column order."""
        ...

    @property
    def scales(self) -> tuple[str, ...]:
        """The label scales it learned (``predict(..., scale=...)``)."""
        ...

    @property
    def dim(self) -> int:
        """The embedding size it takes."""
        ...

    def columns(self, models: Sequence[str]) -> npt.NDArray[np.intp]:
        """Indices of ``models`` among :attr:`models` (raises for a model it does not cover)."""
        ...

    def predict(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> QualityPrediction:
        """Predictions for ``[n, dim]`` embeddings and ``models`` (default: all)."""
        ...

    def p_success(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> npt.NDArray[np.float64]:
        """``predict(...).p_success``."""
        ...

    def to_stored(self) -> StoredQuality:
        """What a bundle writes for this model (read back by :meth:`from_stored`)."""
        ...

    @classmethod
    def from_stored(
        cls, stored: StoredQuality, models: Sequence[str], scales: Sequence[str]
    ) -> QualityModel:
        """The model from a bundle's stored arrays (raises :class:`BundleError`)."""
        ...


_KINDS: dict[str, type[QualityModel]] = {}
_Q = TypeVar("_Q", bound=type[QualityModel])


def register_quality_model(cls: _Q) -> _Q:
    """Class decorator: bundles whose ``heads.kind`` is ``cls.kind`` load as ``cls``."""
    _KINDS[cls.kind] = cls
    return cls


def quality_kinds() -> tuple[str, ...]:
    """The ``heads.kind`` values this runtime can load.

    >>> "mlp-heads" in quality_kinds()
    True
    """
    return tuple(sorted(_KINDS))


def quality_model_from_stored(
    kind: str, stored: StoredQuality, models: Sequence[str], scales: Sequence[str]
) -> QualityModel:
    """The factory: the registered class for ``kind``, built from ``stored``."""
    cls = _KINDS.get(kind)
    if cls is None:
        raise BundleError(
            f"quality model kind {kind!r} is unknown to this learned-router (it reads "
            f"{list(quality_kinds())}); install the version that wrote the bundle"
        )
    model = cls.from_stored(stored, models, scales)
    if tuple(model.models) != tuple(models):
        raise BundleError(f"the {kind} quality model does not cover the bundle's models")
    return model


@register_quality_model
class QualityPredictor:
    """The ``mlp-heads`` quality model: P(success) of each model for each prompt embedding.

    >>> heads = HeadWeights(np.eye(2, dtype=np.float32), np.zeros(2, np.float32),
    ...                     np.array([[1, 0], [0, 1]], np.float32), np.zeros(2, np.float32),
    ...                     np.zeros((1, 2), np.float32))
    >>> calibration = PlattCalibration(np.ones(2), np.zeros(2))
    >>> predictor = QualityPredictor(("a", "b"), (), heads, calibration)
    >>> predictor.p_success(np.array([[2.0, -2.0]], np.float32)).round(2).tolist()
    [[0.88, 0.49]]
    """

    kind: ClassVar[str] = DEFAULT_KIND

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
        m = len(self.models)
        if heads.model_vectors.shape[0] != m or calibration.a.shape[0] != m:
            raise BundleError(
                f"heads.npz has {heads.model_vectors.shape[0]} models, models.json {m}, "
                f"calibration.json {calibration.a.shape[0]}; they must agree"
            )

    @property
    def dim(self) -> int:
        return self.heads.dim

    @classmethod
    def from_stored(
        cls, stored: StoredQuality, models: Sequence[str], scales: Sequence[str]
    ) -> QualityPredictor:
        try:
            calibration = PlattCalibration(
                np.asarray(stored.calibration["a"], dtype=np.float64),
                np.asarray(stored.calibration["b"], dtype=np.float64),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(f"calibration.json: no per-model Platt a and b ({error!r})") from None
        return cls(models, scales, HeadWeights.from_arrays(stored.arrays), calibration)

    def to_stored(self) -> StoredQuality:
        h = self.heads
        return StoredQuality(
            arrays={
                "trunk_weight": h.trunk_weight,
                "trunk_bias": h.trunk_bias,
                "model_vectors": h.model_vectors,
                "model_bias": h.model_bias,
                "scale_offsets": h.scale_offsets,
            },
            calibration={
                "method": "platt",
                "a": self.calibration.a.tolist(),
                "b": self.calibration.b.tolist(),
            },
        )

    def with_model(
        self, model: str, vector: npt.ArrayLike, bias: float, *, a: float = 1.0, b: float = 0.0
    ) -> QualityPredictor:
        """A copy with one more model's head (every existing head unchanged).

        >>> heads = HeadWeights(np.eye(2, dtype=np.float32), np.zeros(2, np.float32),
        ...                     np.eye(2, dtype=np.float32), np.zeros(2, np.float32),
        ...                     np.zeros((1, 2), np.float32))
        >>> q = QualityPredictor(("a", "b"), (), heads, PlattCalibration(np.ones(2), np.zeros(2)))
        >>> q.with_model("c", [1.0, 1.0], 0.5).models
        ('a', 'b', 'c')
        """
        if model in self._column:
            raise InvalidInputError(f"the quality model already has a head for {model!r}")
        h = self.heads
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != h.model_vectors.shape[1]:
            raise InvalidInputError(
                f"invalid argument `vector`: {vector.shape[1]} values, the heads have "
                f"{h.model_vectors.shape[1]} hidden units"
            )
        heads = HeadWeights(
            h.trunk_weight,
            h.trunk_bias,
            np.vstack([h.model_vectors, vector]),
            np.append(h.model_bias, np.float32(bias)).astype(np.float32),
            np.hstack([h.scale_offsets, np.zeros((h.scale_offsets.shape[0], 1), np.float32)]),
        )
        calibration = PlattCalibration(
            np.append(self.calibration.a, a), np.append(self.calibration.b, b)
        )
        return QualityPredictor((*self.models, model), self.scales, heads, calibration)

    def columns(self, models: Sequence[str]) -> npt.NDArray[np.intp]:
        """Head indices of ``models`` (raises for a model the bundle does not cover)."""
        try:
            return np.array([self._column[m] for m in models], dtype=np.intp)
        except KeyError as error:
            raise InvalidInputError(
                f"model {error.args[0]!r} has no quality head in this bundle; it covers "
                f"{len(self.models)} models (see models.json). Add it with "
                "`python -m training add-model` or leave it out of the candidates."
            ) from None

    def predict(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> QualityPrediction:
        """P(success) only: these heads estimate neither support nor output length."""
        return QualityPrediction(self.p_success(embeddings, models=models, scale=scale))

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
