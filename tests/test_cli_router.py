"""`learned-router route | calibrate | verify | demo` on a tiny bundle (learned_router.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from learned_router.cli import app
from learned_router.policy_calibration import Calibration
from learned_router.router import Router

runner = CliRunner()


def test_route_prints_the_decision(tiny_bundle: Path) -> None:
    result = runner.invoke(
        app,
        ["route", "Analyse this contract", "--bundle", str(tiny_bundle), "--min-quality", "0.8"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "frontier" in result.output
    assert "cheapest model with P(success) >= 0.8" in result.output


def test_route_json_is_the_whole_decision(tiny_bundle: Path) -> None:
    result = runner.invoke(
        app,
        [
            "route",
            "write a poem",
            "--bundle",
            str(tiny_bundle),
            "--json",
            "--candidates",
            "small,mid",
        ],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["model"] == "small"
    assert [c["model"] for c in decision["candidates"]] == ["small", "mid"]


def test_verify_reports_a_good_bundle(tiny_bundle: Path) -> None:
    result = runner.invoke(app, ["verify", str(tiny_bundle)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK tiny@")


def _validation_log(path: Path, n: int = 400, seed: int = 0) -> Path:
    """Outcomes that follow the tiny bundle's signal: cheap models fail contract questions."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        hard = i % 2 == 0
        prompt = f"review contract clause {i}" if hard else f"write a short poem about cats {i}"
        for model, p_ok in (
            ("small", 0.05 if hard else 0.95),
            ("mid", 0.4 if hard else 0.95),
            ("frontier", 0.95),
        ):
            rows.append(
                {
                    "prompt_id": str(i),
                    "prompt": prompt,
                    "model": model,
                    "quality": float(rng.random() < p_ok),
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_calibrate_hits_its_quality_target_on_held_out_traffic(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    out = tmp_path / "calibration.json"
    result = runner.invoke(
        app,
        [
            "calibrate",
            "--data",
            str(_validation_log(tmp_path / "val.jsonl")),
            "--bundle",
            str(tiny_bundle),
            "--quality-of-best",
            "0.95",
            "--out",
            str(out),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    calibration = Calibration.load(out)
    assert calibration.target_met
    # On fresh traffic of the same kind the calibrated router reaches the target
    # (within tolerance) at a fraction of always-frontier's cost.
    router = Router.load(tiny_bundle, calibration=out, capacity=False)
    test = _validation_log(tmp_path / "test.jsonl", n=400, seed=1)
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    truth = {(r["prompt"], r["model"]): r["quality"] for r in rows}
    prompts = sorted({r["prompt"] for r in rows})
    decisions = router.route_batch(prompts, candidates=["small", "mid", "frontier"])
    quality = np.mean([truth[(p, d.model)] for p, d in zip(prompts, decisions, strict=True)])
    best = np.mean([truth[(p, "frontier")] for p in prompts])
    assert quality >= 0.95 * best - 0.03
    spent = sum(d.expected_cost_usd for d in decisions)
    frontier = sum(d.candidate("frontier").expected_cost_usd for d in decisions)
    assert spent < 0.7 * frontier
