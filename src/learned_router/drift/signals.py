"""Agreement between the routed model's answer and the golden model's.

Short answers (a number, a letter, a word or two) are compared by normalised
exact match, after pulling out a final answer where there is one ("#### 42",
"The answer is (B)", ``\\boxed{...}``). Long answers are compared by the cosine
similarity of sentence embeddings (any callable ``texts -> [n, d]`` array:
the semantic cache's :class:`~learned_router.cache.CacheEncoder` in service,
a hashing embedder in tests). A ``judge`` callable, when given, decides
instead: ``judge(prompt, routed, golden) -> agreement in [0, 1]``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from learned_router.errors import InvalidInputError

Embedder = Callable[[Sequence[str]], npt.NDArray[np.floating]]
Judge = Callable[[str, str, str], float]

_FINAL = (
    re.compile(r"####\s*(.+)$", re.MULTILINE),
    re.compile(r"answer is[:\s]*\(?([^\n.]+?)\)?\s*(?:\.|$)", re.IGNORECASE | re.MULTILINE),
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation.replace(".", "").replace("-", ""))


def final_answer(text: str) -> str:
    """The final answer a response states, else the whole response.

    >>> final_answer("so 6 x 7 = 42. #### 42")
    '42'
    >>> final_answer("Thinking... The answer is (B).")
    'B'
    """
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in _FINAL:
        found = pattern.findall(text)
        if found:
            return str(found[-1]).strip()
    return text


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, nested braces included."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


def normalise(text: str) -> str:
    """Lower case, NFKC, no articles or punctuation (keeps ``.`` and ``-`` inside
    numbers), single spaces, numbers without trailing zeros.

    >>> normalise("  The Answer: 42.0! ")
    'answer 42'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ARTICLES.sub(" ", text.translate(_PUNCT))
    words = []
    for word in text.split():
        word = word.strip(".")
        try:
            number = float(word.replace(",", ""))
        except ValueError:
            words.append(word)
        else:
            words.append(f"{number:g}")
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class AgreementPolicy:
    """How two answers are compared (see the module docstring)."""

    short_chars: int = 64
    """Final answers up to this long are compared by normalised exact match."""
    similarity_threshold: float = 0.85
    """Long answers agree when their embeddings' cosine reaches this."""


def agreement(
    routed: str,
    golden: str,
    *,
    prompt: str = "",
    embed: Embedder | None = None,
    judge: Judge | None = None,
    policy: AgreementPolicy = AgreementPolicy(),
) -> tuple[float, str]:
    """(agreement in [0, 1], the method used: ``judge``, ``exact`` or ``embedding``).

    >>> agreement("The answer is 42.", "#### 42")
    (1.0, 'exact')
    >>> agreement("B", "C")
    (0.0, 'exact')
    """
    if judge is not None:
        value = float(judge(prompt, routed, golden))
        if not 0.0 <= value <= 1.0:
            raise InvalidInputError(
                f"the judge returned {value}; it must return a number in [0, 1]"
            )
        return value, "judge"
    a, b = final_answer(routed), final_answer(golden)
    if max(len(a), len(b)) <= policy.short_chars or embed is None:
        return float(normalise(a) == normalise(b)), "exact"
    vectors = np.asarray(embed([routed, golden]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(norms > 0):
        return float(normalise(a) == normalise(b)), "exact"
    cosine = float(vectors[0] @ vectors[1] / (norms[0] * norms[1]))
    return float(cosine >= policy.similarity_threshold), "embedding"
