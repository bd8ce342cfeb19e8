"""The outcome path of a service with an attached drift monitor: what
``record_outcome`` costs the caller, and how long the monitor's worker needs to
feed the detectors, with the shipped threshold table and without it.

    .venv/bin/python -m benchmarks.bench_outcome_path [--requests 3000] [--simulate]

Routes ``--requests`` prompts of mixed length over 10 candidates with the shipped
bundle, records an outcome for each (``record_outcome``: durable store, then the
attached ``DriftMonitor(adapt=True)``), then waits for the worker to drain. With
``--simulate`` the shipped thresholds are ignored (every calibration simulates, as
before ``scripts/build_ph_thresholds.py``). Prints one JSON object (also written to
``$BENCH_OUT/outcome_path[-simulate].json``): ``record_outcome_ms`` (p50, p99, max),
``drain_s`` (from the last ``record_outcome`` until the detectors have every sample),
``wall_s`` (the whole run: routing, recording and draining) and the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, machine

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"
CANDIDATES = [
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "claude-3-5-sonnet-20241022",
    "claude-3-haiku-20240307",
    "llama-3.1-8b-instruct",
    "llama-3.1-70b-instruct",
    "qwen2.5-7b-instruct",
    "mistral-7b-instruct-v0.3",
    "gemma-2-9b-it",
    "deepseek-v3",
]
PROMPTS = [
    "What is {a} * {b}? Answer with the number only.",
    "Write a Python function that returns the {a}-th prime number.",
    "Summarise the causes of the war of {a} in {b} sentences.",
    "Translate 'good morning, number {a}' into German.",
]


def run(requests: int, *, simulate: bool, seed: int = 0) -> dict[str, Any]:
    from learned_router import Router
    from learned_router.drift import DriftMonitor, detectors

    if simulate:
        detectors._shipped_table.cache_clear()
        detectors._shipped_table = dict  # type: ignore[assignment]
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        router = Router.load(
            SHIPPED,
            models=CANDIDATES,
            capacity=False,
            outcome_store=Path(folder) / "outcomes.sqlite",
        )
        monitor = DriftMonitor(adapt=True, sinks=[])
        monitor.attach(router)
        run_started = time.perf_counter()
        record_ms = []
        for _ in range(requests):
            prompt = rng.choice(PROMPTS).format(a=rng.randint(2, 999), b=rng.randint(2, 9))
            decision = router.route(prompt, tenant="acme")
            quality = float(rng.random() < 0.8)
            started = time.perf_counter()
            router.record_outcome(decision.decision_id, quality=quality)
            record_ms.append((time.perf_counter() - started) * 1e3)
        last = time.perf_counter()
        monitor.flush()
        drain = time.perf_counter() - last
        wall = time.perf_counter() - run_started
        status = monitor.status()
        samples = sum(
            r["samples"] for r in status if r["signal"] == "outcome_residual" and not r["tier"]
        )
        monitor.close()
    ms = np.array(record_ms)
    return {
        "requests": requests,
        "thresholds": "simulated" if simulate else "shipped table",
        "record_outcome_ms": {
            "p50": round(float(np.percentile(ms, 50)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2),
            "max": round(float(ms.max()), 2),
        },
        "drain_s": round(drain, 2),
        "residual_samples_fed": samples,
        "wall_s": round(wall, 1),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--simulate", action="store_true")
    args = parser.parse_args()
    result = run(args.requests, simulate=args.simulate)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "outcome_path-simulate.json" if args.simulate else "outcome_path.json"
    (RESULTS_DIR / name).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
