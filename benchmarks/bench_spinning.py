"""CPU per routing-size encoder call with onnxruntime's thread spinning on and off.

A service embeds one prompt at a time with gaps between requests; onnxruntime's
intra-op threads spin-wait after each run by default, burning CPU the rest of
the box needs. This runs the shipped encoder on 300 single prompts with a 10 ms
pause between calls, both ways, alternating twice, and reports the process CPU
time per call (all threads) and the call latency.

Run: ``python -m benchmarks.bench_spinning``.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from benchmarks.common import write_results
from learned_router.bundle import Bundle
from learned_router.encoder import Encoder
from learned_router.tokens import load_tokenizer


def measure(spinning: bool, *, calls: int = 300, pause_s: float = 0.01) -> dict[str, float]:
    bundle = Bundle.load("models/default")
    encoder = Encoder(
        bundle.path / "encoder.onnx",
        load_tokenizer(bundle.path / "tokenizer.json"),
        bundle.truncation,
        spinning=spinning,
    )
    texts = [f"Summarise meeting note {i} about the quarterly budget review" for i in range(calls)]
    encoder.embed(texts[:5])
    latencies = []
    cpu0 = time.process_time()
    for text in texts:
        start = time.perf_counter()
        encoder.embed([text])
        latencies.append(time.perf_counter() - start)
        time.sleep(pause_s)
    cpu = time.process_time() - cpu0
    latencies.sort()
    return {
        "cpu_ms_per_call": 1000 * cpu / calls,
        "p50_ms": 1000 * latencies[calls // 2],
        "p99_ms": 1000 * latencies[int(calls * 0.99)],
    }


def main() -> None:
    results: dict[str, dict[str, float]] = {}
    for round_ in (1, 2):
        for spinning in (True, False):
            results[f"spinning {'on' if spinning else 'off'}, round {round_}"] = measure(spinning)
    table = Table(title="Shipped encoder, one prompt per call, 10 ms apart")
    for column in ("setting", "CPU ms per call", "p50 ms", "p99 ms"):
        table.add_column(column)
    for name, r in results.items():
        table.add_row(
            name, f"{r['cpu_ms_per_call']:.2f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"
        )
    Console().print(table)
    print(f"written {write_results('spinning', results)}")


if __name__ == "__main__":
    main()
