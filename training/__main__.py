"""``python -m training --data PATH... [--config FILE]``: the same as ``learned-router train``."""

from learned_router.cli import app

app(["train", *__import__("sys").argv[1:]])
