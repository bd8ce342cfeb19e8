"""The durable outcome store (learned_router.outcomes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import learned_router
import logs
from learned_router import data
from learned_router.errors import InvalidInputError
from learned_router.outcomes import (
    OutcomeRecord,
    OutcomeStore,
    OutcomeStoreError,
    read_store,
)
from logs import outcome_record as record

WHEN = logs.WHEN


def test_records_round_trip_exactly(tmp_path: Path) -> None:
    with OutcomeStore(tmp_path / "o.sqlite") as store:
        ids = [store.append(record(i)) for i in range(5)]
        ids += store.append_many([record(i) for i in range(5, 9)])
        assert ids == list(range(1, 10))
        assert len(store) == 9
        assert store.records() == {i + 1: record(i) for i in range(9)}
        assert list(store.records(since_id=7)) == [8, 9]
        minimal = OutcomeRecord(prompt_id="x", prompt="y", model="z", quality=1)
        store.append(minimal)
        assert store.records(since_id=9) == {10: minimal}


def test_table_has_the_canonical_columns(tmp_path: Path) -> None:
    with OutcomeStore(tmp_path / "o.sqlite") as store:
        store.append_many([record(1), record(2)])
        table = store.to_table()
    assert table.column_names == [
        "id",
        *(f.name for f in data.FIELDS),
        "decision_id",
    ]
    for spec in data.OUTCOME_LOG_SCHEMA:
        assert table.schema.field(spec.name).type == spec.type
    assert table.column("timestamp").to_pylist() == [WHEN + timedelta(seconds=s) for s in (1, 2)]
    assert read_store(tmp_path / "o.sqlite", since_id=1).column("id").to_pylist() == [2]


def test_store_log_keeps_timestamps_tokens_and_tenants(tmp_path: Path) -> None:
    with OutcomeStore(tmp_path / "feedback.sqlite") as store:
        store.append_many([record(i) for i in range(6)])
    log = data.load(tmp_path / "feedback.sqlite")
    assert log.num_outcomes == 6
    assert log.datasets == ("feedback",)
    rows = sorted(log.to_table().to_pylist(), key=lambda row: row["prompt_id"])
    assert rows[1]["timestamp"] == WHEN + timedelta(seconds=1)
    assert rows[1]["output_tokens"] == 2
    assert rows[1]["tenant"] == "team-1"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"prompt": ""}, "field 'prompt'"),
        ({"prompt_id": "  "}, "field 'prompt_id'"),
        ({"model": None}, "field 'model'"),
        ({"quality": 1.5}, "field 'quality'"),
        ({"quality": float("nan")}, "field 'quality'"),
        ({"quality": True}, "field 'quality'"),
        ({"cost_usd": -0.01}, "field 'cost_usd'"),
        ({"latency_ms": float("inf")}, "field 'latency_ms'"),
        ({"output_tokens": 2.5}, "field 'output_tokens'"),
        ({"input_tokens": -1}, "field 'input_tokens'"),
        ({"timestamp": datetime(2024, 6, 1)}, "timezone-aware"),
        ({"tenant": 7}, "field 'tenant'"),
    ],
)
def test_invalid_records_are_refused_naming_the_field(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        record(1, **changes)


def test_append_refuses_other_objects_and_a_closed_store(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "o.sqlite")
    with pytest.raises(InvalidInputError, match="expected OutcomeRecord"):
        store.append({"prompt_id": "x"})  # type: ignore[arg-type]
    assert store.append_many([]) == []
    store.close()
    with pytest.raises(OutcomeStoreError, match="closed"):
        store.append(record(1))
    store.close()  # closing twice is fine


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="name the outcome store"):
        OutcomeStore(tmp_path / "outcomes.parquet")
    foreign = tmp_path / "app.db"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(OutcomeStoreError, match="not a learned-router outcome store"):
        OutcomeStore(foreign)
    with pytest.raises(OutcomeStoreError, match="not a learned-router outcome store"):
        read_store(foreign)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00" * 4096 + b"not a database" * 100)
    with pytest.raises(OutcomeStoreError, match="not an outcome store"):
        OutcomeStore(garbage)
    with pytest.raises(OutcomeStoreError, match="no such outcome store"):
        read_store(tmp_path / "missing.sqlite")


def test_store_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "o.sqlite")
    connection = store._live()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_many_threads_append_without_losing_or_mixing_records(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "o.sqlite")
    start = threading.Barrier(8)
    ids: dict[int, list[int]] = {}

    def writer(k: int) -> None:
        start.wait()
        ids[k] = [store.append(record(1000 * k + i)) for i in range(25)]

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.records()
    assert len(stored) == 200
    assert sorted(i for k in ids for i in ids[k]) == list(range(1, 201))
    for k, their_ids in ids.items():
        assert [stored[i] for i in their_ids] == [record(1000 * k + i) for i in range(25)]
    store.close()


def test_two_stores_on_one_file_interleave(tmp_path: Path) -> None:
    first, second = OutcomeStore(tmp_path / "o.sqlite"), OutcomeStore(tmp_path / "o.sqlite")
    for i in range(5):
        first.append(record(2 * i))
        second.append(record(2 * i + 1))
    assert first.records() == {i + 1: record(i) for i in range(10)}
    first.close()
    second.close()


WRITER = """
import sys
from learned_router.outcomes import OutcomeStore
from logs import outcome_record as record

store = OutcomeStore(sys.argv[1])
i = 0
while True:
    store.append(record(i))
    sys.stdout.write(f"{i}\\n")
    sys.stdout.flush()
    i += 1
"""


@pytest.mark.slow
def test_acknowledged_records_survive_sigkill(tmp_path: Path) -> None:
    """A writer process appends and acknowledges each record once append()
    returned; it is killed mid-stream. Every acknowledged record is intact and
    the store is readable (as records and as a training log)."""
    path = tmp_path / "outcomes.sqlite"
    src = Path(learned_router.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(Path(__file__).parent)])}
    acknowledged = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        for line in writer.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 150:
                writer.send_signal(signal.SIGKILL)
                break
        # Acknowledgements already in the pipe count too.
        acknowledged += [int(line) for line in writer.stdout.read().split()]
        assert writer.wait(timeout=30) == -signal.SIGKILL

    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    stored = read_store(path)
    assert stored.num_rows >= len(acknowledged)
    assert stored.num_rows <= len(acknowledged) + 1  # at most the one in flight
    with OutcomeStore(path) as store:
        records = store.records()
        assert [records[i + 1] for i in acknowledged] == [record(i) for i in acknowledged]
        store.append(record(10_000))  # and it takes new records after the crash
    assert data.load(path).num_outcomes == stored.num_rows + 1


def test_the_outcome_schema_is_defined_once() -> None:
    """OutcomeRecord, the store's SQL table and the Arrow schema all follow
    learned_router.outcome_schema; a field added there must appear in each."""
    from dataclasses import fields as dataclass_fields

    from learned_router import outcome_schema, outcomes
    from learned_router.outcomes import OutcomeRecord

    canonical = [f.name for f in outcome_schema.FIELDS]
    store_only = [f.name for f in outcome_schema.STORE_FIELDS]
    assert [f.name for f in dataclass_fields(OutcomeRecord)] == canonical + store_only
    assert data.OUTCOME_LOG_SCHEMA.names == canonical
    assert [name.removesuffix("_us") for name, _ in outcomes._COLUMNS] == canonical + store_only
    required = {f.name for f in outcome_schema.FIELDS if f.required}
    assert {name for name, kind in outcomes._COLUMNS if "NOT NULL" in kind} == required
