"""Adding a model to a trained bundle from a few hundred labelled outcomes.

The encoder and every existing head stay as they are: the new model's head
``(v, c)`` is a logistic regression on the frozen trunk's features of the
prompts it was graded on (``training.heads.fit_new_model``), with its L2
strength chosen by cross-validation. Its calibration
is the identity (a = 1, b = 0): the regression is fitted on probabilities
directly.

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
from learned_router.predictor import QualityPredictor
from training.heads import fit_new_model


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
    features = trunk_features(bundle, list(matrix.prompts))
    # L2 strength by cross-validation. Shrinking towards similar existing
    # models (``existing=``) was measured and did not help on average
    # (docs/training.md, "Adding a model").
    vector, bias = fit_new_model(features, labels, l2=l2)

    out = Path(out_dir)
    if out.resolve() == Path(bundle_dir).resolve():
        raise InvalidInputError("write the new bundle to another folder (--out)")
    written = bundle.with_model(
        out,
        quality=heads_model(bundle).with_model(model_id, vector, float(bias)),
        entry=ModelEntry(id=model_id, train_labels=len(labels), added_after_training=True),
        added=AddedModelRecord(
            model=model_id,
            labels=len(labels),
            at=datetime.now(timezone.utc).isoformat(),
            data=tuple(str(p) for p in log_paths),
        ),
    )
    return AddedModel(written.path, model_id, len(labels))
