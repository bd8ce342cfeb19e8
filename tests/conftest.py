"""Shared pytest setup: tests import `reference` (the pure-Python kernels) from here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
