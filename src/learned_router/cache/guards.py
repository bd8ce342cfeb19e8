"""Cheap lexical checks that reject look-alike questions with another meaning.

Embeddings place "enable 2FA" next to "disable 2FA", and "what is 15% of 80"
next to "what is 15% of 90". Each guard compares one property of the query's
key text with the candidate's and rejects the candidate when they differ:

- ``numbers``: the numbers, in order (digits, decimals, signs, grouped
  thousands, and number words up to "billion"; "3.50" equals "3.5");
- ``negations``: how many negation markers each text has ("not", "n't",
  "no", "never", "without", "except", ...), and how often each uses every
  opposite pole ("enable"/"disable", "maximum"/"minimum", "before"/"after",
  "true"/"false", ...; synonyms share a pole, so "largest" and "biggest"
  agree);
- ``entities``: names (capitalised words not starting a sentence, all-caps and
  mixed-case tokens, letter-digit codes such as "2FA" or "GPT-4"): each one
  must occur equally often, in any case, in both texts;
- ``long_texts``: when either key text was clipped before embedding (longer
  than the encoder's window), both must consist of the same sentences, word
  for word (case and punctuation aside; sentence order may differ, so
  reordered boilerplate passes): the encoder never saw the middle, so the
  similarity says nothing about it.

They are deliberately one-sided towards rejecting: a rejected true repeat
costs one model call, a false hit serves a wrong answer.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum


class GuardReason(str, Enum):
    """Why a guard rejected a candidate (also the stats field suffix)."""

    NUMBERS = "numbers"
    NEGATIONS = "negations"
    ENTITIES = "entities"
    LONG_TEXT = "long_text"
    VERIFIER = "verifier"


@dataclass(frozen=True)
class Guards:
    """Which lexical guards run on semantic candidates (all by default).

    >>> Guards(entities=False)
    Guards(numbers=True, negations=True, entities=False, long_texts=True)
    """

    numbers: bool = True
    negations: bool = True
    entities: bool = True
    long_texts: bool = True


_SIGNED_NUMBER = re.compile(r"(?:(?<![\w).])-)?\d+(?:[.,]\d+)*")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_TOKEN = re.compile(r"[^\W_](?:[\w\-]*[^\W_])?")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")
_SENTENCE_OPENERS = frozenset(".!?:;\"'([{*#>-•")

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update(
    {
        word: str(10 * (i + 3))
        for i, word in enumerate(
            ["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
        )
    }
)
_NUMBER_WORDS.update(
    {
        "hundred": "100",
        "thousand": "1000",
        "million": "1000000",
        "billion": "1000000000",
        "half": "0.5",
        "twice": "2",
        "double": "2",
        "triple": "3",
    }
)

_NEGATION_WORDS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "except",
        "unless",
        "excluding",
        "lacks",
        "lack",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "dont",
        "doesnt",
        "didnt",
        "cant",
        "couldnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "hasnt",
        "havent",
        "hadnt",
        "mustnt",
        "neednt",
        "aint",
    ]
)

# Opposite poles: every word maps to a pole label; "x+"/"x-" are opposites.
_POLES: dict[str, str] = {}
for _pole, _pole_words in {
    "enable+": "enable enabled enables enabling activate activated activates activating "
    "turn-on switch-on",
    "enable-": "disable disabled disables disabling deactivate deactivated deactivates "
    "deactivating off",
    "allow+": "allow allowed allows allowing permit permitted permits accept accepted "
    "accepts approve approved",
    "allow-": "deny denied denies denying disallow disallowed forbid forbidden forbids "
    "block blocked blocks reject rejected rejects ban banned",
    "include+": "include included includes including inclusive",
    "include-": "exclude excluded excludes exclusive",
    "increase+": "increase increased increases increasing raise raised grow grows rise "
    "rises rising gain gains",
    "increase-": "decrease decreased decreases decreasing lower lowered reduce reduced "
    "reduces shrink shrinks fall falls falling drop drops loss lose loses",
    "add+": "add added adds adding insert inserted install installed installing create created",
    "add-": "remove removed removes removing delete deleted deletes deleting uninstall "
    "uninstalled uninstalling destroy",
    "max+": "max maximum maximal maximize maximise largest biggest highest greatest "
    "most longest oldest heaviest top",
    "max-": "min minimum minimal minimize minimise smallest lowest least fewest shortest "
    "youngest lightest bottom",
    "more+": "more greater larger bigger higher above over exceed exceeds exceeding",
    "more-": "less fewer smaller lower below under beneath",
    "before+": "before earlier prior previous first start starts starting begin beginning",
    "before-": "after later next last end ends ending finish",
    "true+": "true correct right yes valid legal possible likely agree agrees pros "
    "advantage advantages benefit benefits best better",
    "true-": "false incorrect wrong invalid illegal impossible unlikely disagree "
    "disagrees cons disadvantage disadvantages drawback drawbacks worst worse",
    "lock+": "lock locked encrypt encrypted encryption subscribe subscribed import "
    "imported upload uploaded buy bought push",
    "lock-": "unlock unlocked decrypt decrypted decryption unsubscribe unsubscribed "
    "export exported download downloaded sell sold pull",
    "positive+": "positive plus",
    "positive-": "negative minus",
    "open+": "open opened opens opening",
    "open-": "close closed closes closing shut",
}.items():
    for _word in _pole_words.split():
        _POLES[_word] = _pole


def _canonical_number(raw: str) -> str:
    sign = "-" if raw.startswith("-") else ""
    digits = raw.lstrip("-")
    if digits.isdigit():
        return sign + (digits.lstrip("0") or "0")
    if _GROUPED.match(digits):
        digits = digits.replace(",", "")
    try:
        value = Decimal(digits)
        canonical = format(value.normalize(), "f") if "." in digits else str(int(digits))
    except (InvalidOperation, ValueError):
        canonical = digits  # a version number, a date with dots, a list "1,2,3"
    return sign + canonical


def numbers(text: str) -> tuple[str, ...]:
    """The numbers of ``text`` in order, canonicalised.

    >>> numbers("Is 1,000.50 more than -3 and twenty?")
    ('1000.5', '-3', '20')
    """
    return features(text).numbers


def _words(text: str) -> list[str]:
    return [w.replace("'", "").replace("’", "") for w in _WORD.findall(text.lower())]


def negation_count(text: str) -> int:
    """How many negation markers ``text`` has ("n't" counts once).

    >>> negation_count("Why doesn't it work without sudo?")
    2
    """
    return features(text).negations


def poles(text: str) -> Counter[str]:
    """How often ``text`` uses each opposite-pole label.

    >>> poles("How do I disable 2FA?")
    Counter({'enable-': 1})
    """
    return Counter(dict(features(text).poles))


def _starts_sentence(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_OPENERS or text[i] in "\r\n"


def entities(text: str) -> frozenset[str]:
    """Name-like tokens, lowercased: capitalised words that do not start a
    sentence, all-caps or mixed-case tokens, and letter-digit codes. Single
    letters (multiple-choice labels) are ignored.

    >>> sorted(entities("How do I enable 2FA on my iPhone in France?"))
    ['2fa', 'france', 'iphone']
    """
    return features(text).entities


_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:。！？；])\s+|\n+")


def sentences(text: str) -> Counter[tuple[str, ...]]:
    """The sentences of ``text`` as lowercase word tuples, counted.

    >>> sentences("Be brief. Is it ON?") == sentences("is it on! be brief")
    True
    """
    return Counter(tuple(words) for part in _SENTENCE_BREAK.split(text) if (words := _words(part)))


@dataclass(frozen=True)
class TextFeatures:
    """What the guards compare, extracted from one text in one pass."""

    numbers: tuple[str, ...]
    negations: int
    poles: frozenset[tuple[str, int]]
    entities: frozenset[str]
    tokens: Counter[str]
    """Lowercased token counts (names are compared by count)."""


_UPPER = "A-ZÀ-ÖØ-ÞΑ-ΩА-Я"
_CAPITALISED = re.compile(rf"(?<![\w\-])[{_UPPER}][\w\-]*[^\W_]")
_DIGITS = re.compile(r"-?\d+(?:[.,]\d+)*")
_APOSTROPHES = str.maketrans("", "", "'’")


@functools.lru_cache(maxsize=4096)
def features(text: str) -> TextFeatures:
    """The guard features of ``text``. One token scan does most of the work
    (Python's ``re`` costs ~50 us per 1,000 characters per scan here).
    Cached: a stored entry's key text is compared again on every lookup
    that lands near it."""
    stripped = text.translate(_APOSTROPHES)  # "doesn't" -> "doesnt", one token
    tokens = _TOKEN.findall(stripped)
    lowered_tokens = " ".join(tokens).lower()
    words = lowered_tokens.replace("-", " ").split()
    counts = Counter(words)

    found = []
    for match in _DIGITS.finditer(text):
        raw, start = match.group(0), match.start()
        if raw[0] == "-" and start and (text[start - 1].isalnum() or text[start - 1] in ").,"):
            raw, start = raw[1:], start + 1  # a hyphen ("2-3", "x-1"), not a sign
        found.append((start, _canonical_number(raw)))
    if _NUMBER_WORDS.keys() & counts.keys():  # rare: place number words among the digits
        lowered = text.lower()
        found += [
            (m.start(), _NUMBER_WORDS[m.group(0)])
            for m in _WORD.finditer(lowered)
            if m.group(0) in _NUMBER_WORDS
        ]
        found.sort()

    pole_counts: Counter[str] = Counter()
    for word in _POLES.keys() & counts.keys():
        pole_counts[_POLES[word]] += counts[word]
    if "turn" in counts or "switch" in counts:
        pole_counts.update(
            _POLES[pair] for pair in map("-".join, itertools.pairwise(words)) if pair in _POLES
        )

    names = set()
    capitalised = set()
    for token in tokens:
        if len(token) < 2 or token.islower() or token.isdigit():
            if token.islower() and not token.isalpha() and _HAS_DIGIT.search(token):
                names.add(token)  # a lowercase code such as "2fa" or "gpt-4"
            continue
        lowered = token.lower()
        if token[1:] != lowered[1:] or (_HAS_DIGIT.search(token) and _HAS_LETTER.search(token)):
            names.add(lowered)  # "iPhone", "NASA", "2FA", "GPT-4"
        elif token[0] != lowered[0]:
            capitalised.add(token)  # a name only inside a sentence
    if capitalised:
        names.update(
            m.group(0).lower()
            for m in _CAPITALISED.finditer(stripped)
            if m.group(0) in capitalised and not _starts_sentence(stripped, m.start())
        )
    return TextFeatures(
        numbers=tuple(value for _, value in found),
        negations=sum(counts[w] for w in _NEGATION_WORDS & counts.keys()),
        poles=frozenset(pole_counts.items()),
        entities=frozenset(names),
        tokens=Counter(lowered_tokens.split()),
    )


def _same_entities(q: TextFeatures, c: TextFeatures) -> bool:
    """Every name of either text occurs equally often (in any case) in both."""
    return all(q.tokens[name] == c.tokens[name] for name in q.entities | c.entities)


def check(
    query: str,
    candidate: str,
    guards: Guards = Guards(),
    *,
    clipped: bool = False,
) -> GuardReason | None:
    """The first guard that rejects ``candidate`` as an answer to ``query``.
    ``clipped``: the encoder saw only part of one of the two texts.

    >>> check("How do I enable 2FA?", "How do I disable 2FA?")
    <GuardReason.NEGATIONS: 'negations'>
    >>> check("What is 15% of 80?", "what is 15 % of 80") is None
    True
    """
    q, c = features(query), features(candidate)
    if guards.numbers and q.numbers != c.numbers:
        return GuardReason.NUMBERS
    if guards.negations and (q.negations != c.negations or q.poles != c.poles):
        return GuardReason.NEGATIONS
    if guards.entities and not _same_entities(q, c):
        return GuardReason.ENTITIES
    if guards.long_texts and clipped and sentences(query) != sentences(candidate):
        return GuardReason.LONG_TEXT
    return None
