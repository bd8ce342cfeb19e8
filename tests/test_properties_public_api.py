"""Property tests over the public API and the CLI (issue 12).

Arbitrary values for every argument: the call either succeeds or raises one
of the project's error types (:class:`~learned_router.errors.LearnedRouterError`),
and an error changes nothing stored: the outcome store, the cache, the
capacity in flight, the decisions pending and the price table in force.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learned_router.cache import SemanticCache
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.errors import LearnedRouterError
from learned_router.router import RouteDecision, Router

MODELS = ("small", "mid", "frontier", "ours-8b")

# Text with every code point, lone surrogates included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=8),
    st.lists(st.one_of(any_text, st.integers(), st.none()), max_size=3),
    st.dictionaries(any_text, st.integers(), max_size=2),
    st.sampled_from(MODELS),
)
unit = st.floats(min_value=0.0, max_value=1.0)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), valid, anything)


@pytest.fixture(scope="module")
def router(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Router:
    tracker = CapacityTracker(
        MODELS, capacities={"ours-8b": ModelCapacity(max_concurrent_requests=4)}
    )
    store = tmp_path_factory.mktemp("store") / "outcomes.sqlite"
    return Router.load(tiny_bundle, capacity=tracker, cache=SemanticCache(), outcome_store=store)


def _state(router: Router) -> tuple[Any, ...]:
    assert router.capacity is not None
    assert router.outcome_store is not None
    assert router.cache is not None
    return (
        len(router.outcome_store),
        len(router.cache),
        router.capacity.snapshot().in_flight.tolist(),
        tuple(router._memory),
        router.catalog.version,
    )


SLOW = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SLOW
@given(
    prompt=st.one_of(st.sampled_from(["write a poem", "a contract question"]), anything),
    kwargs=st.fixed_dictionaries(
        {},
        optional={
            "min_quality": _maybe(unit),
            "max_cost_usd": _maybe(st.floats(min_value=0, max_value=1)),
            "cost_weight": _maybe(st.floats(min_value=0, max_value=1e3)),
            "quality_fraction": _maybe(unit),
            "max_latency_ms": _maybe(st.floats(min_value=1, max_value=1e5)),
            "priority": _maybe(st.sampled_from(["interactive", "batch"])),
            "tenant": _maybe(st.sampled_from(["acme", "default"])),
            "candidates": _maybe(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3)),
        },
    ),
    batch=st.booleans(),
)
def test_route_raises_only_project_errors_and_changes_nothing_on_error(
    router: Router, prompt: Any, kwargs: dict[str, Any], batch: bool
) -> None:
    before = _state(router)
    try:
        if batch:
            result = router.route_batch([prompt, "summarise the memo"], **kwargs)
            assert all(isinstance(d, RouteDecision) for d in result)
            decisions = result
        else:
            decisions = [router.route(prompt, **kwargs)]
    except LearnedRouterError:
        assert _state(router) == before
        return
    for decision in decisions:
        if decision.cached is None:
            router.release(decision.decision_id)
    assert _state(router) == before


@SLOW
@given(
    values=st.fixed_dictionaries(
        {"quality": st.one_of(unit, anything)},
        optional={
            "cost_usd": _maybe(st.floats(min_value=0, max_value=1)),
            "latency_ms": _maybe(st.floats(min_value=0, max_value=1e5)),
            "response": _maybe(st.text(max_size=20)),
            "output_tokens": _maybe(st.integers(min_value=0, max_value=10_000)),
            "quality_scale": _maybe(st.just("correct(0/1)")),
        },
    ),
    decision_id=st.one_of(st.just("real"), anything),
)
def test_record_outcome_raises_only_project_errors_and_changes_nothing_on_error(
    router: Router, values: dict[str, Any], decision_id: Any
) -> None:
    decision = router.route("a contract question", min_quality=0.5, tenant="acme")
    ident = decision.decision_id if decision_id == "real" else decision_id
    before = _state(router)
    try:
        router.record_outcome(ident, **values)
    except LearnedRouterError:
        assert _state(router) == before
    if decision.decision_id in router._memory:
        router.release(decision.decision_id)


@SLOW
@given(change=anything, version=st.one_of(st.none(), anything))
def test_price_updates_raise_only_catalog_errors_and_keep_the_table(
    router: Router, change: Any, version: Any
) -> None:
    before = router.catalog.current
    try:
        router.catalog.update(change, version=version)
    except LearnedRouterError:
        assert router.catalog.current is before
    else:  # an accepted table is one the router can route with
        router.route("write a poem")


@SLOW
@given(
    method=st.sampled_from(["predict", "register_static_prefix", "mark_down", "release"]),
    value=anything,
)
def test_other_methods_raise_only_project_errors(router: Router, method: str, value: Any) -> None:
    before = _state(router)
    try:
        if method == "predict":
            router.predict(value if isinstance(value, list) else [value])
        elif method == "mark_down":
            router.mark_down(value)
            router.mark_up(value)
        else:
            getattr(router, method)(value)
    except LearnedRouterError:
        assert _state(router) == before


COMMANDS = st.sampled_from(
    [
        ["route"],
        ["verify"],
        ["data", "validate"],
        ["data", "summary"],
        ["cache", "stats"],
        ["version"],
    ]
)
OPTIONS = st.sampled_from(
    [
        "--min-quality",
        "--max-cost",
        "--candidates",
        "--max-latency-ms",
        "--json",
        "--batch",
        "--format",
    ]
)
cli_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12).filter(
    lambda s: s != "--debug"
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=COMMANDS,
    args=st.lists(st.one_of(OPTIONS, cli_text, st.floats().map(str)), max_size=4),
)
def test_the_cli_never_prints_a_traceback(
    tiny_bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    args: list[str],
) -> None:
    from learned_router.cli import main

    argv = [*command, *args]
    if command == ["route"]:
        argv += ["--bundle", str(tiny_bundle)]
    monkeypatch.setattr(sys, "argv", ["learned-router", *argv])
    try:
        main()
        code: object = 0
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2, None), (argv, err)
    assert "Traceback" not in err, (argv, err)
    if code == 1:  # one line (commands such as `data validate` report on stdout instead)
        assert len(err.strip().splitlines()) <= 1, (argv, err)
