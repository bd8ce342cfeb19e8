"""The `learned-router` command line (commands beyond --help)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learned_router.cache import CacheConfig, HashingEmbedder, SemanticCache
from learned_router.cli import app


def saved_cache(path: Path) -> None:
    cache = SemanticCache(
        embed=HashingEmbedder(dim=32), config=CacheConfig(encoder_name="hashing-32")
    )
    cache.store("What is DNS?", "Domain Name System", tenant="a", cost_usd=0.25)
    cache.store("What is TCP?", "A transport protocol", tenant="b", cost_usd=0.5)
    cache.lookup("what is dns", tenant="a")
    cache.lookup("what is udp", tenant="a")
    cache.save(path)


def test_cache_stats_prints_the_saved_counters(tmp_path: Path) -> None:
    path = tmp_path / "cache.lrc"
    saved_cache(path)
    result = CliRunner().invoke(app, ["cache", "stats", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["entries"] == 2
    assert stats["tenants"] == 2
    assert (stats["lookups"], stats["hits"], stats["misses"]) == (2, 1, 1)
    assert stats["cost_avoided_usd"] == 0.25
    assert stats["encoder_name"] == "hashing-32"
    table = CliRunner().invoke(app, ["cache", "stats", str(path)])
    assert table.exit_code == 0
    assert "hit_rate" in table.output
    assert "50.0%" in table.output


def test_a_path_with_a_carriage_return_still_fails_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the CLI property test: `cache stats '\r'` echoed the path raw and split
    # the error over two lines.
    import sys

    from learned_router.cli import main

    for argv in (["cache", "stats", "\r"], ["drift", "status", "a\rb"]):
        monkeypatch.setattr(sys, "argv", ["learned-router", *argv])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 1
        assert len(err.strip().splitlines()) == 1, err


def test_cache_stats_on_a_bad_file_exits_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.lrc"
    path.write_bytes(b"not a cache at all, just some bytes")
    result = CliRunner().invoke(app, ["cache", "stats", str(path)])
    assert result.exit_code == 1
    assert "not a learned-router cache" in result.output
