"""One identity per model: canonical ids, aliases, deployments (learned_router.catalog)
and the shipped catalog built from scripts/model_ids.csv + scripts/extra_prices.csv."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from learned_router.catalog import Catalog, name_variants, normalise_name
from learned_router.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]

#: Real spellings from the 11 development sets -> the canonical id they must resolve to.
SPELLINGS = {
    # RouterBench and MMLU-Pro: one Mixtral, two spellings (the example).
    "mistralai/mixtral-8x7b-chat": "mixtral-8x7b-instruct-v0.1",
    "Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b-instruct-v0.1",
    "Mixtral-8x7B-v0.1": "mixtral-8x7b-v0.1",  # base model: a different model
    "gpt4_1106_preview": "gpt-4-1106-preview",
    "gpt-4-1106-preview": "gpt-4-1106-preview",
    "GPT-4-Turbo-1106": "gpt-4-1106-preview",
    "GPT-4O-2024-08-06": "gpt-4o-2024-08-06",
    "gpt-4o-2024-08-06_openai_temp_1.0": "gpt-4o-2024-08-06",
    "gpt-4o-2024-05-13": "gpt-4o-2024-05-13",  # another date: another model
    "GPT-4O-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "claude-3-5-sonnet-20240620_bedrock_temp_1.0": "claude-3-5-sonnet-20240620",
    "Claude-3.5-Sonnet-20240620": "claude-3-5-sonnet-20240620",
    "Claude-3.5-Sonnet-20241022": "claude-3-5-sonnet-20241022",
    "Claude-3-Opus": "claude-3-opus-20240229",
    "claude-v2": "claude-2.0",
    "Claude-2": "claude-2.0",
    "claude-instant-v1": "claude-instant-1.2",
    "Meta-Llama-3_1-70B-Instruct": "llama-3.1-70b-instruct",
    "Meta-Llama-3.1-70B-Instruct": "llama-3.1-70b-instruct",
    "meta/llama-3.1-70b-instruct": "llama-3.1-70b-instruct",
    "meta-llama--Llama-3.1-70B-Instruct_vllm_temp_1.0": "llama-3.1-70b-instruct",
    "Meta-Llama-3_1-70B": "llama-3.1-70b",  # base vs instruct stay apart
    "meta-llama/Meta-Llama-3-8B": "llama-3-8b",
    "Meta-Llama-3-8B-Instruct": "llama-3-8b-instruct",
    "qwen/qwen2.5-7b-instruct": "qwen2.5-7b-instruct",
    "Qwen--Qwen2.5-7B-Instruct_vllm_temp_1.0": "qwen2.5-7b-instruct",
    "Qwen2.5-72B-Instruct": "qwen2.5-72b-instruct",
    "zero-one-ai/Yi-34B-Chat": "yi-34b-chat",
    "Yi-34B": "yi-34b",
    "O1-Mini-2024-09-12 (N=1)": "o1-mini-2024-09-12",
    "o1-mini-2024-09-12_openai_temp_1.0": "o1-mini-2024-09-12",
    "QwQ-32B-Preview (N=1)": "qwq-32b-preview",
    "Qwen--QwQ-32B-Preview_vllm_temp_1.0": "qwq-32b-preview",
    "Eurux-8x22b-NCA (n=1)": "eurux-8x22b-nca",
    "deepseek-chat-v3_openai_temp_1.0": "deepseek-v3",
    "DeepSeek-V3": "deepseek-v3",
    "Mistral-Large-2": "mistral-large-2407",
    "mistralai--Mistral-Large-Instruct-2407_vllm_temp_1.0": "mistral-large-2407",
    "DSCoder-33b-Ins": "deepseek-coder-33b-instruct",
    "DSCoder-33b-Base": "deepseek-coder-33b-base",
    "Cllama-34b-Ins": "codellama-34b-instruct",
    "meta/code-llama-instruct-34b-chat": "codellama-34b-instruct",
    "c4ai-command-r-v01": "command-r-03-2024",
    "Gemini-Pro-1.5-002": "gemini-1.5-pro-002",
    "gemini-1.5-pro-002_google_temp_1.0": "gemini-1.5-pro-002",
    "HuggingFaceH4/zephyr-7b-beta": "zephyr-7b-beta",
    "gemma-2-27b-it": "gemma-2-27b-it",
    "google--gemma-2-27b-it_vllm_temp_1.0": "gemma-2-27b-it",
    # Deployments: their own ids.
    "Llama-3.1-405B-Inst@sambanova": "llama-3.1-405b-instruct@sambanova",
    "Meta-Llama-3.1-405B-Instruct@hyperbolic": "llama-3.1-405b-instruct@hyperbolic",
    "Llama-3.1-405B-Instruct-Turbo": "llama-3.1-405b-instruct",
    "gemma-2-27b-it@together": "gemma-2-27b-it@together",
    "O3-Mini-2025-01-31 (High)": "o3-mini-2025-01-31(high)",
    "O3-Mini-2025-01-31 (Med)": "o3-mini-2025-01-31(medium)",
    "O4-Mini (Medium)": "o4-mini-2025-04-16(medium)",
    "O1-2024-12-17 (N=1) (Low)": "o1-2024-12-17(low)",
    "Claude-3.7-Sonnet (Thinking)": "claude-3-7-sonnet-20250219(thinking)",
    "Grok-3-Mini (High)": "grok-3-mini(high)",
    "gpt-3.5-turbo-1106_concise": "gpt-3.5-turbo-1106+concise",
    "Mixtral-8x7B-Instruct-v0.1_concise": "mixtral-8x7b-instruct-v0.1+concise",
    "o1-mini-2024-09-12_openai_temp_1.0-perf-instruct": "o1-mini-2024-09-12+perf-instruct",
    "vicuna-13b-v1.5-togetherai": "vicuna-13b-v1.5@together",
    "ultralm-13b-v2.0-best-of-16": "ultralm-13b-v2.0+best-of-16",
}

#: Names services send today (provider API names without a date, OpenRouter / LiteLLM
#: routing prefixes, Hugging Face repository ids) -> the canonical id. None is a dataset
#: spelling: they resolve through scripts/model_pointers.csv and name_variants.
API_NAMES = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "o1": "o1-2024-12-17(medium)",  # the API's default reasoning effort
    "o3-mini": "o3-mini-2025-01-31(medium)",
    "o4-mini": "o4-mini-2025-04-16(medium)",
    # A reasoning effort named after the pointer: that effort's deployment.
    "o3-mini (high)": "o3-mini-2025-01-31(high)",
    "openai/o3-mini-high": "o3-mini-2025-01-31(high)",  # OpenRouter's id
    "openrouter/openai/o4-mini-high": "o4-mini-2025-04-16(high)",
    "o4-mini:low": "o4-mini-2025-04-16(low)",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "openai/gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "openrouter/openai/gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "anthropic/claude-3.5-sonnet": "claude-3-5-sonnet-20241022",
    "anthropic/claude-3-opus": "claude-3-opus-20240229",
    "x-ai/grok-2-1212": "grok-2-1212",
    "google/gemini-2.5-pro": "gemini-2.5-pro",
    "qwen/qwen-2.5-72b-instruct": "qwen2.5-72b-instruct",
    "deepseek-ai/DeepSeek-V3": "deepseek-v3",
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "llama-3.1-70b-instruct",
    "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "meta-llama/Llama-2-70b-chat-hf": "llama-2-70b-chat",
    "codellama/CodeLlama-34b-Instruct-hf": "codellama-34b-instruct",
    "google/gemma-2-9b-it": "gemma-2-9b-it",
    "meta-llama/llama-3.1-405b-instruct@hyperbolic": "llama-3.1-405b-instruct@hyperbolic",
    # LiteLLM's host prefixes: the model's deployment on that host, at its price ...
    "together_ai/google/gemma-2-27b-it": "gemma-2-27b-it@together",
    "hyperbolic/meta-llama/Meta-Llama-3.1-70B-Instruct": "llama-3.1-70b-instruct@hyperbolic",
    "sambanova/Meta-Llama-3.1-405B-Instruct": "llama-3.1-405b-instruct@sambanova",
    # ... or the model itself where its catalog price is that host's list price.
    "together_ai/meta-llama/Meta-Llama-3.1-70B-Instruct": "llama-3.1-70b-instruct",
    # Claude resold on Amazon Bedrock and Google Vertex at Anthropic's list price.
    "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0": "claude-3-5-sonnet-20240620",
    "us.anthropic.claude-3-5-sonnet-20241022-v2:0": "claude-3-5-sonnet-20241022",
    "vertex_ai/claude-3-5-sonnet-v2@20241022": "claude-3-5-sonnet-20241022",
    "vertex_ai/claude-3-opus@20240229": "claude-3-opus-20240229",
    "bedrock/anthropic.claude-v2": "claude-2.0",
    "anthropic.claude-v2:1": "claude-2.1",
    "us.anthropic.claude-instant-v1": "claude-instant-1.2",
    "azure/gpt-4o": "gpt-4o-2024-08-06",
    "vertex_ai/gemini-1.5-pro-002": "gemini-1.5-pro-002",
    # Priced though in no development set, so add-model can take them.
    "gpt-4o-2024-11-20": "gpt-4o-2024-11-20",
    "gemini-2.0-flash": "gemini-2.0-flash-001",
    "deepseek-reasoner": "deepseek-r1",
    "deepseek-ai/DeepSeek-R1": "deepseek-r1",
    "mistral-large-latest": "mistral-large-2411",
    "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo": "llama-3.3-70b-instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct": "qwen2.5-coder-32b-instruct",
}

#: Deployment id -> the base whose weights it shares.
BASES = {
    "llama-3.1-405b-instruct@sambanova": "llama-3.1-405b-instruct",
    "o3-mini-2025-01-31(high)": "o3-mini-2025-01-31",
    "o4-mini-2025-04-16(medium)": "o4-mini-2025-04-16",
    "claude-3-7-sonnet-20250219(thinking)": "claude-3-7-sonnet-20250219",
    "gpt-3.5-turbo-1106+concise": "gpt-3.5-turbo-1106",
    "o1-mini-2024-09-12+perf-instruct": "o1-mini-2024-09-12",
    "gemma-2-27b-it@together": "gemma-2-27b-it",
}

#: Pairs that look alike but are different models (base/instruct, versions, sizes).
APART = [
    ("Mixtral-8x7B-v0.1", "Mixtral-8x7B-Instruct-v0.1"),
    ("Meta-Llama-3_1-8B", "Meta-Llama-3_1-8B-Instruct"),
    ("gpt4", "gpt4_0314"),  # both in alpacaeval1: AlpacaEval's 'gpt4' is kept apart
    ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06"),
    ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"),
    ("vicuna-13b", "vicuna-13b-v1.5"),
    ("Qwen2-7B-Instruct", "Qwen2.5-7B-Instruct"),
    ("DSCoder-6.7b-Base", "DSCoder-6.7b-Ins"),
    ("Yi-6B", "Yi-6b-Chat"),
    ("Mistral-7B-Instruct-v0.2", "Mistral-7B-Instruct-v0.1"),
]

MODEL: dict[str, Any] = {
    "provider": "acme",
    "usd_per_1m_input": 1.0,
    "usd_per_1m_output": 2.0,
    "latency": {"ttft_ms": 100.0, "output_tokens_per_s": 50.0},
}


def _catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": "t.1", "model": [{**copy.deepcopy(MODEL), **e} for e in entries]}


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.load()


@pytest.mark.parametrize(("name", "expected"), sorted(SPELLINGS.items()))
def test_real_spellings_resolve_to_their_canonical_id(
    shipped: Catalog, name: str, expected: str
) -> None:
    assert shipped.resolve(name) == expected
    # Case and spacing variants of the same spelling resolve alike.
    assert shipped.resolve(name.upper()) == expected
    assert shipped.resolve(f"  {name.lower()} ") == expected
    # The other way: the id lists the spelling as an alias (unless it is the id).
    spec = shipped.get(expected)
    assert spec.id == expected
    assert name == expected or name in spec.aliases


@pytest.mark.parametrize(("name", "expected"), sorted(API_NAMES.items()))
def test_api_names_and_routing_prefixes_resolve_to_their_canonical_id(
    shipped: Catalog, name: str, expected: str
) -> None:
    assert shipped.resolve(name) == expected
    assert shipped.resolve(name.upper()) == expected


def test_a_routing_prefix_is_dropped_only_when_the_full_name_names_nothing() -> None:
    catalog = Catalog.from_dict(
        _catalog(
            {"id": "m-7b", "aliases": ["acme/m-7b-chat"]},
            {"id": "m-7b-chat"},
            {"id": "m-7b-chat@host", "base": "m-7b-chat"},
            {"id": "n-1"},
            {"id": "n.1"},
        )
    )
    assert catalog.resolve("acme/m-7b-chat") == "m-7b"  # the full name is an alias
    assert catalog.resolve("other/m-7b-chat") == "m-7b-chat"  # prefix dropped
    assert catalog.resolve("openrouter/other/M-7B-Chat") == "m-7b-chat"
    assert catalog.resolve("other/m-7b-chat@host") == "m-7b-chat@host"  # the host stays
    with pytest.raises(CatalogError, match=r"matches several catalog models \('n-1', 'n.1'\)"):
        catalog.resolve("org/n_1")
    with pytest.raises(CatalogError, match=r"Did you mean 'm-7b-chat'"):
        catalog.resolve("org/m-7b-chatt")


def test_a_host_prefix_names_that_hosts_deployment_or_is_refused() -> None:
    """LiteLLM's ``hyperbolic/...`` is the model served by Hyperbolic at Hyperbolic's
    price. Dropping the prefix (the old rule) priced its tokens at whichever host the
    model's own entry lists: Llama 3.1 70B at Together's 0.88 USD per 1M instead of
    Hyperbolic's 0.40."""
    catalog = Catalog.from_dict(
        _catalog(
            {"id": "m-70b", "provider": "Together AI"},
            {"id": "m-70b@hyperbolic", "base": "m-70b", "provider": "Hyperbolic"},
            {"id": "n-8b", "provider": "Meta", "aliases": ["deepinfra/n-8b-literal"]},
        )
    )
    assert catalog.resolve("hyperbolic/org/M-70B") == "m-70b@hyperbolic"
    assert catalog.resolve("together_ai/org/m-70b") == "m-70b"  # its price is Together's
    assert catalog.resolve("openrouter/org/m-70b") == "m-70b"  # a router, not a host
    assert catalog.resolve("deepinfra/n-8b-literal") == "n-8b"  # an alias wins
    with pytest.raises(CatalogError) as refused:
        catalog.resolve("deepinfra/org/m-70b")
    message = str(refused.value)
    assert "no 'm-70b@deepinfra' deployment" in message
    assert "Together AI's list price" in message
    assert "'m-70b@hyperbolic'" in message  # the hosts it has
    assert not catalog.knows("groq/n-8b")
    with pytest.raises(CatalogError, match=r"no 'n-8b@bedrock' deployment"):
        catalog.resolve("bedrock/meta.n-8b-v1:0")
    with pytest.raises(CatalogError, match=r"'groq/nothing-1b' is not in the catalog"):
        catalog.resolve("groq/nothing-1b")


