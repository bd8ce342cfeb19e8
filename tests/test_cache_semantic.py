"""SemanticCache: both tiers, guards, verifier, TTL, LRU, invalidation,
tenant isolation and concurrency. Time comes from an injected clock."""

from __future__ import annotations

import doctest
import threading
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learned_router import InvalidInputError, _core
from learned_router.cache import (
    CacheCandidate,
    CacheConfig,
    Guards,
    HashingEmbedder,
    SemanticCache,
    semantic,
)

EMBED = HashingEmbedder(dim=128)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None, **config: object) -> SemanticCache:
    options: dict[str, object] = {"min_similarity": 0.75, **config}
    return SemanticCache(
        embed=EMBED,
        config=CacheConfig(**options),  # type: ignore[arg-type]
        clock=clock or Clock(),
    )


def index_size(cache: SemanticCache) -> int:
    return sum(len(index) for index in cache._indexes.values())


def test_docstring_examples() -> None:
    assert doctest.testmod(semantic).failed == 0


# -- the two tiers -------------------------------------------------------------


def test_exact_tier_keys_on_everything_that_changes_the_answer() -> None:
    cache = make()
    context = {"model": "m", "system_prompt": "Be terse.", "params": {"temperature": 0}}
    cache.store("What is DNS?", "Domain Name System", tenant="t", cost_usd=0.01, **context)
    hit = cache.lookup("  What is DNS? ", tenant="t", **context)
    assert hit is not None
    assert (hit.tier, hit.response, hit.similarity, hit.cost_avoided_usd) == (
        "exact",
        "Domain Name System",
        1.0,
        0.01,
    )
    for change in (
        {"model": "other"},
        {"model": None},
        {"system_prompt": "Be verbose."},
        {"params": {"temperature": 0.7}},
        {"namespace": "faq"},
    ):
        assert cache.lookup("What is DNS?", tenant="t", **{**context, **change}) is None, change


def test_semantic_tier_serves_a_near_repeat_above_the_threshold() -> None:
    cache = make(min_similarity=0.6)
    cache.store("How do I reset my router password quickly", "Hold reset 10 s", tenant="t")
    hit = cache.lookup("how do I reset my router password quickly please", tenant="t")
    assert hit is not None
    assert hit.tier == "semantic"
    assert 0.6 <= hit.similarity < 1.0
    strict = make(min_similarity=0.99)
    strict.store("How do I reset my router password quickly", "Hold reset 10 s", tenant="t")
    assert strict.lookup("how do I reset my router password quickly please", tenant="t") is None


def test_exact_only_without_an_encoder() -> None:
    cache = SemanticCache()
    cache.store("What is DNS?", "Domain Name System", tenant="t")
    assert cache.lookup(" What is DNS?\n", tenant="t") is not None
    # Case can be meaning: the exact tier never folds it.
    assert cache.lookup("what is dns?", tenant="t") is None
    assert cache.lookup("what is dns please", tenant="t") is None
    assert cache._indexes == {}


def test_precomputed_embeddings_skip_the_encoder() -> None:
    calls: list[Sequence[str]] = []

    def counting(texts: Sequence[str]) -> np.ndarray:
        calls.append(texts)
        return EMBED(texts)

    cache = SemanticCache(embed=counting, config=CacheConfig(min_similarity=0.7))
    key = cache.key_for("reset my password now").text
    cache.store("reset my password now", "ok", tenant="t", embedding=EMBED([key])[0])
    hit = cache.lookup("reset my password now please", tenant="t", embedding=EMBED([key]))
    assert hit is not None
    assert hit.tier == "semantic"
    assert calls == []


