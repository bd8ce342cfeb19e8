"""What the cache keys on: canonical parameters and the semantic key text.

The exact tier keys on the whole prompt (normalised in the Rust core). The
semantic tier keys on a *key text*: the part of the prompt that carries the
question. Three things are removed before embedding, because they dominate
an embedding without changing which question is asked:

- registered static blocks (system prompts, guardrails, policies pasted into
  the prompt), matched whitespace-insensitively;
- solved few-shot examples: paragraphs whose last line is an answer
  (``Answer: B``, ``A: 42``, ``... the answer is (C).``), and paragraphs
  repeating an earlier one (an instruction restated before every shot). A sentence encoder
  reads only its first ~256 tokens, so on a 5-shot prompt it would embed the
  examples and never see the question: every prompt of a task would look the
  same (on the RouterBench prompts, all ARC questions share one embedding);
- for the encoder only, anything beyond ``max_chars``: the embedded text
  keeps the head (the instruction) and the tail (the question), cut at word
  boundaries. The guards still compare the whole key text, and a clipped key
  must match its candidate word for word (what the encoder did not see may
  not differ).

Paragraphs are separated by a blank line, written either as real newlines or
as the two characters ``\\n`` (prompts logged as escaped strings, as in
RouterBench).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from learned_router.errors import InvalidInputError

_NEWLINE = r"(?:\r?\n|\\n)"
_PARAGRAPH_BREAK = re.compile(rf"{_NEWLINE}[ \t]*{_NEWLINE}(?:[ \t]*{_NEWLINE})*")
_LINE_BREAK = re.compile(_NEWLINE)
# The end of a solved example: an answer label and a short answer on one
# line ("Answer: B"; not "Answer:']" or "Answer:?", which close an unanswered
# question), a
# bare label followed by a short answer on the next line ("Answer:\nB"), or
# a chain of thought ending in "the answer is (X)".
_LABEL = r"(?:answer|a|output|label|solution|response)\s*[:：]"
_SOLVED_INLINE = re.compile(
    rf"^\s*{_LABEL}\s*(?=\W{{0,2}}\w).{{1,80}}$"
    r"|the answer is\s*\(?[A-Za-z0-9]{1,4}\)?\s*\.?\s*$",
    re.IGNORECASE,
)
_BARE_LABEL = re.compile(rf"{_LABEL}\s*$", re.IGNORECASE)
_SHORT_ANSWER = re.compile(r"\(?[A-Za-z0-9]{1,3}\)?\.?")
_WHITESPACE = re.compile(r"\s+")


def canonical_params(params: Mapping[str, Any] | None) -> str:
    """Generation parameters as canonical JSON: sorted keys, no spaces.

    ``None`` and ``{}`` are the same (defaults). Values must be JSON values.

    >>> canonical_params({"temperature": 0.2, "max_tokens": 256})
    '{"max_tokens":256,"temperature":0.2}'
    """
    if not params:
        return "{}"
    try:
        return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"invalid argument `params`: {err}; pass JSON values (numbers, strings, "
            "booleans, lists, dicts) for generation parameters"
        ) from err


@dataclass(frozen=True)
class CacheKey:
    """How the semantic tier sees one prompt."""

    text: str
    """The key text: the prompt without static blocks and solved examples,
    whitespace collapsed. Guards compare it whole."""
    embed_text: str
    """What is embedded: ``text``, or its head and tail when it is longer than
    ``max_chars`` (``clipped``)."""
    clipped: bool
    """True when the encoder does not see all of ``text``."""
    static_chars: int
    """Characters of the prompt that matched registered static blocks (the cost
    model prices those at cached-input rates)."""
    example_chars: int
    """Characters dropped as solved few-shot examples."""


class StaticBlocks:
    """A set of registered static prompt blocks, matched ignoring whitespace.

    >>> blocks = StaticBlocks(["You are a helpful assistant."])
    >>> blocks.remove_from("You are a  helpful\\nassistant. What is 2+2?")
    (' What is 2+2?', 29)
    """

    def __init__(self, blocks: Iterable[str] = ()) -> None:
        self._blocks: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        for block in blocks:
            self.add(block)

    @property
    def blocks(self) -> tuple[str, ...]:
        """The registered blocks, in registration order."""
        return self._blocks

    def add(self, block: str) -> None:
        """Registers a block (a no-op for a block already registered).

        >>> blocks = StaticBlocks()
        >>> blocks.add("Be brief.")
        >>> blocks.blocks
        ('Be brief.',)
        """
        words = block.split()
        if not words:
            raise InvalidInputError(
                "invalid argument `block`: a static block must contain text, got only whitespace"
            )
        canonical = " ".join(words)
        if canonical in self._blocks:
            return
        # Longest first, so a block that contains another is removed whole.
        blocks = sorted((*self._blocks, canonical), key=len, reverse=True)
        alternatives = (r"\s+".join(map(re.escape, b.split(" "))) for b in blocks)
        self._pattern = re.compile("|".join(alternatives))
        self._blocks = (*self._blocks, canonical)

    def remove_from(self, prompt: str) -> tuple[str, int]:
        """The prompt without any registered block, and how many characters went.

        >>> StaticBlocks(["Be brief."]).remove_from("Be  brief. Hi")
        (' Hi', 10)
        """
        if self._pattern is None:
            return prompt, 0
        removed = 0

        def drop(match: re.Match[str]) -> str:
            nonlocal removed
            removed += len(match.group(0))
            return ""

        return self._pattern.sub(drop, prompt), removed


def split_paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs, split at blank lines (real or escaped ``\\n``).

    >>> split_paragraphs("one\\n\\ntwo\\\\n\\\\nthree")
    ['one', 'two', 'three']
    """
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def is_solved_example(paragraph: str) -> bool:
    """True if the paragraph ends with an answer (a solved example).

    >>> is_solved_example("2+2?\\nAnswer: 4"), is_solved_example("2+2?\\nAnswer:\\nD")
    (True, True)
    >>> is_solved_example("3+5?\\nAnswer:"), is_solved_example("3+5?\\nAnswer:']")
    (False, False)
    >>> is_solved_example("3+5?\\nAnswer:?"), is_solved_example("3+5?\\nAnswer: (C)")
    (False, True)
    """
    lines = [line.strip() for line in _LINE_BREAK.split(paragraph) if line.strip()]
    if not lines:
        return False
    if _SOLVED_INLINE.search(lines[-1]):
        return True
    return (
        len(lines) >= 2
        and _SHORT_ANSWER.fullmatch(lines[-1]) is not None
        and _BARE_LABEL.search(lines[-2]) is not None
    )


