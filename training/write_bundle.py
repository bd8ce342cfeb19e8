"""Writing a model bundle (the runtime's ``learned_router.bundle`` reads it).

The folder is assembled next to its destination and renamed into place, so
an interrupted run never leaves a half-written bundle where a router would
load it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.bundle import Bundle, write_manifest
from learned_router.catalog import Catalog
from learned_router.data.splits import prompt_group
from learned_router.tokens import TOKENIZER_PATH, OutputLengthModel


def write_bundle(
    target: str | os.PathLike[str],
    *,
    encoder_onnx: Path,
    head_arrays: Mapping[str, npt.NDArray[np.float32]],
    models: Sequence[Mapping[str, Any]],
    scales: Sequence[str],
    calibration: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    output_lengths: OutputLengthModel,
    catalog: Catalog,
    model_card: str,
    manifest: Mapping[str, Any],
    train_prompts: Sequence[str] = (),
) -> Path:
    """Writes and verifies a bundle at ``target`` (replacing what was there)."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copyfile(encoder_onnx, staging / "encoder.onnx")
    shutil.copyfile(TOKENIZER_PATH, staging / "tokenizer.json")
    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in head_arrays.items()}
    # No allow_pickle= here: numpy < 2.1 saves that keyword as a stray array
    # named "allow_pickle" (savez never pickles plain numeric arrays anyway).
    np.savez(staging / "heads.npz", **arrays)
    (staging / "models.json").write_text(
        json.dumps({"models": list(models), "scales": list(scales)}, indent=1) + "\n"
    )
    a, b = calibration
    (staging / "calibration.json").write_text(
        json.dumps({"method": "platt", "a": a.tolist(), "b": b.tolist()}, indent=1) + "\n"
    )
    (staging / "output_lengths.json").write_text(output_lengths.to_json() + "\n")
    catalog.save(
        staging / "catalog.toml", description="The price catalog this bundle was trained with."
    )
    (staging / "model_card.md").write_text(model_card)
    if train_prompts:
        keys = sorted({prompt_group(text) for text in train_prompts})
        np.save(staging / "train_prompt_groups.npy", np.array(keys, dtype="S"), allow_pickle=False)
    write_manifest(staging, manifest)
    Bundle.load(staging)  # what we wrote must load and verify
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)
    return target
