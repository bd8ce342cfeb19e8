"""The answer cache: an exact tier in the Rust core, then a semantic tier.

A lookup first tries the exact tier: the SHA-256 of the normalised prompt
within the request's *scope* (tenant + namespace + model + system prompt +
generation parameters). On a miss it embeds the prompt's key text (see
:mod:`learned_router.cache.keys`), searches that scope's vectors, and walks
the nearest candidates above ``min_similarity``: each must pass the lexical
guards (:mod:`learned_router.cache.guards`) and the optional verifier before
it is served. Scopes are never mixed: each has its own vector index, and the
Rust core re-checks the scope of every candidate id, so an entry stored for
one tenant cannot reach another through either tier.

The embedding function is injected (the router passes its own encoder);
nothing here imports torch, and faiss is imported only when a scope grows
past ``exact_search_max_entries``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from learned_router import _core
from learned_router.cache import guards as guards_module
from learned_router.cache.guards import GuardReason, Guards
from learned_router.cache.index import ScopeIndex
from learned_router.cache.keys import (
    CacheKey,
    StaticBlocks,
    canonical_params,
    check_ttl,
    expiry,
    prompt_key,
)
from learned_router.errors import CacheFileError, InvalidInputError

_RECENT_EMBEDDINGS = 256
"""Single-text embeddings a cache remembers (see ``SemanticCache._embed_one``)."""

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Texts -> L2-normalised float32 embeddings of shape [len(texts), dim]."""

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class CacheHit:
    """A cached answer served for a lookup."""

    response: str
    """The stored answer."""
    tier: Literal["exact", "semantic"]
    """Which tier answered."""
    entry_id: int
    """The entry's id (for :meth:`SemanticCache.invalidate_entry`)."""
    similarity: float
    """Cosine similarity of the embedded key texts (1.0 for exact hits)."""
    cost_avoided_usd: float
    """What producing the stored answer cost: the spend this hit avoided."""
    created_at: float
    """When the answer was stored (the cache clock's seconds)."""


@dataclass(frozen=True)
class CacheCandidate:
    """What a verifier sees: a semantic candidate that passed every guard."""

    query: str
    """The query's key text."""
    cached_prompt: str
    """The candidate's key text."""
    cached_response: str
    similarity: float
    tenant: str


Verifier = Callable[[CacheCandidate], bool]
"""Returns True to serve the candidate, False to reject it."""


