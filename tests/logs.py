"""Small outcome logs that tests write themselves, in every supported format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from learned_router.outcomes import OutcomeRecord, OutcomeStore

ROWS: list[dict[str, Any]] = [
    {"prompt_id": "p1", "prompt": "What is 2+2?", "model": "small", "quality": 1.0, "task": "math"},
    {"prompt_id": "p1", "prompt": "What is 2+2?", "model": "large", "quality": 1.0, "task": "math"},
    {
        "prompt_id": "p2",
        "prompt": "Prove Fermat.",
        "model": "small",
        "quality": 0.0,
        "task": "math",
    },
    {
        "prompt_id": "p2",
        "prompt": "Prove Fermat.",
        "model": "large",
        "quality": 0.5,
        "task": "math",
    },
    {
        "prompt_id": "p3",
        "prompt": "Write a haiku.",
        "model": "small",
        "quality": 0.8,
        "task": "chat",
    },
]


def write(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Writes rows as Parquet, JSONL, CSV or an outcome store according to the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".sqlite", ".sqlite3", ".db"):
        with OutcomeStore(path) as store:
            store.append_many(OutcomeRecord(**row) for row in rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".csv":
        columns = list(dict.fromkeys(k for row in rows for k in row))
        pcsv.write_csv(pa.table({c: [row.get(c) for row in rows] for c in columns}), path)
    else:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        pq.write_table(pa.table({c: [row.get(c) for row in rows] for c in columns}), path)
    return path


def with_changes(index: int, **changes: Any) -> list[dict[str, Any]]:
    """ROWS with one row changed."""
    rows = [dict(row) for row in ROWS]
    rows[index].update(changes)
    return rows


WHEN = datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def outcome_record(i: int, **changes: Any) -> OutcomeRecord:
    """A fully populated outcome-store record whose every field depends on ``i``."""
    values: dict[str, Any] = {
        "prompt_id": f"decision-{i}",
        "prompt": f"prompt {i}: " + "lorem ipsum " * (i % 40),
        "model": ("small", "large", "ours")[i % 3],
        "quality": (i % 11) / 10,
        "cost_usd": i * 1e-6,
        "input_tokens": 10 + i,
        "output_tokens": 2 * i,
        "output_chars": 8 * i,
        "latency_ms": 100.0 + i,
        "timestamp": WHEN + timedelta(seconds=i),
        "task": ("math", "law", None)[i % 3],
        "tenant": f"team-{i % 4}",
        "dataset": "feedback",
        "quality_scale": "judge v1",
        "response": f"answer {i}",
        "decision_id": f"decision-{i}",
    }
    values.update(changes)
    return OutcomeRecord(**values)
