"""The learned router's slot (learned_router.routing_benchmark.learned)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bench_synth import synthetic
from learned_router.errors import BundleError, InvalidInputError
from learned_router.routing_benchmark.learned import (
    LearnedRouterPredictor,
    PredictorRouter,
    load_learned_predictor,
)


class Fixed:
    def __init__(self, shape_fix: int = 0) -> None:
        self.shape_fix = shape_fix

    def predict_quality(self, prompts: Sequence[str], models: Sequence[str]) -> np.ndarray:
        return np.full((len(prompts), len(models) + self.shape_fix), 0.5)


def test_predictor_router_sweeps_its_predictions() -> None:
    inputs = synthetic(20).training_set(slice(0, 20)).inputs
    router = PredictorRouter(Fixed())
    assert isinstance(router.predictor, LearnedRouterPredictor)
    routing = router.route(inputs)
    assert routing.index.shape == (50, 20)
    assert routing.predicted_quality is not None
    # Equal predictions: weight 0 breaks ties towards the cheaper model, so always cheap.
    assert set(routing.index.ravel().tolist()) == {0}


def test_predictor_router_checks_shapes_and_protocol() -> None:
    inputs = synthetic(5).training_set(slice(0, 5)).inputs
    with pytest.raises(InvalidInputError, match="expected"):
        PredictorRouter(Fixed(shape_fix=1)).predict_quality(inputs)
    with pytest.raises(InvalidInputError, match="predict_quality"):
        PredictorRouter(object())  # type: ignore[arg-type]


def test_loading_a_missing_bundle_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no router bundle at .* \(manifest.json not found\)"):
        load_learned_predictor(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(BundleError, match="format None is not 'learned-router-bundle'"):
        load_learned_predictor(tmp_path)


def test_a_bundle_predicts_and_records_its_training_prompts(tiny_bundle: Path) -> None:
    predictor = load_learned_predictor(tiny_bundle)
    p = predictor.predict_quality(["write a poem", "review this contract"], ["small", "frontier"])
    assert p.shape == (2, 2)
    assert p[1, 0] < p[0, 0]  # the tiny bundle's "contract" signal
    assert predictor.embed(["x"]).shape == (1, 8)  # type: ignore[attr-defined]


def test_the_bench_tells_a_bundle_which_scale_grades_the_dataset(tiny_bundle: Path) -> None:
    from learned_router.routing_benchmark.learned import PredictorRouter
    from learned_router.routing_benchmark.routers import RouterInputs

    calls: list[object] = []

    class Recording:
        def predict_quality(self, prompts, models, *, quality_scale=None):  # type: ignore[no-untyped-def]
            calls.append(quality_scale)
            return np.full((len(prompts), len(models)), 0.5)

    inputs = RouterInputs(
        ("a",), np.zeros((1, 2), np.float32), ("x", "y"), np.ones((1, 2)), "judge z"
    )
    PredictorRouter(Recording()).predict_quality(inputs)
    assert calls == ["judge z"]
    bundle = load_learned_predictor(tiny_bundle)
    known = bundle.predict_quality(["hi"], ["small"], quality_scale="correct(0/1)")  # type: ignore[call-arg]
    unknown = bundle.predict_quality(["hi"], ["small"], quality_scale="never seen")  # type: ignore[call-arg]
    np.testing.assert_allclose(known, unknown)
