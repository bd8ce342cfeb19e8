"""The gateway load test (benchmarks/bench_gateway.py) and its phase timing run end to end, briefly.

It starts the stub upstream and the gateway as subprocesses; a module path left
behind by a rename once kept it from starting at all, unnoticed until a
100k-request run was attempted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the gateway extra")

ROOT = Path(__file__).resolve().parents[1]


def _run_benchmark(tmp_path: Path, module: str, *args: str) -> dict[str, Any]:
    """Runs ``python -m benchmarks.MODULE ARGS`` and returns the results it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        env={**os.environ, "BENCH_OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = next(tmp_path.glob("*.json"))
    results: dict[str, Any] = json.loads(written.read_text())["results"]
    return results


@pytest.mark.parametrize("load_client", ["aiohttp", "httpx"])
def test_the_gateway_load_test_starts_both_servers_and_measures(
    tmp_path: Path, load_client: str
) -> None:
    results = _run_benchmark(
        tmp_path,
        "bench_gateway",
        *("--clients", "1", "--requests", "20", "--max-seconds", "10", "--delay-s", "0.01"),
        *("--load-client", load_client),
    )
    assert results["load_client"] == load_client
    runs = results["runs"]
    assert {(r["clients"], r["stream"]) for r in runs} == {(1, False), (1, True)}
    for run in runs:
        assert run["gateway"]["errors"] == 0
        assert run["gateway"]["requests_per_s"] > 0
        # The load generator's own CPU is measured, for both the direct and the gateway runs.
        assert run["direct"]["client_cpu_ms_per_request"] > 0
        assert run["gateway"]["client_cpu_ms_per_request"] > 0


def test_the_gateway_phase_timing_runs_and_times_every_phase(tmp_path: Path) -> None:
    results = _run_benchmark(tmp_path, "gateway_phases", "--requests", "5", "--gap-ms", "0")
    phases = results["phases"]
    assert set(phases) == {"decision", "Router.route", "encoder", "upstream", "settle", "total"}
    # Each part is inside what contains it.
    assert 0 < phases["encoder"]["mean_ms"] < phases["Router.route"]["mean_ms"]
    assert phases["Router.route"]["mean_ms"] < phases["decision"]["mean_ms"]
    assert phases["decision"]["mean_ms"] < phases["total"]["mean_ms"]