def test_the_shipped_catalog_refuses_a_host_it_has_no_price_for(shipped: Catalog) -> None:
    with pytest.raises(CatalogError, match=r"no 'llama-3.1-70b-instruct@deepinfra' deployment"):
        shipped.resolve("deepinfra/meta-llama/Meta-Llama-3.1-70B-Instruct")
    with pytest.raises(CatalogError, match=r"no 'llama-3.1-70b-instruct@bedrock' deployment"):
        shipped.resolve("bedrock/meta.llama3-1-70b-instruct-v1:0")


def test_hugging_face_repository_spellings_are_undone() -> None:
    assert name_variants("meta-llama/Meta-Llama-3.1-8B-Instruct") == [
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "Meta-Llama-3.1-8B-Instruct",
        "Llama-3.1-8B-Instruct",
    ]
    assert name_variants("meta-llama/Llama-2-7b-chat-hf@together")[-1] == "Llama-2-7b-chat@together"
    assert name_variants("gpt-4o") == ["gpt-4o"]
    catalog = Catalog.from_dict(_catalog({"id": "llama-2-7b-chat"}, {"id": "metamath-7b"}))
    assert catalog.resolve("meta-llama/Llama-2-7b-chat-hf") == "llama-2-7b-chat"
    assert catalog.resolve("MetaMath-7B") == "metamath-7b"  # only "Meta-" before "Llama"


