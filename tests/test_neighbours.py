"""The neighbour bank (``learned_router.neighbours``): the quality model's own misses
on its labelled training prompts, read near a prompt and gated by the model's trust."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from learned_router.bundle import Bundle
from learned_router.errors import BundleError
from learned_router.neighbours import NO_LABEL, NeighbourMisses
from learned_router.quality import LatentQualityModel, tiny_arrays


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _bank(seed: int = 0, n: int = 60, dim: int = 6, models: int = 3, **settings: float) -> tuple:
    rng = np.random.default_rng(seed)
    embeddings = _unit(rng.normal(size=(n, dim)))
    misses = np.round(rng.uniform(-0.8, 0.8, size=(n, models)), 2)
    misses[rng.random((n, models)) < 0.3] = np.nan  # not graded
    options = {"dims": dim, "k": 7, "tau": 0.2, "pseudo": 0.5} | settings
    bank = NeighbourMisses.build(
        embeddings,
        misses,
        dims=int(options["dims"]),
        k=int(options["k"]),
        tau=options["tau"],
        pseudo=options["pseudo"],
    )
    return bank, embeddings, misses


def _by_hand(bank: NeighbourMisses, query: np.ndarray, misses: np.ndarray) -> np.ndarray:
    """The module docstring's formula, written out on the decoded bank."""
    decoded = bank.codes.astype(np.float64) * bank.step
    decoded /= np.linalg.norm(decoded, axis=1, keepdims=True)
    q = (query.astype(np.float64) - bank.mean) @ bank.axes.astype(np.float64)
    q /= np.linalg.norm(q)
    cos = decoded @ q
    near = np.argsort(-cos)[: bank.k]
    w = np.exp((cos[near] - 1.0) / bank.tau)
    quantised = np.round(misses[near] * 127) / 127  # int8 steps, NaN stays NaN
    graded = ~np.isnan(quantised)
    return (w @ np.where(graded, quantised, 0.0)) / (w @ graded + bank.pseudo)


def test_shift_is_the_weighted_mean_miss_of_the_nearest_graded_prompts() -> None:
    bank, _, misses = _bank()
    queries = _unit(np.random.default_rng(1).normal(size=(5, 6)))
    got = bank.shift(queries, np.arange(3))
    for i, query in enumerate(queries):
        np.testing.assert_allclose(got[i], _by_hand(bank, query, misses), atol=1e-9)
    # A subset and reordering of the models reads the same columns.
    np.testing.assert_allclose(bank.shift(queries, np.array([2, 0])), got[:, [2, 0]], atol=1e-12)
    # Not graded is not a zero miss: a model graded nowhere gets no shift at all.
    silent = dataclasses.replace(
        bank, misses=np.hstack([bank.misses, np.full((len(misses), 1), NO_LABEL, np.int8)])
    )
    assert np.all(silent.shift(queries, np.array([3])) == 0.0)


def test_pseudo_counts_shrink_the_shift_towards_zero() -> None:
    light, embeddings, _ = _bank(pseudo=0.0)
    heavy = dataclasses.replace(light, pseudo=1000.0)
    query = embeddings[:1]
    assert np.abs(heavy.shift(query, np.arange(3))).max() < 0.01
    assert np.abs(light.shift(query, np.arange(3))).max() > 0.05


def test_a_prompt_gets_the_same_shift_alone_and_in_any_batch() -> None:
    bank, _, _ = _bank(n=400, dim=16, dims=8, k=50)
    queries = _unit(np.random.default_rng(2).normal(size=(70, 16)))
    cols = np.arange(3)
    together = bank.shift(queries, cols, chunk=64)
    alone = np.vstack([bank.shift(queries[i : i + 1], cols) for i in range(len(queries))])
    np.testing.assert_allclose(together, alone, atol=1e-12, rtol=0)


