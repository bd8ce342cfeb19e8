"""Shadow sampling: deterministic per request id, rates per tenant and task, budget cap."""

from __future__ import annotations

import pytest

from learned_router.drift import ShadowSampler
from learned_router.errors import InvalidInputError


def test_the_choice_is_fixed_by_the_request_id() -> None:
    a = ShadowSampler(golden_model="g", rate=0.3)
    b = ShadowSampler(golden_model="g", rate=0.3)
    ids = [f"req-{i}" for i in range(2000)]
    first = [a.selected(i) for i in ids]
    assert first == [b.selected(i) for i in ids] == [a.selected(i) for i in ids]
    # Another salt is another, independent sample.
    other = ShadowSampler(golden_model="g", rate=0.3, salt="other")
    assert first != [other.selected(i) for i in ids]


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.2, 1.0])
def test_the_sampled_share_matches_the_rate(rate: float) -> None:
    sampler = ShadowSampler(golden_model="g", rate=rate)
    n = 20_000
    hits = sum(sampler.selected(f"r{i}") for i in range(n))
    # Binomial: within 5 standard deviations (exact at 0 and 1).
    sd = (n * rate * (1 - rate)) ** 0.5
    assert abs(hits - n * rate) <= 5 * sd + 1e-9


def test_task_rates_win_over_tenant_rates_over_the_default() -> None:
    s = ShadowSampler(
        golden_model="g", rate=0.0, tenant_rates={"acme": 1.0}, task_rates={"code": 0.0}
    )
    assert not s.selected("x")
    assert s.selected("x", tenant="acme")
    assert not s.selected("x", tenant="acme", task="code")
    assert s.golden_for("code") == "g"
    s2 = ShadowSampler(golden_model="g", golden_by_task={"code": "coder"})
    assert s2.golden_for("code") == "coder"
    assert s2.golden_for(None) == "g"


def test_the_budget_caps_what_shadow_calls_spend() -> None:
    s = ShadowSampler(golden_model="g", rate=1.0, budget_usd=1.0)
    chosen = [s.choose(f"r{i}", expected_cost_usd=0.3) for i in range(10)]
    assert chosen == [True, True, True] + [False] * 7
    assert s.spent_usd == pytest.approx(0.9)
    assert s.spent_usd <= s.budget_usd
    assert s.sampled == 3
    assert s.refused_by_budget == 7
    # A cheaper call still fits under the cap.
    assert s.choose("cheap", expected_cost_usd=0.05)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"tenant_rates": {"t": 2.0}},
        {"budget_usd": -1.0},
        {"warmup_rate": 1.2},
        {"warmup_checks": -1},
        {"warmup_checks": 2.5},
        {"warmup_min_share": 1.5},
    ],
)
def test_bad_settings_are_clear_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match="shadow"):
        ShadowSampler(golden_model="g", **kwargs)  # type: ignore[arg-type]


def test_the_warm_up_rate_applies_to_marked_requests_unless_shadowing_is_off() -> None:
    s = ShadowSampler(
        golden_model="g", rate=0.01, warmup_rate=0.2, tenant_rates={"off": 0.0, "busy": 0.5}
    )
    assert s.rate_for() == 0.01
    assert s.rate_for(warmup=True) == 0.2
    # A rate of 0 switches a tenant off, warm-up or not; a rate above the warm-up stays.
    assert s.rate_for(tenant="off", warmup=True) == 0.0
    assert s.rate_for(tenant="busy", warmup=True) == 0.5
    assert ShadowSampler(golden_model="g", rate=0.01, warmup_checks=0).rate_for(warmup=True) == 0.01
    n = 20_000
    hits = sum(s.selected(f"r{i}", warmup=True) for i in range(n))
    assert abs(hits - 0.2 * n) <= 5 * (n * 0.2 * 0.8) ** 0.5
    # The plain sample is part of the warm-up sample (same keyed draw, lower bar).
    assert all(s.selected(f"r{i}", warmup=True) for i in range(n) if s.selected(f"r{i}"))