def test_each_api_name_pointer_names_its_snapshot_with_a_source(shipped: Catalog) -> None:
    pointers = _builder().read_pointers()
    assert len(pointers) >= 10
    for pointer in pointers:
        spec = shipped.get(pointer.id)
        assert shipped.resolve(pointer.name) == pointer.id
        assert pointer.name in spec.aliases
        assert f"API name {pointer.name!r} pointed here as of {pointer.as_of}" in spec.notes
        assert re.search(r"https://\S+", pointer.source), pointer
        assert re.fullmatch(r"\d{4}-\d{2}", pointer.as_of), pointer
        assert pointer.confidence in {"high", "medium", "low"}, pointer


def test_the_pointer_table_refuses_unknown_ids_and_repeated_names() -> None:
    builder = _builder()
    row = builder.Pointer("gpt-4o", "gpt-4o-2024-08-06", "https://x", "2025-04", "high")
    assert builder.pointers_by_id([row], ["gpt-4o-2024-08-06"]) == {"gpt-4o-2024-08-06": [row]}
    with pytest.raises(SystemExit, match=r"'gpt-4o' points at 'gpt-4o-2024-08-06', which is not"):
        builder.pointers_by_id([row], ["other"])
    with pytest.raises(SystemExit, match=r"'GPT-4o' is listed twice"):
        builder.pointers_by_id([row, replace(row, name="GPT-4o")], ["gpt-4o-2024-08-06"])


