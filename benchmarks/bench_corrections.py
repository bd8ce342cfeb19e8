"""Cost of ``Corrections.apply`` on the routing hot path with many tenants.

The router applies the tenant corrections on every decision. This times one
decision (40 candidate models) for one tenant of 1,000, each having recorded
outcomes of 10 models; and, with the per-prompt term (``local_k=50``), one
decision and a batch of 64 for a tenant whose memory is full (4,096 outcomes
with 384-dimensional embeddings).

Run: ``python -m benchmarks.bench_corrections`` (a few seconds).
"""

from __future__ import annotations

import time

import numpy as np

from learned_router.drift import Corrections


def main() -> None:
    models = [f"m{j}" for j in range(40)]
    p = np.full((1, len(models)), 0.7)
    for pooled in (1.0, 0.0):
        corrections = Corrections(pooled=pooled)
        for t in range(1000):
            for m in models[:10]:
                corrections.observe(m, predicted=0.8, observed=0.5, tenant=f"t{t}")
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            corrections.apply(p, models, tenant="t5")
        per = (time.perf_counter() - start) / n * 1e6
        print(f"pooled={pooled:g}: {per:.0f} us per decision (1,000 tenants x 10 models)")
    rng = np.random.default_rng(0)
    local = Corrections(local_k=50)
    for i in range(4096):
        local.observe(
            models[i % 10],
            predicted=0.8,
            observed=float(rng.random() < 0.6),
            tenant="t",
            embedding=rng.standard_normal(384).astype(np.float32),
        )
    for batch in (1, 64):
        queries = rng.standard_normal((batch, 384)).astype(np.float32)
        rows = np.full((batch, len(models)), 0.7)
        n = max(20, 2000 // batch)
        start = time.perf_counter()
        for _ in range(n):
            local.apply(rows, models, tenant="t", embeddings=queries)
        per = (time.perf_counter() - start) / n / batch * 1e6
        print(f"local_k=50, 4,096 outcomes in memory: {per:.0f} us per prompt (batch {batch})")


if __name__ == "__main__":
    main()