# -- guards and the verifier ---------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "query", "field", "switch_off"),
    [
        (
            "What is 15 percent of 80 dollars",
            "What is 15 percent of 90 dollars",
            "numbers",
            "numbers",
        ),
        (
            "How do I enable two factor login",
            "How do I disable two factor login",
            "negations",
            "negations",
        ),
        (
            "Is the printer connected to wifi",
            "Is the printer not connected to wifi",
            "negations",
            "negations",
        ),
        (
            "What is the capital city of France",
            "What is the capital city of Spain",
            "entities",
            "entities",
        ),
    ],
)
def test_each_guard_rejects_a_look_alike_and_counts_it(
    stored: str, query: str, field: str, switch_off: str
) -> None:
    cache = make(min_similarity=0.5)
    cache.store(stored, "stored answer", tenant="t")
    assert cache.lookup(query, tenant="t") is None
    stats = cache.stats()
    assert getattr(stats, f"rejected_{field}") == 1
    assert stats.guard_rejections == 1
    assert stats.misses == 1
    # The guard, not the threshold, did it: without it the look-alike is served.
    unguarded = make(min_similarity=0.5, guards=Guards(**{switch_off: False}))
    unguarded.store(stored, "stored answer", tenant="t")
    hit = unguarded.lookup(query, tenant="t")
    assert hit is not None
    assert hit.tier == "semantic"


def test_a_rejected_best_candidate_falls_through_to_the_next() -> None:
    cache = make(min_similarity=0.5)
    cache.store("What is 15 percent of 80 dollars exactly", "12", tenant="t")
    cache.store("What is 15 percent of 90 dollars", "13.5", tenant="t")
    hit = cache.lookup("what is 15 percent of 80 dollars", tenant="t")
    assert hit is not None
    assert hit.response == "12"


def test_verifier_sees_the_candidate_and_can_veto() -> None:
    seen: list[CacheCandidate] = []

    def verifier(candidate: CacheCandidate) -> bool:
        seen.append(candidate)
        return "refund" not in candidate.cached_response

    cache = SemanticCache(
        embed=EMBED, config=CacheConfig(min_similarity=0.5), verifier=verifier, clock=Clock()
    )
    cache.store("how do I close my account", "Go to settings", tenant="t")
    assert cache.lookup("how do I close my account now", tenant="t") is not None
    cache.store("how do I cancel my order", "Ask for a refund", tenant="t")
    assert cache.lookup("how do I cancel my order now", tenant="t") is None
    assert cache.stats().rejected_verifier == 1
    assert seen[0].query == "how do I close my account now"
    assert seen[0].cached_prompt == "how do I close my account"
    assert seen[0].tenant == "t"
    assert 0.5 <= seen[0].similarity < 1


# -- lifecycle -----------------------------------------------------------------


def test_ttl_default_namespace_and_per_entry() -> None:
    clock = Clock(0.0)
    cache = make(clock, default_ttl_s=100, namespace_ttl_s={"news": 10})
    cache.store("default ttl question", "a", tenant="t")
    cache.store("news ttl question", "b", tenant="t", namespace="news")
    cache.store("entry ttl question", "c", tenant="t", ttl_s=1000)
    cache.store("no ttl question", "d", tenant="t", ttl_s=float("inf"))
    clock.now = 9.9
    assert cache.lookup("news ttl question", tenant="t", namespace="news") is not None
    clock.now = 10.0
    assert cache.lookup("news ttl question", tenant="t", namespace="news") is None
    assert cache.lookup("news ttl question extra", tenant="t", namespace="news") is None
    clock.now = 100.0
    assert cache.lookup("default ttl question", tenant="t") is None
    assert cache.lookup("default ttl question again", tenant="t") is None, "semantic too"
    assert cache.lookup("entry ttl question", tenant="t") is not None
    clock.now = 1e9
    assert cache.lookup("no ttl question", tenant="t") is not None
    assert cache.purge_expired() == 3
    assert len(cache) == 1
    assert index_size(cache) == 1
    assert cache.stats().expired == 3


def test_lru_eviction_in_both_tiers() -> None:
    clock = Clock()
    cache = make(clock, max_entries=3, min_similarity=0.9)
    for name in ("alpha", "bravo", "charlie"):
        cache.store(f"tell me about the {name} project", name, tenant="t")
    assert cache.lookup("tell me about the alpha project", tenant="t") is not None  # refresh
    cache.store("tell me about the delta project", "delta", tenant="t")
    assert len(cache) == 3
    assert index_size(cache) == 3
    assert cache.lookup("tell me about the bravo project", tenant="t") is None
    assert cache.lookup("Tell me about the bravo project, please", tenant="t") is None
    assert cache.lookup("tell me about the alpha project", tenant="t") is not None
    assert cache.stats().evicted == 1