@pytest.mark.parametrize(("a", "b"), APART)
def test_look_alike_models_stay_apart(shipped: Catalog, a: str, b: str) -> None:
    assert shipped.resolve(a) != shipped.resolve(b)


def test_every_alias_resolves_to_exactly_its_own_entry(shipped: Catalog) -> None:
    owners: dict[str, str] = {}
    loose: dict[str, set[str]] = {}
    for spec in shipped.models:
        assert spec.id == spec.id.strip().lower(), f"id {spec.id!r} is not lower case"
        for name in (spec.id, *spec.aliases):
            owner = owners.get(name.lower(), spec.id)
            assert owner == spec.id, f"{name!r} names both {owner} and {spec.id}"
            owners[name.lower()] = spec.id
            assert shipped.resolve(name) == spec.id
            loose.setdefault(normalise_name(name), set()).add(spec.id)
    # The loose (punctuation-blind) match is unambiguous for every shipped name.
    assert {k: v for k, v in loose.items() if len(v) > 1} == {}


def test_loose_match_ignores_punctuation_only_when_it_names_one_model() -> None:
    catalog = Catalog.from_dict(
        _catalog({"id": "llama-3.1-8b-instruct"}, {"id": "a-b"}, {"id": "ab", "aliases": ["x"]})
    )
    assert catalog.resolve("Meta_Llama 3.1 8B.Instruct".replace("Meta_", "")) == (
        "llama-3.1-8b-instruct"
    )
    assert catalog.resolve("LLAMA_3_1_8B_INSTRUCT") == "llama-3.1-8b-instruct"
    assert catalog.resolve("ab") == "ab"  # exact names win over loose matches
    with pytest.raises(CatalogError, match=r"'a_b' matches several catalog models \('a-b', 'ab'\)"):
        catalog.resolve("a_b")


