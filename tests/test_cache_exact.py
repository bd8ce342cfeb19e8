"""The exact tier in the Rust core (learned_router._core.ExactCache and the
key functions), checked against the pure-Python model in reference.py."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import reference
from learned_router import InvalidInputError, _core

# Case mappings of characters added in recent Unicode versions differ between
# Rust's and Python's Unicode tables; keep to long-assigned scripts.
TEXT = st.text(
    st.one_of(
        st.characters(max_codepoint=0x052F),
        st.sampled_from(list("\x1c\x1f\x85\xa0\u2028\u3000ΣσςİẞǅAa?!. \t\n")),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x4E50),
    )
)


def context(model: str | None = None, namespace: str = "default") -> bytes:
    return _core.context_digest(namespace, model, None, "{}")


def put(
    cache: _core.ExactCache,
    scope: int,
    prompt: str,
    *,
    now: float = 0.0,
    expires_at: float = math.inf,
    response: str | None = None,
) -> tuple[int, list[tuple[int, int, int]]]:
    entry_id, (ids, scopes, reasons) = cache.insert(
        scope,
        _core.prompt_digest(prompt),
        prompt,
        response or f"answer to {prompt}",
        0.01,
        now,
        expires_at,
        now,
    )
    return entry_id, list(zip(ids.tolist(), scopes.tolist(), reasons.tolist(), strict=True))


@settings(max_examples=300)
@given(TEXT)
def test_normalisation_matches_the_reference(prompt: str) -> None:
    assert _core.normalise_prompt(prompt) == reference.normalise_prompt(prompt)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("What is 2+2?", "  What is 2+2?\n", True),
        ("line one\r\nline two", "line one\nline two", True),
        # Case and interior whitespace can be meaning: they are never folded.
        ("Is 'Hello' == 'hello' in Python?", "is 'hello' == 'hello' in python?", False),
        ("def f():\n    return 1", "def f():\n  return 1", False),
        ("What is 2+2?", "What is 2+2", False),
        ("Is 3.5 > 35?", "Is 35 > 35?", False),
        ("don't", "dont", False),
        ("a, b", "a b", False),
    ],
)
def test_prompt_digest_only_trims_and_unifies_line_endings(a: str, b: str, same: bool) -> None:
    assert (_core.prompt_digest(a) == _core.prompt_digest(b)) is same
    assert len(_core.prompt_digest(a)) == 32


def test_context_digest_separates_every_field() -> None:
    variants = {
        ("default", None, None, "{}"),
        ("default", "", None, "{}"),
        ("default", "m", None, "{}"),
        ("default", None, "m", "{}"),
        ("defaultm", None, None, "{}"),
        ("default", None, None, '{"temperature":0}'),
        ("other", None, None, "{}"),
    }
    digests = {_core.context_digest(*v) for v in variants}
    assert len(digests) == len(variants)


def test_get_hit_and_miss() -> None:
    cache = _core.ExactCache(10)
    scope = cache.scope("t", "default", "m", context("m"))
    entry_id, removed = put(cache, scope, "What is 2+2?", response="4")
    assert removed == []
    hit = cache.get(scope, _core.prompt_digest("What is 2+2? "), 1.0)
    assert hit == (entry_id, "4", 0.01, 0.0)
    assert cache.get(scope, _core.prompt_digest("what is 2+3"), 1.0) is None
    assert cache.peek(entry_id, scope, 1.0) == ("What is 2+2?", "4")
    assert cache.contains(np.array([entry_id, 999], dtype=np.int64)).tolist() == [True, False]


def test_tenants_never_share_an_entry_even_when_every_digest_collides() -> None:
    cache = _core.ExactCache(10)
    collide = bytes(32)
    a = cache.scope("tenant-a", "default", None, collide)
    b = cache.scope("tenant-b", "default", None, collide)
    assert a != b
    entry_id, _ = cache.insert(a, collide, "q", "secret of a", 0.0, 0.0, math.inf, 0.0)
    assert cache.get(b, collide, 1.0) is None
    assert cache.peek(entry_id, b, 1.0) is None
    assert cache.hit(entry_id, b, 1.0) is None
    assert cache.get(a, collide, 1.0)[1] == "secret of a"
    assert cache.find_scope("tenant-c", collide) is None


def test_ttl_and_lru_eviction_with_reasons() -> None:
    cache = _core.ExactCache(2)
    scope = cache.scope("t", "default", None, context())
    short, _ = put(cache, scope, "short", expires_at=10.0)
    long, _ = put(cache, scope, "long")
    assert cache.get(scope, _core.prompt_digest("short"), 9.5) is not None
    assert cache.get(scope, _core.prompt_digest("short"), 10.0) is None
    # Full: the expired entry goes before the least recently used live one.
    newer, removed = put(cache, scope, "new", now=11.0)
    assert removed == [(short, scope, 2)]
    _, removed = put(cache, scope, "newest", now=12.0)
    assert removed == [(long, scope, 1)]
    assert cache.lru_order().tolist() == [newer, newer + 1]
    assert cache.counters() == {
        "inserts": 4,
        "replaced": 0,
        "evicted": 1,
        "expired": 1,
        "invalidated": 0,
    }


def test_remove_matching_by_tenant_model_and_namespace() -> None:
    cache = _core.ExactCache(100)
    for tenant in ("t1", "t2"):
        for model in ("m1", "m2"):
            for namespace in ("n1", "n2"):
                scope = cache.scope(tenant, namespace, model, context(model, namespace))
                put(cache, scope, "q")
    ids, _, reasons = cache.remove_matching(model="m1")
    assert len(ids) == 4
    assert set(reasons.tolist()) == {3}
    assert len(cache.remove_matching(tenant="t1", namespace="n2")[0]) == 1
    assert len(cache.remove_matching()[0]) == 3
    assert len(cache) == 0


def test_rejects_bad_arguments_with_the_package_error() -> None:
    with pytest.raises(InvalidInputError, match="max_entries"):
        _core.ExactCache(0)
    cache = _core.ExactCache(3)
    with pytest.raises(InvalidInputError, match="scope"):
        cache.insert(5, bytes(32), "q", "a", 0.0, 0.0, math.inf, 0.0)
    scope = cache.scope("t", "default", None, context())
    with pytest.raises(InvalidInputError, match="cost_usd"):
        cache.insert(scope, bytes(32), "q", "a", -1.0, 0.0, math.inf, 0.0)
    with pytest.raises(InvalidInputError, match="32-byte digest"):
        cache.get(scope, b"short", 0.0)
    with pytest.raises(InvalidInputError, match="now"):
        cache.insert(scope, bytes(32), "q", "a", 0.0, 0.0, math.inf, math.nan)


SNAPSHOT_FIELDS = (
    "next_id",
    "scopes",
    "ids",
    "entry_scopes",
    "prompts",
    "key_texts",
    "responses",
    "cost_usd",
    "created_at",
    "expires_at",
)


def test_export_restore_round_trip() -> None:
    cache = _core.ExactCache(5)
    scope = cache.scope("t", "default", "m", context("m"))
    for prompt in ("a", "b", "c"):
        put(cache, scope, prompt, expires_at=100.0)
    cache.get(scope, _core.prompt_digest("a"), 1.0)
    snapshot = cache.export()
    assert len(snapshot) == 3
    restored, (dropped, _, _) = _core.ExactCache.restore(5, snapshot)
    assert len(dropped) == 0
    assert restored.lru_order().tolist() == cache.lru_order().tolist()
    assert restored.scopes() == cache.scopes()
    exported = restored.export()
    assert exported.next_id == snapshot.next_id
    for name in SNAPSHOT_FIELDS[1:]:
        left, right = getattr(exported, name), getattr(snapshot, name)
        assert np.array_equal(np.asarray(left, dtype=object), np.asarray(right, dtype=object))
    smaller, (dropped, _, _) = _core.ExactCache.restore(2, snapshot)
    assert len(smaller) == 2
    assert len(dropped) == 1
    fields = {name: getattr(snapshot, name) for name in SNAPSHOT_FIELDS}
    with pytest.raises(InvalidInputError, match="snapshot"):
        _core.ExactCache.restore(5, _core.ExactSnapshot(**{**fields, "ids": snapshot.ids[:2]}))
    with pytest.raises(InvalidInputError, match="snapshot"):
        _core.ExactCache.restore(5, _core.ExactSnapshot(**{**fields, "next_id": 1}))


class ExactCacheMatchesTheModel(RuleBasedStateMachine):
    """Random operation sequences: the Rust cache and the model agree on every
    result, every removal (id, scope, reason) and the LRU order."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = _core.ExactCache(4)
        self.model = reference.ExactCacheModel(4)
        self.scopes = [self.cache.scope(f"t{i}", "default", None, context()) for i in range(2)]
        self.now = 0.0

    @rule(scope=st.integers(0, 1), key=st.integers(0, 6), ttl=st.none() | st.integers(1, 5))
    def insert(self, scope: int, key: int, ttl: int | None) -> None:
        expires_at = math.inf if ttl is None else self.now + ttl
        digest = _core.prompt_digest(f"p{key}")
        entry_id, (ids, scopes, reasons) = self.cache.insert(
            self.scopes[scope], digest, "k", "r", 0.0, self.now, expires_at, self.now
        )
        model_id, model_removed = self.model.insert(
            self.scopes[scope], digest, expires_at, self.now
        )
        assert entry_id == model_id
        assert (
            list(zip(ids.tolist(), scopes.tolist(), reasons.tolist(), strict=True)) == model_removed
        )

    @rule(scope=st.integers(0, 1), key=st.integers(0, 6))
    def get(self, scope: int, key: int) -> None:
        digest = _core.prompt_digest(f"p{key}")
        hit = self.cache.get(self.scopes[scope], digest, self.now)
        expected = self.model.get(self.scopes[scope], digest, self.now)
        assert (None if hit is None else hit[0]) == expected

    @rule(scope=st.integers(0, 1), key=st.integers(0, 6))
    def remove_key(self, scope: int, key: int) -> None:
        digest = _core.prompt_digest(f"p{key}")
        ids, scopes, reasons = self.cache.remove_key(self.scopes[scope], digest)
        expected = self.model.remove_key(self.scopes[scope], digest)
        assert list(zip(ids.tolist(), scopes.tolist(), reasons.tolist(), strict=True)) == expected

    @rule()
    def purge(self) -> None:
        ids, scopes, reasons = self.cache.purge_expired(self.now)
        expected = self.model.purge_expired(self.now)
        assert list(zip(ids.tolist(), scopes.tolist(), reasons.tolist(), strict=True)) == expected

    @precondition(lambda self: self.now < 50)
    @rule(seconds=st.integers(1, 3))
    def advance(self, seconds: int) -> None:
        self.now += seconds

    @invariant()
    def same_lru_order(self) -> None:
        assert self.cache.lru_order().tolist() == self.model.lru_order()
        assert len(self.cache) <= 4


