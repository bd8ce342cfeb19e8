"""Builds the shipped catalog (src/learned_router/assets/catalog.toml).

One catalog entry per real model, under a canonical id, with every spelling
the development data uses as an alias (see docs/catalog.md). Inputs:

- ``scripts/model_ids.csv`` (committed, beside this script): the identity table.
  One row per canonical id: ``base`` (for a deployment: the id whose weights
  it shares), ``spellings`` (``;``-separated dataset spellings, the aliases),
  ``price`` (how it is priced, below) and ``notes``.
- ``scripts/extra_prices.csv`` (committed): list prices of models that the
  development data's ``prices.csv`` lacks, one public source per row, in the
  format of ``prices.csv``.
- ``scripts/model_pointers.csv`` (committed): API names without a date that a
  provider (or OpenRouter) documents as pointing at one snapshot (``gpt-4o`` ->
  ``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-latest``), with the page and the date
  it was read. They become aliases of that snapshot, said in its ``notes``; such a
  name moves when the provider moves it, so the table is dated.
- ``prices.csv`` and the outcome logs of the development data.

``price`` in the identity table: empty -- a listed price under the entry's id
or one of its spellings (``prices.csv`` or ``extra_prices.csv``, matched
case-insensitively, then after normalising), else (for a deployment) its base's
price; a model name -- that name's listed price (an equivalent, the reason in
``notes``); ``*N`` -- the base's price times N (best-of-N sampling); ``rule``
-- the size-tier ``RULE:`` rows of ``prices.csv`` (Together AI's price per
parameter-count tier), with the parameter count read from the id (or
:data:`KNOWN_SIZES_B`), marked ``ESTIMATE: size tier``.

The build fails, naming them, on any model name in the logs that resolves to
no catalog id, and on any entry it cannot price.

Latency profiles and most context windows are not in the price tables; they
are tier estimates (see :func:`latency_for`), marked as such in ``notes``.

Run: ``python scripts/build_default_catalog.py ../shared/data`` (``make catalog``).
"""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from learned_router.catalog import DEFAULT_CATALOG, Catalog, LatencyProfile, ModelSpec
from learned_router.errors import CatalogError

HERE = Path(__file__).parent
IDENTITY_TABLE = HERE / "model_ids.csv"
EXTRA_PRICES = HERE / "extra_prices.csv"
POINTERS = HERE / "model_pointers.csv"
#: Parameter counts (billions) of open models whose names do not say.
KNOWN_SIZES_B = {
    "phi-2": 2.7,
    "mistral-orpo-beta": 7.2,
    "phi-3-medium": 14.0,
    "phi-3.5-mini": 3.8,
    "athene-70b": 70.0,
}
_SUFFIXES = ("_concise", "_verbose", "-togetherai", "-hf", "-best-of-16")
_MOE = re.compile(r"(\d+)x(\d+(?:\.\d+)?)b", re.IGNORECASE)
_DENSE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class PriceRow:
    names: tuple[str, ...]
    canonical: str
    provider: str
    usd_in: float
    usd_out: float
    as_of: str
    source: str
    confidence: str


def read_prices(*paths: Path) -> tuple[list[PriceRow], list[PriceRow]]:
    """(listed rows, RULE: size-tier rows) of prices.csv."""
    listed, rules = [], []
    for path in paths:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            usd_out = row["usd_per_1m_output"] or row["usd_per_1m_input"]
            price = PriceRow(
                names=tuple(n.strip() for n in row["model"].split(";") if n.strip()),
                canonical=row["canonical_name"],
                provider=row["provider_or_host"],
                usd_in=float(row["usd_per_1m_input"]),
                usd_out=float(usd_out),
                as_of=row["as_of"] or "",
                source=row["source"] or "",
                confidence=row["confidence"] or "",
            )
            (rules if row["model"].startswith("RULE:") else listed).append(price)
    return listed, rules


def normalise(name: str) -> str:
    name = name.strip().lower().split("/")[-1]
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name.replace("3_1", "3.1").replace("_", "-")