def test_unknown_names_are_refused_naming_the_closest_ids(shipped: Catalog) -> None:
    with pytest.raises(CatalogError, match=r"'gpt-4o-2024-08-07' is not in the catalog") as error:
        shipped.resolve("gpt-4o-2024-08-07")
    assert "'gpt-4o-2024-08-06'" in str(error.value)
    assert "Adding a model" in str(error.value)
    with pytest.raises(CatalogError, match=r"2 model name\(s\) not in the catalog") as many:
        shipped.resolve_all(["gpt4_1106_preview", "clade-3-opus", "no-such-model-xyz"])
    assert "'clade-3-opus'" in str(many.value)
    assert "'no-such-model-xyz'" in str(many.value)
    assert "claude-3-opus" in str(many.value)


def test_an_effort_suffix_needs_an_effort_deployment_of_what_it_follows() -> None:
    catalog = Catalog.from_dict(
        _catalog(
            {"id": "r-2025", "aliases": ["r"]},
            {"id": "r-2025(high)", "base": "r-2025"},
            {"id": "r-2025(medium)", "base": "r-2025"},
            {"id": "chat-high"},
            {"id": "plain"},
        )
    )
    assert catalog.resolve("r (High)") == "r-2025(high)"
    assert catalog.resolve("r-2025-high") == "r-2025(high)"
    assert catalog.resolve("vendor/r (med)") == "r-2025(medium)"
    assert catalog.resolve("chat-high") == "chat-high"  # a real name wins
    for refused in ("r (low)", "plain-high", "plain (high)"):
        with pytest.raises(CatalogError, match="is not in the catalog"):
            catalog.resolve(refused)


def test_mapping_and_resolve_all_map_whole_lists(shipped: Catalog) -> None:
    names = ["mistralai/mixtral-8x7b-chat", "Mixtral-8x7B-Instruct-v0.1", "GPT-4-Turbo-1106"]
    assert shipped.resolve_all(names) == [
        "mixtral-8x7b-instruct-v0.1",
        "mixtral-8x7b-instruct-v0.1",
        "gpt-4-1106-preview",
    ]
    assert shipped.mapping([*names, names[0]]) == dict(
        zip(names, shipped.resolve_all(names), strict=True)
    )


