"""Why the router is below the zero router on a held-out dataset: costs or ranking?

For each dataset named, the quality model is trained as in the protocol
(``training.protocol``: every other dataset, without any prompt whose
normalised text occurs in this one), and the held-out prompts are routed with
different inputs, each scored against the zero router (AIQ difference, no
bootstrap):

- ``predictions``: the model's P(success), as served, on expected costs;
- ``predictions, realised costs``: the same, deciding on the realised costs;
- ``mean-latent prior``: each model's mean latent over the training prompts
  (datasets weighted equally; the first version's prior), no prompt information;
- ``IRT prior``: the shipped prior (``training.quality_model.irt_prior``) alone;
- ``hindsight accuracy``: each model's true mean quality on the held-out set,
  a constant per model: what any prior could at best achieve;
- with ``--prior-strengths 3 1``: the predictions with lighter shrinkage;
- with ``--neighbour-residuals K:TAU:PSEUDO``: the predictions plus the model's
  own misses on the K *nearest training prompts* (exact cosine neighbours instead
  of the support centroids), weighted ``exp((cos - 1) / TAU)``, shrunk by PSEUDO;
- with ``--knn-support K:TAU:PSEUDO``: the predictions shrunk with a support
  counted on those K nearest prompts instead of the centroids (PSEUDO plays the
  prior strength);
- with ``--config centroids=2048 ...``: a different ``QualityConfig``;
- with ``--local-strengths 20 5``: the predictions blended with the *local* success
  rate of each model among the labelled training prompts near the prompt (the
  support kernel's weighted mean label), ``(s * local + k * p) / (s + k)`` with
  ``s`` the support: a kNN-like signal that vanishes where support is thin; and the
  predictions plus the local mean of the model's own misses on those training
  prompts (label minus its prediction on the label's source scale), weighted
  ``s / (s + k)``.

- with ``--validation-gate PSEUDO:BANDWIDTH``: a trust per prompt read from how the
  unshrunk network fared against the prior on the labelled validation prompts near
  it, per candidate (``validation_gate``), instead of how densely training prompts
  sit there; routed alone and as the larger of it and the shipped joint trust;
- with ``--source-rankings``: each training dataset's own per-model accuracies (its
  IRT cell residuals on the prior; the models it did not grade at their prior), a
  constant per model: could any single training set's ranking have done no harm?

- with ``--centroid-misses C:TAU:PSEUDO``: the same misses summed on each training
  prompt's nearest support centre and read from the prompt's C nearest centres.

Each neighbour signal is also routed "joint gate": multiplied by the least trust
among the candidates, as the shipped bundle does. The shipped config itself
carries a neighbour bank (``QualityConfig.neighbour_k``, docs/training.md,
"Neighbour misses"), so ``predictions`` include it; measure the signals above
against predictions without it with ``--config neighbour_k=0``.

``--in-distribution SHARE`` holds out only that share of the dataset's prompt
groups and trains on everything else (the dataset's other prompts included): the
same routings, scored in distribution instead of leave-one-dataset-out.

It also prints the Spearman correlation of each prior with the held-out
per-model accuracy. Run: ``python -m training.lodo_diagnose --data
../shared/data zeroeval_math_l5 mmlu_pro`` (about 30 s per dataset on 2 cores
with the embedding cache warm).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from learned_router.costs import expected_cost_usd
from learned_router.neighbours import NeighbourMisses
from learned_router.quality import LatentQualityModel, gelu_tanh, sigmoid
from learned_router.routing_benchmark.harness import ZERO_ROUTER, score_routings
from learned_router.routing_benchmark.routers import (
    Oracle,
    RouterInputs,
    Routing,
    cost_weight_grid,
    sweep_cost_weights,
)
from learned_router.tokens import TokenCounter
from training.protocol import (
    arrange,
    bundle_embedder,
    group_split,
    held_out_block,
    load_development,
    source_names,
)
from training.quality_model import (
    QualityData,
    base_columns,
    centroid_label_sums,
    config_with,
    export,
    fitted_on_own_scale,
    irt_fit,
    train_latent,
)

FloatArray = npt.NDArray[np.float64]


def _route(p: FloatArray, cost: FloatArray) -> Routing:
    weights = cost_weight_grid(cost)
    index = sweep_cost_weights(np.clip(p, 0.0, 1.0), cost, weights)
    return Routing(index=index, labels=tuple(f"{w:.4g}" for w in weights), predicted_quality=p)


def neighbour_residuals(
    queries: npt.NDArray[np.float32],
    bank: npt.NDArray[np.float32],
    misses: FloatArray,
    *,
    k: int,
    tau: float,
    pseudo: float,
    total: bool = False,
    chunk: int = 1024,
) -> FloatArray:
    """``[q, m]`` the kernel-weighted mean of ``misses`` (NaN: no label) over each
    query's ``k`` nearest ``bank`` rows (weights ``exp((cos - 1) / tau)``), shrunk
    by ``pseudo`` pseudo-counts; with ``total``, the summed weights of the labelled
    rows instead (an exact-neighbour support)."""
    have = ~np.isnan(misses)
    filled = np.where(have, misses, 0.0)
    out = np.zeros((len(queries), misses.shape[1]))
    for start in range(0, len(queries), chunk):
        similarity = queries[start : start + chunk] @ bank.T
        near = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weight = np.exp((np.take_along_axis(similarity, near, axis=1) - 1.0) / tau)
        sums = np.einsum("qk,qkm->qm", weight, filled[near])
        count = np.einsum("qk,qkm->qm", weight, have[near].astype(np.float64))
        out[start : start + chunk] = count if total else sums / (count + pseudo)
    return out


def _raw_logits(model: LatentQualityModel, x: npt.NDArray[np.float32]) -> FloatArray:
    """``[n, m]`` the network's canonical latent for every model, unshrunk."""
    h = gelu_tanh(x @ model.trunk_weight + model.trunk_bias)
    out: FloatArray = (
        h @ model.model_vectors.T + model.ability - (h @ model.difficulty)[:, None]
    ).astype(np.float64)
    return out


