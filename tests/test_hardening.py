"""Issue 12 (hardening): each class of bad input or fault, on the real code path.

Where a bug lives in the shipped bundle (``models/default``: the int8 encoder,
147 models, real context windows), the test routes with it; the tiny float
bundle of ``tests/bundles.py`` serves where the behaviour does not depend on it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundles import tiny_catalog
from learned_router.bundle import Bundle
from learned_router.cache import CacheConfig, SemanticCache
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.catalog import Catalog, LatencyProfile, ModelSpec
from learned_router.errors import (
    BundleError,
    CacheFileError,
    CatalogError,
    DataValidationError,
    InvalidInputError,
)
from learned_router.live_catalog import LiveCatalog
from learned_router.outcomes import OutcomeRecord, OutcomeStore, OutcomeStoreError
from learned_router.router import NoModelAvailableError, Router

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"
EASY = "write a poem about cats"
HARD = "Analyse the indemnification clause of this contract"


@pytest.fixture(scope="module")
def shipped() -> Router:
    return Router.load(SHIPPED, capacity=False)


def _record(prompt: str = "2+2?", **changes: Any) -> OutcomeRecord:
    return OutcomeRecord(prompt_id="d-1", prompt=prompt, model="m", quality=1.0, **changes)


# --- 1. outcome store: a failed append leaves no open transaction ----------------------------


@pytest.mark.parametrize("bad_value", [2**70, "lone \ud800 surrogate"])
def test_a_failed_append_rolls_back_and_loses_no_later_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_value: object
) -> None:
    path = tmp_path / "o.sqlite"
    store = OutcomeStore(path)
    other = OutcomeStore(path, timeout_s=0.2)  # another process's connection, in effect
    good, bad = _record("first of the batch"), _record("second of the batch")
    # A value sqlite cannot bind, met mid-transaction (after the first insert).
    real_row = OutcomeRecord._row

    def row(record: OutcomeRecord) -> tuple[Any, ...]:
        values = real_row(record)
        return values if record is good else (*values[:-1], bad_value)

    monkeypatch.setattr(OutcomeRecord, "_row", row)
    with pytest.raises(OutcomeStoreError, match="append failed"):
        store.append_many([good, bad])
    monkeypatch.undo()
    # Rolled back: nothing half-written, the other writer is not locked out,
    # and this store's next good append is durable.
    assert other.append(_record("from the other")) == 1
    assert store.append(_record("next good one")) == 2
    assert [r.prompt for r in store.records().values()] == ["from the other", "next good one"]


@pytest.mark.parametrize(
    ("field", "value"), [("output_tokens", 2**70), ("prompt", "x\udfff"), ("quality", object())]
)
def test_a_record_changed_after_validation_is_refused_before_the_transaction(
    tmp_path: Path, field: str, value: object
) -> None:
    store = OutcomeStore(tmp_path / "o.sqlite")
    bad = _record()
    object.__setattr__(bad, field, value)
    with pytest.raises(InvalidInputError, match=field):
        store.append(bad)
    assert store.append(_record()) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("output_tokens", 2**64),
        ("prompt", "x\udfffy"),
        ("response", "\ud83d"),
        ("tenant", "\udc80"),
    ],
)
def test_records_sqlite_cannot_store_are_refused_before_the_transaction(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidInputError, match=field):
        _record(**{field: value}) if field != "prompt" else _record(str(value))


# --- 2. record_outcome validates first and changes nothing on error --------------------------


def _capacity_router(tiny_bundle: Path, now: list[float], **options: Any) -> Router:
    tracker = CapacityTracker(
        ("small", "mid", "frontier", "ours-8b"),
        capacities={"ours-8b": ModelCapacity(max_concurrent_requests=1)},
        clock=lambda: now[0],
    )
    return Router.load(tiny_bundle, capacity=tracker, clock=lambda: now[0], **options)


@pytest.mark.parametrize(
    "bad",
    [
        {"quality": 5.0},
        {"quality": float("inf")},
        {"quality": float("nan")},
        {"quality": "good"},
        {"quality": 1.0, "cost_usd": -0.01},
        {"quality": 1.0, "latency_ms": float("nan")},
        {"quality": 1.0, "output_tokens": -3},
        {"quality": 1.0, "response": b"bytes"},
        {"quality": 1.0, "response": "lone \ud800"},
        {"quality": 1.0, "quality_scale": "no such scale"},
    ],
)
def test_invalid_outcomes_change_nothing_and_can_be_retried(
    tiny_bundle: Path, tmp_path: Path, bad: dict[str, Any]
) -> None:
    now = [0.0]
    cache = SemanticCache()
    router = _capacity_router(tiny_bundle, now, cache=cache, outcome_store=tmp_path / "o.sqlite")
    decision = router.route(HARD, min_quality=0.5)
    assert decision.model == "ours-8b"
    with pytest.raises(InvalidInputError):
        router.record_outcome(decision.decision_id, **{"response": "an answer", **bad})
    # Nothing changed: capacity still held, nothing cached, nothing stored.
    assert router.capacity is not None
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 1]
    assert len(cache) == 0
    assert router.outcome_store is not None
    assert len(router.outcome_store) == 0
    # The caller can retry with good values.
    assert router.record_outcome(decision.decision_id, quality=1.0, response="ok") == 1
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 0]
    assert len(cache) == 1


def test_a_store_failure_keeps_the_decision_pending(tiny_bundle: Path, tmp_path: Path) -> None:
    now = [0.0]
    router = _capacity_router(tiny_bundle, now, outcome_store=tmp_path / "o.sqlite")
    decision = router.route(HARD, min_quality=0.5)
    assert router.outcome_store is not None
    router.outcome_store.close()
    with pytest.raises(OutcomeStoreError, match="closed"):
        router.record_outcome(decision.decision_id, quality=1.0)
    assert router.capacity is not None
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 1]
    router.outcome_store = OutcomeStore(tmp_path / "o.sqlite")
    assert router.record_outcome(decision.decision_id, quality=1.0) == 1
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 0]


# --- 3. self-hosted capacity is leased --------------------------------------------------------


def test_release_frees_capacity_of_a_decision_without_outcome(tiny_bundle: Path) -> None:
    now = [0.0]
    router = _capacity_router(tiny_bundle, now)
    first = router.route(HARD, min_quality=0.5)
    assert first.model == "ours-8b"
    assert router.route(HARD, min_quality=0.5).model == "frontier"  # saturated
    router.release(first.decision_id)
    assert router.route(HARD, min_quality=0.5).model == "ours-8b"
    with pytest.raises(InvalidInputError, match="unknown decision id"):
        router.release(first.decision_id)  # once only
    with pytest.raises(InvalidInputError, match="unknown decision id"):
        router.record_outcome(first.decision_id, quality=1.0)


def test_a_lease_expires_and_the_decision_can_still_be_recorded(tiny_bundle: Path) -> None:
    now = [0.0]
    router = _capacity_router(tiny_bundle, now, lease_timeout_s=30.0)
    first = router.route(HARD, min_quality=0.5)
    assert first.model == "ours-8b"
    now[0] = 29.0
    spilled = router.route(HARD, min_quality=0.5)
    assert spilled.model == "frontier"
    router.release(spilled.decision_id)
    now[0] = 31.0  # the LLM call never came back
    second = router.route(HARD, min_quality=0.5)
    assert second.model == "ours-8b"
    # A late outcome is still recorded, and releases nothing twice.
    router.record_outcome(first.decision_id, quality=1.0)
    assert router.capacity is not None
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 1]
    router.record_outcome(second.decision_id, quality=1.0)
    assert router.capacity.snapshot().in_flight.tolist() == [0, 0, 0, 0]


def test_a_decision_that_ages_out_gives_back_its_capacity(tiny_bundle: Path) -> None:
    now = [0.0]
    router = _capacity_router(tiny_bundle, now, decision_memory=1)
    assert router.route(HARD, min_quality=0.5).model == "ours-8b"
    router.route(EASY, min_quality=0.5)  # the first decision ages out of memory
    assert router.route(HARD, min_quality=0.5).model == "ours-8b"


# --- 4. long prompts are counted in full; context windows are checked -------------------------


def _adversarial_long_prompt() -> str:
    """~200,000 tokens in the middle, one-token head and tail (a 100+ char word is one
    [UNK]): extrapolating from head and tail counted it as a few hundred."""
    return "y" * 600 + " " + "a " * 200_000 + "z" * 1500


def test_long_prompts_are_counted_in_full_and_budgets_hold(shipped: Router) -> None:
    prompt = _adversarial_long_prompt()
    decision = shipped.route(prompt, min_quality=0.5)
    assert decision.input_tokens >= 200_000
    # Priced in full, the cheapest model that can hold it costs ~$0.015.
    assert decision.expected_cost_usd > 0.01
    with pytest.raises(NoModelAvailableError, match=r"\d+ over the budget \(max_cost_usd=0.0005\)"):
        shipped.route(prompt, min_quality=0.5, max_cost_usd=0.0005)


def test_models_whose_context_window_is_too_small_are_excluded(shipped: Router) -> None:
    prompt = _adversarial_long_prompt()
    decision = shipped.route(prompt, min_quality=0.5)
    windows = {m: shipped.catalog.current.get(m).context_window_tokens for m in shipped.models}
    chosen_window = windows[decision.model]
    assert chosen_window is None or chosen_window >= decision.input_tokens
    small = [c for c in decision.candidates if (windows[c.model] or 1e12) < decision.input_tokens]
    assert small, "the shipped catalog has small-context models"
    assert all(c.excluded_by == "context" for c in small)


# --- 5. hard caps are hard, fallback_order included -------------------------------------------


def test_fallback_order_never_overrides_a_budget_or_latency_cap(shipped: Router) -> None:
    fallback = Router(shipped.bundle, capacity=False, fallback_order=["gpt-4-1106-preview"])
    with pytest.raises(NoModelAvailableError, match="budget"):
        fallback.route(EASY, min_quality=0.8, max_cost_usd=1e-9)
    with pytest.raises(NoModelAvailableError, match="latency"):
        fallback.route(EASY, min_quality=0.8, max_latency_ms=1)
    with pytest.raises(NoModelAvailableError, match="budget"):
        fallback.route(EASY, max_cost_usd=1e-9)  # the budget policy alone is a hard cap too


def test_fallback_order_takes_over_when_every_candidate_is_saturated(tiny_bundle: Path) -> None:
    now = [0.0]
    router = _capacity_router(tiny_bundle, now, fallback_order=["ours-8b"])
    router.route(HARD, min_quality=0.5, candidates=["ours-8b"])
    decision = router.route(HARD, min_quality=0.5, candidates=["ours-8b"])
    assert decision.model == "ours-8b"
    assert "fallback order" in decision.decided_by
    router.mark_down("ours-8b")
    with pytest.raises(NoModelAvailableError, match="1 down"):
        router.route(HARD, min_quality=0.5, candidates=["ours-8b"])


# --- 6. batch vs single: tests/test_router.py::test_route_batch_equals_route ---


# --- 7. a catalog that cannot serve the router is refused -------------------------------------


def _watched_router(tiny_bundle: Path, tmp_path: Path) -> tuple[Router, Path]:
    path = tmp_path / "catalog.toml"
    tiny_catalog("v1").save(path)
    live = LiveCatalog.from_file(path, check_interval_s=0.0)
    return Router.load(tiny_bundle, catalog=live), path


def _drop_mid(path: Path) -> None:
    catalog = tiny_catalog("v2")
    Catalog(models=tuple(m for m in catalog.models if m.id != "mid"), version="v2").save(path)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_drop_mid, "lacks model(s) ['mid']"),
        (
            lambda p: p.write_text(
                tiny_catalog("v2")
                .to_toml()
                .replace("usd_per_1m_input = 10.0", "usd_per_1m_input = 1.7e308")
            ),
            "above",
        ),
        (lambda p: p.write_bytes(b'version = "v2"\n# \xff\xfe not utf-8\n'), "not UTF-8"),
        (lambda p: (p.unlink(), p.mkdir()), "is a folder"),
    ],
)
def test_a_bad_catalog_file_is_refused_and_routing_goes_on(
    tiny_bundle: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    match: str,
) -> None:
    router, path = _watched_router(tiny_bundle, tmp_path)
    before = router.route(EASY, min_quality=0.8)
    damage(path)
    with caplog.at_level(logging.WARNING, logger="learned_router.live_catalog"):
        for _ in range(3):
            decision = router.route(EASY, min_quality=0.8)
            assert decision.price_version == "v1"
            assert decision.model == before.model
    assert router.catalog.last_error is not None
    assert match in str(router.catalog.last_error)
    assert "'v1' stays in force" in str(router.catalog.last_error)
    assert len([r for r in caplog.records if match in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("change", "version", "match"),
    [
        (3.0, None, "give a mapping"),
        ({"mid": 3.0}, None, "give a mapping"),
        ({"mid": {"usd_per_1m_input": 1.7e308}}, "v9", "above"),
        ({"mid": {"usd_per_1m_input": 2.0}}, "", "version"),
        ({"mid": {"usd_per_1m_input": 2.0}}, 123, "version"),
        ({7: {"usd_per_1m_input": 2.0}}, "v9", "must be a string"),
    ],
)
def test_malformed_updates_are_catalog_errors(
    tiny_bundle: Path, change: Any, version: Any, match: str
) -> None:
    router = Router.load(tiny_bundle)
    with pytest.raises(CatalogError, match=match):
        router.catalog.update(change, version=version)
    assert router.catalog.version == "test.1"
    assert router.catalog.last_error is not None
    router.route(EASY)


def test_a_catalog_object_with_unusable_prices_is_refused(tiny_bundle: Path) -> None:
    router = Router.load(tiny_bundle)
    bad = ModelSpec("mid", "acme", float("inf"), 1.0, LatencyProfile(100.0, 50.0))
    models = tuple(bad if m.id == "mid" else m for m in router.catalog.current.models)
    with pytest.raises(CatalogError, match="unusable"):
        router.catalog.update(Catalog(models=models, version="v9"))
    assert router.route(EASY).price_version == "test.1"


# --- 8 and 9. cache scopes and constraints ----------------------------------------------------


def test_anonymous_and_named_tenants_never_share_cache_entries(tiny_bundle: Path) -> None:
    router = Router.load(tiny_bundle, cache=SemanticCache())
    anonymous = router.route(HARD, min_quality=0.5)
    router.record_outcome(anonymous.decision_id, quality=1.0, response="anonymous answer")
    assert router.route(HARD, min_quality=0.5).cached is not None
    assert router.route(HARD, min_quality=0.5, tenant="default").cached is None
    with pytest.raises(InvalidInputError, match="tenant"):
        router.route(HARD, tenant="")
    with pytest.raises(InvalidInputError, match="tenant"):
        router.route(HARD, tenant="\x00anonymous")


def test_a_cached_answer_is_served_only_within_the_request_constraints(
    shipped: Router,
) -> None:
    router = Router(shipped.bundle, capacity=False, cache=SemanticCache(), cache_min_quality=0.3)
    first = router.route(EASY, candidates=["mistralai/mistral-7b-chat"], min_quality=0.3)
    assert first.model == router.catalog.current.resolve("mistralai/mistral-7b-chat")
    router.record_outcome(first.decision_id, quality=0.5, response="a mistral answer")
    strict = router.route(EASY, candidates=["gpt-4-1106-preview"], min_quality=0.99)
    assert strict.cached is None
    assert router.route(EASY, min_quality=0.99).cached is None  # 0.5 < 0.99
    assert (
        router.route(EASY, candidates=["mistralai/mistral-7b-chat"], min_quality=0.3).cached
        is not None
    )
    assert router.route(EASY, min_quality=0.4).cached is not None


# --- 10. prompts: the project's error, naming the item ----------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r: r.route(None), "`prompt`: got NoneType"),
        (lambda r: r.route(5), "`prompt`: got int"),
        (lambda r: r.route(b"bytes"), "`prompt`: got bytes"),
        (lambda r: r.route("lone \ud800 surrogate"), "prompt #0 .*surrogate"),
        (lambda r: r.route_batch([EASY, EASY, "x\udfff"]), "prompt #2 .*surrogate"),
        (lambda r: r.route_batch([EASY, 7]), "prompt #1 is a int"),
        (lambda r: r.route_batch(None), "route_batch takes a list"),
        (lambda r: r.route_batch(p for p in [EASY]), "generator"),
        (lambda r: r.route_batch({EASY: 1}), "dict"),
        (lambda r: r.route(EASY, min_quality="high"), "min_quality"),
        (lambda r: r.route(EASY, min_quality=2), "min_quality"),
        (lambda r: r.route(EASY, cost_weight=-1.0), "cost_weight"),
        (lambda r: r.route(EASY, quality_fraction=0.0), "quality_fraction"),
        (lambda r: r.route(EASY, max_cost_usd=float("inf")), "max_cost_usd"),
        (lambda r: r.route(EASY, max_latency_ms="fast"), "max_latency_ms"),
        (lambda r: r.route(EASY, candidates="mid"), "candidates"),
        (lambda r: r.route(EASY, candidates=[None]), "candidates"),
        (lambda r: r.route(EASY, tenant=3), "tenant"),
    ],
)
def test_bad_prompts_and_arguments_are_invalid_input(
    tiny_bundle: Path, call: Any, match: str
) -> None:
    router = Router.load(tiny_bundle)
    with pytest.raises(InvalidInputError, match=match):
        call(router)


# --- 11. CLI: one line, exit 1 (2 for usage), traceback only with --debug ---------------------


def _cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """Runs the console script's entry point as the shell would (sys.argv)."""
    from learned_router.cli import main

    monkeypatch.setattr(sys, "argv", ["learned-router", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["route", "hello", "--min-quality", "2"],
        ["route", "hello", "--candidates", "gpt-99"],
        ["route", "hello", "--bundle", "/nonexistent"],
        ["route", ""],
        ["verify", "/etc"],
        ["demo", "--min-quality", "5"],
        ["data", "summary", "BAD"],
        ["calibrate", "--data", "BAD", "--out", "OUT"],
    ],
)
def test_cli_errors_are_one_line_and_exit_1(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(SHIPPED.parents[1])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": "1", "prompt": "x", "model": "m", "quality": "high"}\n{oops\n')
    argv = [str(bad) if a == "BAD" else str(tmp_path / "o.json") if a == "OUT" else a for a in argv]
    code, err = _cli(argv, capsys, monkeypatch)
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(("error:", "InvalidInputError")) or ":" in lines[0]


def test_cli_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err = _cli(["route"], capsys, monkeypatch)
    assert code == 2
    assert "Traceback" not in err


def test_cli_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from learned_router.cli import main

    monkeypatch.setattr(sys, "argv", ["learned-router", "verify", "/nonexistent", "--debug"])
    with pytest.raises(BundleError):
        main()


# --- 12. data loaders -------------------------------------------------------------------------


def _row(**changes: Any) -> dict[str, Any]:
    return {"prompt_id": "p1", "prompt": "2+2?", "model": "m", "quality": 1.0, **changes}


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_jsonl_line_over_one_megabyte_loads(tmp_path: Path) -> None:
    from learned_router import data

    big = "w " * 1_200_000  # 2.4 MB: over pyarrow's 1 MB JSON block
    path = _jsonl(
        tmp_path / "big.jsonl", [_row(), _row(prompt_id="p2", prompt=big), _row(prompt_id="p3")]
    )
    log = data.load(path)
    assert log.outcomes.num_rows == 3
    assert big in log.prompts.column("prompt").to_pylist()


def test_one_wrong_typed_value_is_a_located_problem_and_rejects_rescue(tmp_path: Path) -> None:
    from learned_router import data

    rows = [_row(), _row(prompt_id="p2", quality="high"), _row(prompt_id="p3")]
    path = _jsonl(tmp_path / "log.jsonl", rows)
    with pytest.raises(DataValidationError) as error:
        data.load(path)
    assert any(p.row == 2 and p.field == "quality" for p in error.value.problems)
    log = data.load(path, rejects=tmp_path / "rejects.jsonl")
    assert log.outcomes.num_rows == 2
    assert "high" in (tmp_path / "rejects.jsonl").read_text()


def test_ids_stay_text(tmp_path: Path) -> None:
    from learned_router import data

    csv = tmp_path / "log.csv"
    csv.write_bytes("\ufeffprompt_id,prompt,model,quality\n007,2+2?,m,1.0\n".encode())
    assert data.load(csv).outcomes.column("prompt_id").to_pylist() == ["007"]
    big = _jsonl(tmp_path / "ids.jsonl", [_row(prompt_id=12345678901234567890123)])
    assert data.load(big).outcomes.column("prompt_id").to_pylist() == ["12345678901234567890123"]


def test_a_list_prompt_is_a_located_problem(tmp_path: Path) -> None:
    from learned_router import data

    path = _jsonl(tmp_path / "log.jsonl", [_row(), _row(prompt_id="p2", prompt=["a", "b"])])
    with pytest.raises(DataValidationError) as error:
        data.load(path)
    assert any(p.row == 2 and p.field == "prompt" for p in error.value.problems)
    assert "['a', 'b']" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.csv", "prompt_id,prompt,model,quality\n1,caf\xe9,m,1.0\n".encode("latin-1")),
        ("mixed.jsonl", b'{"prompt_id": "1", "prompt": "\xe9", "model": "m", "quality": 1}\n'),
        ("corrupt.parquet", b"PAR1" + b"\x00garbage" * 20 + b"PAR1"),
    ],
)
def test_unreadable_files_are_data_validation_errors(
    tmp_path: Path, name: str, content: bytes
) -> None:
    from learned_router import data

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=name):
        data.load(path)


