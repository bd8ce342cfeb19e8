"""Gateway load test on loopback: what the gateway adds over calling the upstream directly.

Starts the stub upstream (fixed delay) and ``learned-router serve`` (the
shipped bundle, models/default; sqlite ledger; cache on) as two processes on
127.0.0.1, then drives each with N concurrent clients (aiohttp on uvloop, one process),
plain and streamed, with a unique prompt per request (every request is a
cache miss and is routed). Reports throughput and latency p50/p99, direct
vs through the gateway, and the gateway's resident memory over a long run.

    python -m benchmarks.bench_gateway                          # 1, 32, 256 clients
    python -m benchmarks.bench_gateway --memory-requests 100000  # + memory over 100k requests

Bounded: at most ``--requests`` per run and ``--max-seconds`` per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from benchmarks.common import machine, write_results
from benchmarks.gateway_stub import free_port

KEY = "sk-bench"
CONFIG = """
[router]
bundle = "{bundle}"
policy = {{ min_quality = 0.8 }}
frontier_model = "gpt-4-1106-preview"

[gateway]
retries = 0

[ledger]
url = "sqlite:///{tmp}/ledger.sqlite"

[[upstream]]
name = "stub"
base_url = "{stub}/v1"
[upstream.models]
"gpt-4-1106-preview" = "gpt-4-1106-preview"
"gpt-3.5-turbo-1106" = "gpt-3.5-turbo-1106"
"mistral-7b" = "mistralai/mistral-7b-chat"
"qwen-7b" = "qwen2.5-7b-instruct"

[[tenant]]
name = "bench"
api_key = "{key}"
"""


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except OSError:  # refused while starting; urllib's HTTPError is an OSError too
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (robust to other jobs on the box)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _body(model: str, stream: bool, tag: str, i: int) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": f"{tag} question {i}: summarise the memo"}],
    }


def _summary(latencies: list[float], errors: int, elapsed: float, cpu_s: float) -> dict[str, Any]:
    latencies.sort()

    def pct(q: float) -> float:
        return 1e3 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "client_cpu_ms_per_request": 1e3 * cpu_s / max(1, len(latencies) + errors),
    }


async def _drive(
    clients: int, requests: int, max_seconds: float, send: Callable[[int], Awaitable[bool]]
) -> dict[str, Any]:
    """``clients`` workers calling ``send(i)`` for i < ``requests`` until the deadline."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    deadline = time.perf_counter() + max_seconds
    cpu_began = time.process_time()

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            if await send(i):
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - began
    return _summary(latencies, errors, elapsed, time.process_time() - cpu_began)


async def _load(
    url: str,
    model: str,
    stream: bool,
    clients: int,
    requests: int,
    max_seconds: float,
    tag: str,
    load_client: str = "aiohttp",
) -> dict[str, Any]:
    # The load generator shares the two cores with the gateway and the stub, so
    # its own CPU per request matters (client_cpu_ms_per_request): aiohttp's is
    # ~1/10 of httpx's here (`--load-client httpx` measures the old one).
    if load_client == "httpx":
        return await _load_httpx(url, model, stream, clients, requests, max_seconds, tag)
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    async with aiohttp.ClientSession(
        base_url=url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60.0),
        headers={"authorization": f"Bearer {KEY}"},
    ) as client:

        async def send(i: int) -> bool:
            body = _body(model, stream, tag, i)
            try:
                async with client.post("/v1/chat/completions", json=body) as response:
                    if stream:
                        async for _ in response.content.iter_any():
                            pass
                    else:
                        await response.read()
                    return response.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        return await _drive(clients, requests, max_seconds, send)