@dataclass(frozen=True)
class CacheStats:
    """Counts since the cache was created, including those of a loaded file."""

    entries: int
    lookups: int
    exact_hits: int
    semantic_hits: int
    misses: int
    rejected_numbers: int
    """Semantic candidates rejected because their numbers differ."""
    rejected_negations: int
    """... because negations or opposite words differ."""
    rejected_entities: int
    """... because named entities differ."""
    rejected_roles: int
    """... because two names or numbers trade places ("from X to Y")."""
    rejected_scope: int
    """... because one side adds content the other lacks."""
    rejected_long_text: int
    """... because a key too long for the encoder differs in its words."""
    rejected_verifier: int
    """... by the verifier hook."""
    cost_avoided_usd: float
    inserts: int
    replaced: int
    evicted: int
    expired: int
    invalidated: int

    @property
    def hits(self) -> int:
        """Exact plus semantic hits."""
        return self.exact_hits + self.semantic_hits

    @property
    def hit_rate(self) -> float:
        """Hits per lookup (0.0 before the first lookup)."""
        return self.hits / self.lookups if self.lookups else 0.0

    @property
    def guard_rejections(self) -> int:
        """Candidates rejected by the guards and the verifier together."""
        return (
            self.rejected_numbers
            + self.rejected_negations
            + self.rejected_entities
            + self.rejected_roles
            + self.rejected_scope
            + self.rejected_long_text
            + self.rejected_verifier
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field plus ``hits``, ``hit_rate`` and ``guard_rejections``.

        >>> SemanticCache().stats().to_dict()["hit_rate"]
        0.0
        """
        return {
            **asdict(self),
            "hits": self.hits,
            "hit_rate": self.hit_rate,
            "guard_rejections": self.guard_rejections,
        }


_COUNTER_FIELDS = tuple(f.name for f in fields(CacheStats) if f.name != "entries")


# For all-MiniLM-L6-v2 (int8 ONNX, CacheEncoder) on the cache evaluation set
# (docs/cache.md), with the guards on, test half: 99.9% of true repeats served
# and 1 false hit in 1,098 near misses (0.09%) at 0.85. The calibration rule
# (<= 0.5% false hits on the calibration half) gives 0.64, which lands at 1.0%
# on the test half; 0.85 keeps a margin, also for paraphrases the set lacks.
# Another encoder needs its own calibration (benchmarks/cache_eval.py).
DEFAULT_MIN_SIMILARITY = 0.85


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """Settings of a :class:`SemanticCache` (saved with it).

    >>> CacheConfig(max_entries=1000, default_ttl_s=3600).max_entries
    1000
    """

    max_entries: int = 100_000
    """Upper bound on entries; beyond it the least recently used go."""
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    """Cosine similarity a semantic candidate needs (encoder-specific)."""
    guards: Guards = field(default_factory=Guards)
    """Which lexical guards run on semantic candidates."""
    candidates: int = 4
    """Nearest neighbours examined per semantic lookup."""
    default_ttl_s: float | None = None
    """TTL of entries whose namespace has none (None: no expiry)."""
    namespace_ttl_s: Mapping[str, float] = field(default_factory=dict)
    """TTL per namespace, overriding the default."""
    static_blocks: tuple[str, ...] = ()
    """Static prompt parts excluded from the semantic key."""
    strip_solved_examples: bool = True
    """Drop solved few-shot examples from the semantic key."""
    key_max_chars: int = 1000
    """Longest key text; longer ones keep their head and tail. ~1000 characters
    fill the 256-token window of MiniLM-sized encoders."""
    exact_search_max_entries: int = 4096
    """Scopes up to this size are searched exactly; larger ones use IVF
    (exact scan 0.20 ms p50 / 0.30 p99 at 4k entries, 0.42 / 1.09 ms at 8k;
    IVF 0.09-0.12 ms with recall@1 1.0 on near duplicates; docs/cache.md)."""
    nprobe: int = 16
    """IVF lists visited per query (recall against speed)."""
    encoder_name: str | None = None
    """Name of the encoder whose vectors fill the cache; a saved cache refuses
    to load with a different one."""

    def __post_init__(self) -> None:
        def bad(argument: str, value: object, rule: str) -> InvalidInputError:
            return InvalidInputError(f"invalid argument `{argument}`: got {value!r}; {rule}")

        if self.max_entries < 1:
            raise bad("max_entries", self.max_entries, "use >= 1")
        if not 0.0 < self.min_similarity <= 1.0:
            raise bad("min_similarity", self.min_similarity, "use a cosine in (0, 1]")
        if self.candidates < 1:
            raise bad("candidates", self.candidates, "use >= 1")
        if self.key_max_chars < 16:
            raise bad("key_max_chars", self.key_max_chars, "use >= 16")
        if self.exact_search_max_entries < 1 or self.nprobe < 1:
            raise bad("exact_search_max_entries/nprobe", self.nprobe, "use >= 1")
        check_ttl("default_ttl_s", self.default_ttl_s)
        for namespace, ttl in self.namespace_ttl_s.items():
            check_ttl(f"namespace_ttl_s[{namespace!r}]", ttl)
        object.__setattr__(self, "namespace_ttl_s", MappingProxyType(dict(self.namespace_ttl_s)))
        object.__setattr__(self, "static_blocks", tuple(self.static_blocks))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the inverse of :meth:`from_dict`).

        >>> CacheConfig(max_entries=5).to_dict()["max_entries"]
        5
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["guards"] = asdict(self.guards)
        values["namespace_ttl_s"] = dict(self.namespace_ttl_s)
        values["static_blocks"] = list(self.static_blocks)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CacheConfig:
        """Rebuilds a config from :meth:`to_dict` output.

        >>> CacheConfig.from_dict(CacheConfig(nprobe=8).to_dict()).nprobe
        8
        """
        values = dict(values)
        values["guards"] = Guards(**values.get("guards", {}))
        values["static_blocks"] = tuple(values.get("static_blocks", ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class SemanticCache:
    """An answer cache with an exact and a semantic tier, isolated per tenant.

    ``embed`` maps texts to L2-normalised float32 vectors (the router's
    encoder, or any sentence encoder); without it the cache is exact-only.
    ``clock`` returns seconds (inject a fake one in tests). ``verifier`` may
    veto semantic candidates that passed the guards.

    >>> from learned_router.cache import HashingEmbedder
    >>> cache = SemanticCache(embed=HashingEmbedder(), config=CacheConfig(min_similarity=0.8))
    >>> _ = cache.store("How do I enable 2FA on GitHub?", "Settings > Password...",
    ...                 tenant="acme", cost_usd=0.002)
    >>> cache.lookup("  How do I enable 2FA on GitHub?  ", tenant="acme").tier
    'exact'
    >>> cache.lookup("How do I enable 2FA on GitHub, please?", tenant="acme").tier
    'semantic'
    >>> cache.lookup("How do I disable 2FA on GitHub?", tenant="acme") is None
    True
    >>> cache.lookup("How do I enable 2FA on GitHub?", tenant="other") is None
    True
    """

    def __init__(
        self,
        *,
        embed: Embed | None = None,
        config: CacheConfig | None = None,
        verifier: Verifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or CacheConfig()
        self._embed = embed
        self._verifier = verifier
        self._clock = _Monotonic(clock)
        self._exact = _core.ExactCache(self.config.max_entries)
        self._static = StaticBlocks(self.config.static_blocks)
        self._dim: int | None = None
        # Guards the index table, the stats counters and static blocks; the
        # exact tier and each index carry their own locks.
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._indexes: dict[int, ScopeIndex] = {}
        # The last few single-text embeddings, so a store after a lookup of the
        # same prompt (the gateway's pattern) does not run the encoder again.
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._counts: dict[str, float] = dict.fromkeys(_COUNTER_FIELDS, 0)
        self._baseline: dict[str, float] = dict.fromkeys(_COUNTER_FIELDS, 0)

    @classmethod
    def default(cls, *, with_verifier: bool = True, **settings: Any) -> SemanticCache:
        """A cache keyed by the shipped encoder at its calibrated operating
        point, with the shipped learned verifier. Without a verifier
        (``with_verifier=False``, or none shipped) it falls back to the
        guards alone at the stricter threshold calibrated for that.
        ``settings`` go to :class:`CacheConfig`.

        >>> cache = SemanticCache.default(max_entries=1000)
        >>> cache.config.max_entries, cache.config.min_similarity
        (1000, 0.98)
        """
        from learned_router.cache.encoder import CacheEncoder
        from learned_router.cache.verifier import PairVerifier

        encoder = CacheEncoder.load()
        verifier = None
        if with_verifier and "verifier.json" in encoder.manifest.get("files", {}):
            verifier = PairVerifier.load(encoder.path / "verifier.json")
        if verifier is None:
            settings.setdefault("min_similarity", encoder.min_similarity_without_verifier)
        return cls(embed=encoder, config=encoder.cache_config(**settings), verifier=verifier)

    # -- keys ---------------------------------------------------------------

    def register_static_block(self, block: str) -> None:
        """Excludes ``block`` (a system prompt, policy, ...) from the semantic
        key of later prompts. Matching ignores whitespace.

        >>> cache = SemanticCache()
        >>> cache.register_static_block("Answer in English.")
        >>> cache.key_for("Answer in English. What is 2+2?").text
        'What is 2+2?'
        """
        with self._lock:
            self._static.add(block)

    def key_for(self, prompt: str) -> CacheKey:
        """The semantic key of ``prompt`` (what is embedded and guarded), with
        the number of characters that were static blocks or solved examples.

        >>> SemanticCache().key_for("Q: 1+1?\\nA: 2\\n\\nQ: 3+4?\\nA:").text
        'Q: 3+4? A:'
        """
        return prompt_key(
            prompt,
            static_blocks=self._static,
            strip_solved_examples=self.config.strip_solved_examples,
            max_chars=self.config.key_max_chars,
        )

    # -- lookups --------------------------------------------------------------

    def lookup(
        self,
        prompt: str,
        *,
        tenant: str,
        model: str | None = None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        embedding: npt.ArrayLike | None = None,
    ) -> CacheHit | None:
        """The cached answer for ``prompt`` in this tenant and context, or None.

        ``model`` is the model or routing tier the request asks for (None when
        the router picks); ``params`` are generation parameters (temperature,
        max_tokens, ...). ``embedding`` may carry a precomputed embedding of
        :meth:`key_for` ``(prompt).embed_text`` to skip the ``embed`` call.

        >>> cache = SemanticCache()
        >>> _ = cache.store("2+2?", "4", tenant="t", params={"temperature": 0})
        >>> cache.lookup("2+2?", tenant="t", params={"temperature": 0}).response
        '4'
        >>> cache.lookup("2+2?", tenant="t", params={"temperature": 1}) is None
        True
        """
        _check_tenant(tenant)
        now = self._clock()
        context = _core.context_digest(namespace, model, system_prompt, canonical_params(params))
        scope = self._exact.find_scope(tenant, context)
        if scope is None:
            self._count(misses=1)
            return None
        exact = self._exact.get(scope, _core.prompt_digest(prompt), now)
        if exact is not None:
            entry_id, response, cost_usd, created_at = exact
            self._count(exact_hits=1, cost_avoided_usd=cost_usd)
            return CacheHit(response, "exact", entry_id, 1.0, cost_usd, created_at)
        index = self._indexes.get(scope)
        if index is None or (self._embed is None and embedding is None):
            self._count(misses=1)
            return None
        query_key = self.key_for(prompt)
        key = query_key.text
        query = self._vectors([query_key.embed_text], embedding)
        similarities, ids = index.search(query, self.config.candidates)
        for similarity, entry_id in zip(similarities.tolist(), ids.tolist(), strict=True):
            if similarity < self.config.min_similarity:
                break
            candidate = self._exact.peek(entry_id, scope, now)
            if candidate is None:  # expired or removed since it was indexed
                continue
            cached_key, cached_response = candidate
            clipped = query_key.clipped or len(cached_key) > self.config.key_max_chars
            reason = guards_module.check(key, cached_key, self.config.guards, clipped=clipped)
            if reason is None and self._verifier is not None:
                verdict = self._verifier(
                    CacheCandidate(key, cached_key, cached_response, similarity, tenant)
                )
                reason = None if verdict else GuardReason.VERIFIER
            if reason is not None:
                self._count(**{f"rejected_{reason.value}": 1})
                continue
            hit = self._exact.hit(entry_id, scope, now)
            if hit is None:
                continue
            entry_id, response, cost_usd, created_at = hit
            self._count(semantic_hits=1, cost_avoided_usd=cost_usd)
            return CacheHit(response, "semantic", entry_id, similarity, cost_usd, created_at)
        self._count(misses=1)
        return None

    # -- stores ---------------------------------------------------------------

    def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        model: str | None = None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        cost_usd: float = 0.0,
        ttl_s: float | None = None,
        embedding: npt.ArrayLike | None = None,
    ) -> int:
        """Stores ``response`` as the answer to ``prompt``; returns the entry id.

        The same key again replaces the old answer. ``ttl_s`` overrides the
        namespace's and the default TTL (``math.inf``: never expires).
        ``cost_usd`` is what producing the answer cost; hits report it as
        avoided spend.

        >>> cache = SemanticCache(config=CacheConfig(default_ttl_s=60), clock=lambda: 0.0)
        >>> cache.store("hi", "hello", tenant="t", model="gpt-4o-mini", cost_usd=1e-4) > 0
        True
        """
        ids = self.store_many(
            [prompt],
            [response],
            tenant=tenant,
            model=model,
            system_prompt=system_prompt,
            params=params,
            namespace=namespace,
            cost_usd=[cost_usd],
            ttl_s=ttl_s,
            embeddings=None if embedding is None else np.atleast_2d(np.asarray(embedding)),
        )
        return int(ids[0])

    def store_many(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        *,
        tenant: str,
        model: str | None = None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        cost_usd: float | Sequence[float] = 0.0,
        ttl_s: float | None = None,
        embeddings: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.int64]:
        """:meth:`store` for many prompts of one tenant and context, with one
        ``embed`` call and one index update (warming a cache from logs).

        >>> SemanticCache().store_many(["a?", "b?"], ["A", "B"], tenant="t").tolist()
        [1, 2]
        """
        _check_tenant(tenant)
        for name, texts in (("prompts", prompts), ("responses", responses)):
            if isinstance(texts, (str, bytes)) or not isinstance(texts, (list, tuple)):
                raise InvalidInputError(
                    f"invalid argument `{name}`: got {type(texts).__name__}; give a list of str"
                )
            for k, text in enumerate(texts):
                if not isinstance(text, str):
                    raise InvalidInputError(
                        f"invalid argument `{name}`: item #{k} is a {type(text).__name__}, "
                        "not a str (decode bytes first; store no answer rather than None)"
                    )
        if len(prompts) != len(responses):
            raise InvalidInputError(
                f"invalid arguments: {len(prompts)} prompts but {len(responses)} responses"
            )
        costs = np.broadcast_to(np.asarray(cost_usd, dtype=np.float64), (len(prompts),))
        if ttl_s is None:
            ttl_s = self.config.namespace_ttl_s.get(namespace, self.config.default_ttl_s)
        params_json = canonical_params(params)
        prompt_keys = [self.key_for(p) for p in prompts]
        keys = [k.text for k in prompt_keys]
        vectors = None
        if embeddings is not None or self._embed is not None:
            vectors = self._vectors([k.embed_text for k in prompt_keys], embeddings)
        now = self._clock()
        expires_at = expiry(now, ttl_s)
        context = _core.context_digest(namespace, model, system_prompt, params_json)
        scope = self._exact.scope(tenant, namespace, model, context)
        ids = np.empty(len(prompts), dtype=np.int64)
        removed: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        for i, (prompt, key, response) in enumerate(zip(prompts, keys, responses, strict=True)):
            entry_id, (gone_ids, gone_scopes, _) = self._exact.insert(
                scope,
                _core.prompt_digest(prompt),
                key,
                response,
                float(costs[i]),
                now,
                expires_at,
                now,
            )
            ids[i] = entry_id
            if len(gone_ids):
                removed.append((gone_ids, gone_scopes))
        gone_ids, gone_scopes, _ = self._exact.purge_expired(now)
        removed.append((gone_ids, gone_scopes))
        for gone_ids, gone_scopes in removed:
            self._drop(gone_ids, gone_scopes)
        if vectors is not None:
            index = self._index_for(scope, vectors.shape[1])
            wants_retrain = index.add(ids, vectors)
            # An entry can leave between its insert and this add (a later
            # entry of this batch or another thread evicted or invalidated it,
            # and its removal found no vector yet): drop such orphans.
            orphans = ids[~self._exact.contains(ids)]
            index.remove(orphans)
            if wants_retrain:
                index.retrain()
        return ids

    # -- maintenance ----------------------------------------------------------

    def purge_expired(self) -> int:
        """Removes every expired entry now; returns how many went. (Expired
        entries are never served; stores purge as they go, this reclaims
        memory in a cache that only reads.)

        >>> clock = iter([0.0, 120.0]).__next__
        >>> cache = SemanticCache(config=CacheConfig(default_ttl_s=60), clock=clock)
        >>> _ = cache.store("q", "a", tenant="t")
        >>> cache.purge_expired()
        1
        """
        ids, scopes, _ = self._exact.purge_expired(self._clock())
        self._drop(ids, scopes)
        return len(ids)

    def invalidate_entry(self, entry_id: int) -> int:
        """Removes one entry by id (from :attr:`CacheHit.entry_id`), e.g. an
        answer a user flagged as wrong.

        >>> cache = SemanticCache()
        >>> cache.invalidate_entry(cache.store("q", "a", tenant="t"))
        1
        """
        ids, scopes, _ = self._exact.remove(entry_id)
        self._drop(ids, scopes)
        return len(ids)

    def invalidate_prompt(
        self,
        prompt: str,
        *,
        tenant: str,
        model: str | None = None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> int:
        """Removes the entry stored under exactly this key (0 or 1 removed).

        >>> cache = SemanticCache()
        >>> _ = cache.store("What is DNS?", "a", tenant="t", model="m")
        >>> cache.invalidate_prompt(" What is DNS? ", tenant="t", model="m")
        1
        """
        _check_tenant(tenant)
        context = _core.context_digest(namespace, model, system_prompt, canonical_params(params))
        scope = self._exact.find_scope(tenant, context)
        if scope is None:
            return 0
        ids, scopes, _ = self._exact.remove_key(scope, _core.prompt_digest(prompt))
        self._drop(ids, scopes)
        return len(ids)

    def invalidate(
        self,
        *,
        tenant: str | None = None,
        model: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """Removes every entry matching all given filters; returns the count.
        Give at least one filter (:meth:`clear` removes everything).

        >>> cache = SemanticCache()
        >>> _ = cache.store("q", "a", tenant="t1", model="m1")
        >>> cache.invalidate(model="m1")
        1
        """
        if tenant is None and model is None and namespace is None:
            raise InvalidInputError(
                "invalidate() needs tenant=, model= or namespace=; call clear() to remove "
                "every entry"
            )
        ids, scopes, _ = self._exact.remove_matching(tenant, model, namespace)
        self._drop(ids, scopes)
        return len(ids)

    def clear(self) -> int:
        """Removes every entry; returns how many went.

        >>> cache = SemanticCache()
        >>> _ = cache.store_many(["a", "b"], ["1", "2"], tenant="t")
        >>> cache.clear()
        2
        """
        ids, scopes, _ = self._exact.remove_matching(None, None, None)
        self._drop(ids, scopes)
        return len(ids)

    def stats(self) -> CacheStats:
        """Hits, misses, guard rejections, cost avoided and lifecycle counts.

        >>> SemanticCache().stats().lookups
        0
        """
        counters = self._exact.counters()
        with self._lock:
            values = {k: self._counts[k] + self._baseline[k] for k in _COUNTER_FIELDS}
        for name in ("inserts", "replaced", "evicted", "expired", "invalidated"):
            values[name] = self._baseline[name] + counters[name]
        ints = {k: int(v) for k, v in values.items() if k != "cost_avoided_usd"}
        return CacheStats(
            entries=len(self._exact),
            cost_avoided_usd=float(values["cost_avoided_usd"]),
            **ints,
        )

    def __len__(self) -> int:
        return len(self._exact)

    # -- persistence ----------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Writes the cache to ``path`` atomically (a crash mid-write leaves
        the previous file intact). Safe while other threads use the cache.

        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "cache.lrc"
        >>> cache = SemanticCache()
        >>> _ = cache.store("q", "a", tenant="t")
        >>> cache.save(path)
        >>> SemanticCache.load(path).lookup("q", tenant="t").response
        'a'
        """
        from learned_router.cache import persist

        with self._save_lock:
            header, sections = self._serialise()
            persist.write_file(Path(path), header, sections)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embed: Embed | None = None,
        config: CacheConfig | None = None,
        verifier: Verifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> SemanticCache:
        """Reads a cache written by :meth:`save`. Without ``config`` the saved
        settings are used. Raises :class:`~learned_router.errors.CacheFileError`
        for a missing, damaged or incompatible file.

        >>> SemanticCache.load("/nonexistent/cache.lrc")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        learned_router.errors.CacheFileError: /nonexistent/cache.lrc: cannot read ...
        """
        from learned_router.cache import persist

        path = Path(path)
        header, sections = persist.read_file(path)
        try:
            saved_config = CacheConfig.from_dict(header["config"])
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise CacheFileError(f"{path}: the saved cache settings are unusable: {err!r}") from err
        config = config or saved_config
        saved_encoder = saved_config.encoder_name
        if config.encoder_name and saved_encoder and config.encoder_name != saved_encoder:
            raise CacheFileError(
                f"{path}: built with encoder {saved_encoder!r}, but this cache uses "
                f"{config.encoder_name!r}; their vectors are not comparable. Use the same "
                "encoder or start an empty cache."
            )
        cache = cls(embed=embed, config=config, verifier=verifier, clock=clock)
        try:
            _check_header(header)
            cache._restore(header, sections)
        except CacheFileError:
            raise
        except Exception as err:  # absurd values in a file with valid checksums
            raise CacheFileError(f"{path}: inconsistent cache contents: {err!r}") from err
        return cache

    # -- internals ------------------------------------------------------------

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta
            if "exact_hits" in deltas or "semantic_hits" in deltas or "misses" in deltas:
                self._counts["lookups"] += 1

    def _embed_one(self, text: str) -> npt.NDArray[np.float32]:
        """``embed([text])``, remembered for the next few calls (a bounded LRU)."""
        with self._recent_lock:
            known = self._recent.get(text)
            if known is not None:
                self._recent.move_to_end(text)
                return known
        assert self._embed is not None
        vectors = np.asarray(self._embed([text]), dtype=np.float32)
        if vectors.ndim == 2 and vectors.shape[0] == 1 and np.isfinite(vectors).all():
            vectors.setflags(write=False)
            with self._recent_lock:
                self._recent[text] = vectors
                while len(self._recent) > _RECENT_EMBEDDINGS:
                    self._recent.popitem(last=False)
        return vectors

    def _vectors(
        self, texts: Sequence[str], given: npt.ArrayLike | None
    ) -> npt.NDArray[np.float32]:
        if given is not None:
            vectors = np.asarray(given, dtype=np.float32)
            source = "embedding"
        elif len(texts) == 1:
            vectors = self._embed_one(texts[0])
            source = "embed(...)"
        else:
            assert self._embed is not None
            vectors = np.asarray(self._embed(texts), dtype=np.float32)
            source = "embed(...)"
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise InvalidInputError(
                f"{source} returned shape {vectors.shape}; expected ({len(texts)}, dim) "
                "float32 embeddings, one row per text"
            )
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise InvalidInputError(
                f"{source} has dimension {vectors.shape[1]}, but this cache holds "
                f"{self._dim}-dimensional vectors; use the same encoder throughout"
            )
        if not np.isfinite(vectors).all():
            raise InvalidInputError(f"{source} contains NaN or infinity")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # Callers promise unit vectors; renormalising is cheap and makes the
        # inner product a cosine even when one forgot.
        return np.ascontiguousarray(
            np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        )

    def _index_for(self, scope: int, dim: int) -> ScopeIndex:
        with self._lock:
            if self._dim is None:
                self._dim = dim
            index = self._indexes.get(scope)
            if index is None:
                index = ScopeIndex(
                    dim,
                    exact_max_entries=self.config.exact_search_max_entries,
                    nprobe=self.config.nprobe,
                )
                self._indexes[scope] = index
            return index

    def _drop(self, ids: npt.NDArray[np.int64], scopes: npt.NDArray[np.int64]) -> None:
        if len(ids) == 0:
            return
        for scope in np.unique(scopes).tolist():
            index = self._indexes.get(scope)
            if index is not None:
                index.remove(ids[scopes == scope])

    def _serialise(self) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        import pyarrow as pa

        snapshot = self._exact.export()
        ids, scopes = snapshot.ids, snapshot.scopes
        digests = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), len(ids), [None, pa.py_buffer(snapshot.prompts)]
        )
        table = pa.table(
            {
                "id": ids,
                "scope": snapshot.entry_scopes,
                "prompt_sha256": digests,
                "key_text": pa.array(snapshot.key_texts, pa.large_string()),
                "response": pa.array(snapshot.responses, pa.large_string()),
                "cost_usd": snapshot.cost_usd,
                "created_at": snapshot.created_at,
                "expires_at": snapshot.expires_at,
            }
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        sections: list[tuple[str, bytes]] = [("entries", sink.getvalue().to_pybytes())]
        with self._lock:
            indexes = sorted(self._indexes.items())
            config = replace(self.config, static_blocks=self._static.blocks)
        index_meta = []
        for scope, index in indexes:
            meta, payload = index.to_bytes()
            sections.append((f"scope/{scope}", payload))
            index_meta.append({"scope": scope, **meta})
        header = {
            "saved_at": self._clock(),
            "config": config.to_dict(),
            "next_id": snapshot.next_id,
            "scopes": [[t, ns, m, bytes(c).hex()] for t, ns, m, c in scopes],
            "entries": len(ids),
            "tenants": len({t for t, *_ in scopes}),
            "dim": self._dim,
            "indexes": index_meta,
            "stats": self.stats().to_dict(),
        }
        return header, sections

    def _restore(self, header: dict[str, Any], sections: dict[str, bytes]) -> None:
        import pyarrow as pa

        table = pa.ipc.open_stream(sections["entries"]).read_all()
        column = table.column
        snapshot = _core.ExactSnapshot(
            next_id=int(header["next_id"]),
            scopes=[(t, ns, m, bytes.fromhex(c)) for t, ns, m, c in header["scopes"]],
            ids=column("id").to_numpy().astype(np.int64),
            entry_scopes=column("scope").to_numpy().astype(np.int64),
            prompts=b"".join(column("prompt_sha256").to_pylist()),
            key_texts=column("key_text").to_pylist(),
            responses=column("response").to_pylist(),
            cost_usd=column("cost_usd").to_numpy().astype(np.float64),
            created_at=column("created_at").to_numpy().astype(np.float64),
            expires_at=column("expires_at").to_numpy().astype(np.float64),
        )
        exact, (dropped, _, _) = _core.ExactCache.restore(self.config.max_entries, snapshot)
        self._exact = exact
        self._dim = header["dim"]
        alive = np.setdiff1d(column("id").to_numpy(), dropped)
        for meta in header["indexes"]:
            index = ScopeIndex.from_bytes(
                meta,
                sections[f"scope/{meta['scope']}"],
                exact_max_entries=self.config.exact_search_max_entries,
                nprobe=self.config.nprobe,
            )
            # A save runs alongside stores: vectors whose entry did not make
            # it into the snapshot (or was dropped to fit max_entries) go.
            indexed = index.ids()
            index.remove(indexed[~np.isin(indexed, alive)])
            self._indexes[int(meta["scope"])] = index
        saved = header.get("stats", {})
        self._baseline = {k: float(saved.get(k, 0)) for k in _COUNTER_FIELDS}


def _check_header(header: Mapping[str, Any]) -> None:
    """Raises ValueError for header values no cache writes (the file's checksums
    can be valid while its values are not: a foreign or hand-edited file)."""
    next_id, dim = header.get("next_id"), header.get("dim")
    if isinstance(next_id, bool) or not isinstance(next_id, int) or not 0 <= next_id < 2**62:
        raise ValueError(f"next_id = {next_id!r} is not an entry id")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or not dim > 0):
        raise ValueError(f"dim = {dim!r} is not a vector dimension")
    for name in ("scopes", "indexes"):
        if not isinstance(header.get(name), list):
            raise ValueError(f"{name} is not a list")


class _Monotonic:
    """A clock that never steps back: an expired entry stays expired if the
    wall clock is set back (NTP, a VM resumed)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last = -math.inf
        self._lock = threading.Lock()

    def __call__(self) -> float:
        now = float(self._clock())
        with self._lock:
            if now > self._last:
                self._last = now
            return self._last


def _check_tenant(tenant: object) -> None:
    if not isinstance(tenant, str) or not tenant:
        raise InvalidInputError(
            f"invalid argument `tenant`: got {tenant!r}; pass a non-empty string "
            "(entries are never shared across tenants)"
        )
