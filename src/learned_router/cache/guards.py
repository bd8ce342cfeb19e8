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
- ``numbers`` rejects *conflicting* numbers only: one text's numbers must be
  the other's, in order, possibly with extra ones ("in 1902" present on one
  side only); what is only on one side is then the ``scope`` guard's call;
- ``entities``: names (capitalised words not starting a sentence, all-caps and
  mixed-case tokens, letter-digit codes such as "2FA" or "GPT-4") must occur
  in both texts, in any case ("UK" once or twice is the same name);
- ``roles``: which name or number fills which slot. Each name and number is
  keyed by the two words before it and the two after it (other names and
  numbers read as a placeholder); two of them that trade their slots between
  the texts ("born in Albury, went to Sydney" / "born in Sydney, went to
  Albury"; "100 USD to EUR" / "100 EUR to USD"; "written by A, directed by
  B" / the reverse) are a role swap. Coordinations ("A and B", "A, B",
  "A or B", "A vs B") are order-free and exempt;
- ``scope``: content words (stop words aside, plurals folded) present on one
  side only while the other side has none of its own: a question narrowed or
  widened ("get rid of fleas" / "... in my crawlspace for ever"; a dose "for
  a child"). A reworded question changes words on both sides and passes;
- ``long_texts``: when either key text was clipped before embedding (longer
  than the encoder's window), both must consist of the same sentences, word
  for word (case and punctuation aside; sentence order may differ, so
  reordered boilerplate passes): the encoder never saw the middle, so the
  similarity says nothing about it.

Before comparing, harmless variants are normalised: abbreviation periods
("Dr." = "Dr", "U.S." = "US"), number words ("eight-year-old" =
"8-year-old"), apostrophes, case; "further"/"additional" share the pole of
"more".

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
    ROLES = "roles"
    SCOPE = "scope"
    LONG_TEXT = "long_text"
    VERIFIER = "verifier"


@dataclass(frozen=True)
class Guards:
    """Which lexical guards run on semantic candidates (all by default).

    >>> Guards(entities=False)
    Guards(numbers=True, negations=True, entities=False, roles=True, scope=True, long_texts=True)
    """

    numbers: bool = True
    negations: bool = True
    entities: bool = True
    roles: bool = True
    scope: bool = True
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
    "more+": "more further additional extra greater larger bigger higher above over exceed "
    "exceeds exceeding",
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
    "adult+": "adult adults grown-up grown-ups",
    "adult-": "child children kid kids infant infants baby babies toddler toddlers",
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
    """Lowercased token counts (names are compared by presence)."""
    slots: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    """Each name or number (lowercased, multi-word names joined) with the two
    tokens before and after its first occurrence (names and numbers there
    read ``<x>``)."""
    content: frozenset[str] = frozenset()
    """Content words: lowercased, stop words removed, plurals folded."""


_UPPER = "A-ZÀ-ÖØ-ÞΑ-ΩА-Я"
_CAPITALISED = re.compile(rf"(?<![\w\-])[{_UPPER}][\w\-]*[^\W_]")
_DIGITS = re.compile(r"-?\d+(?:[.,]\d+)*")
_APOSTROPHES = str.maketrans("", "", "'’")
# Abbreviations whose period does not end a sentence ("Dr." = "Dr"), and
# dotted initialisms ("U.S." = "US"). "No." is left alone: "no" is a negation.
_ABBREVIATION = re.compile(
    r"\b(Dr|Mr|Mrs|Ms|Mx|Prof|St|Mt|Ft|Jr|Sr|Gen|Col|Lt|Capt|Sgt|Rev|Hon|Gov|Sen|Rep|"
    r"Inc|Ltd|Co|Corp|Bros|vs|etc|approx|Fig|Vol|Jan|Feb|Mar|Apr|Aug|Sep|Sept|Oct|Nov|Dec)\.",
)
_POSSESSIVE = re.compile(r"(?<=[^\W_])['’]s\b")
_INITIALISM = re.compile(r"\b(?:[A-Z]\.){2,}")
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_LETTERS = re.compile(r"[a-z]+")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)*$")
_COORDINATIONS = frozenset(["and", "or", ",", "&", "vs", "versus", "nor", "plus", "with"])
_SLOT_WINDOW = 2
_STOP_WORD_TEXT = (
    "a an the this that these those there here it its itself i me my mine we us our "
    "ours you your yours he him his she her hers they them their theirs one ones "
    "someone something is are was were be been being am do does did doing done have "
    "has had having will would shall should can could may might must ought whats "
    "thats its lets im ive id youre theyre of in on at to for from by with into onto "
    "upon about as than then so such also too very just only really actually please "
    "kindly exactly quite rather still even yet again now and or but if because while "
    "when where which who whom whose what why how whether all any some each every "
    "both either most many much more few several other another same own out up down "
    "off over under again further once tell give show explain describe get got "
    "getting go going make made let know want need like way use using used "
)
_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())


def _normalise(text: str) -> str:
    """Harmless variants made equal: abbreviation periods, initialisms,
    apostrophes, number words (as digits). Each rewrite runs only when its
    trigger character or word is present (most keys need none)."""
    if "." in text:
        text = _ABBREVIATION.sub(r"\1", text)
        text = _INITIALISM.sub(lambda m: m.group(0).replace(".", ""), text)
    if "'" in text or "’" in text:
        text = _POSSESSIVE.sub("", text)  # "France's" = "France"
        text = text.translate(_APOSTROPHES)  # "doesn't" -> "doesnt", one token
    if not _NUMBER_WORDS.keys().isdisjoint(_LETTERS.findall(text.lower())):
        text = _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(0).lower()], text)
    return text