def _model_with_bank(*, joint: bool) -> LatentQualityModel:
    """Two models; m0 graded near e_0 (10 labels), m1 nowhere; a bank of prompts
    at e_0 where both models were graded, m0 missing by +0.2 and m1 by -0.2."""
    arrays = tiny_arrays(dim=3, models=2)
    embeddings = _unit(np.array([[1.0, 0.0, 0.0]] * 4 + [[0.0, 1.0, 0.0]] * 4))
    misses = np.array([[0.2, -0.2]] * 4 + [[np.nan, np.nan]] * 4)
    bank = NeighbourMisses.build(embeddings, misses, dims=3, k=4, tau=0.1, pseudo=0.0)
    return LatentQualityModel.from_arrays(
        arrays,
        models=("m0", "m1"),
        sources=("s",),
        bandwidth=0.1,
        prior_strength=0.01,
        joint_trust=joint,
        neighbours=bank,
    )


def test_the_misses_count_only_as_far_as_the_trust_goes() -> None:
    near = np.array([[1.0, 0.0, 0.0]], np.float32)
    per_model = _model_with_bank(joint=False)
    plain = dataclasses.replace(per_model, neighbours=None)
    # m0 is supported near e_0: its miss moves it; m1 has no support, so none of its own.
    before = plain.p_success(near)[0]
    moved = per_model.p_success(near)[0] - before
    assert moved[0] == pytest.approx(min(0.2, 1 - 1e-4 - before[0]), abs=0.01)
    assert moved[0] > 0.01
    assert moved[1] == pytest.approx(0.0, abs=1e-3)
    # Jointly, the unsupported m1 closes the gate for both ...
    joint = _model_with_bank(joint=True)
    np.testing.assert_allclose(
        joint.p_success(near)[0],
        dataclasses.replace(joint, neighbours=None).p_success(near)[0],
        atol=1e-3,
    )
    # ... and m0 alone is corrected as before.
    alone = joint.p_success(near, models=["m0"])[0, 0]
    assert alone == pytest.approx(per_model.p_success(near)[0, 0], abs=1e-6)


def test_the_bank_travels_with_the_bundle_arrays_and_bad_ones_are_refused() -> None:
    model = _model_with_bank(joint=True)
    stored = model.to_stored()
    assert stored.calibration["neighbours"] == {"k": 4, "tau": 0.1, "pseudo": 0.0}
    back = LatentQualityModel.from_stored(stored, model.models, model.scales)
    near = np.array([[1.0, 0.0, 0.0]], np.float32)
    np.testing.assert_array_equal(
        back.p_success(near, models=["m0"]), model.p_success(near, models=["m0"])
    )
    arrays = dict(stored.arrays)
    short = {**arrays, "neighbour_misses": arrays["neighbour_misses"][:, :1]}
    with pytest.raises(BundleError, match="neighbour_misses has shape"):
        LatentQualityModel.from_stored(
            dataclasses.replace(stored, arrays=short), model.models, model.scales
        )
    missing = {k: v for k, v in arrays.items() if k != "neighbour_codes"}
    with pytest.raises(BundleError, match="neighbour_codes"):
        LatentQualityModel.from_stored(
            dataclasses.replace(stored, arrays=missing), model.models, model.scales
        )
    bad_k = {**stored.calibration, "neighbours": {"k": 99, "tau": 0.1, "pseudo": 0.0}}
    with pytest.raises(BundleError, match="k=99"):
        LatentQualityModel.from_stored(
            dataclasses.replace(stored, calibration=bad_k), model.models, model.scales
        )
    # An older bundle (no "neighbours") loads without a bank.
    old = {k: v for k, v in stored.calibration.items() if k != "neighbours"}
    plain = LatentQualityModel.from_stored(
        dataclasses.replace(stored, calibration=old), model.models, model.scales
    )
    assert plain.neighbours is None


