"""How the shipped latent quality model's support settings and priors behave.

Run: ``python -m training.support_study --data ../shared/data --bundle models/default``
(about 5 minutes on 2 cores with the embedding cache warm). Prints

1. the support of the best-covered model on training-distribution prompts;
2. validation log loss (each prompt on its own dataset's scale) for a grid of
   ``bandwidth`` x ``prior_strength``, the centroid counts recomputed for each
   bandwidth from the training split (same split as ``make train-default``);
3. each model's prior next to its mean latent over its own labelled prompts, and
   the Spearman correlation of both with the models' RouterBench accuracy.

The figures in docs/training.md ("Known weakness") come from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router.bundle import Bundle
from learned_router.catalog import Catalog
from learned_router.quality import LatentQualityModel, gelu_tanh
from training.dataset import prepare
from training.distill import EmbeddingStore, embed_with_onnx
from training.quality_model import centroid_counts

BANDWIDTHS = (0.05, 0.1, 0.2, 0.3)
PRIOR_STRENGTHS = (1.0, 5.0, 20.0, 100.0)


def main(argv: Sequence[str] | None = None) -> None:
    from scipy.stats import spearmanr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bundle", default="models/default")
    args = parser.parse_args(argv)
    bundle = Bundle.load(args.bundle)
    quality = bundle.quality_model()
    if not isinstance(quality, LatentQualityModel):
        raise SystemExit(f"{args.bundle}: not a latent-v2 bundle")
    data = prepare(
        [args.data],
        Catalog.load(),
        fractions={"train": 0.8, "val": 0.1, "test": 0.1},
        seed=0,
        rejects=Path(".cache") / "support_study_rejects.jsonl",
    )
    if list(data.models) != list(quality.models):
        raise SystemExit("the bundle was not trained on this data (its models differ)")
    onnx = bundle.path / "encoder.onnx"
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()[:12]
    store = EmbeddingStore(Path(".cache") / "embeddings", f"served-{digest}")
    train, val = data.parts["train"], data.parts["val"]
    e_train = embed_with_onnx(onnx, train.texts, bundle.truncation, cache=store)
    e_val = embed_with_onnx(onnx, val.texts, bundle.truncation, cache=store)

    sample = e_train[np.random.default_rng(0).choice(len(e_train), 2000, replace=False)]
    support = quality.predict(sample).support
    assert support is not None
    best = support.max(1)
    print(
        "support of the best-covered model on 2,000 training prompts: p10/p50/p90 "
        f"{np.percentile(best, [10, 50, 90]).round(2).tolist()}; median trust "
        f"{np.median(best / (best + quality.prior_strength)):.3f}"
    )
    y = val.labels.astype(np.float64)
    known = ~np.isnan(y)
    for bandwidth in BANDWIDTHS:
        counts = centroid_counts(e_train, train.labels, quality.centroids, bandwidth=bandwidth)
        for strength in PRIOR_STRENGTHS:
            model = dataclasses.replace(
                quality, centroid_counts=counts, bandwidth=bandwidth, prior_strength=strength
            )
            p = np.empty(y.shape)
            for d, name in enumerate(data.dataset_names):
                rows = val.dataset_index == d
                if rows.any():
                    p[rows] = model.p_success(e_val[rows], scale=name)
            p = np.clip(p, 1e-6, 1 - 1e-6)
            loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))[known].mean()
            print(f"bandwidth {bandwidth} prior_strength {strength}: val log loss {loss:.4f}")

    h = gelu_tanh(e_train @ quality.trunk_weight + quality.trunk_bias)
    z = (h @ quality.model_vectors.T + quality.ability - (h @ quality.difficulty)[:, None]).astype(
        np.float64
    )
    labelled = ~np.isnan(train.labels)
    own: npt.NDArray[np.float64] = np.full(len(quality.models), np.nan)
    for j in range(len(quality.models)):
        means = [
            z[(train.dataset_index == d) & labelled[:, j], j].mean()
            for d in np.unique(train.dataset_index)
            if labelled[train.dataset_index == d, j].any()
        ]
        if means:
            own[j] = float(np.mean(means))
    bench = data.dataset_names.index("routerbench_subset")
    rows = train.dataset_index == bench
    cols = [j for j in range(len(quality.models)) if labelled[rows, j].sum() > 500]
    accuracy = np.array([np.nanmean(train.labels[rows, j]) for j in cols])
    for j, acc in sorted(zip(cols, accuracy, strict=True), key=lambda t: -t[1]):
        print(
            f"{quality.models[j]:32s} RouterBench accuracy {acc:.3f} prior "
            f"{quality.prior[j]:+.2f} own-prompt mean latent {own[j]:+.2f}"
        )
    print(
        f"Spearman over {len(cols)} RouterBench models: prior "
        f"{spearmanr(accuracy, quality.prior[cols]).statistic:.3f}, own-prompt "
        f"{spearmanr(accuracy, own[cols]).statistic:.3f}"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
