"""Study: would a task-family prior help on datasets the router never saw?

The shipped prior (``training.quality_model.irt_prior``) gives each model one
ability. The IRT fit (``irt_fit``) leaves a residual per (dataset, model) cell: how much
better or worse the model did on that dataset than its ability says (Qwen 2.5
7B on Natural Questions). A *task-family prior* would add those residuals for
the training datasets a prompt resembles:

    prior(x, m) = ability[m] + sum_d w_d(x) * residual[d, m]
    w_d(x)      = softmax_d(max_k cos(x, centre_dk) / T)   (32 k-means centres per dataset)

For each held-out dataset (trained without it and without any prompt whose
normalised text it holds, as in ``training.protocol``) this prints the AIQ
difference to the zero router of routing on the IRT prior alone, on the
family prior at several temperatures, and on the family prior scaled by
``beta``: the transfer coefficient estimated *inside* the training data by
leave-one-family-out (each training dataset's own residuals regressed on the
ones the other datasets' families predict for its prompts; clipped to [0, 1]).
If residuals transferred by prompt similarity, beta would be well above 0.

With ``--pessimism KAPPA`` it also routes on ``ability - KAPPA * spread``
(``residual_spread``: how far each model strays from its ability across the
training sets that graded it).

Costs are the realised ones (the prior's ranking alone is compared; no
bootstrap). Run: ``python -m training.family_prior_study --data ../shared/data``
(about 2 minutes on 2 cores with the embedding cache warm).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router.data.splits import outside
from learned_router.quality import sigmoid
from learned_router.routing_benchmark.harness import ZERO_ROUTER, score_routings
from learned_router.routing_benchmark.routers import Oracle, RouterInputs
from training.lodo_diagnose import _route
from training.protocol import (
    arrange,
    bundle_embedder,
    group_split,
    held_out_block,
    load_development,
    source_names,
)
from training.quality_model import base_columns, irt_fit, kmeans_centroids

FloatArray = npt.NDArray[np.float64]


def _padded(embeddings: npt.NDArray[np.float32], k: int = 32) -> npt.NDArray[np.float32]:
    """k unit k-means centres (repeated when the set yields fewer; the max ignores repeats)."""
    centres = kmeans_centroids(embeddings, k, seed=0)
    return centres[np.arange(k) % len(centres)]


def residual_spread(residual: FloatArray, *, pseudo: float = 2.0) -> FloatArray:
    """``[m]`` each model's spread of its (dataset, model) IRT residuals (0: no cell),
    with ``pseudo`` pseudo-cells at the pooled spread: one cell says nothing of it
    (the ability absorbs it), so a model graded by one set gets the pooled value."""
    graded = residual != 0
    pooled = float((residual[graded] ** 2).mean()) if graded.any() else 0.0
    cells = graded.sum(0)
    squares = (residual**2).sum(0)
    out: FloatArray = np.sqrt((squares + pseudo * pooled) / (np.maximum(cells - 1, 0) + pseudo))
    return out


def weights(e: FloatArray, centres: FloatArray, temperature: float) -> FloatArray:
    f, k, d = centres.shape
    s = (e @ centres.reshape(f * k, d).T).reshape(-1, f, k).max(2) / temperature
    w = np.exp(s - s.max(1, keepdims=True))
    out: FloatArray = w / w.sum(1, keepdims=True)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bundle", default="models/default")
    parser.add_argument("--temperatures", nargs="*", type=float, default=[0.01, 0.03, 0.1])
    parser.add_argument(
        "--pessimism",
        nargs="*",
        type=float,
        default=[],
        metavar="KAPPA",
        help="also route on ability - KAPPA * spread, the spread being how far the model's "
        "accuracy strays from its ability across the training sets that graded it",
    )
    parser.add_argument("datasets", nargs="*")
    args = parser.parse_args(argv)

    log, catalog = load_development(args.data, rejects=Path(".cache") / "rejects.jsonl")
    embed = bundle_embedder(args.bundle)
    models = sorted(set(log.models))
    every = arrange(log, models, source_names(log))
    vectors = embed(every.texts).astype(np.float64)
    index = {m: j for j, m in enumerate(models)}
    base = base_columns(models, catalog)
    rng = np.random.default_rng(0)
    header = ["held-out dataset", "IRT prior", *(f"pessimism {k:g}" for k in args.pessimism)]
    for t in args.temperatures:
        header += [f"family T={t:g}", f"beta(T={t:g})", "beta x family"]
    print("| " + " | ".join(header) + " |")
    for dataset in args.datasets or log.datasets:
        train = np.array(outside(every.datasets, every.groups, dataset))
        tr = train & ~group_split(every.groups, 0.1, seed=1)
        fit = irt_fit(
            every.labels[tr], every.dataset_index[tr], l2=0.01, min_labels=20, base_of=base
        )
        ability, families, residual = fit.prior, fit.datasets, fit.residual
        centres = np.stack(
            [_padded(vectors[tr & (every.dataset_index == d)].astype(np.float32)) for d in families]
        ).astype(np.float64)
        counts = (~np.isnan(every.labels[train])).sum(0)
        block = held_out_block(log, dataset, catalog, models, counts)
        if block is None:
            print(f"{dataset}: no model known with >= 50 training labels")
            continue
        names = list(block.models)
        mc = np.array([index[n] for n in names])
        quality, realised = block.quality, block.realised_cost
        e = embed(block.texts).astype(np.float64)
        shape = quality.shape
        routings = {
            "IRT prior": _route(np.broadcast_to(sigmoid(ability[mc]), shape).copy(), realised)
        }
        spread = residual_spread(residual)
        for kappa in args.pessimism:
            routings[f"pessimism {kappa}"] = _route(
                np.broadcast_to(sigmoid(ability[mc] - kappa * spread[mc]), shape).copy(), realised
            )
        betas = {}
        for t in args.temperatures:
            offset = weights(e, centres, t) @ residual[:, mc]
            routings[f"family {t}"] = _route(sigmoid(ability[mc][None] + offset), realised)
            num = den = 0.0
            for i, d in enumerate(families):
                idx = np.flatnonzero(tr & (every.dataset_index == d))
                if len(idx) > 1000:
                    idx = rng.choice(idx, 1000, replace=False)
                others = np.array([k for k in range(len(families)) if k != i])
                predicted = (weights(vectors[idx], centres[others], t) @ residual[others]).mean(0)
                own = residual[i]
                graded = own != 0
                num += float(own[graded] @ predicted[graded])
                den += float(predicted[graded] @ predicted[graded])
            betas[t] = float(np.clip(num / max(den, 1e-12), 0.0, 1.0))
            routings[f"beta {t}"] = _route(sigmoid(ability[mc][None] + betas[t] * offset), realised)
        oracle = Oracle()
        oracle.reveal(quality, realised)
        routings["oracle"] = oracle.route(
            RouterInputs(
                prompts=tuple(block.texts),
                embeddings=e.astype(np.float32),
                models=tuple(names),
                expected_cost_usd=realised,
            )
        )
        est, _ = score_routings(
            quality,
            realised,
            routings,
            best=int(np.argmax(quality.mean(0))),
            weak=int(np.argmin(realised.mean(0))),
            bootstrap_resamples=0,
        )
        zero = est[ZERO_ROUTER]["aiq"].value
        delta = {name: f"{est[name]['aiq'].value - zero:+.4f}" for name in routings}
        cells = [delta["IRT prior"]] + [delta[f"pessimism {k}"] for k in args.pessimism]
        for t in args.temperatures:
            cells += [delta[f"family {t}"], f"{betas[t]:.2f}", delta[f"beta {t}"]]
        print(f"| {dataset} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
