"""The cache evaluation set (benchmarks/cache_eval.py) on a small generated corpus:
every kind of query is built as documented, and the evaluation runs end to
end with a lexical encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks import cache_eval
from benchmarks.cache_eval import (
    NEGATIVE_KINDS,
    POSITIVE_KINDS,
    PromptRecord,
    build_evalset,
    load_evalset,
    save_evalset,
)

from learned_router.cache import HashingEmbedder, SemanticCache, guards

TOPICS = ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "Egypt", "Chile"]


def corpus() -> list[PromptRecord]:
    records = []
    for i, country in enumerate(TOPICS * 2):
        records.append(
            PromptRecord(
                f"geo{i}",
                f"In {country}, is the largest city bigger than {100 + 7 * i} km2?",
                "geo/qa",
            )
        )
        records.append(
            PromptRecord(
                f"fs{i}",
                "Q: Is 2 more than 1?\nAnswer: A\n\nQ: Is 3 more than 5?\nAnswer: B\n\n"
                f"Q: Does {country} have more than {i + 3} rivers?\nAnswer:",
                "fewshot/qa",
            )
        )
    return records


@pytest.fixture(scope="module")
def evalset() -> cache_eval.EvalSet:
    return build_evalset(corpus(), bases_per_group=6, seed=1)


def test_every_kind_is_built(evalset: cache_eval.EvalSet) -> None:
    counts = evalset.counts()
    assert set(counts) == set(POSITIVE_KINDS) | set(NEGATIVE_KINDS)
    assert len(evalset.cached) == 12
    assert {c.split for c in evalset.cached} == {"calibration", "test"}
    for query in evalset.queries:
        assert query.should_hit is (query.kind in POSITIVE_KINDS)


def test_queries_are_what_their_kind_says(evalset: cache_eval.EvalSet) -> None:
    cached = {c.base_id: c.prompt for c in evalset.cached}
    probe = SemanticCache()
    for query in evalset.queries:
        base = cached[query.base_id]
        key, base_key = probe.key_for(query.query).text, probe.key_for(base).text
        if query.kind in ("whitespace", "case"):
            # Differs only in whitespace or case (the exact tier keeps both: they go to
            # the semantic tier).
            assert " ".join(query.query.split()).lower() == " ".join(base.split()).lower()
        elif query.kind == "preamble":
            assert key == base_key, "a new preamble leaves the key alone"
        elif query.kind == "boilerplate":
            assert sorted(key.split()) == sorted(base_key.split())
            assert key != base_key
        elif query.kind == "number":
            assert guards.numbers(query.query) != guards.numbers(base)
        elif query.kind == "negation":
            assert guards.negation_count(query.query) == guards.negation_count(base) + 1
        elif query.kind == "entity":
            assert guards.entities(key) != guards.entities(base_key)
        elif query.kind == "antonym":
            assert guards.poles(key) != guards.poles(base_key)
        elif query.kind == "other_question":
            assert query.query not in cached.values()


def test_round_trip_through_parquet(evalset: cache_eval.EvalSet, tmp_path: Path) -> None:
    save_evalset(evalset, tmp_path / "set.parquet")
    assert load_evalset(tmp_path / "set.parquet") == evalset


def test_evaluation_runs_end_to_end_and_guards_cut_false_hits(
    evalset: cache_eval.EvalSet, tmp_path: Path
) -> None:
    store = tmp_path / "embeddings.npz"
    report = cache_eval.evaluate(
        evalset, HashingEmbedder(dim=128), encoder_name="hashing", store_path=store
    )
    assert store.exists()
    test = report["test"]
    system = test["system (exact + semantic + guards)"]
    no_guards = test[f"same key, threshold {report['chosen_threshold']}, no guards"]
    assert system["false_hit_rate"] <= no_guards["false_hit_rate"]
    assert no_guards["false_hit_rate"] > 0, "the near misses look alike to the encoder"
    assert system["served_rate_by_kind"]["whitespace"] == 1.0
    assert 0 < report["chosen_threshold"] <= 1 or report["chosen_threshold"] == float("inf")
    assert "cosine >= 0.8" in " ".join(test)
    # A second run embeds nothing new.
    again = cache_eval.evaluate(
        evalset, HashingEmbedder(dim=128), encoder_name="hashing", store_path=store
    )
    assert again["embedding"]["texts_embedded_now"] == 0
    assert again["test"] == report["test"]


def test_decide_walks_candidates_like_lookup() -> None:
    c = cache_eval.Candidates(None, ((0.95, "a", False), (0.9, "b", True), (0.7, "c", True)))
    assert cache_eval.decide(c, 0.8, use_guards=True) == "b"
    assert cache_eval.decide(c, 0.8, use_guards=False) == "a"
    assert cache_eval.decide(c, 0.92, use_guards=True) is None
    assert cache_eval.decide(cache_eval.Candidates("x", ()), 1.0, use_guards=True) == "x"


def test_perturbations() -> None:
    rng = np.random.default_rng(0)
    assert cache_eval.insert_negation("Which city is the capital?") == (
        "Which city is not the capital?"
    )
    assert cache_eval.insert_negation("Name a city.") is None
    assert cache_eval.swap_antonym("What is the Largest lake?") == "What is the Smallest lake?"
    changed = cache_eval.change_number("Add 12 and 3.5", rng)
    assert changed is not None
    assert guards.numbers(changed) != ("12", "3.5")
    assert cache_eval.split_question("a\n\nb\\n\\nc") == ("a\n\nb\\n\\n", "c")