def _fold(word: str) -> str:
    """A crude plural fold: "fleas" = "flea", "Frances" stays distinct from
    nothing it should equal often enough to matter."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@functools.lru_cache(maxsize=4096)
def features(text: str) -> TextFeatures:
    """The guard features of ``text``. One token scan does most of the work
    (Python's ``re`` costs ~50 us per 1,000 characters per scan here).
    Cached: a stored entry's key text is compared again on every lookup
    that lands near it."""
    stripped = _normalise(text)
    tokens = _TOKEN.findall(stripped)
    lowered_tokens = " ".join(tokens).lower()
    words = lowered_tokens.replace("-", " ").split()
    counts = Counter(words)

    found = []
    for match in _DIGITS.finditer(stripped):
        raw, start = match.group(0), match.start()
        if (
            raw[0] == "-"
            and start
            and (stripped[start - 1].isalnum() or stripped[start - 1] in ").,")
        ):
            raw, start = raw[1:], start + 1  # a hyphen ("2-3", "x-1"), not a sign
        found.append((start, _canonical_number(raw)))

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
            if (
                token.islower()
                and not token.isalpha()
                and _HAS_DIGIT.search(token)
                and not _PLAIN_NUMBER.match(token.split("-")[0])
            ):
                names.add(token)  # a lowercase code such as "2fa" or "gpt-4", not "8-year-old"
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
        slots=_slots(stripped, names),
        content=frozenset(
            _fold(w)
            for w in words
            if w not in _STOP_WORDS and w not in _NEGATION_WORDS and w not in _POLES
        ),
    )


_SLOT_TOKEN = re.compile(r"-?\d+(?:[.,]\d+)*|[^\W_](?:[\w\-]*[^\W_])?|[,;:&]")


def _slots(text: str, names: set[str]) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """Names and numbers with their left and right context (first occurrence)."""
    if not names and not _HAS_DIGIT.search(text):
        return ()
    sequence: list[str] = []
    items: list[int] = []  # positions in ``sequence`` that are a name or number
    for token in _SLOT_TOKEN.findall(text):
        lowered = token.lower()
        if lowered in names or _PLAIN_NUMBER.match(token):
            key = _canonical_number(token) if _PLAIN_NUMBER.match(token) else lowered
            previous = items[-1] if items else -2
            if (
                previous == len(sequence) - 1
                and not _PLAIN_NUMBER.match(sequence[previous])
                and not _PLAIN_NUMBER.match(token)
            ):
                sequence[previous] += " " + key  # a multi-word name: "new york"
                continue
            items.append(len(sequence))
            sequence.append(key)
        else:
            sequence.append(lowered)
    item_set = set(items)
    seen: set[str] = set()
    out = []
    for position in items:
        key = sequence[position]
        if key in seen:
            continue
        seen.add(key)

        def context(positions: range) -> tuple[str, ...]:
            return tuple(
                "<x>" if p in item_set else sequence[p] if 0 <= p < len(sequence) else "^"
                for p in positions
            )

        left = context(range(position - _SLOT_WINDOW, position))
        right = context(range(position + 1, position + 1 + _SLOT_WINDOW))
        out.append((key, left, right))
    return tuple(out)


def _same_entities(q: TextFeatures, c: TextFeatures) -> bool:
    """Every name of either text occurs (in any case) in both."""
    return all((q.tokens[name] > 0) == (c.tokens[name] > 0) for name in q.entities | c.entities)


def _compatible_numbers(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One sequence is the other with numbers inserted (none changed or moved)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    remaining = iter(long)
    return all(any(n == m for m in remaining) for n in short)


def role_swap(query: str, candidate: str) -> tuple[str, str] | None:
    """Two names or numbers that trade slots between the texts, or None.

    >>> role_swap("born in Albury, went to Sydney", "born in Sydney, went to Albury")
    ('albury', 'sydney')
    >>> role_swap("Compare Rust and Go", "Compare Go and Rust") is None
    True
    """
    q, c = features(query).slots, features(candidate).slots
    if len(q) < 2 or len(c) < 2:
        return None
    q_slots = {key: (left, right) for key, left, right in q}
    c_slots = {key: (left, right) for key, left, right in c}
    shared = [key for key in q_slots if key in c_slots]
    for a, b in itertools.combinations(shared, 2):
        for side in (0, 1):
            qa, qb = q_slots[a][side], q_slots[b][side]
            ca, cb = c_slots[a][side], c_slots[b][side]
            if qa == qb or qa != cb or qb != ca:
                continue
            near = (qa[-1], qb[-1]) if side == 0 else (qa[0], qb[0])
            if _COORDINATIONS & set(near):
                continue  # "A and B" / "B and A": order-free
            return a, b
    return None


def scope_change(query: str, candidate: str) -> frozenset[str]:
    """Content words one text adds while the other adds none (empty if both
    or neither add): a narrowed or widened question.

    >>> sorted(scope_change("How do I get rid of fleas?",
    ...                     "How do I get rid of fleas in my crawlspace for ever?"))
    ['crawlspace', 'ever']
    """
    q, c = features(query).content, features(candidate).content
    only_q, only_c = q - c, c - q
    if only_q and only_c:
        return frozenset()
    return only_q | only_c


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
    if guards.numbers and not _compatible_numbers(q.numbers, c.numbers):
        return GuardReason.NUMBERS
    if guards.negations and (q.negations != c.negations or q.poles != c.poles):
        return GuardReason.NEGATIONS
    if guards.entities and not _same_entities(q, c):
        return GuardReason.ENTITIES
    if guards.roles and role_swap(query, candidate) is not None:
        return GuardReason.ROLES
    if guards.scope and scope_change(query, candidate):
        return GuardReason.SCOPE
    if guards.long_texts and clipped and sentences(query) != sentences(candidate):
        return GuardReason.LONG_TEXT
    return None