# --- 13. bundles and cache files --------------------------------------------------------------


def _bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    return copy


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: m.write_text("[1, 2]"),
        lambda m: m.write_bytes(b'{"format": "\xff\xfe"}'),
        lambda m: m.write_text(
            json.dumps(
                {
                    **json.loads(m.read_text()),
                    "files": dict.fromkeys(json.loads(m.read_text())["files"], "abc"),
                }
            )
        ),
        lambda m: m.write_text(
            json.dumps(
                {
                    **json.loads(m.read_text()),
                    "encoder": {"truncation": {"max_tokens": 1e9, "head_tokens": 32}},
                }
            )
        ),
        lambda m: m.write_text(
            json.dumps(
                {
                    **json.loads(m.read_text()),
                    "encoder": {"truncation": {"max_tokens": 10**9, "head_tokens": 2}},
                }
            )
        ),
        lambda m: (m.parent / "encoder.onnx.data").write_bytes(b"\x00" * 64),
    ],
)
def test_damaged_bundles_are_bundle_errors(tiny_bundle: Path, tmp_path: Path, damage: Any) -> None:
    copy = _bundle_copy(tiny_bundle, tmp_path)
    damage(copy / "manifest.json")
    with pytest.raises(BundleError):
        Router.load(copy)


def test_bundle_sources_of_the_wrong_type_are_bundle_errors() -> None:
    with pytest.raises(BundleError, match="got int"):
        Router.load(5)  # type: ignore[arg-type]
    with pytest.raises(BundleError, match="got int"):
        Bundle.load(5)  # type: ignore[arg-type]


