"""GPTCache side by side with this cache, fed the same vectors.

Runs in a throwaway venv that has GPTCache (never a dependency of this
project)::

    python3 -m venv /tmp/gptcache-venv
    /tmp/gptcache-venv/bin/pip install gptcache faiss-cpu numpy sqlalchemy
    .venv/bin/python -m training.cache_verifier          # writes the vectors below
    /tmp/gptcache-venv/bin/python benchmarks/gptcache_compare.py

Input: ``.cache/cache_eval/compare_vectors.npz`` (written by
``training/cache_verifier.py``: the cache encoder's vectors of the held-out
pairs, ``paws_wiki_dev.tsv`` test part and the held-out pairs generated from
the outcome logs, their labels, and what this cache served). GPTCache gets
those vectors through its ``embedding_func`` (sqlite + faiss, its documented
default pair, ``SearchDistanceEvaluation``), per pair as this cache is
measured: a cache holding ``text1`` asked ``text2``, at several
``similarity_threshold`` values (its default is 0.8); see
:func:`served_rates`. (Storing every ``text1`` in one cache is no fair test
here: 18% of the PAWS look-alike queries and 25% of the outcome ones are, word
for word, the stored question of another pair.) Latency: ``get`` on random unit vectors
at 10k and 100k entries, one query at a time. Writes
``benchmarks/results/gptcache_compare.json`` (``--no-latency``: rates only;
``--latency-only``: ``gptcache_latency.json``, needs no vectors).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VECTORS = Path(".cache/cache_eval/compare_vectors.npz")
OUT = Path("benchmarks/results/gptcache_compare.json")
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def _cache(dim: int, vectors: dict[str, np.ndarray], threshold: float, folder: str):  # type: ignore[no-untyped-def]
    from gptcache import Cache
    from gptcache.config import Config
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    cache = Cache()
    manager = get_data_manager(
        CacheBase("sqlite", sql_url=f"sqlite:///{folder}/gptcache.db"),
        VectorBase("faiss", dimension=dim, index_path=f"{folder}/faiss.index"),
    )
    cache.init(
        pre_embedding_func=get_prompt,
        embedding_func=lambda text, **_: vectors[text],
        data_manager=manager,
        similarity_evaluation=SearchDistanceEvaluation(),
        config=Config(similarity_threshold=threshold),
    )
    return cache


def served_rates(data: dict[str, np.ndarray], prefix: str, checked: int = 12) -> dict[str, object]:
    """Per pair (a cache holding ``text1`` alone, asked ``text2``), as this
    cache's curves are measured. GPTCache serves a one-entry cache's answer
    when ``max_distance - L2^2 >= max_distance * similarity_threshold`` (its
    faiss store and ``SearchDistanceEvaluation``; max_distance 4), i.e. for
    unit vectors when ``cosine >= 2 * threshold - 1``. That rule is checked
    against real one-entry GPTCache instances on ``checked`` pairs at every
    threshold, then applied to all pairs."""
    from gptcache.adapter.api import get

    cosines = np.sum(data["v1"] * data["v2"], axis=1)
    labels = data["labels"]
    rng = np.random.default_rng(0)
    sample = rng.choice(len(labels), size=min(checked, len(labels)), replace=False)
    disagreements = 0
    rows = []
    for threshold in THRESHOLDS:
        rule = cosines >= 2 * threshold - 1
        for i in sample.tolist():
            vectors = {"stored": data["v1"][i], "asked": data["v2"][i]}
            cache = _cache(data["v1"].shape[1], vectors, threshold, tempfile.mkdtemp(prefix="gc-"))
            cache.import_data(["stored"], ["answer"])
            disagreements += (get("asked", cache_obj=cache) is not None) != bool(rule[i])
        rows.append(
            {
                "similarity_threshold": threshold,
                "hit_rate": float(rule[labels == 1].mean()),
                "false_hit_rate": float(rule[labels == 0].mean()),
            }
        )
        print(prefix, rows[-1], flush=True)
    return {
        "rule_checked_on": len(sample) * len(THRESHOLDS),
        "rule_disagreements": disagreements,
        "curve": rows,
    }


def latency(entries: int, queries: int = 300) -> dict[str, float]:
    from gptcache.adapter.api import get

    rng = np.random.default_rng(0)
    dim = 384
    stored = rng.standard_normal((entries, dim)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    noise = rng.standard_normal((queries, dim)).astype(np.float32) * 0.02
    asked = stored[:queries] + noise
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    vectors = {f"s{i}": v for i, v in enumerate(stored)} | {f"q{i}": v for i, v in enumerate(asked)}
    cache = _cache(dim, vectors, 0.8, tempfile.mkdtemp(prefix="gptcache-"))
    for start in range(0, entries, 5000):
        names = [f"s{i}" for i in range(start, min(start + 5000, entries))]
        cache.import_data(names, names)
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        get(f"q{i}", cache_obj=cache)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "entries": entries,
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
    }


def main() -> None:
    import gptcache

    out = OUT.parent / "gptcache_latency.json" if "--latency-only" in sys.argv else OUT
    result: dict[str, object] = {"gptcache_version": gptcache.__version__, "cpus": os.cpu_count()}
    if "--latency-only" not in sys.argv:
        loaded = np.load(VECTORS)
        for prefix in ("paws_test", "outcome_pairs"):
            data = {
                k.split("/", 1)[1]: loaded[k] for k in loaded.files if k.startswith(prefix + "/")
            }
            result[prefix] = served_rates(data, prefix)
    if "--no-latency" not in sys.argv:
        result["latency"] = [latency(10_000), latency(100_000)]
        print(result["latency"], flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
