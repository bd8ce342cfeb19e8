"""A synthetic routing problem with a planted signal, for the benchmark's tests.

Prompts fall in three tiers (easy, medium, hard). The tier shows in the text
(keywords the heuristic and TF-IDF can read) and in the embedding (a noisy
one-hot the embedding routers can read). Three models: "cheap" answers easy
prompts, "mid" easy and medium ones, "frontier" nearly everything, at costs
1 : 4 : 20. A router that reads the prompt should beat random mixtures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from learned_router.catalog import Catalog
from learned_router.data.log import OutcomeLog
from learned_router.routing_benchmark.routers import RouterInputs, TrainingSet

MODELS = ("cheap", "mid", "frontier")
COST_PER_CALL = np.array([1e-4, 4e-4, 2e-3])
P_CORRECT = np.array(  # [tier, model]
    [
        [0.95, 0.95, 0.97],
        [0.10, 0.90, 0.95],
        [0.05, 0.20, 0.90],
    ]
)
TEMPLATES = (
    "Please format this list of {w} items as a table.",
    "Explain why the {w} method works here.",
    "Analyze and debug this code: def f({w}): return {w}",
)
WORDS = ("apple", "river", "stone", "cloud", "engine", "garden", "signal", "paper")


@dataclass(frozen=True)
class Synthetic:
    prompts: tuple[str, ...]
    tiers: npt.NDArray[np.int64]
    embeddings: npt.NDArray[np.float32]
    quality: npt.NDArray[np.float64]
    cost_usd: npt.NDArray[np.float64]

    def training_set(self, rows: slice) -> TrainingSet:
        inputs = RouterInputs(
            prompts=self.prompts[rows],
            embeddings=self.embeddings[rows],
            models=MODELS,
            expected_cost_usd=self.cost_usd[rows],
        )
        return TrainingSet(inputs=inputs, quality=self.quality[rows])


def synthetic(n: int = 900, *, seed: int = 0, dim: int = 8, noise: float = 0.35) -> Synthetic:
    rng = np.random.default_rng(seed)
    tiers = rng.integers(0, 3, size=n)
    prompts = tuple(
        f"{TEMPLATES[t].format(w=WORDS[rng.integers(len(WORDS))])} (case {i})"
        for i, t in enumerate(tiers)
    )
    embeddings = rng.normal(0.0, noise, size=(n, dim)).astype(np.float32)
    embeddings[np.arange(n), tiers] += 1.0
    quality = (rng.random((n, 3)) < P_CORRECT[tiers]).astype(np.float64)
    cost = COST_PER_CALL[None, :] * rng.uniform(0.9, 1.1, size=(n, 3))
    return Synthetic(prompts, tiers.astype(np.int64), embeddings, quality, cost)


class LookupEmbedder:
    """``embed(texts)`` that returns the planted embedding of each known text."""

    def __init__(self, problem: Synthetic) -> None:
        self.vectors = dict(zip(problem.prompts, problem.embeddings, strict=True))
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        return np.stack([self.vectors.get(t, _hashed(t)) for t in texts]).astype(np.float32)


def _hashed(text: str, dim: int = 8) -> npt.NDArray[np.float32]:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def outcome_log(
    problem: Synthetic, *, dataset: str = "synth", real_costs: bool = True
) -> OutcomeLog:
    """The problem as an OutcomeLog (one row per prompt and model)."""
    n = len(problem.prompts)
    ids = [f"p{i}" for i in range(n)]
    prompts = pa.table(
        {
            "dataset": [dataset] * n,
            "prompt_id": ids,
            "prompt": list(problem.prompts),
            "task": ["t"] * n,
        }
    )
    rows: dict[str, list[Any]] = {
        "dataset": [],
        "prompt_id": [],
        "model": [],
        "quality": [],
        "cost_usd": [],
    }
    for i in range(n):
        for j, model in enumerate(MODELS):
            rows["dataset"].append(dataset)
            rows["prompt_id"].append(ids[i])
            rows["model"].append(model)
            rows["quality"].append(float(problem.quality[i, j]))
            rows["cost_usd"].append(float(problem.cost_usd[i, j]) if real_costs else None)
    return OutcomeLog(prompts, pa.table(rows))


def catalog() -> Catalog:
    """Prices in the same 1 : 4 : 20 ratio as the planted costs."""
    models = []
    for model, price in zip(MODELS, (0.5, 2.0, 10.0), strict=True):
        models.append(
            {
                "id": model,
                "provider": "test",
                "usd_per_1m_input": price,
                "usd_per_1m_output": 3 * price,
                "context_window_tokens": 8000,
                "price_as_of": "2024-01",
                "price_source": "test",
                "latency": {"ttft_ms": 100.0, "output_tokens_per_s": 50.0},
            }
        )
    return Catalog.from_dict({"version": "test", "model": models})


def make_keyword_embedder() -> Callable[[Sequence[str]], npt.NDArray[np.float32]]:
    """An ``--embedder`` factory for CLI tests: the tier read from the template, plus noise."""

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.stack([_hashed(t) * 0.3 for t in texts])
        for i, text in enumerate(texts):
            for tier, template in enumerate(TEMPLATES):
                if text.startswith(template.split("{")[0]):
                    out[i, tier] += 1.0
        return out.astype(np.float32)

    embed.cache_name = "keyword-test"  # type: ignore[attr-defined]
    return embed
