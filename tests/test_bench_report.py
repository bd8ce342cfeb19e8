"""Report, plots, JSON and terminal summary (learned_router.routing_benchmark.report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from bench_synth import LookupEmbedder, catalog, outcome_log, synthetic
from learned_router.routing_benchmark.harness import BenchConfig, Estimate, run_benchmark
from learned_router.routing_benchmark.report import (
    format_estimate,
    plot_filename,
    render_markdown,
    summary_table,
    write_report,
)
from learned_router.routing_benchmark.routers import (
    AlwaysBest,
    AlwaysCheapest,
    HeuristicTriage,
    RandomMixture,
)


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    problem = synthetic(300, seed=5)
    return run_benchmark(
        outcome_log(problem),
        embed=LookupEmbedder(problem),
        config=BenchConfig(bootstrap_resamples=20),
        routers=lambda: [AlwaysCheapest(), AlwaysBest(), RandomMixture(), HeuristicTriage()],
        catalog=catalog(),
    )


def test_write_report_makes_markdown_plots_and_json(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = write_report(result, tmp_path / "out", command="learned-router bench --data x")
    text = report.read_text()
    assert "## synth" in text
    assert "learned-router bench --data x" in text
    assert "| heuristic-triage | heuristic |" in text
    assert "| oracle | oracle |" in text
    assert "APGR" in text
    assert "zero router (single-model mixtures)" in text
    assert f"]({plot_filename('synth')})" in text
    png = (tmp_path / "out" / plot_filename("synth")).read_bytes()
    assert png.startswith(b"\x89PNG")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    (dataset,) = data["datasets"]
    assert dataset["dataset"] == "synth"
    assert {r["name"] for r in dataset["routers"]} >= {"oracle", "heuristic-triage"}
    # Aggregates only: no prompt text in anything written.
    problem = synthetic(300, seed=5)
    everything = text + (tmp_path / "out" / "results.json").read_text()
    assert not any(prompt in everything for prompt in problem.prompts)


def test_markdown_and_summary_name_every_router(result) -> None:  # type: ignore[no-untyped-def]
    text = render_markdown(result)
    for name in ("always-cheapest", "always-best", "random-mixture", "heuristic-triage", "oracle"):
        assert f"| {name} |" in text
    console = Console(width=200, record=True)
    console.print(summary_table(result))
    assert "heuristic-triage" in console.export_text()


@pytest.mark.parametrize(
    ("estimate", "kind", "text"),
    [
        (Estimate(0.71234, 0.7, 0.73), "num", "0.712 [0.700, 0.730]"),
        (Estimate(0.5, math.nan, math.nan), "num", "0.500"),
        (Estimate(0.0012, 0.001, math.inf), "usd", "$1.200 [$1.000, not reached]"),
        (Estimate(0.85, -math.inf, 0.9), "pct", "85% [not reached, 90%]"),
        (None, "num", "—"),
    ],
)
def test_format_estimate(estimate: Estimate | None, kind: str, text: str) -> None:
    assert format_estimate(estimate, kind) == text


def test_plot_names_are_file_system_safe() -> None:
    assert plot_filename("a/b c") == "pareto_a_b_c.png"
