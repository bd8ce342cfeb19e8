"""Expected cost of sending prompts to models, from the catalog's prices.

    cost_usd = (uncached_input_tokens * usd_per_1m_input
                + cached_input_tokens * usd_per_1m_cached_input
                + output_tokens * usd_per_1m_output) / 1e6
               * (1 - batch_discount, for batch priority)

Input tokens are counted with :class:`~learned_router.tokens.TokenCounter`;
output tokens come from an :class:`~learned_router.tokens.OutputLengthModel`.
Where a log has real ``cost_usd``, :func:`log_costs` uses it and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from learned_router.catalog import Catalog
from learned_router.errors import InvalidInputError
from learned_router.tokens import OutputLengthModel, TokenCounter

if TYPE_CHECKING:
    from learned_router.data.log import OutcomeMatrix

Priority = Literal["interactive", "batch"]
COST_METHOD = (
    "estimated: input tokens counted with the encoder's WordPiece tokenizer, output tokens "
    "= mean answer length per (model, task) in the logs, priced with the catalog"
)


def expected_cost_usd(
    input_tokens: npt.ArrayLike,
    output_tokens: npt.ArrayLike,
    prices: dict[str, npt.NDArray[np.float64]],
    *,
    priority: Priority = "interactive",
    cached_input_tokens: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """``[n_prompts, n_models]`` expected USD from token counts and price arrays.

    ``input_tokens`` and ``cached_input_tokens`` are per prompt (``[n]``);
    ``output_tokens`` is ``[n, m]``; ``prices`` is :meth:`Catalog.prices`.

    >>> prices = {"input": np.array([10.0]), "output": np.array([30.0]),
    ...           "cached_input": np.array([5.0]), "batch_discount": np.array([0.5])}
    >>> expected_cost_usd([1000], [[100]], prices).tolist()  # (1000*10 + 100*30) / 1e6
    [[0.013]]
    >>> batch = expected_cost_usd([1000], [[100]], prices, priority="batch",
    ...                           cached_input_tokens=[400])
    >>> batch.tolist()
    [[0.0055]]
    """
    inputs = np.asarray(input_tokens, dtype=np.float64).reshape(-1, 1)
    outputs = np.asarray(output_tokens, dtype=np.float64)
    if outputs.ndim != 2 or outputs.shape[0] != inputs.shape[0]:
        raise InvalidInputError(
            f"invalid argument `output_tokens`: expected shape [{inputs.shape[0]}, n_models], "
            f"got {outputs.shape}"
        )
    cached = (
        np.zeros_like(inputs)
        if cached_input_tokens is None
        else np.asarray(cached_input_tokens, dtype=np.float64).reshape(-1, 1)
    )
    if np.any(cached > inputs) or np.any(cached < 0):
        raise InvalidInputError(
            "invalid argument `cached_input_tokens`: must be between 0 and the prompt's "
            "input tokens"
        )
    cost = (
        (inputs - cached) * prices["input"]
        + cached * prices["cached_input"]
        + outputs * prices["output"]
    ) / 1e6
    if priority == "batch":
        cost = cost * (1.0 - prices["batch_discount"])
    elif priority != "interactive":
        raise InvalidInputError(
            f"invalid argument `priority`: {priority!r}; use 'interactive' or 'batch'"
        )
    return cost


@dataclass(frozen=True)
class LogCosts:
    """Costs of every (prompt, model) cell of an :class:`OutcomeMatrix`."""

    cost_usd: npt.NDArray[np.float64]
    """Real cost where the log has it, else the estimate."""
    estimated_usd: npt.NDArray[np.float64]
    """The estimate for every cell (also where a real cost exists)."""
    is_real: npt.NDArray[np.bool_]
    input_tokens: npt.NDArray[np.float64]
    output_tokens: npt.NDArray[np.float64]

    @property
    def method(self) -> str:
        """How the costs were obtained, for reports."""
        share = float(self.is_real.mean()) if self.is_real.size else 0.0
        if share == 1.0:
            return "real cost_usd from the logs"
        if share == 0.0:
            return COST_METHOD
        return f"real cost_usd where logged ({100 * share:.0f}% of cells), else {COST_METHOD}"


def log_costs(
    matrix: OutcomeMatrix,
    catalog: Catalog,
    lengths: OutputLengthModel,
    *,
    counter: TokenCounter | None = None,
) -> LogCosts:
    """Real or estimated cost of each (prompt, model) cell of a log."""
    counter = counter or TokenCounter()
    # Logged input tokens where any outcome of the prompt has them, else counted.
    logged = np.where(np.isnan(matrix.input_tokens), -1.0, matrix.input_tokens).max(axis=1)
    counted = counter.count(matrix.prompts).astype(np.float64)
    inputs = np.where(logged >= 0, logged, counted)
    expected_out = lengths.expected(matrix.models, matrix.tasks, matrix.datasets)
    outputs = np.where(np.isnan(matrix.output_tokens), expected_out, matrix.output_tokens)
    estimated = expected_cost_usd(inputs, outputs, catalog.prices(matrix.models))
    is_real = ~np.isnan(matrix.cost_usd)
    return LogCosts(
        cost_usd=np.where(is_real, matrix.cost_usd, estimated),
        estimated_usd=estimated,
        is_real=is_real,
        input_tokens=inputs,
        output_tokens=outputs,
    )
