"""Shared helpers for the benchmarks: timing, machine description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(os.environ.get("BENCH_OUT", "benchmarks/results"))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def time_calls(fn: Callable[[], object], *, repeats: int, warmup: int = 3) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def summarise(samples: list[float]) -> dict[str, float]:
    """Median, p99 and min in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_ms": 1e3 * statistics.median(ordered),
        "p99_ms": 1e3 * p99,
        "min_ms": 1e3 * ordered[0],
        "runs": len(ordered),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Writes ``benchmarks/results/<name>.json`` with the machine attached."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "results": results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def report_timings(name: str, title: str, results: dict[str, dict[str, float]]) -> Path:
    """Prints ``results`` (case -> :func:`summarise` stats) as a table and writes
    them with :func:`write_results`."""
    table = Table(title=title)
    for column in ("case", "median ms", "p99 ms", "runs"):
        table.add_column(column)
    for case, stats in results.items():
        table.add_row(
            case, f"{stats['median_ms']:.4f}", f"{stats['p99_ms']:.4f}", str(stats["runs"])
        )
    console = Console()
    console.print(table)
    path = write_results(name, results)
    console.print(f"written {path}")
    return path
