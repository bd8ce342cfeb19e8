"""Learning-loop benchmarks: the helpers of adaptation_ceiling and slip_threshold."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.adaptation_ceiling import blend, local_residuals


def test_local_residuals_average_the_nearest_keys_and_skip_missing_outcomes() -> None:
    keys = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    residuals = np.array([[0.4, np.nan], [0.2, -0.3], [-0.5, 0.1], [0.9, 0.9]])
    query = np.array([[1.0, 0.0]])
    # The two nearest keys are rows 0 and 1: model 0 has two residuals, model 1 one.
    out = local_residuals(query, keys, residuals, k=2, lam=0.0)
    assert out[0].tolist() == pytest.approx([0.3, -0.3])
    # Shrinkage: lam pseudo-outcomes of residual 0.
    shrunk = local_residuals(query, keys, residuals, k=2, lam=2.0)
    assert shrunk[0].tolist() == pytest.approx([0.6 / 4, -0.3 / 3])


def test_the_stack_runs_from_the_corrected_router_to_knn() -> None:
    prior = np.array([[0.5, 0.9]])
    local = np.array([[0.2, 0.3]])  # the corrected router: 0.7 and 1.0 (clipped)
    knn = np.array([[0.1, 0.4]])
    assert blend(prior, local, knn, 0.0)[0].tolist() == pytest.approx([0.7, 1.0])
    assert blend(prior, local, knn, 1.0)[0].tolist() == pytest.approx([0.1, 0.4])
    assert blend(prior, local, knn, 0.25)[0].tolist() == pytest.approx([0.55, 0.85])


def test_the_slip_check_fires_on_a_planted_drop_and_not_on_a_steady_stream() -> None:
    from benchmarks.slip_threshold import fires, stream

    rng = np.random.default_rng(0)
    assert fires(stream(rng, 200, 200, 0.5), 3.5)
    assert not fires(np.zeros(400), 3.5)
    assert not fires(stream(rng, 10, 10, 0.5), 3.5)  # too short to say