def test_models_uri_without_a_registry_creates_no_mlflow_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(BundleError, match="no MLflow registry"):
        Router.load("models:/learned-router@champion")
    assert list(tmp_path.iterdir()) == []


def _saved_cache(tmp_path: Path) -> Path:
    cache = SemanticCache()
    cache.store("q", "a", tenant="t")
    path = tmp_path / "c.lrc"
    cache.save(path)
    return path


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, s: h.update(next_id=-5),
        lambda h, s: h.pop("config"),
        lambda h, s: h.update(config=[1]),
        lambda h, s: h.update(scopes="nonsense"),
        lambda h, s: h.update(indexes=[{"scope": -1}]),
        lambda h, s: h.update(dim="x"),
    ],
)
def test_cache_files_with_valid_checksums_but_absurd_values_are_cache_file_errors(
    tmp_path: Path, tamper: Any
) -> None:
    from learned_router.cache import persist

    path = _saved_cache(tmp_path)
    header, sections = persist.read_file(path)
    tamper(header, sections)
    persist.write_file(path, header, list(sections.items()))
    with pytest.raises(CacheFileError):
        SemanticCache.load(path)


def test_cache_file_section_lengths_beyond_the_file_are_refused(tmp_path: Path) -> None:
    import hashlib
    import struct

    from learned_router.cache import persist

    path = _saved_cache(tmp_path)
    raw = path.read_bytes()
    size = persist._PREFIX.size
    _, version, length, _ = persist._PREFIX.unpack(raw[:size])
    header = json.loads(raw[size : size + length])
    header["sections"][0]["length"] = 10**18
    header_bytes = json.dumps(header).encode()
    prefix = persist._PREFIX.pack(
        persist.MAGIC, version, len(header_bytes), hashlib.sha256(header_bytes).digest()
    )
    path.write_bytes(prefix + header_bytes + raw[size + length :])
    assert struct.calcsize("<I") == 4
    with pytest.raises(CacheFileError, match="malformed"):
        SemanticCache.load(path)