def validation_gate(
    model: LatentQualityModel,
    val: QualityData,
    queries: npt.NDArray[np.float32],
    *,
    pseudo: float,
    bandwidth: float,
    columns: npt.NDArray[np.intp] | None = None,
    steps: int = 11,
) -> FloatArray:
    """``[q, m]`` a trust per query and model read from how the unshrunk network fared against
    the prior on the labelled validation prompts near it, not from how densely
    training prompts sit there.

    Each validation row's log loss on its own source's scale is computed at every
    trust ``t`` on a grid (``prior + t * (network - prior)``); the gains over
    ``t = 0`` are summed on the support centroids with weights ``exp((cos - 1) /
    bandwidth)``, read back at each query the same way, and the best ``t`` is
    shrunk by the evidence ``n / (n + pseudo)`` (``n``: the kernel-weighted
    number of validation rows near the query)."""
    raw = _raw_logits(model, val.embeddings)
    prior = model.prior.astype(np.float64)[None, :]
    a = model.link_scale.astype(np.float64)[val.source][:, None]
    b = model.link_shift.astype(np.float64)[val.source][:, None]
    have = ~np.isnan(val.labels)
    y = np.where(have, val.labels, 0.0).astype(np.float64)
    grid = np.linspace(0.0, 1.0, steps)
    centres = model.centroids.astype(np.float64)

    def weights(x: npt.NDArray[np.float32]) -> FloatArray:
        out: FloatArray = np.exp((x.astype(np.float64) @ centres.T - 1.0) / bandwidth)
        return out

    on_centres = weights(val.embeddings)  # [rows, centroids]
    near = weights(queries)  # [queries, centroids]
    cols = np.arange(len(model.models)) if columns is None else columns
    have = have[:, cols]
    y, raw, prior = y[:, cols], raw[:, cols], prior[:, cols]
    base = np.logaddexp(0.0, a * prior + b) - y * (a * prior + b)
    curves = np.zeros((len(queries), len(cols), steps))
    for j, t in enumerate(grid):
        z = a * (prior + t * (raw - prior)) + b
        # Gain over the prior (t = 0) in cross-entropy with soft labels, per model.
        gain = np.where(have, base - (np.logaddexp(0.0, z) - y * z), 0.0)
        curves[:, :, j] = near @ (on_centres.T @ gain)
    evidence = near @ (on_centres.T @ have.astype(np.float64))  # [queries, models]
    best = grid[np.argmax(curves, axis=2)]
    out: FloatArray = best * evidence / (evidence + pseudo)
    return out


