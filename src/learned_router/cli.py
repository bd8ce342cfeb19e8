"""The ``learned-router`` command line.

Each command imports what it needs when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="learned-router",
    help="A learned LLM router: the cheapest model that clears your quality bar.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the package version."""
    from learned_router import __version__

    typer.echo(__version__)


@app.command()
def demo() -> None:
    """Route a few example prompts through the selection kernel."""
    from learned_router.demo import run_demo

    run_demo()


data_app = typer.Typer(help="Check and describe outcome logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")

Paths = Annotated[list[Path], typer.Argument(help="Outcome log files or folders.", exists=True)]
FormatOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option(
        "--format",
        help="canonical, split, routerbench, pairwise or store (default: detect).",
    ),
]
CatalogOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--catalog", help="Catalog TOML; unknown models become problems."),
]
RejectsOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--rejects", help="Write bad rows here (JSONL) and load the rest."),
]


def _load(paths: list[Path], fmt: str | None, catalog: Path | None, rejects: Path | None):  # type: ignore[no-untyped-def]
    from learned_router import data
    from learned_router.catalog import Catalog

    return data.load(
        paths,
        format=fmt,  # type: ignore[arg-type]
        catalog=Catalog.load(catalog) if catalog else None,
        rejects=rejects,
    )


@data_app.command("validate")
def data_validate(
    paths: Paths,
    fmt: FormatOption = None,
    catalog: CatalogOption = None,
    rejects: RejectsOption = None,
) -> None:
    """Validate outcome logs; exit 1 and list the problems if any."""
    from rich.console import Console

    from learned_router.errors import LearnedRouterError

    console = Console()
    try:
        log = _load(paths, fmt, catalog, rejects)
    except LearnedRouterError as error:
        console.print(f"[red]invalid[/]: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    report = log.report
    console.print(f"[green]valid[/]: {log}")
    if report is not None:
        console.print(
            f"outcome rows read {report.outcome_rows_read}, loaded {report.outcome_rows_loaded}, "
            f"rejected {report.outcome_rows_rejected}; prompt rows rejected "
            f"{report.prompt_rows_rejected}; exact duplicates merged {report.merged_duplicates}"
        )
        if report.rejects_path:
            console.print(f"problems {report.problems_by_kind}; bad rows in {report.rejects_path}")


@data_app.command("summary")
def data_summary(
    paths: Paths,
    fmt: FormatOption = None,
    rejects: RejectsOption = None,
) -> None:
    """Prompts, models, label balance and cost coverage of outcome logs."""
    from rich.console import Console
    from rich.table import Table

    log = _load(paths, fmt, None, rejects)
    console = Console()
    datasets = Table(title="Datasets")
    for column in ("dataset", "prompts", "models", "outcomes", "quality scale", "cost coverage"):
        datasets.add_column(column)
    for name in log.datasets:
        part = log.select(datasets=[name])
        scales = sorted(set(part.outcomes.column("quality_scale").to_pylist()))
        covered = part.outcomes.column("cost_usd").null_count
        share = 1 - covered / max(part.num_outcomes, 1)
        datasets.add_row(
            name,
            str(part.num_prompts),
            str(len(part.models)),
            str(part.num_outcomes),
            "; ".join(scales)[:60],
            f"{100 * share:.0f}%",
        )
    console.print(datasets)
    models = Table(title="Models")
    for column in ("model", "outcomes", "prompts", "mean quality", "share >= 0.5", "cost coverage"):
        models.add_column(column)
    for s in log.model_summaries():
        models.add_row(
            s.model,
            str(s.outcomes),
            str(s.prompts),
            f"{s.mean_quality:.3f}",
            f"{s.share_good:.3f}",
            f"{100 * s.cost_coverage:.0f}%",
        )
    console.print(models)


def main() -> None:
    """Entry point of the ``learned-router`` console script."""
    app()
