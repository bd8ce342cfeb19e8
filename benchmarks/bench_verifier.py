"""What the meaning checks and batch invariance cost, per semantic candidate.

Run: ``python -m benchmarks.bench_verifier`` (needs ``../shared/data/paraphrase``).
Thread CPU time (a shared host's preemption left out; onnxruntime with one
thread runs in the calling thread), on the held-out part of
``paws_wiki_dev.tsv`` (real sentence pairs, ~20 words each), one call at a
time:

- ``guards.check`` with the query's features not yet cached (a new query)
  and the candidate's cached (a stored entry), as in a lookup;
- the shipped :class:`~learned_router.cache.PairVerifier` on the same pairs
  (its features re-extracted each call: it runs only on candidates that
  passed the guards);
- the shipped encoder, per text (each text embedded alone: batch-invariant).
"""

from __future__ import annotations

import time

from training.cache_verifier import paws_pairs

from benchmarks.common import report_timings, summarise
from learned_router.cache import CacheEncoder, PairVerifier, guards


def main() -> None:
    pairs = [(t1, t2) for _, _, t1, t2, part in paws_pairs() if part == "test"]
    verifier = PairVerifier.load()
    encoder = CacheEncoder.load(threads=1)
    guard_times, verifier_times = [], []
    for stored, query in pairs:
        guards.features(stored)
        start = time.thread_time()
        guards.check(query, stored)
        guard_times.append(time.thread_time() - start)
        start = time.thread_time()
        verifier.probability(query, stored, 0.9)
        verifier_times.append(time.thread_time() - start)
        guards.features.cache_clear()
    embed_times = []
    for _, query in pairs[:200]:
        start = time.thread_time()
        encoder([query])
        embed_times.append(time.thread_time() - start)
    report_timings(
        "cache_verifier_speed",
        "Meaning checks per candidate, embedding per text (ms of thread CPU time, 1 thread)",
        {
            "guards.check (new query)": summarise(guard_times),
            "verifier (features + network)": summarise(verifier_times),
            "cache encoder, one PAWS sentence": summarise(embed_times),
        },
    )


if __name__ == "__main__":
    main()
