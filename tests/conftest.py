"""Shared pytest setup: tests import `reference` (the pure-Python kernels) from here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, verified bundle with a tiny ONNX encoder (see tests/bundles.py)."""
    from bundles import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")
