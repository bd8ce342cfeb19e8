"""benchmarks/support_levels.py: the calibration variant it writes for
``learned-router bench --router`` is a sealed bundle that loads with the override."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmarks.support_levels import SHIPPED, write_variant

from learned_router import Router


def test_a_variant_is_a_sealed_copy_with_the_calibration_overridden(tmp_path: Path) -> None:
    before = (SHIPPED / "calibration.json").read_text()
    target = tmp_path / "light"
    written = write_variant(SHIPPED, target, ["prior_strength=0.01"])
    assert written["prior_strength"] == 0.01
    # The shipped bundle is untouched; the copy verifies and loads with the override.
    assert (SHIPPED / "calibration.json").read_text() == before
    assert json.loads((target / "calibration.json").read_text())["prior_strength"] == 0.01
    shipped, light = Router.load(SHIPPED), Router.load(target)
    assert light.scorer.quality.prior_strength == 0.01
    # Lighter shrinkage: the same prompt's predictions leave the priors further.
    prompt = ["Natalia sold clips to 48 of her friends in April, and half as many in May."]
    models = ["gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"]
    heavy_p = shipped.predict(prompt, models=models)
    light_p = light.predict(prompt, models=models)
    assert not np.allclose(heavy_p, light_p)

    with pytest.raises(SystemExit, match="not KEY=VALUE"):
        write_variant(SHIPPED, tmp_path / "bad", ["no_such_setting=1"])
    assert not (tmp_path / "bad").exists()
