"""The model catalog: who serves each model, at what price, how fast.

A catalog is a TOML file with one ``[[model]]`` table per model (see
``docs/catalog.md`` and the shipped ``assets/catalog.toml``). Prices are
facts with provenance: every entry keeps where its price came from and when.

Self-hosted ("sovereign") models have no list price; their price per token is
amortised from the hardware that serves them (:meth:`SelfHosting.usd_per_1m`):

    usd_per_1m_output = (hardware_usd_per_hour + power_kw * usd_per_kwh)
                        / (3600 * utilisation * output_tokens_per_s) * 1e6

and likewise for input tokens with ``input_tokens_per_s`` (prefill). A request
occupies the server for ``input/input_tps + output/output_tps`` seconds at full
throughput, so pricing each token by its share of server time charges every
hour of hardware exactly once; dividing by utilisation spreads idle time over
the tokens actually served.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.errors import CatalogError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_CATALOG = Path(__file__).parent / "assets" / "catalog.toml"
#: The highest price a catalog may state (USD per 1M tokens). Far above any
#: real model; a table over it is a typo (or an attack) that would overflow costs.
MAX_USD_PER_1M = 1e6


@dataclass(frozen=True)
class LatencyProfile:
    """How fast a model answers: time to first token, then a steady decode rate."""

    ttft_ms: float
    output_tokens_per_s: float

    def latency_ms(self, output_tokens: float) -> float:
        """Expected end-to-end latency for an answer of ``output_tokens`` tokens."""
        return self.ttft_ms + 1e3 * output_tokens / self.output_tokens_per_s


@dataclass(frozen=True)
class SelfHosting:
    """The hardware behind a self-hosted model, from which its price is amortised."""

    hardware_usd_per_hour: float
    """Rent or depreciation of the serving hardware, per hour."""
    power_kw: float
    """Average power draw of that hardware."""
    usd_per_kwh: float
    utilisation: float
    """Share of the hours the hardware does useful work, in (0, 1]."""
    input_tokens_per_s: float
    """Prefill throughput at full load (all concurrent requests together)."""
    output_tokens_per_s: float
    """Decode throughput at full load (all concurrent requests together)."""
    max_concurrent_requests: int = 0
    """Requests it serves at once before queueing (0: not stated)."""

    def usd_per_hour(self) -> float:
        return self.hardware_usd_per_hour + self.power_kw * self.usd_per_kwh

    def usd_per_1m(self, tokens_per_s: float) -> float:
        """Amortised USD per 1M tokens at the given full-load throughput.

        >>> h = SelfHosting(2.0, 0.7, 0.15, 0.5, 10_000.0, 1_000.0)
        >>> round(h.usd_per_1m(h.output_tokens_per_s), 4)  # (2 + 0.105) / (3600 * 0.5 * 1000) * 1e6
        1.1694
        """
        return self.usd_per_hour() / (3600.0 * self.utilisation * tokens_per_s) * 1e6


@dataclass(frozen=True)
class ModelSpec:
    """One model in the catalog."""

    id: str
    provider: str
    usd_per_1m_input: float
    usd_per_1m_output: float
    latency: LatencyProfile
    usd_per_1m_cached_input: float | None = None
    """Price of input tokens served from the provider's prompt cache (None: no discount)."""
    batch_discount: float = 0.0
    """Fraction off both prices for batch (non-interactive) requests, in [0, 1)."""
    context_window_tokens: int | None = None
    self_hosted: bool = False
    hosting: SelfHosting | None = None
    aliases: tuple[str, ...] = ()
    base: str = ""
    """For a deployment (the same weights on another host ``@host``, at a reasoning
    effort ``(high)``, or with a prompting variant ``+concise``): the id of the model
    whose weights it shares. Empty for a model in its own right."""
    price_as_of: str = ""
    price_source: str = ""
    price_confidence: str = ""
    notes: str = ""

    @property
    def cached_input_price(self) -> float:
        """USD per 1M cached input tokens (the input price when there is no cache discount)."""
        if self.usd_per_1m_cached_input is None:
            return self.usd_per_1m_input
        return self.usd_per_1m_cached_input


