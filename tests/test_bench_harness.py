"""The evaluation harness: same split and prompts for everyone, no leakage, costs
(learned_router.routing_benchmark.harness)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from bench_synth import MODELS, LookupEmbedder, catalog, outcome_log, synthetic
from learned_router.data.log import OutcomeLog
from learned_router.data.splits import prompt_group, split_prompts
from learned_router.errors import BenchmarkError, InvalidInputError
from learned_router.routing_benchmark.baselines import KNNRouter
from learned_router.routing_benchmark.harness import (
    BenchConfig,
    complete_cases,
    prepare_dataset,
    run_benchmark,
    score_routings,
    two_model_decisions,
)
from learned_router.routing_benchmark.routers import (
    AlwaysBest,
    AlwaysCheapest,
    BenchRouter,
    HeuristicTriage,
    RandomMixture,
    Routing,
    TriageRules,
)

FAST = BenchConfig(bootstrap_resamples=50)


def fast_routers() -> list[BenchRouter]:
    return [AlwaysCheapest(), AlwaysBest(), RandomMixture(), HeuristicTriage(), KNNRouter()]


class TierPredictor:
    """A stand-in learned router: reads the tier from the prompt, knows P(correct)."""

    def __init__(self, training_prompt_groups: Sequence[str] | None = None) -> None:
        if training_prompt_groups is not None:
            self.training_prompt_groups = frozenset(training_prompt_groups)

    def predict_quality(self, prompts: Sequence[str], models: Sequence[str]) -> np.ndarray:
        from bench_synth import P_CORRECT

        tiers = TriageRules().tiers(prompts)
        return P_CORRECT[tiers][:, [MODELS.index(m) for m in models]]


@pytest.fixture(scope="module")
def problem():  # type: ignore[no-untyped-def]
    return synthetic(600, seed=7)


@pytest.fixture(scope="module")
def result(problem):  # type: ignore[no-untyped-def]
    return run_benchmark(
        outcome_log(problem),
        embed=LookupEmbedder(problem),
        config=FAST,
        learned=TierPredictor(),
        routers=fast_routers,
        catalog=catalog(),
    )


def test_every_router_is_scored_on_the_same_held_out_prompts(result) -> None:  # type: ignore[no-untyped-def]
    (dataset,) = result.datasets
    assert dataset.dataset == "synth"
    assert sum(dataset.prompts.values()) == 600
    assert dataset.prompts["test"] == 60
    names = [r.name for r in dataset.routers]
    assert names == [
        "always-cheapest",
        "always-best",
        "random-mixture",
        "heuristic-triage",
        "knn",
        "learned-router",
        "oracle",
    ]
    assert dataset.best_model == "frontier"
    assert dataset.cheapest_model == "cheap"
    assert "real cost_usd" in dataset.cost_method
    assert result.split_params["split_seed"] == 0


def test_results_have_intervals_and_sensible_order(result) -> None:  # type: ignore[no-untyped-def]
    dataset = result.datasets[0]
    learned = dataset.router("learned-router")
    for router in dataset.routers:
        assert router.aiq.low <= router.aiq.value <= router.aiq.high, router.name
    assert learned.aiq.value > dataset.router("random-mixture").aiq.value
    assert dataset.router("oracle").aiq.value >= learned.aiq.value
    assert dataset.router("oracle").oracle_gap_captured.value == pytest.approx(1.0)
    assert learned.aiq_delta is not None
    assert learned.aiq_delta.value == 0.0
    assert dataset.router("random-mixture").aiq_delta.value < 0  # type: ignore[union-attr]
    # The best single model reaches its own quality at its own cost.
    best = dataset.router("always-best")
    assert best.cost_to_reach_usd[1.0].value == pytest.approx(dataset.best_single.cost_usd)
    assert best.savings[1.0].value == pytest.approx(0.0)
    assert best.apgr is None
    assert learned.apgr is not None


def test_held_out_text_never_reaches_training() -> None:
    # The same question under two ids (case and spacing differ) must land in one split.
    problem = synthetic(120, seed=1)
    log = outcome_log(problem)
    dup = pa.table(
        {
            "dataset": ["synth"],
            "prompt_id": ["dup"],
            "prompt": ["  " + problem.prompts[0].upper() + " "],
            "task": ["t"],
        }
    )
    outcomes = pa.table(
        {
            "dataset": ["synth"] * 3,
            "prompt_id": ["dup"] * 3,
            "model": list(MODELS),
            "quality": [1.0, 1.0, 1.0],
            "cost_usd": [1e-4, 4e-4, 2e-3],
        }
    )
    log = OutcomeLog.concat([log, OutcomeLog(dup, outcomes)])
    splits = split_prompts(log, seed=0)
    assert splits.assignment[("synth", "dup")] == splits.assignment[("synth", "p0")]
    embed = LookupEmbedder(problem)
    data = prepare_dataset(
        log, "synth", splits.assignment, embed=embed, config=FAST, catalog=catalog()
    )
    train_groups = {prompt_group(p) for p in data.train.inputs.prompts}
    assert train_groups.isdisjoint(data.held_out_groups)
    # A hand-made leaky assignment is caught.
    leaky = dict(splits.assignment)
    leaky[("synth", "dup")], leaky[("synth", "p0")] = "train", "test"
    with pytest.raises(BenchmarkError, match="also appear"):
        prepare_dataset(
            log, "synth", leaky, embed=LookupEmbedder(problem), config=FAST, catalog=catalog()
        )


def test_a_predictor_trained_on_held_out_prompts_is_refused(problem) -> None:  # type: ignore[no-untyped-def]
    log = outcome_log(problem)
    every_group = [prompt_group(p) for p in problem.prompts]
    with pytest.raises(BenchmarkError, match="trained on 60 of the held-out prompts"):
        run_benchmark(
            log,
            embed=LookupEmbedder(problem),
            config=BenchConfig(bootstrap_resamples=0),
            learned=TierPredictor(training_prompt_groups=every_group),
            routers=lambda: [AlwaysCheapest()],
            catalog=catalog(),
        )


def test_estimated_costs_and_skipped_datasets() -> None:
    problem = synthetic(200, seed=2)
    small = outcome_log(problem, real_costs=False).select(models=["cheap", "mid"])
    renamed = OutcomeLog(
        small.prompts.set_column(0, "dataset", pa.array(["two"] * small.num_prompts)),
        small.outcomes.set_column(0, "dataset", pa.array(["two"] * small.num_outcomes)),
    )
    log = OutcomeLog.concat([outcome_log(problem, real_costs=False), renamed])
    result = run_benchmark(
        log,
        embed=LookupEmbedder(problem),
        config=BenchConfig(bootstrap_resamples=0),
        routers=lambda: [AlwaysCheapest(), AlwaysBest()],
        catalog=catalog(),
    )
    assert [d.dataset for d in result.datasets] == ["synth"]
    assert result.skipped == (("two", "2 models (< 3)"),)
    assert "estimated" in result.datasets[0].cost_method
    aiq = result.datasets[0].router("always-cheapest").aiq
    assert np.isnan(aiq.low)  # no bootstrap, no interval


def test_unknown_dataset_and_split_are_refused(problem) -> None:  # type: ignore[no-untyped-def]
    log = outcome_log(problem)
    kwargs = {"embed": LookupEmbedder(problem), "catalog": catalog()}
    with pytest.raises(InvalidInputError, match="unknown dataset"):
        run_benchmark(log, config=BenchConfig(datasets=("nope",)), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="held-out split"):
        run_benchmark(log, config=BenchConfig(split="train"), **kwargs)  # type: ignore[arg-type]


def test_complete_cases_drops_sparse_models_then_prompts() -> None:
    nan = np.nan
    quality = np.array([[1, nan, 0], [1, nan, nan], [0, 1, 1], [1, nan, 1.0]])
    models, prompts = complete_cases(quality, min_model_coverage=0.7)
    assert models.tolist() == [True, False, True]
    assert prompts.tolist() == [True, False, True, True]


def test_two_model_decisions_hit_every_share() -> None:
    preference = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 0.5, 0.5, 0.5])
    decisions = two_model_decisions(preference, steps=11, seed=0)
    assert decisions.sum(axis=1).tolist() == list(range(11))
    assert np.all(decisions[1:] >= decisions[:-1])  # nested: a strong call stays strong
    assert decisions[1, 6]  # the top preference goes first


def test_score_routings_needs_the_oracle() -> None:
    routing = Routing(index=np.zeros((1, 2), np.int64), labels=("x",))
    with pytest.raises(InvalidInputError, match="oracle"):
        score_routings(np.ones((2, 3)), np.ones((2, 3)), {"a": routing}, best=2, weak=0)


class CoveringPredictor(TierPredictor):
    """The stand-in learned router with heads for MODELS only."""

    def covers(self, model: str) -> bool:
        return model in MODELS


def test_models_without_a_price_or_a_head_are_left_out_for_every_router(  # type: ignore[no-untyped-def]
    problem, result, tmp_path
) -> None:
    """Real logs hold models the catalog does not know and models the bundle has no head
    for: the run leaves them out of the dataset for every router, saying which and why,
    instead of failing (it used to stop at the first such name)."""
    from dataclasses import replace

    from learned_router.catalog import Catalog
    from learned_router.routing_benchmark.report import write_report

    base = outcome_log(problem)
    mid = base.outcomes.filter(pa.compute.equal(base.outcomes.column("model"), "mid"))
    extra_rows = [
        mid.set_column(
            mid.column_names.index("model"), "model", pa.array([name] * mid.num_rows)
        ).cast(mid.schema)
        for name in ("org/mystery-9b", "headless")
    ]
    log = OutcomeLog(base.prompts, pa.concat_tables([base.outcomes, *extra_rows]))
    priced = catalog()
    with_headless = Catalog(
        models=(*priced.models, replace(priced.models[1], id="headless", aliases=())),
        version="test.2",
    )
    run = run_benchmark(
        log,
        embed=LookupEmbedder(problem),
        config=FAST,
        learned=CoveringPredictor(),
        routers=fast_routers,
        catalog=with_headless,
    )
    [data] = run.datasets
    assert data.models == result.datasets[0].models
    assert set(data.models) == set(MODELS)
    assert data.left_out_models == (
        "headless (no head in the learned router's bundle)",
        "org/mystery-9b (not in the price catalog)",
    )
    # The same prompts and models as without the extra columns: the same figures.
    assert data.router("learned-router").aiq == result.datasets[0].router("learned-router").aiq
    report = write_report(run, tmp_path).read_text()
    assert "Left out for every router: headless (no head" in report