def test_storing_the_same_key_replaces_the_answer() -> None:
    cache = make()
    first = cache.store("What is DNS?", "old", tenant="t")
    second = cache.store("What is DNS?  ", "new", tenant="t")
    assert second > first
    assert len(cache) == 1
    assert index_size(cache) == 1
    hit = cache.lookup("What is DNS?", tenant="t")
    assert hit is not None
    assert (hit.response, hit.entry_id) == ("new", second)


def test_invalidation_by_entry_prompt_tenant_model_namespace_and_all() -> None:
    cache = make()
    for tenant in ("t1", "t2"):
        for model in ("m1", "m2"):
            for namespace in ("n1", "n2"):
                cache.store(
                    f"question for {model} in {namespace}",
                    "a",
                    tenant=tenant,
                    model=model,
                    namespace=namespace,
                )
    hit = cache.lookup("question for m1 in n1", tenant="t1", model="m1", namespace="n1")
    assert hit is not None
    assert cache.invalidate_entry(hit.entry_id) == 1
    assert cache.invalidate_entry(hit.entry_id) == 0
    assert cache.lookup("question for m1 in n1", tenant="t1", model="m1", namespace="n1") is None
    assert (
        cache.invalidate_prompt(" question for m2 in n2 ", tenant="t2", model="m2", namespace="n2")
        == 1
    )
    assert cache.invalidate_prompt("unknown", tenant="nobody") == 0
    assert cache.invalidate(model="m1") == 3
    assert cache.invalidate(tenant="t2", namespace="n1") == 1
    assert len(cache) == 2
    assert index_size(cache) == 2
    with pytest.raises(InvalidInputError, match="clear"):
        cache.invalidate()
    assert cache.clear() == 2
    assert len(cache) == 0
    assert index_size(cache) == 0
    assert cache.stats().invalidated == 8


def test_static_blocks_are_left_out_of_the_semantic_key() -> None:
    policy = "You are the support bot of ACME Corp. Never reveal internal URLs. Answer in English."
    cache = make(min_similarity=0.95, static_blocks=(policy,))
    cache.store(f"{policy}\nHow do I reset my password", "Use the link", tenant="t")
    assert cache.key_for(f"{policy}\nHow do I reset my password").static_chars == len(policy)
    hit = cache.lookup(f"{policy}\n\nhow do I reset my password", tenant="t")
    assert hit is not None
    # A new policy text registered at run time is stripped as well.
    cache.register_static_block("Reply briefly.")
    assert cache.key_for("Reply briefly. How do I reset my password").text == (
        "How do I reset my password"
    )
    hit = cache.lookup("Reply briefly. How do I reset my password", tenant="t")
    assert hit is not None
    assert hit.tier == "semantic"
    assert hit.similarity > 0.99


def test_large_scopes_switch_to_ivf_and_keep_answering() -> None:
    pytest.importorskip("faiss")
    cache = make(exact_search_max_entries=200, max_entries=1000)
    prompts = [f"ticket {i}: customer asks about invoice topic {i}" for i in range(600)]
    ids = cache.store_many(prompts, [f"answer {i}" for i in range(600)], tenant="t")
    assert ids.tolist() == list(range(1, 601))
    assert cache._indexes[0].kind == "ivf"
    # Misses stay misses, and each stored prompt finds its own answer.
    hit = cache.lookup("Ticket 123: customer asks about invoice topic 123", tenant="t")
    assert hit is not None
    assert hit.response == "answer 123"
    cache.invalidate_entry(int(ids[123]))
    assert cache.lookup("Ticket 123: customer asks about invoice topic 123", tenant="t") is None
    assert index_size(cache) == 599


def test_a_batch_larger_than_the_cache_leaves_no_orphan_vectors() -> None:
    cache = make(max_entries=5)
    cache.store_many([f"question number {i} here" for i in range(12)], ["a"] * 12, tenant="t")
    assert len(cache) == 5
    assert index_size(cache) == 5
    assert set(cache._indexes[0].ids().tolist()) == set(range(8, 13))


