"""``training.lodo_diagnose.neighbour_residuals``: the exact-neighbour signals the
diagnosis measures (docs/training.md, "Exact neighbours"); and the config overrides
its ``--config`` and the protocol's ``--set`` share (``config_with``)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="lodo_diagnose trains quality models: train extra")

from training.lodo_diagnose import centroid_misses, neighbour_residuals


def _unit(*rows: list[float]) -> np.ndarray:
    x = np.array(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_mean_over_nearest_labelled_rows_with_weights_and_shrinkage() -> None:
    bank = _unit([1, 0], [1, 0.1], [0, 1])  # two rows near the query, one far
    misses = np.array([[0.2, np.nan], [0.4, 0.3], [-1.0, -1.0]])
    query = _unit([1, 0])
    tau = 0.05
    out = neighbour_residuals(query, bank, misses, k=2, tau=tau, pseudo=0.5)
    w = np.exp((bank[:2] @ query[0] - 1.0) / tau)
    # model 0: both near rows labelled; model 1: only the second; the far row is not among k=2
    assert out[0, 0] == pytest.approx((w[0] * 0.2 + w[1] * 0.4) / (w.sum() + 0.5), rel=1e-6)
    assert out[0, 1] == pytest.approx(w[1] * 0.3 / (w[1] + 0.5), rel=1e-6)
    total = neighbour_residuals(query, bank, misses, k=2, tau=tau, pseudo=0.5, total=True)
    assert total[0] == pytest.approx([w.sum(), w[1]], rel=1e-6)


def test_chunks_do_not_change_the_answer() -> None:
    rng = np.random.default_rng(0)
    bank = _unit(*rng.normal(size=(50, 8)).tolist())
    queries = _unit(*rng.normal(size=(7, 8)).tolist())
    misses = np.where(rng.random((50, 3)) < 0.3, np.nan, rng.normal(size=(50, 3)))
    whole = neighbour_residuals(queries, bank, misses, k=5, tau=0.1, pseudo=1.0, chunk=64)
    pieces = neighbour_residuals(queries, bank, misses, k=5, tau=0.1, pseudo=1.0, chunk=2)
    np.testing.assert_allclose(whole, pieces, rtol=1e-5)  # float32 BLAS blocks


def test_config_overrides_are_typed_and_unknown_fields_refused() -> None:
    from training.quality_model import QualityConfig, config_with

    config = config_with(["centroids=1024", "prior_strength=5"])
    assert (config.centroids, config.prior_strength) == (1024, 5.0)
    assert isinstance(config.centroids, int)
    assert isinstance(config.prior_strength, float)
    assert config_with(["joint_trust=true"]).joint_trust is True
    assert config_with(["joint_trust=False"]).joint_trust is False
    assert config_with([]) == QualityConfig()
    for bad in ("nope=1", "centroids", "joint_trust=yes"):
        with pytest.raises(ValueError, match="QualityConfig field"):
            config_with([bad])


def test_difficulty_kept_in_the_shrink_target() -> None:
    """With no support the prediction is the prior plus the prompt's centred difficulty
    (in full), or the prior alone once that difficulty is shrunk by a zero support;
    the ceiling ranks prompts by their true mean quality."""
    from training.lodo_diagnose import difficulty_routings
    from training.quality_model import QualityData

    from learned_router.quality import LatentQualityModel, sigmoid, tiny_arrays

    arrays = tiny_arrays(dim=3, models=2)
    arrays["centroid_counts"][:] = 0.0  # no support anywhere: every prediction shrinks fully
    model = LatentQualityModel.from_arrays(
        arrays, models=("a", "b"), sources=("s",), bandwidth=0.1, prior_strength=1.0
    )
    train = _unit([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0])
    data = QualityData(
        embeddings=train,
        labels=np.zeros((4, 2), np.float32),
        source=np.zeros(4, np.int64),
        dataset=np.array([0, 0, 0, 1]),
    )
    e = _unit([1, 0.5, 0], [0, 0.2, 1])
    cols = np.arange(2)
    irt = np.array([0.0, 1.0])
    quality = np.array([[0.9, 1.0], [0.1, 0.3]])
    out = difficulty_routings(model, data, e, cols, irt, quality)

    def shared(x: np.ndarray) -> np.ndarray:
        return -(model.features(x) @ model.difficulty.astype(np.float64))

    d_train = shared(train)
    d_bar = (d_train[:3].mean() + d_train[3]) / 2  # datasets weighted equally
    expected = sigmoid(model.prior.astype(np.float64) + (shared(e) - d_bar)[:, None])
    np.testing.assert_allclose(out["difficulty kept, in full"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        out["difficulty kept, shrunk by all support"],
        np.broadcast_to(sigmoid(model.prior.astype(np.float64)), (2, 2)),
        rtol=1e-5,
    )
    ceiling = out["IRT prior + true difficulty"]
    assert (ceiling[0] > ceiling[1]).all()  # the first prompt is the easier one
    assert ceiling[0, 1] > ceiling[0, 0]  # the IRT prior orders the models


def test_centroid_misses_sum_each_prompt_on_its_nearest_centre() -> None:
    centres = _unit([1, 0], [0, 1])
    bank = _unit([1, 0.1], [1, -0.1], [0.1, 1])  # two prompts on centre 0, one on centre 1
    misses = np.array([[0.3, np.nan], [0.1, 0.2], [-0.5, -0.4]])
    query = _unit([1, 0])
    near = centroid_misses(query, centres, bank, misses, near=1, tau=0.1, pseudo=0.0)
    np.testing.assert_allclose(near[0], [0.2, 0.2], atol=1e-6)  # centre 0 only
    both = centroid_misses(query, centres, bank, misses, near=2, tau=0.1, pseudo=1.0)
    w = np.exp((np.array([1.0, 0.0]) - 1.0) / 0.1)  # weights of centre 0 and centre 1
    expected = [
        (w[0] * 0.4 + w[1] * -0.5) / (w[0] * 2 + w[1] + 1.0),
        (w[0] * 0.2 + w[1] * -0.4) / (w[0] + w[1] + 1.0),
    ]
    np.testing.assert_allclose(both[0], expected, rtol=1e-5)


def test_validation_gate_trusts_the_network_only_where_it_beat_the_prior_nearby() -> None:
    """Near centre 0 the validation labels are what the network predicts (trust 1),
    near centre 1 its opposite (trust 0); a query near neither gets about 0."""
    from training.lodo_diagnose import _raw_logits, validation_gate
    from training.quality_model import QualityData

    from learned_router.quality import LatentQualityModel, sigmoid, tiny_arrays

    arrays = tiny_arrays(dim=3, models=2, k=2)
    model = LatentQualityModel.from_arrays(
        arrays, models=("a", "b"), sources=("s",), bandwidth=0.1, prior_strength=1.0
    )
    near_a = _unit([1, 0.05, 0], [1, 0, 0.05], [1, 0.02, 0.02])
    near_b = _unit([0.05, 1, 0], [0, 1, 0.05], [0.02, 1, 0.02])
    raw_a, raw_b = _raw_logits(model, near_a), _raw_logits(model, near_b)
    prior = model.prior.astype(np.float64)
    labels = np.vstack([sigmoid(raw_a), sigmoid(2 * prior - raw_b)]).astype(np.float32)
    labels[0, 1] = np.nan  # a missing label counts for nothing
    val = QualityData(
        embeddings=np.vstack([near_a, near_b]),
        labels=labels,
        source=np.zeros(6, np.int64),
        dataset=np.zeros(6, np.int64),
    )
    queries = _unit([1, 0.01, 0], [0.01, 1, 0], [0, 0, 1])
    gate = validation_gate(model, val, queries, pseudo=1e-6, bandwidth=0.1)
    assert gate.shape == (3, 2)
    np.testing.assert_allclose(gate[0], [1.0, 1.0], atol=0.02)
    np.testing.assert_allclose(gate[1], [0.0, 0.0], atol=0.02)
    # Far from both centres the evidence is tiny: shrunk towards 0 by 1 pseudo-row.
    far = validation_gate(model, val, queries, pseudo=1.0, bandwidth=0.1)
    assert (far[2] < 0.01).all()
    assert (far[0] > 0.5).all()
    # Columns select models.
    one = validation_gate(model, val, queries, pseudo=1e-6, bandwidth=0.1, columns=np.array([1]))
    np.testing.assert_allclose(one[:, 0], gate[:, 1])


def test_residual_spread_counts_cells_beyond_the_first_and_pools_the_rest() -> None:
    """A model graded by one set gets the pooled spread (its ability absorbs that cell);
    a model whose accuracy strays across sets gets more than one that does not."""
    from training.family_prior_study import residual_spread

    residual = np.array(
        [
            [0.5, 0.05, 0.3],  # dataset 0
            [-0.5, -0.05, 0.0],  # dataset 1 (model 2 not graded)
        ]
    )
    spread = residual_spread(residual, pseudo=2.0)
    pooled = np.mean([0.25, 0.0025, 0.09, 0.25, 0.0025])
    assert spread[0] == pytest.approx(np.sqrt((0.5 + 2 * pooled) / 3))
    assert spread[1] == pytest.approx(np.sqrt((0.005 + 2 * pooled) / 3))
    assert spread[2] == pytest.approx(np.sqrt((0.09 + 2 * pooled) / 2))
    assert spread[0] > spread[1]
