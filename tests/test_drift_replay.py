"""`learned-router replay` on a tiny logged dataset, through a tiny bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("river", reason="drift detection needs the drift extra")

from typer.testing import CliRunner

from learned_router.cli import app

SUCCESS = {"small": 0.8, "mid": 0.85, "frontier": 0.95}


def _dataset(root: Path, n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    prompts = [f"Summarise the memo about budget line {i}" for i in range(n)]
    rows = [
        {"prompt_id": str(i), "model": m, "quality": float(rng.random() < p)}
        for i in range(n)
        for m, p in SUCCESS.items()
    ]
    (root / "outcomes").mkdir(parents=True)
    (root / "prompts").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), root / "outcomes" / "tiny.parquet")
    pq.write_table(
        pa.table(
            {"prompt_id": [str(i) for i in range(n)], "prompt": prompts, "task": ["memo"] * n}
        ),
        root / "prompts" / "tiny.parquet",
    )
    return root


def _replay(tiny_bundle: Path, data: Path, *extra: str) -> dict[str, object]:
    args = ["replay", "--data", str(data), "--dataset", "tiny", "--bundle", str(tiny_bundle)]
    result = CliRunner().invoke(app, [*args, *extra, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.output.strip().splitlines()[-1])
    return payload


REQUIRED = {
    "requests",
    "drift_at",
    "detected_at",
    "detection_delay_requests",
    "detection_delay_shadow_samples",
    "false_alarms",
    "shadow_cost_usd",
    "mean_quality",
    "mean_cost_usd",
    "mean_quality_before_reaction",
    "mean_cost_usd_before_reaction",
}


def test_a_planted_drop_is_detected_and_traffic_moves(tiny_bundle: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    state = tmp_path / "state.json"
    out = _replay(
        tiny_bundle,
        data,
        *("--requests", "3000", "--shadow-rate", "0.2", "--seed", "1"),
        *("--drift", "@top:1500:@drop60", "--state", str(state)),
    )
    assert set(out) >= REQUIRED
    assert out["requests"] == 3000
    assert out["drift_at"] == 1500
    assert out["drift_model"] == "small"
    assert isinstance(out["detected_at"], int)
    assert out["detected_at"] >= 1500
    assert out["detection_delay_requests"] == out["detected_at"] - 1500
    assert isinstance(out["detection_delay_shadow_samples"], int)
    assert 0 < out["detection_delay_shadow_samples"] < 200
    assert out["false_alarms"] == 0
    # Re-scoring moved traffic off the drifting model and recovered quality.
    assert out["drift_model_share_before_reaction"] > 0.9
    assert out["drift_model_share_after_reaction"] < 0.1
    assert out["mean_quality_after_reaction"] > out["mean_quality_before_reaction"] + 0.2
    # Shadow calls go to the priciest model: at a 20% rate they outspend the routed traffic.
    spend = float(out["mean_cost_usd"]) * 3000  # type: ignore[arg-type]
    assert out["shadow_cost_share"] == pytest.approx(float(out["shadow_cost_usd"]) / spend)  # type: ignore[arg-type]
    assert out["shadow_cost_usd"] > 0
    status = json.loads(state.read_text())
    assert any(r["model"] == "small" and r["alarms"] >= 1 for r in status["status"])


def test_a_fixed_model_is_found_by_the_probes_and_gets_its_traffic_back(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    data = _dataset(tmp_path / "data")
    common = ("--requests", "6000", "--shadow-rate", "0.2", "--seed", "1")
    drift = ("--drift", "@top:1500:@drop60")
    out = _replay(
        tiny_bundle, data, *common, *drift, "--recover-at", "3000", "--probe-rate", "0.05"
    )
    assert out["drift_model"] == "small"
    assert isinstance(out["detected_at"], int)
    assert 1500 <= out["detected_at"] < 3000
    assert out["drift_model_share_after_reaction"] < 0.1
    assert out["probes"] > 0
    assert out["false_recoveries"] == 0
    assert isinstance(out["recovered_at"], int)
    assert out["recovered_at"] >= 3000
    assert out["recovery_delay_requests"] == out["recovered_at"] - 3000
    # The fixed model is routed again, as before its drift.
    assert out["drift_model_share_after_recovery"] > 0.8
    # Without probes nothing shows the fix: the re-scored model stays shut out.
    shut = _replay(tiny_bundle, data, *common, *drift, "--recover-at", "3000", "--probe-rate", "0")
    assert shut["probes"] == 0
    assert shut["recovered_at"] is None
    # Routed to it again, the traffic costs what it did before the drift, at that quality.
    assert out["mean_cost_usd"] < 0.7 * shut["mean_cost_usd"]  # type: ignore[operator]
    before = out["windows"][0]  # type: ignore[index]
    assert abs(out["mean_quality_after_recovery"] - before["mean_quality"]) < 0.05  # type: ignore[operator]


def test_recover_at_needs_a_drift_before_it(tiny_bundle: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    args = ["replay", "--data", str(data), "--dataset", "tiny", "--bundle", str(tiny_bundle)]
    for extra in (["--recover-at", "50"], ["--drift", "@top:500:@drop60", "--recover-at", "400"]):
        result = CliRunner().invoke(app, [*args, "--requests", "1000", *extra])
        assert result.exit_code != 0
        assert "--recover-at" in str(result.exception)


def test_an_unchanged_stream_raises_no_alarm(tiny_bundle: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    out = _replay(tiny_bundle, data, *("--requests", "3000", "--shadow-rate", "0.2", "--seed", "2"))
    assert out["drift_at"] is None
    assert out["detected_at"] is None
    assert out["false_alarms"] == 0


def test_adaptation_is_persisted_beside_the_store(tiny_bundle: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    corrections = tmp_path / "corrections.json"
    out = _replay(
        tiny_bundle,
        data,
        *("--requests", "1000", "--shadow-rate", "0.0", "--outcome-rate", "1.0"),
        *("--adapt", "--corrections", str(corrections)),
    )
    assert out["outcomes_recorded"] == 1000
    saved = json.loads(corrections.read_text())
    assert any(row[0] == "replay" and row[1] == "small" for row in saved["tenant"])


def test_bad_drift_specs_are_clear_errors(tiny_bundle: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    args = ["replay", "--data", str(data), "--dataset", "tiny", "--bundle", str(tiny_bundle)]
    result = CliRunner().invoke(app, [*args, "--drift", "small-at-5"])
    assert result.exit_code != 0
    assert "MODEL:AT:REPLACEMENT" in str(result.exception)


def test_top_shadowed_drifts_a_model_the_shadow_checks_can_see(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    # When the golden model is also the most routed one, the shadow checks never see it
    # (a model is not compared with itself): @top drifts it unseen, @top-shadowed picks
    # the most routed of the others.
    data = _dataset(tmp_path / "data")
    common = ("--requests", "3000", "--shadow-rate", "0.2", "--seed", "1", "--golden", "small")
    blind = _replay(tiny_bundle, data, *common, "--drift", "@top:1500:@drop60")
    assert blind["drift_model"] == "small"
    assert blind["detected_at"] is None
    seen = _replay(tiny_bundle, data, *common, "--drift", "@top-shadowed:1500:@drop60")
    assert seen["drift_model"] in {"mid", "frontier"}


def test_a_judges_reference_graded_against_itself_is_not_replayed(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    # A pairwise judge (AlpacaEval 2) grades its reference model against itself
    # as exactly 0.5 on every prompt. Replay must drop that column as training
    # and the benchmark protocol do, not route to it and record 0.5 as outcomes.
    from learned_router.drift.replay import load_dataset
    from learned_router.router import Router

    data = _dataset(tmp_path / "d", n=40)
    table = pq.read_table(data / "outcomes" / "tiny.parquet").to_pylist()
    for row in table:
        if row["model"] == "frontier":
            row["quality"] = 0.5
    pq.write_table(pa.Table.from_pylist(table), data / "outcomes" / "tiny.parquet")
    router = Router.load(tiny_bundle, capacity=False)
    replayed = load_dataset(data, "tiny", router)
    assert sorted(replayed.models) == ["mid", "small"]
    assert replayed.quality.shape == (40, 2)


def test_the_cli_warm_up_defaults_are_the_samplers() -> None:
    # cli.py spells them out (its imports stay lazy, for a fast --help): keep them equal.
    import inspect

    from learned_router import cli
    from learned_router.drift.sampling import WARMUP_CHECKS, WARMUP_MIN_SHARE, WARMUP_RATE

    params = inspect.signature(cli.replay).parameters
    assert params["warmup_rate"].default == WARMUP_RATE
    assert params["warmup_checks"].default == WARMUP_CHECKS
    assert params["warmup_min_share"].default == WARMUP_MIN_SHARE
    from learned_router.drift.monitor import PROBE_RATE

    assert params["probe_rate"].default == PROBE_RATE