_MODEL_FIELDS = {f.name for f in fields(ModelSpec)} - {"latency", "hosting"}
_LATENCY_FIELDS = {f.name for f in fields(LatencyProfile)}
_HOSTING_FIELDS = {f.name for f in fields(SelfHosting)}
_REQUIRED = {"id", "provider", "latency"}


def _where(source: str, index: int, model_id: str | None) -> str:
    name = f" ({model_id!r})" if model_id else ""
    return f"{source}: model #{index + 1}{name}"


def _check_keys(where: str, given: Iterable[str], allowed: set[str], what: str) -> None:
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CatalogError(
                f"{where}: unknown {what} field {key!r}{hint} Allowed: {', '.join(sorted(allowed))}"
            )


def _number(
    where: str, name: str, value: Any, *, minimum: float = 0.0, strict: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CatalogError(f"{where}: {name} must be a number, got {value!r}")
    number = float(value)
    if name.startswith("usd_per_1m") and number > MAX_USD_PER_1M:
        raise CatalogError(
            f"{where}: {name} = {value!r} is above {MAX_USD_PER_1M:g} USD per 1M tokens; "
            "fix the price (is it per token instead of per 1M?)"
        )
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise CatalogError(f"{where}: {name} = {value!r} must be finite and {bound}")
    return number


def _spec_from_dict(raw: Mapping[str, Any], where: str) -> ModelSpec:
    _check_keys(where, raw, _MODEL_FIELDS | {"latency", "hosting"}, "model")
    missing = sorted(_REQUIRED - set(raw))
    if missing:
        raise CatalogError(f"{where}: missing required field(s) {missing}")
    latency_raw = raw["latency"]
    if not isinstance(latency_raw, Mapping):
        raise CatalogError(f"{where}: latency must be a table with {sorted(_LATENCY_FIELDS)}")
    _check_keys(where, latency_raw, _LATENCY_FIELDS, "latency")
    latency = LatencyProfile(
        ttft_ms=_number(where, "latency.ttft_ms", latency_raw.get("ttft_ms")),
        output_tokens_per_s=_number(
            where,
            "latency.output_tokens_per_s",
            latency_raw.get("output_tokens_per_s"),
            strict=True,
        ),
    )
    self_hosted = bool(raw.get("self_hosted", False))
    hosting = None
    if self_hosted:
        hosting_raw = raw.get("hosting")
        if not isinstance(hosting_raw, Mapping):
            raise CatalogError(
                f"{where}: a self-hosted model needs a [model.hosting] table with "
                f"{sorted(_HOSTING_FIELDS - {'max_concurrent_requests'})}"
            )
        _check_keys(where, hosting_raw, _HOSTING_FIELDS, "hosting")
        values = {}
        for name in sorted(_HOSTING_FIELDS - {"max_concurrent_requests"}):
            if name not in hosting_raw:
                raise CatalogError(f"{where}: hosting.{name} is missing")
            strict = name in ("utilisation", "input_tokens_per_s", "output_tokens_per_s")
            values[name] = _number(where, f"hosting.{name}", hosting_raw[name], strict=strict)
        if values["utilisation"] > 1.0:
            raise CatalogError(
                f"{where}: hosting.utilisation = {values['utilisation']} must be in (0, 1]"
            )
        concurrent = int(
            _number(
                where,
                "hosting.max_concurrent_requests",
                hosting_raw.get("max_concurrent_requests", 0),
            )
        )
        hosting = SelfHosting(**values, max_concurrent_requests=concurrent)
        for price in ("usd_per_1m_input", "usd_per_1m_output"):
            if price in raw:
                raise CatalogError(
                    f"{where}: {price} is derived from [model.hosting] for a self-hosted "
                    "model; remove it (see docs/catalog.md for the formula)"
                )
        price_in = hosting.usd_per_1m(hosting.input_tokens_per_s)
        price_out = hosting.usd_per_1m(hosting.output_tokens_per_s)
    else:
        if "hosting" in raw:
            raise CatalogError(f"{where}: hosting is only allowed with self_hosted = true")
        for price in ("usd_per_1m_input", "usd_per_1m_output"):
            if price not in raw:
                raise CatalogError(f"{where}: {price} is missing")
        price_in = _number(where, "usd_per_1m_input", raw["usd_per_1m_input"])
        price_out = _number(where, "usd_per_1m_output", raw["usd_per_1m_output"])
    cached = raw.get("usd_per_1m_cached_input")
    if cached is not None:
        cached = _number(where, "usd_per_1m_cached_input", cached)
    discount = _number(where, "batch_discount", raw.get("batch_discount", 0.0))
    if discount >= 1.0:
        raise CatalogError(f"{where}: batch_discount = {discount} must be in [0, 1)")
    window = raw.get("context_window_tokens")
    if window is not None:
        window = int(_number(where, "context_window_tokens", window, strict=True))
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CatalogError(f"{where}: aliases must be a list of strings")
    text = {}
    for name in (
        "id",
        "provider",
        "base",
        "price_as_of",
        "price_source",
        "price_confidence",
        "notes",
    ):
        value = raw.get(name, "")
        if not isinstance(value, str):
            raise CatalogError(f"{where}: {name} must be a string, got {value!r}")
        text[name] = value
    if not text["id"].strip():
        raise CatalogError(f"{where}: id must not be empty")
    return ModelSpec(
        id=text["id"],
        provider=text["provider"],
        usd_per_1m_input=price_in,
        usd_per_1m_output=price_out,
        latency=latency,
        usd_per_1m_cached_input=cached,
        batch_discount=discount,
        context_window_tokens=window,
        self_hosted=self_hosted,
        hosting=hosting,
        aliases=tuple(aliases),
        base=text["base"].strip(),
        price_as_of=text["price_as_of"],
        price_source=text["price_source"],
        price_confidence=text["price_confidence"],
        notes=text["notes"],
    )


@dataclass(frozen=True)
class Catalog:
    """An immutable price table. Updates return a new catalog with a new version.

    >>> catalog = Catalog.load()
    >>> catalog.get("gpt-4-1106-preview").usd_per_1m_output
    30.0
    """

    models: tuple[ModelSpec, ...]
    version: str
    source: str = ""
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    _loose: Mapping[str, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.source or "catalog"
        index: dict[str, int] = {}
        loose: dict[str, set[int]] = {}
        for i, spec in enumerate(self.models):
            for name in (spec.id, *spec.aliases):
                key = name.strip().lower()
                if key in index and index[key] != i:
                    other = self.models[index[key]].id
                    raise CatalogError(
                        f"{where}: name {name!r} is used by both "
                        f"{other!r} and {spec.id!r}; names and aliases must be unique"
                    )
                index[key] = i
                loose.setdefault(normalise_name(name), set()).add(i)
        for spec in self.models:
            if not spec.base:
                continue
            if spec.base.strip().lower() == spec.id.strip().lower():
                raise CatalogError(f"{where}: model {spec.id!r} names itself as its base")
            base = index.get(spec.base.strip().lower())
            if base is None or self.models[base].id != spec.base:
                close = difflib.get_close_matches(spec.base, [m.id for m in self.models], n=3)
                hint = f" Closest ids: {', '.join(map(repr, close))}." if close else ""
                raise CatalogError(
                    f"{where}: model {spec.id!r} has base {spec.base!r}, which is not the id "
                    f"of a model in this catalog.{hint} A base must be a catalog id."
                )
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_loose", {key: tuple(sorted(ids)) for key, ids in loose.items()})

    # --- loading and saving ----------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Catalog:
        """Reads a catalog TOML file (default: the catalog shipped with the package)."""
        path = Path(path) if path is not None else DEFAULT_CATALOG
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise CatalogError(f"{path}: no such catalog file") from error
        except IsADirectoryError as error:
            raise CatalogError(f"{path}: is a folder, not a catalog TOML file") from error
        except UnicodeDecodeError as error:
            raise CatalogError(
                f"{path}: not UTF-8 text (byte {error.start}); save the catalog as UTF-8"
            ) from error
        except OSError as error:
            raise CatalogError(f"{path}: cannot read the catalog: {error}") from error
        except tomllib.TOMLDecodeError as error:
            raise CatalogError(f"{path}: not valid TOML: {error}") from error
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "catalog") -> Catalog:
        """Builds and validates a catalog from parsed TOML (``version`` + ``model`` list)."""
        _check_keys(source, raw, {"version", "description", "model"}, "top-level")
        version = raw.get("version")
        if not isinstance(version, str) or not version:
            raise CatalogError(f'{source}: a top-level `version = "..."` string is required')
        entries = raw.get("model", [])
        if not isinstance(entries, list) or not entries:
            raise CatalogError(f"{source}: no [[model]] entries")
        models = tuple(
            _spec_from_dict(
                entry, _where(source, i, entry.get("id") if isinstance(entry, Mapping) else None)
            )
            for i, entry in enumerate(entries)
        )
        return cls(models=models, version=version, source=source)

    def to_toml(self, *, description: str = "") -> str:
        """The catalog as TOML text that :meth:`load` reads back."""
        lines = [f"version = {_toml(self.version)}"]
        if description:
            lines.append(f"description = {_toml(description)}")
        for spec in self.models:
            lines += ["", "[[model]]"]
            for name in ("id", "base", "aliases", "provider"):
                value = getattr(spec, name)
                if value not in ("", ()):
                    lines.append(f"{name} = {_toml(value)}")
            if not spec.self_hosted:
                lines.append(f"usd_per_1m_input = {_toml(spec.usd_per_1m_input)}")
                lines.append(f"usd_per_1m_output = {_toml(spec.usd_per_1m_output)}")
            for name in ("usd_per_1m_cached_input", "batch_discount", "context_window_tokens"):
                value = getattr(spec, name)
                if value is not None:
                    lines.append(f"{name} = {_toml(value)}")
            if spec.self_hosted:
                lines.append("self_hosted = true")
            for name in ("price_as_of", "price_source", "price_confidence", "notes"):
                value = getattr(spec, name)
                if value:
                    lines.append(f"{name} = {_toml(value)}")
            lines.append(
                f"latency = {{ ttft_ms = {_toml(spec.latency.ttft_ms)}, "
                f"output_tokens_per_s = {_toml(spec.latency.output_tokens_per_s)} }}"
            )
            if spec.hosting is not None:
                lines.append("[model.hosting]")
                for f in fields(SelfHosting):
                    lines.append(f"{f.name} = {_toml(getattr(spec.hosting, f.name))}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str], *, description: str = "") -> Path:
        """Writes the catalog as TOML, atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_toml(description=description))
        os.replace(tmp, path)
        return path

    # --- lookups ---------------------------------------------------------------------------

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.models)

    def knows(self, name: str) -> bool:
        """True if ``name`` is a model id or alias (see :meth:`resolve` for the matching)."""
        return isinstance(name, str) and self._lookup(name) is not None

    def check_servable(self, names: Sequence[str], where: str) -> None:
        """Raises :class:`CatalogError` unless every model of ``names`` is in this
        catalog with prices a router can compute with: finite and at most
        :data:`MAX_USD_PER_1M` (a self-hosted model's derived prices included)."""
        missing = [name for name in names if not self.knows(name)]
        if missing:
            raise CatalogError(
                f"{where}: the catalog lacks model(s) {missing} that the router routes to; "
                "add them (or aliases for them) to the catalog"
            )
        for name in names:
            spec = self.get(name)
            try:
                prices = {
                    "usd_per_1m_input": spec.usd_per_1m_input,
                    "usd_per_1m_output": spec.usd_per_1m_output,
                    "usd_per_1m_cached_input": spec.cached_input_price,
                    "batch_discount": spec.batch_discount,
                }
                bad = {
                    key: value
                    for key, value in prices.items()
                    if not (isinstance(value, (int, float)) and math.isfinite(value))
                    or not 0 <= value <= MAX_USD_PER_1M
                }
                rate = spec.latency.output_tokens_per_s
                if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
                    bad["latency.output_tokens_per_s"] = rate
                if not 0 <= spec.batch_discount < 1:
                    bad["batch_discount"] = spec.batch_discount
            except (ArithmeticError, TypeError, ValueError) as error:
                raise CatalogError(f"{where}: model {name!r}: cannot price it: {error!r}") from None
            if bad:
                raise CatalogError(
                    f"{where}: model {name!r} has unusable figures {bad}; prices must be "
                    f"finite, >= 0 and at most {MAX_USD_PER_1M:g} USD per 1M tokens, "
                    "throughput finite and > 0"
                )

    def _lookup(self, name: str) -> int | None:
        return self._match(name)[0]

    def _match(self, name: str) -> tuple[int | None, tuple[int, ...], int | None]:
        """(index, (), None) for the first spelling variant of ``name``
        (:func:`name_variants`) that names one model exactly, case-insensitively or
        loosely; else (None, the models the first ambiguous loose variant matched, the
        model a host prefix names when the catalog has no deployment of it on that
        host and prices it at another's list price)."""
        exact = self._index.get(name.strip().lower())
        if exact is not None:  # the common case, without building the variants
            return exact, (), None
        hosted = host_prefix(name)
        if hosted is not None:
            return self._match_hosted(name, *hosted)
        variants = name_variants(name)
        index, ambiguous = self._match_variants(variants)
        if index is None:
            index = self._match_effort(variants)
        return index, (() if index is not None else ambiguous), None

    def _match_effort(self, variants: Sequence[str]) -> int | None:
        """A reasoning-effort setting named after a pointer or base
        (``o3-mini (high)``, OpenRouter's ``openai/o3-mini-high``): the effort
        deployment of the model the rest of the name resolves to
        (``o3-mini-2025-01-31(high)``), where the catalog has one."""
        for variant in variants:
            effort = _EFFORT_SUFFIX.match(variant.strip())
            if effort is None:
                continue
            base, _ = self._match_variants([effort["base"]])
            if base is None:
                continue
            level = _EFFORT_LEVELS[(effort["level"] or effort["level2"]).lower()]
            stem = _EFFORT_ID.sub("", self.models[base].id)
            found = self._index.get(f"{stem}({level})")
            if found is not None:
                return found
        return None

    def _match_variants(self, variants: Sequence[str]) -> tuple[int | None, tuple[int, ...]]:
        ambiguous: tuple[int, ...] = ()
        for variant in variants:
            index = self._index.get(variant.strip().lower())
            if index is not None:
                return index, ()
            matches = self._loose.get(normalise_name(variant), ())
            if len(matches) == 1:
                return matches[0], ()
            if len(matches) > 1 and not ambiguous:
                ambiguous = matches
        return None, ambiguous

    def _match_hosted(
        self, name: str, host: str, rest: str
    ) -> tuple[int | None, tuple[int, ...], int | None]:
        """A name a host prefix routes (``together_ai/google/gemma-2-27b-it``): the full
        name if it is an alias, else the model's deployment on that host
        (``gemma-2-27b-it@together``), else the model itself where the catalog prices it
        at that host's list price; else (None, (), the model) so the error can say so."""
        index, ambiguous = self._match_variants([name])
        if index is None:
            index, ambiguous = self._match_variants(name_variants(f"{rest}@{host}"))
        if index is not None:
            return index, (), None
        model, ambiguous_model, _ = self._match(rest)
        if model is None:
            return None, ambiguous or ambiguous_model, None
        spec = self.models[model]
        if normalise_name(spec.provider).startswith(normalise_name(host)):
            return model, (), None
        return None, (), model

    def get(self, name: str) -> ModelSpec:
        """The model called ``name`` (id or alias; see :meth:`resolve`)."""
        if not isinstance(name, str):
            raise CatalogError(f"a model name must be a string, got {name!r}")
        index, ambiguous, unserved = self._match(name)
        if index is None:
            if unserved is not None:
                host = (host_prefix(name) or ("", ""))[0]
                spec = self.models[unserved]
                hosts = [d for d in self.deployments_of(spec.id) if "@" in d]
                listed = ", ".join(map(repr, hosts))
                known = f" Its deployments on hosts: {listed}." if hosts else ""
                raise CatalogError(
                    f"model {name!r} names {spec.id!r} served by {host!r}, but the catalog "
                    f"{self.source or ''} has no {spec.id + '@' + host!r} deployment and "
                    f"prices {spec.id!r} at {spec.provider}'s list price, not {host!r}'s."
                    f"{known} Add the deployment with that host's price (docs/catalog.md, "
                    f"'Deployments'), or name {spec.id!r} to accept {spec.provider}'s."
                )
            if ambiguous:
                ids = ", ".join(repr(self.models[i].id) for i in ambiguous)
                raise CatalogError(
                    f"model {name!r} matches several catalog models ({ids}) once case and "
                    "punctuation are ignored; use the exact id or alias."
                )
            raise CatalogError(
                f"model {name!r} is not in the catalog {self.source or ''} "
                f"(version {self.version}).{self._closest_hint(name)} Add it, or an alias "
                "for it, to the catalog (docs/catalog.md, 'Adding a model')."
            )
        return self.models[index]

    def _closest_hint(self, name: str) -> str:
        bare = name_variants(name)[-1]
        close = difflib.get_close_matches(bare.strip().lower(), list(self._index), n=6)
        ids = list(dict.fromkeys(self.models[self._index[c]].id for c in close))[:3]
        return f" Did you mean {', '.join(map(repr, ids))} (the closest ids)?" if ids else ""

    def resolve(self, name: str) -> str:
        """The canonical id of ``name``: an id or an alias, matched case-insensitively,
        then (if that finds nothing) ignoring punctuation, spaces and case
        (``Meta-Llama-3_1-8B-Instruct`` = ``meta-llama-3.1-8b-instruct``) when that
        points at one model only; then the same for the name without a routing prefix
        (``openrouter/openai/gpt-4o-mini-2024-07-18``, ``Qwen/Qwen2.5-7B-Instruct``) and
        with Hugging Face's repository spelling undone (``Meta-Llama-3.1-8B-Instruct``,
        ``Llama-2-7b-chat-hf``); see :func:`name_variants`. Raises :class:`CatalogError`
        naming the closest ids.

        >>> Catalog.load().resolve("mistralai/mixtral-8x7b-chat")
        'mixtral-8x7b-instruct-v0.1'
        """
        return self.get(name).id

    def resolve_all(self, names: Iterable[str]) -> list[str]:
        """:meth:`resolve` for each name, in order; one error lists every unknown name."""
        resolved, unknown = [], []
        for name in names:
            try:
                resolved.append(self.resolve(name))
            except CatalogError as error:
                unknown.append(f"{name!r}:{str(error).split('.', 1)[-1].split(' Add it')[0]}")
        if unknown:
            raise CatalogError(
                f"{len(unknown)} model name(s) not in the catalog {self.source or ''} "
                f"(version {self.version}): {'; '.join(unknown)}. Add them, or aliases for "
                "them, to the catalog (docs/catalog.md, 'Adding a model')."
            )
        return resolved

    def mapping(self, names: Iterable[str]) -> dict[str, str]:
        """``{name: canonical id}`` for every distinct name (raises for unknown names)."""
        unique = list(dict.fromkeys(names))
        return dict(zip(unique, self.resolve_all(unique), strict=True))

    def base_of(self, name: str) -> str:
        """The id of the model whose weights ``name`` shares: its ``base`` for a
        deployment, else its own id."""
        spec = self.get(name)
        return spec.base or spec.id

    def deployments_of(self, name: str) -> tuple[str, ...]:
        """Ids of the deployments whose base is ``name``'s model."""
        model = self.resolve(name)
        return tuple(spec.id for spec in self.models if spec.base == model)

    def prices(self, names: Sequence[str]) -> dict[str, npt.NDArray[np.float64]]:
        """Per-model price arrays (USD per 1M tokens) in the order of ``names``."""
        specs = [self.get(name) for name in names]
        return {
            "input": np.array([s.usd_per_1m_input for s in specs]),
            "output": np.array([s.usd_per_1m_output for s in specs]),
            "cached_input": np.array([s.cached_input_price for s in specs]),
            "batch_discount": np.array([s.batch_discount for s in specs]),
        }

    def with_prices(
        self, updates: Mapping[str, Mapping[str, float]], *, version: str | None = None
    ) -> Catalog:
        """A new catalog with some prices changed, e.g. ``{"gpt-4o": {"usd_per_1m_input": 2.5}}``.

        Only price fields may change; the result is validated like a loaded
        catalog and gets ``version`` (default: this version + "+1").
        """
        allowed = {
            "usd_per_1m_input",
            "usd_per_1m_output",
            "usd_per_1m_cached_input",
            "batch_discount",
        }
        if not isinstance(updates, Mapping):
            raise CatalogError(
                f"price update: got {type(updates).__name__} {updates!r}; give a mapping "
                'such as {"gpt-4o": {"usd_per_1m_input": 2.5}}'
            )
        if version is not None and (not isinstance(version, str) or not version.strip()):
            raise CatalogError(
                f"price update: version {version!r} must be a non-empty string (or None)"
            )
        models = list(self.models)
        for name, changes in updates.items():
            if not isinstance(name, str):
                raise CatalogError(f"price update: model name {name!r} must be a string")
            if not isinstance(changes, Mapping):
                raise CatalogError(
                    f"update of {name!r}: got {changes!r}; give a mapping of price fields, "
                    'e.g. {"usd_per_1m_input": 2.5}'
                )
            spec = self.get(name)
            _check_keys(f"update of {name!r}", changes, allowed, "price")
            if spec.self_hosted and {"usd_per_1m_input", "usd_per_1m_output"} & set(changes):
                raise CatalogError(
                    f"update of {name!r}: a self-hosted model's prices come from its hosting "
                    "figures; change those instead"
                )
            checked = {
                key: _number(f"update of {name!r}", key, value) for key, value in changes.items()
            }
            if checked.get("batch_discount", 0.0) >= 1.0:
                raise CatalogError(f"update of {name!r}: batch_discount must be in [0, 1)")
            models[self.ids.index(spec.id)] = replace(spec, **checked)  # type: ignore[arg-type]
        return Catalog(
            models=tuple(models), version=version or f"{self.version}+1", source=self.source
        )


_PUNCTUATION = re.compile(r"[\s_\-.:/]+")
_HF_META = re.compile(r"^meta[-_ ]+(?=llama)", re.IGNORECASE)
_HF_SUFFIX = re.compile(r"[-_]hf(?=(@|$))", re.IGNORECASE)


def name_variants(name: str) -> list[str]:
    """The spellings :meth:`Catalog.resolve` tries for ``name``, in order: the name
    itself; without a routing prefix (everything up to the last ``/`` before any
    ``@host``: LiteLLM's ``openrouter/openai/...``, OpenRouter's ``openai/...``, a Hugging
    Face organisation), in Anthropic's own spelling where that is a Bedrock or Vertex id
    of Claude (``anthropic.claude-3-5-sonnet-20240620-v1:0``,
    ``claude-3-5-sonnet-v2@20241022``: the same weights at the same list price); and
    that without Hugging Face's repository conventions (a leading ``Meta-`` before
    ``Llama``, a trailing ``-hf``). A prefix that names a host serving open weights is
    handled before these: see :func:`host_prefix`.

    >>> name_variants("meta-llama/Meta-Llama-3.1-8B-Instruct")
    ['meta-llama/Meta-Llama-3.1-8B-Instruct', 'Meta-Llama-3.1-8B-Instruct', 'Llama-3.1-8B-Instruct']
    >>> name_variants("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0")[-1]
    'claude-3-5-haiku-20241022'
    >>> name_variants("bedrock/anthropic.claude-v2:1")[-1]
    'claude-v2:1'
    """
    variants = [name]
    model, at, host = name.strip().partition("@")
    bare = model.rsplit("/", 1)[-1] + at + host
    claude = _CLAUDE_RESOLD.match(bare)
    if claude is not None:
        date = claude["date"] or claude["vdate"]
        bare = claude["model"] + (f"-{date}" if date else "")
    elif (legacy := _BEDROCK_CLAUDE_LEGACY.match(bare)) is not None:
        bare = legacy["model"]
    repo = _HF_SUFFIX.sub("", _HF_META.sub("", bare))
    for variant in (bare, repo):
        if variant and variant not in variants:
            variants.append(variant)
    return variants


HOST_PREFIXES = {
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "deepinfra": "deepinfra",
    "groq": "groq",
    "cerebras": "cerebras",
    "sambanova": "sambanova",
    "hyperbolic": "hyperbolic",
    "nebius": "nebius",
    "novita": "novita",
    "replicate": "replicate",
    "anyscale": "anyscale",
    "perplexity": "perplexity",
    "baseten": "baseten",
    "lambda_ai": "lambda",
    "nscale": "nscale",
    "featherless_ai": "featherless",
    "friendliai": "friendliai",
    "cloudflare": "cloudflare",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "vllm": "vllm",
    "hosted_vllm": "vllm",
    "lm_studio": "lm_studio",
}
"""LiteLLM provider prefixes of hosts that serve open weights at their own prices (or
on your own server), and the ``@host`` each names in this catalog's deployment ids."""


def host_prefix(name: str) -> tuple[str, str] | None:
    """``(host, the name after the prefix)`` when ``name`` names no ``@host`` itself and
    starts with a LiteLLM prefix of a host serving open weights (:data:`HOST_PREFIXES`)
    or is an open-weight model's Amazon Bedrock id (``meta.llama3-1-70b-instruct-v1:0``);
    else None. Such a name resolves to the model's deployment on that host
    (``together_ai/google/gemma-2-27b-it`` -> ``gemma-2-27b-it@together``), or to the
    model where the catalog prices it at that host's list price; otherwise
    :meth:`Catalog.get` refuses it rather than price one host's tokens at another's.

    >>> host_prefix("together_ai/google/gemma-2-27b-it")
    ('together', 'google/gemma-2-27b-it')
    >>> host_prefix("openrouter/openai/gpt-4o") is None
    True
    """
    if "@" in name:
        return None
    first, slash, rest = name.strip().partition("/")
    if slash and first.lower() in HOST_PREFIXES:
        return HOST_PREFIXES[first.lower()], rest
    bedrock = _BEDROCK_OPEN.match(name.strip().rsplit("/", 1)[-1])
    if bedrock is not None:
        return "bedrock", bedrock["model"]
    return None


_CLAUDE_RESOLD = re.compile(
    r"^(?:(?:us|eu|apac|global)\.)?(?:anthropic\.)?(?P<model>claude-[\w.-]+?)"
    r"(?:-v\d+:\d+|-v\d+@(?P<date>\d{8})|@(?P<vdate>\d{8}))$",
    re.IGNORECASE,
)
"""Claude on Amazon Bedrock (``[region.]anthropic.<id>-v1:0``) and Google Vertex
(``<name>[-v2]@<date>``): Anthropic's weights at Anthropic's list prices."""
_EFFORT_SUFFIX = re.compile(
    r"^(?P<base>.+?)(?:\s*\((?P<level>high|medium|med|low)\)|[-:](?P<level2>high|low))$",
    re.IGNORECASE,
)
_EFFORT_LEVELS = {"high": "high", "medium": "medium", "med": "medium", "low": "low"}
_EFFORT_ID = re.compile(r"\((?:high|medium|low)\)$")
_BEDROCK_CLAUDE_LEGACY = re.compile(
    r"^(?:(?:us|eu|apac|global)\.)?anthropic\.(?P<model>claude-(?:instant-)?v\d+(?::\d+)?)$",
    re.IGNORECASE,
)
"""Bedrock's undated Claude ids (``anthropic.claude-v2``, ``anthropic.claude-v2:1``,
``anthropic.claude-instant-v1``): the catalog knows them without ``anthropic.``."""
_BEDROCK_OPEN = re.compile(
    r"^(?:(?:us|eu|apac|global)\.)?(?:meta|mistral|cohere|ai21|amazon|deepseek|qwen)\."
    r"(?P<model>[\w.-]+?)(?:-v\d+(?::\d+)?)?$",
    re.IGNORECASE,
)


def normalise_name(name: str) -> str:
    """A model name with case, spaces and ``_ - . : /`` ignored (the loose match of
    :meth:`Catalog.resolve`): ``"Meta-Llama-3_1-8B"`` -> ``"metallama318b"``."""
    return _PUNCTUATION.sub("", name.strip().lower())


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
