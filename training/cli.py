"""The training commands: ``python -m training train|add-model|promote|cache export-encoder``.

They need a checkout of the repository with the ``train`` extra (torch,
MLflow); the runtime's ``learned-router`` command line never imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(
    name="python -m training",
    help="Train, extend and promote learned-router bundles (needs the train extra).",
    no_args_is_help=True,
    add_completion=False,
)


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
    from training.train import cli

    overrides: dict[str, Any] = {}
    if bundle_dir is not None:
        overrides["output.bundle_dir"] = str(bundle_dir)
    if no_tracking:
        overrides["tracking.enabled"] = False
    cli([str(p) for p in data], str(config) if config else None, overrides)


@app.command("add-model")
def add_model(
    bundle: Annotated[Path, typer.Option("--bundle", help="The trained bundle folder.")],
    data: Annotated[list[Path], typer.Option("--data", help="Outcome logs of the new model.")],
    model: Annotated[str, typer.Option("--model", help="The model to add (as in the catalog).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the new bundle.")],
) -> None:
    """Add a model to a bundle from a few hundred labelled outcomes (encoder untouched)."""
    from training.add_model import add_model as add

    result = add(bundle, [str(p) for p in data], model, out)
    typer.echo(f"wrote {result.bundle}: head for {result.model} from {result.labels} outcomes")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to promote.")],
    eval_data: Annotated[
        list[Path], typer.Option("--eval-data", help="Held-out outcome logs to judge on.")
    ],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")] = "learned-router",
    auc_tolerance: Annotated[float, typer.Option(help="Allowed AUC drop vs champion.")] = 0.005,
    brier_tolerance: Annotated[float, typer.Option(help="Allowed Brier rise vs champion.")] = 0.005,
) -> None:
    """Move the `champion` alias to VERSION if it passes the gates; print why either way."""
    from training.promote import promote as run

    decision = run(
        version,
        eval_data=[str(p) for p in eval_data],
        model_name=name,
        auc_tolerance=auc_tolerance,
        brier_tolerance=brier_tolerance,
    )
    verdict = "PROMOTED to champion" if decision.promoted else "REFUSED"
    typer.echo(f"{name} version {version}: {verdict} (champion before: {decision.champion_before})")
    for reason in decision.reasons:
        typer.echo(f"  - {reason}")
    if not decision.promoted:
        raise typer.Exit(1)


cache_app = typer.Typer(name="cache", help="The semantic cache's encoder.", no_args_is_help=True)
app.add_typer(cache_app)


@cache_app.command("export-encoder")
def export_cache_encoder(
    out: Annotated[Path, typer.Option("--out", help="Folder to write.")] = Path(
        "models/cache-encoder"
    ),
) -> None:
    """Export all-MiniLM-L6-v2 (int8 ONNX) to key the semantic cache."""
    from training.cache_encoder import export_cache_encoder as export

    folder = export(out)
    typer.echo(
        f"wrote {folder}; use it with SemanticCache(embed=CacheEncoder.load({str(folder)!r}), "
        "config=encoder.cache_config())"
    )


def main() -> None:
    """``python -m training``."""
    app()
