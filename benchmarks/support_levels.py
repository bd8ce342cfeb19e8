"""How much of a bundle's prompt-level prediction reaches routing, per dataset: the
support and trust of each dataset's models on its own prompts.

The quality model shrinks each prediction towards the model's prior by
``trust = support / (support + prior_strength)`` (``learned_router.quality``); with
joint trust every candidate shares the least one. This prints, per dataset of
``--data``, over ``--prompts`` of its prompts (seeded sample; the shipped bundle
trained on ~80% of them) and the models answering >= 90% of them: the median
per-model trust, the median joint trust and the least supported model.

``--variant DIR key=value ...`` also writes a copy of the bundle with those
``calibration.json`` overrides, re-sealed, to score with
``learned-router bench --router DIR`` (e.g. ``prior_strength=0.01``: trust ~1
wherever any labelled prompt is near).

Run: ``python -m benchmarks.support_levels --data ../shared/data`` (~1 minute).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from benchmarks.common import machine

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"


def write_variant(bundle: Path, target: Path, overrides: list[str]) -> dict[str, object]:
    """A re-sealed copy of ``bundle`` at ``target`` with ``calibration.json`` overrides."""
    from learned_router.bundle import write_manifest

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle, target)
    calibration = json.loads((target / "calibration.json").read_text())
    numbers = sorted(k for k, v in calibration.items() if isinstance(v, (int, float)))
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in numbers or not value:
            shutil.rmtree(target)
            raise SystemExit(f"--variant: {item!r} is not KEY=VALUE, KEY one of {numbers}")
        calibration[key] = float(value)
    (target / "calibration.json").write_text(json.dumps(calibration, indent=1))
    write_manifest(target, json.loads((target / "manifest.json").read_text()))
    return calibration


def levels(data: Path, bundle: Path, prompts: int, seed: int) -> list[dict[str, object]]:
    import pandas as pd

    from learned_router import Router

    router = Router.load(bundle)
    scorer, catalog = router.scorer, router.catalog.current
    quality = scorer.quality
    rows: list[dict[str, object]] = []
    for path in sorted((data / "outcomes").glob("*.parquet")):
        name = path.stem
        outcomes = pd.read_parquet(path, columns=["prompt_id", "model"])
        coverage = outcomes.groupby("model").prompt_id.nunique() / outcomes.prompt_id.nunique()
        heads: list[str] = []
        for model in coverage[coverage >= 0.9].index:
            head = catalog.resolve(model) if catalog.knows(model) else model
            if head in quality.models and head not in heads:
                heads.append(head)
        texts = pd.read_parquet(data / "prompts" / f"{name}.parquet")["prompt"]
        sample = texts.sample(min(prompts, len(texts)), random_state=seed).tolist()
        embeddings = scorer.embed(sample)
        support = quality.support(embeddings, quality.columns(heads))
        trust = support / (support + quality.prior_strength)
        per_model = np.median(trust, axis=0)
        rows.append(
            {
                "dataset": name,
                "models": len(heads),
                "median_trust": round(float(np.median(trust)), 3),
                "median_joint_trust": round(float(np.median(trust.min(axis=1))), 3),
                "median_support": round(float(np.median(support)), 2),
                "least_supported": heads[int(np.argmin(per_model))],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, default=SHIPPED)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", nargs="+", metavar=("DIR", "KEY=VALUE"))
    args = parser.parse_args()
    if args.variant:
        target, *overrides = args.variant
        written = write_variant(args.bundle, Path(target), overrides)
        print(f"wrote {target} with calibration {json.dumps(written)}")
    rows = levels(args.data, args.bundle, args.prompts, args.seed)
    header = ("dataset", "models", "median trust", "median joint trust", "median support")
    print("| " + " | ".join((*header, "least supported")) + " |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['models']} | {r['median_trust']} | "
            f"{r['median_joint_trust']} | {r['median_support']} | {r['least_supported']} |"
        )
    print(json.dumps({"bundle": str(args.bundle), "rows": rows, "machine": machine()}))


if __name__ == "__main__":
    main()
