"""The ``learned-router`` command line: routing, data, benchmark, cache (the runtime).

Each command imports what it needs when it runs, so ``--help`` stays fast.
Training commands (``train``, ``add-model``, ``promote``,
``cache export-encoder``) live with the training code, in a checkout with the
``train`` extra: ``python -m training --help``. The runtime never imports
``training/``.
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
def demo(
    bundle: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--bundle", help="Bundle folder or models:/ URI (default: models/default)."),
    ] = None,
    min_quality: Annotated[float, typer.Option(help="The quality bar.")] = 0.8,
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
    from learned_router.policy_calibration import calibrate_on_log
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
        lambda prompts: router.scorer.p_success(prompts, known),
        models=known,
        catalog=current,
        lengths=router.bundle.output_lengths,
        quality_of_best=quality_of_best,
        max_mean_cost_usd=budget,
    )
    result.save(out)
    Console().print(result)
    typer.echo(f"saved {out}; use it with Router.load(..., calibration={str(out)!r})")


@app.command("verify")
def verify(bundle: Annotated[Path, typer.Argument(help="A bundle folder.")]) -> None:
    """Verify a bundle's manifest and checksums."""
    from learned_router.bundle import Bundle

    loaded = Bundle.load(bundle)
    typer.echo(
        f"OK {loaded.version}: {len(loaded.models)} models, {len(loaded.manifest.files)} files"
    )


DEFAULT_ROUTER = Path("models/default")
TEACHER_EMBEDDER = "training.teacher_embeddings:make_teacher_embedder"


def _load_embedder(spec: str):  # type: ignore[no-untyped-def]
    """Imports ``module:factory`` (from the current directory too) and calls the factory."""
    import importlib
    import sys

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"--embedder {spec!r}: use MODULE:FACTORY")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    factory = getattr(importlib.import_module(module_name), attribute)
    embed = factory()
    if not callable(embed):
        raise typer.BadParameter(f"--embedder {spec!r}: the factory must return embed(texts)")
    return embed