def parameters_b(name: str) -> tuple[float, bool] | None:
    """(billions of parameters, is MoE) read from a model name, if it says."""
    for prefix, size in KNOWN_SIZES_B.items():
        if normalise(name).startswith(prefix):
            return size, False
    moe = _MOE.search(name)
    if moe:
        return float(moe.group(1)) * float(moe.group(2)), True
    dense = _DENSE.findall(name)
    if dense:
        return max(float(d) for d in dense), False
    return None


def rule_for(params: float, moe: bool, rules: list[PriceRow]) -> PriceRow:
    tiers = []
    for rule in rules:
        label = rule.names[0].removeprefix("RULE:")
        numbers = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)B", label)]
        is_moe = label.startswith("MoE")
        low, high = (0.0, numbers[0]) if "<=" in label else (numbers[0], numbers[1])
        tiers.append((is_moe, low, high, rule))
    for is_moe, low, high, rule in tiers:
        if is_moe == moe and (low <= params <= high or (low < params and params < high + 0.1)):
            return rule
    # Above the largest tier: the largest tier of that kind.
    return max((t for t in tiers if t[0] == moe), key=lambda t: t[2])[3]


def latency_for(provider: str, usd_out: float, params: float | None) -> tuple[LatencyProfile, str]:
    """Tier estimates of time to first token and decode speed (not measurements)."""
    if usd_out >= 20:
        return LatencyProfile(800.0, 30.0), "frontier API tier"
    if usd_out >= 5:
        return LatencyProfile(600.0, 50.0), "large API tier"
    if params is not None and params <= 9:
        return LatencyProfile(250.0, 120.0), "<=9B open model tier"
    if params is not None and params <= 41:
        return LatencyProfile(350.0, 80.0), "10-41B open model tier"
    return LatencyProfile(450.0, 60.0), "large open / mid API tier"


