"""``learned-router report``: blended cost per request and the savings against
always sending every request to the tenant's frontier model, per tenant, model
and tier, from the usage ledger.

The counterfactual prices the same input and output tokens at the frontier
model's live price (its answers would differ in length; the ledger cannot
know by how much, so the saving is an estimate of that one quantity).

>>> rows = [UsageRow.example(tenant="a", routed_model="s", tier="public",
...                          actual_cost_usd=0.001, frontier_cost_usd=0.01)]
>>> table = summarise(rows, by="tenant")
>>> table[0].group, round(table[0].savings_fraction, 2)
('a', 0.9)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from learned_router.errors import InvalidInputError
from learned_router.gateway.ledger import UsageRow


@dataclass(frozen=True)
class ReportLine:
    group: str
    requests: int
    cache_hits: int
    cost_usd: float
    frontier_cost_usd: float
    input_tokens: int
    output_tokens: int
    p50_latency_ms: float

    @property
    def cost_per_request_usd(self) -> float:
        return self.cost_usd / self.requests if self.requests else 0.0

    @property
    def savings_usd(self) -> float:
        return self.frontier_cost_usd - self.cost_usd

    @property
    def savings_fraction(self) -> float:
        return self.savings_usd / self.frontier_cost_usd if self.frontier_cost_usd else 0.0


def parse_since(text: str) -> float:
    """Unix time of ``YYYY-MM-DD`` or an ISO timestamp (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"--since {text!r} is not a date; use YYYY-MM-DD or 2026-12-01T08:00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def summarise(rows: Sequence[UsageRow], *, by: str) -> list[ReportLine]:
    """Answered requests (status 200) grouped by ``tenant``, ``model``, ``tier`` or ``all``."""
    if by not in ("tenant", "model", "tier", "all"):
        raise InvalidInputError(f"group by {by!r}: use tenant, model, tier or all")
    groups: dict[str, list[UsageRow]] = {}
    for row in rows:
        if row.status != 200:
            continue
        key = {"tenant": row.tenant, "model": row.routed_model, "tier": row.tier, "all": "all"}[by]
        groups.setdefault(key, []).append(row)
    lines = []
    for key, members in sorted(groups.items()):
        latencies = sorted(r.latency_ms for r in members)
        lines.append(
            ReportLine(
                group=key,
                requests=len(members),
                cache_hits=sum(r.cache_hit for r in members),
                cost_usd=sum(r.actual_cost_usd for r in members),
                frontier_cost_usd=sum(r.frontier_cost_usd for r in members),
                input_tokens=sum(r.input_tokens for r in members),
                output_tokens=sum(r.output_tokens for r in members),
                p50_latency_ms=latencies[len(latencies) // 2],
            )
        )
    return lines


def render(rows: Sequence[UsageRow]) -> str:
    """The report as text (one table per grouping)."""
    out = []
    for by in ("all", "tenant", "tier", "model"):
        out.append(f"by {by}")
        out.append(
            f"  {'group':<28} {'requests':>8} {'cache':>6} {'USD/request':>12} {'total USD':>11} "
            f"{'frontier USD':>12} {'saved':>7}"
        )
        for line in summarise(rows, by=by):
            out.append(
                f"  {line.group[:28]:<28} {line.requests:>8} {line.cache_hits:>6} "
                f"{line.cost_per_request_usd:>12.6f} {line.cost_usd:>11.4f} "
                f"{line.frontier_cost_usd:>12.4f} {100 * line.savings_fraction:>6.1f}%"
            )
        out.append("")
    return "\n".join(out)


def plot(rows: Sequence[UsageRow], path: str | Path) -> Path:
    """Bar chart: cost per tenant, actual vs always-frontier (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidInputError(
            "the report's plot needs matplotlib: pip install matplotlib (or drop --plot)"
        ) from None
    lines = summarise(rows, by="tenant")
    fig, ax = plt.subplots(figsize=(max(4.0, 1.5 * len(lines) + 2), 3.5))
    xs = range(len(lines))
    ax.bar(
        [x - 0.2 for x in xs], [ln.frontier_cost_usd for ln in lines], 0.4, label="always frontier"
    )
    ax.bar([x + 0.2 for x in xs], [ln.cost_usd for ln in lines], 0.4, label="routed (actual)")
    ax.set_xticks(list(xs), [ln.group for ln in lines])
    ax.set_ylabel("USD")
    ax.set_title("Cost per tenant: routed vs always-frontier")
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
