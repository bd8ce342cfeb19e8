"""Where one gateway request's time goes, one request at a time.

Runs the gateway in-process (``Gateway.chat`` on uvloop, no HTTP server in
front) against the stub upstream (a second process, no delay by default),
sends ``--requests`` unique prompts one after another with ``--gap-ms``
between them (as a lone client does, so caches cool between requests), and
reports the p50 and mean of each phase:

- ``decision`` - ``Gateway.route``: the routing decision in its worker thread,
  the hop there and back included; ``Router.route`` is the decision alone, of
  which ``encoder`` (tokenise + embed) is part;
- ``upstream`` - ``Gateway._send``: the upstream call (the stub's own time in it);
- ``settle`` - ``Gateway._settle``: ledger row, cache store, feedback memory;
- ``total`` - the whole ``Gateway.chat`` call.

    python -m benchmarks.gateway_phases
    python -m benchmarks.gateway_phases --requests 1000 --gap-ms 0

The first 50 requests warm up and are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.bench_gateway import CONFIG, KEY, _wait
from benchmarks.common import machine, write_results
from benchmarks.gateway_stub import free_port

WARMUP = 50


def _timed(times: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(fn):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                times.append(time.perf_counter() - began)

        return timed_async

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - began)

    return timed


def measure(config_path: Path, requests: int, gap_s: float) -> dict[str, dict[str, float]]:
    from learned_router.gateway.app import Gateway
    from learned_router.gateway.config import GatewayConfig

    gateway = Gateway(GatewayConfig.load(config_path))
    phases: dict[str, list[float]] = {
        name: [] for name in ("decision", "Router.route", "encoder", "upstream", "settle", "total")
    }
    # Instance attributes shadow the methods, so only this gateway is timed.
    gateway.route = _timed(phases["decision"], gateway.route)  # type: ignore[method-assign]
    gateway._send = _timed(phases["upstream"], gateway._send)  # type: ignore[method-assign]
    gateway._settle = _timed(phases["settle"], gateway._settle)  # type: ignore[method-assign]
    router = gateway.router
    router.route = _timed(phases["Router.route"], router.route)  # type: ignore[method-assign]
    encoder = router.encoder
    tokenise, embed = encoder.token_ids_and_counts, encoder.embed_ids
    encoder_times = phases["encoder"]

    def encode_ids_and_counts(texts: Any) -> Any:
        began = time.perf_counter()
        result = tokenise(texts)
        encoder_times.append(time.perf_counter() - began)
        return result

    def embed_ids(ids: Any) -> Any:
        began = time.perf_counter()
        result = embed(ids)
        encoder_times[-1] += time.perf_counter() - began
        return result

    encoder.token_ids_and_counts = encode_ids_and_counts  # type: ignore[method-assign]
    encoder.embed_ids = embed_ids  # type: ignore[method-assign]

    async def main() -> None:
        for i in range(WARMUP + requests):
            body = {
                "model": "router",
                "messages": [{"role": "user", "content": f"question {i}: summarise the memo"}],
            }
            began = time.perf_counter()
            response = await gateway.chat(body, KEY)
            if getattr(response, "status_code", 200) != 200:
                raise RuntimeError(f"the gateway answered {response.status_code}")
            phases["total"].append(time.perf_counter() - began)
            await asyncio.sleep(gap_s)
        await gateway.aclose()

    uvloop.run(main())
    return {
        name: {
            "p50_ms": 1e3 * statistics.median(times[WARMUP:]),
            "mean_ms": 1e3 * statistics.mean(times[WARMUP:]),
        }
        for name, times in phases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=10.0, help="pause between requests")
    parser.add_argument("--delay-s", type=float, default=0.0, help="the stub's fixed latency")
    parser.add_argument("--bundle", default="models/default")
    args = parser.parse_args()

    port = free_port()
    stub_url = f"http://127.0.0.1:{port}"
    stub = subprocess.Popen(
        [
            *(sys.executable, "-m", "benchmarks.gateway_stub"),
            *("--port", str(port), "--delay-s", str(args.delay_s)),
        ]
    )
    try:
        _wait(f"{stub_url}/v1/models", stub)
        tmp = Path(tempfile.mkdtemp(prefix="lr-bench-phases-"))
        config_path = tmp / "gateway.toml"
        config_path.write_text(
            CONFIG.format(bundle=Path(args.bundle).resolve(), tmp=tmp, stub=stub_url, key=KEY)
        )
        phases = measure(config_path, args.requests, args.gap_ms / 1e3)
    finally:
        stub.terminate()
        stub.wait(30)
    for name, stats in phases.items():
        print(f"{name:>13}: p50 {stats['p50_ms']:6.2f} ms, mean {stats['mean_ms']:6.2f} ms")
    results = {
        "machine": machine(),
        "requests": args.requests,
        "gap_ms": args.gap_ms,
        "stub_delay_s": args.delay_s,
        "phases": phases,
    }
    print(f"wrote {write_results('gateway_phases', results)}")


if __name__ == "__main__":
    main()
