"""Shadow sampling: which routed requests are also sent to the golden model.

Deterministic per request id (a keyed hash, not a random draw), so a retried
request makes the same choice and a replay reproduces a run. Rates can be set
per tenant and per task; a USD budget caps what shadow calls may spend.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from learned_router.errors import InvalidInputError


def _unit(request_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by ``request_id`` (blake2b, 64 bits)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "little") / 2.0**64


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

    def __post_init__(self) -> None:
        _check_rate("rate", self.rate)
        for name, value in {**self.tenant_rates, **self.task_rates}.items():
            _check_rate(repr(name), value)
        if self.budget_usd is not None and not self.budget_usd >= 0:
            raise InvalidInputError(f"shadow budget_usd must be >= 0, got {self.budget_usd}")
        # spent_usd is charged by every routing thread: guard it.
        self._lock = threading.Lock()
        self.spent_usd = 0.0
        self.sampled = 0
        self.refused_by_budget = 0

    def rate_for(self, *, tenant: str | None = None, task: str | None = None) -> float:
        if task is not None and task in self.task_rates:
            return float(self.task_rates[task])
        if tenant is not None and tenant in self.tenant_rates:
            return float(self.tenant_rates[tenant])
        return self.rate

    def golden_for(self, task: str | None = None) -> str:
        return self.golden_by_task.get(task or "", self.golden_model)

    def selected(
        self, request_id: str, *, tenant: str | None = None, task: str | None = None
    ) -> bool:
        """Whether ``request_id`` falls in the sample (ignores the budget; no side effects)."""
        return _unit(request_id, self.salt) < self.rate_for(tenant=tenant, task=task)

    def choose(
        self,
        request_id: str,
        *,
        expected_cost_usd: float,
        tenant: str | None = None,
        task: str | None = None,
    ) -> bool:
        """Whether to shadow this request; charges its expected cost to the budget if so."""
        if not self.selected(request_id, tenant=tenant, task=task):
            return False
        with self._lock:
            if self.budget_usd is not None and self.spent_usd + expected_cost_usd > self.budget_usd:
                self.refused_by_budget += 1
                return False
            self.spent_usd += max(0.0, float(expected_cost_usd))
            self.sampled += 1
        return True
