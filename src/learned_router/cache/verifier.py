"""A small learned verifier for semantic candidates that passed the guards.

Word-swap look-alikes ("flights from New York to Florida" / "from Florida to
New York") have the same words and nearly the same embedding; what tells them
apart is word order and which word sits next to which. :func:`pair_features`
measures that (n-gram overlaps, the longest common token subsequence, order
agreement of shared words, words that trade their neighbours, the guards'
findings) together with the embedding similarity, and a one-hidden-layer
network scores P(same meaning). The weights are a JSON file of plain numbers
(no pickle), trained by ``training/cache_verifier.py`` only on
``paws_wiki_dev.tsv`` (its training part) and pairs generated from the
development prompts; ``docs/cache.md`` reports it on the held-out part.

>>> verifier = PairVerifier.from_dict(PairVerifier.identity_weights(threshold=0.5))
>>> 0.0 <= verifier.probability("a b c", "a b c", 1.0) <= 1.0
True
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.cache import guards
from learned_router.cache.semantic import CacheCandidate
from learned_router.errors import BundleError

FORMAT = "learned-router-cache-verifier"
FORMAT_VERSION = 1

FEATURE_NAMES = (
    "similarity",
    "unigram_jaccard",
    "bigram_jaccard",
    "trigram_jaccard",
    "lcs_ratio",
    "order_agreement",
    "neighbour_swaps",
    "left_context_changed",
    "right_context_changed",
    "length_ratio",
    "one_sided_words",
    "role_swap",
    "scope_change",
    "numbers_differ",
    "poles_differ",
    "same_first_word",
    "same_last_word",
)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in guards._SLOT_TOKEN.findall(guards._normalise(text))]


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return set(zip(*(tokens[i:] for i in range(n)), strict=False))


def _jaccard(a: set[Any], b: set[Any]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def pair_features(query: str, candidate: str, similarity: float) -> npt.NDArray[np.float64]:
    """The verifier's inputs for one pair, in :data:`FEATURE_NAMES` order.

    >>> f = pair_features("flights from Boston to Denver", "flights from Denver to Boston", 0.97)
    >>> dict(zip(FEATURE_NAMES, f.round(2).tolist()))["role_swap"]
    1.0
    """
    a, b = _tokens(query)[:128], _tokens(candidate)[:128]
    fa, fb = guards.features(query), guards.features(candidate)
    positions_b = {t: i for i, t in reversed(list(enumerate(b)))}
    unique_a = [t for t in dict.fromkeys(a) if t in positions_b and a.count(t) == 1]
    shared = [positions_b[t] for t in unique_a if b.count(t) == 1]
    pairs = list(itertools.combinations(shared, 2))
    order = sum(x < y for x, y in pairs) / len(pairs) if pairs else 1.0
    left_a = {t: a[i - 1] if i else "^" for i, t in enumerate(a)}
    left_b = {t: b[i - 1] if i else "^" for i, t in enumerate(b)}
    right_a = {t: a[i + 1] if i + 1 < len(a) else "$" for i, t in enumerate(a)}
    right_b = {t: b[i + 1] if i + 1 < len(b) else "$" for i, t in enumerate(b)}
    common = [t for t in left_a if t in left_b]
    content = [t for t in common if t not in guards._STOP_WORDS and len(t) > 1]
    swaps = sum(
        1
        for x, y in itertools.combinations(content, 2)
        if left_a[x] == left_b[y] and left_a[y] == left_b[x] and left_a[x] != left_a[y]
    )
    n_content = max(len(content), 1)
    one_sided = len(fa.content ^ fb.content) / max(len(fa.content | fb.content), 1)
    values = [
        similarity,
        _jaccard(set(a), set(b)),
        _jaccard(_ngrams(a, 2), _ngrams(b, 2)),
        _jaccard(_ngrams(a, 3), _ngrams(b, 3)),
        _lcs(a, b) / max(len(a), len(b), 1),
        order,
        min(swaps / n_content, 1.0),
        sum(left_a[t] != left_b[t] for t in content) / n_content,
        sum(right_a[t] != right_b[t] for t in content) / n_content,
        min(len(a), len(b)) / max(len(a), len(b), 1),
        one_sided,
        float(guards.role_swap(query, candidate) is not None),
        float(bool(guards.scope_change(query, candidate))),
        float(not guards._compatible_numbers(fa.numbers, fb.numbers)),
        float(fa.poles != fb.poles or fa.negations != fb.negations),
        float(bool(a) and bool(b) and a[0] == b[0]),
        float(bool(a) and bool(b) and a[-1] == b[-1]),
    ]
    return np.asarray(values, dtype=np.float64)


class PairVerifier:
    """P(same meaning) for a cached prompt and a query; a
    :data:`~learned_router.cache.Verifier` (serves when P >= ``threshold``).

    Load the shipped one with :meth:`load` (no argument) or a file of your own.
    """

    def __init__(
        self,
        *,
        mean: npt.ArrayLike,
        scale: npt.ArrayLike,
        hidden_weights: npt.ArrayLike,
        hidden_bias: npt.ArrayLike,
        output_weights: npt.ArrayLike,
        output_bias: float,
        threshold: float,
        source: str = "<memory>",
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.hidden_weights = np.asarray(hidden_weights, dtype=np.float64)
        self.hidden_bias = np.asarray(hidden_bias, dtype=np.float64)
        self.output_weights = np.asarray(output_weights, dtype=np.float64)
        self.output_bias = float(output_bias)
        self.threshold = float(threshold)
        n = len(FEATURE_NAMES)
        hidden = self.hidden_bias.shape[0] if self.hidden_bias.ndim == 1 else -1
        if (
            self.mean.shape != (n,)
            or self.scale.shape != (n,)
            or self.hidden_weights.shape != (n, hidden)
            or self.output_weights.shape != (hidden,)
            or not np.all(np.isfinite(self.hidden_weights))
            or not np.all(self.scale > 0)
            or not 0.0 <= self.threshold <= 1.0
        ):
            raise BundleError(
                f"{source}: verifier weights have the wrong shape or values (expected "
                f"{n} features: mean/scale [{n}] > 0, hidden_weights [{n}, h], hidden_bias "
                "[h], output_weights [h], threshold in [0, 1]); retrain it with "
                "`python -m training.cache_verifier`"
            )

    @staticmethod
    def identity_weights(*, threshold: float) -> dict[str, Any]:
        """Weights that score on the similarity alone (for examples and tests)."""
        n = len(FEATURE_NAMES)
        hidden = [[1.0 if i == 0 else 0.0] for i in range(n)]
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "mean": [0.0] * n,
            "scale": [1.0] * n,
            "hidden_weights": hidden,
            "hidden_bias": [0.0],
            "output_weights": [1.0],
            "output_bias": 0.0,
            "threshold": threshold,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "<memory>") -> PairVerifier:
        if values.get("format") != FORMAT or values.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"{source}: format {values.get('format')!r} version "
                f"{values.get('format_version')!r}; expected {FORMAT!r} version {FORMAT_VERSION}"
            )
        try:
            return cls(
                mean=values["mean"],
                scale=values["scale"],
                hidden_weights=values["hidden_weights"],
                hidden_bias=values["hidden_bias"],
                output_weights=values["output_weights"],
                output_bias=values["output_bias"],
                threshold=values["threshold"],
                source=source,
            )
        except KeyError as missing:
            raise BundleError(f"{source}: verifier field {missing} is missing") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> PairVerifier:
        """Reads a verifier file (default: the shipped one, next to the cache
        encoder, checksummed by its manifest)."""
        if path is None:
            from learned_router.cache.encoder import default_encoder_folder, verify_cache_encoder

            folder = default_encoder_folder()
            manifest = verify_cache_encoder(folder)
            if "verifier.json" not in manifest.get("files", {}):
                raise BundleError(
                    f"{folder}: this cache encoder ships no verifier.json; train one with "
                    "`python -m training.cache_verifier`"
                )
            path = folder / "verifier.json"
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise BundleError(f"{path}: cannot read the verifier: {err}") from err
        return cls.from_dict(values, source=str(path))

    def probability(self, query: str, candidate: str, similarity: float) -> float:
        """P(same meaning) of ``candidate`` as a stand-in for ``query``."""
        x = (pair_features(query, candidate, similarity) - self.mean) / self.scale
        hidden = np.maximum(x @ self.hidden_weights + self.hidden_bias, 0.0)
        logit = float(hidden @ self.output_weights) + self.output_bias
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))

    def __call__(self, candidate: CacheCandidate) -> bool:
        return (
            self.probability(candidate.query, candidate.cached_prompt, candidate.similarity)
            >= self.threshold
        )
