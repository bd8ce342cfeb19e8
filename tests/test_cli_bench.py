"""`learned-router bench` (learned_router.cli)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_synth import synthetic
from learned_router.cli import app
from logs import write

runner = CliRunner()
# Models the shipped catalog knows, standing in for cheap / mid / frontier.
NAMES = ("mistralai/mistral-7b-chat", "gpt-3.5-turbo-1106", "gpt-4-1106-preview")


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    problem = synthetic(200, seed=11)
    rows = [
        {
            "prompt_id": f"p{i}",
            "prompt": prompt,
            "model": NAMES[j],
            "quality": float(problem.quality[i, j]),
            "cost_usd": float(problem.cost_usd[i, j]),
            "task": "t",
        }
        for i, prompt in enumerate(problem.prompts)
        for j in range(3)
    ]
    return write(tmp_path / "log.parquet", rows)


def _args(log_file: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "bench",
        "--data",
        str(log_file),
        "--out",
        str(tmp_path / "report"),
        "--embedder",
        "bench_synth:make_keyword_embedder",
        "--bootstrap",
        "10",
        "--rejects",
        str(tmp_path / "rejects.jsonl"),
        "--cache-dir",
        str(tmp_path / "cache"),
        *extra,
    ]


@pytest.mark.slow  # every baseline, trained for real: ~5 s of CPU
def test_bench_runs_end_to_end(
    log_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no models/default here: baselines only
    result = runner.invoke(app, _args(log_file, tmp_path), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "baselines only" in result.output
    assert "tfidf-logreg" in result.output
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## log" in report
    assert (tmp_path / "report" / "pareto_log.png").is_file()
    assert any((tmp_path / "cache" / "keyword-test").glob("shard-*.npz"))


def test_bench_fails_clearly_without_a_bundle(log_file: Path, tmp_path: Path) -> None:
    args = _args(log_file, tmp_path, "--router", str(tmp_path / "no-bundle"))
    result = runner.invoke(app, args, terminal_width=300)
    assert result.exit_code == 1
    assert "no router bundle at" in result.output
    assert not (tmp_path / "report").exists()


def test_bench_rejects_a_bad_embedder_spec(log_file: Path, tmp_path: Path) -> None:
    args = _args(log_file, tmp_path)
    args[args.index("--embedder") + 1] = "no_colon_here"
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code != 0
    assert "MODULE:FACTORY" in result.output
