"""Validation: located errors, nothing dropped silently (learned_router.data.validation)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from learned_router import data
from learned_router.catalog import Catalog
from learned_router.errors import DataValidationError, LearnedRouterError
from logs import ROWS, with_changes, write


def _problems(path: Path, **kwargs: Any) -> list[data.Problem]:
    with pytest.raises(DataValidationError) as info:
        data.load(path, **kwargs)
    assert isinstance(info.value, LearnedRouterError)
    assert isinstance(info.value, ValueError)
    return info.value.problems


@pytest.mark.parametrize(
    ("rows", "row", "field", "kind", "words"),
    [
        (
            with_changes(2, quality=1.5),
            3,
            "quality",
            "quality_out_of_range",
            "1.5 is outside [0, 1]",
        ),
        (with_changes(2, quality=-1), 3, "quality", "quality_out_of_range", "-1 is outside"),
        (with_changes(4, quality=math.nan), 5, "quality", "quality_missing", "NaN"),
        (with_changes(4, quality=None), 5, "quality", "quality_missing", "null"),
        (with_changes(1, prompt="   "), 2, "prompt", "empty_prompt", "empty"),
        (with_changes(0, cost_usd=-0.01), 1, "cost_usd", "invalid_cost_usd", "-0.01"),
        (
            with_changes(0, output_tokens=-3),
            1,
            "output_tokens",
            "invalid_output_tokens",
            "negative",
        ),
        (with_changes(3, model=""), 4, "model", "missing_model", "model is empty"),
        (with_changes(0, prompt_id=""), 1, "prompt_id", "missing_prompt_id", "empty"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_each_problem_names_file_row_and_field(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    row: int,
    field: str,
    kind: str,
    words: str,
    suffix: str,
) -> None:
    if suffix == ".jsonl" and any(
        isinstance(v, float) and math.isnan(v) for r in rows for v in r.values()
    ):
        pytest.skip("JSON has no NaN")
    path = write(tmp_path / f"log{suffix}", rows)
    problems = _problems(path)
    match = [p for p in problems if p.kind == kind]
    assert match, problems
    problem = match[0]
    assert (problem.file, problem.row, problem.field) == (str(path), row, field)
    assert words in problem.message
    assert problem.fix
    text = str(problem)
    assert str(path) in text
    assert f"row {row}" in text
    assert repr(field) in text
    assert "Fix:" in text


def test_the_error_message_lists_problems_and_how_to_proceed(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl", with_changes(2, quality=7))
    with pytest.raises(DataValidationError) as info:
        data.load(path)
    message = str(info.value)
    assert "1 problem(s)" in message
    assert f"{path}, row 3, field 'quality'" in message
    assert "rejects=PATH" in message


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    rows = [{"prompt_id": "a", "prompt": "q", "quality": 1.0}]
    problems = _problems(write(tmp_path / "log.jsonl", rows))
    assert len(problems) == 1
    assert problems[0].kind == "missing_column"
    assert problems[0].field == "model"
    assert problems[0].row is None


def test_unreadable_values_are_located(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("prompt_id,prompt,model,quality\na,q,m,0.5\nb,r,m,high\n")
    problems = _problems(path)
    assert [(p.row, p.field, p.kind) for p in problems] == [(2, "quality", "unreadable_value")]
    assert "'high'" in problems[0].message


def test_conflicting_duplicates_fail_and_exact_duplicates_merge(tmp_path: Path) -> None:
    conflicting = [*ROWS, dict(ROWS[0], quality=0.0)]
    problems = _problems(write(tmp_path / "c.jsonl", conflicting))
    assert {(p.row, p.kind) for p in problems} == {
        (1, "conflicting_duplicate"),
        (6, "conflicting_duplicate"),
    }

    exact = [*ROWS, dict(ROWS[0])]
    log = data.load(write(tmp_path / "e.jsonl", exact))
    assert log.num_outcomes == 5
    assert log.report is not None
    assert log.report.merged_duplicates == 1


def test_a_duplicate_of_a_bad_row_is_not_a_conflict(tmp_path: Path) -> None:
    # RouterBench ships (NaN, 1.0) pairs for the same prompt and model: the NaN
    # row is the problem, and the remaining row is not a duplicate.
    rows = [*ROWS, dict(ROWS[0], quality=None)]
    problems = _problems(write(tmp_path / "log.parquet", rows))
    assert [(p.row, p.kind) for p in problems] == [(6, "quality_missing")]


def test_one_prompt_id_with_two_texts_is_a_problem(tmp_path: Path) -> None:
    problems = _problems(write(tmp_path / "log.jsonl", with_changes(1, prompt="What is 3+3?")))
    assert {p.kind for p in problems} == {"conflicting_prompt_text"}
    assert {p.row for p in problems} == {1, 2}


def test_unknown_models_are_problems_when_a_catalog_is_given(tmp_path: Path) -> None:
    catalog = Catalog.from_dict(
        {
            "version": "t",
            "model": [
                {
                    "id": "large",
                    "aliases": ["SMALL"],
                    "provider": "x",
                    "usd_per_1m_input": 1.0,
                    "usd_per_1m_output": 2.0,
                    "latency": {"ttft_ms": 100.0, "output_tokens_per_s": 50.0},
                }
            ],
        }
    )
    rows = with_changes(4, model="mystery")
    problems = _problems(write(tmp_path / "log.jsonl", rows), catalog=catalog)
    assert [(p.row, p.field, p.kind) for p in problems] == [(5, "model", "unknown_model")]
    assert "'mystery' is not in the catalog" in problems[0].message


def test_split_format_problems_point_at_the_right_file(tmp_path: Path) -> None:
    prompts = write(
        tmp_path / "prompts" / "d.jsonl",
        [{"prompt_id": "a", "prompt": ""}, {"prompt_id": "b", "prompt": "ok"}],
    )
    outcomes = write(
        tmp_path / "outcomes" / "d.jsonl",
        [
            {"prompt_id": "a", "model": "m", "quality": 1},
            {"prompt_id": "b", "model": "m", "quality": 1},
            {"prompt_id": "zzz", "model": "m", "quality": 1},
        ],
    )
    problems = _problems(outcomes)
    located = {(Path(p.file).name, Path(p.file).parent.name, p.row, p.kind) for p in problems}
    assert located == {
        ("d.jsonl", "prompts", 1, "empty_prompt"),
        ("d.jsonl", "outcomes", 3, "unknown_prompt_id"),
    }
    unknown = next(p for p in problems if p.kind == "unknown_prompt_id")
    assert str(prompts) in unknown.message


def test_rejects_file_receives_bad_rows_and_counts_are_reported(tmp_path: Path) -> None:
    rows = with_changes(2, quality=2.0)
    rows[4]["cost_usd"] = -1.0
    rejects = tmp_path / "out" / "rejects.jsonl"
    log = data.load(write(tmp_path / "log.jsonl", rows), rejects=rejects)
    assert log.num_outcomes == 3
    assert log.report is not None
    assert log.report.outcome_rows_rejected == 2
    assert log.report.rejects_path == str(rejects)
    assert log.report.problems_by_kind == {"quality_out_of_range": 1, "invalid_cost_usd": 1}
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(line["_row"] for line in lines) == [3, 5]
    assert all(line["_problems"] for line in lines)
    # Every row read is either loaded or rejected: nothing vanished.
    assert log.report.outcome_rows_read == log.num_outcomes + log.report.outcome_rows_rejected


def test_a_rejected_prompt_takes_its_outcomes_with_it(tmp_path: Path) -> None:
    write(
        tmp_path / "prompts" / "d.jsonl",
        [{"prompt_id": "a", "prompt": " "}, {"prompt_id": "b", "prompt": "ok"}],
    )
    outcomes = write(
        tmp_path / "outcomes" / "d.jsonl",
        [
            {"prompt_id": "a", "model": "m", "quality": 1},
            {"prompt_id": "b", "model": "m", "quality": 1},
        ],
    )
    log = data.load(outcomes, rejects=tmp_path / "rejects.jsonl")
    assert log.prompt_keys() == [("d", "b")]
    assert log.num_outcomes == 1
    lines = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert {line["_table"] for line in lines} == {"prompts", "outcomes"}