# --- 14. memory is bounded ---------------------------------------------------------------------


def test_pending_decisions_are_bounded_by_prompt_bytes(tiny_bundle: Path) -> None:
    router = Router.load(tiny_bundle, decision_memory_bytes=2_000_000)
    prompt = "background " * 40_000  # ~440 kB
    ids = [router.route(f"{i} {prompt}").decision_id for i in range(10)]
    assert router._memory_bytes <= 2_000_000
    with pytest.raises(InvalidInputError, match="aged out"):
        router.record_outcome(ids[0], quality=1.0)
    router.record_outcome(ids[-1], quality=1.0)


def test_price_arrays_per_candidate_list_are_bounded() -> None:
    from learned_router.live_catalog import MAX_PRICED_LISTS

    specs = tuple(ModelSpec(f"m{i}", "p", 1.0, 2.0, LatencyProfile(100.0, 50.0)) for i in range(12))
    live = LiveCatalog(Catalog(models=specs, version="v1"))
    rng = np.random.default_rng(0)
    for _ in range(3 * MAX_PRICED_LISTS):
        chosen = rng.choice(12, size=int(rng.integers(1, 12)), replace=False)
        live.priced([f"m{i}" for i in chosen])
    assert len(live._snapshot.priced) <= MAX_PRICED_LISTS


