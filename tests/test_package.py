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


def _imported_modules(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_runtime_never_imports_training() -> None:
    src = Path(learned_router.__file__).parent
    offenders = {
        str(path.relative_to(src)): sorted(
            m for m in _imported_modules(path) if m == "training" or m.startswith("training.")
        )
        for path in src.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_data_and_outcomes_do_not_import_each_other_at_import_time() -> None:
    src = Path(learned_router.__file__).parent
    assert not any(
        m.startswith("learned_router.data") for m in _imported_modules(src / "outcomes.py")
    )
    code = (
        "import json, sys, learned_router.outcomes; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('learned_router.data'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


def test_training_commands_live_with_training() -> None:
    runtime = subprocess.run(
        [sys.executable, "-m", "learned_router", "--help"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    root = Path(__file__).resolve().parents[1]
    training = subprocess.run(
        [sys.executable, "-m", "training", "--help"],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    ).stdout
    for command in ("train", "add-model", "promote", "cache"):
        assert f" {command} " in training
    for command in (" train ", "add-model", " promote "):
        assert command not in runtime
