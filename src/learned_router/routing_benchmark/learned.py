"""The slot where the learned router enters the benchmark.

The benchmark evaluates any object with ``predict_quality(prompts, models) ->
[n, m]`` (:class:`LearnedRouterPredictor`): the probability that each model
answers each prompt well. :class:`PredictorRouter` sweeps it over cost weights
exactly like the baselines. Two optional attributes make the comparison
stricter:

- ``embed(texts) -> float32 [n, d]``: the router's own encoder. When present,
  the CLI gives the baselines these embeddings (same encoder for everyone).
- ``training_prompt_groups``: the :func:`~learned_router.data.prompt_group`
  keys of the prompts it was trained on. When present, the harness checks
  that no held-out prompt is among them and fails otherwise.

To be comparable, the predictor must be trained on the benchmark's training
split: ``split_prompts(log, seed=config.seed, fractions=config.fractions)``
(the report records the split's parameters).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError, InvalidInputError
from learned_router.routing_benchmark.routers import (
    FloatArray,
    QualityScorer,
    RouterInputs,
    TrainingSet,
)


@runtime_checkable
class LearnedRouterPredictor(Protocol):
    """What the benchmark needs from the learned router."""

    def predict_quality(
        self, prompts: Sequence[str], models: Sequence[str]
    ) -> npt.NDArray[np.floating]:
        """``[len(prompts), len(models)]`` probabilities of a good answer."""
        ...


class PredictorRouter(QualityScorer):
    """A trained :class:`LearnedRouterPredictor` as a benchmark router (nothing to fit).

    >>> class Constant:
    ...     def predict_quality(self, prompts, models):
    ...         return np.full((len(prompts), len(models)), 0.5)
    >>> router = PredictorRouter(Constant())
    >>> inputs = RouterInputs(("hi",), np.zeros((1, 2), np.float32), ("a", "b"),
    ...                       np.array([[1.0, 2.0]]))
    >>> router.predict_quality(inputs).tolist()
    [[0.5, 0.5]]
    """

    kind = "learned router"

    def __init__(self, predictor: LearnedRouterPredictor, *, name: str = "learned-router"):
        if not isinstance(predictor, LearnedRouterPredictor):
            raise InvalidInputError(
                f"{type(predictor).__name__} has no predict_quality(prompts, models) method"
            )
        self.predictor = predictor
        self.name = name

    @property
    def training_prompt_groups(self) -> Collection[str] | None:
        groups: Collection[str] | None = getattr(self.predictor, "training_prompt_groups", None)
        return groups

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        """Nothing to fit: the predictor arrives trained (on the same training split)."""

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        # A predictor that takes ``quality_scale`` is told which judge grades the
        # dataset (the learned router conditions on it); others are called plainly.
        accepts_scale = (
            "quality_scale" in inspect.signature(self.predictor.predict_quality).parameters
        )
        if accepts_scale:
            raw = self.predictor.predict_quality(  # type: ignore[call-arg]
                inputs.prompts, inputs.models, quality_scale=inputs.quality_scale
            )
        else:
            raw = self.predictor.predict_quality(inputs.prompts, inputs.models)
        p = np.asarray(raw, dtype=np.float64)
        expected = (len(inputs.prompts), len(inputs.models))
        if p.shape != expected:
            raise InvalidInputError(
                f"{self.name}: predict_quality returned shape {p.shape}, expected {expected}"
            )
        return p


def load_learned_predictor(path: str | os.PathLike[str]) -> LearnedRouterPredictor:
    """Loads the learned router's predictor from a model bundle folder.

    Raises :class:`~learned_router.errors.BundleError` when ``path`` holds no
    bundle (no ``manifest.json``).

    >>> load_learned_predictor("/nonexistent/bundle")
    Traceback (most recent call last):
    ...
    learned_router.errors.BundleError: no router bundle at /nonexistent/bundle (manifest.json ...
    """
    folder = Path(path)
    if not (folder / "manifest.json").is_file():
        raise BundleError(
            f"no router bundle at {folder} (manifest.json not found). Train one first "
            "(make train-default writes models/default), pass --router PATH to a bundle, "
            "or leave --router out to benchmark the baselines only."
        )
    return BundlePredictor(folder)


class BundlePredictor:
    """A model bundle as the benchmark sees it: its encoder, its calibrated heads,
    and the prompts it was trained on."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        from learned_router.bundle import Bundle

        self.bundle = Bundle.load(folder)
        self._scorer = self.bundle.scorer()
        self._catalog = self.bundle.catalog()
        self._covered = frozenset(self.bundle.models)
        self.training_prompt_groups = self.bundle.train_prompt_groups()

    @property
    def name(self) -> str:
        return f"learned-router ({self.bundle.version})"

    @property
    def embedder_name(self) -> str:
        """Names the bundle's encoder (its version: a retrained encoder never
        reuses the embeddings cached for the previous one)."""
        return f"learned-router-encoder-{self.bundle.version}"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._scorer.embed(texts)

    def covers(self, model: str) -> bool:
        """Whether the bundle has a quality head for ``model`` (any catalog spelling)."""
        model_id = self._catalog.resolve(model) if self._catalog.knows(model) else model
        return model_id in self._covered

    def predict_quality(
        self, prompts: Sequence[str], models: Sequence[str], *, quality_scale: str | None = None
    ) -> npt.NDArray[np.floating]:
        """P(success); on ``quality_scale`` when the bundle learned that scale."""
        ids = [self._catalog.resolve(m) if self._catalog.knows(m) else m for m in models]
        scale = quality_scale if quality_scale in self.bundle.scales else None
        return self._scorer.p_success(prompts, ids, scale=scale)
