"""``python -m training COMMAND``: train, add-model, promote, cache export-encoder."""

from training.cli import main

main()
