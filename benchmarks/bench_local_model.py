"""Tokens per second of the self-hosted tier: SmolLM2-135M (Q4_1) on the llama.cpp
server the gateway launches, asked through its OpenAI API on loopback.

    python -m benchmarks.bench_local_model --threads 2 --requests 5 --max-tokens 128
"""

from __future__ import annotations

import argparse
import time

import httpx

from benchmarks.common import machine, write_results
from benchmarks.gateway_stub import free_port
from learned_router.gateway.config import UpstreamConfig
from learned_router.gateway.local import LlamaCppServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    config = UpstreamConfig(
        name="local",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        models={"smollm2-135m": "unused"},
        launch="llama-cpp",
        n_threads=args.threads,
    )
    server = LlamaCppServer(config)
    server.start()
    runs = []
    try:
        for i in range(args.requests):
            start = time.perf_counter()
            reply = httpx.post(
                f"{config.base_url}/chat/completions",
                timeout=300,
                json={
                    "model": "smollm2-135m",
                    "max_tokens": args.max_tokens,
                    "temperature": 0.7,
                    "messages": [
                        {"role": "user", "content": f"Write a short story about robot {i}."}
                    ],
                },
            ).json()
            seconds = time.perf_counter() - start
            usage = reply["usage"]
            runs.append(
                {"seconds": seconds, **usage, "tokens_per_s": usage["completion_tokens"] / seconds}
            )
            print(
                f"{usage['prompt_tokens']} in, {usage['completion_tokens']} out in "
                f"{seconds:.2f} s: {runs[-1]['tokens_per_s']:.1f} tokens/s",
                flush=True,
            )
    finally:
        server.stop()
    out = sum(r["completion_tokens"] for r in runs) / sum(r["seconds"] for r in runs)
    print(f"overall: {out:.1f} output tokens/s (end to end, prefill included)")
    write_results(
        "local_model",
        {"machine": machine(), "threads": args.threads, "runs": runs, "output_tokens_per_s": out},
    )


if __name__ == "__main__":
    main()
