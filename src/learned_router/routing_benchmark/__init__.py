"""The routing-quality benchmark: the learned router against heuristic routing and
published baselines, on the same split, embeddings and held-out prompts.

>>> from learned_router import routing_benchmark
>>> [r.name for r in routing_benchmark.default_routers()][:3]
['always-cheapest', 'always-best', 'random-mixture']

Run it with ``learned-router bench --data PATH...`` or :func:`run_benchmark`;
plug the learned router in through :class:`LearnedRouterPredictor`. Metric
definitions: :mod:`learned_router.routing_benchmark.metrics` and ``docs/benchmark.md``.
scikit-learn (TF-IDF + logistic regression) and matplotlib (plots) are
imported only when used.
"""

from learned_router.routing_benchmark.embeddings import Embed, EmbeddingCache, text_key
from learned_router.routing_benchmark.harness import (
    BenchConfig,
    BenchResult,
    DatasetResult,
    Estimate,
    OperatingPoint,
    RouterResult,
    default_routers,
    run_benchmark,
)
from learned_router.routing_benchmark.learned import (
    LearnedRouterPredictor,
    PredictorRouter,
    load_learned_predictor,
)
from learned_router.routing_benchmark.report import summary_table, write_report
from learned_router.routing_benchmark.routers import (
    BenchRouter,
    QualityScorer,
    RouterInputs,
    Routing,
    TrainingSet,
    TriageRules,
)

__all__ = [
    "BenchConfig",
    "BenchResult",
    "BenchRouter",
    "DatasetResult",
    "Embed",
    "EmbeddingCache",
    "Estimate",
    "LearnedRouterPredictor",
    "OperatingPoint",
    "PredictorRouter",
    "QualityScorer",
    "RouterInputs",
    "RouterResult",
    "Routing",
    "TrainingSet",
    "TriageRules",
    "default_routers",
    "load_learned_predictor",
    "run_benchmark",
    "summary_table",
    "text_key",
    "write_report",
]
