"""Prompts to P(success): a bundle's encoder in front of its quality model.

The benchmark, promotion and policy calibration hold prompt texts;
:class:`Scorer` embeds them with the bundle's encoder and asks the bundle's
:class:`~learned_router.predictor.QualityModel`. The Router embeds once for
pricing and scoring, so it calls the same quality model on its embeddings
directly; both paths run the same code from the embedding on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router.encoder import Encoder
from learned_router.errors import InvalidInputError
from learned_router.predictor import QualityModel, QualityPrediction


@dataclass(frozen=True)
class Scorer:
    """``scorer.p_success(prompts, models, scale=None) -> [n, m]``; build it with
    :meth:`learned_router.bundle.Bundle.scorer`."""

    encoder: Encoder
    quality: QualityModel

    def embed(self, prompts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``[n, dim]`` prompt embeddings (the bundle's encoder)."""
        if isinstance(prompts, str):
            raise InvalidInputError("give a list of prompts, not one string")
        return self.encoder.embed(list(prompts))

    def predict(
        self,
        prompts: Sequence[str],
        models: Sequence[str] | None = None,
        *,
        scale: str | None = None,
    ) -> QualityPrediction:
        """The quality model's predictions for ``prompts`` and ``models`` (default: all)."""
        return self.quality.predict(self.embed(prompts), models=models, scale=scale)

    def p_success(
        self,
        prompts: Sequence[str],
        models: Sequence[str] | None = None,
        *,
        scale: str | None = None,
    ) -> npt.NDArray[np.float64]:
        """``[len(prompts), len(models)]`` calibrated P(success)."""
        return self.predict(prompts, models, scale=scale).p_success
