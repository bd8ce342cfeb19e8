"""The ``learned-router`` command line.

Each command imports what it needs when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

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
def demo(
    bundle: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--bundle", help="Bundle folder or models:/ URI (default: models/default)."),
    ] = None,
    min_quality: Annotated[float, typer.Option(help="The quality bar.")] = 0.85,
) -> None:
    """Route example enterprise prompts with the shipped model and show the saving."""
    from learned_router.demo import run_demo

    run_demo(min_quality=min_quality, bundle=bundle)


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


def _training() -> Any:
    """The training package, which lives in the repository's training/ folder."""
    try:
        import training.train as train_module
    except ImportError as error:
        raise typer.BadParameter(
            f"training needs a checkout of the learned-router repository with the train extra "
            f"installed (`make setup`), run from its root ({error})"
        ) from None
    return train_module


@app.command()
def train(
    data: Annotated[list[Path], typer.Option("--data", help="Outcome logs (files or folders).")],
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", help="Training config TOML (training/configs/default.toml)."),
    ] = None,
    bundle_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--bundle-dir", help="Where to write the bundle (overrides the config)."),
    ] = None,
    no_tracking: Annotated[
        bool, typer.Option("--no-tracking", help="Do not log to MLflow.")
    ] = False,
) -> None:
    """Train a router on outcome logs: distilled encoder, heads, bundle, MLflow version."""
    overrides: dict[str, Any] = {}
    if bundle_dir is not None:
        overrides["output.bundle_dir"] = str(bundle_dir)
    if no_tracking:
        overrides["tracking.enabled"] = False
    _training().cli([str(p) for p in data], str(config) if config else None, overrides)


BundleOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--bundle", help="Bundle folder or models:/NAME@ALIAS (default: models/default)."),
]


@app.command()
def route(
    prompt: Annotated[str, typer.Argument(help="The prompt to route.")],
    bundle: BundleOption = None,
    min_quality: Annotated[Optional[float], typer.Option(help="Quality bar.")] = None,  # noqa: UP045
    max_cost: Annotated[Optional[float], typer.Option(help="Budget per call, USD.")] = None,  # noqa: UP045
    cost_weight: Annotated[Optional[float], typer.Option(help="Quality points per USD.")] = None,  # noqa: UP045
    quality_fraction: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Cheapest model within this share of the best P(success)."),
    ] = None,
    max_latency_ms: Annotated[Optional[float], typer.Option(help="Latency SLO, ms.")] = None,  # noqa: UP045
    batch: Annotated[bool, typer.Option("--batch", help="Batch priority (batch prices).")] = False,
    candidates: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Comma-separated models to choose from."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Route one prompt and print the decision."""
    from learned_router.router import Router

    router = Router.load(bundle, capacity=False)
    decision = router.route(
        prompt,
        min_quality=min_quality,
        max_cost_usd=max_cost,
        cost_weight=cost_weight,
        quality_fraction=quality_fraction,
        max_latency_ms=max_latency_ms,
        priority="batch" if batch else "interactive",
        candidates=candidates.split(",") if candidates else None,
    )
    if as_json:
        import dataclasses
        import json

        typer.echo(json.dumps(dataclasses.asdict(decision), default=str, indent=1))
        return
    from rich.console import Console

    from learned_router.demo import decision_table

    console = Console()
    console.print(decision_table(decision))
    console.print(
        f"[bold]{decision.model}[/] ({decision.decided_by}); tier {decision.tier}; "
        f"expected {decision.expected_cost_usd:.6f} USD, {decision.expected_latency_ms:.0f} ms; "
        f"prices {decision.price_version}"
    )


@app.command()
def calibrate(
    data: Annotated[list[Path], typer.Option("--data", help="Validation outcome logs.")],
    out: Annotated[Path, typer.Option("--out", help="Where to save the calibration (JSON).")],
    bundle: BundleOption = None,
    quality_of_best: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Target: this share of the best single model's quality, at least cost."),
    ] = None,
    budget: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Target: the best quality at this mean cost per prompt (USD)."),
    ] = None,
    rejects: RejectsOption = None,
) -> None:
    """Find the policy setting that meets a quality or budget target on your own traffic."""
    from rich.console import Console

    from learned_router import data as data_layer
    from learned_router.calibration import calibrate_on_log
    from learned_router.router import Router

    router = Router.load(bundle, capacity=False)
    log = data_layer.load(data, rejects=rejects)
    current = router.catalog.current
    known = sorted(
        {current.resolve(m) for m in log.models if current.knows(m)} & set(router.models)
    )
    if not known:
        raise typer.BadParameter("none of the log's models is covered by the bundle")
    log = log.select(models=[m for m in log.models if current.knows(m)]).with_catalog_names(current)
    result = calibrate_on_log(
        log,
        lambda prompts: router.predict(prompts, models=known),
        models=known,
        catalog=current,
        lengths=router.bundle.output_lengths,
        quality_of_best=quality_of_best,
        max_mean_cost_usd=budget,
    )
    result.save(out)
    Console().print(result)
    typer.echo(f"saved {out}; use it with Router.load(..., calibration={str(out)!r})")


@app.command("add-model")
def add_model(
    bundle: Annotated[Path, typer.Option("--bundle", help="The trained bundle folder.")],
    data: Annotated[list[Path], typer.Option("--data", help="Outcome logs of the new model.")],
    model: Annotated[str, typer.Option("--model", help="The model to add (as in the catalog).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the new bundle.")],
) -> None:
    """Add a model to a bundle from a few hundred labelled outcomes (encoder untouched)."""
    _training()
    from training.add_model import add_model as add

    result = add(bundle, [str(p) for p in data], model, out)
    typer.echo(f"wrote {result.bundle}: head for {result.model} from {result.labels} outcomes")


@app.command("verify")
def verify(bundle: Annotated[Path, typer.Argument(help="A bundle folder.")]) -> None:
    """Verify a bundle's manifest and checksums."""
    from learned_router.bundle import Bundle

    loaded = Bundle.load(bundle)
    typer.echo(
        f"OK {loaded.version}: {len(loaded.models)} models, {len(loaded.manifest['files'])} files"
    )


def main() -> None:
    """Entry point of the ``learned-router`` console script."""
    app()
