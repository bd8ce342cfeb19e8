"""The encoder design study: what each choice costs in prediction quality.

Variants (token budget, which tokens are kept, teacher or a distilled
student of k layers) are compared by training the same quality heads on each
variant's embeddings of the same prompts and measuring per-model test AUC,
Brier score and ECE after calibration. Latency is measured separately on the
exported ONNX files (``benchmarks/bench_encoder.py``).

Run: ``python -m training.study --data ../shared/data [--per-dataset 2000]``.
Writes ``docs/results/encoder_study.json`` (figures only).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from learned_router.catalog import Catalog
from learned_router.encoder import Truncation
from training.dataset import SplitArrays, TrainingData, prepare
from training.distill import EmbeddingStore, distill, embed_with_onnx
from training.encoder_model import student_encoder, teacher_encoder
from training.evaluate import fit_and_measure
from training.heads import HeadConfig
from training.onnx_export import export_encoder, export_fp32


@dataclass(frozen=True)
class Variant:
    name: str
    layers: tuple[int, ...] | None  # None: the teacher
    truncation: Truncation
    distill_epochs: int | None = -1
    """None: the truncated layers as they are; 0: least-squares projection only;
    -1: the study's --epochs of distillation."""


VARIANTS = [
    Variant("teacher 6L, 256 tokens (head 64 + tail)", None, Truncation(256, 64)),
    Variant("teacher 6L, 128 tokens (head 32 + tail)", None, Truncation(128, 32)),
    Variant("teacher 6L, 128 tokens (tail only)", None, Truncation(128, 0)),
    Variant("teacher 6L, 128 tokens (head only)", None, Truncation(128, 126)),
    Variant("student 2L, 128 tokens, truncated only", (0, 1), Truncation(128, 32), None),
    Variant("student 2L, 128 tokens, projection only", (0, 1), Truncation(128, 32), 0),
    Variant("student 2L, 128 tokens, distilled", (0, 1), Truncation(128, 32)),
    Variant("student 3L, 128 tokens, distilled", (0, 1, 2), Truncation(128, 32)),
    Variant("student 1L, 128 tokens, projection only", (0,), Truncation(128, 32), 0),
    Variant("student 3L, 128 tokens, projection only", (0, 1, 2), Truncation(128, 32), 0),
    Variant(
        "student 2L, 64 tokens (head 16 + tail), projection only", (0, 1), Truncation(64, 16), 0
    ),
    Variant(
        "student 2L, 256 tokens (head 64 + tail), projection only", (0, 1), Truncation(256, 64), 0
    ),
]


def subsample(data: TrainingData, per_dataset: int, seed: int) -> dict[str, SplitArrays]:
    """At most ``per_dataset`` prompts of each dataset, in each split's proportion."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, part in data.parts.items():
        share = len(part) / data.rows["prompts"]
        keep: list[int] = []
        for d in range(len(data.dataset_names)):
            rows = np.flatnonzero(part.dataset_index == d)
            limit = max(1, round(per_dataset * share))
            keep += sorted(rng.choice(rows, size=min(limit, len(rows)), replace=False).tolist())
        out[name] = part.subset(np.array(sorted(keep), dtype=np.int64))
    return out


def run(
    data_paths: list[str], per_dataset: int, cache: Path, out: Path, epochs: int, only: list[str]
) -> list[dict[str, object]]:
    torch.set_num_threads(2)
    data = prepare(
        data_paths,
        Catalog.load(),
        fractions={"train": 0.8, "val": 0.1, "test": 0.1},
        seed=0,
        rejects=cache / "rejects.jsonl",
    )
    parts = subsample(data, per_dataset, seed=0)
    print({k: len(v) for k, v in parts.items()}, flush=True)
    teacher_onnx = cache / "teacher.fp32.onnx"
    if not teacher_onnx.exists():
        export_fp32(teacher_encoder(), teacher_onnx)
    results: list[dict[str, object]] = []
    if out.exists():  # resume: keep what an earlier run measured on the same prompts
        previous = json.loads(out.read_text())
        if previous.get("prompts") == {k: len(v) for k, v in parts.items()}:
            results = previous["results"]
    done = {r["variant"] for r in results}
    for variant in VARIANTS:
        if variant.name in done or (only and variant.name not in only):
            continue
        started = time.perf_counter()
        t = variant.truncation
        tag = f"{t.max_tokens}-{t.head_tokens}"
        teacher_cache = EmbeddingStore(cache / "embeddings", f"teacher-{tag}")
        if variant.layers is None:
            embeddings = {
                k: embed_with_onnx(teacher_onnx, p.texts, t, cache=teacher_cache)
                for k, p in parts.items()
            }
            extra: dict[str, object] = {}
        else:
            student = student_encoder(variant.layers)
            losses: list[float] = []
            if variant.distill_epochs is not None:
                texts = parts["train"].texts
                targets = embed_with_onnx(teacher_onnx, texts, t, cache=teacher_cache)
                n_epochs = epochs if variant.distill_epochs < 0 else variant.distill_epochs
                losses = distill(
                    student,
                    texts,
                    targets,
                    t,
                    epochs=n_epochs,
                    batch_size=32,
                    learning_rate=1e-4,
                    seed=0,
                )
            folder = cache / "study" / variant.name.replace(" ", "_").replace(",", "")
            _, int8 = export_encoder(student, folder)
            assert int8 is not None
            embeddings = {k: embed_with_onnx(int8, p.texts, t) for k, p in parts.items()}
            test_teacher = embed_with_onnx(
                teacher_onnx, parts["test"].texts, t, cache=teacher_cache
            )
            cosine = (embeddings["test"] * test_teacher).sum(1)
            extra = {
                "distill_losses": losses,
                "cosine_to_teacher_mean": float(cosine.mean()),
                "cosine_to_teacher_p05": float(np.percentile(cosine, 5)),
                "onnx_int8_mb": int8.stat().st_size / 1e6,
            }
        evaluation = fit_and_measure(
            parts["train"],
            parts["val"],
            parts["test"],
            embeddings,
            data.models,
            len(data.scales),
            HeadConfig(),
        )
        row = {
            "variant": variant.name,
            **evaluation.summary,
            "per_dataset_auc": evaluation.per_dataset_auc(
                parts["test"], data.models, data.dataset_names
            ),
            "seconds": time.perf_counter() - started,
            **extra,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"prompts": {k: len(v) for k, v in parts.items()}, "results": results}, indent=1
            )
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["../shared/data"])
    parser.add_argument("--per-dataset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(".cache"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/encoder_study.json"))
    parser.add_argument("--only", nargs="*", default=[], help="run just these variants")
    args = parser.parse_args(argv)
    run(args.data, args.per_dataset, args.cache, args.out, args.epochs, args.only)


if __name__ == "__main__":
    main()
