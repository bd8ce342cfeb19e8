"""Resident memory of a full semantic cache under churn (one process, no gateway).

Stores unique prompts into a ``SemanticCache`` capped at ``--max-entries``
(looking each up first, as the gateway does) and prints the process's RSS
every ``--every`` requests. Past the cap every store evicts one entry, which
is what the gateway's answer cache does under unique traffic; a growing RSS
after the fill is a leak or a table reallocating. Embeddings come from the
hashing embedder (384 dimensions, like the shipped cache encoder) so the
run takes minutes, not an hour. Figures: docs/gateway.md ("Memory").

Run: ``python -m benchmarks.cache_churn_memory`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time

from learned_router.cache import CacheConfig, SemanticCache
from learned_router.cache.embedding import HashingEmbedder


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-entries", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=220_000)
    parser.add_argument("--every", type=int, default=10_000)
    args = parser.parse_args(argv)
    cache = SemanticCache(
        embed=HashingEmbedder(dim=384), config=CacheConfig(max_entries=args.max_entries)
    )
    started = time.perf_counter()
    for i in range(1, args.requests + 1):
        prompt = (
            f"request {i}: summarise the ticket about invoice {i * 7919 % 100003} "
            f"and customer {i % 977}"
        )
        cache.lookup(prompt, tenant="bench", model="router")
        cache.store(prompt, "answer " * 40 + str(i), tenant="bench", model="router")
        if i % args.every == 0:
            print(
                f"{i:>8} requests  RSS {rss_mb():7.1f} MB  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
