"""Self-hosted capacity (learned_router.capacity over the Rust tracker)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from learned_router import InvalidInputError, select_models
from learned_router.capacity import CapacityTracker, ModelCapacity
from learned_router.catalog import Catalog, LatencyProfile, ModelSpec, SelfHosting


class FakeClock:
    def __init__(self, now_s: float = 0.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def tracker(clock: FakeClock, **capacities: ModelCapacity) -> CapacityTracker:
    return CapacityTracker(["ours", "public"], capacities=capacities, clock=clock)


def test_token_bucket_drains_and_refills_on_the_injected_clock() -> None:
    clock = FakeClock()
    t = tracker(clock, ours=ModelCapacity(tokens_per_s=100.0, burst_tokens=1000.0))
    assert t.try_acquire("ours", 600)
    assert not t.try_acquire("ours", 600)
    assert t.available(tokens=[600, 600]).tolist() == [False, True]
    clock.now_s = 2.0  # 400 + 2 s * 100 tokens/s
    assert t.available(tokens=[600, 600]).tolist() == [True, True]
    assert t.try_acquire("ours", 600)
    snap = t.snapshot()
    assert snap.tokens.tolist() == [0.0, np.inf]
    assert snap.in_flight.tolist() == [2, 0]
    assert snap.models == ("ours", "public")


def test_concurrency_limit_and_release() -> None:
    t = tracker(FakeClock(), ours=ModelCapacity(max_concurrent_requests=2))
    assert t.try_acquire(0, 1)
    assert t.try_acquire(0, 1)
    assert not t.try_acquire(0, 1)
    t.release(0)
    assert t.try_acquire("ours", 1)
    assert t.snapshot().in_flight.tolist() == [2, 0]


def test_saturated_self_hosted_model_spills_to_the_next_best_public_model() -> None:
    clock = FakeClock()
    t = tracker(clock, ours=ModelCapacity(max_concurrent_requests=1))
    p = [0.85, 0.90]
    cost = [0.0001, 0.0100]  # ours is far cheaper and clears the bar
    chosen = []
    for _ in range(3):
        sel = select_models(p, cost, available=t.available(), min_quality=0.8)
        j = int(sel.index[0])
        if t.models[j] == "ours":
            assert t.try_acquire(j, 100)
        chosen.append(t.models[j])
    assert chosen == ["ours", "public", "public"]
    t.release("ours")
    sel = select_models(p, cost, available=t.available(), min_quality=0.8)
    assert t.models[int(sel.index[0])] == "ours"


def test_marked_down_models_are_excluded_until_marked_up() -> None:
    t = tracker(FakeClock())
    t.mark_down("public")
    assert t.available().tolist() == [True, False]
    assert not t.try_acquire("public", 1)
    t.mark_up("public")
    assert t.available().tolist() == [True, True]
    assert t.snapshot().down.tolist() == [False, False]


def test_available_for_a_batch_is_per_cell() -> None:
    t = tracker(FakeClock(), ours=ModelCapacity(tokens_per_s=1.0, burst_tokens=100.0))
    assert t.try_acquire("ours", 60)
    mask = t.available(tokens=np.array([[10.0, 1e9], [50.0, 0.0]]))
    assert mask.shape == (2, 2)
    assert mask.tolist() == [[True, True], [False, True]]


def test_try_acquire_many_claims_in_order_and_skips_unrouted_requests() -> None:
    t = tracker(FakeClock(), ours=ModelCapacity(max_concurrent_requests=2))
    won = t.try_acquire_many([0, 1, -1, 0, 0], [1, 1, 1, 1, 1])
    assert won.tolist() == [True, True, False, True, False]
    assert t.snapshot().in_flight.tolist() == [2, 1]


def test_release_returns_unused_tokens() -> None:
    t = tracker(FakeClock(), ours=ModelCapacity(tokens_per_s=1.0, burst_tokens=100.0))
    assert t.try_acquire("ours", 80)
    t.release("ours", unused_tokens=30)
    assert t.snapshot().tokens[0] == 50.0


def test_from_catalog_limits_self_hosted_models_only() -> None:
    hosting = SelfHosting(2.0, 0.7, 0.15, 0.5, 20_000.0, 1_000.0, max_concurrent_requests=0)
    catalog = Catalog(
        models=(
            ModelSpec(
                "ours",
                "us",
                0.0,
                0.0,
                LatencyProfile(150.0, 90.0),
                self_hosted=True,
                hosting=hosting,
            ),
            ModelSpec("theirs", "them", 1.0, 3.0, LatencyProfile(500.0, 60.0)),
        ),
        version="v1",
    )
    t = CapacityTracker.from_catalog(catalog, ["theirs", "ours"], burst_s=0.5, max_load=0.8)
    assert t.capacities[0].unlimited
    # 0 concurrent requests in the catalog means "not stated": no slot limit.
    assert t.capacities[1] == ModelCapacity(tokens_per_s=800.0, burst_tokens=400.0)
    assert t.request_tokens([1000], [[10, 10]]).tolist() == [[1010.0, 60.0]]
    with pytest.raises(InvalidInputError, match="max_load"):
        CapacityTracker.from_catalog(catalog, ["ours"], max_load=1.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.try_acquire("nope", 1), "not tracked"),
        (lambda t: t.try_acquire(2, 1), "out of range"),
        (lambda t: t.try_acquire(0, -1), "finite and >= 0"),
        (lambda t: t.try_acquire(0, float("nan")), "finite and >= 0"),
        (lambda t: t.try_acquire(0, 1, now_s=float("inf")), "now_s"),
        (lambda t: t.release(0), "no request in flight"),
        (lambda t: t.available(tokens=[1.0, 2.0, 3.0]), "expected a number"),
        (lambda t: t.try_acquire_many([0, 5], [1, 1]), "out of range"),
        (lambda t: t.try_acquire_many([0], [1, 1]), "one token count per request"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    t = tracker(FakeClock(), ours=ModelCapacity(tokens_per_s=1.0, burst_tokens=10.0))
    with pytest.raises(InvalidInputError, match=match):
        call(t)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tokens_per_s": 10.0}, "both tokens_per_s and burst_tokens"),
        ({"tokens_per_s": 0.0, "burst_tokens": 1.0}, "tokens_per_s = 0.0"),
        ({"tokens_per_s": 1.0, "burst_tokens": float("inf")}, "burst_tokens = inf"),
        ({"max_concurrent_requests": 0}, "integer >= 1"),
    ],
)
def test_bad_capacities_are_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        ModelCapacity(**kwargs)  # type: ignore[arg-type]


def test_bad_tracker_construction_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="not among the models"):
        CapacityTracker(["a"], capacities={"b": ModelCapacity(max_concurrent_requests=1)})
    with pytest.raises(InvalidInputError, match="duplicate"):
        CapacityTracker(["a", "a"])
    with pytest.raises(InvalidInputError, match="at least one model"):
        CapacityTracker([])


def test_many_threads_never_oversubscribe() -> None:
    """16 threads hammer one model with acquire/release pairs and a second with
    acquires only, all at one instant: no more slots or tokens are ever handed
    out than the capacity, because check-and-take is one atomic step."""
    slots, burst, request = 5, 1000.0, 10.0
    t = CapacityTracker(
        ["slots", "bucket"],
        capacities={
            "slots": ModelCapacity(max_concurrent_requests=slots),
            "bucket": ModelCapacity(tokens_per_s=1.0, burst_tokens=burst),
        },
        clock=FakeClock(),
    )
    start = threading.Barrier(16)
    guard = threading.Lock()
    in_flight = {"now": 0, "max": 0}
    bucket_wins = [0] * 16

    def work(k: int) -> None:
        start.wait()
        for _ in range(300):
            if t.try_acquire("slots", 1):
                with guard:
                    in_flight["now"] += 1
                    in_flight["max"] = max(in_flight["max"], in_flight["now"])
                with guard:
                    in_flight["now"] -= 1
                t.release("slots")
            if t.try_acquire("bucket", request):
                bucket_wins[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= in_flight["max"] <= slots
    assert sum(bucket_wins) == burst / request  # exactly the bucket, never more
    snap = t.snapshot()
    assert snap.in_flight.tolist() == [0, int(burst / request)]
    assert snap.tokens[1] == 0.0


operations = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "release", "down", "up"]),
        st.integers(0, 2),
        st.floats(0.0, 300.0),
        st.floats(0.0, 5.0),  # clock step (occasionally backwards below)
        st.booleans(),
    ),
    max_size=60,
)


Op = tuple[str, int, float, float, bool]


@settings(max_examples=200, deadline=None)
@given(operations)
def test_tracker_matches_the_python_reference(ops: list[Op]) -> None:
    limits = [(50.0, 200.0, None), (None, None, 2), (20.0, 100.0, 3)]
    ref = reference.CapacityReference(limits)
    t = CapacityTracker(
        ["a", "b", "c"],
        capacities={
            "a": ModelCapacity(tokens_per_s=50.0, burst_tokens=200.0),
            "b": ModelCapacity(max_concurrent_requests=2),
            "c": ModelCapacity(tokens_per_s=20.0, burst_tokens=100.0, max_concurrent_requests=3),
        },
    )
    now = 0.0
    for op, j, tokens, step, backwards in ops:
        now = now - step / 10 if backwards else now + step
        if op == "acquire":
            assert t.try_acquire(j, tokens, now_s=now) == ref.try_acquire(j, tokens, now)
        elif op == "release":
            if ref.release(j, tokens / 3):
                t.release(j, unused_tokens=tokens / 3)
            else:
                with pytest.raises(InvalidInputError):
                    t.release(j, unused_tokens=tokens / 3)
        else:
            (t.mark_down if op == "down" else t.mark_up)(j)
            ref.down[j] = op == "down"
        expected = [ref.admits(k, tokens, now) for k in range(3)]
        assert t.available(tokens=tokens, now_s=now).tolist() == expected
        snap = t.snapshot(now_s=now)
        assert snap.tokens.tolist() == [ref.level(k, now) for k in range(3)]
        assert snap.in_flight.tolist() == ref.in_flight
