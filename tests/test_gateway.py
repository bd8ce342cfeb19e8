"""The gateway over real HTTP on loopback, driven by the official ``openai`` client.

Upstreams are a stub OpenAI server (benchmarks/gateway_stub.py) started by the
tests; the router is the tiny test bundle (models small, mid, frontier and the
self-hosted ours-8b), so nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from benchmarks.gateway_stub import ServerThread, StubUpstream
from typer.testing import CliRunner

from learned_router import Router
from learned_router.cli import app as cli_app
from learned_router.drift import Corrections, CorrectionsFileError
from learned_router.gateway.app import INLINE_DECISION_MAX_CHARS, ShadowSample
from learned_router.gateway.config import GatewayConfig, GatewayConfigError, hash_api_key
from learned_router.gateway.ledger import Ledger
from learned_router.gateway.server import build
from learned_router.outcomes import OutcomeStore

KEY = "sk-test-acme"
SERVED = {"small-chat": "small", "mid-chat": "mid", "frontier-chat": "frontier"}


def config_dict(stub_url: str, tmp: Path, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "router": {
            "policy": {"min_quality": 0.8},
            "presets": {"best": {"min_quality": 0.9999}, "cheap": {"quality_fraction": 0.5}},
            "frontier_model": "frontier",
            "outcome_store": str(tmp / "outcomes.sqlite"),
        },
        "gateway": {
            "retries": 1,
            "backoff_s": 0.0,
            "breaker_failures": 3,
            "breaker_reset_s": 3600.0,
        },
        "ledger": {"url": f"sqlite:///{tmp / 'ledger.sqlite'}"},
        "upstream": [
            {"name": "public", "base_url": f"{stub_url}/v1", "models": SERVED},
            {
                "name": "local",
                "base_url": f"{stub_url}/v1",
                "self_hosted": True,
                "max_concurrent_requests": 1,
                "models": {"ours": "ours-8b"},
            },
        ],
        "tenant": [
            {"name": "acme", "api_key_sha256": hash_api_key(KEY), "usd_per_day": 100.0},
            {"name": "limited", "api_key": "sk-limited", "requests_per_minute": 2},
            {"name": "poor", "api_key": "sk-poor", "usd_per_day": 1e-12},
            {"name": "narrow", "api_key": "sk-narrow", "allowed_models": ["router"]},
        ],
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


_CLIENTS: list[openai.OpenAI] = []
"""Clients made during the running test; closed after it (their keep-alive sockets
would otherwise be left to the garbage collector, whose ResourceWarning then fails
whichever later test it happens in)."""


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


class Running:
    """A gateway on loopback with its stub upstream, and clients for it."""

    def __init__(self, stub: StubUpstream, gateway: Any, server: ServerThread) -> None:
        self.stub = stub
        self.gateway = gateway
        self.server = server
        self.url = server.url

    def client(self, key: str = KEY) -> openai.OpenAI:
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)
        _CLIENTS.append(client)
        return client

    def rows(self) -> list[Any]:
        self.gateway.ledger.flush()
        return self.gateway.ledger.rows_since(0.0)


@pytest.fixture
def stub() -> Iterator[tuple[StubUpstream, ServerThread]]:
    upstream = StubUpstream()
    with ServerThread(upstream) as server:
        yield upstream, server


def start(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp: Path, **overrides: Any
) -> tuple[ServerThread, Any]:
    raw = config_dict(stub[1].url, tmp, **overrides)
    raw["router"]["bundle"] = str(tiny_bundle)
    app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False)
    return ServerThread(app), gateway


@pytest.fixture
def running(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> Iterator[Running]:
    server, gateway = start(stub, tiny_bundle, tmp_path)
    with server:
        yield Running(stub[0], gateway, server)


def ask(client: openai.OpenAI, text: str, model: str = "router", **kw: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )


# --- routing, pass-through, presets -----------------------------------------------------------


def test_router_model_is_routed_and_the_response_names_model_decision_and_costs(
    running: Running, tiny_bundle: Path
) -> None:
    raw = ask(running.client(), "Summarise this contract clause for me")
    completion = raw.parse()
    routed = raw.headers["x-learned-router-model"]
    assert routed in (*SERVED, "ours")
    assert (
        completion.choices[0].message.content
        == f"{routed} says: Summarise this contract clause for me"
    )
    meta = completion.model_extra["learned_router"]
    assert meta["decision_id"] == raw.headers["x-learned-router-decision-id"]
    assert float(raw.headers["x-learned-router-expected-cost-usd"]) == pytest.approx(
        meta["expected_cost_usd"]
    )
    # Actual cost: the stub's usage at the routed model's catalog price.
    spec = Router.load(tiny_bundle).catalog.current.get(meta["router_model"])
    tokens_in, tokens_out = completion.usage.prompt_tokens, completion.usage.completion_tokens
    assert (tokens_in, tokens_out) == (1 + len("Summarise this contract clause for me") // 4, 8)
    expected = (tokens_in * spec.usd_per_1m_input + tokens_out * spec.usd_per_1m_output) / 1e6
    assert meta["actual_cost_usd"] == pytest.approx(expected)
    # The upstream was asked for the served name, not the router's name.
    assert running.stub.bodies[-1]["model"] == routed


def test_preset_uses_its_policy_like_the_router_would(running: Running, tiny_bundle: Path) -> None:
    prompt = "Draft a contract amendment about liability"
    raw = ask(running.client(), prompt, model="router:best")
    router = Router.load(tiny_bundle, models=["small", "mid", "frontier", "ours-8b"])
    want = router.route(prompt, min_quality=0.9999).model
    assert raw.parse().model_extra["learned_router"]["router_model"] == want


def test_short_prompts_are_routed_on_the_event_loop_long_ones_in_a_thread(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long prompt's decision (tokenising all of it) must not hold up the event
    # loop; a short one's is cheaper there than a hop to a worker thread and back.
    seen: list[tuple[int, threading.Thread]] = []
    route = running.gateway.router.route

    def spy(prompt: str, **kwargs: Any) -> Any:
        seen.append((len(prompt), threading.current_thread()))
        return route(prompt, **kwargs)

    monkeypatch.setattr(running.gateway.router, "route", spy)
    client = running.client()
    short = "a" * INLINE_DECISION_MAX_CHARS
    ask(client, short)
    ask(client, short + "a")
    assert [n for n, _ in seen] == [len(short), len(short) + 1]
    (_, on_short), (_, on_long) = seen
    assert on_short is running.server.thread  # the thread running the event loop
    assert on_long is not running.server.thread


def test_an_explicit_model_passes_through(running: Running) -> None:
    raw = ask(running.client(), "hello there", model="mid-chat")
    assert raw.headers["x-learned-router-model"] == "mid-chat"
    assert running.stub.bodies[-1]["model"] == "mid-chat"
    assert raw.parse().model_extra["learned_router"]["router_model"] == "mid"


@pytest.mark.parametrize("model", ["router:nope", "no-such-model"])
def test_unknown_models_get_404(running: Running, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        ask(running.client(), "hi", model=model)
    assert caught.value.code == "model_not_found"


def test_models_lists_router_presets_and_served_models(running: Running) -> None:
    ids = {m.id for m in running.client().models.list()}
    assert ids == {"router", "router:best", "router:cheap", *SERVED, "ours"}


# --- streaming and the cache ------------------------------------------------------------------


def test_stream_then_cache_replays_it_as_a_stream(running: Running) -> None:
    client = running.client()
    prompt = "Stream me the answer please"

    def stream() -> tuple[str, str, int]:
        with client.chat.completions.with_streaming_response.create(
            model="router", messages=[{"role": "user", "content": prompt}], stream=True
        ) as response:
            model = response.headers["x-learned-router-model"]
            chunks = list(response.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return model, text, len(chunks)

    model, text, n = stream()
    assert text == f"{model} says: {prompt}"
    assert n > 2  # really streamed, in pieces
    calls = sum(running.stub.calls.values())
    cached_model, cached_text, _ = stream()
    assert (cached_model, cached_text) == ("cache", text)
    assert sum(running.stub.calls.values()) == calls  # no upstream call
    # A plain request with the same prompt is the same cache entry.
    assert ask(client, prompt).headers["x-learned-router-model"] == "cache"
    rows = running.rows()
    assert [r.cache_hit for r in rows] == [False, True, True]
    assert [r.stream for r in rows] == [True, True, False]


def test_cache_is_per_tenant(running: Running) -> None:
    ask(running.client(), "What is two plus two?")
    other = ask(running.client("sk-narrow"), "What is two plus two?")
    assert other.headers["x-learned-router-model"] != "cache"


def test_stream_usage_chunk_carries_the_actual_cost_when_asked(running: Running) -> None:
    chunks = list(
        running.client().chat.completions.create(
            model="small-chat",
            messages=[{"role": "user", "content": "count the words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    # "small-chat says: count the words": 5 words, 5 tokens in the stub
    assert last.usage is not None
    assert last.usage.completion_tokens == 5
    assert last.model_extra["learned_router"]["actual_cost_usd"] > 0


# --- resilience --------------------------------------------------------------------------------


def routed_model(running: Running, prompt: str) -> str:
    """The served model the router picks for ``prompt`` (asked with a unique temperature)."""
    return ask(running.client(), prompt, temperature=0.123).headers["x-learned-router-model"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_before_first_byte_falls_back_down_the_ranking(
    running: Running, stream: bool, status: int
) -> None:
    prompt = "Explain this contract clause"
    first = routed_model(running, prompt)
    running.stub.fail[first] = [status] * 10
    before = running.stub.calls[first]
    if stream:
        with running.client().chat.completions.with_streaming_response.create(
            model="router",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
        ) as response:
            model = response.headers["x-learned-router-model"]
            text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    else:
        raw = ask(running.client(), prompt)
        model, text = raw.headers["x-learned-router-model"], raw.parse().choices[0].message.content
    assert model != first
    assert text == f"{model} says: {prompt}"
    assert running.stub.calls[first] - before == 2  # one try + one retry, then fallback
    assert running.rows()[-1].routed_model == model


def test_a_passed_through_model_that_fails_ends_in_an_openai_error(running: Running) -> None:
    running.stub.fail["mid-chat"] = [503] * 10
    with pytest.raises(openai.APIStatusError) as caught:
        ask(running.client(), "hello", model="mid-chat")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_error"
    assert running.rows()[-1].status == 502


def test_after_the_first_byte_a_failure_is_an_error_event_not_a_switch(running: Running) -> None:
    prompt = "Tell me a long story"
    running.stub.midstream["small-chat"] = 1
    received = []
    with pytest.raises(openai.APIError) as caught:  # noqa: PT012 - partial output first
        for chunk in running.client().chat.completions.create(
            model="small-chat", messages=[{"role": "user", "content": prompt}], stream=True
        ):
            received.append(chunk.choices[0].delta.content)
    assert received == ["small-chat"]  # the first word, then the error event
    assert "mid-stream" in str(caught.value)
    assert running.stub.calls["small-chat"] == 1  # no silent retry on another call
    row = running.rows()[-1]
    assert (row.status, row.routed_model) == (502, "small-chat")


def test_circuit_breaker_marks_the_upstream_down_and_the_router_skips_it(
    running: Running,
) -> None:
    for name in SERVED:  # the whole public upstream is failing
        running.stub.fail[name] = [503] * 100
    # The router ranks a public model first for this prompt: each request tries
    # it (2 tries), counts one breaker failure and falls back to the local model.
    prompt = "Review this contract"
    for i in range(3):  # breaker_failures = 3
        raw = ask(running.client(), prompt, temperature=0.1 * i)
        assert raw.headers["x-learned-router-model"] == "ours"
    health = httpx.get(f"{running.url}/healthz").json()
    assert health["upstreams"]["public"]["breaker"] == "open"
    assert health["upstreams"]["local"]["breaker"] == "closed"
    calls = sum(running.stub.calls[name] for name in SERVED)
    assert calls == 6
    raw = ask(running.client(), prompt, temperature=0.9)
    assert raw.headers["x-learned-router-model"] == "ours"
    assert sum(running.stub.calls[name] for name in SERVED) == calls  # skipped, no tries
    metrics = httpx.get(f"{running.url}/metrics").text
    assert 'learned_router_upstream_circuit_open{upstream="public"} 1.0' in metrics


def test_self_hosted_slots_spill_to_public_models(running: Running) -> None:
    gateway = running.gateway
    assert "ours-8b" in gateway.candidates(set())
    assert gateway.capacity.try_acquire("ours-8b", 1.0)  # the only slot is busy
    assert "ours-8b" not in gateway.candidates(set())
    gateway.capacity.release("ours-8b")
    assert "ours-8b" in gateway.candidates(set())


# --- tenants ------------------------------------------------------------------------------------


def test_a_bad_key_gets_401(running: Running) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(running.client("sk-wrong"), "hi")
    assert caught.value.code == "invalid_api_key"
    response = httpx.post(f"{running.url}/v1/chat/completions", json={"model": "router"})
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_model_the_tenant_may_not_use_gets_403(running: Running) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        ask(running.client("sk-narrow"), "hi", model="frontier-chat")
    assert ask(running.client("sk-narrow"), "hi").http_response.status_code == 200


def test_rate_limit_gets_429(running: Running) -> None:
    client = running.client("sk-limited")
    ask(client, "one")
    ask(client, "two")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, "three")
    assert caught.value.code == "rate_limit_exceeded"


def test_budget_is_checked_before_the_call(running: Running) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        ask(running.client("sk-poor"), "hi")
    assert caught.value.code == "insufficient_quota"
    assert sum(running.stub.calls.values()) == 0  # refused before any upstream call
    assert running.rows()[-1].status == 429


def test_budget_is_reconciled_on_actual_cost_and_survives_a_restart(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    server, gateway = start(stub, tiny_bundle, tmp_path)
    with server:
        running = Running(stub[0], gateway, server)
        for i in range(3):
            ask(running.client(), f"question number {i}")
        actual = sum(r.actual_cost_usd for r in running.rows())
        assert actual > 0
        assert gateway.tenants.spent_today("acme") == pytest.approx(actual)
    # A new gateway on the same ledger starts from the day's spend.
    server2, gateway2 = start(stub, tiny_bundle, tmp_path)
    with server2:
        assert gateway2.tenants.spent_today("acme") == pytest.approx(actual)


# --- ledger, metrics, feedback, shadow ----------------------------------------------------------


def test_ledger_rows_account_every_request(running: Running, tiny_bundle: Path) -> None:
    ask(running.client(), "hi", model="small-chat")
    ask(running.client(), "hi there", model="frontier-chat")
    rows = running.rows()
    catalog = Router.load(tiny_bundle).catalog.current
    for row, model in zip(rows, ["small", "frontier"], strict=True):
        assert (row.tenant, row.router_model, row.tier, row.status) == (
            "acme",
            model,
            "public",
            200,
        )
        spec, top = catalog.get(model), catalog.get("frontier")
        assert row.actual_cost_usd == pytest.approx(
            (row.input_tokens * spec.usd_per_1m_input + row.output_tokens * spec.usd_per_1m_output)
            / 1e6
        )
        assert row.frontier_cost_usd == pytest.approx(
            (row.input_tokens * top.usd_per_1m_input + row.output_tokens * top.usd_per_1m_output)
            / 1e6
        )
        assert row.latency_ms > 0
    assert rows[1].actual_cost_usd == pytest.approx(rows[1].frontier_cost_usd)


def test_metrics_are_prometheus_text(running: Running) -> None:
    ask(running.client(), "hi", model="small-chat")
    response = httpx.get(f"{running.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'learned_router_requests_total{model="small-chat",status="200",tenant="acme"} 1.0' in text
    )
    assert 'learned_router_cost_usd_total{model="small-chat",tenant="acme",tier="public"}' in text
    assert "learned_router_request_seconds_bucket" in text


def test_feedback_goes_to_the_outcome_store(running: Running, tmp_path: Path) -> None:
    raw = ask(running.client(), "hi", model="mid-chat")
    decision = raw.headers["x-learned-router-decision-id"]
    url = f"{running.url}/v1/feedback"
    auth = {"authorization": f"Bearer {KEY}"}
    # Another tenant cannot rate this decision.
    other = httpx.post(
        url,
        json={"decision_id": decision, "quality": 1.0},
        headers={"authorization": "Bearer sk-narrow"},
    )
    assert other.status_code == 404
    bad = httpx.post(url, json={"decision_id": decision, "quality": 7}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "quality"
    ok = httpx.post(url, json={"decision_id": decision, "quality": 0.75}, headers=auth)
    assert ok.status_code == 200, ok.text
    records = OutcomeStore(tmp_path / "outcomes.sqlite").records()
    (record,) = records.values()
    assert (record.decision_id, record.model, record.quality) == (decision, "mid", 0.75)
    assert record.response == "mid-chat says: hi"
    again = httpx.post(url, json={"decision_id": decision, "quality": 0.75}, headers=auth)
    assert again.status_code == 404  # recorded once


def test_feedback_adapts_the_tenants_routing_and_the_corrections_persist(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    # adapt = true: /v1/feedback feeds the learning loop (the outcome residual
    # detectors and this tenant's corrections); corrections_path keeps them.
    path = tmp_path / "corrections.json"
    state = tmp_path / "drift-state.json"
    overrides = {
        "gateway": {"adapt": True, "corrections_path": str(path), "drift_state_path": str(state)}
    }
    server, gateway = start(stub, tiny_bundle, tmp_path, **overrides)
    assert gateway.monitor is not None
    assert gateway.monitor.sampler is None
    auth = {"authorization": f"Bearer {KEY}"}
    routed: list[str] = []
    with server:
        running = Running(stub[0], gateway, server)
        client = running.client()
        for i in range(60):
            raw = ask(client, f"Summarise the memo about budget line {i}")
            routed.append(raw.parse().model)
            ok = httpx.post(
                f"{running.url}/v1/feedback",
                json={"decision_id": raw.headers["x-learned-router-decision-id"], "quality": 0.0},
                headers=auth,
            )
            assert ok.status_code == 200, ok.text
    # (shutdown saved them: the lifespan closes the gateway)
    first = gateway.served[routed[0]].router_model
    assert gateway.served[routed[-1]].router_model != first, "traffic never moved"
    residuals = gateway.monitor.status()
    assert any(r["model"] == first and r["samples"] > 0 for r in residuals)
    # `learned-router drift status` reads the gateway's monitor state.
    status = CliRunner().invoke(cli_app, ["drift", "status", str(state), "--json"])
    assert status.exit_code == 0, status.output
    rows = json.loads(status.output)["status"]
    assert (
        sum(r["samples"] for r in rows if r["signal"] == "outcome_residual" and not r["tier"]) == 60
    )
    saved = Corrections.load(path)
    assert saved.shift(first, 0.9, tenant="acme") < -0.05
    assert saved.shift(first, 0.9, tenant="limited") == 0.0
    # A restart reads them back: acme's routing starts where it stopped.
    server, again = start(stub, tiny_bundle, tmp_path, **overrides)
    with server:
        assert again.router.corrections is not None
        assert again.router.corrections.shift(first, 0.9, tenant="acme") == pytest.approx(
            saved.shift(first, 0.9, tenant="acme")
        )


def test_a_damaged_corrections_file_stops_the_start_and_is_kept(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    path = tmp_path / "corrections.json"
    path.write_text("{not json")
    with pytest.raises(CorrectionsFileError, match="corrections"):
        start(stub, tiny_bundle, tmp_path, gateway={"adapt": True, "corrections_path": str(path)})
    assert path.read_text() == "{not json"


def test_shadow_hook_gets_both_answers_off_the_request_path(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    samples: list[ShadowSample] = []
    raw = config_dict(
        stub[1].url, tmp_path, gateway={"shadow_rate": 1.0, "shadow_model": "frontier-chat"}
    )
    raw["router"]["bundle"] = str(tiny_bundle)
    app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False, shadow=samples.append)
    with ServerThread(app) as server:
        running = Running(stub[0], gateway, server)
        ask(running.client(), "hello shadow", model="small-chat")
        ask(running.client(), "hello golden", model="frontier-chat")  # is the golden model
        deadline = time.monotonic() + 30
        while not samples and time.monotonic() < deadline:
            time.sleep(0.01)
    (sample,) = samples
    assert (sample.routed_model, sample.golden_model) == ("small-chat", "frontier-chat")
    assert sample.routed_answer == "small-chat says: hello shadow"
    assert sample.golden_answer == "frontier-chat says: hello shadow"
    assert sample.tenant == "acme"


def test_the_learning_loop_checks_shadow_answers_without_a_custom_hook(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    # shadow_model + shadow_rate alone: the gateway runs the learning loop's DriftMonitor,
    # sampling by request id within the budget, scoring agreement, storing shadow labels.
    raw = config_dict(
        stub[1].url,
        tmp_path,
        gateway={
            "shadow_rate": 1.0,
            "shadow_model": "frontier-chat",
            "shadow_budget_usd": 10.0,
            "shadow_warmup_rate": 0.2,
            "shadow_warmup_checks": 7,
        },
    )
    raw["router"]["bundle"] = str(tiny_bundle)
    raw["router"]["outcome_store"] = str(tmp_path / "outcomes.sqlite")
    app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False)
    assert gateway.monitor is not None
    assert gateway.monitor.sampler is not None
    assert (gateway.monitor.sampler.warmup_rate, gateway.monitor.sampler.warmup_checks) == (0.2, 7)
    # Re-scoring reaches routing: the router consults the monitor's corrections.
    assert gateway.router.corrections is gateway.monitor.corrections
    with ServerThread(app) as server:
        running = Running(stub[0], gateway, server)
        for i in range(3):
            ask(running.client(), f"hello shadow {i}", model="small-chat")
        deadline = time.monotonic() + 30

        def agreement_samples() -> int:
            assert gateway.monitor is not None
            gateway.monitor.flush()
            rows = gateway.monitor.status()
            return sum(
                r["samples"] for r in rows if r["signal"] == "shadow_agreement" and not r["tier"]
            )

        while agreement_samples() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert gateway.monitor.sampler.sampled == 3
    streams = [s for s in gateway.monitor.status() if s["signal"] == "shadow_agreement"]
    (stream,) = [s for s in streams if s["tier"] is None]
    assert stream["model"] == "small"
    assert stream["samples"] == 3
    # ... and each answer also fed its decision's complexity-tier stream.
    assert sum(s["samples"] for s in streams if s["tier"] is not None) == 3
    shadow_rows = [
        r
        for r in OutcomeStore(tmp_path / "outcomes.sqlite").records().values()
        if r.dataset == "shadow"
    ]
    assert len(shadow_rows) == 3
    assert {r.model for r in shadow_rows} == {"small"}
    assert all(0.0 <= r.quality <= 1.0 for r in shadow_rows)


def test_a_re_scored_model_is_probed_off_the_request_path_within_the_budget(
    stub: tuple[StubUpstream, ServerThread], tiny_bundle: Path, tmp_path: Path
) -> None:
    # A drift re-score shuts a model out; the gateway keeps asking it on its probe share
    # (here every request) and checks it against the shadow model, so a fix shows.
    raw = config_dict(
        stub[1].url,
        tmp_path,
        gateway={"shadow_rate": 1.0, "shadow_model": "frontier-chat", "shadow_probe_rate": 1.0},
    )
    raw["router"]["bundle"] = str(tiny_bundle)
    app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False)
    monitor = gateway.monitor
    assert monitor is not None
    assert monitor.sampler is not None
    # A drift alarm on small's shadow checks re-scores it and starts its recovery watch.
    for i in range(600):
        monitor.observe_agreement(f"before-{i}", "small", 1.0 if i < 300 else 0.0)
    assert monitor.corrections.drift_shift("small") < -0.5
    (alarm,) = monitor.alerts
    # A recovery alert (what the recovery watch raises) is counted apart from drift alarms.
    for sink in monitor.sinks:
        sink(dataclasses.replace(alarm, recovery=True, magnitude=-alarm.magnitude))
    sample = gateway.metrics.registry.get_sample_value
    assert sample("learned_router_drift_alerts_total", {"model": "small"}) == 1.0
    assert sample("learned_router_drift_recoveries_total", {"model": "small"}) == 1.0

    def watched() -> int:
        assert monitor is not None
        monitor.flush()
        (row,) = [
            r
            for r in monitor.status()
            if r["model"] == "small" and r["signal"] == "shadow_agreement" and not r["tier"]
        ]
        return int(row["recovery_samples"])

    seeded = watched()

    def checks_of_small() -> int:
        return watched() - seeded

    with ServerThread(app) as server:
        running = Running(stub[0], gateway, server)
        for i in range(3):  # routed among every model: the re-scored one is not chosen
            answer = ask(running.client(), f"Summarise clause {i} of this contract").parse()
            assert not answer.choices[0].message.content.startswith("small-chat")
        deadline = time.monotonic() + 30
        while checks_of_small() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert checks_of_small() == 3
    assert monitor.sampler.sampled >= 3
    assert monitor.sampler.spent_usd > 0
    # The budget caps probes like shadow checks.
    monitor.sampler.budget_usd = monitor.sampler.spent_usd
    with ServerThread(app) as server:
        ask(Running(stub[0], gateway, server).client(), "Summarise clause 9 of this contract")
        time.sleep(0.2)
    assert checks_of_small() == 3
    assert monitor.sampler.refused_by_budget >= 1


def test_every_request_ends_in_an_answer_or_an_openai_error_body(running: Running) -> None:
    url = f"{running.url}/v1/chat/completions"
    auth = {"authorization": f"Bearer {KEY}"}
    for body in (
        b"not json",
        b"[]",
        json.dumps({"model": "router"}).encode(),
        json.dumps({"model": "router", "messages": [{"role": "user"}]}).encode(),
    ):
        response = httpx.post(url, content=body, headers=auth)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"upstream": []}, "no [[upstream]]"),
        ({"tenant": [{"name": "x", "api_key_sha256": "abc"}]}, "64 lower-case hex"),
        ({"router": {"policy": {"min_quality": 0.8, "cost_weight": 1.0}}}, "one policy"),
        ({"gateway": {"retries": -1}}, "[gateway].retries"),
        ({"gateway": {"retrys": 1}}, "unknown key(s) ['retrys']"),
        ({"gateway": {"shadow_warmup_rate": 1.5}}, "[gateway].shadow_warmup_rate must be in"),
        ({"gateway": {"shadow_warmup_min_share": 2}}, "[gateway].shadow_warmup_min_share must"),
        ({"gateway": {"shadow_probe_rate": 1.5}}, "[gateway].shadow_probe_rate must be in"),
        ({"gateway": {"adapt": "yes"}}, "[gateway].adapt = 'yes'; it must be true or false"),
        ({"gateway": {"corrections_path": ""}}, "[gateway].corrections_path"),
        ({"upstream": [{"name": "u", "base_url": "http://x", "models": {}}]}, ".models must map"),
    ],
)
def test_bad_configs_say_where_and_how_to_fix(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    raw = config_dict("http://127.0.0.1:1", tmp_path)
    raw.update(change)
    with pytest.raises(GatewayConfigError, match=None) as caught:
        GatewayConfig.from_dict(raw, source="gw.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("gw.toml: ")


def test_the_example_config_parses_and_needs_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("OPENAI_API_KEY", "TOGETHER_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    config = GatewayConfig.load(Path(__file__).parents[1] / "examples" / "gateway.toml")
    assert config.tenants[0].api_key_sha256 == (hash_api_key("sk-local-demo"),)
    assert [u.launch for u in config.upstreams] == ["llama-cpp", None, None]


def test_sqlite_ledger_keeps_queued_rows_on_close(tmp_path: Path) -> None:
    from learned_router.gateway.ledger import UsageRow

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    ledger = Ledger.open(url)
    for i in range(500):
        ledger.append(UsageRow.example(request_id=str(i), actual_cost_usd=0.001))
    ledger.close()  # no flush: close must drain
    reopened = Ledger.open(url)
    assert [r.request_id for r in reopened.rows_since(0.0)] == [str(i) for i in range(500)]
    reopened.close()


# --- the report and the CLI --------------------------------------------------------------------


def test_report_prints_savings_per_tenant_model_and_tier_and_plots(
    running: Running, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from learned_router.cli import app

    for i in range(3):
        ask(running.client(), f"hi {i}", model="small-chat")
    ask(running.client(), "hi big", model="frontier-chat")
    ask(running.client(), "hi 0", model="small-chat")  # a cache hit
    rows = running.rows()
    url = running.gateway.ledger.url
    result = CliRunner().invoke(
        app, ["report", "--since", "2000-01-01", "--ledger", url, "--plot", str(tmp_path / "r.png")]
    )
    assert result.exit_code == 0, result.output
    cost = sum(r.actual_cost_usd for r in rows)
    frontier = sum(r.frontier_cost_usd for r in rows)
    (line,) = [ln for ln in result.output.splitlines() if ln.strip().startswith("all ")]
    fields = line.split()
    assert fields[1:3] == ["5", "1"]  # requests, cache hits
    assert float(fields[3]) == pytest.approx(cost / 5, abs=1e-6)
    assert fields[-1] == f"{100 * (frontier - cost) / frontier:.1f}%"
    for group in ("acme", "public", "cache", "small-chat", "frontier-chat"):
        assert any(ln.strip().startswith(group + " ") for ln in result.output.splitlines())
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_report_rejects_a_bad_date_or_a_missing_ledger_without_creating_one(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from learned_router.cli import app

    missing = tmp_path / "usage.sqlite"
    result = CliRunner().invoke(
        app, ["report", "--since", "yesterday", "--ledger", f"sqlite:///{missing}"]
    )
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in str(result.exception) + result.output
    result = CliRunner().invoke(
        app, ["report", "--since", "2026-01-01", "--ledger", f"sqlite:///{missing}"]
    )
    assert result.exit_code != 0
    assert "no ledger at" in result.output
    assert not missing.exists()


def test_serve_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from typer.testing import CliRunner

    from learned_router.cli import app

    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    result = CliRunner().invoke(app, ["serve", "--config", "examples/gateway.toml"])
    assert result.exit_code == 1
    assert "pip install 'learned-router[gateway]'" in result.output
