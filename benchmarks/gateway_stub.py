"""A stub OpenAI-compatible upstream and a uvicorn-in-a-thread helper, on loopback.

Used by the gateway's tests and its load test (``benchmarks/bench_gateway.py``).
The stub is a bare ASGI app (no framework) so its own overhead stays small
next to the gateway it measures. Per served model it can be told to fail:
``fail[model] = [503, 503]`` answers the next two requests with 503;
``midstream[model] = n`` breaks the next ``n`` streams after their first
chunk. ``delay_s`` sleeps before answering (a fixed upstream latency).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class StubUpstream:
    """An ASGI app speaking ``POST /v1/chat/completions`` (plain and SSE) and ``GET /v1/models``."""

    delay_s: float = 0.0
    fail: dict[str, list[int]] = field(default_factory=dict)
    midstream: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    keep_bodies: bool = True

    @staticmethod
    def answer(model: str, body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        return f"{model} says: {last}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"].endswith("/models"):
            await _json(send, 200, {"object": "list", "data": []})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw)
        model = body["model"]
        self.calls[model] += 1
        if self.keep_bodies:
            self.bodies.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        failures = self.fail.get(model)
        if failures:
            status = failures.pop(0)
            await _json(send, status, {"error": {"message": f"stub {status}", "type": "stub"}})
            return
        text = self.answer(model, body)
        words = text.split(" ")
        # ~4 characters per input token; one token per output word.
        chars = sum(len(str(m.get("content") or "")) for m in body["messages"])
        prompt_tokens = 1 + chars // 4
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        if not body.get("stream"):
            await _json(
                send,
                200,
                {
                    "id": "stub-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        broken = self.midstream.get(model, 0) > 0
        if broken:
            self.midstream[model] -= 1
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {
                "id": "stub-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
            if broken:
                # A dropped connection after the first byte.
                await send(
                    {"type": "http.response.body", "body": b"data: {not json", "more_body": False}
                )
                return
        end = {
            "id": "stub-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        tail = _event(end)
        if (body.get("stream_options") or {}).get("include_usage"):
            tail += _event(
                {
                    "id": "stub-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        await send(
            {"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False}
        )


def _event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: Any, *, port: int = 0) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", backlog=2048
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    """``python -m benchmarks.gateway_stub --port N --delay-s 0.02``: the stub, on its own."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-s", type=float, default=0.0)
    args = parser.parse_args()
    stub = StubUpstream(delay_s=args.delay_s, keep_bodies=False)
    uvicorn.run(
        stub, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=2048
    )


if __name__ == "__main__":
    main()