def centroid_misses(
    queries: npt.NDArray[np.float32],
    centroids: npt.NDArray[np.float32],
    bank: npt.NDArray[np.float32],
    misses: FloatArray,
    *,
    near: int,
    tau: float,
    pseudo: float,
) -> FloatArray:
    """``[q, m]`` like :func:`neighbour_residuals`, but through the centres: each
    ``bank`` row's misses are summed on its nearest centre, and a query reads the
    sums of its ``near`` nearest centres, weighted ``exp((cos - 1) / tau)`` and
    shrunk by ``pseudo`` pseudo-counts (what a bundle can carry: two ``[k, m]``
    tables instead of every labelled prompt)."""
    have = ~np.isnan(misses)
    assign = np.concatenate(
        [np.argmax(bank[i : i + 4096] @ centroids.T, axis=1) for i in range(0, len(bank), 4096)]
    )
    sums = np.zeros((len(centroids), misses.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, assign, np.where(have, misses, 0.0))
    np.add.at(counts, assign, have.astype(np.float64))
    similarity = queries @ centroids.T
    nearest = np.argpartition(-similarity, near - 1, axis=1)[:, :near]
    weight = np.exp((np.take_along_axis(similarity, nearest, axis=1) - 1.0) / tau)
    total = np.einsum("qc,qcm->qm", weight, sums[nearest])
    count = np.einsum("qc,qcm->qm", weight, counts[nearest])
    out: FloatArray = total / (count + pseudo)
    return out


def difficulty_routings(
    model: LatentQualityModel,
    tr: QualityData,
    e: npt.NDArray[np.float32],
    cols: npt.NDArray[np.intp],
    irt: FloatArray,
    quality: FloatArray,
) -> dict[str, FloatArray]:
    """P(success) with the prompt's difficulty kept where the model-specific part shrinks.

    ``D(x) = -difficulty . h(x)`` is shared by every model; ``D_bar`` is its mean over
    the training prompts (datasets weighted equally, like the IRT prior's
    ``mean(b_d)``). The shrink target becomes ``prior_m + t_d (D(x) - D_bar)``, with
    ``t_d = 1`` (difficulty trusted in full) or the trust of all models' support
    together. The ceiling routes on the IRT prior plus the held-out prompt's true
    difficulty (the logit of its mean quality over the models, centred)."""

    def shared(x: npt.NDArray[np.float32]) -> FloatArray:
        return -(model.features(x) @ model.difficulty.astype(np.float64))

    d_train = shared(tr.embeddings)
    d_bar = float(np.mean([d_train[tr.dataset == d].mean() for d in np.unique(tr.dataset)]))
    d = shared(e) - d_bar
    raw = model.latent(e)[:, cols]
    support = model.support(e, cols)
    trust = support / (support + model.prior_strength)
    total = model.support(e, np.arange(len(model.models), dtype=np.intp)).sum(1)
    total_trust = (total / (total + model.prior_strength))[:, None]
    prior = model.prior[cols].astype(np.float64)
    out: dict[str, FloatArray] = {}
    for label, t_d in (("in full", 1.0), ("shrunk by all support", total_trust)):
        target = prior + t_d * d[:, None]
        out[f"difficulty kept, {label}"] = sigmoid(target + trust * (raw - target))
    mean_q = np.clip(quality.mean(1), 0.02, 0.98)
    true_d = np.log(mean_q) - np.log1p(-mean_q)
    out["IRT prior + true difficulty"] = sigmoid(irt[None, :] + (true_d - true_d.mean())[:, None])
    return out


def _spearman(a: FloatArray, b: FloatArray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--bundle", default="models/default", help="bundle whose encoder embeds")
    parser.add_argument(
        "--prior-strengths",
        nargs="*",
        type=float,
        default=[],
        help="also route on the predictions with these prior strengths (lighter shrinkage)",
    )
    parser.add_argument(
        "--local-strengths",
        nargs="*",
        type=float,
        default=[],
        help="also blend in the local success rate near each prompt with these pseudo-counts",
    )
    parser.add_argument(
        "--neighbour-residuals",
        nargs="*",
        default=[],
        metavar="K:TAU:PSEUDO[:DIMS]",
        help="also add the model's own misses on the K nearest training prompts, weighted "
        "exp((cos - 1) / TAU) and shrunk by PSEUDO pseudo-counts (DIMS: on an int8 bank "
        "projected on that many principal axes)",
    )
    parser.add_argument(
        "--centroid-misses",
        nargs="*",
        default=[],
        metavar="C:TAU:PSEUDO",
        help="also add the model's own misses summed on each training prompt's nearest "
        "centre, read from the C nearest centres (weights exp((cos - 1) / TAU)), shrunk by "
        "PSEUDO; with a joint gate",
    )
    parser.add_argument(
        "--knn-support",
        nargs="*",
        default=[],
        metavar="K:TAU:PSEUDO",
        help="also shrink with a support counted on the K nearest training prompts "
        "(weights exp((cos - 1) / TAU)) instead of the centroids, PSEUDO the prior strength",
    )
    parser.add_argument(
        "--joint-trust",
        nargs="*",
        type=float,
        default=[],
        metavar="STRENGTH",
        help="also route with one trust per prompt shared by every candidate (the least "
        "supported candidate's), at these prior strengths",
    )
    parser.add_argument(
        "--validation-gate",
        nargs="*",
        default=[],
        metavar="PSEUDO:BANDWIDTH",
        help="also route with a trust read from the network's gain over the prior on the "
        "validation prompts near each prompt (max with the shipped joint trust, and alone)",
    )
    parser.add_argument(
        "--source-rankings",
        action="store_true",
        help="also route on each training dataset's own per-model accuracies (its IRT cell "
        "residuals on the prior; models it did not grade at their prior): could any one "
        "training source's ranking of the held-out set's models have done no harm?",
    )
    parser.add_argument(
        "--difficulty",
        action="store_true",
        help="also shrink towards the model's prior plus the prompt's difficulty (shared by "
        "every model; in full, and shrunk with the support of all models together), and "
        "route on the IRT prior plus the held-out prompts' true difficulty (a ceiling)",
    )
    parser.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="QualityConfig fields to change (e.g. centroids=1024 bandwidth=0.03)",
    )
    parser.add_argument(
        "--in-distribution",
        type=float,
        metavar="SHARE",
        help="hold out this share of the dataset's prompt groups only (train on the rest)",
    )
    parser.add_argument(
        "--per-model",
        action="store_true",
        help="also print each model's held-out accuracy, priors, mean prediction and costs",
    )
    args = parser.parse_args(argv)
    try:
        config = config_with(args.config)
    except ValueError as error:
        parser.error(f"--config {error}")

    log, catalog = load_development(args.data, rejects=Path(".cache") / "rejects.jsonl")
    embed = bundle_embedder(args.bundle)

    models = sorted(set(log.models))
    sources = source_names(log)
    every = arrange(log, models, sources)
    vectors = embed(every.texts)
    base = base_columns(models, catalog)
    group_of = dict(zip(every.texts, every.groups, strict=True))
    for dataset in args.datasets:
        in_dataset = sorted(
            {g for g, d in zip(every.groups, every.datasets, strict=True) if d == dataset}
        )
        if args.in_distribution is None:
            held = set(in_dataset)
        else:
            drawn = group_split(in_dataset, args.in_distribution, seed=2)
            held = {g for g, x in zip(in_dataset, drawn, strict=True) if x}
        train_rows = np.array(
            [
                (d != dataset or args.in_distribution is not None) and g not in held
                for g, d in zip(every.groups, every.datasets, strict=True)
            ]
        )
        val = group_split(every.groups, 0.1, seed=1)
        tr = every.rows(train_rows & ~val).quality_data(vectors[train_rows & ~val])
        va = every.rows(train_rows & val).quality_data(vectors[train_rows & val])
        network, _ = train_latent(tr, va, base, len(sources), config)
        model: LatentQualityModel = export(network, tr, models, sources, config)
        with torch.no_grad():
            latent = network.latent(torch.from_numpy(tr.embeddings)).numpy().astype(np.float64)
        mean_latent = np.mean(
            [latent[tr.dataset == d].mean(0) for d in np.unique(tr.dataset)], axis=0
        )
        counts = (~np.isnan(every.labels[train_rows])).sum(0)

        block = held_out_block(log, dataset, catalog, models, counts)
        if block is None:
            print(f"{dataset}: no model known with >= 50 training labels")
            continue
        names = list(block.models)
        quality, texts, realised = block.quality, block.texts, block.realised_cost
        if args.in_distribution is not None:
            rows = np.array([group_of.get(t) in held for t in texts])
            quality, realised = quality[rows], realised[rows]
            texts = [t for t, keep in zip(texts, rows, strict=True) if keep]
        e = embed(texts)
        counter = TokenCounter()
        prediction = model.predict(e, models=names)
        assert prediction.output_tokens is not None
        expected = expected_cost_usd(
            counter.count(texts).astype(np.float64),
            prediction.output_tokens,
            catalog.prices(names),
        )
        mcols = model.columns(names)
        shape = quality.shape
        # Unshrunk cell residuals for --source-rankings; the prior does not depend on it.
        fit = irt_fit(
            tr.labels,
            tr.dataset,
            l2=config.irt_l2,
            min_labels=config.irt_min_labels,
            base_of=base,
            shrink=0.0,
        )
        irt = fit.prior[mcols]
        old = mean_latent[mcols]
        truth = quality.mean(0)
        routings = {
            "predictions": _route(prediction.p_success, expected),
            "predictions, realised costs": _route(prediction.p_success, realised),
            "mean-latent prior": _route(np.broadcast_to(sigmoid(old), shape).copy(), expected),
            "IRT prior": _route(np.broadcast_to(sigmoid(irt), shape).copy(), expected),
            "hindsight accuracy": _route(np.broadcast_to(truth, shape).copy(), expected),
        }
        for strength in args.prior_strengths:
            lighter = dataclasses.replace(model, prior_strength=strength)
            routings[f"predictions, prior strength {strength:g}"] = _route(
                lighter.predict(e, models=names).p_success, expected
            )
        # The model's own misses on its training labels (label minus its prediction on
        # the label's source scale), for the local and neighbour signals below.
        misses_all = (
            tr.labels - fitted_on_own_scale(model, tr)
            if args.local_strengths or args.neighbour_residuals or args.centroid_misses
            else np.zeros(0)
        )
        # The joint-trust gate of the shipped bundle, for the neighbour signals below.
        assert prediction.support is not None
        joint = (prediction.support / (prediction.support + model.prior_strength)).min(
            axis=1, keepdims=True
        )
        if args.local_strengths:
            sums = centroid_label_sums(
                tr.embeddings, tr.labels, model.centroids, bandwidth=model.bandwidth
            )
            kernel = model.kernel(e)
            support = prediction.support
            assert support is not None
            local = kernel @ sums[:, mcols].astype(np.float64) / np.maximum(support, 1e-12)
            # Those misses near the prompt (the source scale takes the sources'
            # different label scales out of the local signal).
            misses = centroid_label_sums(
                tr.embeddings,
                misses_all.astype(np.float32),
                model.centroids,
                bandwidth=model.bandwidth,
            )
            residual = kernel @ misses[:, mcols].astype(np.float64) / np.maximum(support, 1e-12)
            for strength in args.local_strengths:
                blended = (support * local + strength * prediction.p_success) / (support + strength)
                routings[f"predictions + local rates {strength:g}"] = _route(blended, expected)
                weight = support / (support + strength)
                corrected = prediction.p_success + weight * residual
                routings[f"predictions + local residuals {strength:g}"] = _route(
                    np.clip(corrected, 0.0, 1.0), expected
                )
                # Gated like joint trust: only where every candidate was graded near.
                gated = prediction.p_success + weight.min(axis=1, keepdims=True) * residual
                routings[f"  + local residuals {strength:g}, joint gate"] = _route(
                    np.clip(gated, 0.0, 1.0), expected
                )
        if args.neighbour_residuals:
            miss = misses_all[:, mcols]
            for spec in args.neighbour_residuals:
                k_near, tau, pseudo, *dims = (float(x) for x in spec.split(":"))
                if dims:  # the shipped int8 bank, served as the bundle serves it
                    bank = NeighbourMisses.build(
                        tr.embeddings,
                        miss,
                        dims=int(dims[0]),
                        k=int(k_near),
                        tau=tau,
                        pseudo=pseudo,
                    )
                    shift = bank.shift(e, np.arange(miss.shape[1]))
                else:
                    shift = neighbour_residuals(
                        e, tr.embeddings, miss, k=int(k_near), tau=tau, pseudo=pseudo
                    )
                routings[f"predictions + neighbour misses {spec}"] = _route(
                    np.clip(prediction.p_success + shift, 0.0, 1.0), expected
                )
                routings[f"  + neighbour misses {spec}, joint gate"] = _route(
                    np.clip(prediction.p_success + joint * shift, 0.0, 1.0), expected
                )
        if args.centroid_misses:
            for spec in args.centroid_misses:
                near, tau, pseudo = (float(x) for x in spec.split(":"))
                shift = centroid_misses(
                    e,
                    model.centroids,
                    tr.embeddings,
                    misses_all[:, mcols],
                    near=int(near),
                    tau=tau,
                    pseudo=pseudo,
                )
                routings[f"predictions + centroid misses {spec}"] = _route(
                    np.clip(prediction.p_success + shift, 0.0, 1.0), expected
                )
                routings[f"  + centroid misses {spec}, joint gate"] = _route(
                    np.clip(prediction.p_success + joint * shift, 0.0, 1.0), expected
                )
        if args.knn_support:
            unshrunk = dataclasses.replace(model, prior_strength=1e-9).predict(e, models=names)
            raw = np.log(unshrunk.p_success) - np.log1p(-unshrunk.p_success)
            prior_z = model.prior[mcols].astype(np.float64)
            labelled = np.where(np.isnan(tr.labels[:, mcols]), np.nan, 1.0)
            for spec in args.knn_support:
                k_near, tau, pseudo = (float(x) for x in spec.split(":"))
                count = neighbour_residuals(
                    e, tr.embeddings, labelled, k=int(k_near), tau=tau, pseudo=0.0, total=True
                )
                trust = count / (count + pseudo)
                routings[f"predictions, kNN support {spec}"] = _route(
                    sigmoid(prior_z + trust * (raw - prior_z)), expected
                )
        for strength in args.joint_trust:
            jointly = dataclasses.replace(model, joint_trust=True, prior_strength=strength)
            routings[f"joint trust, prior strength {strength:g}"] = _route(
                jointly.predict(e, models=names).p_success, expected
            )
        if args.validation_gate:
            raw_z = _raw_logits(model, e)[:, mcols]
            prior_z = model.prior[mcols].astype(np.float64)[None, :]
            shift_near: FloatArray = (
                model.neighbours.shift(e, mcols)
                if model.neighbours is not None
                else np.zeros_like(raw_z)
            )
            for spec in args.validation_gate:
                pseudo, gate_bw = (float(x) for x in spec.split(":"))
                gate = validation_gate(
                    model, va, e, pseudo=pseudo, bandwidth=gate_bw, columns=mcols
                ).min(axis=1, keepdims=True)
                print(
                    f"   validation gate {spec}: median trust {np.median(gate):.3f}, "
                    f"shipped joint {np.median(joint):.3f}"
                )
                for label, trust in (("max with joint", np.maximum(gate, joint)), ("alone", gate)):
                    z = prior_z + trust * (raw_z - prior_z)
                    p = np.clip(sigmoid(z) + trust * shift_near, 1e-4, 1 - 1e-4)
                    routings[f"validation gate {spec}, {label}"] = _route(p, expected)
        if args.source_rankings:
            for row, index in enumerate(fit.datasets):
                residual = fit.residual[row, mcols]
                graded = int((residual != 0).sum())
                if graded >= 2:
                    z = fit.prior[mcols] + residual
                    routings[
                        f"ranking of {log.datasets[int(index)]} ({graded}/{len(mcols)} graded)"
                    ] = _route(np.broadcast_to(sigmoid(z), shape).copy(), expected)
        if args.difficulty:
            for name, p in difficulty_routings(model, tr, e, mcols, irt, quality).items():
                routings[name] = _route(p, expected)
        oracle = Oracle()
        oracle.reveal(quality, realised)
        routings["oracle"] = oracle.route(
            RouterInputs(
                prompts=tuple(texts), embeddings=e, models=tuple(names), expected_cost_usd=expected
            )
        )
        estimates, _ = score_routings(
            quality,
            realised,
            routings,
            best=int(np.argmax(truth)),
            weak=int(np.argmin(realised.mean(0))),
            bootstrap_resamples=0,
        )
        zero = estimates[ZERO_ROUTER]["aiq"].value
        print(
            f"== {dataset}: {len(texts)} prompts, {len(names)} models, zero router AIQ {zero:.4f}"
        )
        for name in routings:
            if name != "oracle":
                print(f"   {name:30s} router - zero {estimates[name]['aiq'].value - zero:+.4f}")
        print(
            f"   Spearman with the held-out accuracy: mean-latent prior "
            f"{_spearman(old, truth):.2f}, IRT prior {_spearman(irt, truth):.2f}",
            flush=True,
        )
        if args.per_model:
            print(
                f"   {'model':42s} {'accuracy':>8s} {'IRT':>6s} {'pred':>6s} "
                f"{'real $/1k':>10s} {'exp $/1k':>10s}"
            )
            for j in np.argsort(realised.mean(0)):
                print(
                    f"   {names[j]:42s} {truth[j]:8.3f} {sigmoid(irt[j]):6.3f} "
                    f"{prediction.p_success[:, j].mean():6.3f} "
                    f"{1000 * realised[:, j].mean():10.4f} {1000 * expected[:, j].mean():10.4f}"
                )


if __name__ == "__main__":  # pragma: no cover
    main()
