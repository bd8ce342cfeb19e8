"""Expected latency and the latency-SLO mask (learned_router.latency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from learned_router import select_models
from learned_router.catalog import Catalog, LatencyProfile, ModelSpec
from learned_router.errors import CatalogError, InvalidInputError
from learned_router.latency import LatencyTable, expected_latency_ms, within_slo

CATALOG = Catalog(
    models=(
        ModelSpec("fast-cheap", "p", 0.1, 0.4, LatencyProfile(200.0, 100.0), aliases=("fc",)),
        ModelSpec("slow-good", "p", 5.0, 15.0, LatencyProfile(800.0, 40.0)),
    ),
    version="v1",
)


@pytest.mark.parametrize(
    ("tokens", "max_ms", "expected_ms", "mask"),
    [
        ([0, 0], 1000, [200.0, 800.0], [True, True]),
        ([100, 10], 1000, [1200.0, 1050.0], [False, False]),
        ([50, 8], 1000, [700.0, 1000.0], [True, True]),  # the SLO itself is met
        ([50, 50], None, [700.0, 2050.0], [True, True]),
        ([50, 50], math.inf, [700.0, 2050.0], [True, True]),
    ],
)
def test_expected_latency_and_mask_on_a_table(
    tokens: list[float], max_ms: float | None, expected_ms: list[float], mask: list[bool]
) -> None:
    table = LatencyTable.from_catalog(CATALOG, ["fc", "slow-good"])
    assert table.expected_ms([tokens]).tolist() == [expected_ms]
    assert table.meets([tokens], max_latency_ms=max_ms).tolist() == [mask]


def test_slo_mask_excludes_the_slow_model_from_selection() -> None:
    table = LatencyTable.from_catalog(CATALOG, CATALOG.ids)
    p, cost = [[0.7, 0.95]], [[0.0001, 0.01]]
    mask = table.meets([[40, 40]], max_latency_ms=1500)  # 600 ms and 1800 ms
    assert select_models(p, cost, min_quality=0.9).index.tolist() == [1]
    assert select_models(p, cost, available=mask, min_quality=0.9).index.tolist() == [0]


@given(
    hnp.arrays(np.float64, (4, 3), elements=st.floats(0, 1e5)),
    st.floats(1, 1e6),
)
def test_mask_matches_the_formula_cell_by_cell(tokens: np.ndarray, max_ms: float) -> None:
    ttft, rate = [100.0, 250.0, 900.0], [150.0, 60.0, 25.0]
    latency = expected_latency_ms(ttft, rate, tokens)
    mask = within_slo(latency, max_latency_ms=max_ms)
    for i in range(4):
        for j in range(3):
            assert latency[i, j] == pytest.approx(ttft[j] + 1000.0 * tokens[i, j] / rate[j])
            assert mask[i, j] == (latency[i, j] <= max_ms)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: expected_latency_ms([1.0], [0.0], [[1]]), "output_tokens_per_s"),
        (lambda: expected_latency_ms([1.0, 2.0], [1.0], [[1, 1]]), "one per model"),
        (lambda: expected_latency_ms([-1.0], [1.0], [[1]]), "ttft_ms"),
        (lambda: expected_latency_ms([1.0], [1.0], [[1, 2]]), r"expected \[n_prompts, 1\]"),
        (lambda: expected_latency_ms([1.0], [1.0], [[1], [np.nan]]), r"output_tokens\[1, 0\]"),
        (lambda: expected_latency_ms([1.0], [1.0], [[-5]]), "finite and >= 0"),
        (lambda: within_slo([[1.0]], max_latency_ms=0), "must be > 0"),
        (lambda: within_slo([[1.0]], max_latency_ms=float("nan")), "max_latency_ms"),
        (lambda: within_slo([[1.0]], max_latency_ms="fast"), "max_latency_ms"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_clear_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_unknown_model_names_the_catalog() -> None:
    with pytest.raises(CatalogError, match="not in the catalog"):
        LatencyTable.from_catalog(CATALOG, ["fast-cheap", "gpt-9"])
