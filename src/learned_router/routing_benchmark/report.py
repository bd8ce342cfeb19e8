"""Writing a benchmark run down: Markdown report, Pareto plots, JSON, terminal summary.

Nothing here holds prompt-level data: only aggregates (means, frontiers,
metrics), so a report can be committed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from learned_router.routing_benchmark import metrics
from learned_router.routing_benchmark.harness import (
    QUALITY_TARGETS,
    BenchResult,
    DatasetResult,
    Estimate,
    RouterResult,
)

if TYPE_CHECKING:
    from rich.table import Table

PER_K = 1000.0
"""Costs are shown per 1,000 prompts: per-prompt costs are fractions of a cent."""


def _usd(cost_usd: float) -> str:
    if math.isnan(cost_usd):
        return "n/a"
    if math.isinf(cost_usd):
        return "not reached"
    value = cost_usd * PER_K
    return f"${value:.3f}" if value < 10 else f"${value:.2f}"


def _num(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "not reached" if value > 0 else "never"
    return f"{value:.{digits}f}"


def _pct(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "not reached"
    return f"{100 * value:.0f}%"


def format_estimate(estimate: Estimate | None, kind: str = "num") -> str:
    """``value [low, high]`` in the unit of ``kind`` (num, usd, pct).

    >>> format_estimate(Estimate(0.71234, 0.7, 0.73))
    '0.712 [0.700, 0.730]'
    >>> format_estimate(Estimate(0.0012, 0.001, math.inf), "usd")
    '$1.200 [$1.000, not reached]'
    """
    if estimate is None:
        return "—"
    formatters: dict[str, Callable[[float], str]] = {"num": _num, "usd": _usd, "pct": _pct}
    fmt = formatters[kind]
    if math.isnan(estimate.low) and math.isnan(estimate.high):
        return fmt(estimate.value)
    return f"{fmt(estimate.value)} [{fmt(estimate.low)}, {fmt(estimate.high)}]"


def _ordered(result: DatasetResult) -> list[RouterResult]:
    order = {"fixed": 0, "heuristic": 1, "learned baseline": 2, "learned router": 3, "oracle": 4}
    return sorted(result.routers, key=lambda r: order.get(r.kind, 5))


def _dataset_section(result: DatasetResult, plot_name: str, split: str) -> list[str]:
    best = result.best_single
    cheap = next(p for p in result.single_models if p.label == result.cheapest_model)
    prompts = " / ".join(f"{n} {name}" for name, n in result.prompts.items())
    lines = [
        f"## {result.dataset}",
        "",
        f"- Prompts: {prompts} (after dropping {result.dropped_prompts} with a missing outcome).",
        f"- Models ({len(result.models)}): {', '.join(result.models)}."
        + (
            f" Left out (too few outcomes): {', '.join(result.dropped_models)}."
            if result.dropped_models
            else ""
        )
        + (
            f" Left out for every router: {', '.join(result.left_out_models)}."
            if result.left_out_models
            else ""
        ),
        f"- Quality: {result.quality_scale}.",
        f"- Costs: {result.cost_method}",
        f"- Best single model (best mean quality on train): **{best.label}**, quality "
        f"{best.quality:.3f} at {_usd(best.cost_usd)} per 1k prompts on {split}. Cheapest: "
        f"{cheap.label}, quality {cheap.quality:.3f} at {_usd(cheap.cost_usd)}.",
        f"- AIQ cost range: {_usd(result.cost_range_usd[0])} to "
        f"{_usd(result.cost_range_usd[1])} per 1k prompts (cheapest to most expensive model). "
        f"Zero router (random mixtures of single models, the hull of their points): AIQ "
        f"{format_estimate(result.zero_router_aiq)}.",
        "",
        f"![Pareto plot of {result.dataset}]({plot_name})",
        "",
        "Costs are per 1,000 prompts; [brackets] are 95% bootstrap intervals over "
        f'{split} prompts. "Cost to X%" is the least cost at which the router\'s frontier '
        "reaches X% of the best single model's quality; savings are against always-best "
        "at that quality.",
        "",
    ]
    header = ["router", "kind", "AIQ", "oracle gap captured"]
    if result.reference:
        header.append(f"AIQ - {result.reference}")
    header += [f"cost to {int(100 * t)}%" for t in QUALITY_TARGETS]
    header += ["savings at 95%", "savings at 100%", "quality at best's cost", "fit s"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in _ordered(result):
        cells = [r.name, r.kind, format_estimate(r.aiq), format_estimate(r.oracle_gap_captured)]
        if result.reference:
            cells.append(format_estimate(r.aiq_delta))
        cells += [format_estimate(r.cost_to_reach_usd[t], "usd") for t in QUALITY_TARGETS]
        cells += [
            format_estimate(r.savings[0.95], "pct"),
            format_estimate(r.savings[1.0], "pct"),
            format_estimate(r.quality_at_best_cost),
            f"{r.fit_seconds:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Two-model setting (RouteLLM): weak = {result.cheapest_model}, strong = "
        f"{result.best_model}; each router ranks prompts by its predicted quality gain "
        "(strong minus weak) and sends the top 0%, 10%, ..., 100% to the strong model. "
        "CPT is the share of strong calls needed.",
        "",
        "| router | APGR | CPT(50%) | CPT(80%) |",
        "|---|---|---|---|",
    ]
    for r in _ordered(result):
        if r.apgr is not None:
            lines.append(
                f"| {r.name} | {format_estimate(r.apgr)} | {format_estimate(r.cpt50, 'pct')} "
                f"| {format_estimate(r.cpt80, 'pct')} |"
            )
    lines += ["", "<details><summary>Single models on this split</summary>", ""]
    lines += ["| model | quality | cost per 1k prompts |", "|---|---|---|"]
    for p in sorted(result.single_models, key=lambda p: p.cost_usd):
        lines.append(f"| {p.label} | {p.quality:.3f} | {_usd(p.cost_usd)} |")
    lines += ["", "</details>", ""]
    return lines


def render_markdown(result: BenchResult, *, command: str | None = None) -> str:
    """The whole report as Markdown (plots referenced as ``pareto_<dataset>.png``)."""
    config = result.config
    lines = [
        "# Routing benchmark",
        "",
        "Every router is trained on the same training split with the same prompt embeddings "
        f"and scored on the same held-out `{result.split}` prompts. Metric definitions and "
        "sources: [docs/benchmark.md](../../docs/benchmark.md).",
        "",
    ]
    if command:
        lines += [f"- Command: `{command}`"]
    minutes = result.seconds / 60
    lines += [
        f"- Embeddings: {result.embedder}",
        f"- Split: {', '.join(f'{k}={v}' for k, v in result.split_params.items())}",
        f"- Filters: datasets with >= {config.min_models} models; models answering >= "
        f"{config.min_model_coverage:.0%} of a dataset's prompts; prompts answered by every "
        "kept model.",
        f"- Bootstrap: {config.bootstrap_resamples} resamples of held-out prompts "
        f"(seed {config.seed}), percentile 95% intervals, paired across routers.",
        f"- Ran in {result.seconds:.0f} s ({minutes:.1f} min) on {result.machine.get('cpu')} "
        f"({result.machine.get('usable_cpus')} usable CPUs), Python "
        f"{result.machine.get('python')}.",
    ]
    if result.skipped:
        lines.append(
            "- Skipped: " + "; ".join(f"{name} ({why})" for name, why in result.skipped) + "."
        )
    lines += ["", "## Summary: AIQ per router and dataset", ""]
    names = _router_names(result.datasets)
    lines += ["| router | " + " | ".join(d.dataset for d in result.datasets) + " |"]
    lines += ["|---|" + "---|" * len(result.datasets)]
    for name in names:
        cells = []
        for d in result.datasets:
            r = next((r for r in d.routers if r.name == name), None)
            cells.append("—" if r is None else f"{r.aiq.value:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    zero = " | ".join(f"{d.zero_router_aiq.value:.3f}" for d in result.datasets)
    lines += [f"| *zero router (single-model mixtures)* | {zero} |", ""]
    for d in result.datasets:
        lines += _dataset_section(d, plot_filename(d.dataset), result.split)
    return "\n".join(lines)


def _router_names(datasets: Sequence[DatasetResult]) -> list[str]:
    names: list[str] = []
    for d in datasets:
        for r in _ordered(d):
            if r.name not in names:
                names.append(r.name)
    return names


def plot_filename(dataset: str) -> str:
    """``pareto_<dataset>.png`` with a file-system-safe name."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset)
    return f"pareto_{safe}.png"


