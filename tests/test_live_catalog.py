"""Live prices (learned_router.live_catalog)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from learned_router.catalog import Catalog, LatencyProfile, ModelSpec
from learned_router.errors import CatalogError, InvalidInputError
from learned_router.live_catalog import LiveCatalog

MODELS = ("small", "large")


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def catalog(version: int, *, models: tuple[str, ...] = MODELS) -> Catalog:
    """A catalog whose prices encode its version: small costs v, large 10 v."""
    specs = tuple(
        ModelSpec(
            name,
            "test",
            float(version) * 10**k,
            float(version) * 10**k,
            LatencyProfile(100.0, 50.0),
        )
        for k, name in enumerate(models)
    )
    return Catalog(models=specs, version=f"v{version}")


def write(path: Path, version: int, **kwargs: tuple[str, ...]) -> None:
    catalog(version, **kwargs).save(path)


def test_update_swaps_prices_and_leaves_old_snapshots_untouched() -> None:
    live = LiveCatalog(catalog(1))
    before = live.current
    new = live.update({"small": {"usd_per_1m_input": 0.5}}, version="v2")
    assert live.current is new
    assert live.version == "v2"
    assert new.get("small").usd_per_1m_input == 0.5
    assert before.version == "v1"
    assert before.get("small").usd_per_1m_input == 1.0
    assert live.update({"small": {"usd_per_1m_input": 0.25}}).version == "v2+1"
    assert live.update(catalog(7)).version == "v7"
    assert live.update(catalog(8), version="v8-renamed").version == "v8-renamed"


def test_update_rejects_bad_tables_and_keeps_the_old_one() -> None:
    live = LiveCatalog(catalog(1), required_models=["large"])
    with pytest.raises(CatalogError, match="version is still 'v1'"):
        live.update({"small": {"usd_per_1m_input": 0.5}}, version="v1")
    with pytest.raises(CatalogError, match=r"lacks model\(s\) \['large'\]"):
        live.update(catalog(2, models=("small",)))
    with pytest.raises(CatalogError, match="usd_per_1m_input = -1"):
        live.update({"small": {"usd_per_1m_input": -1}})
    with pytest.raises(CatalogError, match="not in the catalog"):
        live.update({"medium": {"usd_per_1m_input": 1}})
    assert live.current == catalog(1)
    # The very same table again is not a change.
    assert live.update(catalog(1)) == catalog(1)


def test_required_models_are_checked_at_construction() -> None:
    with pytest.raises(CatalogError, match="lacks model"):
        LiveCatalog(catalog(1), required_models=["huge"])
    with pytest.raises(InvalidInputError, match="check_interval_s"):
        LiveCatalog(catalog(1), check_interval_s=-1)


def test_priced_models_agree_with_their_version_and_are_cached() -> None:
    live = LiveCatalog(catalog(3))
    priced = live.priced(["large", "small"])
    assert priced.version == "v3"
    assert priced.usd_per_1m_input.tolist() == [30.0, 3.0]
    assert priced.prices()["output"].tolist() == [30.0, 3.0]
    assert live.priced(["large", "small"]) is priced
    with pytest.raises(ValueError, match="read-only"):
        priced.usd_per_1m_input[0] = 0.0
    live.update(catalog(4))
    assert live.priced(["large", "small"]).usd_per_1m_input.tolist() == [40.0, 4.0]


def test_file_reloads_on_change_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    write(path, 1)
    clock = FakeClock()
    live = LiveCatalog.from_file(path, check_interval_s=0.5, clock=clock)
    assert live.version == "v1"
    write(path, 2)
    clock.now_s = 0.4
    assert live.version == "v1"  # not checked yet
    clock.now_s = 0.5
    assert live.version == "v2"
    assert live.current.get("large").usd_per_1m_input == 20.0
    assert live.last_error is None


def test_file_edited_in_place_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    write(path, 1)
    clock = FakeClock()
    live = LiveCatalog.from_file(path, check_interval_s=0.0, clock=clock)
    text = path.read_text().replace('version = "v1"', 'version = "v9"').replace("1.0", "9.0")
    with open(path, "w") as handle:  # same inode, same size
        handle.write(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert live.version == "v9"
    assert live.current.get("small").usd_per_1m_output == 9.0


def test_touching_the_file_without_changes_keeps_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    write(path, 1)
    live = LiveCatalog.from_file(path, check_interval_s=0.0)
    before = live.current
    write(path, 1)
    assert live.current is before


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("version = \n", "not valid TOML"),
        ('version = "v2"\n[[model]]\nid = "small"\n', "missing required field"),
        (None, "lacks model"),  # drops "large"
        (None, "version is still 'v1'"),  # new prices, old version
    ],
)
def test_bad_file_is_rejected_and_the_old_table_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str | None, match: str
) -> None:
    path = tmp_path / "catalog.toml"
    write(path, 1)
    clock = FakeClock()
    live = LiveCatalog.from_file(path, check_interval_s=1.0, clock=clock)
    # What Router does with its models (no required_models= from the caller);
    # tests/test_hardening.py drives the same through a Router.
    live.require(MODELS)
    if text is not None:
        path.write_text(text)
    elif "lacks" in match:
        write(path, 2, models=("small",))
    else:
        catalog(1).with_prices({"small": {"usd_per_1m_input": 5.0}}, version="v1").save(path)
    clock.now_s = 1.0
    with caplog.at_level(logging.WARNING, logger="learned_router.live_catalog"):
        assert live.current.models == catalog(1).models  # a read never raises
        clock.now_s = 2.0
        assert live.current.version == "v1"
    assert live.last_error is not None
    assert match in str(live.last_error)
    assert str(path) in str(live.last_error)
    assert "'v1' stays in force" in str(live.last_error)
    assert len(caplog.records) == 1  # reported once, not at every check
    with pytest.raises(CatalogError, match=match):
        live.reload()
    # Fixing the file makes it load.
    write(path, 3)
    assert live.reload().version == "v3"
    assert live.last_error is None


def test_a_deleted_file_keeps_the_table_until_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    write(path, 1)
    live = LiveCatalog.from_file(path, check_interval_s=0.0)
    path.unlink()
    assert live.version == "v1"
    assert "cannot read the catalog" in str(live.last_error)
    write(path, 2)
    assert live.version == "v2"


def test_reload_needs_a_watched_file() -> None:
    with pytest.raises(CatalogError, match="watches no file"):
        LiveCatalog(catalog(1)).reload()


def test_swaps_mid_traffic_give_every_reader_a_consistent_table(tmp_path: Path) -> None:
    """Readers price from one snapshot while writers swap tables (by update and
    by file): each snapshot's prices always match its version, and a reader
    never sees versions go backwards."""
    path = tmp_path / "catalog.toml"
    write(path, 0)
    live = LiveCatalog.from_file(path, check_interval_s=0.0)
    stop = threading.Event()
    errors: list[str] = []
    seen: set[str] = set()

    def reader() -> None:
        last = -1
        while not stop.is_set():
            priced = live.priced(MODELS)
            n = int(priced.version.removeprefix("v"))
            if priced.usd_per_1m_input.tolist() != [n, 10 * n]:
                errors.append(f"{priced.version}: {priced.usd_per_1m_input.tolist()}")
            snapshot = live.current
            m = int(snapshot.version.removeprefix("v"))
            if snapshot.get("large").usd_per_1m_output != 10 * m:
                errors.append(f"{snapshot.version}: mixed prices")
            if m < last:
                errors.append(f"version went back from v{last} to v{m}")
            last = m
            seen.add(snapshot.version)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    for version in range(1, 61):
        if version % 4 == 0:
            write(path, version)
            live.reload()
        else:
            live.update(catalog(version))
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert live.version == "v60"
    assert len(seen) > 1


def test_concurrent_price_updates_are_never_lost() -> None:
    """Each thread changes its own model's price via read-modify-write
    (`with_prices`); the writer lock makes sure no update overwrites another."""
    names = tuple(f"m{k}" for k in range(8))
    live = LiveCatalog(catalog(1, models=names))
    start = threading.Barrier(len(names))

    def bump(name: str) -> None:
        start.wait()
        for step in range(1, 51):
            live.update({name: {"usd_per_1m_output": float(step)}})

    threads = [threading.Thread(target=bump, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [live.current.get(name).usd_per_1m_output for name in names] == [50.0] * len(names)
    assert live.version == "v1" + "+1" * 50 * len(names)
