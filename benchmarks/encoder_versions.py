"""How far the shipped int8 encoder's embeddings move between two onnxruntime installs
(or two machines): embed the same prompts under each, then compare.

    # under the first install: save
    .venv/bin/python -m benchmarks.encoder_versions --data ../shared/data --save /tmp/a.npy
    # under the second (e.g. another onnxruntime shadowing the venv's):
    pip install --target /tmp/ort124 --no-deps onnxruntime==1.24.3
    PYTHONPATH=/tmp/ort124:. .venv/bin/python -m benchmarks.encoder_versions \\
        --data ../shared/data --compare /tmp/a.npy

Embeds the first ``--prompts`` prompts of ``--dataset`` (default: 300 of
livecodebench) with ``models/default``'s encoder. ``--compare`` prints one JSON
object: both onnxruntime versions, the largest and mean per-coordinate difference
(the mean over prompts of each prompt's largest) and the smallest cosine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import machine

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"


def embed(data: Path, dataset: str, prompts: int) -> np.ndarray:
    import pandas as pd

    from learned_router import Router

    texts = pd.read_parquet(data / "prompts" / f"{dataset}.parquet")["prompt"].tolist()
    return Router.load(SHIPPED).encoder.embed(texts[:prompts])


def main() -> None:
    import onnxruntime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dataset", default="livecodebench")
    parser.add_argument("--prompts", type=int, default=300)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--save", type=Path, help="write the embeddings here (.npy)")
    which.add_argument("--compare", type=Path, help="compare with embeddings saved here")
    args = parser.parse_args()
    here = embed(args.data, args.dataset, args.prompts)
    if args.save:
        np.save(args.save, here)
        args.save.with_suffix(".json").write_text(
            json.dumps({"onnxruntime": onnxruntime.__version__})
        )
        print(f"saved {here.shape} from onnxruntime {onnxruntime.__version__} to {args.save}")
        return
    there = np.load(args.compare)
    saved_with = json.loads(args.compare.with_suffix(".json").read_text())["onnxruntime"]
    worst = np.abs(here - there).max(axis=1)
    print(
        json.dumps(
            {
                "prompts": len(here),
                "onnxruntime": [saved_with, onnxruntime.__version__],
                "max_abs_diff": round(float(worst.max()), 5),
                "mean_max_abs_diff": round(float(worst.mean()), 5),
                "min_cosine": round(float((here * there).sum(axis=1).min()), 6),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
