"""Builds the shipped Page-Hinkley thresholds (src/learned_router/assets/ph_thresholds.json).

``learned_router.drift.detectors.calibrate_threshold`` sets each detector's
threshold by simulating 10,000 stationary streams over the horizon it will watch:
about 70 s of one core for the 100,000-outcome horizon on the 2-core VM, spent on
the monitor's worker thread the first time a stream reaches each baseline rate. The
simulation is deterministic (seed 0), so this script runs it once, for a default monitor's two
settings (per model, and per model x tier with the false-alarm rate split over the
tiers: ``shipped_settings``) at every rate of ``RATE_GRID`` and every power-of-two
horizon from 64 to 131,072 (what ``calibrate_threshold`` rounds to), and the package
looks thresholds up there first. Other settings, or longer horizons, still simulate.

Run: ``python scripts/build_ph_thresholds.py [--jobs 2]`` (about 25 minutes on 2
cores; ``make ph-thresholds``). ``tests/test_drift_detectors.py`` recomputes the short
horizons and checks the settings the table was built for.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from learned_router.drift.detectors import (
    RATE_GRID,
    SHIPPED_HORIZONS,
    SHIPPED_THRESHOLDS,
    _threshold,
    shipped_settings,
)

Job = tuple[int, float, int]


def _one(job: Job) -> tuple[Job, float, float]:
    which, rate, horizon = job
    started = time.perf_counter()
    value = _threshold(rate, horizon, shipped_settings()[which])
    return job, value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--out", type=Path, default=SHIPPED_THRESHOLDS)
    args = parser.parse_args(argv)
    settings = shipped_settings()
    jobs: list[Job] = [
        (which, rate, horizon)
        for horizon in reversed(SHIPPED_HORIZONS)
        for which in range(len(settings))
        for rate in RATE_GRID
    ]
    tables: list[dict[str, dict[str, float]]] = [{} for _ in settings]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for (which, rate, horizon), value, seconds in pool.map(_one, jobs):
            tables[which].setdefault(repr(rate), {})[str(horizon)] = value
            print(
                f"settings {which} rate {rate:<5} horizon {horizon:>7}: {value:.6f} "
                f"({seconds:.1f} s)",
                flush=True,
            )
    payload = {
        "description": (
            "Page-Hinkley thresholds for learned_router.drift.detectors.calibrate_threshold "
            "(built by scripts/build_ph_thresholds.py): per detector settings, baseline rate "
            "and horizon, the simulated quantile."
        ),
        "tables": [
            {
                "settings": dataclasses.asdict(one),
                "thresholds": {
                    rate: dict(sorted(by_h.items(), key=lambda kv: int(kv[0])))
                    for rate, by_h in sorted(table.items(), key=lambda kv: float(kv[0]))
                },
            }
            for one, table in zip(settings, tables, strict=True)
        ],
    }
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}: {len(jobs)} thresholds")


if __name__ == "__main__":
    main()
