"""Adding a model to a trained bundle from a few hundred labelled outcomes.

The encoder and every existing head stay as they are: the new model's head
``(v, c)`` is a logistic regression on the frozen trunk's features of the
prompts it was graded on (``training.heads.fit_new_model``), with its L2
strength chosen by cross-validation. Its calibration
is the identity (a = 1, b = 0): the regression is fitted on probabilities
directly.

``learned-router add-model --bundle models/default --data new.jsonl --model
NAME --out models/with-NAME`` writes a new bundle; the old one is untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router import data
from learned_router.bundle import Bundle, write_manifest
from learned_router.errors import InvalidInputError
from training.heads import fit_new_model


@dataclass(frozen=True)
class AddedModel:
    bundle: Path
    model: str
    labels: int


def trunk_features(bundle: Bundle, prompts: list[str]) -> npt.NDArray[np.float64]:
    embeddings = bundle.encoder().embed(prompts)
    return bundle.heads.features(embeddings).astype(np.float64)


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
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(bundle.path, out)
    heads = bundle.heads
    np.savez(
        out / "heads.npz",
        trunk_weight=heads.trunk_weight,
        trunk_bias=heads.trunk_bias,
        model_vectors=np.vstack([heads.model_vectors, vector.astype(np.float32)[None, :]]),
        model_bias=np.append(heads.model_bias, np.float32(bias)),
        scale_offsets=np.hstack(
            [heads.scale_offsets, np.zeros((heads.scale_offsets.shape[0], 1), np.float32)]
        ),
    )
    models_info = json.loads((out / "models.json").read_text())
    models_info["models"].append(
        {
            "id": model_id,
            "index": len(bundle.models),
            "train_labels": len(labels),
            "added_after_training": True,
        }
    )
    (out / "models.json").write_text(json.dumps(models_info, indent=1) + "\n")
    calibration = json.loads((out / "calibration.json").read_text())
    calibration["a"].append(1.0)
    calibration["b"].append(0.0)
    (out / "calibration.json").write_text(json.dumps(calibration, indent=1) + "\n")
    manifest = {
        k: v for k, v in bundle.manifest.items() if k not in ("files", "format", "format_version")
    }
    manifest["added_models"] = [
        *manifest.get("added_models", []),
        {
            "model": model_id,
            "labels": len(labels),
            "at": datetime.now(timezone.utc).isoformat(),
            "data": list(log_paths),
        },
    ]
    write_manifest(out, manifest)
    Bundle.load(out)
    return AddedModel(out, model_id, len(labels))
