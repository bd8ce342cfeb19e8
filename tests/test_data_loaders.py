"""Loaders: every format into one canonical OutcomeLog (learned_router.data.loaders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learned_router import data
from learned_router.errors import DataValidationError, InvalidInputError
from logs import ROWS, write


def _as_records(log: data.OutcomeLog) -> set[tuple[str, str, float]]:
    out = log.outcomes
    return set(
        zip(
            out.column("prompt_id").to_pylist(),
            out.column("model").to_pylist(),
            out.column("quality").to_pylist(),
            strict=True,
        )
    )


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_canonical_format_loads_from_every_file_type(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"log{suffix}", ROWS)
    assert data.detect_format(path) == "canonical"
    log = data.load(path)
    assert log.num_prompts == 3
    assert log.models == ("large", "small")
    assert log.datasets == ("log",)
    assert _as_records(log) == {(r["prompt_id"], r["model"], r["quality"]) for r in ROWS}
    assert log.report is not None
    assert log.report.outcome_rows_loaded == 5
    assert log.report.outcome_rows_rejected == 0


def test_csv_keeps_leading_zeros_in_ids(tmp_path: Path) -> None:
    rows = [{"prompt_id": "007", "prompt": "q", "model": "m", "quality": 1}]
    log = data.load(write(tmp_path / "log.csv", rows))
    assert log.prompt_keys() == [("log", "007")]


def test_aliases_and_optional_columns_are_read(tmp_path: Path) -> None:
    rows = [
        {
            "prompt_id": 1,
            "prompt": "q",
            "model": "m",
            "quality": 1,
            "quality_kind": "correct(0/1)",
            "out_chars": 40,
            "cost_usd": 0.002,
            "category": "qa",
        }
    ]
    log = data.load(write(tmp_path / "log.jsonl", rows), dataset="mine")
    row = log.to_table().to_pylist()[0]
    assert row["prompt_id"] == "1"
    assert row["quality_scale"] == "correct(0/1)"
    assert row["output_chars"] == 40
    assert row["task"] == "qa"
    assert row["dataset"] == "mine"
    assert row["cost_usd"] == pytest.approx(0.002)


def _write_split(folder: Path) -> Path:
    outcomes = [{k: v for k, v in r.items() if k not in ("prompt", "task")} for r in ROWS]
    prompts = [
        {"prompt_id": pid, "prompt": text, "task": task}
        for pid, text, task in {(r["prompt_id"], r["prompt"], r["task"]) for r in ROWS}
    ]
    write(folder / "prompts" / "bench.parquet", prompts)
    return write(folder / "outcomes" / "bench.parquet", outcomes)


def test_split_format_joins_outcomes_and_prompts(tmp_path: Path) -> None:
    path = _write_split(tmp_path)
    assert data.detect_format(path) == "split"
    log = data.load(path)
    assert log.num_prompts == 3
    assert _as_records(log) == {(r["prompt_id"], r["model"], r["quality"]) for r in ROWS}
    # A folder with outcomes/ and prompts/ loads every pair in it.
    assert _as_records(data.load(tmp_path)) == _as_records(log)


def test_split_format_with_a_sibling_prompts_file(tmp_path: Path) -> None:
    write(tmp_path / "x.prompts.jsonl", [{"prompt_id": "a", "prompt": "hello"}])
    path = write(tmp_path / "x.jsonl", [{"prompt_id": "a", "model": "m", "quality": 0.5}])
    assert data.detect_format(path) == "split"
    assert data.load(path).prompts.column("prompt").to_pylist() == ["hello"]


def test_routerbench_wide_format(tmp_path: Path) -> None:
    rows = [
        {
            "sample_id": "mmlu.1",
            "prompt": "Q1",
            "eval_name": "mmlu",
            "oracle_model_to_route_to": "small",
            "gpt-4": 1.0,
            "gpt-4|model_response": "A",
            "gpt-4|total_cost": 0.01,
            "small": 0.0,
            "small|model_response": "B",
            "small|total_cost": 0.0001,
        },
        {
            "sample_id": "gsm.2",
            "prompt": "Q2",
            "eval_name": "gsm8k",
            "oracle_model_to_route_to": "gpt-4",
            "gpt-4": 1.0,
            "gpt-4|model_response": "42",
            "gpt-4|total_cost": 0.02,
            "small": 1.0,
            "small|model_response": "42",
            "small|total_cost": 0.0002,
        },
    ]
    path = write(tmp_path / "rb.parquet", rows)
    assert data.detect_format(path) == "routerbench"
    log = data.load(path)
    assert log.models == ("gpt-4", "small")
    table = {(r["prompt_id"], r["model"]): r for r in log.to_table().to_pylist()}
    assert table[("mmlu.1", "small")]["quality"] == 0.0
    assert table[("gsm.2", "gpt-4")]["cost_usd"] == pytest.approx(0.02)
    assert table[("gsm.2", "small")]["response"] == "42"
    assert table[("mmlu.1", "gpt-4")]["task"] == "mmlu"


def test_routerbench_problems_name_the_source_column(tmp_path: Path) -> None:
    rows = [{"sample_id": "s", "prompt": "Q", "m": 2.0, "m|total_cost": -1.0}]
    with pytest.raises(DataValidationError) as info:
        data.load(write(tmp_path / "rb.parquet", rows))
    assert {p.field for p in info.value.problems} == {"m", "m|total_cost"}
    assert all(p.row == 1 for p in info.value.problems)


def test_pairwise_battles_become_win_rates(tmp_path: Path) -> None:
    battles = [
        {
            "question_id": "q1",
            "prompt": "Tell a joke",
            "model_a": "a",
            "model_b": "b",
            "winner": "model_a",
        },
        {
            "question_id": "q1",
            "prompt": "Tell a joke",
            "model_a": "b",
            "model_b": "c",
            "winner": "tie",
        },
        {
            "question_id": "q1",
            "prompt": "Tell a joke",
            "model_a": "a",
            "model_b": "c",
            "winner": "tie (bothbad)",
        },
        {
            "question_id": "q2",
            "prompt": "Sum 1..10",
            "model_a": "c",
            "model_b": "a",
            "winner": "model_b",
        },
    ]
    path = write(tmp_path / "arena.jsonl", battles)
    assert data.detect_format(path) == "pairwise"
    log = data.load(path)
    quality = {(r["prompt_id"], r["model"]): r["quality"] for r in log.to_table().to_pylist()}
    # a on q1: win (1) and both bad (0) -> 0.5; b: loss (0), tie (0.5) -> 0.25;
    # c: tie (0.5), both bad (0) -> 0.25. On q2 a wins, c loses.
    assert quality == {
        ("q1", "a"): 0.5,
        ("q1", "b"): 0.25,
        ("q1", "c"): 0.25,
        ("q2", "a"): 1.0,
        ("q2", "c"): 0.0,
    }
    assert log.num_prompts == 2
    scales = set(log.outcomes.column("quality_scale").to_pylist())
    assert scales == {data.loaders.PAIRWISE_SCALE}


def test_pairwise_reads_the_first_user_turn_of_a_conversation(tmp_path: Path) -> None:
    conversation = json.dumps(
        [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "x"}]
    )
    battles = [
        {
            "question_id": "q",
            "conversation_a": conversation,
            "model_a": "a",
            "model_b": "b",
            "winner": "model_b",
        }
    ]
    log = data.load(write(tmp_path / "arena.jsonl", battles))
    assert log.prompts.column("prompt").to_pylist() == ["hi there"]


def test_several_files_load_as_one_log_with_datasets_apart(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", ROWS)
    b = write(tmp_path / "b.jsonl", ROWS)  # the same prompt ids, another dataset
    log = data.load([a, b])
    assert log.num_prompts == 6
    assert log.datasets == ("a", "b")
    assert log.select(datasets=["b"]).num_outcomes == 5


def test_matrix_view_is_dense_with_nan_for_missing(tmp_path: Path) -> None:
    log = data.load(write(tmp_path / "log.jsonl", ROWS))
    m = log.matrix()
    assert m.models == ("large", "small")
    row = {pid: i for i, pid in enumerate(m.prompt_ids)}
    assert m.quality[row["p2"]].tolist() == [0.5, 0.0]
    assert np.isnan(m.quality[row["p3"], 0])
    assert m.tasks[row["p3"]] == "chat"


def test_write_and_reload_round_trips(tmp_path: Path) -> None:
    log = data.load(write(tmp_path / "log.jsonl", ROWS))
    for suffix in (".parquet", ".jsonl", ".csv"):
        again = data.load(log.write(tmp_path / f"copy{suffix}"))
        assert _as_records(again) == _as_records(log)


def test_unknown_paths_and_types_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        data.load(tmp_path / "missing.parquet")
    (tmp_path / "log.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="unsupported file type"):
        data.load(tmp_path / "log.txt")
    with pytest.raises(InvalidInputError, match="unknown format"):
        data.load(write(tmp_path / "l.jsonl", ROWS), format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".sqlite", ".sqlite3", ".db"])
def test_outcome_store_loads_as_a_log(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"outcomes{suffix}", ROWS)
    assert data.detect_format(path) == "store"
    log = data.load(path)
    assert log.num_prompts == 3
    assert log.datasets == ("outcomes",)
    assert _as_records(log) == {(r["prompt_id"], r["model"], r["quality"]) for r in ROWS}
    assert log.report is not None
    assert log.report.formats == {str(path): "store"}
    # A folder holding a store loads it too, and format= may be given.
    assert data.load(tmp_path).num_outcomes == 5
    assert data.load(path, format="store").num_outcomes == 5


def test_outcome_store_problems_name_the_record_id(tmp_path: Path) -> None:
    rows = [*ROWS, {**ROWS[0], "quality": 0.0}]  # p1/small again, another quality
    path = write(tmp_path / "outcomes.sqlite", rows)
    with pytest.raises(DataValidationError, match=r"outcomes.sqlite, row [16]") as caught:
        data.load(path)
    assert {p.row for p in caught.value.problems} == {1, 6}
    log = data.load(path, rejects=tmp_path / "rejects.jsonl")
    assert log.report is not None
    assert log.report.outcome_rows_rejected == 2
    assert log.num_outcomes == 4


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not sqlite at all")
    with pytest.raises(DataValidationError, match="not an outcome store"):
        data.load(path)