#: Documented context windows (tokens), first matching substring of the id wins.
CONTEXT_WINDOWS = (
    ("gpt-4-1106", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4o", 128_000),
    ("gpt-3.5-turbo-instruct", 4_096),
    ("gpt-3.5-turbo-1106", 16_385),
    ("gpt-3.5-turbo-0125", 16_385),
    ("gpt-4", 8_192),
    ("o1-mini", 128_000),
    ("o1-preview", 128_000),
    ("o1-2024", 200_000),
    ("o3-mini", 200_000),
    ("o4-mini", 200_000),
    ("claude-2", 100_000),
    ("claude-3", 200_000),
    ("claude-instant", 100_000),
    ("claude-1", 100_000),
    ("gemini-1.5-pro", 2_000_000),
    ("gemini-1.5", 1_000_000),
    ("gemini-2", 1_048_576),
    ("gemini-1.0-pro", 32_760),
    ("grok", 131_072),
    ("deepseek-v3", 64_000),
    ("deepseek-v2.5", 128_000),
    ("mistral-large-2407", 128_000),
    ("mistral-large", 32_000),
    ("mistral-medium", 32_000),
    ("command-r", 128_000),
    ("deepseek-chat", 32_768),
    ("gemini-1.0-ultra", 32_760),
    ("mistral-nemo", 128_000),
    ("mistral-small-2409", 32_000),
    ("codestral", 32_000),
    ("llama-3.1", 128_000),
    ("llama-3", 8_192),
    ("llama-2", 4_096),
    ("mixtral-8x22b", 65_536),
    ("mixtral", 32_768),
    ("qwen2.5", 32_768),
    ("qwq", 32_768),
    ("qwen2", 32_768),
    ("gemma-2", 8_192),
    ("yi-large", 32_768),
    ("reka-core", 128_000),
    ("jamba-1.5", 256_000),
)


def context_for(name: str, params: float | None) -> int:
    lowered = name.lower()
    for prefix, window in CONTEXT_WINDOWS:
        if prefix in lowered:
            return window
    return 4_096 if params is None or params < 30 else 8_192


def dataset_models(data: Path) -> dict[str, list[str]]:
    """Model names per dataset in ``data/outcomes/*.parquet``."""
    found: dict[str, list[str]] = {}
    for path in sorted((data / "outcomes").glob("*.parquet")):
        models = pq.read_table(path, columns=["model"]).column("model").unique().to_pylist()
        found[path.stem] = sorted(models)
    return found


@dataclass(frozen=True)
class Identity:
    """One row of the identity table."""

    id: str
    base: str
    spellings: tuple[str, ...]
    price: str
    notes: str


def _stripped_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table, every value stripped of surrounding spaces."""
    with open(path, newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def read_identities(path: Path = IDENTITY_TABLE) -> list[Identity]:
    return [
        Identity(
            id=row["id"],
            base=row["base"],
            spellings=tuple(n.strip() for n in row["spellings"].split(";") if n.strip()),
            price=row["price"],
            notes=row["notes"],
        )
        for row in _stripped_rows(path)
    ]


@dataclass(frozen=True)
class Pointer:
    """One row of the pointer table: an undated API name and the snapshot it served."""

    name: str
    id: str
    source: str
    as_of: str
    confidence: str


def read_pointers(path: Path = POINTERS) -> list[Pointer]:
    return [Pointer(**row) for row in _stripped_rows(path)]


def pointers_by_id(pointers: list[Pointer], ids: Iterable[str]) -> dict[str, list[Pointer]]:
    """The pointer rows grouped by the snapshot they name; fails on an unknown id or a
    name given twice."""
    known = set(ids)
    grouped: dict[str, list[Pointer]] = {}
    seen: set[str] = set()
    for pointer in pointers:
        if pointer.id not in known:
            raise SystemExit(
                f"{POINTERS.name}: {pointer.name!r} points at {pointer.id!r}, which is not an id "
                f"in {IDENTITY_TABLE.name}"
            )
        if pointer.name.lower() in seen:
            raise SystemExit(f"{POINTERS.name}: {pointer.name!r} is listed twice")
        seen.add(pointer.name.lower())
        grouped.setdefault(pointer.id, []).append(pointer)
    return grouped


def _price(
    entry: Identity,
    rows: dict[str, PriceRow],
    normal: dict[str, PriceRow],
    rules: list[PriceRow],
    priced: dict[str, tuple[PriceRow, str, float]],
) -> tuple[PriceRow, str, float] | None:
    """(price row, how it applied, multiplier) for ``entry``, or None."""
    names = (entry.id, *entry.spellings)
    if entry.price == "rule":
        size = parameters_b(entry.id) or next(
            (s for s in map(parameters_b, entry.spellings) if s), None
        )
        if size is None:
            return None
        row = rule_for(size[0], size[1], rules)
        tier = row.names[0].removeprefix("RULE:")
        return row, f"ESTIMATE: size tier {tier} ({size[0]:g}B read from the name)", 1.0
    if entry.price.startswith("*"):
        base = priced.get(entry.base)
        if base is None:
            return None
        factor = float(entry.price[1:])
        return base[0], f"{base[1]}; x{factor:g} for best-of-{factor:g} sampling", factor
    if entry.price:
        row = rows.get(entry.price.lower())
        if row is None:
            return None
        if normalise(entry.price) in {normalise(name) for name in names}:
            return row, f"listed (as {entry.price})", 1.0  # the same model, spelled otherwise
        return row, f"equivalent: listed price of {entry.price} (see notes)", 1.0
    for name in names:
        row = rows.get(name.lower())
        if row is not None:
            return row, "listed", 1.0
    for name in names:
        row = normal.get(normalise(name))
        if row is not None:
            return row, "listed (name normalised)", 1.0
    if entry.base in priced:
        base = priced[entry.base]
        return base[0], f"as its base {entry.base}: {base[1]}", base[2]
    return None


def build(data: Path) -> Catalog:
    listed, rules = read_prices(EXTRA_PRICES, data / "prices.csv")
    rows: dict[str, PriceRow] = {}
    normal: dict[str, PriceRow] = {}
    for row in listed:  # extra_prices.csv first: it wins over prices.csv
        for name in row.names:
            rows.setdefault(name.lower(), row)
            normal.setdefault(normalise(name), row)
    identities = read_identities()
    # Bases first, so that deployments can take their base's price.
    order = sorted(identities, key=lambda e: bool(e.base))
    priced: dict[str, tuple[PriceRow, str, float]] = {}
    unpriced = []
    for entry in order:
        found = _price(entry, rows, normal, rules, priced)
        if found is None:
            unpriced.append(entry.id)
        else:
            priced[entry.id] = found
    if unpriced:
        raise SystemExit(
            f"no price for {unpriced}; give them a price in scripts/model_ids.csv or a row in "
            "scripts/extra_prices.csv"
        )

    pointers = pointers_by_id(read_pointers(), (e.id for e in identities))
    specs = []
    for entry in sorted(identities, key=lambda e: e.id):
        row, how, factor = priced[entry.id]
        named = pointers.get(entry.id, [])
        size = parameters_b(entry.id) or parameters_b(row.canonical)
        params = size[0] if size else None
        latency, tier = latency_for(row.provider, row.usd_out * factor, params)
        batch = 0.5 if row.provider.startswith(("OpenAI", "Google")) else 0.0
        estimate = not how.startswith(("listed", "as its base")) or row.provider.startswith(
            "ESTIMATE"
        )
        source = f"{how}; {row.canonical}; {row.source}"
        if row.provider.startswith("ESTIMATE") and not source.startswith("ESTIMATE"):
            source = f"ESTIMATE: {source}"
        notes = [entry.notes] if entry.notes else []
        notes.extend(
            f"API name {p.name!r} pointed here as of {p.as_of} ({p.source}; confidence "
            f"{p.confidence})"
            for p in named
        )
        notes.append(
            f"latency: estimate ({tier}); context window: estimate unless documented; "
            f"batch discount: {'provider batch API, 50%' if batch else 'none listed'}"
        )
        specs.append(
            ModelSpec(
                id=entry.id,
                provider=row.provider,
                usd_per_1m_input=row.usd_in * factor,
                usd_per_1m_output=row.usd_out * factor,
                latency=latency,
                batch_discount=batch,
                context_window_tokens=context_for(entry.id, params),
                aliases=tuple(
                    sorted(
                        {*entry.spellings, *(p.name for p in named)} - {entry.id},
                        key=lambda n: (n.lower(), n),
                    )
                ),
                base=entry.base,
                price_as_of=(
                    row.as_of
                    if re.search(r"\d{4}", row.as_of)
                    else f"{row.as_of} (size-tier rows: {rules[0].as_of})".strip()
                ),
                price_source=source,
                price_confidence="low" if estimate else row.confidence,
                notes="; ".join(notes),
            )
        )
    catalog = Catalog(
        models=tuple(specs), version="2025-list-prices.1", source=str(DEFAULT_CATALOG)
    )
    check_resolves(catalog, dataset_models(data))
    return catalog


def check_resolves(catalog: Catalog, models_by_dataset: dict[str, list[str]]) -> None:
    """Fails, naming each one, on model names that resolve to no catalog id, and on two
    names of one dataset that resolve to the same id (their labels would be merged)."""
    problems = []
    for dataset, models in models_by_dataset.items():
        seen: dict[str, str] = {}
        for model in models:
            try:
                model_id = catalog.resolve(model)
            except CatalogError as error:
                problems.append(f"{dataset}: {error}")
                continue
            if model_id in seen:
                problems.append(
                    f"{dataset}: {seen[model_id]!r} and {model!r} both resolve to {model_id!r}; "
                    "one dataset's spellings must stay distinct models or deployments"
                )
            seen[model_id] = model
    if problems:
        raise SystemExit(
            "model names in the outcome logs that do not resolve to one catalog id each (add "
            "them to the spellings of their model in scripts/model_ids.csv):\n  "
            + "\n  ".join(problems)
        )


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the development data folder (with prices.csv)")
    parser.add_argument("--out", type=Path, default=DEFAULT_CATALOG)
    args = parser.parse_args(list(argv) if argv is not None else None)
    catalog = build(args.data)
    catalog.save(
        args.out,
        description=(
            "List prices (USD per 1M tokens) for the models in learned-router's development "
            "data, with provenance. Built by scripts/build_default_catalog.py from prices.csv."
        ),
    )
    Catalog.load(args.out)  # what we wrote must load back
    deployments = sum(1 for spec in catalog.models if spec.base)
    spellings = {m for models in dataset_models(args.data).values() for m in models}
    print(
        f"wrote {args.out}: {len(catalog.models) - deployments} models and {deployments} "
        f"deployments ({len(spellings)} dataset spellings), version {catalog.version}"
    )


if __name__ == "__main__":
    main()