def test_an_alias_claimed_by_two_ids_is_refused() -> None:
    raw = _catalog(
        {"id": "model-a", "aliases": ["shared"]}, {"id": "model-b", "aliases": ["SHARED"]}
    )
    with pytest.raises(CatalogError, match=r"'SHARED' is used by both 'model-a' and 'model-b'"):
        Catalog.from_dict(raw)
    raw = _catalog({"id": "model-a"}, {"id": "model-b", "aliases": ["Model-A"]})
    with pytest.raises(CatalogError, match="names and aliases must be unique"):
        Catalog.from_dict(raw)


def test_a_base_must_be_an_existing_id() -> None:
    ok = Catalog.from_dict(_catalog({"id": "m"}, {"id": "m@host", "base": "m"}))
    assert ok.base_of("m@host") == "m"
    assert ok.base_of("m") == "m"
    assert ok.deployments_of("M") == ("m@host",)
    with pytest.raises(CatalogError, match=r"'m@host' has base 'n', which is not the id"):
        Catalog.from_dict(_catalog({"id": "m"}, {"id": "m@host", "base": "n"}))
    with pytest.raises(CatalogError, match=r"Closest ids: 'model-1'"):
        Catalog.from_dict(_catalog({"id": "model-1"}, {"id": "d", "base": "model-2"}))
    # An alias is not enough: a base names the id.
    with pytest.raises(CatalogError, match="A base must be a catalog id"):
        Catalog.from_dict(_catalog({"id": "m", "aliases": ["mm"]}, {"id": "d", "base": "mm"}))
    with pytest.raises(CatalogError, match="names itself as its base"):
        Catalog.from_dict(_catalog({"id": "m", "base": "m"}))
    with pytest.raises(CatalogError, match="base must be a string"):
        Catalog.from_dict(_catalog({"id": "m"}, {"id": "d", "base": 3}))


def test_base_survives_a_toml_round_trip_and_old_catalogs_still_load(tmp_path: Path) -> None:
    catalog = Catalog.from_dict(_catalog({"id": "m"}, {"id": "m(high)", "base": "m"}))
    path = catalog.save(tmp_path / "c.toml")
    assert 'base = "m"' in path.read_text()
    assert Catalog.load(path).get("m(high)").base == "m"
    # A catalog written before `base` existed loads, every entry its own base.
    old_path = tmp_path / "old.toml"
    old_path.write_text(
        'version = "2024.1"\n\n[[model]]\nid = "mistralai/mixtral-8x7b-chat"\n'
        'provider = "Together AI"\nusd_per_1m_input = 0.6\nusd_per_1m_output = 0.6\n'
        "latency = { ttft_ms = 300.0, output_tokens_per_s = 80.0 }\n"
    )
    old = Catalog.load(old_path)
    assert all(spec.base == "" for spec in old.models)
    assert old.base_of("mistralai/mixtral-8x7b-chat") == "mistralai/mixtral-8x7b-chat"


def test_shipped_deployments_have_an_existing_base(shipped: Catalog) -> None:
    ids = set(shipped.ids)
    deployments = [spec for spec in shipped.models if spec.base]
    assert len(deployments) >= 25
    for spec in deployments:
        assert spec.base in ids, spec.id
        assert shipped.get(spec.base).base == "", spec.id  # no deployment of a deployment
        # The id says which kind of deployment it is.
        assert re.search(r"(@[a-z]+|\((low|medium|high|thinking)\)|\+[a-z0-9-]+)$", spec.id), (
            spec.id
        )
        assert spec.id.startswith(spec.base), spec.id
    for deployment, base in BASES.items():
        assert shipped.base_of(deployment) == base
    assert set(shipped.deployments_of("o3-mini-2025-01-31")) == {
        "o3-mini-2025-01-31(low)",
        "o3-mini-2025-01-31(medium)",
        "o3-mini-2025-01-31(high)",
    }


