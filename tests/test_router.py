"""The Router facade (learned_router.router) on a tiny bundle."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from bundles import tiny_catalog
from learned_router.bundle import Bundle
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.errors import InvalidInputError
from learned_router.outcomes import OutcomeStore
from learned_router.router import NoModelAvailableError, Router, complexity_tier
from learned_router.selection import Outcome

EASY = "write a poem about cats"
HARD = "Analyse the indemnification clause of this contract"
PROMPTS = [EASY, HARD, "Convert this date to ISO", "summarise the memo", "contract law question"]


@pytest.fixture
def router(tiny_bundle: Path) -> Router:
    return Router.load(tiny_bundle)


def _expected(
    router: Router, prompt: str, policy: str, value: float, **route_kwargs: object
) -> str:
    """The reference choice from the decision's own estimates."""
    decision = router.route(prompt, **route_kwargs)  # type: ignore[arg-type]
    p = [c.p_success for c in decision.candidates]
    cost = [c.expected_cost_usd for c in decision.candidates]
    available = [c.excluded_by is None for c in decision.candidates]
    index, _ = reference.select_row(p, cost, available, policy, value)
    return decision.candidates[index].model


@pytest.mark.parametrize(
    ("kwargs", "policy", "value"),
    [
        ({"min_quality": 0.8}, "min_quality", 0.8),
        ({"min_quality": 0.99}, "min_quality", 0.99),
        ({"max_cost_usd": 0.0002}, "max_cost", 0.0002),
        ({"cost_weight": 0.0}, "cost_weight", 0.0),
        ({"cost_weight": 300.0}, "cost_weight", 300.0),
        ({"quality_fraction": 0.9}, "relative_quality", 0.9),
    ],
)
@pytest.mark.parametrize("prompt", PROMPTS)
def test_every_policy_matches_the_reference(
    router: Router, prompt: str, kwargs: dict[str, float], policy: str, value: float
) -> None:
    decision = router.route(prompt, **kwargs)  # type: ignore[arg-type]
    assert decision.model == _expected(router, prompt, policy, value, **kwargs)
    assert decision.policy == policy
    assert decision.policy_value == value


def test_a_decision_carries_everything(router: Router) -> None:
    decision = router.route(HARD, min_quality=0.8, tenant="acme")
    assert decision.model == "frontier"
    assert decision.outcome is Outcome.MET
    assert decision.decided_by == "cheapest model with P(success) >= 0.8"
    assert {c.model for c in decision.candidates} == set(router.models)
    assert decision.price_version == "test.1"
    assert decision.router_version.startswith("tiny@")
    assert decision.tier == "high"
    assert decision.tenant == "acme"
    assert len(decision.decision_id) == 32
    assert decision.timestamp.tzinfo is not None
    chosen = decision.candidate("frontier")
    assert decision.p_success == chosen.p_success
    assert decision.expected_cost_usd == chosen.expected_cost_usd
    # Latency from the profile: 800 ms + 100 tokens / 30 tokens/s.
    assert chosen.expected_latency_ms == pytest.approx(800 + 100 / 30 * 1000)
    with pytest.raises(AttributeError):
        decision.model = "small"  # type: ignore[misc]


def test_the_router_reads_the_prompt(router: Router) -> None:
    easy, hard = router.route(EASY, min_quality=0.8), router.route(HARD, min_quality=0.8)
    assert easy.model == "small"
    assert easy.tier == "low"
    assert hard.model == "frontier"
    assert hard.candidate("small").p_success < 0.05 < easy.candidate("small").p_success


def test_costs_follow_the_catalog(router: Router) -> None:
    decision = router.route(EASY, min_quality=0.8)
    prices = tiny_catalog().get("mid")
    mid = decision.candidate("mid")
    expected = (
        decision.input_tokens * prices.usd_per_1m_input + 100 * prices.usd_per_1m_output
    ) / 1e6
    assert mid.expected_cost_usd == pytest.approx(expected)
    batch = router.route(EASY, min_quality=0.8, priority="batch").candidate("mid")
    assert batch.expected_cost_usd == pytest.approx(0.5 * expected)


