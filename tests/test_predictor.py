"""The quality model at serving time (learned_router.predictor): the mlp-heads
arithmetic, the QualityModel interface and the factory keyed on heads.kind."""

from __future__ import annotations

import numpy as np
import pytest

from learned_router.errors import BundleError, InvalidInputError
from learned_router.predictor import (
    HeadWeights,
    PlattCalibration,
    QualityPredictor,
    StoredQuality,
    gelu_tanh,
    quality_kinds,
    quality_model_from_stored,
)

MODELS = ("a", "b", "c")
SCALES = ("correct(0/1)", "judge win rate")


def _predictor(seed: int = 0) -> QualityPredictor:
    rng = np.random.default_rng(seed)
    heads = HeadWeights(
        rng.normal(size=(4, 5)).astype(np.float32),
        rng.normal(size=5).astype(np.float32),
        rng.normal(size=(3, 5)).astype(np.float32),
        rng.normal(size=3).astype(np.float32),
        rng.normal(size=(2, 3)).astype(np.float32),
    )
    return QualityPredictor(
        MODELS,
        SCALES,
        heads,
        PlattCalibration(np.array([1.0, 0.5, 2.0]), np.array([0.0, 0.3, -1.0])),
    )


def _reference(q: QualityPredictor, x: np.ndarray, scale: int | None) -> np.ndarray:
    """The formula of the module docstring, in float64."""
    h = q.heads
    hidden = x.astype(np.float64) @ h.trunk_weight + h.trunk_bias
    hidden = 0.5 * hidden * (1 + np.tanh(np.sqrt(2 / np.pi) * (hidden + 0.044715 * hidden**3)))
    logit = hidden @ h.model_vectors.T + h.model_bias
    if scale is not None:
        logit = logit + h.scale_offsets[scale]
    return 1 / (1 + np.exp(-(q.calibration.a * logit + q.calibration.b)))


@pytest.mark.parametrize("scale", [None, "correct(0/1)", "judge win rate"])
def test_p_success_follows_the_formula(scale: str | None) -> None:
    q = _predictor()
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    index = None if scale is None else SCALES.index(scale)
    np.testing.assert_allclose(q.p_success(x, scale=scale), _reference(q, x, index), rtol=1e-4)
    prediction = q.predict(x, models=["c", "a"], scale=scale)
    np.testing.assert_allclose(prediction.p_success, _reference(q, x, index)[:, [2, 0]], rtol=1e-4)
    assert prediction.support is None
    assert prediction.output_tokens is None


def test_gelu_tanh_matches_known_values() -> None:
    out = gelu_tanh(np.array([-3.0, 0.0, 1.0], np.float32))
    np.testing.assert_allclose(out, [-0.00363739, 0.0, 0.84119199], atol=1e-6)


def test_bad_calls_name_what_is_wrong() -> None:
    q = _predictor()
    with pytest.raises(InvalidInputError, match=r"expected shape \[n, 4\]"):
        q.p_success(np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidInputError, match="unknown quality scale 'elo'"):
        q.p_success(np.zeros((2, 4), np.float32), scale="elo")
    with pytest.raises(InvalidInputError, match="model 'zeta' has no quality head"):
        q.columns(["a", "zeta"])


def test_stored_round_trip_and_factory() -> None:
    q = _predictor()
    assert "mlp-heads" in quality_kinds()
    again = quality_model_from_stored("mlp-heads", q.to_stored(), MODELS, SCALES)
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.p_success(x), q.p_success(x))
    with pytest.raises(BundleError, match="kind 'irt' is unknown"):
        quality_model_from_stored("irt", q.to_stored(), MODELS, SCALES)
    with pytest.raises(BundleError, match="no per-model Platt a and b"):
        quality_model_from_stored(
            "mlp-heads", StoredQuality(q.to_stored().arrays, {}), MODELS, SCALES
        )
    with pytest.raises(BundleError, match=r"heads\.npz lacks"):
        quality_model_from_stored(
            "mlp-heads", StoredQuality({}, q.to_stored().calibration), MODELS, SCALES
        )
    with pytest.raises(BundleError, match="they must agree"):
        quality_model_from_stored("mlp-heads", q.to_stored(), ("a", "b"), SCALES)


def test_with_model_adds_one_head_and_keeps_the_others() -> None:
    q = _predictor()
    grown = q.with_model("d", np.ones(5), -0.5)
    x = np.random.default_rng(3).normal(size=(4, 4)).astype(np.float32)
    np.testing.assert_array_equal(grown.p_success(x)[:, :3], q.p_success(x))
    features = q.heads.features(x).astype(np.float64)
    expected = 1 / (1 + np.exp(-(features.sum(axis=1) - 0.5)))  # identity calibration
    np.testing.assert_allclose(grown.p_success(x, models=["d"])[:, 0], expected, rtol=1e-4)
    # a new model has no offset on any scale
    np.testing.assert_allclose(
        grown.p_success(x, models=["d"], scale="judge win rate"), grown.p_success(x, models=["d"])
    )
    with pytest.raises(InvalidInputError, match="4 values, the heads have 5"):
        q.with_model("e", np.ones(4), 0.0)
