"""Experiment: per-tenant adaptation on a dataset the shipped bundle never saw.

For each dataset, the prompts are split (seeded) into a traffic pool (70%)
and a held-out test part (30%). The tenant's traffic is replayed from the
pool through the shipped router with ``--adapt`` and every outcome recorded
(``learned_router.drift.replay``); after 1k, 5k and 20k recorded outcomes
the tenant's corrections are frozen and three routers are scored on the
held-out prompts by AIQ (cost-weight sweep through the selection kernel,
``learned_router.routing_benchmark.metrics``; cost range = cheapest to priciest single
model's mean cost on the test prompts):

- ``router``: the shipped router, no adaptation;
- ``router+adapt@N``: the same predictions with the tenant's corrections;
- ``knn`` and ``tfidf``: the benchmark's kNN (on the bundle's embeddings)
  and TF-IDF + logistic regression, trained on the whole pool with every
  model's outcome (full information, which the tenant's traffic never has).

Run: ``python -m benchmarks.adaptation_eval --data ../shared/data`` (minutes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from learned_router.drift.replay import load_dataset, replay
from learned_router.router import Router
from learned_router.routing_benchmark import RouterInputs, TrainingSet
from learned_router.routing_benchmark.baselines import KNNRouter, TfidfLogisticRouter
from learned_router.routing_benchmark.metrics import aiq, frontier
from learned_router.routing_benchmark.routers import cost_weight_grid, sweep_cost_weights

DATASETS = ("zeroeval_gsm8k", "zeroeval_math_l5", "livecodebench", "evalperf")


def _aiq(p: np.ndarray, cost: np.ndarray, quality: np.ndarray) -> float:
    weights = cost_weight_grid(cost)
    index = sweep_cost_weights(np.clip(p, 0, 1), cost, weights)
    rows = np.arange(len(p))
    points_cost = [float(cost[rows, i].mean()) for i in index]
    points_quality = [float(quality[rows, i].mean()) for i in index]
    single = cost.mean(axis=0)
    return aiq(
        frontier(points_cost, points_quality), cost_range=(float(single.min()), float(single.max()))
    )


def evaluate(
    data_dir: Path, name: str, *, steps: tuple[int, ...], seed: int, min_coverage: float = 0.9
) -> dict[str, Any]:
    router = Router.load(capacity=False)
    data = load_dataset(data_dir, name, router, min_coverage=min_coverage)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.prompts))
    n_test = max(50, int(0.3 * len(order)))
    test, pool = np.sort(order[:n_test]), np.sort(order[n_test:])
    base = router.route_batch(data.prompts, candidates=data.models, tenant="base")
    p = np.array([[d.candidate(m).p_success for m in data.models] for d in base])
    expected = np.array([[d.candidate(m).expected_cost_usd for m in data.models] for d in base])
    cost = np.where(np.isnan(data.cost_usd), expected, data.cost_usd)
    out: dict[str, Any] = {
        "dataset": name,
        "models": list(data.models),
        "pool_prompts": len(pool),
        "test_prompts": len(test),
        "cost_method": "logged cost_usd where present, else the router's expected cost",
    }
    out["router"] = _aiq(p[test], cost[test], data.quality[test])
    embeddings = router.encoder.embed(data.prompts)

    def inputs(rows: np.ndarray) -> RouterInputs:
        return RouterInputs(
            tuple(data.prompts[i] for i in rows),
            embeddings[rows],
            tuple(data.models),
            expected[rows],
        )

    # Baselines tune k / C on a fifth of the pool, as the benchmark does.
    tune = pool[rng.random(len(pool)) < 0.2]
    fit = np.setdiff1d(pool, tune)
    train = TrainingSet(inputs(fit), data.quality[fit])
    validation = TrainingSet(inputs(tune), data.quality[tune])
    for label, baseline in (("knn", KNNRouter()), ("tfidf", TfidfLogisticRouter())):
        baseline.fit(train, validation=validation)
        out[label] = _aiq(baseline.predict_quality(inputs(test)), cost[test], data.quality[test])
    pool_data = data.subset(pool)
    for n in steps:
        adapted = Router.load(capacity=False)
        replay(
            adapted,
            pool_data,
            requests=n,
            shadow_rate=0.0,
            seed=seed,
            adapt=True,
            outcome_rate=1.0,
            tenant="tenant",
        )
        assert adapted.corrections is not None
        corrected = adapted.corrections.apply(p[test], data.models, tenant="tenant")
        out[f"router+adapt@{n}"] = _aiq(corrected, cost[test], data.quality[test])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--steps", nargs="*", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-coverage", type=float, default=0.9)
    args = parser.parse_args()
    for name in args.datasets:
        result = evaluate(
            args.data, name, steps=tuple(args.steps), seed=args.seed, min_coverage=args.min_coverage
        )
        print(json.dumps(result))


if __name__ == "__main__":
    main()