async def _load_httpx(
    url: str, model: str, stream: bool, clients: int, requests: int, max_seconds: float, tag: str
) -> dict[str, Any]:
    """The same load driven by httpx (this benchmark's load generator until 2026-12-02)."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=60.0, headers={"authorization": f"Bearer {KEY}"}
    ) as client:

        async def send(i: int) -> bool:
            body = _body(model, stream, tag, i)
            try:
                async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    async for _ in response.aiter_bytes():
                        pass
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        return await _drive(clients, requests, max_seconds, send)


def _run(coro: Any) -> Any:
    """Runs ``coro`` on uvloop (the gateway extra brings it), as the gateway does."""
    return uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,32,256")
    parser.add_argument("--requests", type=int, default=3000, help="per run (1 client: /10)")
    parser.add_argument("--max-seconds", type=float, default=40.0, help="per run")
    parser.add_argument("--delay-s", type=float, default=0.05, help="the stub's fixed latency")
    parser.add_argument("--memory-requests", type=int, default=0)
    parser.add_argument("--bundle", default="models/default")
    parser.add_argument(
        "--load-client",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="what drives the measured runs (httpx: the load generator used before 2026-12-02)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lr-bench-gw-"))
    stub_port, gw_port = free_port(), free_port()
    stub_url, gw_url = f"http://127.0.0.1:{stub_port}", f"http://127.0.0.1:{gw_port}"
    (tmp / "gateway.toml").write_text(
        CONFIG.format(bundle=Path(args.bundle).resolve(), tmp=tmp, stub=stub_url, key=KEY)
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]),
    }
    stub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.gateway_stub",
            "--port",
            str(stub_port),
            "--delay-s",
            str(args.delay_s),
        ],
        env=env,
    )
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "learned_router",
            "serve",
            "--config",
            str(tmp / "gateway.toml"),
            "--port",
            str(gw_port),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "stub_delay_s": args.delay_s,
        "bundle": args.bundle,
        "load_client": args.load_client,
        "runs": [],
    }
    try:
        _wait(f"{stub_url}/v1/models", stub)
        _wait(f"{gw_url}/healthz", gateway)
        # Warm up both (connections, the encoder's first call).
        _run(_load(gw_url, "router", False, 4, 50, 30, "warmup"))
        results["gateway_rss_mb_after_warmup"] = rss_mb(gateway.pid)
        for clients in [int(c) for c in args.clients.split(",")]:
            for stream in (False, True):
                n = args.requests // 10 if clients == 1 else args.requests
                direct = _run(
                    _load(
                        stub_url,
                        "gpt-3.5-turbo-1106",
                        stream,
                        clients,
                        n,
                        args.max_seconds,
                        f"d{clients}{stream}",
                        args.load_client,
                    )
                )
                cpu_before = (cpu_s(gateway.pid), cpu_s(stub.pid))
                routed = _run(
                    _load(
                        gw_url,
                        "router",
                        stream,
                        clients,
                        n,
                        args.max_seconds,
                        f"g{clients}{stream}",
                        args.load_client,
                    )
                )
                # CPU the gateway spent per request (the stub's share excluded):
                # unlike wall-clock latency, barely affected by other jobs.
                gateway_cpu_ms = 1e3 * (cpu_s(gateway.pid) - cpu_before[0])
                stub_cpu_ms = 1e3 * (cpu_s(stub.pid) - cpu_before[1])
                served_n = max(1, routed["requests"] + routed["errors"])
                run = {
                    "clients": clients,
                    "stream": stream,
                    "gateway_cpu_ms_per_request": gateway_cpu_ms / served_n,
                    "stub_cpu_ms_per_request": stub_cpu_ms / served_n,
                    "direct": direct,
                    "gateway": routed,
                    "added_p50_ms": routed["p50_ms"] - direct["p50_ms"],
                    "added_p99_ms": routed["p99_ms"] - direct["p99_ms"],
                }
                results["runs"].append(run)
                print(
                    f"clients={clients:>3} stream={stream!s:<5} "
                    f"direct {direct['requests_per_s']:7.1f}/s p50 {direct['p50_ms']:6.1f} "
                    f"p99 {direct['p99_ms']:6.1f} | gateway {routed['requests_per_s']:7.1f}/s "
                    f"p50 {routed['p50_ms']:6.1f} p99 {routed['p99_ms']:6.1f} | added p50 "
                    f"{run['added_p50_ms']:5.1f} p99 {run['added_p99_ms']:5.1f} ms "
                    f"(errors {routed['errors']}) | gateway CPU "
                    f"{run['gateway_cpu_ms_per_request']:.2f} ms/request, stub "
                    f"{run['stub_cpu_ms_per_request']:.2f}, client "
                    f"{routed['client_cpu_ms_per_request']:.2f} (direct "
                    f"{direct['client_cpu_ms_per_request']:.2f})",
                    flush=True,
                )
        results["gateway_rss_mb_after_runs"] = rss_mb(gateway.pid)
        if args.memory_requests:
            samples = [(0, rss_mb(gateway.pid))]
            step = max(1, args.memory_requests // 10)
            for done in range(step, args.memory_requests + 1, step):
                _run(_load(gw_url, "router", False, 32, step, 3600, f"m{done}"))
                samples.append((done, rss_mb(gateway.pid)))
                print(f"after {done} requests: gateway RSS {samples[-1][1]:.1f} MB", flush=True)
            results["memory_mb"] = samples
    finally:
        for process in (gateway, stub):
            process.terminate()
            process.wait(30)
    print(f"wrote {write_results('gateway', results)}")


if __name__ == "__main__":
    main()