# -- tenant isolation (adversarial) --------------------------------------------


def test_identical_and_near_identical_prompts_never_cross_tenants() -> None:
    cache = make(min_similarity=0.3)
    cache.store("What is our Q3 revenue target", "A: 4M", tenant="a")
    assert cache.lookup("What is our Q3 revenue target", tenant="b") is None
    assert cache.lookup("what is our q3 revenue target?", tenant="b") is None
    cache.store("What is our Q3 revenue target", "B: 9M", tenant="b")
    assert cache.lookup("What is our Q3 revenue target", tenant="a").response == "A: 4M"
    assert cache.lookup("What is our Q3 revenue target", tenant="b").response == "B: 9M"
    assert cache.lookup("What is our Q3 revenue target now", tenant="b").response == "B: 9M"


def test_tenants_stay_apart_when_every_embedding_collides() -> None:
    def constant(texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

    cache = SemanticCache(
        embed=constant,
        config=CacheConfig(min_similarity=0.01, guards=Guards(False, False, False)),
    )
    cache.store("secret plan of tenant a", "A-secret", tenant="a")
    assert cache.lookup("anything at all", tenant="b") is None
    cache.store("public faq of tenant b", "B-public", tenant="b")
    assert cache.lookup("anything at all", tenant="b").response == "B-public"
    assert cache.lookup("anything at all", tenant="a").response == "A-secret"


def test_tenants_stay_apart_when_every_digest_collides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "prompt_digest", lambda prompt: bytes(32))
    monkeypatch.setattr(_core, "context_digest", lambda *fields: bytes(32))
    cache = make(min_similarity=0.01, guards=Guards(False, False, False))
    cache.store("tenant a asks this", "A", tenant="a")
    assert cache.lookup("a totally different prompt", tenant="b") is None
    cache.store("tenant b asks that", "B", tenant="b")
    # Every key collides inside a tenant (so the exact tier answers), never across.
    assert cache.lookup("whatever", tenant="a").response == "A"
    assert cache.lookup("whatever", tenant="b").response == "B"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["reset password", "Reset password!", "reset my password", "refund"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_no_operation_sequence_leaks_across_tenants(
    operations: list[tuple[str, str, bool]],
) -> None:
    cache = make(min_similarity=0.2, guards=Guards(False, False, False), max_entries=6)
    for tenant, prompt, is_store in operations:
        if is_store:
            cache.store(prompt, f"owned by {tenant}", tenant=tenant)
        else:
            hit = cache.lookup(prompt, tenant=tenant)
            assert hit is None or hit.response == f"owned by {tenant}"


# -- stats, validation ---------------------------------------------------------


def test_stats_count_hits_misses_and_cost_avoided() -> None:
    cache = make(min_similarity=0.6)
    cache.store("How do I reset my router password quickly", "x", tenant="t", cost_usd=0.02)
    cache.lookup("How do I reset my router password quickly", tenant="t")
    cache.lookup("how do I reset my router password quickly please", tenant="t")
    cache.lookup("completely unrelated", tenant="t")
    cache.lookup("anything", tenant="unknown tenant")
    stats = cache.stats()
    assert (stats.lookups, stats.exact_hits, stats.semantic_hits, stats.misses) == (4, 1, 1, 2)
    assert stats.cost_avoided_usd == pytest.approx(0.04)
    assert stats.hit_rate == 0.5
    assert stats.entries == 1
    assert stats.inserts == 1
    assert stats.to_dict()["hits"] == 2


@pytest.mark.parametrize(
    "options",
    [
        {"max_entries": 0},
        {"min_similarity": 0.0},
        {"min_similarity": 1.5},
        {"candidates": 0},
        {"default_ttl_s": -1},
        {"namespace_ttl_s": {"news": 0}},
        {"key_max_chars": 4},
        {"nprobe": 0},
    ],
)
def test_config_rejects_bad_values(options: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        CacheConfig(**options)  # type: ignore[arg-type]


def test_config_round_trips_through_a_dict() -> None:
    config = CacheConfig(
        max_entries=7,
        guards=Guards(entities=False),
        namespace_ttl_s={"a": 5.0},
        static_blocks=("x y",),
        encoder_name="enc",
    )
    assert CacheConfig.from_dict(config.to_dict()) == config
    with pytest.raises(TypeError):
        config.namespace_ttl_s["b"] = 1.0  # type: ignore[index]


def test_bad_arguments_are_reported() -> None:
    cache = make()
    with pytest.raises(InvalidInputError, match="tenant"):
        cache.lookup("q", tenant="")
    with pytest.raises(InvalidInputError, match="tenant"):
        cache.store("q", "a", tenant=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="responses"):
        cache.store_many(["a", "b"], ["x"], tenant="t")
    cache.store("q", "a", tenant="t")
    with pytest.raises(InvalidInputError, match="dimension"):
        cache.lookup("other q", tenant="t", embedding=np.ones(5, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="NaN"):
        cache.store("r", "a", tenant="t", embedding=np.full(128, np.nan, dtype=np.float32))
    bad_shape = SemanticCache(embed=lambda texts: np.ones((len(texts) + 1, 4), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="one row per text"):
        bad_shape.store("q", "a", tenant="t")


# -- concurrency ----------------------------------------------------------------


def test_concurrent_lookups_and_stores_match_a_serial_run() -> None:
    items = [
        (f"t{i % 3}", f"customer {i % 50} asks about order {i} and shipping") for i in range(400)
    ]
    queries = [(t, p.replace("asks", "Asks") + " please") for t, p in items[::3]] + items[1::7]

    def fill(cache: SemanticCache, workers: int) -> None:
        def run(chunk: list[tuple[str, str]]) -> None:
            for tenant, prompt in chunk:
                cache.store(prompt, f"{tenant}: answer for {prompt}", tenant=tenant)

        threads = [threading.Thread(target=run, args=(items[w::workers],)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def ask(cache: SemanticCache, workers: int) -> list[tuple[str, str] | None]:
        results: list[tuple[str, str] | None] = [None] * len(queries)

        def run(worker: int) -> None:
            for i in range(worker, len(queries), workers):
                tenant, query = queries[i]
                hit = cache.lookup(query, tenant=tenant)
                results[i] = None if hit is None else (hit.tier, hit.response)

        threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    serial = make(min_similarity=0.8, exact_search_max_entries=100)
    fill(serial, 1)
    expected = ask(serial, 1)
    shared = make(min_similarity=0.8, exact_search_max_entries=100)
    fill(shared, 8)
    assert ask(shared, 8) == expected
    tiers = [r[0] for r in expected if r is not None]
    assert tiers.count("exact") == len(items[1::7])
    assert tiers.count("semantic") > len(items[::3]) // 2
    for (tenant, _), result in zip(queries, expected, strict=True):
        assert result is None or result[1].startswith(f"{tenant}:")
    assert len(shared) == len(serial) == 400
    assert index_size(shared) == 400
    assert shared.stats().lookups == serial.stats().lookups


def test_a_store_after_a_lookup_of_the_same_prompt_embeds_it_once() -> None:
    # The gateway looks a prompt up, calls the model, then stores the answer: the
    # cache encoder (~2-3 ms of CPU) ran twice per request, the second time on the
    # request path before the response went out.
    from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache

    inner = HashingEmbedder(dim=64)
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return inner(texts)

    cache = SemanticCache(embed=embed, config=CacheConfig(min_similarity=0.8))
    cache.store("warm the index with one entry", "ok", tenant="t")
    calls.clear()
    for i in range(3):
        prompt = f"How do I rotate the API key of project {i}?"
        assert cache.lookup(prompt, tenant="t") is None
        cache.store(prompt, f"answer {i}", tenant="t")
    assert len(calls) == 3  # one embedding per prompt, not two
    # The memo is only a shortcut: the stored vectors still find paraphrases.
    hit = cache.lookup("How do I rotate the API key of project 2, please?", tenant="t")
    assert hit is not None
    assert hit.response == "answer 2"
