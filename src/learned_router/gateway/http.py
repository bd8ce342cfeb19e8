"""The gateway's HTTP client to its upstreams: aiohttp behind a four-method surface.

Why aiohttp and not httpx (which the gateway used first): profiled under the
load test (``py-spy`` on ``benchmarks/bench_gateway.py`` at 32 clients), 55%
of the gateway's CPU went to ``httpx.AsyncClient.send``, most of it httpcore's
connection-pool bookkeeping: for every request it walks every pooled
connection and polls its socket (``has_expired`` -> ``is_readable``), and
anyio's stream wrapper calls ``getpeername`` and ``current_task`` per request
(encode/httpcore#928 and #929 describe it; neither is merged). Routing the
request cost 6%. aiohttp's connector keeps idle connections in a per-host
deque and does none of that, and it is as well kept. The gateway only needs:
POST a JSON body, read the status, read the whole body or iterate its lines,
close; that is :class:`UpstreamClient` / :class:`UpstreamResponse`, so the
library stays replaceable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp


class TransportError(Exception):
    """The upstream could not be reached or stopped answering (connect, read, timeout)."""


_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class UpstreamResponse:
    """One upstream answer: the status, and the body read whole or line by line."""

    def __init__(self, raw: aiohttp.ClientResponse, body: bytes | None = None) -> None:
        self._raw = raw
        self._body = body

    @property
    def status_code(self) -> int:
        return int(self._raw.status)

    async def aread(self) -> bytes:
        """The whole body (once read, kept)."""
        if self._body is None:
            try:
                self._body = await self._raw.read()
            except _ERRORS as error:
                raise TransportError(f"{type(error).__name__}: {error}") from error
            finally:
                self._raw.release()
        return self._body

    def json(self) -> Any:
        """The body as JSON (the body must have been read: non-streamed responses are)."""
        if self._body is None:
            raise ValueError("the response body was not read; await aread() first")
        return json.loads(self._body)

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines without their line endings, as they arrive."""
        try:
            async for line in self._raw.content:
                yield line.decode("utf-8", errors="replace").rstrip("\r\n")
        except _ERRORS as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error

    async def aclose(self) -> None:
        """Gives the connection back (or drops it if the body was not fully read)."""
        self._raw.release()


class UpstreamClient:
    """Keep-alive HTTP client for one upstream (``base_url`` like ``https://host/v1``).

    The aiohttp session is made on first use inside the running event loop
    (and again if the gateway is served from another loop later).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=timeout_s
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, raise_for_status=False
            )
            self._loop = loop
        return self._session

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        stream: bool,
    ) -> UpstreamResponse:
        """POSTs ``body`` as JSON; with ``stream`` the body is left to iterate, else read."""
        session = self._session_here()
        try:
            raw = await session.post(self.base_url + path, json=body, headers=dict(headers))
        except _ERRORS as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error
        response = UpstreamResponse(raw)
        if not stream:
            await response.aread()
        return response

    async def aclose(self) -> None:
        """Closes the keep-alive connections (before the event loop ends)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
            # aiohttp closes each transport with a callback scheduled on the loop
            # (aio-libs/aiohttp#1925): let it run, or a loop that stops right after
            # leaves the sockets to the garbage collector (a ResourceWarning).
            await asyncio.sleep(0.05)
        self._session = None
