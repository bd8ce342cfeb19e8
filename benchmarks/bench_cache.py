"""Answer cache benchmark: lookup latency, insert throughput, memory, the
exact-to-IVF switch point, and hit / false-hit rates on the evaluation set.

Run: ``make bench`` or ``python -m benchmarks.bench_cache``. Environment knobs:

- ``BENCH_CACHE_SIZES``: cache sizes for the latency runs (default
  ``10000,100000,1000000``);
- ``BENCH_CACHE_ENCODER``: encoder for the hit-rate part (``teacher``, the
  default; ``hashing``; ``module:factory``; ``none`` to skip it);
- ``BENCH_CACHE_HNSW=0`` skips the HNSW comparison (~1 min at 100k).

Each latency is reported twice: thread CPU time (what a call costs when it
has a core) and wall-clock time (which on a shared host also counts the
time other processes held the core). Latencies exclude embedding: lookups
pass a precomputed vector, as the router does with the embedding it already
computed for routing. Vectors are random unit vectors of dimension 384
(all-MiniLM-L6-v2's): the worst case for approximate search; semantic-hit
queries are stored vectors plus noise (cosine ~0.93 to their source).
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import summarise, write_results
from learned_router.cache import CacheConfig, SemanticCache
from learned_router.cache.index import ScopeIndex

DIM = 384
NOISE = 0.02  # per dimension: cosine ~0.93 between a query and its source


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _unit(rows: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((rows, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _near(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y = x + NOISE * rng.standard_normal(x.shape, dtype=np.float32)
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def _prompt(i: int) -> str:
    return f"Customer {i} asks about invoice {i} for order {i * 7}: when will it ship?"


def time_both(fn: Any, *, repeats: int, warmup: int = 50) -> dict[str, Any]:
    """Wall-clock and thread-CPU summaries of ``repeats`` calls. On a shared
    host the wall-clock p99 measures preemption by other processes; the CPU
    time is what a call costs when it has the core."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {**summarise(wall), "cpu": summarise(cpu)}


def bench_size(n: int, rng: np.random.Generator, *, lookups: int = 2000) -> dict[str, Any]:
    """Build a one-scope cache of n entries and time the three lookup paths."""
    sample = np.sort(rng.choice(n, size=lookups, replace=n < lookups))
    sampled = np.empty((lookups, DIM), dtype=np.float32)
    gc.collect()
    rss_before = _rss_bytes()
    cache = SemanticCache(config=CacheConfig(max_entries=n, min_similarity=0.85))
    chunk = 50_000
    started = time.perf_counter()
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        vectors = _unit(stop - start, rng)
        inside = (sample >= start) & (sample < stop)
        sampled[inside] = vectors[sample[inside] - start]
        cache.store_many(
            [_prompt(i) for i in range(start, stop)],
            [f"answer {i}" for i in range(start, stop)],
            tenant="bench",
            cost_usd=0.001,
            embeddings=vectors,
        )
        del vectors
    bulk_s = time.perf_counter() - started
    gc.collect()
    rss_after = _rss_bytes()
    kind = next(iter(cache._indexes.values())).kind

    near = _near(sampled, rng)
    misses = _unit(lookups, rng)
    counter = iter(range(10**9))

    def exact() -> object:
        i = int(sample[next(counter) % lookups])
        return cache.lookup(_prompt(i), tenant="bench")

    def semantic() -> object:
        j = next(counter) % lookups
        i = int(sample[j])
        return cache.lookup(_prompt(i) + " Thanks!", tenant="bench", embedding=near[j])

    def miss() -> object:
        j = next(counter) % lookups
        return cache.lookup("Something else entirely", tenant="bench", embedding=misses[j])

    results: dict[str, Any] = {"entries": n, "index": kind}
    for name, fn in (("exact hit", exact), ("semantic hit", semantic), ("miss", miss)):
        before = cache.stats()
        results[f"lookup {name}"] = time_both(fn, repeats=lookups)
        after = cache.stats()
        results[f"lookup {name}"]["served_fraction"] = (after.hits - before.hits) / (
            after.lookups - before.lookups
        )
    results["bulk insert (store_many) entries/s"] = n / bulk_s
    singles = 1000
    single_vectors = _unit(singles, rng)
    started = time.perf_counter()
    for i in range(singles):
        cache.store(_prompt(n + i), "x", tenant="bench", embedding=single_vectors[i])
    results["single insert (store) entries/s"] = singles / (time.perf_counter() - started)
    results["memory per entry bytes"] = (rss_after - rss_before) / n
    return results