def test_static_prefixes_are_priced_at_cached_rates(router: Router) -> None:
    system = "You are a careful assistant for the legal team. Follow the policy strictly. " * 3
    plain = router.route(system + EASY, min_quality=0.8).candidate("frontier").expected_cost_usd
    tokens = router.register_static_prefix(system)
    assert tokens > 20
    cached = router.route(system + EASY, min_quality=0.8).candidate("frontier").expected_cost_usd
    # frontier: input 10 USD/M, cached 5 USD/M.
    assert plain - cached == pytest.approx(tokens * 5 / 1e6)


def test_budget_combines_with_a_quality_bar(router: Router) -> None:
    decision = router.route(HARD, min_quality=0.8, max_cost_usd=0.0005)
    assert decision.model == "ours-8b"  # frontier is over budget; the best within it
    assert decision.outcome is Outcome.FALLBACK
    assert decision.candidate("frontier").excluded_by == "budget"
    alone = router.route(HARD, max_cost_usd=0.0005)
    assert alone.policy == "max_cost"
    assert alone.expected_cost_usd <= 0.0005


def test_latency_slo_excludes_slow_models(router: Router) -> None:
    decision = router.route(HARD, min_quality=0.8, max_latency_ms=2000)
    assert decision.candidate("frontier").excluded_by == "latency"
    assert decision.model != "frontier"
    assert decision.expected_latency_ms <= 2000


def test_price_swap_takes_effect_on_the_next_decision(router: Router) -> None:
    before = router.route(HARD, min_quality=0.8)
    router.catalog.update(
        {"frontier": {"usd_per_1m_input": 1.0, "usd_per_1m_output": 3.0}}, version="test.2"
    )
    after = router.route(HARD, min_quality=0.8)
    assert (before.price_version, after.price_version) == ("test.1", "test.2")
    assert (
        after.candidate("frontier").expected_cost_usd
        < before.candidate("frontier").expected_cost_usd / 5
    )


