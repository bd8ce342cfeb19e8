"""Experiment: how far a tenant's outcomes could take the router with full information.

``benchmarks/adaptation_eval.py`` replays a tenant with bandit feedback (only
the routed model's outcome is recorded). This asks the ceiling question: give
the router *every* model's outcome on every prompt of the traffic pool
(which no tenant's traffic ever does) and score it on the same held-out 30%
(same split, seed, AIQ and 300 paired bootstrap resamples as
``adaptation_eval``), against the same kNN and TF-IDF (trained on the same
rows with the same information). Forms:

- ``global``: :class:`~learned_router.drift.Corrections` as shipped (per
  model and band of predicted P; pooled and per model), from a share of the
  pool's prompts (5%, 20%, all); point estimates;
- ``local``: a residual per model from the ``k`` nearest pool prompts (cosine
  on the bundle's embeddings) with ``k / (k + lam)``-style shrinkage, added
  to the global correction: a Bayesian blend of the router's prediction
  (``lam`` pseudo-outcomes) and the neighbours' outcomes;
- ``stack``: ``a * kNN + (1 - a) * local``, both fit on the baselines' fit
  rows and ``a`` (and ``k``, ``lam``) chosen on their tuning rows by Brier
  score: as good as kNN wherever the router's prediction adds nothing, ahead
  wherever it adds something.

If none of these is ahead of kNN and TF-IDF, no correction learned from a
tenant's outcomes (which cover less) gets ahead of them by exploring more.

Run: ``python -m benchmarks.adaptation_ceiling --data ../shared/data
--bundle build/adaptation/without-routerbench_subset --dataset routerbench_subset``
(the bundle from ``adaptation_eval --train-without``; 1-2 minutes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.adaptation_eval import (
    RESAMPLES,
    _aiq,
    _summary,
    baselines,
    split,
    tuning_split,
)
from learned_router.drift import Corrections
from learned_router.drift.replay import load_dataset
from learned_router.router import Router
from learned_router.routing_benchmark.metrics import bootstrap_weights


def local_residuals(
    query: np.ndarray, keys: np.ndarray, residuals: np.ndarray, *, k: int, lam: float
) -> np.ndarray:
    """Per query row and model: the mean residual of its ``k`` nearest keys, shrunk
    (sum / (k + lam)); NaN residuals (no outcome) count as absent."""
    sims = query @ keys.T
    top = np.argpartition(-sims, min(k, keys.shape[0]) - 1, axis=1)[:, :k]
    r = residuals[top]  # [queries, k, models]
    present = ~np.isnan(r)
    shift: np.ndarray = np.where(present, r, 0.0).sum(axis=1) / (present.sum(axis=1) + lam)
    return shift


def blend(prior: np.ndarray, local: np.ndarray, knn: np.ndarray, a: float) -> np.ndarray:
    """The stack: ``a`` of the kNN prediction, the rest the router's prediction
    with its local correction (clipped to [0, 1])."""
    out: np.ndarray = np.clip(a * knn + (1.0 - a) * np.clip(prior + local, 0.0, 1.0), 0.0, 1.0)
    return out


def _brier(pred: np.ndarray, quality: np.ndarray) -> float:
    known = ~np.isnan(quality)
    return float(np.mean((pred[known] - quality[known]) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--min-coverage", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    router = Router.load(args.bundle, capacity=False)
    data = load_dataset(args.data, args.dataset, router, min_coverage=args.min_coverage)
    rng, test, pool = split(len(data.prompts), args.seed)
    base = router.route_batch(data.prompts, candidates=data.models, tenant="base")
    p = np.clip([[d.candidate(m).p_success for m in data.models] for d in base], 0.0, 1.0)
    expected = np.array([[d.candidate(m).expected_cost_usd for m in data.models] for d in base])
    cost = np.where(np.isnan(data.cost_usd), expected, data.cost_usd)
    quality = data.quality
    weights = np.vstack(
        [
            np.full((1, len(test)), 1.0 / len(test)),
            bootstrap_weights(len(test), resamples=RESAMPLES, seed=args.seed),
        ]
    )
    samples: dict[str, np.ndarray] = {"router": _aiq(p[test], cost[test], quality[test], weights)}
    embeddings = router.encoder.embed(data.prompts).astype(np.float64)
    fit, tune = tuning_split(pool, rng)
    scored = np.concatenate([tune, test])  # the stack is chosen on tune, scored on test
    knn_pred = np.full_like(p, np.nan)
    for label, predicted in baselines(data, embeddings, expected, fit, tune, scored).items():
        samples[label] = _aiq(predicted[len(tune) :], cost[test], quality[test], weights)
        if label == "knn":
            knn_pred[scored] = predicted

    def point(pred: np.ndarray) -> float:
        return round(float(_aiq(pred[test], cost[test], quality[test], weights[:1])[0]), 4)

    out: dict[str, object] = {"dataset": args.dataset, "bundle": args.bundle}
    draw = np.random.default_rng(args.seed + 1)

    def corrected(rows: np.ndarray, pooled: float) -> np.ndarray:
        corrections = Corrections(pooled=pooled)
        for i in rows:
            for j, model in enumerate(data.models):
                if not np.isnan(quality[i, j]):
                    corrections.observe(
                        model, predicted=float(p[i, j]), observed=float(quality[i, j])
                    )
        return corrections.apply(p, data.models)

    full: dict[float, np.ndarray] = {}
    for pooled in (0.0, 1.0):
        for share in (0.05, 0.2):
            rows = pool[draw.random(len(pool)) < share]
            out[f"global pooled={pooled:g} share={share:g} ({len(rows)} prompts)"] = point(
                corrected(rows, pooled)
            )
        full[pooled] = corrected(pool, pooled)
        samples[f"global pooled={pooled:g} (all pool)"] = _aiq(
            full[pooled][test], cost[test], quality[test], weights
        )
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    for k, lam in ((20, 5.0), (50, 5.0), (100, 10.0)):
        shift = local_residuals(unit, unit[pool], quality[pool] - full[1.0][pool], k=k, lam=lam)
        samples[f"global + local k={k} lam={lam:g}"] = _aiq(
            np.clip(full[1.0] + shift, 0, 1)[test], cost[test], quality[test], weights
        )
    # The stack, every part fit on the fit rows and chosen on the tuning rows.
    prior = corrected(fit, 1.0)
    best: tuple[float, float, int, float] | None = None
    locals_: dict[tuple[int, float], np.ndarray] = {}
    for k, lam in ((20, 2.0), (20, 5.0), (50, 5.0), (50, 20.0), (100, 10.0)):
        local = np.zeros_like(p)
        local[scored] = local_residuals(
            unit[scored], unit[fit], quality[fit] - prior[fit], k=k, lam=lam
        )
        locals_[(k, lam)] = local
        for a in np.linspace(0.0, 1.0, 11):
            brier = _brier(blend(prior, local, knn_pred, a)[tune], quality[tune])
            if best is None or brier < best[0]:
                best = (brier, float(a), k, lam)
    assert best is not None
    _, a, k, lam = best
    stacked = blend(prior, locals_[(k, lam)], knn_pred, a)
    label = f"stack a={a:.1f} k={k} lam={lam:g}"
    samples[label] = _aiq(stacked[test], cost[test], quality[test], weights)
    out["aiq"] = {name: _summary(v) for name, v in samples.items()}
    out["minus"] = {
        f"{name} - {other}": _summary(samples[name] - samples[other])
        for name in samples
        if name not in ("knn", "tfidf")
        for other in ("knn", "tfidf")
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
