"""Faults and load, bounded (issue 12): kill -9 during appends, a mixed
multi-threaded stress run, and the memory bounds.

    .venv/bin/python -m benchmarks.bench_hardening [--kills 6] [--stress-s 30] [--threads 8]

Prints one JSON object (also written to ``$BENCH_OUT/hardening.json``):

- ``kill9``: a child process appends outcomes and prints each acknowledged id;
  it is killed with SIGKILL ``--kills`` times at random moments; every
  acknowledged record must be in the store afterwards (``lost`` must be 0).
- ``stress``: ``--threads`` threads route, record, release and swap prices on
  the shipped bundle for ``--stress-s`` seconds; ``errors`` lists anything
  that was not one of the project's error types (must be empty).
- ``memory``: RSS growth with 200 pending one-MB prompts (bounded by
  ``decision_memory_bytes``) and with 20,000 distinct candidate lists priced
  (bounded by ``MAX_PRICED_LISTS``).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, machine

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"

CHILD = textwrap.dedent(
    """
    import sys
    from learned_router.outcomes import OutcomeRecord, OutcomeStore

    store = OutcomeStore(sys.argv[1])
    i = 0
    while True:
        i += 1
        record_id = store.append(
            OutcomeRecord(prompt_id=f"{sys.argv[2]}-{i}", prompt="p", model="m", quality=1.0)
        )
        print(record_id, flush=True)
    """
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def kill9(kills: int) -> dict[str, Any]:
    from learned_router.outcomes import read_store

    folder = Path(tempfile.mkdtemp())
    path = folder / "outcomes.sqlite"
    acknowledged: list[int] = []
    rng = random.Random(0)
    for k in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(k)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # started: the kill lands mid-traffic
        if first:
            acknowledged.append(int(first))
        deadline = time.monotonic() + rng.uniform(1.0, 3.0)
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(int(line))
        child.send_signal(signal.SIGKILL)
        for line in child.stdout:  # ids acknowledged before the kill landed
            acknowledged.append(int(line))
        child.wait()
    stored = set(read_store(path).column("id").to_pylist())
    lost = [i for i in acknowledged if i not in stored]
    return {"kills": kills, "acknowledged": len(acknowledged), "lost": len(lost)}


def stress(seconds: float, threads: int) -> dict[str, Any]:
    from learned_router.errors import LearnedRouterError
    from learned_router.router import Router

    folder = Path(tempfile.mkdtemp())
    router = Router.load(SHIPPED, outcome_store=folder / "o.sqlite")
    prompts = [
        "write a poem about cats",
        "Analyse the indemnification clause of this contract",
        "Convert 3 March 2024 to ISO 8601",
        "def f(x): return x * 2  # explain",
    ]
    counts = {"routes": 0, "records": 0, "releases": 0, "price_swaps": 0, "project_errors": 0}
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            try:
                if seed == 0 and rng.random() < 0.2:
                    version = f"stress-{time.monotonic_ns()}"
                    router.catalog.update(
                        {"gpt-4-1106-preview": {"usd_per_1m_input": rng.uniform(0.1, 1.0)}},
                        version=version,
                    )
                    with lock:
                        counts["price_swaps"] += 1
                    continue
                kwargs: dict[str, Any] = rng.choice(
                    [{"min_quality": 0.8}, {"max_cost_usd": 0.001}, {"cost_weight": 100.0}]
                )
                decision = router.route(
                    rng.choice(prompts), tenant=rng.choice([None, "a"]), **kwargs
                )
                with lock:
                    counts["routes"] += 1
                if rng.random() < 0.5:
                    router.record_outcome(decision.decision_id, quality=rng.random())
                    with lock:
                        counts["records"] += 1
                else:
                    router.release(decision.decision_id)
                    with lock:
                        counts["releases"] += 1
            except LearnedRouterError:
                with lock:
                    counts["project_errors"] += 1
            except Exception as error:  # what the run is looking for
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert router.outcome_store is not None
    return {
        "seconds": seconds,
        "threads": threads,
        **counts,
        "stored": len(router.outcome_store),
        "pending_after": len(router._memory),
        "errors": errors[:10],
        "error_count": len(errors),
    }


def _pending_growth_mb(decision_memory_bytes: int) -> dict[str, Any]:
    """RSS growth with 200 one-MB prompts pending. The prompts are one long
    word each (one [UNK] token), so tokenising them allocates next to
    nothing: the growth is what the router keeps."""
    import gc

    from learned_router.router import Router

    router = Router.load(SHIPPED, capacity=False, decision_memory_bytes=decision_memory_bytes)
    router.route("warm up")
    gc.collect()
    base = rss_mb()
    for i in range(200):
        router.route(f"{i} " + "x" * 1_000_000)
    gc.collect()
    return {
        "decision_memory_bytes": decision_memory_bytes,
        "rss_growth_mb": round(rss_mb() - base, 1),
        "kept_decisions": len(router._memory),
        "kept_prompt_mb": round(router._memory_bytes / 2**20, 1),
    }


def memory() -> dict[str, Any]:
    from learned_router.catalog import Catalog, LatencyProfile, ModelSpec
    from learned_router.encoder import encode_ids_and_counts
    from learned_router.live_catalog import MAX_PRICED_LISTS, LiveCatalog
    from learned_router.router import Router

    default = Router.load(SHIPPED, capacity=False)
    limit = default._memory_bytes_limit
    # What a 1 MB prompt of real words costs to count in full (~348k tokens).
    text = "lorem ipsum " * 87_000
    tokenizer = default.encoder._tokenizer
    started = time.perf_counter()
    encode_ids_and_counts(tokenizer, [text], default.bundle.truncation)
    count_s = time.perf_counter() - started
    del default
    pending = {
        "bounded": _pending_growth_mb(limit),
        "unbounded (before the fix)": _pending_growth_mb(2**40),
        "count_1mb_prompt_s": round(count_s, 2),
    }
    specs = tuple(ModelSpec(f"m{i}", "p", 1.0, 2.0, LatencyProfile(100.0, 50.0)) for i in range(40))
    rng = random.Random(0)
    lists = {}
    for label, bound in (("bounded", MAX_PRICED_LISTS), ("unbounded (before the fix)", 10**9)):
        import learned_router.live_catalog as live_catalog

        live_catalog.MAX_PRICED_LISTS = bound
        live = LiveCatalog(Catalog(models=specs, version="v1"))
        base = rss_mb()
        for _ in range(20_000):
            live.priced([f"m{i}" for i in rng.sample(range(40), rng.randint(5, 40))])
        lists[label] = {
            "candidate_lists": 20_000,
            "rss_growth_mb": round(rss_mb() - base, 1),
            "kept": len(live._snapshot.priced),
        }
        del live
    live_catalog.MAX_PRICED_LISTS = MAX_PRICED_LISTS
    return {"pending_decisions": pending, "price_cache": lists}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--stress-s", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    result = {
        "machine": machine(),
        "command": "python -m benchmarks.bench_hardening " + " ".join(sys.argv[1:]),
        "kill9": kill9(args.kills),
        "stress": stress(args.stress_s, args.threads),
        "memory": memory(),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "hardening.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if result["kill9"]["lost"] or result["stress"]["error_count"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