def bench_switch_point(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Exact (numpy) against IVF search of one scope, by size: where the
    approximate index starts to pay."""
    rows = []
    for n in (1000, 2000, 4000, 8000, 16000, 32000):
        vectors = _unit(n, rng)
        ids = np.arange(n, dtype=np.int64)
        queries = _near(vectors[:500], rng)
        exact = ScopeIndex(DIM, exact_max_entries=10**9, nprobe=16)
        exact.add(ids, vectors)
        ivf = ScopeIndex(DIM, exact_max_entries=1, nprobe=16)
        ivf.add(ids, vectors)
        started = time.perf_counter()
        ivf.retrain()
        train_s = time.perf_counter() - started
        row: dict[str, Any] = {"entries": n, "ivf build s": train_s}
        for name, index in (("exact", exact), ("ivf", ivf)):
            counter = iter(range(10**9))

            def search(
                index: ScopeIndex = index, counter: Any = counter, queries: Any = queries
            ) -> object:
                return index.search(queries[next(counter) % 500][None, :], 4)

            row[name] = time_both(search, repeats=2000, warmup=20)
            found = [index.search(q[None, :], 1)[1].tolist() for q in queries]
            row[f"{name} recall@1"] = float(np.mean([f == [i] for i, f in enumerate(found)]))
        rows.append(row)
    return rows


def bench_hnsw(rng: np.random.Generator, n: int = 100_000) -> dict[str, Any]:
    """HNSW (M=32) at n entries, for the record: build rate, latency, recall."""
    import faiss

    vectors = _unit(n, rng)
    queries = _near(vectors[:500], rng)
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    started = time.perf_counter()
    index.add(vectors)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    out: dict[str, Any] = {"entries": n, "build vectors/s": n / build_s}
    for ef in (16, 64):
        index.hnsw.efSearch = ef
        counter = iter(range(10**9))

        def search(counter: Any = counter) -> object:
            return index.search(queries[next(counter) % 500][None, :], 4)

        out[f"efSearch {ef}"] = time_both(search, repeats=2000, warmup=20)
        found = index.search(queries, 1)[1][:, 0]
        out[f"efSearch {ef} recall@1"] = float(np.mean(found == np.arange(500)))
    return out


def main() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    console = Console()
    sizes = [int(s) for s in os.environ.get("BENCH_CACHE_SIZES", "10000,100000,1000000").split(",")]
    results: dict[str, Any] = {
        "dimension": DIM,
        "sizes": {},
        "load_average_at_start": os.getloadavg(),
    }

    switch = bench_switch_point(rng)
    results["switch_point"] = switch
    table = Table(title="one scope, one query, one thread: exact scan vs IVF (nprobe 16), CPU ms")
    for column in ("entries", "exact p50/p99", "IVF p50/p99", "IVF recall@1", "IVF build s"):
        table.add_column(column, justify="right")
    for row in switch:
        table.add_row(
            f"{row['entries']:,}",
            f"{row['exact']['cpu']['median_ms']:.3f} / {row['exact']['cpu']['p99_ms']:.3f}",
            f"{row['ivf']['cpu']['median_ms']:.3f} / {row['ivf']['cpu']['p99_ms']:.3f}",
            f"{row['ivf recall@1']:.3f}",
            f"{row['ivf build s']:.2f}",
        )
    console.print(table)

    if os.environ.get("BENCH_CACHE_HNSW", "1") != "0":
        results["hnsw_100k"] = bench_hnsw(rng)
        console.print("HNSW at 100k:", results["hnsw_100k"])

    table = Table(title="SemanticCache.lookup, embedding excluded: p50 / p99 ms, CPU (wall)")
    for column in (
        "entries",
        "index",
        "exact hit",
        "semantic hit",
        "miss",
        "bulk ins/s",
        "single ins/s",
        "bytes/entry",
    ):
        table.add_column(column, justify="right")
    for n in sizes:
        row = bench_size(n, rng)
        results["sizes"][str(n)] = row
        table.add_row(
            f"{n:,}",
            row["index"],
            *(
                f"{row[f'lookup {k}']['cpu']['median_ms']:.3f} / "
                f"{row[f'lookup {k}']['cpu']['p99_ms']:.3f} "
                f"({row[f'lookup {k}']['median_ms']:.3f} / {row[f'lookup {k}']['p99_ms']:.3f})"
                for k in ("exact hit", "semantic hit", "miss")
            ),
            f"{row['bulk insert (store_many) entries/s']:,.0f}",
            f"{row['single insert (store) entries/s']:,.0f}",
            f"{row['memory per entry bytes']:,.0f}",
        )
        console.print(f"{n:,} entries done")
    console.print(table)

    results["load_average_after_latency_runs"] = os.getloadavg()
    encoder = os.environ.get("BENCH_CACHE_ENCODER", "teacher")
    if encoder != "none":
        from benchmarks import cache_eval

        results["evaluation"] = cache_eval.main(["--encoder", encoder])
    path = write_results("cache", results)
    console.print(f"written {path}")
    return results


if __name__ == "__main__":
    main()
