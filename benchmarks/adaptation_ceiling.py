"""Experiment: how far tenant corrections could go with full information.

``benchmarks/adaptation_eval.py`` replays a tenant with bandit feedback (only
the routed model's outcome is recorded). This asks the ceiling question: give
the corrections *every* model's outcome on every prompt of the traffic pool
(which no tenant's traffic ever does) and score the corrected router on the
same held-out 30% (same split, seed 0, same AIQ as ``adaptation_eval``;
point estimates, no bootstrap). Two forms:

- ``global``: :class:`~learned_router.drift.Corrections` as shipped (per
  model and band of predicted P; pooled and per model), from a share of the
  pool's prompts (5%, 20%, all);
- ``local``: a residual per model from the ``k`` nearest pool prompts (cosine
  on the bundle's embeddings) with ``k / (k + lam)``-style shrinkage, added
  to the global correction: the per-prompt form corrections do not have.

If even these stay below kNN / TF-IDF trained on the same pool, no amount of
exploration makes the shipped corrections reach them.

Run: ``python -m benchmarks.adaptation_ceiling --data ../shared/data
--bundle build/adaptation/without-routerbench_subset --dataset routerbench_subset``
(the bundle from ``adaptation_eval --train-without``; ~1 minute).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.adaptation_eval import _aiq
from learned_router.drift import Corrections
from learned_router.drift.replay import load_dataset
from learned_router.router import Router


def local_residuals(
    query: np.ndarray, keys: np.ndarray, residuals: np.ndarray, *, k: int, lam: float
) -> np.ndarray:
    """Per query row and model: the mean residual of its ``k`` nearest keys, shrunk
    (sum / (k + lam)); NaN residuals (no outcome) count as absent."""
    sims = query @ keys.T
    top = np.argpartition(-sims, min(k, keys.shape[0]) - 1, axis=1)[:, :k]
    r = residuals[top]  # [queries, k, models]
    present = ~np.isnan(r)
    return np.where(present, r, 0.0).sum(axis=1) / (present.sum(axis=1) + lam)


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
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(data.prompts))
    n_test = max(50, int(0.3 * len(order)))
    test, pool = np.sort(order[:n_test]), np.sort(order[n_test:])
    base = router.route_batch(data.prompts, candidates=data.models, tenant="base")
    p = np.clip([[d.candidate(m).p_success for m in data.models] for d in base], 0.0, 1.0)
    expected = np.array([[d.candidate(m).expected_cost_usd for m in data.models] for d in base])
    cost = np.where(np.isnan(data.cost_usd), expected, data.cost_usd)
    uniform = np.full((1, len(test)), 1.0 / len(test))

    def score(pred: np.ndarray) -> float:
        return round(float(_aiq(pred[test], cost[test], data.quality[test], uniform)[0]), 4)

    out: dict[str, object] = {"dataset": args.dataset, "bundle": args.bundle, "router": score(p)}
    draw = np.random.default_rng(args.seed + 1)
    full: dict[float, np.ndarray] = {}
    for pooled in (0.0, 1.0):
        for share in (0.05, 0.2, 1.0):
            corrections = Corrections(pooled=pooled)
            rows = pool[draw.random(len(pool)) < share]
            for i in rows:
                for j, model in enumerate(data.models):
                    if not np.isnan(data.quality[i, j]):
                        corrections.observe(
                            model, predicted=float(p[i, j]), observed=float(data.quality[i, j])
                        )
            corrected = corrections.apply(p, data.models)
            out[f"global pooled={pooled:g} share={share:g} ({len(rows)} prompts)"] = score(
                corrected
            )
            if share == 1.0:
                full[pooled] = corrected
    embeddings = router.encoder.embed(data.prompts).astype(np.float64)
    embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    residuals = data.quality[pool] - full[1.0][pool]
    for k, lam in ((20, 5.0), (50, 5.0), (100, 10.0)):
        shift = local_residuals(embeddings, embeddings[pool], residuals, k=k, lam=lam)
        out[f"global + local k={k} lam={lam:g}"] = score(np.clip(full[1.0] + shift, 0, 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
