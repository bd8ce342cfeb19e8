"""The outcome store: every routed call's outcome, durable, and the next training set.

An :class:`OutcomeStore` appends :class:`OutcomeRecord`\\ s (the canonical
outcome-log schema of :mod:`learned_router.data.schema`, plus the
``decision_id`` of the routing decision) to a local sqlite file:

- **durable**: the database runs in WAL mode with ``synchronous = FULL``, so
  :meth:`~OutcomeStore.append` returns only after its transaction is in the
  write-ahead log and fsync'ed. A record whose append returned survives the
  process being killed (and the machine losing power); a record whose append
  did not return is either wholly there or wholly absent.
- **thread-safe**: one connection behind a lock (see :class:`OutcomeStore`);
  several processes may append to one file (sqlite serialises writers).
- **training data**: ``learned_router.data.load("outcomes.sqlite")`` reads it
  as an :class:`~learned_router.data.OutcomeLog` (format ``store``, detected by
  the ``.sqlite``/``.sqlite3``/``.db`` suffix), so ``python -m training train --data
  outcomes.sqlite`` retrains on it.

Each record gets an increasing integer ``id``; validation problems found when
loading name it as the row. Use a fresh ``prompt_id`` per routed call (the
decision id is a good one): the same prompt answered twice by one model with
two different qualities under one ``prompt_id`` is a validation problem,
while repeated texts under different ids are grouped by the splitter anyway.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learned_router.errors import InvalidInputError, LearnedRouterError
from learned_router.outcome_schema import (
    FIELDS,
    STORE_FIELDS,
    STORE_SUFFIXES,
    Kind,
    SchemaField,
    arrow_type,
)

if TYPE_CHECKING:
    import pyarrow as pa


# Marks a sqlite file as a learned-router outcome store ("LRos"), so a foreign
# database is refused instead of written into.
APPLICATION_ID = 0x4C526F73
SCHEMA_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_SQL: dict[Kind, str] = {"string": "TEXT", "float64": "REAL", "int64": "INTEGER"}


def _column(field: SchemaField) -> tuple[str, str]:
    """A schema field's SQL column; timestamps are microseconds since 1970-01-01 UTC."""
    if field.kind == "timestamp":
        return f"{field.name}_us", "INTEGER" + (" NOT NULL" if field.required else "")
    return field.name, _SQL[field.kind] + (" NOT NULL" if field.required else "")


_COLUMNS = tuple(_column(f) for f in (*FIELDS, *STORE_FIELDS))
_NAMES = tuple(name for name, _ in _COLUMNS)
_SCHEMA_SQL = (
    "CREATE TABLE IF NOT EXISTS outcomes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS outcomes_by_decision ON outcomes (decision_id)",
)
_INSERT_SQL = (
    f"INSERT INTO outcomes ({', '.join(_NAMES)}) VALUES ({', '.join('?' for _ in _NAMES)})"
)


_REQUIRED_STRINGS = tuple(f.name for f in FIELDS if f.kind == "string" and f.required)
_OPTIONAL_STRINGS = tuple(
    f.name for f in (*FIELDS, *STORE_FIELDS) if f.kind == "string" and not f.required
)


class OutcomeStoreError(LearnedRouterError):
    """An outcome store cannot be opened, read or written."""