def test_every_shipped_entry_has_a_price_with_source_and_date(shipped: Catalog) -> None:
    for spec in shipped.models:
        assert spec.price_source, spec.id
        assert re.search(r"\d{4}", spec.price_as_of), spec.id
        assert spec.price_confidence in ("high", "medium", "low"), spec.id
        assert spec.usd_per_1m_input > 0, spec.id
        assert spec.usd_per_1m_output > 0, spec.id
        if "ESTIMATE" in spec.price_source or "size tier" in spec.price_source:
            assert spec.price_confidence == "low", spec.id
    # Spot checks of list prices (USD per 1M input / output tokens).
    expected = {
        "gpt-4o-2024-08-06": (2.5, 10.0),
        "gpt-4o-2024-05-13": (5.0, 15.0),
        "o1-preview-2024-09-12": (15.0, 60.0),
        "o3-mini-2025-01-31(high)": (1.1, 4.4),
        "claude-3-5-sonnet-20241022": (3.0, 15.0),
        "claude-3-5-haiku-20241022": (0.8, 4.0),
        "gemini-2.5-pro": (1.25, 10.0),
        "deepseek-v3": (0.27, 1.1),
        "llama-3.1-405b-instruct": (3.5, 3.5),
    }
    for model, prices in expected.items():
        spec = shipped.get(model)
        assert (spec.usd_per_1m_input, spec.usd_per_1m_output) == pytest.approx(prices), model
    # Reasoning models say that hidden reasoning tokens are billed as output.
    for model in ("o1-mini-2024-09-12", "o4-mini-2025-04-16(high)", "gemini-2.5-pro"):
        assert "billed as output" in shipped.get(model).notes, model


def test_costs_by_raw_log_names_price_the_canonical_model(shipped: Catalog) -> None:
    raw = shipped.prices(["gpt4_1106_preview", "GPT-4-Turbo-1106", "mistralai/mixtral-8x7b-chat"])
    canonical = shipped.prices(
        ["gpt-4-1106-preview", "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"]
    )
    for key in raw:
        assert raw[key].tolist() == canonical[key].tolist()


