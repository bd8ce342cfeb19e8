"""Speed of the serving pieces around the selection kernel, per call.

Capacity checks and claims, a live-catalog read, the latency-SLO mask, an
outcome-store append (fsync-bound) and a calibration sweep, at the sizes a
router sees: one prompt and 10,000 prompts x 20 models.

Run: ``make bench`` (or ``python -m benchmarks.bench_routing_infra``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import report_timings, summarise, time_calls
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.catalog import Catalog
from learned_router.latency import LatencyTable
from learned_router.live_catalog import LiveCatalog
from learned_router.outcomes import OutcomeRecord, OutcomeStore
from learned_router.policy_calibration import calibrate

N_MODELS = 20


def main() -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {}
    catalog = Catalog.load()
    models = list(catalog.ids[:N_MODELS])

    tracker = CapacityTracker(
        models,
        capacities={models[0]: ModelCapacity(tokens_per_s=1e9, burst_tokens=1e12)},
        clock=lambda: 0.0,
    )
    one_row = rng.uniform(100, 2000, N_MODELS)
    batch = rng.uniform(100, 2000, (10_000, N_MODELS))
    results["capacity.available 1x20"] = summarise(
        time_calls(lambda: tracker.available(tokens=one_row), repeats=5000)
    )
    results["capacity.available 10000x20"] = summarise(
        time_calls(lambda: tracker.available(tokens=batch), repeats=50)
    )

    def acquire_release() -> None:
        tracker.try_acquire(0, 500.0)
        tracker.release(0)

    results["capacity.try_acquire+release"] = summarise(time_calls(acquire_release, repeats=5000))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.toml"
        catalog.save(path)
        live = LiveCatalog.from_file(path, check_interval_s=0.0)
        results["live_catalog.current (stat every read)"] = summarise(
            time_calls(lambda: live.current, repeats=5000)
        )
        idle = LiveCatalog(catalog)
        results["live_catalog.current (no file)"] = summarise(
            time_calls(lambda: idle.current, repeats=5000)
        )
        results["live_catalog.priced 20 models (cached)"] = summarise(
            time_calls(lambda: idle.priced(models), repeats=5000)
        )

        store = OutcomeStore(Path(folder) / "outcomes.sqlite")
        record = OutcomeRecord(
            prompt_id="d", prompt="x" * 2000, model=models[0], quality=1.0, response="y" * 2000
        )
        results["outcome_store.append (fsync)"] = summarise(
            time_calls(lambda: store.append(record), repeats=200)
        )
        results["outcome_store.append_many 100"] = summarise(
            time_calls(lambda: store.append_many([record] * 100), repeats=20)
        )
        store.close()

    table = LatencyTable.from_catalog(catalog, models)
    tokens = rng.uniform(10, 1000, (10_000, N_MODELS))
    results["latency.meets 10000x20"] = summarise(
        time_calls(lambda: table.meets(tokens, max_latency_ms=3000.0), repeats=50)
    )

    p = rng.random((10_000, N_MODELS))
    q = (rng.random((10_000, N_MODELS)) < p).astype(np.float64)
    cost = np.sort(rng.uniform(1e-5, 1e-2, N_MODELS)) * rng.uniform(0.5, 1.5, (10_000, 1))
    results["calibrate 10000x20 (256 settings)"] = summarise(
        time_calls(lambda: calibrate(p, q, cost, quality_of_best=0.95), repeats=3, warmup=1)
    )

    report_timings("routing_infra", "Serving infrastructure, per call", results)
    return results


if __name__ == "__main__":
    main()
