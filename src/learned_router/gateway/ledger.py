"""The usage ledger: one row per request, in sqlite (default) or PostgreSQL.

Rows are queued by the request path and written by one background thread in
batches (one transaction per batch), so a request never waits for a disk
flush; :meth:`Ledger.close` drains the queue, so nothing accepted is lost on a
clean shutdown. ``url`` is ``sqlite:///PATH`` or ``postgresql://...`` (the
latter needs ``psycopg``, in the ``gateway`` extra).

>>> import tempfile, os
>>> ledger = Ledger.open("sqlite:///" + os.path.join(tempfile.mkdtemp(), "l.sqlite"))
>>> ledger.append(UsageRow.example(tenant="acme", actual_cost_usd=0.002))
>>> ledger.flush()
>>> round(ledger.spend_since("acme", 0.0), 6)
0.002
>>> ledger.close()
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from learned_router.errors import InvalidInputError


@dataclass(frozen=True)
class UsageRow:
    """One request as the ledger records it. Money in USD, times in seconds/ms."""

    ts: float
    """Unix time the request arrived."""
    request_id: str
    decision_id: str | None
    tenant: str
    requested_model: str
    routed_model: str
    """The served model that answered (``cache`` for a cache hit, ``""`` if none did)."""
    router_model: str
    upstream: str
    tier: str
    """``self-hosted``, ``public`` or ``cache``."""
    input_tokens: int
    output_tokens: int
    expected_cost_usd: float
    actual_cost_usd: float
    frontier_cost_usd: float
    """What the tenant's frontier model would have cost for the same tokens."""
    latency_ms: float
    cache_hit: bool
    stream: bool
    status: int
    """HTTP status the caller got (200, or the error's)."""

    @classmethod
    def example(cls, **overrides: Any) -> UsageRow:
        values: dict[str, Any] = {
            "ts": time.time(),
            "request_id": "r",
            "decision_id": None,
            "tenant": "t",
            "requested_model": "router",
            "routed_model": "m",
            "router_model": "m",
            "upstream": "u",
            "tier": "public",
            "input_tokens": 10,
            "output_tokens": 5,
            "expected_cost_usd": 0.0,
            "actual_cost_usd": 0.0,
            "frontier_cost_usd": 0.0,
            "latency_ms": 1.0,
            "cache_hit": False,
            "stream": False,
            "status": 200,
        }
        values.update(overrides)
        return cls(**values)


COLUMNS = tuple(f.name for f in fields(UsageRow))
_TYPES = {
    "ts": "DOUBLE PRECISION",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "expected_cost_usd": "DOUBLE PRECISION",
    "actual_cost_usd": "DOUBLE PRECISION",
    "frontier_cost_usd": "DOUBLE PRECISION",
    "latency_ms": "DOUBLE PRECISION",
    "cache_hit": "BOOLEAN",
    "stream": "BOOLEAN",
    "status": "INTEGER",
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS usage ("
    + ", ".join(f"{c} {_TYPES.get(c, 'TEXT')}" for c in COLUMNS)
    + ")"
)


class Ledger:
    """Append-only usage rows, written off the request path in batches."""

    def __init__(self, url: str, connect: Any, placeholder: str) -> None:
        self.url = url
        self._connect = connect
        self._placeholder = placeholder
        self._queue: queue.Queue[UsageRow | None] = queue.Queue()
        # One connection per thread: the writer thread owns its own.
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(_SCHEMA)
            cur.execute("CREATE INDEX IF NOT EXISTS usage_tenant_ts ON usage (tenant, ts)")
            conn.commit()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="ledger-writer", daemon=True)
        self._writer.start()

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Ledger:
        """A ledger at ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``;
        with ``create=False`` (readers such as ``learned-router report``) a sqlite
        file that does not exist is refused instead of created."""
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
            if path != ":memory:":
                if not create and not Path(path).is_file():
                    raise InvalidInputError(
                        f"no ledger at {path!r}: the gateway writes it on its first request "
                        "(see [ledger] url in its config)"
                    )
                Path(path).parent.mkdir(parents=True, exist_ok=True)

            def connect_sqlite() -> Any:
                conn = sqlite3.connect(path, timeout=30.0)
                conn.execute("PRAGMA journal_mode=WAL")
                return conn

            return cls(url, connect_sqlite, "?")
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise InvalidInputError(
                    f"ledger url {url!r} needs psycopg: pip install 'learned-router[gateway]'"
                ) from None

            def connect_pg() -> Any:
                return psycopg.connect(url)

            return cls(url, connect_pg, "%s")
        raise InvalidInputError(
            f"ledger url {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    # -- writing --------------------------------------------------------------

    def append(self, row: UsageRow) -> None:
        """Queues ``row``; it is durable after the next batch (or :meth:`flush`)."""
        if self._error is not None:
            raise InvalidInputError(f"the ledger at {self.url} failed: {self._error}")
        self._queue.put(row)

    def flush(self) -> None:
        """Blocks until every row queued so far is committed."""
        self._queue.join()
        if self._error is not None:
            raise InvalidInputError(f"the ledger at {self.url} failed: {self._error}")

    def close(self) -> None:
        """Writes what is queued, then stops the writer."""
        self._queue.put(None)
        self._writer.join()

    def _write_loop(self) -> None:
        insert = (
            f"INSERT INTO usage ({', '.join(COLUMNS)}) VALUES "
            f"({', '.join([self._placeholder] * len(COLUMNS))})"
        )
        with self._connection() as conn:
            stop = False
            while not stop:
                batch: list[UsageRow] = []
                item = self._queue.get()
                taken = 1
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                # Take whatever else is waiting: one transaction per burst.
                while not stop and len(batch) < 1000:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    taken += 1
                    if item is None:
                        stop = True
                    else:
                        batch.append(item)
                try:
                    if batch:
                        self._insert(conn, insert, batch)
                except Exception as error:  # kept, re-raised to callers by append/flush
                    self._error = error
                finally:
                    for _ in range(taken):
                        self._queue.task_done()

    def _insert(self, conn: Any, insert: str, batch: Sequence[UsageRow]) -> None:
        for attempt in range(3):
            try:
                cur = conn.cursor()
                cur.executemany(insert, [astuple(r) for r in batch])
                conn.commit()
                return
            except Exception:
                conn.rollback()
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))

    # -- reading --------------------------------------------------------------

    def spend_since(self, tenant: str, since_ts: float) -> float:
        """The tenant's actual spend (USD) since ``since_ts`` (committed rows)."""
        p = self._placeholder
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(
                f"SELECT COALESCE(SUM(actual_cost_usd), 0) FROM usage WHERE tenant = {p} "
                f"AND ts >= {p}",
                (tenant, since_ts),
            )
            return float(cur.fetchone()[0])

    def rows_since(self, since_ts: float) -> list[UsageRow]:
        """Every row from ``since_ts`` on, oldest first."""
        p = self._placeholder
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(
                f"SELECT {', '.join(COLUMNS)} FROM usage WHERE ts >= {p} ORDER BY ts", (since_ts,)
            )
            return [_row(r) for r in cur.fetchall()]


def _row(values: Sequence[Any]) -> UsageRow:
    """A database row as a UsageRow (sqlite stores booleans as 0/1)."""
    fields_ = dict(zip(COLUMNS, values, strict=True))
    for name in ("cache_hit", "stream"):
        fields_[name] = bool(fields_[name])
    return UsageRow(**fields_)
