"""Token counts and expected output lengths (learned_router.tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from learned_router import data
from learned_router.tokens import CHARS_PER_OUTPUT_TOKEN, OutputLengthModel, TokenCounter
from logs import write


def test_counts_wordpiece_tokens_without_special_markers() -> None:
    counter = TokenCounter()
    counts = counter.count(["Hello world!", "", "unbelievably " * 300])
    assert counts[0] == 3  # hello, world, !
    assert counts[1] == 0
    assert counts[2] > 128  # the packaged tokenizer's truncation is off


def test_output_lengths_from_tokens_responses_and_chars_with_fallbacks(tmp_path: Path) -> None:
    rows = [
        {
            "prompt_id": "1",
            "prompt": "q1",
            "task": "qa",
            "model": "a",
            "quality": 1,
            "output_tokens": 10,
        },
        {
            "prompt_id": "2",
            "prompt": "q2",
            "task": "qa",
            "model": "a",
            "quality": 1,
            "output_tokens": 30,
        },
        {
            "prompt_id": "3",
            "prompt": "q3",
            "task": "chat",
            "model": "a",
            "quality": 1,
            "response": "Hello world!",
        },
        {
            "prompt_id": "1",
            "prompt": "q1",
            "task": "qa",
            "model": "b",
            "quality": 1,
            "output_chars": 80,
        },
        # 0 characters means "not recorded": ignored.
        {
            "prompt_id": "2",
            "prompt": "q2",
            "task": "qa",
            "model": "b",
            "quality": 1,
            "output_chars": 0,
        },
        {
            "prompt_id": "3",
            "prompt": "q3",
            "task": "chat",
            "model": "c",
            "quality": 0,
            "output_chars": 0,
        },
    ]
    log = data.load(write(tmp_path / "log.jsonl", rows))
    lengths = OutputLengthModel.fit(log)
    assert lengths.by_model_task["a"] == {"qa": 20.0, "chat": 3.0}
    assert lengths.by_model_task["b"] == {"qa": 80 / CHARS_PER_OUTPUT_TOKEN}
    assert "c" not in lengths.by_model
    expected = lengths.expected(["a", "b", "c", "zzz"], ["qa", "chat"], ["log", "log"])
    assert expected[0].tolist() == [
        20.0,
        20.0,
        pytest.approx((10 + 30 + 20) / 3),
        pytest.approx(20.0),
    ]
    # b has no chat answers: its overall mean; c none at all: the dataset's chat mean.
    assert expected[1].tolist() == [3.0, 20.0, 3.0, 3.0]
    assert lengths.overall == pytest.approx((10 + 30 + 3 + 20) / 4)


def test_output_length_model_round_trips_through_json() -> None:
    lengths = OutputLengthModel(
        {"a": {"qa": 10.0}}, {"a": 12.0}, {"d": {"qa": 11.0}}, {"d": 9.0}, 50.0
    )
    assert OutputLengthModel.from_json(lengths.to_json()) == lengths
