"""Learned baselines: each beats random routing on a problem with a planted signal
(learned_router.routing_benchmark.baselines, learned_router.routing_benchmark._nn)."""

from __future__ import annotations

import numpy as np
import pytest

from bench_synth import synthetic
from learned_router.errors import InvalidInputError
from learned_router.routing_benchmark._nn import MFNet, MLPNet, NetTrainConfig
from learned_router.routing_benchmark.baselines import (
    KNNRouter,
    MatrixFactorizationRouter,
    MLPRouter,
    TfidfLogisticRouter,
)
from learned_router.routing_benchmark.harness import default_routers, score_routings
from learned_router.routing_benchmark.routers import BenchRouter, Oracle, QualityScorer, Routing


@pytest.fixture(scope="module")
def scored() -> dict[str, dict[str, float]]:
    """AIQ of every default baseline on held-out synthetic prompts."""
    problem = synthetic(900, seed=0)
    train = problem.training_set(slice(0, 500))
    val = problem.training_set(slice(500, 600))
    test = problem.training_set(slice(600, 900))
    routings: dict[str, Routing] = {}
    routers = [r for r in default_routers(seed=0) if r.name not in ("mlp", "matrix-factorisation")]
    # Smaller networks than the defaults keep the test fast; same classes.
    routers += [MLPRouter(hidden=(32,)), MatrixFactorizationRouter(dim=16)]
    for router in routers:
        router.fit(train, validation=val)
        routings[router.name] = router.route(test.inputs)
    oracle = Oracle()
    oracle.reveal(test.quality, problem.cost_usd[600:])
    routings["oracle"] = oracle.route(test.inputs)
    estimates, _ = score_routings(
        test.quality, problem.cost_usd[600:], routings, best=2, weak=0, bootstrap_resamples=0
    )
    return {name: {k: e.value for k, e in row.items()} for name, row in estimates.items()}


@pytest.mark.parametrize(
    "name", ["heuristic-triage", "knn", "mlp", "matrix-factorisation", "tfidf-logreg", "oracle"]
)
def test_every_baseline_beats_random_on_a_planted_signal(
    scored: dict[str, dict[str, float]], name: str
) -> None:
    # Random mixtures of the cheapest and the best model do not read the prompt;
    # every router that does should have a clearly higher AIQ and APGR.
    assert scored[name]["aiq"] > scored["random-mixture"]["aiq"] + 0.1
    assert scored[name]["apgr"] > scored["random-mixture"]["apgr"] + 0.1


def test_learned_baselines_approach_the_oracle(scored: dict[str, dict[str, float]]) -> None:
    for name in ("knn", "mlp", "matrix-factorisation", "tfidf-logreg"):
        assert scored[name]["gap"] > 0.3, name
        assert scored[name]["savings@0.95"] > 0.4, name


def test_scorers_refuse_to_predict_before_fit() -> None:
    inputs = synthetic(10).training_set(slice(0, 10)).inputs
    for router in (KNNRouter(), MLPRouter(), MatrixFactorizationRouter(), TfidfLogisticRouter()):
        assert isinstance(router, QualityScorer)
        assert isinstance(router, BenchRouter)
        with pytest.raises(InvalidInputError, match="fit"):
            router.predict_quality(inputs)


def test_knn_chooses_k_on_validation() -> None:
    problem = synthetic(400, seed=2)
    router = KNNRouter(k_choices=(1, 30))
    router.fit(
        problem.training_set(slice(0, 300)), validation=problem.training_set(slice(300, 400))
    )
    assert router.k == 30  # one neighbour's 0/1 outcome is a poor estimate
    p = router.predict_quality(problem.training_set(slice(300, 400)).inputs)
    assert p.shape == (100, 3)
    assert np.all((p >= 0) & (p <= 1))


def test_tfidf_handles_soft_labels_and_constant_models() -> None:
    problem = synthetic(200, seed=3)
    train = problem.training_set(slice(0, 150))
    quality = train.quality.copy()
    quality[:, 0] = 1.0  # a model that is always right
    quality[:, 1] = np.where(quality[:, 1] > 0.5, 0.75, 0.25)  # soft labels
    soft = type(train)(inputs=train.inputs, quality=quality)
    router = TfidfLogisticRouter()
    router.fit(soft)
    p = router.predict_quality(problem.training_set(slice(150, 200)).inputs)
    assert np.all(p[:, 0] == 1.0)
    assert p[:, 1].min() > 0.2
    assert p[:, 1].max() < 0.8


@pytest.mark.parametrize("net", ["mlp", "mf"])
def test_numpy_gradients_match_finite_differences(net: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    y = rng.random((6, 3))
    model: MLPNet | MFNet
    if net == "mlp":
        model = MLPNet(hidden=(5,), config=NetTrainConfig(max_epochs=1))
    else:
        model = MFNet(dim=5, config=NetTrainConfig(max_epochs=1))
    model.fit(x, y)
    params = {k: v + rng.normal(0, 0.3, size=v.shape) for k, v in model.params.items()}
    _, grads = model._gradient(params, x, y)
    eps = 1e-6
    for key, value in params.items():
        for idx in [tuple(rng.integers(0, s) for s in value.shape) for _ in range(4)]:
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            numeric = (
                metrics_bce(model._predict(plus, x), y) - metrics_bce(model._predict(minus, x), y)
            ) / (2 * eps)
            assert grads[key][idx] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (key, idx)


def metrics_bce(p: np.ndarray, y: np.ndarray) -> float:  # unclipped, for exact gradients
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_early_stopping_keeps_the_best_epoch() -> None:
    problem = synthetic(300, seed=4)
    train, val = problem.training_set(slice(0, 200)), problem.training_set(slice(200, 300))
    net = MLPNet(hidden=(16,), config=NetTrainConfig(max_epochs=60, patience=3))
    net.fit(
        np.asarray(train.inputs.embeddings, float),
        train.quality,
        x_val=np.asarray(val.inputs.embeddings, float),
        y_val=val.quality,
    )
    loss = _bce(net.predict(np.asarray(val.inputs.embeddings, float)), val.quality)
    base = _bce(np.broadcast_to(train.quality.mean(axis=0), val.quality.shape), val.quality)
    assert loss < base  # better than predicting each model's base rate


def _bce(p: np.ndarray, y: np.ndarray) -> float:
    from learned_router.routing_benchmark._nn import bce

    return bce(np.asarray(p, float), y)


def test_the_best_fixed_choice_reads_no_prompt_and_sits_at_the_zero_router(
    scored: dict[str, dict[str, float]],
) -> None:
    # Each model's mean on train, the same for every prompt: on the planted signal every
    # router that reads the prompt is clearly ahead, and it stays at the hull of the
    # single models' points (the zero router), chosen here without hindsight.
    for name in ("knn", "mlp", "matrix-factorisation", "tfidf-logreg"):
        assert scored[name]["aiq"] > scored["best-fixed"]["aiq"] + 0.05, name
    assert abs(scored["best-fixed"]["aiq_over_zero"]) < 0.02
    assert scored["best-fixed"]["aiq"] > scored["random-mixture"]["aiq"]
