"""Experiment: does averaging the learned router with a per-dataset baseline close the gap?

The shipped router is one model over seven datasets; the benchmark's kNN and
MLP baselines are trained per dataset on the same embeddings. This averages
the learned router's P(success) with each of them (weight 0.5) on four
datasets and prints every router's AIQ with its paired difference from the
learned router. Figures and reading: docs/benchmark.md ("Closing the gap").

Run: ``python -m benchmarks.blend_experiment`` (needs models/default and
../shared/data; ~4 minutes with the benchmark's embedding cache warm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learned_router import data
from learned_router.routing_benchmark import (
    BenchConfig,
    EmbeddingCache,
    LearnedRouterPredictor,
    PredictorRouter,
    QualityScorer,
    Router,
    RouterInputs,
    TrainingSet,
    default_routers,
    run_benchmark,
)
from learned_router.routing_benchmark.baselines import KNNRouter, MLPRouter
from learned_router.routing_benchmark.embeddings import cache_name_for
from learned_router.routing_benchmark.learned import BundlePredictor
from learned_router.routing_benchmark.routers import FloatArray

DATASETS = ("routerbench_subset", "mmlu_pro", "llmrouter_9model", "routerdc_7model")


class Blend(QualityScorer):
    """The mean of the learned router's and a per-dataset baseline's predictions."""

    kind = "learned baseline"

    def __init__(
        self, predictor: LearnedRouterPredictor, other: QualityScorer, weight: float = 0.5
    ) -> None:
        self.learned = PredictorRouter(predictor)
        self.other = other
        self.weight = weight
        self.name = f"blend-learned+{other.name}"

    def fit(self, train: TrainingSet, *, validation: TrainingSet | None = None) -> None:
        self.other.fit(train, validation=validation)

    def predict_quality(self, inputs: RouterInputs) -> FloatArray:
        ours = self.learned.predict_quality(inputs)
        theirs = np.clip(self.other.predict_quality(inputs), 0.0, 1.0)
        return np.asarray(self.weight * ours + (1 - self.weight) * theirs, dtype=np.float64)


def main(bundle: str = "models/default", data_dir: str = "../shared/data") -> None:
    predictor = BundlePredictor(bundle)
    # The same cache as `learned-router bench --router models/default`.
    embed = EmbeddingCache(
        predictor.embed,
        name=cache_name_for(predictor.embedder_name),
        cache_dir=Path(".cache/embeddings"),
    )
    log = data.load(data_dir, rejects=".cache/bench/rejects.jsonl")

    def routers() -> list[Router]:
        return [
            *default_routers(seed=0),
            Blend(predictor, KNNRouter()),
            Blend(predictor, MLPRouter()),
        ]

    config = BenchConfig(seed=0, bootstrap_resamples=300, datasets=DATASETS)
    result = run_benchmark(log, embed=embed, config=config, learned=predictor, routers=routers)
    for dataset in result.datasets:
        for router in dataset.routers:
            delta = router.aiq_delta
            shown = (
                ""
                if delta is None
                else (f"  vs learned {delta.value:+.4f} [{delta.low:+.4f}, {delta.high:+.4f}]")
            )
            print(f"{dataset.dataset:20s} {router.name:26s} AIQ {router.aiq.value:.4f}{shown}")


if __name__ == "__main__":
    main()
