"""Load + validate time and peak memory for the largest development dataset.

Run: ``make bench`` (or ``python -m benchmarks.bench_data [DATA_DIR]``). The data
folder defaults to ``$LEARNED_ROUTER_DEV_DATA`` or ``../shared/data``.
Each measurement runs in a fresh process so peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import write_results

DEV_DATA = Path(os.environ.get("LEARNED_ROUTER_DEV_DATA", "../shared/data"))

_CHILD = """
import json, resource, sys, time
import learned_router.data as data
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
log = data.load(sys.argv[1], rejects=sys.argv[2])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "seconds": seconds, "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - base) / 1024,
    "rows": log.report.outcome_rows_read, "prompts": log.num_prompts,
}))
"""


def measure(path: Path, repeats: int = 3) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), "/tmp/learned_router_bench_rejects.jsonl"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out))
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "median_seconds": sorted(r["seconds"] for r in runs)[len(runs) // 2]}


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEV_DATA
    target = data_dir / "outcomes" / "mmlu_pro.parquet"
    console = Console()
    if not target.exists():
        console.print(f"[yellow]skipped[/]: {target} not found (set LEARNED_ROUTER_DEV_DATA)")
        return
    results = {"mmlu_pro": measure(target), "all_datasets": measure(data_dir)}
    table = Table(title="data.load: read + validate (fresh process each)")
    for column in ("dataset", "rows", "prompts", "median s", "peak RSS MB", "RSS growth MB"):
        table.add_column(column)
    for name, r in results.items():
        table.add_row(
            name,
            str(r["rows"]),
            str(r["prompts"]),
            f"{r['median_seconds']:.2f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['rss_growth_mb']:.0f}",
        )
    console.print(table)
    console.print(f"written {write_results('data', results)}")


if __name__ == "__main__":
    main()