def _builder() -> ModuleType:
    path = ROOT / "scripts" / "build_default_catalog.py"
    spec = importlib.util.spec_from_file_location("build_default_catalog", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_default_catalog", module)
    spec.loader.exec_module(module)
    return module


def test_the_builder_fails_loudly_on_unresolvable_or_merged_names(shipped: Catalog) -> None:
    builder = _builder()
    builder.check_resolves(shipped, {"evalperf": ["gpt-4o-2024-08-06_openai_temp_1.0"]})
    with pytest.raises(SystemExit, match=r"evalperf: model 'gpt-5-imaginary_openai_temp_1.0'"):
        builder.check_resolves(
            shipped,
            {"evalperf": ["gpt-4o-2024-08-06_openai_temp_1.0", "gpt-5-imaginary_openai_temp_1.0"]},
        )
    with pytest.raises(
        SystemExit, match=r"'gpt4_1106_preview' and 'GPT-4-Turbo-1106' both resolve"
    ):
        builder.check_resolves(shipped, {"x": ["gpt4_1106_preview", "GPT-4-Turbo-1106"]})


def test_the_identity_table_is_the_shipped_catalog(shipped: Catalog) -> None:
    """scripts/model_ids.csv and the committed catalog agree (run `make catalog` after editing)."""
    builder = _builder()
    rows = builder.read_identities()
    pointers = builder.pointers_by_id(builder.read_pointers(), (row.id for row in rows))
    assert sorted(row.id for row in rows) == sorted(shipped.ids)
    for row in rows:
        spec = shipped.get(row.id)
        assert spec.base == row.base
        named = {p.name for p in pointers.get(row.id, [])}
        assert set(row.spellings) - {row.id} | named == set(spec.aliases)


def test_a_bundle_with_old_raw_names_routes_under_canonical_ids(
    shipped: Catalog, tmp_path: Path
) -> None:
    """A bundle trained before ids were canonical knows models by raw log names; under the
    canonical catalog its heads are found through the aliases, two spellings of one model
    become one column (the first head serves), and candidates may be given in any spelling."""
    sys.path.insert(0, str(ROOT / "tests"))
    from bundles import make_tiny_bundle
    from learned_router.bundle import Bundle
    from learned_router.router import Router

    raw = ("gpt4_1106_preview", "mistralai/mixtral-8x7b-chat", "claude-2", "claude-v2")
    folder = make_tiny_bundle(tmp_path / "old", models=raw)
    assert shipped.resolve("claude-2") == shipped.resolve("claude-v2")
    new = Router.load(folder, catalog=shipped)
    # Spellings of one model collapsed into one column.
    assert sorted(new.models) == sorted({shipped.resolve(name) for name in raw})
    assert "mistralai/mixtral-8x7b-chat" not in new.models
    prompts = ["Write a haiku about routers.", "Review this contract clause."]
    heads = Bundle.load(folder).scorer().p_success(prompts, ["gpt4_1106_preview", "claude-2"])
    p_new = new.predict(prompts, models=["GPT-4-Turbo-1106", "claude-2.0"])
    assert p_new.ravel().tolist() == pytest.approx(heads.ravel().tolist(), abs=1e-9)
    decision = new.route(
        prompts[0],
        min_quality=0.5,
        candidates=["gpt4_1106_preview", "GPT-4-Turbo-1106", "mistralai/mixtral-8x7b-chat"],
    )
    assert {c.model for c in decision.candidates} == {
        shipped.resolve("gpt4_1106_preview"),
        shipped.resolve("mistralai/mixtral-8x7b-chat"),
    }


def test_the_shipped_router_takes_todays_api_names_as_candidates() -> None:
    """On the shipped bundle (its own catalog.toml): candidates named the way services name
    them today route under their canonical ids, and a base without a head of its own says
    which of its deployments to name instead."""
    from learned_router.bundle import DEFAULT_BUNDLE
    from learned_router.errors import InvalidInputError
    from learned_router.router import Router

    router = Router.load(DEFAULT_BUNDLE, capacity=False, threads=1)
    names = ["gpt-4o", "openrouter/openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"]
    decision = router.route("What is 17 * 23?", candidates=names)
    assert {c.model for c in decision.candidates} == {
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "claude-3-5-sonnet-20241022",
    }
    assert router.route("What is 17 * 23?", candidates=["o1", "o4-mini"]).model in {
        "o1-2024-12-17(medium)",
        "o4-mini-2025-04-16(medium)",
    }
    base = "O1-2024-12-17"
    refused = rf"'{base}' \('o1-2024-12-17'\) .* no quality head"
    with pytest.raises(InvalidInputError, match=refused):
        router.route("What is 17 * 23?", candidates=[base, "gpt-4o"])
    with pytest.raises(InvalidInputError, match=r"'o1-2024-12-17\(medium\)'"):
        router.route("What is 17 * 23?", candidates=[base, "gpt-4o"])
    with pytest.raises(InvalidInputError, match=r"unknown model 'gpt-9' .* Did you mean"):
        router.route("What is 17 * 23?", candidates=["gpt-9", "gpt-4o"])


def test_names_merged_into_one_model_within_a_dataset_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A routing prefix is dropped to resolve a name, so two organisations' models of one
    name become one model: the load says so, naming the dataset and the names."""
    import json
    import logging

    from learned_router.data import load

    catalog = Catalog.from_dict(_catalog({"id": "m-7b-chat"}, {"id": "other"}))
    path = tmp_path / "chat.jsonl"
    rows = [
        {"prompt_id": str(i), "prompt": f"q{i}", "model": name, "quality": q}
        for i in range(5)
        for name, q in (("org-a/m-7b-chat", 1.0), ("org-b/M-7B-Chat", 0.0), ("other", 0.5))
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with caplog.at_level(logging.WARNING, logger="learned_router.data.log"):
        log = load(path).with_catalog_names(catalog)
    assert sorted(log.models) == ["m-7b-chat", "other"]
    assert log.outcomes.column("quality").to_pylist().count(0.5) == 10  # merged: mean 0.5
    [record] = [r for r in caplog.records if "merged" in r.getMessage()]
    assert "dataset 'chat'" in record.getMessage()
    assert "'org-a/m-7b-chat', 'org-b/M-7B-Chat'" in record.getMessage()


def test_the_benchmarks_bundle_predictor_knows_which_models_it_covers() -> None:
    from learned_router.bundle import DEFAULT_BUNDLE
    from learned_router.routing_benchmark.learned import BundlePredictor

    predictor = BundlePredictor(DEFAULT_BUNDLE)
    assert predictor.covers("gpt-4o")
    assert predictor.covers("anthropic/claude-3.5-sonnet")
    assert not predictor.covers("o4-mini-2025-04-16")  # a base: its effort settings have heads
    assert predictor.covers("O4-Mini (Medium)")
    assert predictor.covers("o4-mini")  # the API name: the default effort, medium
    assert not predictor.covers("llama-3.3-70b-instruct")  # not in the catalog
