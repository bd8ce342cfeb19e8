"""Replay a day's worth of real prompts through the gateway, then print the report.

Prompts come from the development data (``DEV_DATA/prompts/*.parquet``, real
benchmark prompts; never committed), spread over three tenants, sent with the
``openai`` client through ``learned-router serve``'s app (the shipped bundle)
to the stub upstream on loopback. The ledger then feeds ``learned-router
report``. The stub's answers echo the prompt, so output tokens are not real:
the savings figure reflects the router's choices at catalog prices, with
equal answer lengths for every model.

    python -m benchmarks.replay_day --data ../shared/data --prompts 600 --out reports/gateway-replay
"""

from __future__ import annotations

import argparse
import concurrent.futures
import random
import tempfile
from pathlib import Path

from benchmarks.gateway_stub import ServerThread, StubUpstream
from learned_router.gateway.config import GatewayConfig
from learned_router.gateway.server import build

SETS = ("alpacaeval2", "llmrouter_nq", "zeroeval_gsm8k", "mmlu_pro", "livecodebench")
TENANTS = {"support-bot": "sk-support", "analytics": "sk-analytics", "coding-agent": "sk-coding"}


def main() -> None:
    import openai
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from learned_router.cli import app as cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--prompts", type=int, default=600)
    parser.add_argument("--bundle", default="models/default")
    parser.add_argument("--out", default="reports/gateway-replay")
    args = parser.parse_args()

    rng = random.Random(0)
    prompts: list[str] = []
    for name in SETS:
        table = pq.read_table(Path(args.data) / "prompts" / f"{name}.parquet", columns=["prompt"])
        texts = [t for t in table.column("prompt").to_pylist() if t and len(t) < 6000]
        prompts += rng.sample(texts, min(len(texts), args.prompts // len(SETS)))
    rng.shuffle(prompts)

    tmp = Path(tempfile.mkdtemp(prefix="lr-replay-"))
    with ServerThread(StubUpstream(delay_s=0.02, keep_bodies=False)) as stub:
        raw = {
            "router": {
                "bundle": args.bundle,
                "policy": {"min_quality": 0.8},
                "frontier_model": "gpt-4-1106-preview",
            },
            "gateway": {"retries": 0},
            "ledger": {"url": f"sqlite:///{tmp / 'ledger.sqlite'}"},
            "upstream": [
                {
                    "name": "public",
                    "base_url": f"{stub.url}/v1",
                    "models": {
                        "gpt-4-1106-preview": "gpt-4-1106-preview",
                        "gpt-3.5-turbo-1106": "gpt-3.5-turbo-1106",
                        "claude-instant-1.2": "claude-instant-1.2",
                        "mistral-7b": "mistralai/mistral-7b-chat",
                        "qwen2.5-7b": "qwen2.5-7b-instruct",
                        "gemini-1.5-flash": "gemini-1.5-flash-002",
                    },
                },
                {
                    "name": "local",
                    "base_url": f"{stub.url}/v1",
                    "self_hosted": True,
                    "max_concurrent_requests": 2,
                    "models": {"smollm2-135m": "FuseChat-Llama-3.2-1B-Instruct"},
                    "usd_per_1m_input": 0.01,
                    "usd_per_1m_output": 0.02,
                },
            ],
            "tenant": [{"name": n, "api_key": k} for n, k in TENANTS.items()],
        }
        app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False)
        with ServerThread(app) as server:
            clients = {
                k: openai.OpenAI(base_url=f"{server.url}/v1", api_key=k, max_retries=0)
                for k in TENANTS.values()
            }
            keys = list(TENANTS.values())

            def send(i: int) -> None:
                clients[keys[i % len(keys)]].chat.completions.create(
                    model="router", messages=[{"role": "user", "content": prompts[i]}]
                )

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(send, range(len(prompts))))
            gateway.ledger.flush()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--since",
            "2000-01-01",
            "--ledger",
            f"sqlite:///{tmp / 'ledger.sqlite'}",
            "--plot",
            str(out / "cost_by_tenant.png"),
        ],
    )
    print(result.output)
    (out / "report.txt").write_text(result.output)


if __name__ == "__main__":
    main()
