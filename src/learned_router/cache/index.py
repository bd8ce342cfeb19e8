"""The vectors of one cache scope: exact search while small, IVF beyond.

Small scopes use exact inner-product search (faiss's brute-force scan over a
numpy matrix we own: perfect recall; deletion swaps the last row into the
hole). Once a scope holds more
than ``exact_max_entries`` vectors it switches to a faiss ``IndexIVFFlat``
(inner product) with a hash-table direct map, which removes ids in place, so
TTL expiry, LRU eviction and invalidation need no tombstones. The IVF is
retrained (more lists) each time the scope grows 4x past its last training.

Why IVF and not HNSW (benchmarks/bench_cache.py, 2-core x86 VM, d=384, one query,
one thread, CPU time; docs/cache.md has the tables): at 100k entries IVF
(1024 lists, nprobe 16) answers in 0.26 ms p50 / 0.39 ms p99 with
near-duplicate recall@1 0.98-1.00; HNSW (M=32) takes 0.72 / 1.13 ms at
recall 0.93 (efSearch 64) or finds only 65% (efSearch 16), cannot delete,
and builds at ~1.7k vectors/s against IVF's ~130k/s, which matters for
retraining. ``faiss`` is imported on the first vector search,
never at package import.

Thread safety: each index has its own lock; faiss and numpy release the GIL
while searching, so scopes are searched in parallel. A retrain copies the
vectors under the lock, trains outside it (lookups and stores continue on the
old index; changes meanwhile are journaled) and swaps under the lock.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]

# faiss wants at least 39 training points per list; 64 keeps k-means stable.
_POINTS_PER_LIST = 64
_GROWTH = 4


_IP = 0  # faiss.METRIC_INNER_PRODUCT, without importing faiss here


def _faiss() -> Any:
    """faiss, imported on first use, set to one OpenMP thread: single queries
    run 2-4x faster than with the default thread pool (measured on 2 cores)."""
    global _faiss_module
    if _faiss_module is None:
        import faiss

        faiss.omp_set_num_threads(1)
        assert faiss.METRIC_INNER_PRODUCT == _IP
        _faiss_module = faiss
    return _faiss_module


_faiss_module: Any = None


def _nlist_for(n: int) -> int:
    """Lists for n vectors: the power of two nearest 4*sqrt(n), halved until
    faiss has its minimum of 39 training vectors per list."""
    nlist = 1 << round(math.log2(max(4 * math.sqrt(n), 1)))
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return nlist


class ScopeIndex:
    """Vectors by entry id for one scope, searched by inner product."""

    def __init__(self, dim: int, *, exact_max_entries: int, nprobe: int) -> None:
        self.dim = dim
        self.exact_max_entries = exact_max_entries
        self.nprobe = nprobe
        self._lock = threading.Lock()
        # Exact mode: rows [0, n) of _vectors are live; _ids[i] owns row i.
        self._vectors: FloatMatrix = np.empty((16, dim), dtype=np.float32)
        self._ids: IdArray = np.empty(16, dtype=np.int64)
        self._row: dict[int, int] = {}
        self._n = 0
        # IVF mode.
        self._ivf: Any = None  # faiss.IndexIVFFlat once the scope outgrows exact search
        self._ivf_trained_at = 0
        # While a retrain runs: (True, ids, vectors) adds and (False, ids, None) removes.
        self._journal: list[tuple[bool, IdArray, FloatMatrix | None]] | None = None

    @property
    def kind(self) -> str:
        """``"exact"`` or ``"ivf"``."""
        return "exact" if self._ivf is None else "ivf"

    def __len__(self) -> int:
        with self._lock:
            return self._n if self._ivf is None else int(self._ivf.ntotal)

    # -- queries ----------------------------------------------------------

    def search(self, query: FloatMatrix, k: int) -> tuple[npt.NDArray[np.float32], IdArray]:
        """Up to ``k`` (similarity, id) pairs, best first, for one query [1, dim]."""
        with self._lock:
            if self._ivf is not None:
                sims, ids = self._ivf.search(query, k)
                keep = ids[0] >= 0
                return sims[0][keep], ids[0][keep]
            n = self._n
            if n == 0:
                return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
            # faiss's brute-force scan on one thread, not numpy's matvec:
            # OpenBLAS spreads a matvec over every core and, on a busy host,
            # waits for them (8k entries, load 7 on 2 cores: p90 12 ms with
            # numpy, 0.7 ms with faiss.knn; docs/cache.md).
            sims, rows = _faiss().knn(query, self._vectors[:n], min(k, n), metric=_IP)
            found = rows[0] >= 0
            return sims[0][found], self._ids[rows[0][found]]

    # -- updates ----------------------------------------------------------

    def add(self, ids: IdArray, vectors: FloatMatrix) -> bool:
        """Adds vectors; returns True when the scope now wants a retrain
        (call :meth:`retrain` outside any other lock)."""
        with self._lock:
            if self._journal is not None:
                self._journal.append((True, ids.copy(), vectors.copy()))
            if self._ivf is not None:
                self._ivf.add_with_ids(vectors, ids)
                return int(self._ivf.ntotal) >= _GROWTH * self._ivf_trained_at
            need = self._n + len(ids)
            if need > len(self._ids):
                capacity = max(need, 2 * len(self._ids))
                vectors_grown = np.empty((capacity, self.dim), dtype=np.float32)
                vectors_grown[: self._n] = self._vectors[: self._n]
                ids_grown = np.empty(capacity, dtype=np.int64)
                ids_grown[: self._n] = self._ids[: self._n]
                self._vectors, self._ids = vectors_grown, ids_grown
            for offset, entry_id in enumerate(ids.tolist()):
                old = self._row.get(entry_id)
                if old is not None:  # re-adding an id replaces its vector
                    self._vectors[old] = vectors[offset]
                    continue
                row = self._n
                self._vectors[row] = vectors[offset]
                self._ids[row] = entry_id
                self._row[entry_id] = row
                self._n += 1
            return self._n > self.exact_max_entries

    def remove(self, ids: IdArray) -> None:
        """Removes the vectors of these ids (unknown ids are ignored)."""
        if len(ids) == 0:
            return
        with self._lock:
            if self._journal is not None:
                self._journal.append((False, ids.copy(), None))
            if self._ivf is not None:
                self._ivf.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
                return
            for entry_id in ids.tolist():
                row = self._row.pop(entry_id, None)
                if row is None:
                    continue
                last = self._n - 1
                if row != last:
                    moved = int(self._ids[last])
                    self._vectors[row] = self._vectors[last]
                    self._ids[row] = moved
                    self._row[moved] = row
                self._n = last

    def ids(self) -> IdArray:
        """The ids currently indexed."""
        with self._lock:
            if self._ivf is None:
                live: IdArray = self._ids[: self._n].copy()
                return live
            faiss = _faiss()
            invlists = self._ivf.invlists
            parts: list[IdArray] = [
                faiss.rev_swig_ptr(invlists.get_ids(list_no), invlists.list_size(list_no))
                .copy()
                .astype(np.int64)
                for list_no in range(self._ivf.nlist)
                if invlists.list_size(list_no)
            ]
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def snapshot(self) -> tuple[IdArray, FloatMatrix]:
        """Copies of every (id, vector) currently indexed."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> tuple[IdArray, FloatMatrix]:
        if self._ivf is None:
            return self._ids[: self._n].copy(), self._vectors[: self._n].copy()
        faiss = _faiss()
        invlists = self._ivf.invlists
        all_ids, all_vectors = [], []
        for list_no in range(self._ivf.nlist):
            size = invlists.list_size(list_no)
            if size == 0:
                continue
            ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy()
            codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * invlists.code_size)
            all_ids.append(ids.astype(np.int64))
            all_vectors.append(codes.copy().view(np.float32).reshape(size, self.dim))
        if not all_ids:
            return np.empty(0, dtype=np.int64), np.empty((0, self.dim), dtype=np.float32)
        return np.concatenate(all_ids), np.concatenate(all_vectors)

    def retrain(self) -> None:
        """Switches to (or retrains) the IVF for the current size. Lookups and
        updates continue on the old index meanwhile; a second concurrent call
        returns at once."""
        with self._lock:
            if self._journal is not None:
                return
            ids, vectors = self._snapshot_locked()
            self._journal = []
        try:
            new = self._build_ivf(ids, vectors)
        except BaseException:
            with self._lock:
                self._journal = None
            raise
        with self._lock:
            journal, self._journal = self._journal or [], None
            for is_add, journal_ids, journal_vectors in journal:
                if is_add:
                    assert journal_vectors is not None
                    new.remove_ids(journal_ids)  # a re-add replaces
                    new.add_with_ids(journal_vectors, journal_ids)
                else:
                    new.remove_ids(journal_ids)
            self._ivf = new
            self._ivf_trained_at = len(ids)
            self._vectors = np.empty((0, self.dim), dtype=np.float32)
            self._ids = np.empty(0, dtype=np.int64)
            self._row = {}
            self._n = 0

    def _build_ivf(self, ids: IdArray, vectors: FloatMatrix) -> Any:
        faiss = _faiss()
        nlist = _nlist_for(len(ids))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(len(ids))
        sample = vectors
        if len(ids) > _POINTS_PER_LIST * nlist:
            sample = vectors[rng.choice(len(ids), _POINTS_PER_LIST * nlist, replace=False)]
        # Bulk work: let faiss use every core, then back to one thread for
        # single queries (2-4x faster than the OpenMP default on small batches).
        faiss.omp_set_num_threads(max(1, len(_affinity())))
        try:
            index.train(np.ascontiguousarray(sample))
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.add_with_ids(vectors, ids)
        finally:
            faiss.omp_set_num_threads(1)
        index.nprobe = min(self.nprobe, nlist)
        return index

    # -- persistence ------------------------------------------------------

    def to_bytes(self) -> tuple[dict[str, Any], bytes]:
        """(metadata, payload) for the cache file."""
        with self._lock:
            if self._ivf is None:
                ids, vectors = self._ids[: self._n], self._vectors[: self._n]
                meta = {"kind": "exact", "n": int(self._n), "dim": self.dim}
                return meta, ids.tobytes() + vectors.tobytes()
            faiss = _faiss()
            payload = faiss.serialize_index(self._ivf).tobytes()
            meta = {
                "kind": "ivf",
                "n": int(self._ivf.ntotal),
                "dim": self.dim,
                "trained_at": self._ivf_trained_at,
            }
            return meta, payload

    @classmethod
    def from_bytes(
        cls, meta: dict[str, Any], payload: bytes, *, exact_max_entries: int, nprobe: int
    ) -> ScopeIndex:
        """Inverse of :meth:`to_bytes`."""
        dim, n = int(meta["dim"]), int(meta["n"])
        index = cls(dim, exact_max_entries=exact_max_entries, nprobe=nprobe)
        if meta["kind"] == "exact":
            if len(payload) != n * (8 + 4 * dim):
                expected = n * (8 + 4 * dim)
                raise ValueError(
                    f"exact index payload is {len(payload)} bytes, expected {expected}"
                )
            ids = np.frombuffer(payload[: 8 * n], dtype=np.int64)
            vectors = np.frombuffer(payload[8 * n :], dtype=np.float32).reshape(n, dim)
            index.add(ids.copy(), vectors.copy())
            return index
        if meta["kind"] != "ivf":
            raise ValueError(f"unknown index kind {meta['kind']!r}")
        faiss = _faiss()
        ivf = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        if ivf.d != dim or ivf.ntotal != n:
            raise ValueError(f"IVF index has d={ivf.d}, n={ivf.ntotal}; expected d={dim}, n={n}")
        ivf.nprobe = min(nprobe, ivf.nlist)
        index._ivf = ivf
        index._ivf_trained_at = int(meta.get("trained_at", n))
        return index


def _affinity() -> set[int]:
    import os

    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))
