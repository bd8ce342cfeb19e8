"""The OpenAI-compatible gateway: routes, streams, falls back, budgets, accounts.

:func:`create_app` builds the ASGI app (FastAPI) around a :class:`Gateway`,
which does the work of one request:

1. authenticate the API key (401), check the model is allowed (403) and the
   tenant's rate limit (429 ``rate_limit_exceeded``);
2. answer from the tenant's cache namespace when it can (plain or replayed as
   a stream);
3. choose the model: ``router`` uses the default policy, ``router:<preset>``
   a named one, any served model name passes through (still through the
   router's ``route(candidates=[...])``, for the expected cost and a decision
   id). Candidates are the models whose upstream is enabled (its API key is
   set), whose circuit breaker is closed, and, for self-hosted upstreams,
   that have a free slot: base load stays local, peaks spill to public APIs;
4. reserve the expected cost against the tenant's budgets (429
   ``insufficient_quota``);
5. call the upstream with retries and backoff; on errors, 429 or 5xx before
   the first byte, fall back down the router's ranking (re-routed without the
   models that failed). After the first byte of a stream there is no silent
   switch: the stream ends with an error event;
6. settle the budget on the actual usage, write a ledger row, store the
   answer in the cache, run the shadow hook (off the request path).

Only the public Router API is used: ``Router.load``, ``route``,
``record_outcome``, ``mark_down`` / ``mark_up`` and ``catalog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from learned_router.cache import SemanticCache
from learned_router.cache.semantic import CacheConfig
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.drift import (
    Corrections,
    DriftAlert,
    DriftMonitor,
    InputDriftWatch,
    InputReference,
    ShadowSampler,
    log_sink,
)
from learned_router.errors import InvalidInputError
from learned_router.gateway.config import GatewayConfig
from learned_router.gateway.errors import GatewayError, UpstreamError
from learned_router.gateway.http import TransportError, UpstreamResponse
from learned_router.gateway.ledger import Ledger, UsageRow
from learned_router.gateway.metrics import GatewayMetrics
from learned_router.gateway.tenants import Reservation, TenantBook
from learned_router.gateway.upstreams import Upstream, build_upstreams
from learned_router.router import NoModelAvailableError, RouteDecision, Router

log = logging.getLogger("learned_router.gateway")

INLINE_DECISION_MAX_CHARS = 2000
"""Prompts up to this long are routed on the event loop itself, longer ones in a
worker thread. Handing each decision to a thread and back (futex wake-ups, the GIL
passed between two threads on two cores) cost more than the decision's GIL-free
encoder time gave back: at 32 clients, four interleaved pairs of
``python -m benchmarks.bench_gateway --clients 32 --requests 6000 --max-seconds 30``
gave 390-491 req/s plain and 351-451 streamed on the loop against 358-429 and
300-354 in threads, at 2.2-2.8 ms of gateway CPU per request against 2.4-3.1.
A decision on a 2,000-character prompt takes ~5 ms (~60 ms at 256,000: the
tokeniser's pass over the whole text), so longer prompts still go to a thread,
where tokenising and the encoder release the GIL and the loop keeps serving."""

ROUTER_MODEL = "router"
HEADER = "x-learned-router-"
_PASS_STATUS = (400, 404, 413, 422)
# Generation parameters that change the answer, hence part of the cache key.
_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "n",
    "logit_bias",
    "logprobs",
    "top_logprobs",
)


@dataclass(frozen=True)
class ShadowSample:
    """What the shadow hook receives: both answers to one prompt."""

    request_id: str
    decision_id: str | None
    tenant: str
    messages: list[dict[str, Any]]
    routed_model: str
    routed_answer: str
    golden_model: str
    golden_answer: str
    tier: str | None = None
    """The routed decision's complexity tier (feeds the monitor's per-tier streams)."""


ShadowHook = Callable[[ShadowSample], None]


@dataclass
class _Served:
    name: str
    router_model: str
    upstream: str


@dataclass
class _Feedback:
    tenant: str
    cost_usd: float
    latency_ms: float
    output_tokens: int
    response: str


class Gateway:
    """The request path, independent of the web framework (the app is a thin shell)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        router: Router | None = None,
        ledger: Ledger | None = None,
        shadow: ShadowHook | None = None,
        monitor: DriftMonitor | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        router_models = [r for u in config.upstreams for r in u.models.values()]
        self.router = router or Router.load(
            config.bundle,
            models=router_models,
            policy=config.policy,
            capacity=False,  # the gateway meters self-hosted slots itself (see below)
            outcome_store=config.outcome_store,
        )
        prices = {
            model: {
                key: value
                for key, value in (
                    ("usd_per_1m_input", u.usd_per_1m_input),
                    ("usd_per_1m_output", u.usd_per_1m_output),
                )
                if value is not None
            }
            for u in config.upstreams
            for model in u.models.values()
            if u.usd_per_1m_input is not None or u.usd_per_1m_output is not None
        }
        if prices:
            self.router.catalog.update(prices, version=self.router.catalog.version + "+gateway")
        self.ledger = ledger or Ledger.open(config.ledger_url)
        self.tenants = TenantBook(config.tenants, spend_since=self.ledger.spend_since)
        self.metrics = GatewayMetrics()
        self.served: dict[str, _Served] = {}
        self.by_router_model: dict[str, _Served] = {}
        for u in config.upstreams:
            for name, router_model in u.models.items():
                served = _Served(name, self.router.catalog.current.resolve(router_model), u.name)
                self.served[name] = served
                self.by_router_model[served.router_model] = served
        self.upstreams: dict[str, Upstream] = build_upstreams(
            config, self.router.mark_down, self.router.mark_up
        )
        # Self-hosted capacity: slots are claimed here when the router picks a
        # local model and freed when its answer ends, so a request never holds
        # capacity until (optional) feedback arrives.
        local = [
            (s.router_model, self.upstreams[s.upstream].config)
            for s in self.served.values()
            if self.upstreams[s.upstream].config.self_hosted
        ]
        self.capacity = (
            CapacityTracker(
                [m for m, _ in local],
                capacities={
                    m: ModelCapacity(max_concurrent_requests=u.max_concurrent_requests)
                    for m, u in local
                    if u.max_concurrent_requests is not None
                },
            )
            if local
            else None
        )
        self.cache = (
            SemanticCache(config=CacheConfig(max_entries=config.cache_max_entries))
            if config.cache
            else None
        )
        if config.corrections_path is not None and self.router.corrections is None:
            # Loaded before any traffic: a damaged file stops the start (nothing is
            # overwritten); a missing one starts empty and is written on the first save.
            self.router.corrections = Corrections.load(config.corrections_path)
        self._save_lock = threading.Lock()
        self._last_save = -math.inf
        self._corrections_version = -1
        self.shadow = shadow
        self.monitor = monitor if shadow is None else None
        if self.monitor is None and shadow is None:
            self.monitor = self._default_monitor()
        if self.monitor is not None:
            self.shadow = self._check_with_monitor
            # One set of corrections: the monitor's re-scoring reaches the next decisions.
            self.monitor.attach(self.router)
        self._rng = rng or random.Random()
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._feedback: OrderedDict[str, _Feedback] = OrderedDict()
        self._feedback_size = 100_000
        self.frontier_default = config.frontier_model or max(
            self.by_router_model,
            key=lambda m: self.router.catalog.current.get(m).usd_per_1m_output,
        )

    # -- helpers ----------------------------------------------------------------

    def cost_usd(self, router_model: str, input_tokens: int, output_tokens: int) -> float:
        """Actual cost at the live catalog's prices (self-hosted: amortised hardware)."""
        spec = self.router.catalog.current.get(router_model)
        return (input_tokens * spec.usd_per_1m_input + output_tokens * spec.usd_per_1m_output) / 1e6

    def _tier(self, upstream: str) -> str:
        return "self-hosted" if self.upstreams[upstream].config.self_hosted else "public"

    def candidates(self, exclude: set[str]) -> list[str]:
        """Router models that can take a request now."""
        capacity = self.capacity
        free = capacity.available() if capacity is not None else None
        out = []
        for model, served in self.by_router_model.items():
            upstream = self.upstreams[served.upstream]
            # allow() also moves an open breaker to half-open once its reset time passed.
            if model in exclude or not upstream.enabled or not upstream.breaker.allow():
                continue
            if (
                capacity is not None
                and free is not None
                and model in capacity.models
                and not free[capacity.index(model)]
            ):
                continue  # every slot taken: spill over to the next-best model
            out.append(model)
        return out

    def _policy(self, requested: str) -> dict[str, float] | None:
        if requested == ROUTER_MODEL:
            return dict(self.config.policy)
        if requested.startswith(ROUTER_MODEL + ":"):
            preset = requested[len(ROUTER_MODEL) + 1 :]
            if preset not in self.config.presets:
                raise GatewayError(
                    404,
                    f"unknown routing preset {preset!r}; this gateway has "
                    f"{sorted(self.config.presets)} (use model 'router' for the default policy)",
                    code="model_not_found",
                    param="model",
                )
            return dict(self.config.presets[preset])
        return None

    async def route(
        self, prompt: str, requested: str, tenant: str, exclude: set[str]
    ) -> RouteDecision:
        """Chooses a router model, claiming a self-hosted slot when it picks one."""
        policy = self._policy(requested)
        if policy is None:
            served = self.served.get(requested)
            if served is None:
                raise GatewayError(
                    404,
                    f"the model {requested!r} does not exist on this gateway; use 'router', "
                    f"'router:<preset>' or one of {sorted(self.served)}",
                    code="model_not_found",
                    param="model",
                )
            upstream = self.upstreams[served.upstream]
            if not upstream.enabled:
                raise GatewayError(
                    503,
                    f"the model {requested!r} is served by {upstream.name!r}, whose API key "
                    f"(${upstream.config.api_key_env}) is not set on the gateway",
                    type="server_error",
                    code="upstream_disabled",
                )
            upstream.breaker.allow()  # half-open after the reset time: marks the model up
        for _ in range(len(self.by_router_model) + 1):
            if policy is None:
                candidates = [self.served[requested].router_model]
                candidates = [c for c in candidates if c not in exclude]
            else:
                candidates = self.candidates(exclude)
            if not candidates:
                raise GatewayError(
                    503,
                    "no upstream can take this request now: every candidate model failed, is "
                    "down (circuit open), saturated, or its API key is not set"
                    + (f" (tried {sorted(exclude)})" if exclude else ""),
                    type="server_error",
                    code="no_upstream_available",
                )
            decide = functools.partial(
                self.router.route,
                prompt,
                tenant=tenant,
                candidates=candidates,
                min_quality=(policy or {}).get("min_quality"),
                max_cost_usd=(policy or {}).get("max_cost_usd"),
                cost_weight=(policy or {}).get("cost_weight"),
                quality_fraction=(policy or {}).get("quality_fraction"),
            )
            try:
                if len(prompt) <= INLINE_DECISION_MAX_CHARS:
                    decision = decide()
                else:
                    decision = await anyio.to_thread.run_sync(decide)
            except NoModelAvailableError as error:
                raise GatewayError(
                    503, str(error), type="server_error", code="no_upstream_available"
                ) from None
            capacity = self.capacity
            if capacity is None or decision.model not in capacity.models:
                return decision
            if capacity.try_acquire(decision.model, 1.0):
                return decision
            exclude = exclude | {decision.model}  # lost the last slot: spill over
        raise GatewayError(503, "no capacity", type="server_error", code="no_upstream_available")

    def release(self, router_model: str) -> None:
        if self.capacity is not None and router_model in self.capacity.models:
            self.capacity.release(router_model)

    # -- upstream calls ----------------------------------------------------------

    async def _send(
        self, upstream: Upstream, body: dict[str, Any], *, stream: bool
    ) -> UpstreamResponse:
        """One request with retries and exponential backoff on 429/5xx/network errors."""
        attempts = self.config.retries + 1
        last: UpstreamError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                response = await upstream.client.post(
                    "/chat/completions", body, headers=upstream.headers(), stream=stream
                )
            except TransportError as error:
                last = UpstreamError(upstream.name, None, f"{type(error).__name__}: {error}")
                self.metrics.upstream_errors.labels(upstream.name, "network").inc()
                continue
            if response.status_code < 400:
                return response
            try:
                text = (await response.aread()).decode(errors="replace")[:500]
            except TransportError as error:
                text = f"(the error body could not be read: {error})"
            await response.aclose()
            last = UpstreamError(upstream.name, response.status_code, text)
            self.metrics.upstream_errors.labels(upstream.name, str(response.status_code)).inc()
            if response.status_code in _PASS_STATUS:
                raise last
            if response.status_code not in (408, 409, 429) and response.status_code < 500:
                break  # 401/403 from the provider: our key is wrong, retrying will not help
        assert last is not None
        raise last

    # -- the request ---------------------------------------------------------------

    async def chat(self, body: dict[str, Any], api_key: str | None) -> Response:
        started = time.perf_counter()
        arrived = time.time()
        request_id = "chatcmpl-" + uuid.uuid4().hex
        tenant_cfg = self.tenants.authenticate(api_key)
        if tenant_cfg is None:
            self.metrics.requests.labels("", "", "401").inc()
            raise GatewayError(
                401,
                "Incorrect API key provided. Pass a key the gateway's config lists for a tenant "
                "(Authorization: Bearer KEY).",
                code="invalid_api_key",
            )
        tenant = tenant_cfg.name
        messages = body.get("messages")
        requested = body.get("model")
        if not isinstance(requested, str) or not requested:
            raise GatewayError(400, "the request needs a model ('router' to route)", param="model")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and "role" in m for m in messages)
        ):
            raise GatewayError(
                400,
                "messages must be a non-empty list of {role, content} objects",
                param="messages",
            )
        if tenant_cfg.allowed_models is not None and requested not in tenant_cfg.allowed_models:
            self.metrics.requests.labels(tenant, requested, "403").inc()
            raise GatewayError(
                403,
                f"tenant {tenant!r} may not use model {requested!r}; it may use "
                f"{list(tenant_cfg.allowed_models)}",
                type="permission_error",
                code="model_not_allowed",
                param="model",
            )
        if not self.tenants.allow_request(tenant):
            self.metrics.requests.labels(tenant, requested, "429").inc()
            raise GatewayError(
                429,
                f"rate limit reached for tenant {tenant!r} "
                f"({tenant_cfg.requests_per_minute:g} requests per minute); retry shortly",
                type="requests",
                code="rate_limit_exceeded",
                headers={"retry-after": "1"},
            )
        stream = bool(body.get("stream"))
        system, prompt = _render(messages)
        params = {k: body[k] for k in _PARAMS if k in body}
        ctx = _Request(
            request_id,
            tenant,
            requested,
            stream,
            arrived,
            started,
            body,
            messages,
            system,
            prompt,
            params,
            tenant_cfg.frontier_model or self.frontier_default,
        )
        if self.cache is not None:
            hit = self.cache.lookup(
                prompt, tenant=tenant, model=requested, system_prompt=system, params=params
            )
            if hit is not None:
                return self._cached(ctx, hit.response)
        return await self._routed(ctx)

    def _cached(self, ctx: _Request, answer: str) -> Response:
        self.metrics.cache_hits.labels(ctx.tenant).inc()
        headers = {
            HEADER + "model": "cache",
            HEADER + "tier": "cache",
            HEADER + "expected-cost-usd": "0",
            HEADER + "actual-cost-usd": "0",
        }
        self._account(
            ctx, None, "cache", "cache", "cache", 0, _estimate_tokens(answer), 0.0, 0.0, 200, True
        )
        if ctx.stream:
            chunks = _replay_chunks(ctx.request_id, "cache", answer)
            return StreamingResponse(
                _aiter(chunks), media_type="text/event-stream", headers=headers
            )
        return JSONResponse(
            _completion(ctx.request_id, "cache", answer, 0, 0, {"cached": True}), headers=headers
        )

    async def _routed(self, ctx: _Request) -> Response:
        exclude: set[str] = set()
        reservation: Reservation | None = None
        last_error: UpstreamError | None = None
        first_decision: RouteDecision | None = None
        while True:
            try:
                decision = await self.route(ctx.prompt, ctx.requested, ctx.tenant, exclude)
            except GatewayError as error:
                if reservation is not None:
                    self.tenants.settle(reservation, 0.0)
                if last_error is not None and error.code == "no_upstream_available":
                    error = GatewayError(
                        502,
                        f"every upstream failed before answering; last: {last_error}",
                        type="server_error",
                        code="upstream_error",
                    )
                self._account(ctx, first_decision, "", "", "", 0, 0, 0.0, 0.0, error.status, False)
                raise error
            if first_decision is None:
                first_decision = decision
            if reservation is None:
                reservation = self.tenants.reserve(ctx.tenant, decision.expected_cost_usd)
                if reservation.reason is not None:
                    self.release(decision.model)
                    self._account(ctx, decision, "", "", "", 0, 0, 0.0, 0.0, 429, False)
                    raise GatewayError(
                        429,
                        f"tenant {ctx.tenant!r} has reached its {reservation.reason} "
                        f"({reservation.spent_usd:.6f} of {reservation.limit_usd:g} USD spent "
                        "or reserved); raise the budget in the gateway config or wait for it "
                        "to reset",
                        type="insufficient_quota",
                        code="insufficient_quota",
                    )
            served = self.by_router_model[decision.model]
            upstream = self.upstreams[served.upstream]
            if not upstream.breaker.allow():
                self.release(decision.model)
                exclude.add(decision.model)
                continue
            body = dict(ctx.body)
            body["model"] = served.name
            if ctx.stream:
                body["stream_options"] = {"include_usage": True}
            data: dict[str, Any] = {}
            try:
                response = await self._send(upstream, body, stream=ctx.stream)
                if ctx.stream:
                    events = _sse_events(response)
                    try:
                        first = await _first_event(events, upstream.name)
                    except UpstreamError:
                        await response.aclose()
                        raise
                else:
                    data = _parse_completion(response, upstream.name)
            except UpstreamError as error:
                self.release(decision.model)
                if error.caller_fault:
                    self.tenants.settle(reservation, 0.0)
                    self._account(
                        ctx,
                        decision,
                        served.name,
                        served.router_model,
                        upstream.name,
                        0,
                        0,
                        0.0,
                        0.0,
                        error.status or 400,
                        False,
                    )
                    raise _passed_on(error) from None
                upstream.breaker.failure()
                last_error = error
                exclude.add(decision.model)
                # Nothing reached the caller yet: fall back down the ranking (a
                # pass-through request has one candidate, so it ends in a 502).
                log.warning("upstream %s failed (%s); falling back", upstream.name, error)
                continue
            if ctx.stream:
                return self._stream(
                    ctx, decision, served, upstream, reservation, response, events, first
                )
            self.release(decision.model)
            upstream.breaker.success()
            return self._finish_plain(ctx, decision, served, reservation, data)

    def _finish_plain(
        self,
        ctx: _Request,
        decision: RouteDecision,
        served: _Served,
        reservation: Reservation,
        data: dict[str, Any],
    ) -> Response:
        answer = _answer(data)
        finish = (data.get("choices") or [{}])[0].get("finish_reason")
        actual = self._settle(
            ctx,
            decision,
            served,
            reservation,
            data.get("usage") or {},
            answer,
            200,
            cache_it=finish in ("stop", "length", None),
        )
        meta = self._meta(decision, served, actual)
        data["learned_router"] = meta
        return JSONResponse(data, headers=self._headers(meta))

    def _meta(
        self, decision: RouteDecision, served: _Served, actual: float | None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "model": served.name,
            "router_model": served.router_model,
            "decision_id": decision.decision_id,
            "tier": self._tier(served.upstream),
            "expected_cost_usd": decision.expected_cost_usd,
        }
        if actual is not None:
            meta["actual_cost_usd"] = actual
        return meta

    @staticmethod
    def _headers(meta: Mapping[str, Any]) -> dict[str, str]:
        return {HEADER + k.replace("_", "-"): str(v) for k, v in meta.items()}

    def _stream(
        self,
        ctx: _Request,
        decision: RouteDecision,
        served: _Served,
        upstream: Upstream,
        reservation: Reservation,
        response: UpstreamResponse,
        events: AsyncIterator[str],
        first: str | None,
    ) -> Response:
        meta = self._meta(decision, served, None)
        wants_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))

        async def relay() -> AsyncIterator[bytes]:
            parts: list[str] = []
            usage: dict[str, Any] = {}
            completed = False
            failed: str | None = None
            closed = accounted = False

            async def close() -> None:
                nonlocal closed
                if not closed:
                    closed = True
                    await response.aclose()
                    self.release(decision.model)

            def account(status: int) -> None:
                # Settles the budget and writes the ledger row exactly once,
                # before the last event (so a caller that saw [DONE] sees the
                # row), or when the caller went away mid-stream (499: what was
                # generated is still paid for).
                nonlocal accounted
                if accounted:
                    return
                accounted = True
                # Streamed answers are cached once complete, replayed as streams.
                self._settle(
                    ctx, decision, served, reservation, usage, "".join(parts), status, cache_it=True
                )

            try:
                try:
                    pending = [first] if first is not None else []
                    async for payload in _chain(pending, events):
                        if payload == "[DONE]":
                            completed = True
                            break
                        chunk = json.loads(payload)
                        if "error" in chunk:
                            failed = str(chunk["error"])
                            break
                        for choice in chunk.get("choices") or []:
                            parts.append((choice.get("delta") or {}).get("content") or "")
                        if chunk.get("usage"):
                            usage = chunk["usage"]
                            if not chunk.get("choices"):
                                if not wants_usage:
                                    continue  # we asked for usage; the caller did not
                                chunk["learned_router"] = {
                                    **meta,
                                    "actual_cost_usd": self.cost_usd(
                                        served.router_model,
                                        int(usage.get("prompt_tokens") or 0),
                                        int(usage.get("completion_tokens") or 0),
                                    ),
                                }
                                payload = json.dumps(chunk)
                        yield b"data: " + payload.encode() + b"\n\n"
                    if not completed and failed is None:
                        failed = "the upstream closed the stream before it finished"
                except (TransportError, UpstreamError, ValueError) as error:
                    failed = f"{type(error).__name__}: {error}"
                await close()
                if failed is not None:
                    # After the first byte there is no silent switch to another
                    # model: the caller gets an error event (the openai client
                    # raises APIError on it).
                    upstream.breaker.failure()
                    self.metrics.upstream_errors.labels(upstream.name, "mid-stream").inc()
                    account(502)
                    error_event = GatewayError(
                        502,
                        f"the upstream {upstream.name!r} failed mid-stream after partial "
                        f"output: {failed}; the answer is incomplete, retry the request",
                        type="server_error",
                        code="upstream_stream_error",
                    )
                    yield b"data: " + json.dumps(error_event.body()).encode() + b"\n\n"
                else:
                    upstream.breaker.success()
                    account(200)
                    yield b"data: [DONE]\n\n"
            finally:
                await close()
                account(499)

        return StreamingResponse(
            relay(), media_type="text/event-stream", headers=self._headers(meta)
        )

    # -- accounting -----------------------------------------------------------------

    def _settle(
        self,
        ctx: _Request,
        decision: RouteDecision,
        served: _Served,
        reservation: Reservation,
        usage: dict[str, Any],
        answer: str,
        status: int,
        *,
        cache_it: bool,
    ) -> float:
        """After an upstream answer (plain or a finished stream): reconcile the budget on
        the actual cost, write the ledger row and, on success, remember the decision for
        feedback, cache the answer (when ``cache_it``) and run the shadow hook. Returns
        the actual cost."""
        tokens_in = int(usage.get("prompt_tokens") or 0) or decision.input_tokens
        tokens_out = int(usage.get("completion_tokens") or 0) or _estimate_tokens(answer)
        actual = self.cost_usd(served.router_model, tokens_in, tokens_out)
        self.tenants.settle(reservation, actual)
        latency = self._account(
            ctx,
            decision,
            served.name,
            served.router_model,
            served.upstream,
            tokens_in,
            tokens_out,
            decision.expected_cost_usd,
            actual,
            status,
            False,
        )
        if status != 200:
            return actual
        self._remember(decision.decision_id, ctx.tenant, actual, latency, tokens_out, answer)
        if self.cache is not None and answer and cache_it:
            self.cache.store(
                ctx.prompt,
                answer,
                tenant=ctx.tenant,
                model=ctx.requested,
                system_prompt=ctx.system,
                params=ctx.params,
                cost_usd=actual,
            )
        self._maybe_shadow(ctx, decision, served, answer)
        return actual

    def _account(
        self,
        ctx: _Request,
        decision: RouteDecision | None,
        served: str,
        router_model: str,
        upstream: str,
        tokens_in: int,
        tokens_out: int,
        expected: float,
        actual: float,
        status: int,
        cache_hit: bool,
    ) -> float:
        latency_ms = (time.perf_counter() - ctx.started) * 1e3
        tier = "cache" if cache_hit else (self._tier(upstream) if upstream else "")
        if cache_hit:
            tokens_in = decision.input_tokens if decision else _estimate_tokens(ctx.prompt)
        frontier = self.cost_usd(ctx.frontier, tokens_in, tokens_out) if status == 200 else 0.0
        self.ledger.append(
            UsageRow(
                ts=ctx.arrived,
                request_id=ctx.request_id,
                decision_id=decision.decision_id if decision else None,
                tenant=ctx.tenant,
                requested_model=ctx.requested,
                routed_model=served,
                router_model=router_model,
                upstream=upstream,
                tier=tier,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                expected_cost_usd=expected,
                actual_cost_usd=actual,
                frontier_cost_usd=frontier,
                latency_ms=latency_ms,
                cache_hit=cache_hit,
                stream=ctx.stream,
                status=status,
            )
        )
        m = self.metrics
        m.requests.labels(ctx.tenant, served, str(status)).inc()
        if status == 200:
            m.cost.labels(ctx.tenant, served or "none", tier).inc(actual)
            m.frontier_cost.labels(ctx.tenant).inc(frontier)
            m.tokens.labels(ctx.tenant, served, "input").inc(tokens_in)
            m.tokens.labels(ctx.tenant, served, "output").inc(tokens_out)
            m.latency.labels(tier).observe(latency_ms / 1e3)
        return latency_ms

    def _remember(
        self,
        decision_id: str,
        tenant: str,
        cost: float,
        latency: float,
        tokens_out: int,
        answer: str,
    ) -> None:
        self._feedback[decision_id] = _Feedback(tenant, cost, latency, tokens_out, answer)
        while len(self._feedback) > self._feedback_size:
            self._feedback.popitem(last=False)

    def feedback(self, body: dict[str, Any], api_key: str | None) -> dict[str, Any]:
        """``POST /v1/feedback``: a decision's quality (0..1) -> the router's outcome store."""
        tenant = self.tenants.authenticate(api_key)
        if tenant is None:
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
        decision_id = body.get("decision_id")
        quality = body.get("quality")
        if not isinstance(decision_id, str) or not decision_id:
            raise GatewayError(
                400,
                "feedback needs a decision_id (the response's x-learned-router-decision-id)",
                param="decision_id",
            )
        if (
            isinstance(quality, bool)
            or not isinstance(quality, (int, float))
            or not (0.0 <= quality <= 1.0)
        ):
            raise GatewayError(
                400, f"quality must be a number in [0, 1], got {quality!r}", param="quality"
            )
        known = self._feedback.get(decision_id)
        if known is None or known.tenant != tenant.name:
            raise GatewayError(
                404,
                f"unknown decision id {decision_id!r}: not made for this tenant, already "
                f"recorded, or older than the last {self._feedback_size} answers",
                code="decision_not_found",
                param="decision_id",
            )
        record_id = self.router.record_outcome(
            decision_id,
            quality=float(quality),
            cost_usd=known.cost_usd,
            latency_ms=known.latency_ms,
            output_tokens=known.output_tokens,
            response=known.response,
        )
        self._feedback.pop(decision_id, None)
        self.metrics.feedback.labels(tenant.name).inc()
        self._save_quietly()
        return {"decision_id": decision_id, "recorded": True, "outcome_id": record_id}

    # -- shadow -------------------------------------------------------------------------

    def _default_monitor(self) -> DriftMonitor | None:
        """The learning loop's monitor when ``shadow_model`` and ``shadow_rate`` are set:
        deterministic per-request sampling capped by ``shadow_budget_usd``, agreement of
        the two answers fed to the drift detectors, shadow labels to the outcome store."""
        golden = self.config.shadow_model
        shadowing = golden is not None and golden in self.served and self.config.shadow_rate > 0
        if not shadowing and not self.config.adapt:
            return None
        budget = self.config.shadow_budget_usd
        store = getattr(self.router, "outcome_store", None)
        sampler = None
        if shadowing:
            assert golden is not None
            sampler = ShadowSampler(
                golden_model=self.served[golden].router_model,
                rate=self.config.shadow_rate,
                budget_usd=None if math.isinf(budget) else budget,
                warmup_rate=self.config.shadow_warmup_rate,
                warmup_checks=self.config.shadow_warmup_checks,
                warmup_min_share=self.config.shadow_warmup_min_share,
            )
        return DriftMonitor(
            sampler=sampler,
            sinks=(log_sink, self._count_alert),
            adapt=self.config.adapt,
            shadow_store=store,
            inputs=self._input_watch(),
            probe_rate=self.config.shadow_probe_rate if shadowing else 0.0,
        )

    def save_learning_state(self, *, force: bool = False) -> bool:
        """Writes the router's corrections to ``corrections_path`` (when they changed)
        and the monitor's state to ``drift_state_path`` (for ``learned-router drift
        status``), at most every ``corrections_save_s`` seconds unless ``force``
        (shutdown). Returns whether it wrote anything. Thread-safe: a save already
        running elsewhere makes a non-forced call return at once."""
        if not self._save_lock.acquire(blocking=force):
            return False
        try:
            now = time.monotonic()
            if not force and now - self._last_save < self.config.corrections_save_s:
                return False
            wrote = False
            corrections = self.router.corrections
            if (
                corrections is not None
                and corrections.path is not None
                and corrections.version != self._corrections_version
            ):
                version = corrections.version
                corrections.save()
                self._corrections_version = version
                wrote = True
            if self.config.drift_state_path is not None and self.monitor is not None:
                self.monitor.save_state(self.config.drift_state_path)
                wrote = True
            self._last_save = now
            return wrote
        finally:
            self._save_lock.release()

    def _save_quietly(self, *, force: bool = False) -> None:
        try:
            self.save_learning_state(force=force)
        except OSError as error:  # what it would save is in memory; the next save retries
            log.warning("learning state not saved: %s", error)

    def _input_watch(self) -> InputDriftWatch | None:
        """Input drift against the bundle's reference, where the bundle has one."""
        try:
            reference = InputReference.from_quality_model(self.router.quality)
        except InvalidInputError:
            log.info("the bundle has no input-drift reference: input drift is not watched")
            return None
        return InputDriftWatch(reference)

    def _count_alert(self, alert: DriftAlert) -> None:
        counter = self.metrics.drift_recoveries if alert.recovery else self.metrics.drift_alerts
        counter.labels(alert.model).inc()

    def _check_with_monitor(self, sample: ShadowSample) -> None:
        """The default shadow hook: the monitor scores the two answers' agreement."""
        assert self.monitor is not None
        prompt = "\n".join(
            str(m.get("content", "")) for m in sample.messages if m.get("role") == "user"
        )
        self.monitor.submit_shadow(
            sample.request_id,
            self.served[sample.routed_model].router_model,
            sample.routed_answer,
            sample.golden_answer,
            prompt=prompt,
            tier=sample.tier,
        )
        self._save_quietly()

    def _maybe_shadow(
        self, ctx: _Request, decision: RouteDecision, served: _Served, answer: str
    ) -> None:
        if self.shadow is None:
            return
        self._maybe_probe(ctx, decision)
        golden: str | None
        if self.monitor is not None:
            # Keyed on the request id (a retry makes the same choice), within budget.
            chosen = self.monitor.should_shadow(decision, request_id=ctx.request_id)
            golden = self.by_router_model[chosen].name if chosen in self.by_router_model else None
        else:
            golden = self.config.shadow_model
            if self._rng.random() >= self.config.shadow_rate:
                return
        if golden is None or golden not in self.served or golden == served.name:
            return
        task = asyncio.get_running_loop().create_task(
            self._run_shadow(ctx, decision, served, answer, golden)
        )
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    def _maybe_probe(self, ctx: _Request, decision: RouteDecision) -> None:
        """On the monitor's probe share, asks a re-scored model too, off the request path,
        and checks its answer against the shadow model's (how a provider's fix shows).
        Charged to the shadow budget; never the shadow model itself (it would be compared
        with its own answer)."""
        monitor = self.monitor
        if monitor is None or monitor.sampler is None:
            return
        probe = monitor.should_probe(decision, request_id=ctx.request_id)
        golden = self.config.shadow_model
        if probe is None or probe not in self.by_router_model or golden not in self.served:
            return
        served = self.by_router_model[probe]
        if served.name == golden:
            return
        asked = {probe, self.served[golden].router_model}
        cost = sum(c.expected_cost_usd for c in decision.candidates if c.model in asked)
        if not monitor.sampler.charge(cost):
            return
        task = asyncio.get_running_loop().create_task(
            self._run_probe(ctx, decision, served, golden)
        )
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _run_probe(
        self, ctx: _Request, decision: RouteDecision, served: _Served, golden: str
    ) -> None:
        """Off the request path: asks the probed model, then checks it like a shadow sample."""
        try:
            answer = await self._ask_aside(ctx, served.name)
        except Exception:
            self.metrics.shadow.labels("error").inc()
            log.exception("recovery probe of %s for %s failed", served.name, ctx.request_id)
            return
        await self._run_shadow(ctx, decision, served, answer, golden)

    async def _ask_aside(self, ctx: _Request, name: str) -> str:
        """The answer of served model ``name`` to the request's messages, not streamed:
        a shadow or probe call, off the request path."""
        upstream = self.upstreams[self.served[name].upstream]
        body = {k: v for k, v in ctx.body.items() if k not in ("stream", "stream_options")}
        body["model"] = name
        response = await self._send(upstream, body, stream=False)
        return _answer(response.json())

    async def _run_shadow(
        self, ctx: _Request, decision: RouteDecision, served: _Served, answer: str, golden: str
    ) -> None:
        """Off the request path: asks the golden model, hands both answers to the hook."""
        try:
            golden_answer = await self._ask_aside(ctx, golden)
            sample = ShadowSample(
                ctx.request_id,
                decision.decision_id,
                ctx.tenant,
                ctx.messages,
                served.name,
                answer,
                golden,
                golden_answer,
                tier=decision.tier,
            )
            hook = self.shadow
            assert hook is not None
            await anyio.to_thread.run_sync(lambda: hook(sample))
            self.metrics.shadow.labels("ok").inc()
        except Exception:
            self.metrics.shadow.labels("error").inc()
            log.exception("shadow sample for %s failed", ctx.request_id)

    async def drain_shadow(self) -> None:
        """Waits for shadow samples in flight (tests, shutdown)."""
        while self._shadow_tasks:
            await asyncio.gather(*list(self._shadow_tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain_shadow()
        if self.monitor is not None:
            await anyio.to_thread.run_sync(self.monitor.close)
        # Never raises: a full disk must not keep the ledger from closing.
        await anyio.to_thread.run_sync(functools.partial(self._save_quietly, force=True))
        for upstream in self.upstreams.values():
            await upstream.client.aclose()
        self.ledger.close()


@dataclass
class _Request:
    request_id: str
    tenant: str
    requested: str
    stream: bool
    arrived: float
    started: float
    body: dict[str, Any]
    messages: list[dict[str, Any]]
    system: str | None
    prompt: str
    params: dict[str, Any]
    frontier: str


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _render(messages: list[dict[str, Any]]) -> tuple[str | None, str]:
    """(system prompt, the conversation the router and the cache key see)."""
    system = "\n".join(_content(m) for m in messages if m.get("role") in ("system", "developer"))
    turns = [m for m in messages if m.get("role") not in ("system", "developer")]
    if len(turns) == 1:
        prompt = _content(turns[0])
    else:
        prompt = "\n".join(f"{m.get('role')}: {_content(m)}" for m in turns)
    if not prompt.strip():
        raise GatewayError(400, "the messages hold no text to answer", param="messages")
    return system or None, prompt


def _answer(data: Mapping[str, Any]) -> str:
    choices = data.get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")


def _parse_completion(response: UpstreamResponse, upstream: str) -> dict[str, Any]:
    """A non-streamed completion, or an UpstreamError (so the caller falls back)."""
    try:
        data = response.json()
    except ValueError:
        raise UpstreamError(upstream, response.status_code, "the answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise UpstreamError(upstream, response.status_code, "the answer has no choices")
    return data


def _estimate_tokens(text: str) -> int:
    """~4 characters per token (OpenAI's rule of thumb) when the upstream reports no usage."""
    return max(1, len(text) // 4) if text else 0


def _passed_on(error: UpstreamError) -> GatewayError:
    try:
        inner = json.loads(error.message).get("error") or {}
    except (ValueError, AttributeError):
        inner = {}
    return GatewayError(
        error.status or 400,
        str(inner.get("message") or error.message),
        code=inner.get("code"),
        param=inner.get("param"),
    )


def _completion(
    request_id: str,
    model: str,
    answer: str,
    tokens_in: int,
    tokens_out: int,
    meta: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
        "learned_router": meta,
    }


def _replay_chunks(request_id: str, model: str, answer: str, piece: int = 64) -> list[bytes]:
    """A cached answer as an SSE stream: role, content in pieces, stop, [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        body = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""}, None)]
    out += [chunk({"content": answer[i : i + piece]}, None) for i in range(0, len(answer), piece)]
    out += [chunk({}, "stop"), b"data: [DONE]\n\n"]
    return out


async def _aiter(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def _sse_events(response: UpstreamResponse) -> AsyncIterator[str]:
    """The ``data:`` payloads of an SSE response (comments and other fields skipped).

    Hand-written rather than a library (httpx-sse, aiohttp-sse-client): chat-completion streams use
    only ``data:`` lines, and this is the hot path of every streamed token.
    """
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            yield "\n".join(data)
            data = []
    if data:
        yield "\n".join(data)


async def _first_event(events: AsyncIterator[str], upstream: str) -> str | None:
    """The first event, read before the caller sees a byte: an error here can still fall back."""
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        raise UpstreamError(upstream, None, "the stream ended before its first event") from None
    except TransportError as error:
        raise UpstreamError(upstream, None, str(error)) from None
    if first != "[DONE]":
        try:
            parsed = json.loads(first)
        except ValueError:
            raise UpstreamError(upstream, None, f"not JSON: {first[:200]!r}") from None
        if isinstance(parsed, dict) and "error" in parsed:
            raise UpstreamError(upstream, None, f"error event: {parsed['error']}")
    return first


async def _chain(first: list[str], rest: AsyncIterator[str]) -> AsyncIterator[str]:
    for item in first:
        yield item
    async for item in rest:
        yield item


def create_app(gateway: Gateway, *, local_servers: list[Any] | None = None) -> FastAPI:
    """The ASGI app around ``gateway`` (serve it with uvicorn)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()
            for server in local_servers or []:
                server.stop()

    app = FastAPI(
        title="learned-router gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        body = GatewayError(
            500, f"internal gateway error: {type(error).__name__}: {error}", type="server_error"
        ).body()
        return JSONResponse(body, status_code=500)

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError as error:
            raise GatewayError(400, f"the request body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object")
        return body

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await gateway.chat(await json_body(request), _bearer(request))

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> JSONResponse:
        body = await json_body(request)
        return JSONResponse(
            await anyio.to_thread.run_sync(lambda: gateway.feedback(body, _bearer(request)))
        )

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        if gateway.tenants.authenticate(_bearer(request)) is None:
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
        names = [ROUTER_MODEL] + [f"{ROUTER_MODEL}:{p}" for p in gateway.config.presets]
        names += [n for n, s in gateway.served.items() if gateway.upstreams[s.upstream].enabled]
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 0, "owned_by": "learned-router"}
                    for n in names
                ],
            }
        )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "upstreams": {
                    name: {"enabled": u.enabled, "breaker": u.breaker.state}
                    for name, u in gateway.upstreams.items()
                },
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = gateway.metrics.render(gateway)
        return Response(body, media_type=content_type)

    return app


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("api-key")
