"""``python -m learned_router`` runs the CLI."""

from learned_router.cli import main

main()
