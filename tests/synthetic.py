"""A small synthetic outcome log with a known signal, for training tests.

Three task families with their own words; three models. ``cheap`` solves
formatting tasks, fails maths proofs; ``frontier`` solves nearly everything;
``mid`` sits between. A router trained on it should learn exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from learned_router.catalog import Catalog

TASKS = {
    "format": [
        "Convert the date {n} March to ISO format",
        "Format this list as JSON: {n} apples, pears",
    ],
    "summary": [
        "Summarise the memo about budget line {n}",
        "Give a short summary of meeting {n} notes",
    ],
    "proof": [
        "Prove that the sum of the first {n} odd numbers is a square",
        "Prove lemma {n} about primes by induction",
    ],
}
SUCCESS = {  # P(success) per task and model
    "format": {"cheap": 0.95, "mid": 0.97, "frontier": 0.99},
    "summary": {"cheap": 0.55, "mid": 0.85, "frontier": 0.95},
    "proof": {"cheap": 0.05, "mid": 0.35, "frontier": 0.85},
}
MODELS = ("cheap", "mid", "frontier")


def write_log(
    path: Path,
    *,
    prompts_per_task: int = 60,
    seed: int = 0,
    first_number: int = 7,
    dataset: str | None = None,
) -> Path:
    """Writes the log as canonical JSONL; ``first_number`` shifts the prompts'
    numbers, so two logs with different values share no prompt."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for task, templates in TASKS.items():
        for i in range(prompts_per_task):
            prompt = templates[i % len(templates)].format(n=i + first_number)
            for model in MODELS:
                rows.append(
                    {
                        "prompt_id": f"{task}-{i}",
                        "prompt": prompt,
                        "model": model,
                        "quality": float(rng.random() < SUCCESS[task][model]),
                        "task": task,
                        "output_tokens": int(rng.integers(10, 200)),
                        "quality_scale": "correct(0/1)",
                        **({"dataset": dataset} if dataset else {}),
                    }
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_catalog(path: Path) -> Path:
    entries = []
    for name, usd_in, usd_out in (("cheap", 0.1, 0.2), ("mid", 1.0, 2.0), ("frontier", 10.0, 30.0)):
        entries.append(
            {
                "id": name,
                "provider": "synthetic",
                "usd_per_1m_input": usd_in,
                "usd_per_1m_output": usd_out,
                "latency": {"ttft_ms": 200.0, "output_tokens_per_s": 80.0},
            }
        )
    Catalog.from_dict({"version": "synthetic.1", "model": entries}).save(path)
    return path
