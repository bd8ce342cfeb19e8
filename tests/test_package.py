"""Package-level contracts: the public API, import hygiene, the CLI entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import learned_router

HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "mlflow",
    "onnxruntime",
    "faiss",
    "pyarrow",
    "sklearn",
    "matplotlib",
    "pandas",
)


def test_public_api_is_the_documented_few_names() -> None:
    assert "Selection" in learned_router.__all__
    assert "select_models" in learned_router.__all__
    private = [n for n in learned_router.__all__ if n.startswith("_") and n != "__version__"]
    assert private == []
    for name in learned_router.__all__:
        assert hasattr(learned_router, name), name


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import json, sys, learned_router; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


def test_console_script_and_module_entry_point_show_help() -> None:
    script = str(Path(sys.executable).parent / "learned-router")
    for command in ([script, "--help"], [sys.executable, "-m", "learned_router", "--help"]):
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        assert "learned LLM router" in result.stdout


def test_version_matches_the_rust_crate() -> None:
    from learned_router import _core

    assert learned_router.__version__ == _core.__version__
    assert learned_router.__version__.count(".") == 2