def _hull_line(
    front: metrics.Frontier, right_usd: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points of R~ per 1k prompts: straight in linear cost, so densified for a log axis,
    and flat from the last vertex to ``right_usd``."""
    pieces = [np.linspace(a, b, 24) for a, b in itertools.pairwise(front.cost)]
    xs = np.concatenate([*pieces, [front.cost[-1], max(right_usd, front.cost[-1])]])
    return xs * PER_K, np.interp(xs, front.cost, front.quality)


def plot_pareto(result: DatasetResult, path: str | os.PathLike[str]) -> Path:
    """Quality against cost per 1k prompts: single models, every router's points and frontier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6.5))
    singles = result.single_models
    right = result.cost_range_usd[1]
    ax.scatter(
        [p.cost_usd * PER_K for p in singles],
        [p.quality for p in singles],
        s=18,
        color="0.6",
        zorder=2,
        label="single models",
    )
    if len(singles) <= 12:
        for p in singles:
            ax.annotate(
                p.label.split("/")[-1],
                (p.cost_usd * PER_K, p.quality),
                fontsize=7,
                color="0.4",
                xytext=(3, 3),
                textcoords="offset points",
            )
    zero = metrics.frontier([p.cost_usd for p in singles], [p.quality for p in singles])
    ax.plot(
        *_hull_line(zero, right),
        color="0.6",
        linestyle=":",
        linewidth=1.4,
        label=f"zero router: single-model mixtures (AIQ {result.zero_router_aiq.value:.3f})",
    )
    colours = plt.get_cmap("tab10")
    for i, r in enumerate(_ordered(result)):
        if r.kind == "oracle":
            style: dict[str, Any] = {"color": "black", "linestyle": "--"}
        else:
            style = {"color": colours(i % 10), "linestyle": "-"}
        label = f"{r.name} (AIQ {r.aiq.value:.3f})"
        if len(r.points) == 1:
            point = r.points[0]
            ax.scatter(
                [point.cost_usd * PER_K],
                [point.quality],
                marker="D",
                s=50,
                zorder=4,
                color=style["color"],
                label=label,
            )
            continue
        ax.scatter(
            [p.cost_usd * PER_K for p in r.points],
            [p.quality for p in r.points],
            s=8,
            alpha=0.5,
            color=style["color"],
            zorder=3,
        )
        front = metrics.frontier([p.cost_usd for p in r.points], [p.quality for p in r.points])
        ax.plot(*_hull_line(front, right), linewidth=1.6, zorder=3, label=label, **style)
    ax.set_xscale("log")
    ax.set_xlabel("cost per 1,000 prompts (USD, log scale)")
    ax.set_ylabel("mean quality")
    held_out = list(result.prompts.values())[-1]
    ax.set_title(f"{result.dataset}: quality vs cost, {held_out} held-out prompts", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def to_json(result: BenchResult) -> str:
    """The run as JSON (NaN -> null, infinities -> "inf"/"-inf")."""
    return json.dumps(_jsonable(result), indent=1)


def write_report(
    result: BenchResult, out: str | os.PathLike[str], *, command: str | None = None
) -> Path:
    """Writes ``report.md``, ``results.json`` and one ``pareto_<dataset>.png`` per dataset.

    Returns the path of ``report.md``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for d in result.datasets:
        plot_pareto(d, folder / plot_filename(d.dataset))
    (folder / "results.json").write_text(to_json(result) + "\n")
    report = folder / "report.md"
    report.write_text(render_markdown(result, command=command) + "\n")
    return report


def summary_table(result: BenchResult) -> Table:
    """A short rich table, one row per dataset: AIQ of the references and of the best router.

    "router" is the learned router when it was evaluated, else the baseline with
    the best AIQ; its cost to reach 95% of the best single model's quality and
    its savings against always-best at 95% and 100% follow.
    """
    from rich.table import Table

    table = Table(title=f"Routing benchmark, {result.split} split (full tables: report.md)")
    for column in (
        "dataset", "best single", "zero", "heuristic", "router", "AIQ", "oracle",
        "cost 95% /1k", "save 95%", "save 100%",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column in ("dataset", "router") else "right")
    for d in result.datasets:
        candidates = [r for r in d.routers if r.kind not in ("oracle", "fixed")]
        learned = [r for r in candidates if r.kind == "learned router"]
        best = learned[0] if learned else max(candidates, key=lambda r: r.aiq.value)
        heuristic = next((r for r in d.routers if r.kind == "heuristic"), None)
        oracle = next(r for r in d.routers if r.kind == "oracle")
        table.add_row(
            d.dataset,
            d.best_model.split("/")[-1][:24],
            f"{d.zero_router_aiq.value:.3f}",
            "—" if heuristic is None else f"{heuristic.aiq.value:.3f}",
            best.name,
            f"{best.aiq.value:.3f}",
            f"{oracle.aiq.value:.3f}",
            _usd(best.cost_to_reach_usd[0.95].value),
            _pct(best.savings[0.95].value),
            _pct(best.savings[1.0].value),
        )
    table.caption = (
        "AIQ of the zero router (single-model mixtures), heuristic triage, the router "
        "(learned router, else the best baseline) and the oracle; savings vs always-best at "
        "95% / 100% of its quality"
    )
    return table
