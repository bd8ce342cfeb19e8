"""Shadow sampling: which routed requests are also sent to the golden model.

Deterministic per request id (a keyed hash, not a random draw), so a retried
request makes the same choice and a replay reproduces a run. Rates can be set
per tenant and per task; a USD budget caps what shadow calls may spend.

A warm-up rate samples a model more often while its drift detector has fewer
than ``warmup_checks`` checks to set its baseline from (a new model, or one
whose stream restarted after an alarm). A change can only be told from the
baseline's own noise once the baseline is known: with ~90 checks of a model
whose disagreement with the golden model is ~0.17, no calibrated test finds a
20-point drop within 300 further checks (``benchmarks/detector_power.py``);
with 300 it mostly does. The warm-up buys those checks once per model, at
``warmup_rate``, instead of waiting for the plain rate to gather them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from learned_router.errors import InvalidInputError

WARMUP_RATE = 0.05
"""Default warm-up rate: a model's first ``WARMUP_CHECKS`` checks come 5x faster than at 1%."""
WARMUP_CHECKS = 300
"""Default checks a model's detector gets before the plain rate applies."""
WARMUP_MIN_SHARE = 0.05
"""Default share of routed traffic a model needs for its warm-up: a model routed
rarely costs little when it drifts, and warming up dozens of them against an
expensive golden model costs a lot (GSM8K's 43 models replayed: shadow checks 8.4%
of spend with every model warming up, 7.0% with this share, 3.2% at a flat 1%)."""


def _unit(request_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by ``request_id`` (blake2b, 64 bits)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def keyed_pick(key: str, salt: str, options: Sequence[str]) -> str | None:
    """One of ``options`` fixed by ``key`` (a second keyed draw after the rate's, uniform
    over them), or None when there are none: which model an explored or probed request
    tries, the same on a retry and in a replay."""
    if not options:
        return None
    return options[int(_unit(key, salt + "/which") * len(options))]


def _check_rate(name: str, rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise InvalidInputError(f"shadow rate {name} must be in [0, 1], got {rate}")
    return float(rate)


@dataclass
class ShadowSampler:
    """Chooses the requests checked against ``golden_model``.

    ``rate`` is the default share; ``tenant_rates`` and ``task_rates`` override
    it (a task rate wins over a tenant rate). ``budget_usd`` caps the total
    expected cost of shadow calls: once reached, nothing more is sampled.

    ``warmup_rate`` (when above the applicable rate, and that rate is not 0)
    applies instead to a request the caller marks ``warmup=True``: the
    :class:`~learned_router.drift.monitor.DriftMonitor` does so while the routed
    model's shadow stream has fewer than ``warmup_checks`` checks since its
    (re)start and the model has at least ``warmup_min_share`` of the decisions
    it has seen. The choice stays a function of the request id and that flag.

    >>> s = ShadowSampler(golden_model="gpt-4o", rate=0.5, budget_usd=1.0)
    >>> s.choose("req-1", expected_cost_usd=0.1) == s.choose("req-1", expected_cost_usd=0.0)
    True
    """

    golden_model: str
    rate: float = 0.01
    tenant_rates: Mapping[str, float] = field(default_factory=dict)
    task_rates: Mapping[str, float] = field(default_factory=dict)
    golden_by_task: Mapping[str, str] = field(default_factory=dict)
    budget_usd: float | None = None
    salt: str = "learned-router-shadow"
    warmup_rate: float = WARMUP_RATE
    warmup_checks: int = WARMUP_CHECKS
    warmup_min_share: float = WARMUP_MIN_SHARE

    def __post_init__(self) -> None:
        _check_rate("rate", self.rate)
        _check_rate("warmup_rate", self.warmup_rate)
        _check_rate("warmup_min_share", self.warmup_min_share)
        if isinstance(self.warmup_checks, bool) or not (
            isinstance(self.warmup_checks, int) and self.warmup_checks >= 0
        ):
            raise InvalidInputError(
                f"shadow warmup_checks must be a whole number >= 0, got {self.warmup_checks!r}"
            )
        for name, value in {**self.tenant_rates, **self.task_rates}.items():
            _check_rate(repr(name), value)
        if self.budget_usd is not None and not self.budget_usd >= 0:
            raise InvalidInputError(f"shadow budget_usd must be >= 0, got {self.budget_usd}")
        # spent_usd is charged by every routing thread: guard it.
        self._lock = threading.Lock()
        self.spent_usd = 0.0
        self.sampled = 0
        self.refused_by_budget = 0

    def rate_for(
        self, *, tenant: str | None = None, task: str | None = None, warmup: bool = False
    ) -> float:
        if task is not None and task in self.task_rates:
            rate = float(self.task_rates[task])
        elif tenant is not None and tenant in self.tenant_rates:
            rate = float(self.tenant_rates[tenant])
        else:
            rate = self.rate
        # A rate of 0 switches shadowing off (for that tenant or task): no warm-up either.
        if warmup and rate > 0 and self.warmup_checks > 0:
            return max(rate, self.warmup_rate)
        return rate

    def golden_for(self, task: str | None = None) -> str:
        return self.golden_by_task.get(task or "", self.golden_model)

    def selected(
        self,
        request_id: str,
        *,
        tenant: str | None = None,
        task: str | None = None,
        warmup: bool = False,
    ) -> bool:
        """Whether ``request_id`` falls in the sample (ignores the budget; no side effects)."""
        rate = self.rate_for(tenant=tenant, task=task, warmup=warmup)
        return _unit(request_id, self.salt) < rate

    def choose(
        self,
        request_id: str,
        *,
        expected_cost_usd: float,
        tenant: str | None = None,
        task: str | None = None,
        warmup: bool = False,
    ) -> bool:
        """Whether to shadow this request; charges its expected cost to the budget if so."""
        if not self.selected(request_id, tenant=tenant, task=task, warmup=warmup):
            return False
        return self.charge(expected_cost_usd)

    def charge(self, expected_cost_usd: float) -> bool:
        """Charges one check's expected cost to the budget; False (nothing charged) when
        it would exceed it. :meth:`choose` calls it; so does a caller that spends the
        budget on other checks (the gateway's recovery probes)."""
        with self._lock:
            if self.budget_usd is not None and self.spent_usd + expected_cost_usd > self.budget_usd:
                self.refused_by_budget += 1
                return False
            self.spent_usd += max(0.0, float(expected_cost_usd))
            self.sampled += 1
        return True
