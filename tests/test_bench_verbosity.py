"""benchmarks/verbosity_transfer.py: lengths relative to each set's median model,
matched across sets by canonical id, only from sets that log lengths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from benchmarks.verbosity_transfer import relative_lengths


def test_relative_lengths_match_models_across_spellings(tmp_path: Path) -> None:
    (tmp_path / "outcomes").mkdir()

    def write(name: str, rows: list[tuple[str, int | None]]) -> None:
        frame = pd.DataFrame(rows, columns=["model", "out_chars"])
        frame["prompt_id"] = [str(i) for i in range(len(rows))]
        if frame.out_chars.isna().all():
            frame = frame.drop(columns="out_chars")
        frame.to_parquet(tmp_path / "outcomes" / f"{name}.parquet")

    # "trivia": terse gemma, wordy llama-8b; "maths" spells them differently.
    write(
        "trivia",
        [
            ("google/gemma-2-27b-it", 50),
            ("meta/llama-3.1-8b-instruct", 300),
            ("mistralai/mistral-7b-instruct-v0.3", 100),
        ],
    )
    write(
        "maths",
        [
            ("gemma-2-27b-it", 400),
            ("Meta-Llama-3.1-8B-Instruct", 1200),
            ("qwen2-7b-instruct", 600),
            ("gemma-2-27b-it", 0),
        ],
    )
    write("no_lengths", [("gemma-2-27b-it", None)])
    table = relative_lengths(tmp_path, "trivia")
    assert set(table) == {"gemma-2-27b-it", "llama-3.1-8b-instruct", "mistral-7b-instruct-v0.3"}
    assert table["gemma-2-27b-it"] == pytest.approx({"trivia": 0.5, "maths": 400 / 600})
    assert table["llama-3.1-8b-instruct"] == pytest.approx({"trivia": 3.0, "maths": 2.0})
    assert table["mistral-7b-instruct-v0.3"] == {"trivia": 1.0}
