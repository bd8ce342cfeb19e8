"""Which encoder keys the cache on real look-alikes: the int8 teacher
(shipped, ~23 MB) against the router bundle's student (already in the
repository), on the held-out part of ``paws_wiki_dev.tsv``.

Run: ``python -m benchmarks.cache_encoder_choice``. For each encoder: the false-hit
rate at equal hit rate (plain cosine; cosine + guards), read off the
threshold curves. Writes ``benchmarks/results/cache_encoder_choice.json``.
"""

from __future__ import annotations

import json

import numpy as np
from training.cache_verifier import paws_pairs

from benchmarks.common import write_results
from learned_router.bundle import DEFAULT_BUNDLE, Bundle
from learned_router.cache import CacheEncoder, guards


def _student():  # type: ignore[no-untyped-def]
    encoder = Bundle.load(DEFAULT_BUNDLE).encoder(threads=1)

    def embed(texts):  # type: ignore[no-untyped-def]
        return np.concatenate([encoder.embed([t]) for t in texts])

    return embed


def _false_at_hit(cos: np.ndarray, ok: np.ndarray, labels: np.ndarray, hit: float) -> float:
    best = 1.0
    for t in np.arange(0.3, 1.0, 0.002):
        served = (cos >= t) & ok
        if served[labels == 1].mean() >= hit:
            best = min(best, float(served[labels == 0].mean()))
    return best


def main() -> None:
    rows = [r for r in paws_pairs() if r[4] == "test"]
    labels = np.asarray([r[1] for r in rows])
    ok = np.asarray([guards.check(r[3], r[2]) is None for r in rows])
    everything = np.ones_like(ok)
    out = {}
    for name, embed in (("teacher-int8", CacheEncoder.load(threads=1)), ("student", _student())):
        v1 = embed([r[2] for r in rows])
        v2 = embed([r[3] for r in rows])
        cos = np.sum(v1 * v2, axis=1)
        out[name] = {
            f"false_hit_at_{hit:.0%}_hits{suffix}": _false_at_hit(cos, mask, labels, hit)
            for hit in (0.05, 0.10, 0.25, 0.50)
            for suffix, mask in (("", everything), ("_with_guards", ok))
        }
        print(name, json.dumps(out[name]), flush=True)
    write_results("cache_encoder_choice", out)


if __name__ == "__main__":
    main()