def test_price_swaps_mid_traffic_are_atomic(router: Router) -> None:
    errors: list[str] = []
    seen: Counter[str] = Counter()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            decision = router.route(EASY, min_quality=0.8)
            frontier = decision.candidate("frontier").expected_cost_usd
            price = float(decision.price_version.split(".")[1])
            expected = (decision.input_tokens * price + 100 * 30.0) / 1e6
            if abs(frontier - expected) > 1e-12:
                errors.append(f"{decision.price_version}: {frontier} != {expected}")
            seen[decision.price_version] += 1

    # Version "p.k" prices frontier's input at k USD per 1M tokens.
    router.catalog.update({"frontier": {"usd_per_1m_input": 1.0}}, version="p.1")
    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for k in range(2, 40):
            # Swap only once traffic has been decided under the table in force,
            # so that every swap lands between (and during) live decisions.
            deadline = time.monotonic() + 10.0
            while seen[f"p.{k - 1}"] < 2 and time.monotonic() < deadline:
                time.sleep(0.0005)
            router.catalog.update({"frontier": {"usd_per_1m_input": float(k)}}, version=f"p.{k}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    # Every table was in force while traffic ran, and no decision saw any other.
    assert {f"p.{k}" for k in range(1, 39)} <= set(seen)
    assert set(seen) <= {f"p.{k}" for k in range(1, 40)}


def test_self_hosted_capacity_spills_to_the_market(tiny_bundle: Path) -> None:
    now = [0.0]
    models = ("small", "mid", "frontier", "ours-8b")
    tracker = CapacityTracker(
        models,
        capacities={"ours-8b": ModelCapacity(max_concurrent_requests=2)},
        clock=lambda: now[0],
    )
    router = Router.load(tiny_bundle, capacity=tracker)
    first = [router.route(HARD, min_quality=0.5) for _ in range(2)]
    assert [d.model for d in first] == ["ours-8b", "ours-8b"]
    spilled = router.route(HARD, min_quality=0.5)
    assert spilled.model == "frontier"
    assert spilled.candidate("ours-8b").excluded_by == "capacity"
    router.record_outcome(first[0].decision_id, quality=1.0)
    assert router.route(HARD, min_quality=0.5).model == "ours-8b"


def test_models_marked_down_are_skipped_until_marked_up(router: Router) -> None:
    assert router.route(EASY, min_quality=0.8).model == "small"
    router.mark_down("small")
    decision = router.route(EASY, min_quality=0.8)
    assert decision.model != "small"
    assert decision.candidate("small").excluded_by == "down"
    router.mark_up("small")
    assert router.route(EASY, min_quality=0.8).model == "small"


def test_fallback_order_when_every_candidate_is_saturated(tiny_bundle: Path) -> None:
    tracker = CapacityTracker(
        ("small", "mid", "frontier", "ours-8b"),
        capacities={"ours-8b": ModelCapacity(max_concurrent_requests=1)},
    )
    router = Router.load(tiny_bundle, capacity=tracker, fallback_order=["ours-8b"])
    router.route(HARD, min_quality=0.8, candidates=["ours-8b"])
    decision = router.route(HARD, min_quality=0.8, candidates=["ours-8b"])
    assert decision.model == "ours-8b"
    assert decision.outcome is Outcome.NONE_AVAILABLE
    assert "fallback order" in decision.decided_by
    # A hard limit (latency, budget) is never overridden by the fallback order.
    with pytest.raises(NoModelAvailableError, match="latency"):
        router.route(HARD, min_quality=0.8, max_latency_ms=1)
    bare = Router.load(tiny_bundle)
    with pytest.raises(NoModelAvailableError, match="fallback_order"):
        bare.route(HARD, min_quality=0.8, max_cost_usd=1e-9)


def test_warm_up_hook_fires_only_for_latency_critical_high_tier(tiny_bundle: Path) -> None:
    calls: list[str] = []
    router = Router.load(
        tiny_bundle, on_high_tier=calls.append, latency_critical_tenants={"trading"}
    )
    router.route(HARD, tenant="other")
    router.route(EASY, tenant="trading")
    assert calls == []
    router.route(HARD, tenant="trading")
    assert calls == ["frontier"]


def test_outcomes_are_recorded_durably_in_the_canonical_schema(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    store_path = tmp_path / "outcomes.sqlite"
    router = Router.load(tiny_bundle, outcome_store=store_path)
    decision = router.route(HARD, min_quality=0.8, tenant="legal")
    record_id = router.record_outcome(
        decision.decision_id,
        quality=1.0,
        cost_usd=0.003,
        latency_ms=950.0,
        response="The clause ...",
        output_tokens=120,
    )
    assert record_id > 0
    with pytest.raises(InvalidInputError, match="unknown decision id"):
        router.record_outcome(decision.decision_id, quality=1.0)
    records = OutcomeStore(store_path).records()
    (record,) = records.values()
    assert (record.prompt, record.model, record.tenant) == (HARD, "frontier", "legal")
    assert (record.quality, record.cost_usd, record.output_tokens) == (1.0, 0.003, 120)
    from learned_router import data

    assert data.load(store_path).num_outcomes == 1  # the next training set


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.route(EASY, candidates=["gpt-99"]), "unknown model 'gpt-99' in candidates"),
        (lambda r: r.route(EASY, max_cost_usd=-1.0), "max_cost_usd"),
        (lambda r: r.route(EASY, min_quality=float("nan")), "min_quality"),
        (lambda r: r.route("   "), "empty"),
        (lambda r: r.route(EASY, priority="urgent"), "priority"),
        (lambda r: r.route(EASY, min_quality=0.5, cost_weight=1.0), "at most one"),
        (lambda r: r.route(EASY, max_latency_ms=0), "max_latency_ms"),
        (lambda r: r.route_batch(EASY), "list of prompts"),
    ],
)
def test_bad_arguments_are_clear_errors(router: Router, call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(router)  # type: ignore[operator]


def test_candidates_restrict_the_choice(router: Router) -> None:
    decision = router.route(EASY, min_quality=0.8, candidates=["mid", "frontier"])
    assert decision.model == "mid"
    assert [c.model for c in decision.candidates] == ["mid", "frontier"]


def test_route_batch_equals_route() -> None:
    # The shipped bundle: its int8 encoder is where batch and single would differ
    # if prompts were embedded together (the tiny float bundle cannot show it);
    # the encoder embeds each prompt alone, so embeddings and choices agree exactly
    # (the float32 heads' matmul may still round differently by batch size: ~1e-7).
    router = Router.load(Path(__file__).resolve().parents[1] / "models" / "default")
    prompts = [*PROMPTS, "Prove that there are infinitely many primes. " * 20, "hi"]
    batch = router.route_batch(prompts, min_quality=0.8)
    single = [router.route(p, min_quality=0.8) for p in prompts]
    for a, b in zip(batch, single, strict=True):
        assert a.model == b.model
        assert [c.p_success for c in a.candidates] == pytest.approx(
            [c.p_success for c in b.candidates], abs=1e-6
        )


def test_long_prompts_are_cut_for_the_encoder_but_priced_in_full(router: Router) -> None:
    long_prompt = "background paragraph " * 3000 + HARD
    decision = router.route(long_prompt, min_quality=0.8)
    assert decision.input_tokens > 5000  # priced in full
    assert decision.model == "frontier"  # the question at the end was read


def test_concurrent_routes_match_serial(router: Router) -> None:
    prompts = [f"{p} {i}" for i in range(10) for p in PROMPTS]
    serial = {p: router.route(p, min_quality=0.8).model for p in prompts}
    results: dict[str, str] = {}
    lock = threading.Lock()

    def work(chunk: list[str]) -> None:
        for p in chunk:
            model = router.route(p, min_quality=0.8).model
            with lock:
                results[p] = model

    threads = [threading.Thread(target=work, args=(prompts[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == serial


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(budget=st.floats(1e-6, 0.01), prompt=st.sampled_from(PROMPTS))
def test_budget_is_never_exceeded_when_a_model_fits(
    router: Router, budget: float, prompt: str
) -> None:
    costs = [c.expected_cost_usd for c in router.route(prompt, cost_weight=0.0).candidates]
    if min(costs) > budget:  # a budget is a hard cap
        with pytest.raises(NoModelAvailableError, match="over the budget"):
            router.route(prompt, max_cost_usd=budget)
        return
    decision = router.route(prompt, max_cost_usd=budget)
    feasible = [
        c for c in decision.candidates if c.excluded_by is None and c.expected_cost_usd <= budget
    ]
    assert feasible
    assert decision.expected_cost_usd <= budget
    assert decision.p_success == max(c.p_success for c in feasible)


def test_complexity_tier_by_price_thirds() -> None:
    cost = np.array([0.1, 1.0, 10.0])
    assert complexity_tier(np.array([0.9, 0.9, 0.9]), cost) == "low"
    assert complexity_tier(np.array([0.5, 0.9, 0.92]), cost) == "medium"
    assert complexity_tier(np.array([0.5, 0.6, 0.92]), cost) == "high"


def test_bundle_is_verified_on_load(tiny_bundle: Path, tmp_path: Path) -> None:
    import shutil

    from learned_router.errors import BundleError

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    Bundle.load(copy)
    heads = copy / "heads.npz"
    data = bytearray(heads.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte in the middle
    heads.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"heads\.npz: checksum mismatch"):
        Router.load(copy)
    (copy / "heads.npz").unlink()
    with pytest.raises(BundleError, match=r"heads\.npz is missing"):
        Router.load(copy)


def test_the_cache_answers_repeats_per_tenant_and_stores_only_good_answers(
    tiny_bundle: Path,
) -> None:
    from learned_router.cache import SemanticCache

    cache = SemanticCache()  # exact tier only
    router = Router.load(tiny_bundle, cache=cache, cache_min_quality=0.8)
    first = router.route(HARD, tenant="acme")
    assert first.cached is None
    router.record_outcome(
        first.decision_id, quality=1.0, cost_usd=0.004, response="The clause shifts risk."
    )
    again = router.route(f"  {HARD}\n", tenant="acme")
    assert again.cached is not None
    assert again.cached.response == "The clause shifts risk."
    assert again.cached.cost_avoided_usd == pytest.approx(0.004)
    assert again.model == "cache"
    assert again.expected_cost_usd == 0.0
    assert router.route(HARD, tenant="other").cached is None  # never across tenants
    bad = router.route(EASY, tenant="acme")
    router.record_outcome(bad.decision_id, quality=0.2, response="nonsense")
    assert router.route(EASY, tenant="acme").cached is None  # a poor answer is not served again
    batch = router.route_batch([EASY, HARD, PROMPTS[2]], tenant="acme")
    assert [d.cached is not None for d in batch] == [False, True, False]
    assert batch[0].model == router.route(EASY, tenant="acme").model
    assert cache.stats().cost_avoided_usd == pytest.approx(0.008)


def test_quality_scale_must_be_one_the_bundle_learned(tiny_bundle: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown quality_scale"):
        Router.load(tiny_bundle, quality_scale="P(win vs nobody)")
    router = Router.load(tiny_bundle, quality_scale="correct(0/1)")
    # The tiny bundle's offsets are zero, so its correctness scale is the default.
    np.testing.assert_allclose(router.predict([EASY]), Router.load(tiny_bundle).predict([EASY]))
