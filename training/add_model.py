"""Adding a model to a trained bundle from a few hundred labelled outcomes.

The encoder and every existing model stay as they are.

- ``latent-v2`` bundles (the default): the new model's ability and skill
  vector are a logistic regression on the frozen features ``h(x)`` of the
  prompts it was graded on, with the shared difficulty as a fixed offset and
  the L2 strength chosen by cross-validation (``training.heads.fit_new_model``
  with its centre at ``-difficulty``). Its prior is anchored on the existing
  models: its mean latent on its prompts, minus how far the existing models'
  mean latent on the same prompts sits from their priors (so labels from an
  easy set do not make it look strong). Its support counts its labelled
  prompts per centroid; its verbosity is its answers' mean log length against
  the length model (0, the average, when the log has no lengths).
- legacy ``mlp-heads`` bundles: a head ``(v, c)`` on the frozen trunk, the
  same regression without the offset; its calibration is the identity.

``python -m training add-model --bundle models/default --data new.jsonl --model
NAME --out models/with-NAME`` writes a new bundle through
:meth:`learned_router.bundle.Bundle.with_model`; the old one is untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router import data
from learned_router.bundle import AddedModelRecord, Bundle, ModelEntry
from learned_router.errors import InvalidInputError
from learned_router.predictor import QualityModel, QualityPredictor
from learned_router.quality import LatentQualityModel
from training.heads import fit_new_model
from training.quality_model import centroid_counts


@dataclass(frozen=True)
class AddedModel:
    bundle: Path
    model: str
    labels: int


def heads_model(bundle: Bundle) -> QualityPredictor:
    """The bundle's quality model, which must be the shared-trunk heads."""
    quality = bundle.quality_model()
    if not isinstance(quality, QualityPredictor):
        raise InvalidInputError(
            f"{bundle.path}: add-model fits a head on the shared trunk; this bundle's quality "
            f"model is {quality.kind!r}, which has none. Retrain with the new model's outcomes."
        )
    return quality


def add_latent(
    quality: LatentQualityModel,
    model: str,
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.float64],
    *,
    lengths: npt.NDArray[np.float64] | None = None,
    l2: float | None = None,
) -> LatentQualityModel:
    """``quality`` plus ``model``, learned from its ``labels`` on prompts ``embeddings``."""
    known = np.isfinite(labels)
    e, y = embeddings[known], labels[known]
    h = quality.features(e)
    difficulty = quality.difficulty.astype(np.float64)
    weights, ability = fit_new_model(h, y, l2=l2, prior=-difficulty)
    vector = weights + difficulty
    z_new = ability + h @ vector - h @ difficulty
    # How hard these prompts are for the models the bundle knows, against their priors.
    offset = float(np.mean(quality.latent(e).mean(0) - quality.prior))
    prior = float(z_new.mean() - offset)
    counts = centroid_counts(
        e, y[:, None].astype(np.float32), quality.centroids, bandwidth=quality.bandwidth
    )[:, 0]
    verbosity = 0.0
    if lengths is not None:
        ok = known & np.isfinite(lengths) & (lengths > 0)
        if ok.any():
            typical = (
                embeddings[ok].astype(np.float64) @ quality.length_weight + quality.length_bias
            )
            verbosity = float(np.mean(np.log(lengths[ok]) - typical))
    return quality.with_model(
        model,
        ability=float(ability),
        vector=vector.astype(np.float32),
        prior=prior,
        centroid_counts=counts,
        length_offset=verbosity,
    )


def trunk_features(bundle: Bundle, prompts: list[str]) -> npt.NDArray[np.float64]:
    embeddings = bundle.encoder().embed(prompts)
    return heads_model(bundle).heads.features(embeddings).astype(np.float64)


def add_model(
    bundle_dir: str | os.PathLike[str],
    log_paths: list[str],
    model: str,
    out_dir: str | os.PathLike[str],
    *,
    l2: float | None = None,
) -> AddedModel:
    """Writes a copy of ``bundle_dir`` with a head for ``model`` learned from ``log_paths``."""
    bundle = Bundle.load(bundle_dir)
    catalog = bundle.catalog()
    log = data.load(log_paths)
    if not catalog.knows(model):
        raise InvalidInputError(
            f"model {model!r} is not in the bundle's catalog; add it to a catalog file (price, "
            "latency) first and pass the updated catalog to the router"
        )
    model_id = catalog.resolve(model)
    if model_id in bundle.models:
        raise InvalidInputError(f"the bundle already has a head for {model_id!r}")
    own = log.with_catalog_names(catalog).select(models=[model_id])
    if own.num_outcomes < 50:
        raise InvalidInputError(
            f"{own.num_outcomes} labelled outcomes of {model_id!r} in {log_paths}; give at least "
            "50 (a few hundred work well)"
        )
    matrix = own.matrix([model_id])
    labels = matrix.quality[:, 0]
    out = Path(out_dir)
    if out.resolve() == Path(bundle_dir).resolve():
        raise InvalidInputError("write the new bundle to another folder (--out)")
    current = bundle.quality_model()
    quality: QualityModel
    if isinstance(current, LatentQualityModel):
        from training.dataset import observed_output_tokens

        lengths = observed_output_tokens(own, matrix.keys, [model_id])[:, 0]
        embeddings = bundle.encoder().embed(list(matrix.prompts))
        quality = add_latent(current, model_id, embeddings, labels, lengths=lengths, l2=l2)
    else:
        features = trunk_features(bundle, list(matrix.prompts))
        # L2 strength by cross-validation. Shrinking towards similar existing
        # models (``existing=``) was measured and did not help on average
        # (docs/training.md, "Adding a model").
        vector, bias = fit_new_model(features, labels, l2=l2)
        quality = heads_model(bundle).with_model(model_id, vector, float(bias))
    written = bundle.with_model(
        out,
        quality=quality,
        entry=ModelEntry(id=model_id, train_labels=len(labels), added_after_training=True),
        added=AddedModelRecord(
            model=model_id,
            labels=len(labels),
            at=datetime.now(timezone.utc).isoformat(),
            data=tuple(str(p) for p in log_paths),
        ),
    )
    return AddedModel(written.path, model_id, len(labels))
