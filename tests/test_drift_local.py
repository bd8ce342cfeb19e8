"""The tenant corrections' per-prompt term: residuals of the tenant's outcomes near a prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learned_router.drift import Corrections, CorrectionsFileError
from learned_router.drift.local import LocalResiduals
from learned_router.errors import InvalidInputError
from learned_router.router import Router

DIM = 6


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_local_term_matches_the_formula_by_hand() -> None:
    rng = np.random.default_rng(0)
    memory = LocalResiduals(DIM, capacity=100)
    keys = [_unit(rng.standard_normal(DIM)) for _ in range(12)]
    owners = ["a", "b", "a", "c"] * 3
    predicted = rng.uniform(0.1, 0.9, 12)
    residual = rng.uniform(-0.5, 0.5, 12)
    for key, owner, p, r in zip(keys, owners, predicted, residual, strict=True):
        memory.add(key * 3.0, owner, float(p), float(r))  # stored as unit rows
    table = np.array([[0.01, 0.02, 0.03, 0.04, 0.05], [-0.1] * 5, [0.2] * 5])  # a, b, c
    query = _unit(rng.standard_normal(DIM))
    k, tau, pseudo, pooled = 5, 0.3, 2.0, 0.5
    got = memory.shift(
        query[None] * 2.0,
        ["a", "c", "z"],
        table,
        k=k,
        tau=tau,
        pseudo=pseudo,
        pooled=pooled,
        bands=5,
    )[0]
    cos = np.array([float(query @ key) for key in keys])
    near = np.argsort(-cos)[:k]
    row = {"a": 0, "b": 1, "c": 2}
    d = {i: residual[i] - table[row[owners[i]], min(4, int(predicted[i] * 5))] for i in near}
    w = {i: np.exp((cos[i] - 1) / tau) for i in near}
    pool = sum(w[i] * d[i] for i in near) / (sum(w.values()) + pseudo)
    want = []
    for model in ("a", "c", "z"):
        mine = [i for i in near if owners[i] == model]
        want.append(
            (sum(w[i] * d[i] for i in mine) + pseudo * pooled * pool)
            / (sum(w[i] for i in mine) + pseudo)
        )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def _two_regions() -> tuple[Corrections, np.ndarray, np.ndarray]:
    """A tenant whose outcomes say: model "m" fails near ``a`` and succeeds near ``b``."""
    rng = np.random.default_rng(1)
    corrections = Corrections(local_k=20, local_pseudo=2.0)
    a, b = np.eye(DIM, dtype=np.float32)[0], np.eye(DIM, dtype=np.float32)[1]
    for _ in range(30):
        for centre, observed in ((a, 0.0), (b, 1.0)):
            noise = 0.05 * rng.standard_normal(DIM).astype(np.float32)
            corrections.observe(
                "m", predicted=0.5, observed=observed, tenant="t", embedding=centre + noise
            )
    return corrections, a, b


def test_outcomes_near_a_prompt_move_that_prompt_only() -> None:
    corrections, a, b = _two_regions()
    p = np.full((2, 2), 0.5)
    local = corrections.apply(p, ["m", "other"], tenant="t", embeddings=np.stack([a, b]))
    plain = corrections.apply(p, ["m", "other"], tenant="t")
    # Globally the tenant's residual averages to zero: nothing moves without embeddings.
    np.testing.assert_allclose(plain, p, atol=1e-9)
    assert local[0, 0] < 0.2
    assert local[1, 0] > 0.95
    # A model with no outcomes near the prompt gets only the pooled share (0 by default).
    np.testing.assert_allclose(local[:, 1], 0.5, atol=1e-9)
    # Another tenant and a term switched off see none of it.
    np.testing.assert_allclose(
        corrections.apply(p, ["m", "other"], tenant="u", embeddings=np.stack([a, b])), p
    )


def test_local_term_does_not_depend_on_the_batch() -> None:
    corrections, a, b = _two_regions()
    rng = np.random.default_rng(2)
    queries = rng.standard_normal((9, DIM)).astype(np.float32)
    queries[0], queries[1] = a, b
    p = rng.uniform(0.2, 0.8, (9, 2))
    batch = corrections.apply(p, ["m", "other"], tenant="t", embeddings=queries)
    alone = np.vstack(
        [
            corrections.apply(
                p[i : i + 1], ["m", "other"], tenant="t", embeddings=queries[i : i + 1]
            )
            for i in range(9)
        ]
    )
    np.testing.assert_allclose(batch, alone, atol=1e-12)


def test_local_term_is_bounded_and_the_ring_keeps_the_latest() -> None:
    corrections = Corrections(local_k=5, local_pseudo=0.01, max_shift=0.25, local_capacity=4)
    e = np.eye(DIM, dtype=np.float32)[0]
    for _ in range(10):
        corrections.observe("m", predicted=0.9, observed=1.0, tenant="t", embedding=e)
    for _ in range(4):  # overwrite the whole ring with failures
        corrections.observe("m", predicted=0.9, observed=0.0, tenant="t", embedding=e)
    memory = corrections._local["t"]
    assert memory.size == 4
    assert memory.count == 14
    assert (memory.residual[:4] == -0.9).all()
    out = corrections.apply(np.array([[0.9]]), ["m"], tenant="t", embeddings=e[None])
    plain = corrections.apply(np.array([[0.9]]), ["m"], tenant="t")
    assert out[0, 0] == pytest.approx(plain[0, 0] - 0.25)  # the local part alone is bounded


def test_local_memory_survives_a_restart_and_reset_forgets_it(tmp_path: Path) -> None:
    corrections, a, b = _two_regions()
    corrections.local_capacity = 4096
    path = corrections.save(tmp_path / "corrections.json")
    loaded = Corrections.load(path)
    p = np.full((2, 1), 0.5)
    queries = np.stack([a, b])
    np.testing.assert_allclose(
        loaded.apply(p, ["m"], tenant="t", embeddings=queries),
        corrections.apply(p, ["m"], tenant="t", embeddings=queries),
        atol=1e-3,  # keys are stored as float16
    )
    # New outcomes after a reload continue the ring where it stopped.
    loaded.observe("m", predicted=0.5, observed=1.0, tenant="t", embedding=a)
    assert loaded._local["t"].size == 61
    loaded.reset("t")
    np.testing.assert_allclose(loaded.apply(p, ["m"], tenant="t", embeddings=queries), p)


def test_damaged_local_memory_is_refused_with_the_file_named(tmp_path: Path) -> None:
    corrections, _, _ = _two_regions()
    path = corrections.save(tmp_path / "corrections.json")
    state = json.loads(path.read_text())
    state["local"]["t"]["residual"] = state["local"]["t"]["residual"][:-1]
    path.write_text(json.dumps(state))
    with pytest.raises(CorrectionsFileError, match=r"corrections\.json"):
        Corrections.load(path)


def test_bad_local_settings_and_embeddings_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="local_k"):
        Corrections(local_k=-1)
    corrections, _, _ = _two_regions()
    with pytest.raises(InvalidInputError, match="dimension 3"):
        corrections.observe(
            "m", predicted=0.5, observed=1.0, tenant="t", embedding=np.ones(3, np.float32)
        )
    with pytest.raises(InvalidInputError, match="NaN"):
        corrections.observe(
            "m", predicted=0.5, observed=1.0, tenant="t", embedding=np.full(DIM, np.nan)
        )
    with pytest.raises(InvalidInputError, match="embeddings of shape"):
        corrections.apply(
            np.full((1, 1), 0.5), ["m"], tenant="t", embeddings=np.ones((1, 3), np.float32)
        )
    # Nothing half-applied: the memory still holds the 60 good outcomes only.
    assert corrections._local["t"].size == 60


def test_the_router_passes_each_prompts_embedding_to_the_hook(tiny_bundle: Path) -> None:
    corrections = Corrections(local_k=10, local_pseudo=1.0, prior_strength=1000)
    router = Router.load(
        tiny_bundle, capacity=False, corrections=corrections, policy={"quality_fraction": 0.95}
    )
    models = ["small", "mid", "frontier"]
    hard = "Prove the lemma about spectral gaps"
    assert router.route(hard, candidates=models).model == "small"
    embedding = router.encoder.embed([hard])[0]
    for _ in range(20):  # "small" fails on prompts like the hard one
        corrections.observe(
            "small", predicted=0.9, observed=0.0, tenant="acme", embedding=embedding
        )
    assert router.route(hard, candidates=models, tenant="acme").model != "small"
    assert router.route(hard, candidates=models, tenant="other").model == "small"


def test_an_attached_monitor_learns_the_local_term_from_recorded_outcomes(
    tiny_bundle: Path,
) -> None:
    from learned_router.drift import DriftMonitor

    corrections = Corrections(local_k=10, local_pseudo=1.0, prior_strength=1000)
    router = Router.load(
        tiny_bundle, capacity=False, corrections=corrections, policy={"quality_fraction": 0.95}
    )
    monitor = DriftMonitor(corrections=corrections, adapt=True, sinks=[])
    monitor.attach(router)
    models = ["small", "mid", "frontier"]
    hard = "Prove the lemma about spectral gaps"
    for _ in range(20):  # the service records each decision's outcome by its id
        decision = router.route(hard, candidates=models, tenant="acme")
        monitor.observe_outcome(
            decision.decision_id,
            decision.model,
            predicted=0.9,
            observed=0.0,
            tenant="acme",
        )
    memory = corrections._local["acme"]
    assert memory.size == 20
    np.testing.assert_allclose(memory.keys[0], _unit(router.encoder.embed([hard])[0]), atol=1e-6)
    assert not monitor._recent  # each kept embedding is used once, then dropped
    # Every model it was routed to failed there: each is rated far lower for this
    # tenant than for another (which of the three then wins is a near tie).
    learned = router.route(hard, candidates=models, tenant="acme")
    fresh = router.route(hard, candidates=models, tenant="other")
    for model in models:
        assert learned.candidate(model).p_success < fresh.candidate(model).p_success - 0.3


def test_the_bundles_own_support_shrinks_the_local_term() -> None:
    corrections, a, b = _two_regions()
    p = np.full((2, 1), 0.5)
    queries = np.stack([a, b])
    bare = corrections.apply(p, ["m"], tenant="t", embeddings=queries)
    unseen = corrections.apply(p, ["m"], tenant="t", embeddings=queries, support=np.zeros((2, 1)))
    np.testing.assert_allclose(unseen, bare)  # no training labels near: the tenant leads
    familiar = corrections.apply(
        p, ["m"], tenant="t", embeddings=queries, support=np.full((2, 1), 300.0)
    )
    # Hundreds of labelled training prompts near each: the same outcomes move it little.
    assert np.all(np.abs(familiar - 0.5) < 0.1 * np.abs(bare - 0.5))
    with pytest.raises(InvalidInputError, match="support of shape"):
        corrections.apply(p, ["m"], tenant="t", embeddings=queries, support=np.zeros((2, 3)))
