"""End-to-end routing speed and memory with the shipped bundle.

Run: ``make bench`` (or ``python -m benchmarks.bench_route [--models A,B]``). Measures, on this
machine: ``import learned_router`` time (fresh process), ``Router.load`` time
and resident memory, ``route()`` p50/p99 for a 30-token and a 500-token prompt
(and a 5,000-token one, to show the token budget at work), and
``route_batch`` throughput. The Rust kernel alone is in ``bench_selection``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.bench_encoder import prompt_of
from benchmarks.common import summarise, time_calls, write_results

BUNDLE = Path(os.environ.get("LEARNED_ROUTER_BUNDLE", "models/default"))


def import_time_ms(repeats: int = 5) -> float:
    code = (
        "import time; t = time.perf_counter(); import learned_router; "
        "print(time.perf_counter() - t)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(repeats)
    ]
    return 1e3 * sorted(samples)[len(samples) // 2]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        help="comma-separated models to route between (default: all the bundle's); "
        "e.g. the gateway benchmark's four",
    )
    args = parser.parse_args(argv)
    console = Console()
    if not (BUNDLE / "manifest.json").exists():
        console.print(f"[yellow]skipped[/]: no bundle at {BUNDLE} (make train-default)")
        return {}
    from learned_router.router import Router

    results: dict[str, object] = {"import_ms": import_time_ms()}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    router = Router.load(
        BUNDLE, capacity=False, models=args.models.split(",") if args.models else None
    )
    results["load_ms"] = 1e3 * (time.perf_counter() - start)
    results["models"] = len(router.models)
    for tokens in (30, 500, 5000):
        prompt = prompt_of(tokens)
        results[f"route_{tokens}_tokens"] = summarise(
            time_calls(
                lambda prompt=prompt: router.route(prompt, min_quality=0.8), repeats=200, warmup=10
            )
        )
    prompts = [f"{prompt_of(40)} {i}" for i in range(256)]
    start = time.perf_counter()
    router.route_batch(prompts, min_quality=0.8)
    seconds = time.perf_counter() - start
    results["route_batch_prompts_per_s"] = len(prompts) / seconds
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["router_rss_growth_mb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    ) / 1024

    table = Table(title=f"Router with {BUNDLE} ({results['models']} models)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("import learned_router", f"{results['import_ms']:.0f} ms")
    table.add_row("Router.load", f"{results['load_ms']:.0f} ms")
    for tokens in (30, 500, 5000):
        stats = results[f"route_{tokens}_tokens"]
        assert isinstance(stats, dict)
        table.add_row(
            f"route() {tokens}-token prompt p50 / p99",
            f"{stats['median_ms']:.2f} / {stats['p99_ms']:.2f} ms",
        )
    table.add_row(
        "route_batch (256 prompts)", f"{results['route_batch_prompts_per_s']:.0f} prompts/s"
    )
    table.add_row("peak RSS", f"{results['peak_rss_mb']:.0f} MB")
    console.print(table)
    console.print(f"written {write_results('route', json.loads(json.dumps(results)))}")
    return results


if __name__ == "__main__":
    main()
