"""The leave-one-dataset-out protocol's held-out block: which models and prompts a
router is scored on (training/protocol.py, shared by lodo_diagnose and the studies)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import synthetic

pytest.importorskip("torch", reason="the protocol trains quality models: train extra")

from training.protocol import held_out_block

from learned_router import data
from learned_router.catalog import Catalog


def _log(tmp_path: Path) -> data.OutcomeLog:
    path = synthetic.write_log(tmp_path / "held.jsonl", prompts_per_task=20, dataset="held")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # `mid` did not answer one prompt; `frontier` answered only half of them.
    rows = [r for r in rows if not (r["model"] == "mid" and r["prompt_id"] == "format-3")]
    rows = [
        r for r in rows if not (r["model"] == "frontier" and int(r["prompt_id"].split("-")[1]) % 2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data.load([path], rejects=tmp_path / "rejects.jsonl")


def test_the_block_keeps_known_well_covered_models_and_complete_prompts(tmp_path: Path) -> None:
    log = _log(tmp_path)
    catalog = Catalog.load(synthetic.write_catalog(tmp_path / "catalog.toml"))
    prompts = log.num_prompts
    known = ["cheap", "frontier", "mid", "never-seen"]
    counts = np.array([500.0, 500.0, 500.0, 0.0])
    block = held_out_block(log, "held", catalog, known, counts)
    assert block is not None
    # frontier answers half the prompts (< 90% coverage): not scored, not "unknown".
    assert block.models == ("cheap", "mid")
    assert block.unknown_models == ()
    assert len(block.texts) == prompts - 1  # the prompt mid did not answer
    assert block.quality.shape == block.realised_cost.shape == (prompts - 1, 2)
    assert np.isfinite(block.realised_cost).all()
    assert (block.realised_cost > 0).all()

    # A model the router has too few training labels of is reported, not scored.
    few = held_out_block(log, "held", catalog, known, np.array([500.0, 500.0, 10.0, 0.0]))
    assert few is not None
    assert few.models == ("cheap",)
    assert few.unknown_models == ("mid",)
    assert len(few.texts) == prompts
    # Too few models or prompts to score: None.
    assert held_out_block(log, "held", catalog, known, counts, min_models=3) is None
    assert held_out_block(log, "held", catalog, known, counts, min_prompts=10**6) is None
