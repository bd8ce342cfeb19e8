"""The ``learned-router`` command line.

Each command imports what it needs when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

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


def main() -> None:
    """Entry point of the ``learned-router`` console script."""
    app()
