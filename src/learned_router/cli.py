"""The ``learned-router`` command line.

Each command imports what it needs when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


cache_app = typer.Typer(
    name="cache",
    help="Inspect a saved answer cache (see SemanticCache.save).",
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
        typer.echo(f"error: {err}", err=True)
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


def main() -> None:
    """Entry point of the ``learned-router`` console script."""
    app()
