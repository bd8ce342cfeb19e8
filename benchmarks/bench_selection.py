"""Selection kernel speed: 1 and 10,000 prompts x 20 models, every policy.

Run: ``make bench`` (or ``python -m benchmarks.bench_selection``).
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import report_timings, summarise, time_calls
from learned_router import select_models

POLICIES = {
    "min_quality": {"min_quality": 0.8},
    "max_cost": {"max_cost_usd": 0.005},
    "cost_weight": {"cost_weight": 20.0},
    "relative_quality": {"quality_fraction": 0.95},
}


def main() -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    n_models = 20
    results: dict[str, dict[str, float]] = {}
    for n_prompts, repeats in ((1, 2000), (10_000, 50)):
        p = rng.random((n_prompts, n_models))
        cost = rng.uniform(1e-5, 1e-2, size=(n_prompts, n_models))
        available = rng.random((n_prompts, n_models)) > 0.1
        for policy, kwargs in POLICIES.items():
            samples = time_calls(
                lambda p=p, cost=cost, available=available, kwargs=kwargs: select_models(
                    p, cost, available=available, **kwargs
                ),
                repeats=repeats,
            )
            results[f"{policy} {n_prompts}x{n_models}"] = summarise(samples)
    report_timings("selection", "select_models (Python wrapper + Rust kernel), per call", results)
    return results


if __name__ == "__main__":
    main()