def _clip(text: str, max_chars: int) -> str:
    """Head and tail of ``text`` within ``max_chars``, cut at word boundaries."""
    if len(text) <= max_chars:
        return text
    head_budget = max_chars // 4
    head = text[:head_budget].rsplit(" ", 1)[0]
    tail = text[len(text) - (max_chars - len(head) - 3) :]
    tail = tail.split(" ", 1)[1] if " " in tail else tail
    return f"{head} … {tail}"


def prompt_key(
    prompt: str,
    *,
    static_blocks: StaticBlocks | None = None,
    strip_solved_examples: bool = True,
    max_chars: int = 1000,
) -> CacheKey:
    """The semantic key of a prompt: static blocks and solved examples removed,
    whitespace collapsed; the embedded text is clipped to ``max_chars`` (head
    and tail kept).

    >>> prompt_key("Q: 1+1?\\nA: 2\\n\\nQ: 2+3?\\nA:").text
    'Q: 2+3? A:'
    """
    if max_chars < 16:
        raise InvalidInputError(f"invalid argument `max_chars`: got {max_chars}; use >= 16")
    text, static_chars = static_blocks.remove_from(prompt) if static_blocks else (prompt, 0)
    example_chars = 0
    if strip_solved_examples:
        paragraphs = split_paragraphs(text)
        kept, seen = [], set()
        for i, paragraph in enumerate(paragraphs):
            canonical = " ".join(paragraph.split())
            # The last paragraph is the question and always stays: dropping
            # it by mistake would leave a key that different questions share.
            # A per-example instruction repeated before every shot says
            # nothing new after its first occurrence.
            last = i == len(paragraphs) - 1
            if last or (not is_solved_example(paragraph) and canonical not in seen):
                kept.append(paragraph)
                seen.add(canonical)
        if kept and len(kept) < len(paragraphs):
            example_chars = sum(len(p) for p in paragraphs) - sum(len(p) for p in kept)
            text = "\n\n".join(kept)
    words = _WHITESPACE.sub(" ", _LINE_BREAK.sub(" ", text)).strip()
    embed_text = _clip(words, max_chars)
    return CacheKey(
        text=words,
        embed_text=embed_text,
        clipped=embed_text != words,
        static_chars=static_chars,
        example_chars=example_chars,
    )


def expiry(now: float, ttl_s: float | None) -> float:
    """Absolute expiry time for a TTL in seconds (``inf`` for none).

    >>> expiry(100.0, 60)
    160.0
    """
    if ttl_s is None or ttl_s == math.inf:
        return math.inf
    check_ttl("ttl_s", ttl_s)
    return now + ttl_s


def check_ttl(argument: str, ttl_s: float | None) -> None:
    """Raises unless ``ttl_s`` is None, infinity or a positive number of seconds."""
    if ttl_s is None or ttl_s == math.inf:
        return
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not ttl_s > 0:
        raise InvalidInputError(
            f"invalid argument `{argument}`: got {ttl_s!r}; pass a positive number of "
            "seconds, or None / math.inf for no expiry"
        )
