"""The usage ledger in a real PostgreSQL server: a throwaway cluster in a temp dir,
started by the fixture on 127.0.0.1 (Debian's ``postgresql`` package; ``.ci/run``
installs it). Skipped, saying so, only when the server binaries are absent."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.gateway_stub import ServerThread, StubUpstream, free_port

from learned_router.gateway.config import GatewayConfig
from learned_router.gateway.ledger import Ledger, UsageRow
from learned_router.gateway.server import build


def _pg_bin() -> Path | None:
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
            "apt-get install -y postgresql (.ci/run does)"
        )
    root = Path(tempfile.mkdtemp(prefix="lr-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres user
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run(  # noqa: E731
        [*prefix, *args], check=True, capture_output=True, timeout=120
    )
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root} -F",
            "start",
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        raise AssertionError(f"could not start PostgreSQL: {error.stderr.decode()}") from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_ledger_round_trips_rows(postgres_url: str) -> None:
    ledger = Ledger.open(postgres_url)
    ledger.append(
        UsageRow.example(
            tenant="pg", request_id="a", actual_cost_usd=0.25, cache_hit=True, stream=True
        )
    )
    ledger.append(UsageRow.example(tenant="pg", request_id="b", actual_cost_usd=0.5))
    ledger.flush()
    assert ledger.spend_since("pg", 0.0) == pytest.approx(0.75)
    rows = [r for r in ledger.rows_since(0.0) if r.tenant == "pg"]
    assert [(r.request_id, r.cache_hit, r.stream) for r in rows] == [
        ("a", True, True),
        ("b", False, False),
    ]
    ledger.close()


def test_gateway_writes_its_ledger_to_postgres(
    postgres_url: str, tiny_bundle: Path, tmp_path: Path
) -> None:
    import openai

    from test_gateway import KEY, config_dict

    upstream = StubUpstream()
    with ServerThread(upstream) as stub:
        raw = config_dict(stub.url, tmp_path, ledger={"url": postgres_url})
        raw["router"]["bundle"] = str(tiny_bundle)
        app, gateway = build(GatewayConfig.from_dict(raw), launch_local=False)
        with ServerThread(app) as server:
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0) as client:
                client.chat.completions.create(
                    model="small-chat", messages=[{"role": "user", "content": "hello pg"}]
                )
            gateway.ledger.flush()
            rows = [r for r in gateway.ledger.rows_since(0.0) if r.tenant == "acme"]
    assert [(r.routed_model, r.status, r.output_tokens) for r in rows] == [("small-chat", 200, 4)]
    assert rows[0].actual_cost_usd > 0