@app.command()
def bench(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data", help="Outcome logs (files or folders); repeat for several.", exists=True
        ),
    ],
    router: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--router",
            help=f"Learned router bundle. Default: {DEFAULT_ROUTER} if it holds a bundle, "
            "else the baselines only.",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Held-out split to score on.")] = "test",
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.md, results.json, plots.")
    ] = Path("reports/routing"),
    embedder: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--embedder",
            help="MODULE:FACTORY; FACTORY() returns embed(texts) -> float32 [n, d]. Default: "
            f"the bundle's encoder. Without a bundle, e.g. {TEACHER_EMBEDDER} (a checkout "
            "with the train extra).",
        ),
    ] = None,
    dataset: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--dataset", help="Only these datasets (repeat); default all."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, random router, bootstrap.")] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0: none).")] = 1000,
    rejects: Annotated[
        Path, typer.Option("--rejects", help="Where bad log rows are set aside (JSONL).")
    ] = Path(".cache/bench/rejects.jsonl"),
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="Embedding cache (keep it git-ignored).")
    ] = Path(".cache/embeddings"),
) -> None:
    """Compare the learned router with heuristic routing and published baselines.

    Every router trains on the same split and embeddings and is scored on the
    same held-out prompts; writes a Markdown report, a Pareto plot per dataset
    and results.json to --out, and prints a summary.
    """
    import shlex
    import sys
    import time

    from rich.console import Console

    from learned_router.errors import LearnedRouterError

    console = Console()
    missing = []
    for module in ("sklearn", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        console.print(
            f"[red]error[/]: the benchmark needs {' and '.join(missing)}: "
            "pip install 'learned-router[train]'"
        )
        raise typer.Exit(1)

    from learned_router import data as data_module
    from learned_router.routing_benchmark import (
        BenchConfig,
        EmbeddingCache,
        load_learned_predictor,
        run_benchmark,
        summary_table,
        write_report,
    )
    from learned_router.routing_benchmark.embeddings import cache_name_for
    from learned_router.routing_benchmark.learned import BundlePredictor

    started = time.perf_counter()
    try:
        predictor = None
        bundle = router if router is not None else DEFAULT_ROUTER
        if router is not None or (DEFAULT_ROUTER / "manifest.json").is_file():
            predictor = load_learned_predictor(bundle)
        else:
            console.print(f"no bundle at {DEFAULT_ROUTER}: benchmarking the baselines only")
        if embedder is not None:
            embed, embedder_name = _load_embedder(embedder), embedder
        elif isinstance(predictor, BundlePredictor):
            embed, embedder_name = predictor.embed, predictor.embedder_name
        else:
            console.print(
                "[red]error[/]: no bundle to embed with; pass --router PATH or --embedder "
                f"MODULE:FACTORY (e.g. {TEACHER_EMBEDDER} from a checkout with the train extra)"
            )
            raise typer.Exit(1)
        cache_name = getattr(embed, "cache_name", None) or cache_name_for(embedder_name)
        cached = EmbeddingCache(embed, name=cache_name, cache_dir=cache_dir)
        rejects.parent.mkdir(parents=True, exist_ok=True)
        log = data_module.load(data, rejects=rejects)
        if log.report is not None and log.report.outcome_rows_rejected:
            console.print(
                f"set aside {log.report.outcome_rows_rejected} bad outcome rows in {rejects}"
            )
        log, self_graded = log.without_self_comparisons()
        for name, model in self_graded:
            console.print(f"{name}: left out {model}, a judge's reference graded against itself")
        config = BenchConfig(
            seed=seed,
            split=split,
            bootstrap_resamples=bootstrap,
            datasets=tuple(dataset) if dataset else None,
        )
        result = run_benchmark(
            log,
            embed=cached,
            embedder_name=f"{embedder_name} (cache: {cache_name})",
            config=config,
            learned=predictor,
            progress=lambda message: console.log(message),
        )
    except LearnedRouterError as error:
        console.print(f"[red]error[/]: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    command = "learned-router " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = write_report(result, out, command=command)
    console.print(summary_table(result))
    console.print(
        f"report: {report} ({time.perf_counter() - started:.0f} s); plots and results.json in {out}"
    )


cache_app = typer.Typer(
    name="cache",
    help="Inspect a saved answer cache (export its encoder: python -m training).",
    no_args_is_help=True,
)
app.add_typer(cache_app)


@cache_app.command("stats")
def cache_stats(
    path: Annotated[Path, typer.Argument(help="A cache file written by SemanticCache.save().")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Hits, misses, guard rejections and cost avoided, as of the last save."""
    import json

    from rich.console import Console
    from rich.table import Table

    from learned_router.cache.persist import read_header
    from learned_router.errors import CacheFileError

    try:
        header = read_header(path)
    except CacheFileError as err:
        typer.echo(f"error: {_one_line(str(err))}", err=True)
        raise typer.Exit(code=1) from err
    stats = dict(header["stats"])
    summary = {
        "file": str(path),
        "saved_at": header["saved_at"],
        "entries": header["entries"],
        "tenants": header["tenants"],
        "scopes": len(header["scopes"]),
        "encoder_name": header["config"].get("encoder_name"),
        "min_similarity": header["config"]["min_similarity"],
        **stats,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"answer cache {path}", show_header=False)
    table.add_column("stat")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key == "file":
            continue
        if key == "hit_rate":
            shown = f"{100 * value:.1f}%"
        elif key == "cost_avoided_usd":
            shown = f"${value:,.4f}"
        else:
            shown = str(value)
        table.add_row(key, shown)
    Console().print(table)


@app.command()
def replay(
    data_dir: Annotated[Path, typer.Option("--data", help="Folder with outcomes/ and prompts/.")],
    dataset: Annotated[
        str, typer.Option("--dataset", help="Dataset name (outcomes/NAME.parquet).")
    ],
    requests: Annotated[int, typer.Option("--requests", help="Requests to stream.")] = 10_000,
    shadow_rate: Annotated[float, typer.Option(help="Share sent to the golden model.")] = 0.01,
    warmup_rate: Annotated[
        float,
        typer.Option(help="Share while a model's detector has under --warmup-checks (0: off)."),
    ] = 0.05,
    warmup_checks: Annotated[
        int, typer.Option(help="Shadow checks a model's baseline gets at the warm-up rate.")
    ] = 300,
    warmup_min_share: Annotated[
        float, typer.Option(help="Share of decisions a model needs for its warm-up.")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seeds the draws of prompts and drift.")] = 0,
    drift: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="MODEL:AT:REPLACEMENT, e.g. @top:5000:@drop20 or @top:5000:@weakest."),
    ] = None,
    adapt: Annotated[bool, typer.Option("--adapt", help="Learn per-tenant corrections.")] = False,
    no_rescore: Annotated[
        bool, typer.Option("--no-rescore", help="Alarms only; do not re-score the model.")
    ] = False,
    outcome_rate: Annotated[float, typer.Option(help="Share of outcomes recorded.")] = 0.0,
    golden: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Golden model (default: the set's best)."),
    ] = None,
    quality_fraction: Annotated[float, typer.Option(help="Routing policy.")] = 0.9,
    bundle: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--bundle", help="Bundle folder or models:/ URI (default: models/default)."),
    ] = None,
    corrections: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Corrections file to load and (with --adapt) save."),
    ] = None,
    state: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Write the monitor's state here (for `drift status`)."),
    ] = None,
    explore: Annotated[
        float,
        typer.Option(help="Share answered by another candidate, never pricier (with --adapt)."),
    ] = 0.0,
    recover_at: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Request from which the drifted model answers as before (its fix)."),
    ] = None,
    probe_rate: Annotated[
        float,
        typer.Option(help="Share of requests that try a re-scored model again (0: never)."),
    ] = 0.005,  # learned_router.drift.monitor.PROBE_RATE (not imported: --help stays fast)
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object last.")] = False,
) -> None:
    """Stream a logged dataset through the router, with shadow checks, a planted drift
    (and its fix), alarms, re-scoring and adaptation; report delay, false alarms,
    quality and cost."""
    import json

    from learned_router.drift.explore import Explorer
    from learned_router.drift.replay import DriftSpec, load_dataset
    from learned_router.drift.replay import replay as run
    from learned_router.router import Router

    router = Router.load(bundle, capacity=False)
    data = load_dataset(data_dir, dataset, router)
    result = run(
        router,
        data,
        requests=requests,
        shadow_rate=shadow_rate,
        warmup_rate=warmup_rate,
        warmup_checks=warmup_checks,
        warmup_min_share=warmup_min_share,
        seed=seed,
        drift=DriftSpec.parse(drift) if drift else None,
        adapt=adapt,
        rescore=not no_rescore,
        outcome_rate=outcome_rate,
        golden=golden,
        policy={"quality_fraction": quality_fraction},
        corrections_path=corrections,
        state_path=state,
        explore=Explorer(rate=explore) if explore else None,
        recover_at=recover_at,
        probe_rate=probe_rate,
    )
    out = result.as_dict()
    typer.echo(
        f"{dataset}: {requests} requests over {len(data.models)} models, golden {result.golden}; "
        f"{result.shadow_samples} shadow checks ({100 * result.shadow_cost_share:.2f}% of spend)"
    )
    for alert in result.alerts:
        typer.echo(
            f"  ALERT {alert['model']} ({alert['signal']}) at request {alert['at_request']}: "
            f"{100 * alert['magnitude']:+.1f} points "
            f"[{100 * alert['interval'][0]:+.1f}, {100 * alert['interval'][1]:+.1f}]"
            f"{' (recovery)' if alert['recovery'] else ''}"
        )
    if result.drift_at is not None:
        typer.echo(
            f"drift of {result.drift_model} at {result.drift_at}: detected at "
            f"{result.detected_at} (delay {result.detection_delay_requests} requests, "
            f"{result.detection_delay_shadow_samples} shadow samples of it); "
            f"false alarms {result.false_alarms}"
        )
    if result.recover_at is not None:
        typer.echo(
            f"fixed at {result.recover_at}: recovery found at {result.recovered_at} "
            f"(delay {result.recovery_delay_requests} requests, {result.probes} probes in all); "
            f"false recoveries {result.false_recoveries}"
        )
    typer.echo(f"mean quality {result.mean_quality:.4f}, mean cost ${result.mean_cost_usd:.6f}")
    if as_json:
        out.pop("alerts")
        typer.echo(json.dumps(out))


drift_app = typer.Typer(
    name="drift", help="The learning loop: drift state, retraining.", no_args_is_help=True
)
app.add_typer(drift_app)


@drift_app.command("status")
def drift_status(
    state: Annotated[Path, typer.Argument(help="A state file (DriftMonitor.save_state).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per model and signal: samples, alarms, threshold, the current drift shift."""
    import json

    from rich.console import Console
    from rich.table import Table

    try:
        payload = json.loads(state.read_text())
        rows = payload["status"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        typer.echo(
            _one_line(
                f"error: {state}: not a drift state file ({err}); write one with "
                "`learned-router replay --state FILE` or DriftMonitor.save_state"
            ),
            err=True,
        )
        raise typer.Exit(code=1) from err
    if as_json:
        typer.echo(json.dumps(payload, indent=1))
        return
    table = Table(title=f"drift state {state} ({payload.get('updated', '')})")
    names = (
        "model",
        "signal",
        "tier",
        "samples",
        "alarms",
        "mean error",
        "threshold",
        "shift",
        "recovery watch",
    )
    for name in names:
        table.add_column(name, justify="left" if name in ("model", "signal", "tier") else "right")
    for row in rows:
        if row.get("signal") == "input_novelty":
            # The input watch: share of prompts beyond the training reference.
            table.add_row(
                row["model"],
                row["signal"],
                "-",
                str(row["samples"]),
                str(row["alarms"]),
                f"{row['novel_in_window']}/{row['in_window']} novel",
                f"ref {100 * row['reference_share']:.1f}%",
                "-",
                "-",
            )
            continue
        mean = row.get("mean_error_since_restart")
        threshold = row.get("threshold")
        table.add_row(
            row["model"],
            row["signal"],
            row.get("tier") or "all",
            str(row["samples"]),
            str(row["alarms"]),
            "-" if mean is None else f"{mean:.3f}",
            "-" if threshold is None else f"{threshold:.2f}",
            f"{100 * row.get('drift_shift', 0.0):+.1f} pts",
            "-" if row.get("recovery_samples") is None else str(row["recovery_samples"]),
        )
    Console().print(table)
    for alert in payload.get("alerts", []):
        typer.echo(
            f"alert {alert['alert_id'][:8]} {alert['model']} {alert['signal']}"
            f"{' (tier ' + alert['tier'] + ')' if alert.get('tier') else ''}: "
            f"{100 * alert['magnitude']:+.1f} points at request {alert['at_request']}"
            f"{' (recovery)' if alert.get('recovery') else ''}"
        )


@app.command()
def serve(
    config: Annotated[
        Path, typer.Option("--config", help="Gateway TOML (see examples/gateway.toml).")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the OpenAI-compatible gateway (needs the gateway extra)."""
    try:
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        from learned_router.gateway import INSTALL_HINT

        typer.echo(f"`serve` needs the gateway extra ({error.name} is missing): {INSTALL_HINT}")
        raise typer.Exit(1) from None
    from learned_router.gateway.server import serve as run_gateway

    run_gateway(str(config), host=host, port=port)


@app.command()
def report(
    since: Annotated[str, typer.Option("--since", help="YYYY-MM-DD or ISO time (UTC).")],
    ledger: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--ledger", help="Ledger URL (sqlite:///PATH or postgresql://...)."),
    ] = None,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", help="Gateway TOML whose [ledger] url to read."),
    ] = None,
    plot: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--plot", help="Write a cost plot (PNG) here."),
    ] = None,
) -> None:
    """Blended cost per request and savings vs always-frontier, from the gateway's ledger."""
    from learned_router.gateway.ledger import Ledger
    from learned_router.gateway.report import parse_since, render
    from learned_router.gateway.report import plot as write_plot

    if ledger is None:
        if config is None:
            raise typer.BadParameter("give --ledger URL or --config FILE", param_hint="--ledger")
        from learned_router.gateway.config import GatewayConfig

        ledger = GatewayConfig.load(config).ledger_url
    start = parse_since(since)  # before opening: a bad date must not leave anything behind
    from learned_router.errors import InvalidInputError

    try:
        book = Ledger.open(ledger, create=False)
    except InvalidInputError as error:
        raise typer.BadParameter(str(error), param_hint="--ledger") from None
    try:
        rows = book.rows_since(start)
    finally:
        book.close()
    typer.echo(f"{len(rows)} requests in {ledger} since {since}\n")
    typer.echo(render(rows))
    if plot is not None:
        typer.echo(f"plot: {write_plot(rows, plot)}")


def _one_line(text: str) -> str:
    r"""``text`` with every run of whitespace (newlines, carriage returns in a
    user's path) as one space: a failure is one line on stderr.

    >>> _one_line("error: a\rb\n c")
    'error: a b c'
    """
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``learned-router`` console script.

    Every failure is one line on stderr and exit code 1 (usage errors: 2);
    ``--debug`` anywhere on the command line (or ``LEARNED_ROUTER_DEBUG=1``)
    shows the traceback instead.
    """
    import os
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("LEARNED_ROUTER_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="learned-router", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None
    except Exception as error:
        if debug:
            raise
        from learned_router.errors import LearnedRouterError

        kind = "error" if isinstance(error, LearnedRouterError) else type(error).__name__
        message = _one_line(str(error)) or repr(error)
        typer.echo(f"{kind}: {message} (--debug shows the traceback)", err=True)
        raise SystemExit(1) from None