def test_an_added_model_starts_with_no_misses() -> None:
    model = _model_with_bank(joint=False)
    bigger = model.with_model(
        "m2",
        ability=0.0,
        vector=np.zeros(3),
        prior=0.0,
        centroid_counts=np.array([10.0, 0.0]),
        length_offset=0.0,
    )
    assert bigger.neighbours is not None
    near = np.array([[1.0, 0.0, 0.0]], np.float32)
    assert bigger.neighbours.shift(near, np.array([2]))[0, 0] == 0.0
    np.testing.assert_allclose(
        bigger.p_success(near, models=["m0", "m1"]), model.p_success(near), atol=1e-12
    )


def test_the_shipped_bundle_carries_a_bank_that_moves_its_predictions() -> None:
    shipped = Path(__file__).resolve().parents[1] / "models" / "default"
    quality = Bundle.load(shipped).quality_model()
    assert isinstance(quality, LatentQualityModel)
    assert quality.neighbours is not None
    assert quality.neighbours.misses.shape[1] == len(quality.models)
    # Its own bank prompts, decoded, are neighbours of something: on prompts from the
    # training distribution the shift is not zero for the models graded there.
    bank = quality.neighbours
    codes = bank.codes[:50].astype(np.float64) * bank.step
    back = codes @ bank.axes.T.astype(np.float64) + bank.mean
    embeddings = _unit(back)
    graded = np.flatnonzero((bank.misses[:50] != NO_LABEL).any(0))
    assert np.abs(bank.shift(embeddings, graded)).max() > 0.01


def test_training_measures_each_models_misses_on_its_own_trust_and_scale() -> None:
    """The bank's misses are label minus the model's own prediction on the label's
    source scale, each model on its own trust: under joint trust over every model a
    model graded in one region only would hold all the others at their priors
    elsewhere, and the misses would be measured against the priors."""
    pytest.importorskip("torch", reason="trains a quality model: train extra")
    from training.quality_model import (
        QualityConfig,
        QualityData,
        fit_quality_model,
        fitted_on_own_scale,
    )

    rng = np.random.default_rng(0)
    n = 1200
    e = _unit(rng.normal(size=(n, 4)))
    z = np.array([-1.0, 0.0, 1.0])[None, :] - 1.5 * e[:, :1]
    labels = (rng.random((n, 3)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    labels[e[:, 1] < 0.5, 2] = np.nan  # m2 graded in one region only
    source = (np.arange(n) % 2).astype(np.int64)
    data = QualityData(e, labels, source, source)
    config = QualityConfig(
        hidden=8, epochs=5, centroids=16, seed=0, joint_trust=True, neighbour_k=20, neighbour_dims=4
    )
    model, _ = fit_quality_model(data, None, ["m0", "m1", "m2"], ["a", "b"], [0, 1, 2], config)
    bank = model.neighbours
    assert bank is not None
    assert (bank.k, bank.codes.shape) == (20, (n, 4))
    decoded = np.where(bank.misses == NO_LABEL, np.nan, bank.misses / 127.0)
    expected = labels - fitted_on_own_scale(model, data)
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(labels))
    np.testing.assert_allclose(decoded, expected, atol=0.5 / 127 + 1e-6)
    # A training set larger than the cap gets a seeded sample of its rows.
    capped = dataclasses.replace(config, neighbour_max_prompts=300)
    small, _ = fit_quality_model(data, None, ["m0", "m1", "m2"], ["a", "b"], [0, 1, 2], capped)
    assert small.neighbours is not None
    assert small.neighbours.size == 300
    # Against the joint predictions over all three models the misses would differ.
    outside = e[:, 1] < 0.5
    joint = np.full(labels.shape, np.nan)
    for k, name in enumerate(("a", "b")):
        on = outside & (source == k)
        joint[on] = dataclasses.replace(model, neighbours=None).predict(e[on], scale=name).p_success
    gap = np.nanmax(np.abs(joint[outside][:, :2] - (labels - expected)[outside][:, :2]))
    assert gap > 0.01  # 0 when the misses were measured against the joint predictions