# --- 15. smaller -------------------------------------------------------------------------------


def test_an_expired_entry_stays_expired_when_the_clock_steps_back() -> None:
    now = [0.0]
    cache = SemanticCache(config=CacheConfig(default_ttl_s=10.0), clock=lambda: now[0])
    cache.store("q", "a", tenant="t")
    now[0] = 20.0
    assert cache.lookup("q", tenant="t") is None
    now[0] = 5.0  # the wall clock was set back
    assert cache.lookup("q", tenant="t") is None


@pytest.mark.parametrize(
    ("prompt", "response"), [(None, "a"), (b"q", "a"), ("q", None), ("q", b"a")]
)
def test_storing_non_text_is_invalid_input(prompt: Any, response: Any) -> None:
    with pytest.raises(InvalidInputError):
        SemanticCache().store(prompt, response, tenant="t")


def test_the_bundle_writer_saves_no_stray_arrays(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy < 2.1 (allowed by the dependency range) saves every keyword of
    ``np.savez_compressed`` as an array, ``allow_pickle=False`` included."""
    import learned_router.bundle as writer

    real_savez = np.savez_compressed

    def old_savez(file: Any, *args: Any, **kwds: Any) -> None:
        arrays = {name: np.asarray(value) for name, value in kwds.items()}
        real_savez(file, *args, **{f"array_{k}": v for k, v in enumerate(arrays.values())})
        saved_names.extend(arrays)

    saved_names: list[str] = []
    monkeypatch.setattr(writer.np, "savez_compressed", old_savez)
    bundle = Bundle.load(tiny_bundle)
    with np.load(tiny_bundle / "heads.npz") as stored:
        heads = sorted(stored.files)
    with pytest.raises(BundleError):  # the renamed arrays do not load; we check the names
        writer.write_bundle(
            tmp_path / "out",
            manifest=bundle.manifest,
            quality=bundle.quality_model(),
            entries=bundle.entries,
            encoder_onnx=tiny_bundle / "encoder.onnx",
            tokenizer=tiny_bundle / "tokenizer.json",
            output_lengths=bundle.output_lengths,
            catalog=bundle.catalog(),
            model_card="card",
        )
    assert sorted(saved_names) == sorted(heads)
