"""Importing the benchmark stays light (learned_router.routing_benchmark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import learned_router


def test_importing_the_benchmark_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, learned_router.routing_benchmark, learned_router.cli; "
        "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    # The subprocess imports this checkout's package, as pytest does.
    src = str(Path(learned_router.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
