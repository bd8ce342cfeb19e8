"""Upstream providers: HTTP clients, circuit breakers, capacity of self-hosted ones.

Every upstream speaks the OpenAI chat-completions protocol. One
:class:`~learned_router.gateway.http.UpstreamClient` (aiohttp) per upstream
keeps connections alive (HTTP/1.1 keep-alive; the proxy overhead of a new TCP
connection per request is the most common gateway complaint). A
:class:`CircuitBreaker` per upstream opens after ``breaker_failures`` failures
in a row and marks the upstream's models down in the router
(``Router.mark_down``) until ``breaker_reset_s`` has passed; then it goes
half-open (the models are marked up) and the next request decides: a success
closes it, a failure opens it again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from learned_router.gateway.config import GatewayConfig, UpstreamConfig
from learned_router.gateway.http import UpstreamClient


class CircuitBreaker:
    """Closed -> open after ``failures`` errors in a row -> half-open after ``reset_s``.

    >>> now = [0.0]
    >>> events = []
    >>> b = CircuitBreaker(2, 10.0, on_open=lambda: events.append("down"),
    ...                    on_close=lambda: events.append("up"), clock=lambda: now[0])
    >>> b.failure(); b.failure(); b.state, events
    ('open', ['down'])
    >>> b.allow()
    False
    >>> now[0] = 11.0; b.allow(), b.state
    (True, 'half-open')
    >>> b.success(); b.state, events
    ('closed', ['down', 'up'])
    """

    def __init__(
        self,
        failures: int,
        reset_s: float,
        *,
        on_open: Callable[[], None] = lambda: None,
        on_close: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = max(1, failures)
        self.reset_s = reset_s
        self._on_open = on_open
        self._on_close = on_close
        self._clock = clock
        self.state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        # Requests on many tasks/threads report to one breaker.
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """May a request go to this upstream now? (Moves open -> half-open after reset_s.)"""
        with self._lock:
            if self.state == "open" and self._clock() - self._opened_at >= self.reset_s:
                self.state = "half-open"
                call = self._on_close  # let the router choose it again for the trial
            else:
                return self.state != "open"
        call()
        return True

    def success(self) -> None:
        with self._lock:
            was = self.state
            self.state, self._failures = "closed", 0
        if was == "open":
            self._on_close()

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            opening = self.state == "half-open" or (
                self.state == "closed" and self._failures >= self.failures_to_open
            )
            if opening:
                self.state, self._opened_at = "open", self._clock()
        if opening:
            self._on_open()


@dataclass
class Upstream:
    """A configured upstream with its client, breaker and (optional) API key."""

    config: UpstreamConfig
    client: UpstreamClient
    breaker: CircuitBreaker
    api_key: str | None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def enabled(self) -> bool:
        """False while its API key's environment variable is unset (the upstream is skipped)."""
        return self.config.api_key_env is None or self.api_key is not None

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def build_upstreams(
    config: GatewayConfig,
    mark_down: Callable[[str], None],
    mark_up: Callable[[str], None],
) -> dict[str, Upstream]:
    """One :class:`Upstream` per configured provider, by name."""
    upstreams: dict[str, Upstream] = {}
    for u in config.upstreams:
        routed = list(u.models.values())

        def down(models: list[str] = routed) -> None:
            for m in models:
                mark_down(m)

        def up(models: list[str] = routed) -> None:
            for m in models:
                mark_up(m)

        upstreams[u.name] = Upstream(
            config=u,
            client=UpstreamClient(
                u.base_url,
                timeout_s=config.request_timeout_s,
                connect_timeout_s=config.connect_timeout_s,
            ),
            breaker=CircuitBreaker(
                config.breaker_failures, config.breaker_reset_s, on_open=down, on_close=up
            ),
            api_key=os.environ.get(u.api_key_env) if u.api_key_env else None,
        )
    return upstreams