TestExactCacheMatchesTheModel = ExactCacheMatchesTheModel.TestCase
TestExactCacheMatchesTheModel.settings = settings(max_examples=60, stateful_step_count=40)


def test_concurrent_use_gives_the_serial_result() -> None:
    """Eight threads store and read their own keys at once: every read sees
    its own answer, and the final contents equal a serial run's."""
    threads_n, per_thread = 8, 300

    def work(cache: _core.ExactCache, worker: int, errors: list[str]) -> None:
        scope = cache.scope(f"tenant-{worker % 3}", "default", None, context(f"m{worker}"))
        for i in range(per_thread):
            prompt = f"worker {worker} question {i}"
            put(cache, scope, prompt, response=f"{worker}:{i}")
            hit = cache.get(scope, _core.prompt_digest(prompt), 1.0)
            if hit is None or hit[1] != f"{worker}:{i}":
                errors.append(f"{worker}/{i}: {hit}")

    def contents(cache: _core.ExactCache) -> set[tuple[str, str, str]]:
        scopes = cache.scopes()
        snapshot = cache.export()
        return {
            (scopes[s][0], k, r)
            for s, k, r in zip(
                snapshot.entry_scopes.tolist(), snapshot.key_texts, snapshot.responses, strict=True
            )
        }

    serial = _core.ExactCache(threads_n * per_thread)
    serial_errors: list[str] = []
    for worker in range(threads_n):
        work(serial, worker, serial_errors)

    shared = _core.ExactCache(threads_n * per_thread)
    errors: list[str] = []
    threads = [
        threading.Thread(target=work, args=(shared, worker, errors)) for worker in range(threads_n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == serial_errors == []
    assert contents(shared) == contents(serial)
    assert len(shared) == threads_n * per_thread


def test_concurrent_eviction_keeps_the_bound() -> None:
    cache = _core.ExactCache(50)
    scope = cache.scope("t", "default", None, context())

    def work(worker: int) -> None:
        for i in range(400):
            put(cache, scope, f"{worker}-{i % 80}", now=float(i))
            cache.get(scope, _core.prompt_digest(f"{worker}-{(i * 7) % 80}"), float(i))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50
    order = cache.lru_order().tolist()
    assert len(order) == len(set(order)) == 50
    counters = cache.counters()
    assert counters["inserts"] == 2400
    assert counters["inserts"] - counters["replaced"] - counters["evicted"] == 50
