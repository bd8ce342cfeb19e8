"""Splits by prompt: grouped, stratified, deterministic (learned_router.data.splits)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learned_router.data import OutcomeLog, check_no_leakage, split_prompts
from learned_router.errors import InvalidInputError


def _log(prompts: list[tuple[str, str, str, str]]) -> OutcomeLog:
    """prompts: (dataset, prompt_id, text, task); every prompt gets one outcome."""
    table = pa.table(
        {
            "dataset": [p[0] for p in prompts],
            "prompt_id": [p[1] for p in prompts],
            "prompt": [p[2] for p in prompts],
            "task": [p[3] for p in prompts],
        }
    )
    outcomes = pa.table(
        {
            "dataset": [p[0] for p in prompts],
            "prompt_id": [p[1] for p in prompts],
            "model": ["m"] * len(prompts),
            "quality": [1.0] * len(prompts),
        }
    )
    return OutcomeLog(table, outcomes)


def _big_log() -> OutcomeLog:
    prompts = [("a", f"a{i}", f"question {i}", "t1" if i % 3 else "t2") for i in range(300)]
    prompts += [("b", f"b{i}", f"other question {i}", "t3") for i in range(100)]
    return _log(prompts)


def test_every_prompt_gets_exactly_one_split_in_proportion() -> None:
    log = _big_log()
    splits = split_prompts(log, seed=3)
    assert set(splits.assignment) == set(log.prompt_keys())
    assert splits.counts() == {"train": 320, "val": 40, "test": 40}
    # Stratified: each dataset/task stratum is split in the same proportions.
    by_dataset = Counter((key[0], split) for key, split in splits.assignment.items())
    assert by_dataset[("b", "train")] == 80
    assert by_dataset[("b", "test")] == 10


def test_same_seed_same_split_other_seed_other_split() -> None:
    log = _big_log()
    first = split_prompts(log, seed=1)
    assert split_prompts(log, seed=1).assignment == first.assignment
    assert split_prompts(log, seed=2).assignment != first.assignment


def test_split_does_not_depend_on_row_order() -> None:
    log = _big_log()
    reversed_log = OutcomeLog(log.prompts.take(list(range(log.num_prompts))[::-1]), log.outcomes)
    assert split_prompts(reversed_log).assignment == split_prompts(log).assignment


def test_the_same_text_in_two_datasets_lands_in_one_split() -> None:
    prompts = [("a", f"a{i}", f"q{i}", "") for i in range(50)]
    prompts += [("b", f"x{i}", f"  Q{i} ", "") for i in range(50)]  # same texts, folded
    log = _log(prompts)
    splits = split_prompts(log, fractions={"train": 0.5, "test": 0.5})
    for i in range(50):
        assert splits.assignment[("a", f"a{i}")] == splits.assignment[("b", f"x{i}")]
    check_no_leakage(log, splits)


def test_leakage_check_catches_a_leak() -> None:
    log = _log([("a", "1", "same", ""), ("a", "2", "same", ""), ("a", "3", "other", "")])
    splits = split_prompts(log, fractions={"train": 0.5, "test": 0.5})
    leaked = dict(splits.assignment)
    leaked[("a", "2")] = "test" if leaked[("a", "1")] == "train" else "train"
    forged = type(splits)(leaked, splits.seed, splits.fractions, splits.stratify_by)
    with pytest.raises(InvalidInputError, match="leak"):
        check_no_leakage(log, forged)


def test_params_record_how_to_reproduce_the_split() -> None:
    params = split_prompts(_big_log(), seed=5).params()
    assert params["split_seed"] == 5
    assert params["split_fractions"] == "train=0.8,val=0.1,test=0.1"
    assert params["split_train_prompts"] == 320


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": {"train": 0.7, "test": 0.2}}, "sum to 1"),
        ({"fractions": {"train": 1.2, "test": -0.2}}, "non-negative"),
        ({"stratify_by": ("tenant",)}, "stratify_by"),
    ],
)
def test_bad_split_options_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        split_prompts(_big_log(), **kwargs)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(
        st.sampled_from(["a", "b", "c", "d", "e", "A", " b", "f", "g"]), min_size=1, max_size=40
    ),
    seed=st.integers(0, 1000),
)
def test_no_text_ever_sits_in_two_splits(texts: list[str], seed: int) -> None:
    log = _log([("d", str(i), text, "") for i, text in enumerate(texts)])
    check_no_leakage(log, split_prompts(log, seed=seed))
