"""An OpenAI-compatible gateway that routes real traffic (``learned-router serve``).

Needs the ``gateway`` extra (FastAPI, uvicorn, httpx, prometheus-client,
psycopg): ``pip install 'learned-router[gateway]'``; the local llama.cpp tier
needs ``gateway-local`` too. Nothing here is imported by ``learned_router``
itself, so the runtime wheel does not need these packages.

Modules: ``config`` (the TOML file), ``app`` (the request path and the ASGI
app), ``upstreams`` (clients, circuit breakers), ``tenants`` (keys, budgets,
rate limits), ``ledger`` (usage rows in sqlite or PostgreSQL), ``metrics``
(Prometheus), ``local`` (the llama.cpp server), ``report`` (savings report),
``server`` (``serve``).
"""

INSTALL_HINT = "pip install 'learned-router[gateway]'"
