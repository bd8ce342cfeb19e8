"""The quality model at serving time: P(success) per (prompt, model), with its support.

Plain numpy on the arrays of ``quality.npz`` (no torch). For a prompt embedding
``e`` (L2-normalised) and a model ``m``:

    h        = gelu_tanh(e @ trunk_weight + trunk_bias)          shared prompt features
    z_raw    = ability[m] + h @ model_vectors[m] - h @ difficulty  latent, one scale for all models
    support  = sum_c exp((e . centroid_c - 1) / bandwidth) * counts[c, m]
    trust    = support / (support + prior_strength)
               (joint trust: the least trust among the models asked for, shared by all)
    z        = prior[m] + trust * (z_raw - prior[m])
    p        = sigmoid(link_scale[s] * z + link_shift[s])   s: a label source (or canonical)
             + trust * shift[m]    the model's own misses near the prompt (bundles with a bank)

- **Comparable across models.** Every model's latent ``z`` lives on one scale:
  a model's ability is shared across all the datasets it was evaluated on,
  and each label source (a dataset with its judge or metric) has its own
  monotone link to the latent scale (``link_scale``, ``link_shift``). Serving
  uses the canonical link (scale 1, shift 0) unless a source is named.
- **Support.** ``support`` counts the labelled training prompts for this model
  near this prompt (a kernel over ``centroids``, the k-means centres of the
  training prompts, each holding its prompts' label counts per model). It is
  an effective number of labelled neighbours.
- **Do no harm.** Where support is thin the prompt-specific part shrinks
  towards ``prior[m]``, the model's average latent over the whole training
  distribution (what is known about the model overall); on traffic unlike
  anything in training the router then ranks models by their overall record.
  With **joint trust** (``calibration.json`` ``"trust": "joint"``) every model
  asked for in one call shares the least supported one's trust, so the
  candidates are compared on the prompt's own terms only where every one of
  them was graded near it, and otherwise all fall back together; one model
  supported by look-alikes graded on other terms cannot leave the others behind
  (docs/training.md, "Joint trust").
- **Neighbour misses.** Where the bundle carries a bank of its training prompts
  (:mod:`learned_router.neighbours`), the network's own misses on the labelled
  prompts nearest this one correct its prediction, gated by the same trust.
- **Expected output length** per prompt and model: ``log(tokens) =
  e @ length_weight + length_bias + trust_len * length_offset[m]`` (a ridge
  regression on the training answers' lengths; ``length_offset`` is the
  model's verbosity against the models graded on the same prompts). Like
  quality, verbosity shrinks with support, per model and with its own
  ``length_prior_strength`` (``trust_len``; the shipped bundle shrinks it
  harder than quality): a model measured as long-winded on maths is expected to
  write the prompt's typical length on traffic unlike anything it answered
  (docs/training.md, "Where the gap came from", "Joint trust").

See ``training/quality_model.py`` for how the arrays are learned.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError, InvalidInputError
from learned_router.neighbours import NeighbourMisses
from learned_router.predictor import QualityPrediction, StoredQuality, register_quality_model

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

P_FLOOR = 1e-4
"""Neighbour misses move P(success) no closer than this to 0 or 1."""
TRUST_KINDS = ("per-model", "joint")
"""``calibration.json`` ``trust``: how far each prediction may leave its model's prior."""

