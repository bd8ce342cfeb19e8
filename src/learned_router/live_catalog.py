"""Live prices: the catalog in force, swapped atomically while the router serves.

A :class:`LiveCatalog` holds one immutable :class:`~learned_router.catalog.Catalog`
(the *snapshot*). A decision takes the snapshot once and prices every
candidate from it, so it sees either the old or the new price table, never a
mix, and records the snapshot's ``version``.

New prices arrive two ways:

- :meth:`LiveCatalog.update` with price changes (``{"gpt-4o": {"usd_per_1m_input":
  2.5}}``) or a whole new catalog;
- the catalog file changing on disk, when the live catalog watches one: at
  most every ``check_interval_s`` a read stats the file (one ``os.stat``, no
  parsing) and, if its modification time, size or inode changed, reloads it,
  so the next decision uses it.

A new table is validated before it is swapped in: a file that does not parse
or validate, that lacks a model the router needs (``required_models``), or
that changes prices without changing ``version`` is rejected with a
:class:`~learned_router.errors.CatalogError` naming the file and the fix, and
the old table stays in force. A rejected file is not retried until it changes
again. Write catalog files atomically (:meth:`Catalog.save` does: a temporary
file, then a rename) so a reader never parses half a file.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router.catalog import Catalog
from learned_router.errors import CatalogError, InvalidInputError

logger = logging.getLogger(__name__)

PriceChanges = Mapping[str, Mapping[str, float]]
_Signature = tuple[int, int, int, int]
_MISSING: _Signature = (-1, -1, -1, -1)
#: Price arrays kept per snapshot, one per distinct candidate list.
MAX_PRICED_LISTS = 256


@dataclass(frozen=True)
class PricedModels:
    """One snapshot's prices for a list of models: version and prices always agree.

    Arrays are in the order of ``models``, USD per 1M tokens, and read-only.
    """

    version: str
    catalog: Catalog
    models: tuple[str, ...]
    usd_per_1m_input: npt.NDArray[np.float64]
    usd_per_1m_output: npt.NDArray[np.float64]
    usd_per_1m_cached_input: npt.NDArray[np.float64]
    batch_discount: npt.NDArray[np.float64]
    context_window_tokens: npt.NDArray[np.float64]
    """Each model's context window (``inf`` where the catalog states none or does not
    know the model)."""

    def prices(self) -> dict[str, npt.NDArray[np.float64]]:
        """The arrays in the layout of :meth:`Catalog.prices` (for ``costs.expected_cost_usd``)."""
        return {
            "input": self.usd_per_1m_input,
            "output": self.usd_per_1m_output,
            "cached_input": self.usd_per_1m_cached_input,
            "batch_discount": self.batch_discount,
        }


@dataclass(frozen=True)
class _Snapshot:
    catalog: Catalog
    # Price arrays per model list, filled on first use. Two threads may both
    # fill the same key; they compute the same arrays, so the race is benign
    # and a lock here would only slow the hot path.
    priced: dict[tuple[str, ...], PricedModels] = field(default_factory=dict)


def _signature(path: Path) -> _Signature:
    stat = os.stat(path)
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_dev)


class LiveCatalog:
    """The catalog in force; swap prices in atomically, optionally from a watched file.

    ``catalog`` is in force first. With ``path``, that file is watched from
    now on (:meth:`from_file` loads and watches it); ``required_models`` must
    be in every new table; ``clock`` (seconds, monotonic) times the checks.

    >>> from learned_router.catalog import LatencyProfile, ModelSpec
    >>> spec = ModelSpec("gpt-4o", "OpenAI", 5.0, 15.0, LatencyProfile(400.0, 80.0))
    >>> live = LiveCatalog(Catalog(models=(spec,), version="2024-06"))
    >>> snapshot = live.current          # take it once per decision
    >>> _ = live.update({"gpt-4o": {"usd_per_1m_input": 2.5}}, version="2024-08")
    >>> snapshot.version, live.version, live.current.get("gpt-4o").usd_per_1m_input
    ('2024-06', '2024-08', 2.5)
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        path: str | os.PathLike[str] | None = None,
        check_interval_s: float = 1.0,
        required_models: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not check_interval_s >= 0:
            raise InvalidInputError(
                f"check_interval_s = {check_interval_s} must be >= 0 seconds (0: stat the "
                "file on every read)"
            )
        self.path = Path(path) if path is not None else None
        self.check_interval_s = float(check_interval_s)
        self.required_models = tuple(required_models)
        self._clock = clock
        self._check_required(catalog, str(self.path or catalog.source or "catalog"))
        # Readers never lock: they read `_snapshot` once, and rebinding an
        # attribute is atomic, so a reader gets the old or the new immutable
        # snapshot. `_lock` serialises writers (update, reload), so that a
        # read-modify-write such as `with_prices` on the current snapshot is
        # never lost to a concurrent one, and only one thread reloads the file.
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(catalog)
        self._loaded_signature: _Signature | None = None
        self._rejected_signature: _Signature | None = None
        self._next_check_s = clock() + self.check_interval_s
        # Why the latest new table was rejected (None once one is accepted).
        self.last_error: CatalogError | None = None
        if self.path is not None:
            try:
                self._loaded_signature = _signature(self.path)
            except OSError as error:
                message = f"{self.path}: cannot watch the catalog file: {error}"
                raise CatalogError(message) from error

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        check_interval_s: float = 1.0,
        required_models: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> LiveCatalog:
        """Loads a catalog file and watches it: edits take effect on the next read
        after at most ``check_interval_s`` seconds.

        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "catalog.toml"
        >>> _ = Catalog.load().save(path)
        >>> LiveCatalog.from_file(path).version
        '2025-list-prices.1'
        """
        path = Path(path)
        signature = _signature(path) if path.exists() else None
        live = cls(
            Catalog.load(path),
            path=path,
            check_interval_s=check_interval_s,
            required_models=required_models,
            clock=clock,
        )
        # Guard against the file changing between the load and the stat: keep
        # the signature from before the load, so such a change is seen later.
        live._loaded_signature = signature
        return live

    # --- reading ---------------------------------------------------------------------------

    @property
    def current(self) -> Catalog:
        """The catalog in force. Take it once per decision and use only that object.

        If a file is watched and ``check_interval_s`` has passed since the last
        check, this first stats the file and reloads it if it changed.
        """
        self._check_if_due()
        return self._snapshot.catalog

    @property
    def version(self) -> str:
        """The version of the catalog in force."""
        return self.current.version

    def priced(self, models: Sequence[str]) -> PricedModels:
        """Prices of ``models`` from one snapshot (cached per snapshot and model list).

        >>> from learned_router.catalog import LatencyProfile, ModelSpec
        >>> spec = ModelSpec("m", "p", 1.0, 2.0, LatencyProfile(100.0, 50.0))
        >>> live = LiveCatalog(Catalog(models=(spec,), version="v1"))
        >>> priced = live.priced(["m"])
        >>> priced.version, priced.usd_per_1m_output.tolist()
        ('v1', [2.0])
        """
        self._check_if_due()
        snapshot = self._snapshot
        key = tuple(models)
        priced = snapshot.priced.get(key)
        if priced is None:
            prices = snapshot.catalog.prices(key)
            windows = np.array(
                [
                    float(snapshot.catalog.get(m).context_window_tokens or math.inf)
                    if snapshot.catalog.knows(m)
                    else math.inf
                    for m in key
                ]
            )
            for array in (*prices.values(), windows):
                array.flags.writeable = False
            priced = PricedModels(
                version=snapshot.catalog.version,
                catalog=snapshot.catalog,
                models=key,
                usd_per_1m_input=prices["input"],
                usd_per_1m_output=prices["output"],
                usd_per_1m_cached_input=prices["cached_input"],
                batch_discount=prices["batch_discount"],
                context_window_tokens=windows,
            )
            # Bounded: callers choose candidate lists freely (20,000 distinct
            # lists held +51 MB before this bound).
            if len(snapshot.priced) >= MAX_PRICED_LISTS:
                snapshot.priced.clear()
            snapshot.priced[key] = priced
        return priced

    def _check_if_due(self) -> None:
        if self.path is not None and self._clock() >= self._next_check_s:
            self._check_file(blocking=False)

    # --- writing ---------------------------------------------------------------------------

    def update(self, change: Catalog | PriceChanges, *, version: str | None = None) -> Catalog:
        """Swaps in new prices atomically and returns the new catalog.

        ``change`` is either price changes for some models (see
        :meth:`Catalog.with_prices`; ``version`` defaults to the current one
        plus ``"+1"``) or a whole new :class:`Catalog` (``version`` overrides
        its own). Raises :class:`CatalogError`, leaving the catalog in force
        unchanged, if the new table is invalid, lacks a required model, or
        changes prices under the same version.
        """
        with self._lock:
            old = self._snapshot.catalog
            try:
                if version is not None and (not isinstance(version, str) or not version.strip()):
                    raise CatalogError(
                        f"catalog update: version {version!r} must be a non-empty string"
                    )
                if isinstance(change, Catalog):
                    new = change if version is None else replace(change, version=version)
                    where = f"update to {new.source or 'a new catalog'}"
                else:
                    new = old.with_prices(change, version=version)
                    where = "price update"
                self._accept(old, new, where)
            except CatalogError as error:
                self._note_rejection(error)
                raise
            return self._snapshot.catalog

    def reload(self) -> Catalog:
        """Checks the watched file now and reloads it if it changed.

        Unlike a read, a rejected file raises here (and the old table stays in
        force), even one rejected before.
        """
        if self.path is None:
            raise CatalogError("this live catalog watches no file; build it with from_file(path)")
        error = self._check_file(blocking=True, retry_rejected=True)
        if error is not None:
            raise error
        return self._snapshot.catalog

    def _check_required(self, catalog: Catalog, where: str) -> None:
        catalog.check_servable(self.required_models, where)

    def require(self, models: Sequence[str]) -> None:
        """Adds ``models`` to :attr:`required_models`: every new table must price
        them (finite, sane prices) or it is refused. Raises :class:`CatalogError`
        if the table in force already cannot."""
        with self._lock:
            required = tuple(dict.fromkeys((*self.required_models, *models)))
            self._snapshot.catalog.check_servable(
                required, str(self.path or self._snapshot.catalog.source or "catalog")
            )
            self.required_models = required

    def _accept(self, old: Catalog, new: Catalog, where: str) -> None:
        """Validates ``new`` against the table in force and swaps it in. Holds the lock."""
        self._check_required(new, where)
        if new.version == old.version:
            if new.models == old.models:
                self.last_error = None
                return  # the same table: nothing to swap
            raise CatalogError(
                f"{where}: the prices changed but the version is still {old.version!r}; "
                "give the new table a new `version` so decisions can tell the two apart"
            )
        self._snapshot = _Snapshot(new)
        self.last_error = None
        logger.info("catalog %s is in force (was %s)", new.version, old.version)

    def _check_file(self, *, blocking: bool, retry_rejected: bool = False) -> CatalogError | None:
        """Stats the watched file and reloads it if it changed; returns why a
        changed file was rejected (``None``: accepted, unchanged, or skipped)."""
        assert self.path is not None
        # A reader never waits: if another thread is updating or reloading,
        # it keeps using the snapshot in force.
        if not self._lock.acquire(blocking=blocking):
            return None
        try:
            self._next_check_s = self._clock() + self.check_interval_s
            try:
                signature = _signature(self.path)
            except OSError as error:
                return self._reject(
                    _MISSING, CatalogError(f"{self.path}: cannot read the catalog: {error}")
                )
            if signature == self._loaded_signature:
                return None
            if signature == self._rejected_signature and not retry_rejected:
                return None
            try:
                new = Catalog.load(self.path)
                self._accept(self._snapshot.catalog, new, str(self.path))
            except CatalogError as error:
                return self._reject(signature, error)
            self._loaded_signature = signature
            self._rejected_signature = None
            return None
        finally:
            self._lock.release()

    def _reject(self, signature: _Signature, error: CatalogError) -> CatalogError:
        """Records (and logs, once per file version) why a new table was rejected."""
        self._rejected_signature = signature
        return self._note_rejection(error)

    def _note_rejection(self, error: CatalogError) -> CatalogError:
        """Sets :attr:`last_error`; logs a warning once per new problem."""
        last = CatalogError(
            f"{error} -- rejected; catalog {self._snapshot.catalog.version!r} stays in force"
        )
        if self.last_error is None or str(self.last_error) != str(last):
            logger.warning("%s", last)
        self.last_error = last
        return last
