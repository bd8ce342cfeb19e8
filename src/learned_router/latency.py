"""Expected latency per (prompt, model) and the latency-SLO mask.

Each model's :class:`~learned_router.catalog.LatencyProfile` gives its time to
first token and its decode rate, so an answer of ``O`` output tokens is
expected to take

    expected_latency_ms = ttft_ms + O / output_tokens_per_s * 1000

A model meets ``max_latency_ms`` for a prompt when its expected latency is at
most the SLO; the mask of those models is ANDed into the selection kernel's
``available`` mask, so a model that would miss the SLO is never chosen.

Expected output tokens come from the predictor (or
:class:`~learned_router.tokens.OutputLengthModel`) as an ``[n_prompts,
n_models]`` matrix. The profile is a mean, not a tail bound: an SLO on p99
latency needs a profile measured at p99.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router.catalog import Catalog
from learned_router.errors import InvalidInputError


def _output_tokens(output_tokens: npt.ArrayLike, m: int) -> npt.NDArray[np.float64]:
    tokens = np.asarray(output_tokens, dtype=np.float64)
    if tokens.ndim == 1:
        tokens = tokens.reshape(1, -1)
    if tokens.ndim != 2 or tokens.shape[1] != m:
        raise InvalidInputError(
            f"invalid argument `output_tokens`: expected [n_prompts, {m}] expected output "
            f"tokens (one column per model), got shape {np.shape(output_tokens)}"
        )
    bad = ~(np.isfinite(tokens) & (tokens >= 0))
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"invalid argument `output_tokens`: output_tokens[{i}, {j}] = {tokens[i, j]}; "
            "expected output tokens must be finite and >= 0"
        )
    return tokens


def expected_latency_ms(
    ttft_ms: npt.ArrayLike,
    output_tokens_per_s: npt.ArrayLike,
    output_tokens: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """``[n_prompts, n_models]`` expected end-to-end latency in milliseconds.

    ``ttft_ms`` and ``output_tokens_per_s`` are per model (``[m]``);
    ``output_tokens`` is ``[n, m]`` (a 1-D row is one prompt).

    >>> expected_latency_ms([200.0, 800.0], [100.0, 40.0], [[50, 50]]).tolist()
    [[700.0, 2050.0]]
    """
    ttft = np.asarray(ttft_ms, dtype=np.float64).reshape(-1)
    rate = np.asarray(output_tokens_per_s, dtype=np.float64).reshape(-1)
    if ttft.shape != rate.shape:
        raise InvalidInputError(
            f"invalid argument `output_tokens_per_s`: {rate.shape[0]} values for "
            f"{ttft.shape[0]} models in `ttft_ms`; give one per model"
        )
    if not np.all(np.isfinite(ttft) & (ttft >= 0)):
        raise InvalidInputError(f"invalid argument `ttft_ms`: {ttft.tolist()} must be >= 0")
    if not np.all(np.isfinite(rate) & (rate > 0)):
        raise InvalidInputError(
            f"invalid argument `output_tokens_per_s`: {rate.tolist()} must be finite and > 0"
        )
    tokens = _output_tokens(output_tokens, ttft.shape[0])
    latency: npt.NDArray[np.float64] = ttft + tokens / rate * 1e3
    return latency


def within_slo(latency_ms: npt.ArrayLike, *, max_latency_ms: float | None) -> npt.NDArray[np.bool_]:
    """Mask of cells whose expected latency is at most ``max_latency_ms`` (``None``: all).

    >>> within_slo([[700.0, 2050.0]], max_latency_ms=1000).tolist()
    [[True, False]]
    """
    latency = np.asarray(latency_ms, dtype=np.float64)
    if max_latency_ms is None:
        return np.ones(latency.shape, dtype=np.bool_)
    if isinstance(max_latency_ms, bool) or not (
        isinstance(max_latency_ms, (int, float)) and not math.isnan(max_latency_ms)
    ):
        raise InvalidInputError(
            f"invalid argument `max_latency_ms`: got {max_latency_ms!r}; give a number of "
            "milliseconds > 0, or None for no latency SLO"
        )
    if not max_latency_ms > 0:
        raise InvalidInputError(
            f"invalid argument `max_latency_ms`: got {max_latency_ms}; it must be > 0 ms"
        )
    mask: npt.NDArray[np.bool_] = latency <= max_latency_ms
    return mask


@dataclass(frozen=True)
class LatencyTable:
    """The latency profiles of a router's models, as arrays in column order.

    >>> from learned_router.catalog import LatencyProfile, ModelSpec
    >>> fast = ModelSpec("fast", "p", 0.1, 0.4, LatencyProfile(200.0, 100.0))
    >>> slow = ModelSpec("slow", "p", 5.0, 15.0, LatencyProfile(800.0, 40.0))
    >>> catalog = Catalog(models=(fast, slow), version="v")
    >>> table = LatencyTable.from_catalog(catalog, ["fast", "slow"])
    >>> table.expected_ms([[50, 50]]).tolist()
    [[700.0, 2050.0]]
    >>> table.meets([[50, 50], [10, 5]], max_latency_ms=1000).tolist()
    [[True, False], [True, True]]
    """

    models: tuple[str, ...]
    ttft_ms: npt.NDArray[np.float64]
    output_tokens_per_s: npt.NDArray[np.float64]

    @classmethod
    def from_catalog(cls, catalog: Catalog, models: Sequence[str]) -> LatencyTable:
        """The profiles of ``models`` (ids or aliases) from ``catalog``."""
        specs = [catalog.get(name) for name in models]
        ttft = np.array([s.latency.ttft_ms for s in specs], dtype=np.float64)
        rate = np.array([s.latency.output_tokens_per_s for s in specs], dtype=np.float64)
        ttft.flags.writeable = False
        rate.flags.writeable = False
        return cls(tuple(models), ttft, rate)

    def expected_ms(self, output_tokens: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``[n, m]`` expected latency for ``[n, m]`` expected output tokens."""
        return expected_latency_ms(self.ttft_ms, self.output_tokens_per_s, output_tokens)

    def meets(
        self, output_tokens: npt.ArrayLike, *, max_latency_ms: float | None
    ) -> npt.NDArray[np.bool_]:
        """``[n, m]`` mask of the models expected to answer within ``max_latency_ms``."""
        return within_slo(self.expected_ms(output_tokens), max_latency_ms=max_latency_ms)