@dataclass(frozen=True)
class OutcomeRecord:
    """One outcome: a model's answer to a prompt and how good it was.

    Fields and rules are those of the canonical schema
    (:data:`learned_router.outcome_schema.FIELDS`, then ``decision_id``);
    ``timestamp`` must be timezone-aware. Invalid values raise
    :class:`~learned_router.errors.InvalidInputError` naming the field.

    >>> OutcomeRecord(prompt_id="d-1", prompt="2+2?", model="gpt-4o-mini", quality=1.0).model
    'gpt-4o-mini'
    """

    prompt_id: str
    prompt: str
    model: str
    quality: float
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    output_chars: int | None = None
    latency_ms: float | None = None
    timestamp: datetime | None = None
    task: str | None = None
    tenant: str | None = None
    dataset: str | None = None
    quality_scale: str | None = None
    response: str | None = None
    decision_id: str | None = None
    """The routing decision this outcome belongs to (not part of the training schema)."""

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> InvalidInputError:
            value = getattr(self, name)
            return InvalidInputError(
                f"outcome record {self.prompt_id!r}, field {name!r}: got {value!r}; {rule}"
            )

        for name in _REQUIRED_STRINGS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(name, "it must be a non-empty string")
        for name in _OPTIONAL_STRINGS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise bad(name, "it must be a string or None")
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and not _is_utf8(value):
                raise bad(
                    name,
                    "it holds a lone surrogate, which is not valid Unicode text; decode the "
                    "source with errors='replace'",
                )
        if not _is_number(self.quality) or not 0.0 <= self.quality <= 1.0:
            raise bad("quality", "quality must be a number in [0, 1]")
        for name in ("cost_usd", "latency_ms"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value < 0):
                raise bad(name, "it must be a finite number >= 0, or None")
        for name in ("input_tokens", "output_tokens", "output_chars"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63
            ):
                raise bad(name, "it must be an integer in [0, 2**63), or None")
        if self.timestamp is not None and (
            not isinstance(self.timestamp, datetime) or self.timestamp.utcoffset() is None
        ):
            raise bad("timestamp", "give a timezone-aware datetime: datetime.now(timezone.utc)")

    def _row(self) -> tuple[Any, ...]:
        values = asdict(self)
        timestamp = values.pop("timestamp")
        values["timestamp_us"] = None if timestamp is None else _to_us(timestamp)
        for name in ("quality", "cost_usd", "latency_ms"):
            if values[name] is not None:
                values[name] = float(values[name])
        return tuple(values[name] for name in _NAMES)

    @classmethod
    def _from_row(cls, row: Mapping[str, Any]) -> OutcomeRecord:
        values = {f.name: row[f.name] for f in fields(cls) if f.name != "timestamp"}
        stamp = row["timestamp_us"]
        values["timestamp"] = None if stamp is None else _EPOCH + timedelta(microseconds=stamp)
        return cls(**values)


_TEXT_FIELDS = (
    "prompt_id",
    "prompt",
    "model",
    "task",
    "tenant",
    "dataset",
    "quality_scale",
    "response",
    "decision_id",
)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _connect(path: Path, *, create: bool, timeout_s: float) -> sqlite3.Connection:
    # Readers open read-only: a training job may read a store it cannot write.
    mode = "rwc" if create else "ro"
    try:
        connection = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode={mode}",
            uri=True,
            timeout=timeout_s,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,  # OutcomeStore serialises use with its lock
        )
    except sqlite3.Error as error:
        hint = "" if create else "; create it by opening an OutcomeStore on it"
        raise OutcomeStoreError(f"{path}: cannot open the outcome store: {error}{hint}") from error
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        fresh = create and application_id == 0 and not _has_tables(connection)
    except sqlite3.DatabaseError as error:
        connection.close()
        raise OutcomeStoreError(
            f"{path}: not an outcome store ({error}); point at the .sqlite file an "
            "OutcomeStore wrote"
        ) from error
    if application_id != APPLICATION_ID and not fresh:
        connection.close()
        raise OutcomeStoreError(
            f"{path}: a sqlite database that is not a learned-router outcome store "
            f"(application_id {application_id:#x}); use a new file for the store"
        )
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        connection.close()
        raise OutcomeStoreError(
            f"{path}: outcome store schema version {version} is newer than this "
            f"learned-router understands ({SCHEMA_VERSION}); upgrade learned-router"
        )
    return connection


def _has_tables(connection: sqlite3.Connection) -> bool:
    return bool(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])


