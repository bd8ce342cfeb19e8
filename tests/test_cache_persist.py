"""Saving and loading a SemanticCache: round trips, damaged files, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from learned_router import CacheFileError
from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache, persist

EMBED = HashingEmbedder(dim=64)


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def filled(clock: Clock | None = None, n: int = 20, **config: object) -> SemanticCache:
    options: dict[str, object] = {"min_similarity": 0.8, "encoder_name": "hashing-64", **config}
    cache = SemanticCache(
        embed=EMBED,
        config=CacheConfig(**options),  # type: ignore[arg-type]
        clock=clock or Clock(),
    )
    for i in range(n):
        cache.store(
            f"question {i} about the billing system",
            f"answer {i}",
            tenant=f"t{i % 2}",
            model="m",
            cost_usd=0.001 * i,
        )
    return cache


def test_round_trip_keeps_entries_order_ttl_stats_and_both_tiers(tmp_path: Path) -> None:
    clock = Clock(0.0)
    cache = filled(clock, namespace_ttl_s={"short": 50})
    cache.store("will expire soon", "x", tenant="t0", namespace="short")
    cache.register_static_block("Company policy text.")
    cache.lookup("question 3 about the billing system", tenant="t1", model="m")
    cache.lookup("nothing like this", tenant="t0", model="m")
    path = tmp_path / "cache.lrc"
    cache.save(path)

    loaded = SemanticCache.load(path, embed=EMBED, clock=clock)
    assert len(loaded) == len(cache) == 21
    assert loaded.config == replace(cache.config, static_blocks=("Company policy text.",))
    assert loaded._exact.lru_order().tolist() == cache._exact.lru_order().tolist()
    assert loaded.stats() == cache.stats()
    hit = loaded.lookup(" question 5 about the billing system ", tenant="t1", model="m")
    assert hit is not None
    assert (hit.tier, hit.response) == ("exact", "answer 5")
    hit = loaded.lookup("question 5 about the billing system again", tenant="t1", model="m")
    assert hit is not None
    assert (hit.tier, hit.response) == ("semantic", "answer 5")
    assert loaded.lookup("question 5 about the billing system", tenant="t0", model="m") is None
    # New ids continue after the saved ones; TTLs survive the restart.
    assert loaded.store("new", "y", tenant="t0") == 22
    clock.now = 60.0
    assert loaded.lookup("will expire soon", tenant="t0", namespace="short") is None
    assert loaded.stats().lookups == cache.stats().lookups + 4


def test_round_trip_of_an_ivf_scope(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    cache = filled(n=300, exact_search_max_entries=50)
    assert {index.kind for index in cache._indexes.values()} == {"ivf"}
    cache.save(tmp_path / "c.lrc")
    loaded = SemanticCache.load(tmp_path / "c.lrc", embed=EMBED)
    assert {index.kind for index in loaded._indexes.values()} == {"ivf"}
    hit = loaded.lookup("question 201 about the billing system please", tenant="t1", model="m")
    assert hit is not None
    assert hit.response == "answer 201"


def test_a_smaller_max_entries_on_load_drops_the_least_recently_used(tmp_path: Path) -> None:
    cache = filled(n=10)
    cache.save(tmp_path / "c.lrc")
    config = CacheConfig.from_dict({**cache.config.to_dict(), "max_entries": 4})
    loaded = SemanticCache.load(tmp_path / "c.lrc", embed=EMBED, config=config)
    assert len(loaded) == 4
    assert sum(len(index) for index in loaded._indexes.values()) == 4
    assert loaded.lookup("question 9 about the billing system", tenant="t1", model="m")
    assert loaded.lookup("question 0 about the billing system", tenant="t0", model="m") is None


def test_a_different_encoder_is_refused(tmp_path: Path) -> None:
    filled().save(tmp_path / "c.lrc")
    config = CacheConfig(encoder_name="another-encoder")
    with pytest.raises(CacheFileError, match="another-encoder"):
        SemanticCache.load(tmp_path / "c.lrc", embed=EMBED, config=config)


def damaged(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2 :]
    elif how == "flipped byte":
        data[-10] ^= 0xFF
    elif how == "bad magic":
        data[:8] = b"NOTCACHE"
    elif how == "other version":
        data[8] = 99
    elif how == "header damaged":
        data[60] ^= 0xFF
    elif how == "extra bytes":
        data += b"junk"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "truncated"),
        ("flipped byte", "checksum"),
        ("bad magic", "not a learned-router cache"),
        ("other version", "format version 99"),
        ("header damaged", "header"),
        ("extra bytes", "unexpected bytes"),
    ],
)
def test_damaged_files_raise_cache_file_error_naming_the_file(
    tmp_path: Path, how: str, message: str
) -> None:
    path = tmp_path / "c.lrc"
    filled().save(path)
    damaged(path, how)
    with pytest.raises(CacheFileError, match=message) as info:
        SemanticCache.load(path, embed=EMBED)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CacheFileError, match="cannot read"):
        SemanticCache.load(tmp_path / "absent.lrc")


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_a_crash_while_saving_leaves_the_previous_file_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "c.lrc"
    old = filled(n=5)
    old.save(path)
    before = path.read_bytes()
    newer = filled(n=30)

    class Crash(BaseException):
        """Stands in for the process dying at this point."""

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    if failing == "write":
        real_fdopen = os.fdopen

        def half_writing_fdopen(fd: int, mode: str) -> object:
            handle = real_fdopen(fd, mode)
            real_write = handle.write
            calls = {"n": 0}

            def write(data: bytes) -> int:
                calls["n"] += 1
                if calls["n"] == 3:  # mid-way through the sections
                    real_write(data[: len(data) // 2])
                    raise Crash
                return real_write(data)

            handle.write = write  # type: ignore[method-assign]
            return handle

        monkeypatch.setattr(persist.os, "fdopen", half_writing_fdopen)
    else:
        monkeypatch.setattr(persist.os, failing, crash)
    with pytest.raises(Crash):
        newer.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert len(SemanticCache.load(path, embed=EMBED)) == 5
    assert list(tmp_path.iterdir()) == [path], "the temporary file is cleaned up"


def test_leftover_temporary_files_are_ignored_and_old_ones_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.lrc"
    filled(n=3).save(path)
    stale = tmp_path / ".c.lrc.tmp-stale"
    fresh = tmp_path / ".c.lrc.tmp-fresh"
    for leftover in (stale, fresh):
        leftover.write_bytes(b"half a cache")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert len(SemanticCache.load(path, embed=EMBED)) == 3
    filled(n=4).save(path)
    assert not stale.exists()
    assert fresh.exists(), "may belong to a save still running elsewhere"


def test_saving_while_other_threads_store(tmp_path: Path) -> None:
    cache = filled(n=0, exact_search_max_entries=10_000)
    stop = threading.Event()
    stored: list[tuple[str, str, str]] = []  # (prompt, response, tenant) once store returned
    lock = threading.Lock()

    def writer(worker: int) -> None:
        i = 0
        while not stop.is_set():
            prompt, response = f"worker {worker} item {i} text", f"{worker}-{i}"
            cache.store(prompt, response, tenant=f"t{worker}")
            with lock:
                stored.append((prompt, response, f"t{worker}"))
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(5):
            while len(cache) < 50 * (round_ + 1):
                time.sleep(0.001)
            with lock:
                before_save = list(stored)
            cache.save(tmp_path / "c.lrc")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    loaded = SemanticCache.load(tmp_path / "c.lrc", embed=EMBED)
    alive = set(loaded._exact.lru_order().tolist())
    for index in loaded._indexes.values():
        assert set(index.ids().tolist()) <= alive, "no vector outlives its entry"
    # Every answer stored before the last save began is in the file, intact
    # (stores that ran during the save may or may not be).
    assert len(before_save) >= 250
    for prompt, response, tenant in before_save:
        hit = loaded.lookup(prompt, tenant=tenant)
        assert hit is not None, prompt
        assert hit.tier == "exact", prompt
        assert hit.response == response


CHILD = textwrap.dedent(
    """
    import sys
    from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache

    path = sys.argv[1]
    cache = SemanticCache(embed=HashingEmbedder(dim=64), config=CacheConfig(encoder_name="h"))
    generation = 0
    while True:
        generation += 1
        cache.store_many(
            [f"generation {generation} prompt {i}" for i in range(200)],
            ["x" * 2000] * 200,
            tenant="t",
        )
        cache.save(path)
        print(generation, flush=True)
    """
)


@pytest.mark.slow
def test_killing_the_process_mid_save_never_leaves_an_unreadable_file(tmp_path: Path) -> None:
    """A real crash: SIGKILL a process that saves in a loop, at varying
    moments; after every kill the file loads and holds a whole generation."""
    path = tmp_path / "c.lrc"
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(4):
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
        ) as child:
            assert child.stdout is not None
            child.stdout.readline()  # at least one save completed
            time.sleep(float(rng.uniform(0.0, 0.5)))
            child.send_signal(signal.SIGKILL)
            child.wait()
        loaded = SemanticCache.load(path, embed=HashingEmbedder(dim=64))
        assert len(loaded) > 0
        assert len(loaded) % 200 == 0
