"""The model catalog: validation, lookups, amortised prices (learned_router.catalog)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from learned_router.catalog import Catalog, SelfHosting
from learned_router.errors import CatalogError

BASE: dict[str, Any] = {
    "version": "test.1",
    "model": [
        {
            "id": "frontier",
            "aliases": ["Frontier-Latest"],
            "provider": "acme",
            "usd_per_1m_input": 10.0,
            "usd_per_1m_output": 30.0,
            "usd_per_1m_cached_input": 5.0,
            "batch_discount": 0.5,
            "context_window_tokens": 128000,
            "price_as_of": "2024-06",
            "price_source": "acme.com/pricing",
            "latency": {"ttft_ms": 500.0, "output_tokens_per_s": 40.0},
        },
        {
            "id": "ours-8b",
            "provider": "self",
            "self_hosted": True,
            "latency": {"ttft_ms": 100.0, "output_tokens_per_s": 90.0},
            "hosting": {
                "hardware_usd_per_hour": 2.0,
                "power_kw": 0.7,
                "usd_per_kwh": 0.15,
                "utilisation": 0.5,
                "input_tokens_per_s": 20000.0,
                "output_tokens_per_s": 1000.0,
                "max_concurrent_requests": 16,
            },
        },
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    target: Any = raw
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return raw


_DELETE = object()


def test_shipped_catalog_loads_with_provenance() -> None:
    catalog = Catalog.load()
    assert len(catalog.models) > 100
    gpt4 = catalog.get("gpt-4-1106-preview")
    assert (gpt4.usd_per_1m_input, gpt4.usd_per_1m_output) == (10.0, 30.0)
    assert gpt4.price_source
    assert gpt4.price_as_of
    assert all(spec.price_source for spec in catalog.models)
    # Spellings from the logs resolve to one entry.
    assert catalog.resolve("Meta-Llama-3_1-70B-Instruct") == catalog.resolve(
        "Meta-Llama-3.1-70B-Instruct"
    )


def test_lookup_is_case_insensitive_and_by_alias() -> None:
    catalog = Catalog.from_dict(BASE)
    assert catalog.get("frontier-latest").id == "frontier"
    assert catalog.knows("FRONTIER")
    assert not catalog.knows("frontier-2")
    with pytest.raises(CatalogError, match=r"not in the catalog.*Did you mean 'frontier'"):
        catalog.get("frontiers")


def test_amortised_price_matches_the_documented_formula() -> None:
    catalog = Catalog.from_dict(BASE)
    ours = catalog.get("ours-8b")
    hourly = 2.0 + 0.7 * 0.15  # hardware + power
    assert ours.usd_per_1m_output == pytest.approx(hourly / (3600 * 0.5 * 1000.0) * 1e6)
    assert ours.usd_per_1m_input == pytest.approx(hourly / (3600 * 0.5 * 20000.0) * 1e6)
    assert ours.usd_per_1m_output == pytest.approx(1.1694444, rel=1e-6)
    hosting = SelfHosting(1.0, 0.0, 0.0, 1.0, 3600.0, 3600.0)
    assert hosting.usd_per_1m(3600.0) == pytest.approx(1e6 / 3600 / 3600)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("model.0.usd_per_1m_input", -1.0, "usd_per_1m_input = -1.0 must be finite and >= 0"),
        ("model.0.usd_per_1m_output", "cheap", "must be a number"),
        ("model.0.price", 3.0, "unknown model field 'price'"),
        ("model.0.usd_per_1m_inptu", 3.0, "did you mean 'usd_per_1m_input'"),
        ("model.0.batch_discount", 1.0, "batch_discount"),
        ("model.0.latency", {"ttft_ms": 1.0}, "latency.output_tokens_per_s"),
        ("model.0.latency", {"ttft_ms": 1.0, "output_tokens_per_s": 0.0}, "must be finite and > 0"),
        ("model.0.usd_per_1m_input", _DELETE, "usd_per_1m_input is missing"),
        ("model.1.hosting.utilisation", 1.5, "utilisation"),
        ("model.1.hosting.utilisation", 0.0, "utilisation = 0.0 must be finite and > 0"),
        ("model.1.hosting.power_kw", _DELETE, "hosting.power_kw is missing"),
        ("model.1.hosting.gpus", 8, "unknown hosting field 'gpus'"),
        ("model.1.usd_per_1m_output", 1.0, "derived from [model.hosting]"),
        ("model.1.aliases", ["frontier-latest"], "used by both"),
        ("version", "", "version"),
        ("colour", "blue", "unknown top-level field 'colour'"),
    ],
)
def test_invalid_catalogs_are_rejected_with_a_located_message(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(CatalogError) as info:
        Catalog.from_dict(_with(path, value), source="prices.toml")
    assert message in str(info.value)
    if path.startswith("model.") and "used by both" not in message:
        assert "prices.toml: model #" in str(info.value)


def test_toml_round_trip(tmp_path: Path) -> None:
    catalog = Catalog.from_dict(BASE)
    path = catalog.save(tmp_path / "catalog.toml")
    again = Catalog.load(path)
    assert again.models == catalog.models
    assert again.version == catalog.version


def test_bad_files_are_catalog_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such catalog"):
        Catalog.load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("version = \n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.load(tmp_path / "bad.toml")


def test_price_updates_make_a_new_version_and_leave_the_old_intact() -> None:
    catalog = Catalog.from_dict(BASE)
    cheaper = catalog.with_prices({"frontier": {"usd_per_1m_input": 2.5}}, version="test.2")
    assert cheaper.version == "test.2"
    assert cheaper.get("frontier").usd_per_1m_input == 2.5
    assert catalog.get("frontier").usd_per_1m_input == 10.0
    assert catalog.with_prices({"frontier": {"batch_discount": 0.2}}).version == "test.1+1"
    with pytest.raises(CatalogError, match="unknown price field"):
        catalog.with_prices({"frontier": {"context_window_tokens": 1}})
    with pytest.raises(CatalogError, match="must be finite and >= 0"):
        catalog.with_prices({"frontier": {"usd_per_1m_output": -2.0}})
    with pytest.raises(CatalogError, match="self-hosted"):
        catalog.with_prices({"ours-8b": {"usd_per_1m_output": 0.1}})


def test_price_arrays_follow_the_requested_order() -> None:
    prices = Catalog.from_dict(BASE).prices(["ours-8b", "Frontier-Latest"])
    assert prices["output"][1] == 30.0
    assert prices["cached_input"].tolist()[1] == 5.0
    # No cache discount listed: cached input costs the input price.
    assert prices["cached_input"][0] == prices["input"][0]
    assert prices["batch_discount"].tolist() == [0.0, 0.5]