class OutcomeStore:
    """Append-only, durable, thread-safe store of outcome records in a sqlite file.

    Opening creates the file if needed. Use it as a context manager or call
    :meth:`close`.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "outcomes.sqlite"
    >>> with OutcomeStore(path) as store:
    ...     store.append(OutcomeRecord(prompt_id="d-1", prompt="2+2?", model="m", quality=1.0))
    ...     len(store)
    1
    1
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in STORE_SUFFIXES:
            raise InvalidInputError(
                f"{self.path}: name the outcome store with one of {list(STORE_SUFFIXES)}, so "
                "learned_router.data.load recognises it"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(self.path, create=True, timeout_s=timeout_s)
        try:
            # WAL: readers never block the writer and a commit is one sequential
            # append to the log. synchronous=FULL: that append is fsync'ed
            # before COMMIT returns, which is what makes an acknowledged record
            # durable (NORMAL would only survive a process crash, not power loss).
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutcomeStoreError(
                    f"{self.path}: sqlite refused WAL mode (got {mode!r}); put the store on a "
                    "local file system"
                )
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA_SQL:
                connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.close()
            raise
        # One connection serves every thread: a sqlite3 connection must not be
        # used by two threads at once (its transaction state is shared), and
        # sqlite serialises writers to a database anyway, so the lock costs no
        # parallelism. Appends are bounded by the fsync, not by the lock.
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = connection

    def __enter__(self) -> OutcomeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OutcomeStore({str(self.path)!r})"

    def close(self) -> None:
        """Closes the store (appends already returned are durable either way)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise OutcomeStoreError(f"{self.path}: the outcome store is closed")
        return self._connection

    def append(self, record: OutcomeRecord) -> int:
        """Appends one record and returns its id once it is durable.

        >>> import tempfile, pathlib
        >>> store = OutcomeStore(pathlib.Path(tempfile.mkdtemp()) / "o.sqlite")
        >>> store.append(OutcomeRecord(prompt_id="d-1", prompt="hi", model="m", quality=0.5))
        1
        """
        return self.append_many([record])[0]

    def append_many(self, records: Iterable[OutcomeRecord]) -> list[int]:
        """Appends records in one transaction (one fsync): all are durable, or none.

        Returns their ids, in order.
        """
        rows = []
        for record in records:
            if not isinstance(record, OutcomeRecord):
                raise InvalidInputError(
                    f"expected OutcomeRecord, got {type(record).__name__}; build one with "
                    "OutcomeRecord(prompt_id=..., prompt=..., model=..., quality=...)"
                )
            # Checked again here, before BEGIN: a record changed after it was
            # built (object.__setattr__ on the frozen dataclass) is refused too.
            record.__post_init__()
            rows.append(record._row())
        if not rows:
            return []
        with self._lock:
            connection = self._live()
            try:
                connection.execute("BEGIN IMMEDIATE")
                ids = [connection.execute(_INSERT_SQL, row).lastrowid for row in rows]
                connection.execute("COMMIT")
            except BaseException as error:
                # Whatever failed (sqlite, a value sqlite cannot bind, an
                # interrupt), never leave the transaction open: it would hold
                # the write lock against every other process and swallow this
                # process's next append.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(error, (sqlite3.Error, ValueError, OverflowError, TypeError)):
                    raise OutcomeStoreError(f"{self.path}: append failed: {error}") from error
                raise
        return [int(i) for i in ids if i is not None]

    def __len__(self) -> int:
        with self._lock:
            return int(self._live().execute("SELECT count(*) FROM outcomes").fetchone()[0])

    def records(self, *, since_id: int = 0) -> dict[int, OutcomeRecord]:
        """Records with ``id > since_id``, by id, in order."""
        with self._lock:
            cursor = self._live().execute(
                f"SELECT id, {', '.join(_NAMES)} FROM outcomes WHERE id > ? ORDER BY id",
                (since_id,),
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return {row[0]: OutcomeRecord._from_row(dict(zip(names, row, strict=True))) for row in rows}

    def to_table(self, *, since_id: int = 0) -> pa.Table:
        """Records with ``id > since_id`` as a flat canonical table (see :func:`read_store`)."""
        return read_store(self.path, since_id=since_id)


def read_store(path: str | os.PathLike[str], *, since_id: int = 0) -> pa.Table:
    """Reads an outcome store into a flat table: ``id``, then the canonical columns
    (:data:`~learned_router.data.OUTCOME_LOG_SCHEMA`), then ``decision_id``.

    Reads through its own connection, so it works while another process appends
    (it sees every record committed before it started) and after a writer was
    killed (sqlite recovers the write-ahead log).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "o.sqlite"
    >>> with OutcomeStore(path) as store:
    ...     _ = store.append(OutcomeRecord(prompt_id="d-1", prompt="hi", model="m", quality=0.5))
    >>> read_store(path).column("quality").to_pylist()
    [0.5]
    """
    path = Path(path)
    if not path.is_file():
        raise OutcomeStoreError(f"{path}: no such outcome store")
    connection = _connect(path, create=False, timeout_s=30.0)
    try:
        cursor = connection.execute(
            f"SELECT id, {', '.join(_NAMES)} FROM outcomes WHERE id > ? ORDER BY id",
            (since_id,),
        )
        rows = cursor.fetchall()
    except sqlite3.Error as error:
        raise OutcomeStoreError(f"{path}: cannot read the outcome store: {error}") from error
    finally:
        connection.close()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(_NAMES) + 1)]
    by_name = dict(zip(("id", *_NAMES), columns, strict=True))
    # pyarrow only here: routing and recording outcomes do not need it.
    import pyarrow as pa

    arrays: dict[str, pa.Array] = {"id": pa.array(by_name["id"], pa.int64())}
    for spec in (*FIELDS, *STORE_FIELDS):
        if spec.kind == "timestamp":
            micros = pa.array(by_name[f"{spec.name}_us"], pa.int64())
            arrays[spec.name] = micros.cast(arrow_type(spec.kind))
        else:
            arrays[spec.name] = pa.array(by_name[spec.name], arrow_type(spec.kind))
    return pa.table(arrays)
