"""``learned-router serve``: start the local model (if configured) and the gateway."""

from __future__ import annotations

import logging
from typing import Any

from learned_router.gateway.config import GatewayConfig


def build(
    config: GatewayConfig, *, launch_local: bool = True, **gateway_options: Any
) -> tuple[Any, Any]:
    """(the ASGI app, its :class:`~learned_router.gateway.app.Gateway`), local servers started."""
    from learned_router.gateway.app import Gateway, create_app
    from learned_router.gateway.local import LlamaCppServer

    servers: list[LlamaCppServer] = []
    try:
        if launch_local:
            for upstream in config.upstreams:
                if upstream.launch == "llama-cpp":
                    server = LlamaCppServer(upstream)
                    server.start()
                    servers.append(server)
        gateway = Gateway(config, **gateway_options)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return create_app(gateway, local_servers=servers), gateway


def serve(config_path: str, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Runs the gateway until interrupted (uvicorn, one process)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call
    config = GatewayConfig.load(config_path)
    app, _ = build(config)
    # Access logs off: one line per request costs more than the routing decision.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
