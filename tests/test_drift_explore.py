"""Exploration: a deterministic share of requests answered by another, never pricier, candidate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from decisions import decision
from learned_router.drift import Explorer
from learned_router.errors import InvalidInputError
from learned_router.router import RouteDecision

COSTS = {"small": 0.001, "mid": 0.004, "large": 0.02, "huge": 0.05}


def _decision(
    i: int, chosen: str = "large", *, tenant: str | None = None, **excluded: str
) -> RouteDecision:
    return decision(i, chosen, COSTS, tenant=tenant, excluded=excluded)


def test_the_choice_is_fixed_by_the_request_id_and_matches_the_rate() -> None:
    explorer = Explorer(rate=0.1)
    picks = [explorer.choose(_decision(i)) for i in range(20_000)]
    assert picks == [Explorer(rate=0.1).choose(_decision(i)) for i in range(20_000)]
    explored = sum(p is not None for p in picks)
    assert abs(explored - 2000) <= 5 * (20_000 * 0.1 * 0.9) ** 0.5
    # Keyed by the request id when one is given: a retried request makes the same choice.
    assert explorer.choose(_decision(1), request_id="r7") == explorer.choose(
        _decision(2), request_id="r7"
    )


def test_alternatives_are_never_pricier_nor_excluded_and_drawn_evenly() -> None:
    explorer = Explorer(rate=1.0)
    picks = Counter(explorer.choose(_decision(i, mid="down")) for i in range(3000))
    # "large" chosen; "huge" costs more, "mid" is down: only "small" qualifies.
    assert set(picks) == {"small"}
    anyone = Explorer(rate=1.0, max_cost_ratio=None)
    spread = Counter(anyone.choose(_decision(i)) for i in range(3000))
    assert set(spread) == {"small", "mid", "huge"}
    assert min(spread.values()) > 850  # uniform: ~1000 each
    # The cheapest choice has nothing cheaper to try.
    assert explorer.choose(_decision(0, "small")) is None


def test_tenant_rates_override_and_zero_turns_it_off() -> None:
    explorer = Explorer(rate=0.0, tenant_rates={"acme": 1.0})
    assert explorer.choose(_decision(1, tenant="acme")) is not None
    assert explorer.choose(_decision(1, tenant="other")) is None
    assert explorer.choose(_decision(1)) is None


@pytest.mark.parametrize(
    "kwargs", [{"rate": -0.1}, {"rate": 1.5}, {"tenant_rates": {"a": 2.0}}, {"max_cost_ratio": 0}]
)
def test_bad_settings_are_clear_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        Explorer(**kwargs)  # type: ignore[arg-type]


def test_replay_answers_explored_requests_with_the_alternative(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    pytest.importorskip("river", reason="replay's detectors need the drift extra")
    from tests.test_drift_replay import _dataset, _replay

    data = _dataset(tmp_path / "data")
    args = ("--requests", "2000", "--shadow-rate", "0.0", "--outcome-rate", "1.0", "--adapt")
    args = (*args, "--quality-fraction", "1.0")  # routes to the priciest: room below it
    plain = _replay(tiny_bundle, data, *args)
    explored = _replay(tiny_bundle, data, *args, "--explore", "0.2")
    assert plain["explored"] == 0
    assert abs(explored["explored"] - 400) < 5 * (2000 * 0.2 * 0.8) ** 0.5
    # Never pricier: exploring from the tiny bundle's choice can only lower the spend.
    assert explored["mean_cost_usd"] <= plain["mean_cost_usd"]


def test_an_explored_answer_is_recorded_against_the_model_that_gave_it(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    from learned_router.outcomes import OutcomeStore
    from learned_router.router import Router

    store = tmp_path / "outcomes.sqlite"
    router = Router.load(tiny_bundle, outcome_store=store, capacity=False)
    decision = router.route("Prove the lemma about spectral gaps", quality_fraction=1.0)
    alternative = Explorer(rate=1.0).choose(decision)
    assert alternative is not None
    assert alternative != decision.model
    with pytest.raises(InvalidInputError, match="not a model this router routes to"):
        router.record_outcome(decision.decision_id, quality=1.0, model="no-such-model")
    router.record_outcome(decision.decision_id, quality=0.0, model=alternative)
    (record,) = OutcomeStore(store).records().values()
    assert record.model == alternative