ARRAY_NAMES = (
    "trunk_weight",
    "trunk_bias",
    "difficulty",
    "ability",
    "model_vectors",
    "prior",
    "link_scale",
    "link_shift",
    "centroids",
    "centroid_counts",
    "length_weight",
    "length_bias",
    "length_offset",
)


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Runs the quality model's matrix products on one BLAS thread (~10 us to enter).

    The products are small next to the encoder, but above OpenBLAS's threading
    threshold (2,048 support centroids) its worker threads wake, then spin-wait
    and take the cores from onnxruntime's next encoder run: route() on a
    500-token prompt took ~10 ms instead of ~8 on 2 cores
    (``python -m benchmarks.bench_route``, docs/routing.md, "Speed").
    """
    return _blas().limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


def gelu_tanh(x: F32) -> F32:
    """GELU, tanh approximation (the one the model is trained with)."""
    out: F32 = (0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))).astype(
        np.float32, copy=False
    )
    return out


def sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function, without overflow."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


@register_quality_model
@dataclass(frozen=True)
class LatentQualityModel:
    """Per-model P(success) with support; see the module docstring for the formula.

    Its label sources are the bundle's ``scales``: ``predict(..., scale=SOURCE)``
    answers on that source's scale, ``scale=None`` on the canonical one.

    >>> import numpy as np
    >>> model = LatentQualityModel.from_arrays(
    ...     tiny_arrays(dim=2, models=2), models=("a", "b"), sources=("s",),
    ...     bandwidth=0.1, prior_strength=1.0)
    >>> pred = model.predict(np.array([[1.0, 0.0]], np.float32))
    >>> pred.p_success.shape, bool(pred.support[0, 0] > pred.support[0, 1])
    ((1, 2), True)
    """

    kind: ClassVar[str] = "latent-v2"
    models: tuple[str, ...]
    scales: tuple[str, ...]
    trunk_weight: F32  # [dim, hidden]
    trunk_bias: F32  # [hidden]
    difficulty: F32  # [hidden]
    ability: F32  # [models]
    model_vectors: F32  # [models, hidden]
    prior: F32  # [models]
    link_scale: F32  # [sources]
    link_shift: F32  # [sources]
    centroids: F32  # [k, dim], unit rows
    centroid_counts: F32  # [k, models]
    length_weight: F32  # [dim]
    length_bias: float
    length_offset: F32  # [models]
    bandwidth: float
    prior_strength: float
    novelty_reference: float | None = None
    """95th percentile of held-out training prompts' distance to the nearest centroid
    (the input-drift reference, :mod:`learned_router.drift.inputs`); None in older bundles."""
    length_prior_strength: float | None = None
    """The prior strength of the verbosity offsets (``prior_strength`` when None, as in
    older bundles): answer lengths, so expected costs, can be shrunk harder than quality."""
    joint_trust: bool = False
    """Every model asked for in one ``predict`` call shares the least trust among them
    (``"trust": "joint"`` in ``calibration.json``); per model when False (older bundles).
    The Router asks for a request's candidates in one call, so they are what is compared."""
    neighbours: NeighbourMisses | None = None
    """The bank of training prompts and the model's misses on them (``neighbour_*``
    arrays, ``calibration.json`` ``neighbours``); None in older bundles."""

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, npt.NDArray[np.generic]],
        *,
        models: Sequence[str],
        sources: Sequence[str],
        bandwidth: float,
        prior_strength: float,
        novelty_reference: float | None = None,
        joint_trust: bool = False,
        length_prior_strength: float | None = None,
        neighbours: NeighbourMisses | None = None,
    ) -> LatentQualityModel:
        """Checks shapes and builds the model; raises :class:`BundleError` naming the fault."""
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise BundleError(f"quality.npz lacks {missing}")
        a = {name: np.ascontiguousarray(arrays[name], dtype=np.float32) for name in ARRAY_NAMES}
        m, s = len(models), len(sources)
        if a["trunk_weight"].ndim != 2:
            raise BundleError("quality.npz: trunk_weight must be [dim, hidden]")
        dim, hidden = a["trunk_weight"].shape
        k = a["centroids"].shape[0] if a["centroids"].ndim == 2 else -1
        expected = {
            "trunk_bias": (hidden,),
            "difficulty": (hidden,),
            "ability": (m,),
            "model_vectors": (m, hidden),
            "prior": (m,),
            "link_scale": (s,),
            "link_shift": (s,),
            "centroids": (k, dim),
            "centroid_counts": (k, m),
            "length_weight": (dim,),
            "length_bias": (1,),
            "length_offset": (m,),
        }
        for name, shape in expected.items():
            if a[name].shape != shape:
                raise BundleError(
                    f"quality.npz: {name} has shape {a[name].shape}, expected {shape} "
                    f"({m} models, {s} sources, dim {dim}, hidden {hidden})"
                )
        if not (bandwidth > 0 and prior_strength > 0) or not (
            length_prior_strength is None or length_prior_strength > 0
        ):
            raise BundleError(
                f"quality model: bandwidth ({bandwidth}), prior_strength ({prior_strength}) "
                f"and length_prior_strength ({length_prior_strength}) must be positive"
            )
        if not all(np.isfinite(v).all() for v in a.values()):
            raise BundleError("quality.npz holds NaN or infinite values")
        if neighbours is not None and (
            neighbours.misses.shape[1] != m or neighbours.mean.shape != (dim,)
        ):
            raise BundleError(
                f"quality.npz: the neighbour bank covers {neighbours.misses.shape[1]} models "
                f"of dim {neighbours.mean.shape[0]}, expected {m} of dim {dim}"
            )
        return cls(
            models=tuple(models),
            scales=tuple(sources),
            trunk_weight=a["trunk_weight"],
            trunk_bias=a["trunk_bias"],
            difficulty=a["difficulty"],
            ability=a["ability"],
            model_vectors=a["model_vectors"],
            prior=a["prior"],
            link_scale=a["link_scale"],
            link_shift=a["link_shift"],
            centroids=a["centroids"],
            centroid_counts=a["centroid_counts"],
            length_weight=a["length_weight"],
            length_bias=float(a["length_bias"][0]),
            length_offset=a["length_offset"],
            bandwidth=float(bandwidth),
            prior_strength=float(prior_strength),
            novelty_reference=None if novelty_reference is None else float(novelty_reference),
            joint_trust=bool(joint_trust),
            length_prior_strength=(
                None if length_prior_strength is None else float(length_prior_strength)
            ),
            neighbours=neighbours,
        )

    @classmethod
    def from_stored(
        cls, stored: StoredQuality, models: Sequence[str], scales: Sequence[str]
    ) -> LatentQualityModel:
        """The model from a bundle's ``heads.npz`` and ``calibration.json``."""
        try:
            bandwidth = float(stored.calibration["bandwidth"])
            prior_strength = float(stored.calibration["prior_strength"])
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(
                f"calibration.json: the latent quality model needs bandwidth and "
                f"prior_strength ({error!r})"
            ) from None
        reference = stored.calibration.get("novelty_reference")
        length_strength = stored.calibration.get("length_prior_strength")
        trust = stored.calibration.get("trust", "per-model")
        if trust not in TRUST_KINDS:
            raise BundleError(
                f"calibration.json: trust is {trust!r}, expected one of {list(TRUST_KINDS)}"
            )
        settings = stored.calibration.get("neighbours")
        neighbours = None
        if settings is not None:
            if not isinstance(settings, Mapping):
                raise BundleError(
                    f"calibration.json: neighbours must be an object, got {settings!r}"
                )
            weight = np.asarray(stored.arrays.get("trunk_weight", np.zeros((0, 0))))
            neighbours = NeighbourMisses.from_stored(
                stored.arrays,
                settings,
                dim=weight.shape[0] if weight.ndim == 2 else -1,
                models=len(models),
            )
        return cls.from_arrays(
            stored.arrays,
            models=models,
            sources=scales,
            bandwidth=bandwidth,
            prior_strength=prior_strength,
            novelty_reference=None if reference is None else float(reference),
            joint_trust=trust == "joint",
            length_prior_strength=None if length_strength is None else float(length_strength),
            neighbours=neighbours,
        )

    def to_stored(self) -> StoredQuality:
        """What a bundle writes (``heads.npz`` arrays, ``calibration.json`` settings)."""
        arrays = {name: getattr(self, name) for name in ARRAY_NAMES if name != "length_bias"}
        arrays["length_bias"] = np.array([self.length_bias], dtype=np.float32)
        calibration: dict[str, Any] = {
            "method": "latent ability x per-source link, support-shrunk (no Platt)",
            "bandwidth": self.bandwidth,
            "prior_strength": self.prior_strength,
        }
        if self.novelty_reference is not None:
            calibration["novelty_reference"] = self.novelty_reference
        if self.joint_trust:
            calibration["trust"] = "joint"
        if self.length_prior_strength is not None:
            calibration["length_prior_strength"] = self.length_prior_strength
        if self.neighbours is not None:
            bank, calibration["neighbours"] = self.neighbours.to_stored()
            arrays.update(bank)
        return StoredQuality(arrays=arrays, calibration=calibration)

    @property
    def dim(self) -> int:
        return int(self.trunk_weight.shape[0])

    def features(self, embeddings: F32) -> FloatArray:
        """``[n, hidden]`` prompt features ``h(x)`` (what a model's vector reads)."""
        self._check(embeddings)
        h = gelu_tanh(
            embeddings.astype(np.float32, copy=False) @ self.trunk_weight + self.trunk_bias
        )
        return np.asarray(h, dtype=np.float64)

    def latent(self, embeddings: F32) -> FloatArray:
        """``[n, models]`` unshrunk latent ``z`` on the canonical scale."""
        h = self.features(embeddings)
        out: FloatArray = (
            h @ self.model_vectors.T.astype(np.float64)
            + self.ability
            - (h @ self.difficulty.astype(np.float64))[:, None]
        )
        return out

    def with_model(
        self,
        model: str,
        *,
        ability: float,
        vector: npt.NDArray[np.floating[Any]],
        prior: float,
        centroid_counts: npt.NDArray[np.floating[Any]],
        length_offset: float,
    ) -> LatentQualityModel:
        """This model plus one more (``add-model``); everything else is unchanged."""
        if model in self.models:
            raise InvalidInputError(f"the quality model already covers {model!r}")
        arrays: dict[str, npt.NDArray[np.generic]] = {
            name: getattr(self, name) for name in ARRAY_NAMES if name != "length_bias"
        }
        arrays["length_bias"] = np.array([self.length_bias], np.float32)
        arrays["ability"] = np.append(self.ability, np.float32(ability))
        arrays["model_vectors"] = np.vstack([self.model_vectors, np.asarray(vector)[None, :]])
        arrays["prior"] = np.append(self.prior, np.float32(prior))
        arrays["centroid_counts"] = np.hstack(
            [self.centroid_counts, np.asarray(centroid_counts).reshape(-1, 1)]
        )
        arrays["length_offset"] = np.append(self.length_offset, np.float32(length_offset))
        return LatentQualityModel.from_arrays(
            arrays,
            models=(*self.models, model),
            sources=self.scales,
            bandwidth=self.bandwidth,
            prior_strength=self.prior_strength,
            novelty_reference=self.novelty_reference,
            joint_trust=self.joint_trust,
            length_prior_strength=self.length_prior_strength,
            neighbours=None if self.neighbours is None else self.neighbours.with_model(),
        )

    @functools.cached_property
    def _column_index(self) -> dict[str, int]:
        return {m: j for j, m in enumerate(self.models)}

    def columns(self, models: Sequence[str]) -> npt.NDArray[np.intp]:
        """Indices of ``models`` (raises for a model the quality model does not cover)."""
        index = self._column_index
        try:
            return np.array([index[m] for m in models], dtype=np.intp)
        except KeyError as error:
            raise InvalidInputError(
                f"model {error.args[0]!r} is not in this bundle's quality model; it covers "
                f"{len(self.models)} models (see models.json). Add it with "
                "`python -m training add-model` or leave it out of the candidates."
            ) from None

    def _check(self, embeddings: F32) -> None:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise InvalidInputError(
                f"invalid argument `embeddings`: expected shape [n, {self.dim}], "
                f"got {embeddings.shape}"
            )

    def _scale_index(self, scale: str | None) -> int | None:
        if scale is None:
            return None
        try:
            return self.scales.index(scale)
        except ValueError:
            raise InvalidInputError(
                f"unknown quality scale {scale!r}; this bundle's label sources are "
                f"{list(self.scales)} (or leave it out for the canonical scale)"
            ) from None

    def kernel(self, embeddings: F32) -> FloatArray:
        """``[n, k]`` each prompt's weight on each support centroid."""
        similarity = embeddings.astype(np.float32, copy=False) @ self.centroids.T
        out: FloatArray = np.exp((similarity.astype(np.float64) - 1.0) / self.bandwidth)
        return out

    @functools.cached_property
    def _counts64(self) -> FloatArray:
        # Converted once: with 2,048 centroids, copying the [k, models] counts to
        # float64 on every decision cost more than the kernel itself.
        return self.centroid_counts.astype(np.float64)

    def support(self, embeddings: F32, cols: npt.NDArray[np.intp]) -> FloatArray:
        """``[n, m]`` effective number of labelled training prompts near each prompt."""
        every = len(cols) == len(self.models) and bool((cols == np.arange(len(cols))).all())
        counts = self._counts64 if every else self._counts64[:, cols]
        out: FloatArray = self.kernel(embeddings) @ counts
        return out

    def predict(
        self,
        embeddings: F32,
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> QualityPrediction:
        """P(success), support and expected output tokens for ``models`` (default: all)."""
        self._check(embeddings)
        cols = (
            np.arange(len(self.models), dtype=np.intp) if models is None else self.columns(models)
        )
        index = self._scale_index(scale)
        e = embeddings.astype(np.float32, copy=False)
        with one_blas_thread():
            h = gelu_tanh(e @ self.trunk_weight + self.trunk_bias)
            raw = (
                h @ self.model_vectors[cols].T + self.ability[cols] - (h @ self.difficulty)[:, None]
            ).astype(np.float64)
            support = self.support(e, cols)
            shift = None if self.neighbours is None else self.neighbours.shift(e, cols)
        trust = support / (support + self.prior_strength)
        shared = trust.min(axis=1, keepdims=True) if self.joint_trust else trust
        prior = self.prior[cols].astype(np.float64)
        z = prior + shared * (raw - prior)
        if index is not None:
            z = float(self.link_scale[index]) * z + float(self.link_shift[index])
        length_trust = (
            trust
            if self.length_prior_strength is None
            else support / (support + self.length_prior_strength)
        )
        log_tokens = (
            (e.astype(np.float64) @ self.length_weight.astype(np.float64))[:, None]
            + self.length_bias
            + length_trust * self.length_offset[cols].astype(np.float64)[None, :]
        )
        p = sigmoid(z)
        if shift is not None:
            p = np.clip(p + shared * shift, P_FLOOR, 1.0 - P_FLOOR)
        return QualityPrediction(
            p_success=p,
            support=support,
            output_tokens=np.exp(np.clip(log_tokens, 0.0, np.log(1e5))),
        )

    def p_success(
        self,
        embeddings: F32,
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> FloatArray:
        """``predict(...).p_success``."""
        return self.predict(embeddings, models=models, scale=scale).p_success


def tiny_arrays(*, dim: int, models: int, hidden: int = 3, k: int = 2) -> dict[str, F32]:
    """A small valid set of arrays (for examples and tests): centroid 0 is
    ``e_0`` and holds 10 labels of model 0, none of the others."""
    rng = np.random.default_rng(0)
    centroids = np.zeros((k, dim), np.float32)
    centroids[np.arange(k), np.arange(k) % dim] = 1.0
    counts = np.zeros((k, models), np.float32)
    counts[0, 0] = 10.0
    return {
        "trunk_weight": rng.normal(size=(dim, hidden)).astype(np.float32),
        "trunk_bias": np.zeros(hidden, np.float32),
        "difficulty": rng.normal(size=hidden).astype(np.float32),
        "ability": np.zeros(models, np.float32),
        "model_vectors": rng.normal(size=(models, hidden)).astype(np.float32),
        "prior": np.linspace(-1, 1, models).astype(np.float32),
        "link_scale": np.ones(1, np.float32),
        "link_shift": np.zeros(1, np.float32),
        "centroids": centroids,
        "centroid_counts": counts,
        "length_weight": np.zeros(dim, np.float32),
        "length_bias": np.array([np.log(100.0)], np.float32),
        "length_offset": np.zeros(models, np.float32),
    }
