"""Tenants: who is calling, may they, and can they afford it.

Budgets are checked before the call on the expected cost (which is reserved)
and reconciled after it on the actual cost: the reservation is swapped for
what the request really cost. Spend is read back from the ledger at start,
so a restart keeps the day's and the month's spend. Rate limits are token
buckets in the Rust core (the same :class:`~learned_router.capacity.CapacityTracker`
that meters self-hosted models), one per tenant.

>>> from learned_router.gateway.config import TenantConfig, hash_api_key
>>> book = TenantBook([TenantConfig("acme", (hash_api_key("k"),), usd_per_day=1.0)])
>>> book.authenticate("k").name
'acme'
>>> book.reserve("acme", 0.4, now=0.0).reason is None
True
>>> book.reserve("acme", 0.7, now=0.0).reason
'daily budget'
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.gateway.config import TenantConfig, hash_api_key


@dataclass(frozen=True)
class Reservation:
    tenant: str
    amount_usd: float
    reason: str | None = None
    """Why it was refused (``daily budget`` / ``monthly budget``), or None when granted."""
    limit_usd: float = 0.0
    spent_usd: float = 0.0


def day_start(now: float) -> float:
    """Unix time of the UTC midnight that began ``now``'s day."""
    d = datetime.fromtimestamp(now, timezone.utc)
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def month_start(now: float) -> float:
    d = datetime.fromtimestamp(now, timezone.utc)
    return datetime(d.year, d.month, 1, tzinfo=timezone.utc).timestamp()


@dataclass
class _Spend:
    day: float = 0.0
    day_key: float = -1.0
    month: float = 0.0
    month_key: float = -1.0
    reserved: float = 0.0


class TenantBook:
    """API keys, budgets and rate limits of every tenant; thread-safe."""

    def __init__(
        self,
        tenants: Sequence[TenantConfig],
        *,
        spend_since: Callable[[str, float], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenants = {t.name: t for t in tenants}
        self._by_hash = {h: t for t in tenants for h in t.api_key_sha256}
        self._spend_since = spend_since
        self._clock = clock
        # Spend counters are shared by every request; one lock keeps the
        # check-and-reserve atomic (two requests cannot both take the last cent).
        self._lock = threading.Lock()
        self._spend = {t.name: _Spend() for t in tenants}
        limited = [t for t in tenants if t.requests_per_minute is not None]
        self._rate = (
            CapacityTracker(
                [t.name for t in limited],
                capacities={
                    t.name: ModelCapacity(
                        tokens_per_s=float(t.requests_per_minute or 0) / 60.0,
                        burst_tokens=float(t.requests_per_minute or 0),
                    )
                    for t in limited
                },
                clock=time.monotonic,
            )
            if limited
            else None
        )

    def authenticate(self, api_key: str | None) -> TenantConfig | None:
        """The tenant holding ``api_key``, or None."""
        if not api_key:
            return None
        digest = hash_api_key(api_key)
        tenant = self._by_hash.get(digest)
        # Dict lookup by digest leaks nothing useful (the digest is of the
        # caller's own input); compare again in constant time for good measure.
        if tenant is not None and any(
            hmac.compare_digest(digest, h) for h in tenant.api_key_sha256
        ):
            return tenant
        return None

    def allow_request(self, tenant: str) -> bool:
        """Takes one request from the tenant's rate limit; False when it is exhausted."""
        if self._rate is None or tenant not in self._rate.models:
            return True
        if not self._rate.try_acquire(tenant, 1.0):
            return False
        self._rate.release(tenant)  # the slot; the token stays spent
        return True

    def _refresh(self, name: str, spend: _Spend, now: float) -> None:
        day, month = day_start(now), month_start(now)
        if spend.day_key != day:
            spend.day_key = day
            spend.day = self._spend_since(name, day) if self._spend_since else 0.0
        if spend.month_key != month:
            spend.month_key = month
            spend.month = self._spend_since(name, month) if self._spend_since else 0.0

    def reserve(self, tenant: str, expected_usd: float, *, now: float | None = None) -> Reservation:
        """Reserves ``expected_usd`` against the tenant's budgets, or says which is exhausted."""
        config = self.tenants[tenant]
        now = self._clock() if now is None else now
        with self._lock:
            spend = self._spend[tenant]
            self._refresh(tenant, spend, now)
            for reason, limit, spent in (
                ("daily budget", config.usd_per_day, spend.day),
                ("monthly budget", config.usd_per_month, spend.month),
            ):
                if limit is not None and spent + spend.reserved + expected_usd > limit:
                    return Reservation(tenant, 0.0, reason, limit, spent + spend.reserved)
            spend.reserved += expected_usd
            return Reservation(tenant, expected_usd)

    def settle(
        self, reservation: Reservation, actual_usd: float, *, now: float | None = None
    ) -> None:
        """Replaces the reservation by what the request actually cost."""
        now = self._clock() if now is None else now
        with self._lock:
            spend = self._spend[reservation.tenant]
            spend.reserved = max(0.0, spend.reserved - reservation.amount_usd)
            self._refresh(reservation.tenant, spend, now)
            spend.day += actual_usd
            spend.month += actual_usd

    def spent_today(self, tenant: str) -> float:
        with self._lock:
            spend = self._spend[tenant]
            self._refresh(tenant, spend, self._clock())
            return spend.day
