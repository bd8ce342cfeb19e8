"""`learned-router data validate|summary` (learned_router.cli)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from learned_router.cli import app
from logs import ROWS, with_changes, write

runner = CliRunner()


def test_validate_passes_a_good_log(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(write(tmp_path / "log.jsonl", ROWS))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "loaded 5" in result.output


def test_validate_fails_with_located_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl", with_changes(1, quality=3))
    result = runner.invoke(app, ["data", "validate", str(path)], terminal_width=400)
    assert result.exit_code == 1
    assert "invalid" in result.output
    assert "row 2, field 'quality'" in result.output


def test_validate_with_rejects_loads_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl", with_changes(1, quality=3))
    rejects = tmp_path / "rejects.jsonl"
    result = runner.invoke(
        app, ["data", "validate", str(path), "--rejects", str(rejects)], terminal_width=400
    )
    assert result.exit_code == 0, result.output
    assert "rejected 1" in result.output
    assert rejects.exists()


def test_summary_shows_datasets_and_models(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["data", "summary", str(write(tmp_path / "log.jsonl", ROWS))], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "Datasets" in result.output
    assert "Models" in result.output
    assert "large" in result.output
    assert "small" in result.output


def test_validate_reads_the_outcome_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(write(tmp_path / "o.sqlite", ROWS))])
    assert result.exit_code == 0, result.output
    assert "loaded 5" in result.output
