"""Expected costs against hand-computed values (learned_router.costs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learned_router import data
from learned_router.catalog import Catalog
from learned_router.costs import expected_cost_usd, log_costs
from learned_router.errors import InvalidInputError
from learned_router.tokens import OutputLengthModel, TokenCounter
from logs import write
from test_catalog import BASE

PRICES = Catalog.from_dict(BASE).prices(["frontier", "ours-8b"])


def test_interactive_cost_is_tokens_times_list_price() -> None:
    cost = expected_cost_usd([1000, 10], [[100, 100], [0, 1000]], PRICES)
    ours_in, ours_out = PRICES["input"][1], PRICES["output"][1]
    assert cost[0, 0] == pytest.approx((1000 * 10 + 100 * 30) / 1e6)
    assert cost[0, 1] == pytest.approx((1000 * ours_in + 100 * ours_out) / 1e6)
    assert cost[1, 0] == pytest.approx(10 * 10 / 1e6)


def test_batch_discount_and_cached_prefix() -> None:
    batch = expected_cost_usd([1000], [[100, 100]], PRICES, priority="batch")
    assert batch[0, 0] == pytest.approx(0.5 * (1000 * 10 + 100 * 30) / 1e6)
    assert batch[0, 1] == pytest.approx(expected_cost_usd([1000], [[100, 100]], PRICES)[0, 1])
    cached = expected_cost_usd([1000], [[100, 100]], PRICES, cached_input_tokens=[600])
    assert cached[0, 0] == pytest.approx((400 * 10 + 600 * 5 + 100 * 30) / 1e6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_tokens": [[1, 2], [3, 4]]}, "output_tokens"),
        ({"cached_input_tokens": [2000]}, "cached_input_tokens"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"output_tokens": [[1, 2]]}
    args.update(kwargs)
    output = args.pop("output_tokens")
    with pytest.raises(InvalidInputError, match=message):
        expected_cost_usd([1000], output, PRICES, **args)  # type: ignore[arg-type]


def test_log_costs_use_real_costs_where_logged(tmp_path: Path) -> None:
    rows = [
        {
            "prompt_id": "1",
            "prompt": "hello world",
            "model": "frontier",
            "quality": 1,
            "cost_usd": 0.5,
            "output_tokens": 4,
        },
        {
            "prompt_id": "1",
            "prompt": "hello world",
            "model": "ours-8b",
            "quality": 1,
            "output_tokens": 8,
        },
    ]
    log = data.load(write(tmp_path / "log.jsonl", rows))
    matrix = log.matrix(["frontier", "ours-8b"])
    costs = log_costs(matrix, Catalog.from_dict(BASE), OutputLengthModel.fit(log))
    assert costs.is_real.tolist() == [[True, False]]
    assert costs.cost_usd[0, 0] == 0.5
    n_in = TokenCounter().count(["hello world"])[0]
    assert costs.estimated_usd[0, 0] == pytest.approx((n_in * 10 + 4 * 30) / 1e6)
    assert costs.cost_usd[0, 1] == pytest.approx(
        (n_in * PRICES["input"][1] + 8 * PRICES["output"][1]) / 1e6
    )
    assert "real cost_usd where logged (50% of cells)" in costs.method
    assert np.all(costs.output_tokens == [[4, 8]])
