"""Per-scope vector index: exact search, the switch to IVF, removal, retrain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from learned_router.cache.index import ScopeIndex, _nlist_for

DIM = 32


def unit(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near(x: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    y = x + noise * np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def test_exact_search_matches_brute_force_and_removal_swaps_rows() -> None:
    index = ScopeIndex(DIM, exact_max_entries=1000, nprobe=8)
    vectors = unit(200, 0)
    ids = np.arange(100, 300, dtype=np.int64)
    assert index.add(ids, vectors) is False
    queries = unit(20, 1)
    for q in queries:
        sims, found = index.search(q[None, :], 5)
        expected = np.argsort(-(vectors @ q), kind="stable")[:5]
        assert found.tolist() == (ids[expected]).tolist()
        assert np.allclose(sims, (vectors @ q)[expected], atol=1e-5)
    index.remove(ids[:150:2])
    assert len(index) == 125
    assert set(index.ids().tolist()) == set(ids.tolist()) - set(ids[:150:2].tolist())
    sims, found = index.search(vectors[1][None, :], 1)
    assert found.tolist() == [101]
    sims, found = index.search(vectors[0][None, :], 3)
    assert 100 not in found.tolist()
    # Re-adding an id replaces its vector.
    index.add(np.array([101], dtype=np.int64), vectors[5:6])
    assert sorted(index.search(vectors[5][None, :], 2)[1].tolist()) == [101, 105]  # a tie
    assert len(index) == 125


def test_empty_and_small_searches() -> None:
    index = ScopeIndex(DIM, exact_max_entries=10, nprobe=4)
    sims, ids = index.search(unit(1, 0), 4)
    assert len(sims) == len(ids) == 0
    index.add(np.array([7], dtype=np.int64), unit(1, 1))
    assert index.search(unit(1, 1), 4)[1].tolist() == [7]


def test_switch_to_ivf_finds_near_duplicates_and_removes_in_place() -> None:
    pytest.importorskip("faiss")
    index = ScopeIndex(DIM, exact_max_entries=2000, nprobe=16)
    vectors = unit(3000, 2)
    ids = np.arange(1, 3001, dtype=np.int64)
    wants = index.add(ids, vectors)
    assert wants is True
    assert index.kind == "exact"
    index.retrain()
    assert index.kind == "ivf"
    assert len(index) == 3000
    queries = near(vectors[:200], 3)
    found = [index.search(q[None, :], 1)[1].tolist() for q in queries]
    recall = np.mean([f == [i] for f, i in zip(found, ids[:200].tolist(), strict=True)])
    assert recall >= 0.95
    index.remove(ids[:100])
    assert len(index) == 2900
    assert all(index.search(v[None, :], 4)[1].min() > 100 for v in vectors[:20])
    assert sorted(index.ids().tolist()) == ids[100:].tolist()


def test_changes_during_a_retrain_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss")
    index = ScopeIndex(DIM, exact_max_entries=1000, nprobe=32)
    vectors = unit(1200, 4)
    index.add(np.arange(1, 1201, dtype=np.int64), vectors)
    extra = unit(10, 5)
    build = index._build_ivf

    def build_while_others_write(ids: np.ndarray, vecs: np.ndarray) -> Any:
        # Another thread's store and invalidation land mid-build.
        index.add(np.arange(5000, 5010, dtype=np.int64), extra)
        index.remove(np.array([1, 2, 3], dtype=np.int64))
        index.retrain()  # a concurrent retrain request returns at once
        return build(ids, vecs)

    monkeypatch.setattr(index, "_build_ivf", build_while_others_write)
    index.retrain()
    assert index.kind == "ivf"
    present = set(index.ids().tolist())
    assert {5000, 5009} <= present
    assert not {1, 2, 3} & present
    assert len(present) == 1200 - 3 + 10
    assert index.search(extra[4][None, :], 1)[1].tolist() == [5004]


@pytest.mark.parametrize("rows", [0, 50, 1500])
def test_bytes_round_trip(rows: int) -> None:
    if rows > 1000:
        pytest.importorskip("faiss")
    index = ScopeIndex(DIM, exact_max_entries=1000, nprobe=16)
    vectors = unit(max(rows, 1), 6)[:rows]
    ids = np.arange(rows, dtype=np.int64) * 3
    if rows and index.add(ids, vectors):
        index.retrain()
    meta, payload = index.to_bytes()
    again = ScopeIndex.from_bytes(meta, payload, exact_max_entries=1000, nprobe=16)
    assert again.kind == index.kind
    assert sorted(again.ids().tolist()) == sorted(ids.tolist())
    for q in vectors[:10]:
        assert again.search(q[None, :], 3)[1].tolist() == index.search(q[None, :], 3)[1].tolist()
    with pytest.raises(ValueError, match="payload"):
        ScopeIndex.from_bytes(
            {**meta, "kind": "exact", "n": rows + 1}, payload[:8], exact_max_entries=1, nprobe=1
        )


def test_nlist_leaves_enough_training_points() -> None:
    for n in (1, 10, 100, 1000, 8193, 100_000, 1_000_000):
        nlist = _nlist_for(n)
        assert nlist >= 1
        assert nlist == 1 or nlist * 39 <= n
        assert nlist & (nlist - 1) == 0
    assert _nlist_for(100_000) == 1024
