"""BenchRouter interface, fixed routers, heuristic triage, oracle
(learned_router.routing_benchmark.routers)."""

from __future__ import annotations

import numpy as np
import pytest

from bench_synth import MODELS, synthetic
from learned_router.errors import InvalidInputError
from learned_router.routing_benchmark.routers import (
    AlwaysBest,
    AlwaysCheapest,
    BenchRouter,
    HeuristicTriage,
    Oracle,
    RandomMixture,
    ReferenceModels,
    RouterInputs,
    TrainingSet,
    TriageRules,
    cost_weight_grid,
    sweep_cost_weights,
)


@pytest.fixture(scope="module")
def problem():  # type: ignore[no-untyped-def]
    return synthetic(300, seed=1)


@pytest.mark.parametrize(
    ("prompt", "tier"),
    [
        ("Convert 3 km to miles.", 0),
        ("Summarize this paragraph in one line.", 0),
        ("What is the capital of France?", 0),
        ("Analyze the argument.", 1),
        ("x" * 600, 1),
        ("Explain why this works, step by step: def f(): return 1", 2),
        ("Format this: " + "y" * 2100, 1),  # long (+2) but simple (-1)
        ("Compare these two designs. " + "z" * 2100, 2),
    ],
)
def test_triage_tiers(prompt: str, tier: int) -> None:
    assert TriageRules().tiers([prompt]).tolist() == [tier]


def test_triage_rules_are_configurable() -> None:
    rules = TriageRules(complex_keywords=("refactor",), simple_keywords=(), code_markers=())
    assert rules.tiers(["please refactor", "analyze this"]).tolist() == [1, 0]
    assert TriageRules(medium_chars=5).tiers(["hello world"]).tolist() == [1]


def test_reference_models_by_price_and_quality() -> None:
    inputs = RouterInputs(
        prompts=("a", "b"),
        embeddings=np.zeros((2, 1), np.float32),
        models=("m0", "m1", "m2", "m3"),
        expected_cost_usd=np.array([[1.0, 2.0, 10.0, 100.0]] * 2),
    )
    quality = np.array([[0.2, 0.5, 0.7, 0.9]] * 2)
    refs = ReferenceModels.choose(TrainingSet(inputs, quality))
    # geometric mean of 1 and 100 is 10: m2 is affordable as the mid model.
    assert refs == ReferenceModels(cheap=0, mid=2, frontier=3)


def test_fixed_routers(problem) -> None:  # type: ignore[no-untyped-def]
    train = problem.training_set(slice(0, 200))
    test = problem.training_set(slice(200, 300)).inputs
    for router, model in ((AlwaysCheapest(), 0), (AlwaysBest(), 2)):
        assert isinstance(router, BenchRouter)
        with pytest.raises(InvalidInputError, match="fit"):
            router.route(test)
        router.fit(train)
        routing = router.route(test)
        assert routing.index.shape == (1, 100)
        assert set(routing.index.ravel().tolist()) == {model}, MODELS[model]


def test_random_mixture_is_seeded_and_monotone(problem) -> None:  # type: ignore[no-untyped-def]
    train = problem.training_set(slice(0, 200))
    test = problem.training_set(slice(200, 300)).inputs
    first, second = RandomMixture(seed=5), RandomMixture(seed=5)
    first.fit(train)
    second.fit(train)
    a, b = first.route(test), second.route(test)
    assert np.array_equal(a.index, b.index)
    to_best = (a.index == 2).mean(axis=1)
    assert to_best[0] == 0.0
    assert to_best[-1] == 1.0
    assert np.all(np.diff(to_best) >= 0)
    # Monotone coupling: a prompt sent to the best model stays there at larger shares.
    assert np.all((a.index[1:] == 2) >= (a.index[:-1] == 2))


def test_heuristic_maps_tiers_to_models(problem) -> None:  # type: ignore[no-untyped-def]
    router = HeuristicTriage()
    router.fit(problem.training_set(slice(0, 200)))
    test = problem.training_set(slice(200, 300))
    routing = router.route(test.inputs)
    default = routing.labels.index("low->cheap medium->mid high->frontier (default)")
    assert np.array_equal(routing.index[default], problem.tiers[200:300])
    assert routing.strong_preference is not None


def test_cost_weight_sweep_runs_from_quality_to_cost() -> None:
    p = np.array([[0.9, 0.8, 0.3]])
    cost = np.array([[1.0, 0.1, 0.01]])
    weights = cost_weight_grid(cost, points=9)
    chosen = sweep_cost_weights(p, cost, weights)[:, 0]
    assert chosen[0] == 0  # weight 0: best quality
    assert chosen[-1] == 2  # largest weight: cheapest
    assert np.all(np.diff(cost[0, chosen]) <= 0)  # cost falls as the weight grows
    with pytest.raises(InvalidInputError, match="positive"):
        cost_weight_grid(np.zeros((1, 2)))


def test_oracle_picks_the_cheapest_correct_model() -> None:
    quality = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    cost = np.array([[1.0, 2.0, 3.0]] * 3)
    inputs = RouterInputs(("a", "b", "c"), np.zeros((3, 1), np.float32), MODELS, cost)
    oracle = Oracle()
    with pytest.raises(InvalidInputError, match="reveal"):
        oracle.route(inputs)
    oracle.reveal(quality, cost)
    routing = oracle.route(inputs)
    assert routing.labels[0] == "cost_weight=0"
    assert routing.index[0].tolist() == [1, 0, 0]
