"""Exploration: a small, deterministic share of a tenant's requests tries another model.

Tenant corrections learn from recorded outcomes, and a tenant records outcomes
only of the models it was routed to: a model the bundle underrates on this
tenant's traffic is never routed, so nothing ever shows it is better
(docs/drift.md: through a bundle trained without RouterBench, 99% of replayed
requests go to one model). An :class:`Explorer` answers a share of requests
(``rate``, per tenant overridable) with another available candidate instead,
so its outcome is recorded too.

- **Deterministic per request id** (a keyed hash, like shadow sampling): a
  retried request makes the same choice; a replay reproduces a run.
- **Never pricier** by default (``max_cost_ratio=1``): the alternative is
  drawn among candidates whose expected cost is at most the chosen model's, so
  exploration can cost quality on the explored requests but never money.
  ``max_cost_ratio=None`` draws among every available candidate.
- Only candidates the decision did not exclude (down, over capacity, context,
  latency, budget) are drawn; hard limits are never overridden.

The caller calls the model :meth:`Explorer.choose` returns (when not None)
instead of ``decision.model``, and records the outcome against that model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from learned_router.drift.sampling import _unit, keyed_pick
from learned_router.errors import InvalidInputError

if TYPE_CHECKING:
    from learned_router.router import RouteDecision


@dataclass(frozen=True)
class Explorer:
    """Chooses the requests answered by another candidate, and which one."""

    rate: float = 0.0
    tenant_rates: Mapping[str, float] = field(default_factory=dict)
    max_cost_ratio: float | None = 1.0
    salt: str = "explore"

    def __post_init__(self) -> None:
        for name, rate in {"rate": self.rate, **self.tenant_rates}.items():
            if not 0.0 <= rate <= 1.0:
                raise InvalidInputError(f"exploration rate {name!r} must be in [0, 1], got {rate}")
        if self.max_cost_ratio is not None and not self.max_cost_ratio > 0:
            raise InvalidInputError(
                f"max_cost_ratio must be > 0 or None (any cost), got {self.max_cost_ratio}"
            )

    def choose(self, decision: RouteDecision, *, request_id: str | None = None) -> str | None:
        """The model to call instead of ``decision.model``, or None (not explored, or no
        other candidate qualifies). Keyed by ``request_id`` (default: the decision id)."""
        rate = self.tenant_rates.get(decision.tenant or "", self.rate)
        key = request_id if request_id is not None else decision.decision_id
        if rate <= 0.0 or decision.model == "cache" or _unit(key, self.salt) >= rate:
            return None
        bound = (
            None
            if self.max_cost_ratio is None
            else self.max_cost_ratio * decision.expected_cost_usd
        )
        others = sorted(
            c.model
            for c in decision.candidates
            if c.model != decision.model
            and c.excluded_by is None
            and (bound is None or c.expected_cost_usd <= bound)
        )
        return keyed_pick(key, self.salt, others)
