"""Input drift: the share of prompts far from every training prompt, against a reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from learned_router.drift import DriftAlert, DriftMonitor, InputDriftWatch, InputReference
from learned_router.drift.inputs import INPUTS, binomial_upper_tail, critical_count, novelty
from learned_router.errors import InvalidInputError

DIM = 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _training_like(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """Prompts scattered around the training centres."""
    pick = centres[rng.integers(0, len(centres), n)]
    return _unit(pick + 0.25 * rng.normal(size=(n, DIM)))


@pytest.fixture
def world() -> tuple[np.random.Generator, np.ndarray, InputReference]:
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(8, DIM)))
    held_out = _training_like(rng, centres, 4000)
    # As training does it: the 95th percentile of held-out prompts' novelty.
    threshold = float(np.quantile(novelty(held_out, centres), 0.95))
    return rng, centres, InputReference(centroids=centres, threshold=threshold)


def test_the_binomial_tail_is_exact() -> None:
    for n, p in ((10, 0.05), (40, 0.3), (200, 0.05)):
        for k in (0, 1, 3, int(n * p) + 2, n):
            direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
            assert binomial_upper_tail(k, n, p) == pytest.approx(direct, rel=1e-9, abs=1e-300)
    k = critical_count(200, 0.05, 1e-4)
    assert binomial_upper_tail(k, 200, 0.05) <= 1e-4 < binomial_upper_tail(k - 1, 200, 0.05)


def test_traffic_like_the_training_prompts_raises_no_alarm(world) -> None:
    rng, centres, reference = world
    watch = InputDriftWatch(reference, window=200, horizon=50_000)
    for start in range(0, 50_000, 1000):
        batch = _training_like(rng, centres, 1000)
        assert watch.observe([f"r{start + i}" for i in range(1000)], batch) == []
    assert watch.seen == 50_000
    assert watch.status()["alarms"] == 0


def test_a_new_kind_of_traffic_raises_one_alert_with_its_size_and_evidence(world) -> None:
    rng, centres, reference = world
    far = _unit(rng.normal(size=(1, DIM)) - centres.sum(0, keepdims=True))
    watch = InputDriftWatch(reference, window=200, horizon=50_000)
    before = _training_like(rng, centres, 2000)
    assert watch.observe([f"a{i}" for i in range(2000)], before) == []
    # From request 2000 on, 30% of prompts are of a kind training never saw.
    alerts: list[DriftAlert] = []
    for start in range(2000, 6000, 100):
        batch = _training_like(rng, centres, 100)
        novel = rng.random(100) < 0.3
        batch[novel] = _unit(far + 0.1 * rng.normal(size=(int(novel.sum()), DIM)))
        ids = [f"{'new' if n else 'old'}{start + i}" for i, n in enumerate(novel)]
        alerts += watch.observe(ids, batch, at_request=start)
    assert len(alerts) == 1  # the new level becomes the reference: one lasting shift, one alert
    (alert,) = alerts
    assert alert.model == INPUTS
    assert alert.signal == "input_novelty"
    assert alert.at_request is not None
    assert alert.at_request < 2000 + 2 * 200
    assert alert.baseline == pytest.approx(0.05)
    low, high = alert.interval
    assert low < alert.magnitude < high
    assert low > 0.1
    assert sum(e.startswith("new") for e in alert.evidence_ids) >= 0.8 * len(alert.evidence_ids)


def test_the_monitor_watches_a_routers_inputs_and_reports_them(tiny_bundle: Path) -> None:
    from learned_router.router import Router

    router = Router.load(tiny_bundle)
    ids, _counts = router.encoder.token_ids_and_counts(["x"])
    dim = router.encoder.embed_ids(ids).shape[1]
    # A reference so tight that every prompt is novel: the first window must alarm.
    reference = InputReference(centroids=np.eye(1, dim, dtype=np.float32), threshold=-1.0)
    seen: list[DriftAlert] = []
    monitor = DriftMonitor(sinks=[seen.append], inputs=InputDriftWatch(reference, window=20))
    monitor.attach(router)
    assert router.corrections is monitor.corrections
    router.route_batch([f"summarise note {i}" for i in range(30)], min_quality=0.5)
    assert monitor.inputs is not None
    assert monitor.inputs.seen == 30
    assert [a.model for a in seen] == [INPUTS]
    assert seen[0] in monitor.alerts
    assert any(row["signal"] == "input_novelty" for row in monitor.status())


def test_a_bundle_without_a_reference_says_how_to_get_one(tiny_bundle: Path) -> None:
    from learned_router.router import Router

    quality = Router.load(tiny_bundle).quality
    if getattr(quality, "novelty_reference", None) is not None:
        pytest.skip("the tiny bundle carries a reference")
    with pytest.raises(InvalidInputError, match="retrain"):
        InputReference.from_quality_model(quality)
    with pytest.raises(InvalidInputError, match="no input drift"):
        DriftMonitor(sinks=[]).observe_inputs(["a"], np.zeros((1, 4), np.float32))


def test_bad_settings_and_mismatched_batches_are_refused(world) -> None:
    _rng, centres, reference = world
    with pytest.raises(InvalidInputError, match="window"):
        InputDriftWatch(reference, window=5)
    watch = InputDriftWatch(reference)
    with pytest.raises(InvalidInputError, match="request ids"):
        watch.observe(["a", "b"], centres[:1])
