"""Builds the shipped catalog (src/learned_router/assets/catalog.toml).

Input: the price table ``prices.csv`` of the development data and the model
names used in its outcome logs. Every model name in the logs gets a catalog
entry, priced in this order (the entry's ``price_source`` says which applied):

1. a listed price: the name is one of the spellings in ``prices.csv``'s
   ``model`` column (case-insensitive), directly or after normalising
   (organisation prefix dropped, ``_`` read as ``.``/``-``, ``-hf`` and
   answer-style suffixes such as ``_concise`` removed);
2. a hand-mapped equivalent in :data:`EQUIVALENTS` (e.g. ``chatgpt`` is the
   ``gpt-3.5-turbo`` of its time), each with the reason;
3. the size-tier ``RULE:`` rows of ``prices.csv`` (Together AI's price per
   parameter-count tier), with the parameter count read from the name (or :data:`KNOWN_SIZES_B`);
4. otherwise the build fails and names the model.

Latency profiles and context windows are not in the price table; they are
tier estimates (see :func:`latency_for`), marked as such in ``notes``.

Run: ``python data/build_default_catalog.py ../shared/data`` (``make catalog``).
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

#: Names in the logs that are a listed model under another name, with why.
EQUIVALENTS = {
    "chatgpt": ("gpt-3.5-turbo-0613", "AlpacaEval's 'chatgpt' is gpt-3.5-turbo (2023)"),
    "gpt-3.5-turbo-0301": ("gpt-3.5-turbo-0613", "0301 had the same list price as 0613"),
    "gpt35_turbo_instruct": ("gpt-3.5-turbo-0613", "gpt-3.5-turbo-instruct: $1.5/$2, as 0613"),
    "gpt4_turbo": ("gpt-4-turbo-2024-04-09", "AlpacaEval's gpt4_turbo is GPT-4 Turbo"),
    "gpt4_gamed": ("gpt-4-0613", "GPT-4 with adversarial outputs; same model and price"),
    "gpt4_0613_concise": ("gpt-4-0613", "GPT-4 0613 asked for concise answers"),
    "claude": ("claude-v1", "AlpacaEval's 'claude' is Claude 1"),
    "claude-2.1_concise": ("claude-2.1", "Claude 2.1 asked for concise answers"),
    "mistral": ("Mistral-7B-Instruct-v0.1", "AlpacaEval's 'mistral' is Mistral-7B-Instruct"),
    "deepseek-coder-v2": (
        "DeepSeek-Coder-V2-Instruct",
        "MMLU-Pro's DeepSeek-Coder-V2 is the 236B MoE",
    ),
    "text_davinci_003": (
        "gpt-3.5-turbo-0613",
        "ESTIMATE: davinci-003 was $20/1M; retired, priced as its successor",
    ),
    "text_davinci_001": (
        "gpt-3.5-turbo-0613",
        "ESTIMATE: davinci-001 retired; priced as gpt-3.5-turbo",
    ),
    "cohere": ("command-r", "ESTIMATE: AlpacaEval's 'cohere' (2023 command); priced as command-r"),
    "jina-chat": ("gpt-3.5-turbo-0613", "ESTIMATE: jina-chat was a gpt-3.5-based service"),
    "example": ("gpt-3.5-turbo-0613", "ESTIMATE: AlpacaEval's 'example' outputs came from gpt-3.5"),
    "alpaca-farm-ppo-human": ("alpaca-7b", "AlpacaFarm PPO fine-tune of LLaMA-7B"),
    "alpaca-farm-ppo-sim-gpt4-20k": ("alpaca-7b", "AlpacaFarm PPO fine-tune of LLaMA-7B"),
    "cohere-command": ("command-r", "ESTIMATE"),
}
#: Parameter counts (billions) of open models whose names do not say.
KNOWN_SIZES_B = {"phi-2": 2.7, "mistral-orpo-beta": 7.2}
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


def read_prices(path: Path) -> tuple[list[PriceRow], list[PriceRow]]:
    """(listed rows, RULE: size-tier rows) of prices.csv."""
    listed, rules = [], []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
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


def context_for(name: str, params: float | None) -> int:
    lowered = name.lower()
    known = {
        "gpt-4-1106": 128_000,
        "gpt-4-turbo": 128_000,
        "gpt-4o": 128_000,
        "gpt4_turbo": 128_000,
        "gpt-3.5-turbo-1106": 16_385,
        "gpt-4-0613": 8_192,
        "gpt4": 8_192,
        "claude-2": 100_000,
        "claude-v2": 100_000,
        "claude-3": 200_000,
        "claude-instant": 100_000,
        "claude-v1": 100_000,
        "gemini-1.5": 1_000_000,
        "gemini-2.0": 1_000_000,
        "llama-3.1": 128_000,
        "llama-3_1": 128_000,
        "llama-3": 8_192,
        "llama-2": 4_096,
        "mixtral": 32_768,
        "qwen2.5": 32_768,
        "gemma-2": 8_192,
    }
    for prefix, window in known.items():
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


def model_key(name: str) -> str:
    """Names with the same key are spellings of one model: lower case, no
    organisation prefix or hosting suffix, only letters and digits
    ("Meta-Llama-3_1-8B-Instruct" = "meta/llama-3.1-8b-instruct")."""
    name = name.strip().lower().split("/")[-1].replace("3_1", "3.1")
    for suffix in ("-hf", "-togetherai"):  # where it is hosted, not what it is
        name = name.removesuffix(suffix)
    # Answer styles (_concise, _verbose, -best-of-16) stay distinct models: the
    # same weights, but different systems to route to.
    return re.sub(r"[^a-z0-9]", "", name.removeprefix("meta-"))


def build(data: Path) -> Catalog:
    listed, rules = read_prices(data / "prices.csv")
    by_name = {n.lower(): row for row in listed for n in row.names}
    by_normal = {normalise(n): row for row in listed for n in row.names}
    groups: dict[str, list[str]] = {}
    for model in sorted({m for models in dataset_models(data).values() for m in models}):
        groups.setdefault(model_key(model), []).append(model)
    # One entry per model (a group of spellings). A price row of prices.csv may
    # list several models (e.g. Mistral-7B base and instruct): each gets its
    # own entry at that price, since the router must tell them apart.
    entries: dict[str, tuple[PriceRow, str, list[str]]] = {}  # id -> (row, how, aliases)
    unresolved = []
    for names in groups.values():
        row, how = None, ""
        for model in names:
            row, how = by_name.get(model.lower()), "listed"
            if row is None:
                row, how = by_normal.get(normalise(model)), "listed (name normalised)"
            if row is not None:
                break
        if row is None:
            for model in names:
                equivalent = EQUIVALENTS.get(model.lower()) or EQUIVALENTS.get(normalise(model))
                if equivalent is not None:
                    target, reason = equivalent
                    row, how = by_name[target.lower()], f"equivalent of {target}: {reason}"
                    break
        if row is None:
            size = parameters_b(names[0])
            if size is not None:
                row = rule_for(size[0], size[1], rules)
                tier = row.names[0].removeprefix("RULE:")
                how = f"ESTIMATE: size tier {tier} ({size[0]:g}B read from the name)"
        if row is None:
            unresolved.extend(names)
            continue
        # The id: the price table's spelling if it is one of ours, else ours.
        spelled = [n for n in row.names if model_key(n) == model_key(names[0])]
        key = spelled[0] if spelled and how.startswith("listed") else names[0]
        aliases = sorted({*names, *spelled} - {key}, key=str.lower)
        entries[key] = (row, how, aliases)
    if unresolved:
        raise SystemExit(f"no price for {unresolved}; add them to EQUIVALENTS or prices.csv")

    specs = []
    for key, (row, how, aliases) in sorted(entries.items(), key=lambda kv: kv[0].lower()):
        size = parameters_b(key) or parameters_b(row.canonical)
        params = size[0] if size else None
        latency, tier = latency_for(row.provider, row.usd_out, params)
        batch = 0.5 if row.provider.startswith(("OpenAI", "Google")) else 0.0
        # Best-of-n sampling generates n answers (and reads the prompt n times).
        best_of = re.search(r"best-of-(\d+)", key)
        factor = float(best_of.group(1)) if best_of else 1.0
        if best_of:
            how += f"; x{factor:g} for best-of-{factor:g} sampling"
        specs.append(
            ModelSpec(
                id=key,
                provider=row.provider,
                usd_per_1m_input=row.usd_in * factor,
                usd_per_1m_output=row.usd_out * factor,
                latency=latency,
                batch_discount=batch,
                context_window_tokens=context_for(key, params),
                aliases=tuple(aliases),
                price_as_of=row.as_of,
                price_source=f"{how}; {row.canonical}; {row.source}",
                price_confidence=row.confidence if how.startswith("listed") else "low",
                notes=(
                    f"latency: estimate ({tier}); context window: estimate unless documented; "
                    f"batch discount: {'provider batch API, 50%' if batch else 'none listed'}"
                ),
            )
        )
    return Catalog(models=tuple(specs), version="2024-list-prices.1", source=str(DEFAULT_CATALOG))


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
    print(f"wrote {args.out}: {len(catalog.models)} models, version {catalog.version}")


if __name__ == "__main__":
    main()
