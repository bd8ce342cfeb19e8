"""Semantic keys: canonical params, static blocks, solved examples, clipping."""

from __future__ import annotations

import doctest

import pytest

from learned_router import InvalidInputError
from learned_router.cache import keys
from learned_router.cache.keys import StaticBlocks, canonical_params, prompt_key


def test_docstring_examples() -> None:
    assert doctest.testmod(keys).failed == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, "{}"),
        ({}, "{}"),
        ({"b": 1, "a": 0.5}, '{"a":0.5,"b":1}'),
        ({"stop": ["\n"], "temperature": 0}, '{"stop":["\\n"],"temperature":0}'),
    ],
)
def test_canonical_params(params: dict[str, object] | None, expected: str) -> None:
    assert canonical_params(params) == expected


@pytest.mark.parametrize("bad", [{"t": float("nan")}, {"f": object()}])
def test_canonical_params_rejects_non_json(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match="params"):
        canonical_params(bad)


def test_static_blocks_are_removed_ignoring_whitespace_longest_first() -> None:
    blocks = StaticBlocks(["Be brief.", "You are a helpful assistant. Be brief."])
    text, removed = blocks.remove_from("You are a helpful\n  assistant.  Be brief.\nWhat is DNS?")
    assert text.strip() == "What is DNS?"
    assert removed == len("You are a helpful\n  assistant.  Be brief.")
    blocks.add("Be brief.")  # registering twice is a no-op
    assert len(blocks.blocks) == 2
    with pytest.raises(InvalidInputError, match="static block"):
        blocks.add("  \n ")


def test_static_blocks_in_any_order_give_one_key() -> None:
    blocks = StaticBlocks(["Policy A applies.", "Policy B applies."])
    first = prompt_key(
        "Policy A applies. Policy B applies. Reset my password", static_blocks=blocks
    )
    second = prompt_key(
        "Policy B applies.\n\nPolicy A applies.\nReset my password", static_blocks=blocks
    )
    assert first.text == second.text == "Reset my password"
    assert first.static_chars > 0


@pytest.mark.parametrize(
    "prompt",
    [
        # Real newlines and the escaped two-character form of RouterBench logs.
        "Q: 1+1?\nA: 2\n\nQ: 5+5?\nA: 10\n\nQ: 3+4?\nA:",
        "Q: 1+1?\\nA: 2\\n\\nQ: 5+5?\\nA: 10\\n\\nQ: 3+4?\\nA:",
        "Q: 9+9?\nAnswer: 18\n\n\n\nQ: 3+4?\nA:",
        "Question: 2*3? Answer: Let's think step by step. 2*3=6. The answer is (B).\n\nQ: 3+4?\nA:",
    ],
)
def test_solved_examples_leave_only_the_question(prompt: str) -> None:
    key = prompt_key(prompt)
    assert key.text == "Q: 3+4? A:"
    assert key.example_chars > 0
    assert prompt_key(prompt, strip_solved_examples=False).text != key.text


def test_a_prompt_made_only_of_answers_is_kept_whole() -> None:
    assert prompt_key("Answer: yes").text == "Answer: yes"


def test_the_last_paragraph_is_never_dropped() -> None:
    # Looks solved ("Answer: ...") but is the question being asked: a key
    # without it would be shared by every question behind the same preamble.
    prompt = "Be brief.\n\nQ: 1+1?\nAnswer: 2\n\nWhat is 3+4? Answer: think first"
    assert prompt_key(prompt).text == "Be brief. What is 3+4? Answer: think first"


def test_long_keys_embed_head_and_tail_but_keep_the_whole_text() -> None:
    body = " ".join(f"word{i}" for i in range(500))
    prompt = f"Summarise this: {body} Now answer: what is word499?"
    key = prompt_key(prompt, max_chars=200)
    assert key.clipped
    assert key.text == prompt
    assert len(key.embed_text) <= 200
    assert key.embed_text.startswith("Summarise this:")
    assert key.embed_text.endswith("what is word499?")
    assert " … " in key.embed_text
    short = prompt_key("What is DNS?", max_chars=200)
    assert (short.clipped, short.embed_text) == (False, "What is DNS?")
    with pytest.raises(InvalidInputError, match="max_chars"):
        prompt_key("x", max_chars=3)


def test_repeated_instruction_paragraphs_count_once() -> None:
    prompt = (
        "Reply with A or B.\n\nSky? A) blue B) red\nAnswer: A\n\n"
        "Reply with A or B.\n\nGrass? A) green B) red\nAnswer:"
    )
    assert prompt_key(prompt).text == "Reply with A or B. Grass? A) green B) red Answer:"


def test_expiry_and_ttl_validation() -> None:
    assert keys.expiry(10.0, None) == float("inf")
    assert keys.expiry(10.0, float("inf")) == float("inf")
    assert keys.expiry(10.0, 5) == 15.0
    for bad in (0, -1, float("nan"), True, "60"):
        with pytest.raises(InvalidInputError, match="ttl"):
            keys.expiry(0.0, bad)  # type: ignore[arg-type]
