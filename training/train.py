"""One training run: outcome logs in, a verified bundle and an MLflow model version out.

``main(config)`` (also ``python -m training train --data PATH... --config FILE``):

1. load, validate and split the logs (by prompt), resolving model names
   through the catalog;
2. teacher embeddings of the training prompts (cached on disk);
3. distil the student encoder (least-squares projection start, then cosine
   distillation), export it to ONNX and quantise it to int8 -- or, with
   ``[encoder] reuse_from = BUNDLE``, take that bundle's encoder as it is
   (steps 2, 3 and 5 are skipped: the encoder learns from no labels);
4. embed every split with the int8 student (what serving will compute) and
   train the quality model (``training/quality_model.py``: one latent ability
   per model, a link per label source, support-aware shrinkage, a per-prompt
   length model), early-stopped on the validation split;
5. parity check: torch student vs int8 ONNX (max |diff| of embeddings, change
   in validation AUC); a broken export fails the run;
6. write the bundle (model card included), log everything to MLflow and
   register a model version.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import learned_router
from learned_router.bundle import BundleManifest, EncoderInfo, ModelEntry, write_bundle
from learned_router.catalog import Catalog
from learned_router.data import prompt_group
from learned_router.encoder import Truncation, encode_ids
from learned_router.errors import LearnedRouterError
from learned_router.quality import LatentQualityModel
from learned_router.tokens import OutputLengthModel, load_tokenizer
from training.config import TrainConfig, load_config
from training.dataset import SplitArrays, TrainingData, prepare
from training.distill import EmbeddingStore, _padded, distill, embed_with_onnx, encoder_store
from training.encoder_model import TEACHER_NAME, PromptEncoder, student_encoder, teacher_encoder
from training.model_card import render_model_card
from training.onnx_export import export_encoder, export_fp32
from training.platt import ModelMetrics, per_model_metrics, summarise
from training.quality_model import QualityData, base_columns, fit_quality_model
from training.tracking import Tracker, temporary_folder


class ParityError(LearnedRouterError):
    """The exported ONNX encoder does not reproduce the torch student."""


@dataclass(frozen=True)
class RunResult:
    bundle: Path
    metrics: dict[str, float]
    run_id: str | None
    model_version: str | None
    seconds: dict[str, float]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _embed_torch(
    encoder: PromptEncoder, texts: list[str], truncation: Truncation
) -> npt.NDArray[np.float32]:
    ids = encode_ids(load_tokenizer(), texts, truncation)
    out = []
    encoder.eval()
    with torch.no_grad():
        for start in range(0, len(ids), 64):
            out.append(
                encoder(*_padded(ids, list(range(start, min(start + 64, len(ids)))))).numpy()
            )
    return np.concatenate(out)


def parity_check(
    student: PromptEncoder,
    texts: list[str],
    onnx_embeddings: npt.NDArray[np.float32],
    p_of: Any,
    labels: npt.NDArray[np.float32],
    models: list[str],
    truncation: Truncation,
    *,
    max_abs_diff: float,
    max_auc_drop: float,
) -> dict[str, float]:
    """Compares the torch student with the exported encoder on validation prompts.

    Raises :class:`ParityError` if any embedding moved more than
    ``max_abs_diff`` or the quality model's validation AUC (``p_of(embeddings)``)
    dropped more than ``max_auc_drop`` through the export.
    """
    torch_embeddings = _embed_torch(student, texts, truncation)
    diff = float(np.abs(torch_embeddings - onnx_embeddings).max())
    cosine = float((torch_embeddings * onnx_embeddings).sum(1).min())
    auc = {}
    for name, embeddings in (("torch", torch_embeddings), ("onnx", onnx_embeddings)):
        p = p_of(embeddings)
        auc[name] = summarise(
            per_model_metrics(p, labels.astype(np.float64), models, min_labels=10)
        )["auc"]
    drop = (
        auc["torch"] - auc["onnx"]
        if np.isfinite(auc["torch"]) and np.isfinite(auc["onnx"])
        else 0.0
    )
    result = {
        "parity_max_abs_diff": diff,
        "parity_min_cosine": cosine,
        "parity_val_auc_torch": auc["torch"],
        "parity_val_auc_onnx_int8": auc["onnx"],
        "parity_val_auc_drop": drop,
    }
    if diff > max_abs_diff or drop > max_auc_drop:
        raise ParityError(
            f"ONNX export parity broken: max |embedding diff| {diff:.4f} (limit {max_abs_diff}), "
            f"validation AUC drop {drop:.4f} (limit {max_auc_drop}). The bundle was not written. "
            "Check the export (opset, fusion) or raise the limits in [encoder] if the loss is "
            "acceptable."
        )
    return result


def encoder_latency(
    onnx_path: Path, truncation: Truncation, *, threads: int, repeats: int = 20
) -> dict[str, float]:
    """Median ms to embed one 30-token and one 500-token prompt (cut to the budget)."""
    from learned_router.encoder import Encoder

    encoder = Encoder(onnx_path, load_tokenizer(), truncation, threads=threads)
    out = {}
    for tokens in (30, 500):
        text = " ".join(["routing"] * tokens)
        encoder.embed([text])
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            encoder.embed([text])
            samples.append(time.perf_counter() - start)
        out[f"{tokens}_tokens_ms"] = 1e3 * float(np.median(samples))
    return out


def main(config: TrainConfig, *, console: Console | None = None) -> RunResult:
    """Trains, evaluates, exports and registers a router; see the module docstring."""
    console = console or Console()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not config.data.paths:
        raise LearnedRouterError(
            "no training data: give --data PATH (or [data] paths in the config)"
        )
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    cache = Path(config.output.cache_dir)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    catalog = Catalog.load(config.data.catalog) if config.data.catalog else Catalog.load()
    truncation = Truncation(config.encoder.max_tokens, config.encoder.head_tokens)
    with Tracker(config.tracking) as tracker, _progress(console) as progress:
        console.print("[bold]1/6[/] loading and splitting the outcome logs")
        data = prepare(
            list(config.data.paths),
            catalog,
            fractions=dict(config.data.fractions),
            seed=config.data.split_seed,
            rejects=config.data.rejects or cache / "rejects.jsonl",
        )
        tracker.params(config.flat())
        tracker.params(
            {
                **data.splits.params(),
                "data_fingerprint": data.fingerprint,
                **{f"rows_{k}": v for k, v in data.rows.items()},
                "models": len(data.models),
            }
        )
        if data.log.report is not None:
            tracker.json("data_report.json", data.log.report.__dict__)
        lap("data")

        reuse = config.encoder.reuse_from
        student: PromptEncoder | None = None
        losses: list[float] = []
        int8: Path | None
        if reuse:
            from learned_router.bundle import Bundle

            console.print(f"[bold]2-3/6[/] reusing the encoder of {reuse}")
            source = Bundle.load(reuse)
            if source.truncation != truncation:
                raise LearnedRouterError(
                    f"[encoder] reuse_from = {reuse!r}: its token budget {source.truncation} "
                    f"differs from the config's {truncation}; align max_tokens/head_tokens"
                )
            served = source.path / "encoder.onnx"
            quantization = source.manifest.encoder.quantization
            int8 = served
        else:
            student, served, int8, losses = _distil_student(
                config, data, truncation, cache, tracker, progress, console
            )
            quantization = "dynamic int8, per-channel weights" if int8 else "none (fp32)"
        lap("encoder")

        console.print("[bold]4/6[/] the quality model on the served encoder's embeddings")
        task = progress.add_task("embeddings", total=len(data.parts))
        store = encoder_store(cache / "embeddings", served)
        embeddings = {}
        for name, part in data.parts.items():
            embeddings[name] = embed_with_onnx(served, part.texts, truncation, cache=store)
            progress.advance(task)
        progress.remove_task(task)
        base_of = base_columns(data.models, catalog)
        quality, history = fit_quality_model(
            quality_data(data.parts["train"], embeddings["train"]),
            quality_data(data.parts["val"], embeddings["val"]),
            data.models,
            data.dataset_names,
            base_of,
            config.quality,
            on_epoch=lambda epoch, tr, va: tracker.metrics(
                {"quality_train_loss": tr, "quality_val_loss": va}, step=epoch
            ),
        )
        test = data.parts["test"]
        test_p = p_on_own_scale(quality, test, embeddings["test"], data.dataset_names)
        after = per_model_metrics(test_p, test.labels.astype(np.float64), data.models)
        canonical = p_on_own_scale(
            quality, test, embeddings["test"], data.dataset_names, canonical=True
        )
        metrics: dict[str, float] = {
            **{f"test_{k}": v for k, v in summarise(after).items()},
            **{
                f"test_canonical_{k}": v
                for k, v in summarise(
                    per_model_metrics(canonical, test.labels.astype(np.float64), data.models)
                ).items()
                if k != "models"
            },
            **length_metrics(quality, test, embeddings["test"]),
        }
        lap("quality_model")

        if student is not None:
            console.print("[bold]5/6[/] parity check: torch student vs exported encoder")
            val = data.parts["val"]
            rows = np.arange(min(512, len(val)))
            metrics.update(
                parity_check(
                    student,
                    [val.texts[i] for i in rows],
                    embeddings["val"][rows],
                    lambda e, rows=rows: p_on_own_scale(
                        quality, val.subset(rows), e, data.dataset_names
                    ),
                    val.labels[rows],
                    data.models,
                    truncation,
                    max_abs_diff=config.encoder.parity_max_abs_diff,
                    max_auc_drop=config.encoder.parity_max_auc_drop,
                )
            )
            lap("parity")

        console.print("[bold]6/6[/] bundle, model card, MLflow")
        lengths = OutputLengthModel.fit(data.splits.log(data.log, "train"))
        latency = {
            f"student_int8_{k}_{t}t": v
            for t in (1, 2)
            for k, v in encoder_latency(served, truncation, threads=t).items()
        }
        metrics.update(latency)
        metrics["encoder_mb"] = served.stat().st_size / 1e6
        if losses:
            metrics["distill_final_loss"] = losses[-1]
        labelled = (~np.isnan(data.parts["train"].labels)).sum(0)
        sources = _label_sources(data.parts["train"], data.dataset_names)
        per_model = _per_model_rows(data.models, after, labelled, sources)
        per_dataset = per_dataset_auc(test_p, test, data.models, data.dataset_names)
        tracker.metrics(metrics)
        tracker.metrics({f"test_auc_{d}": v for d, v in per_dataset.items()})
        tracker.json("per_model_metrics.json", per_model)
        entries = [
            ModelEntry(id=m, train_labels=int(labelled[j]), catalog_version=catalog.version)
            for j, m in enumerate(data.models)
        ]
        manifest = BundleManifest(
            name=Path(config.output.bundle_dir).name,
            created_at=datetime.now(timezone.utc).isoformat(),
            package_version=learned_router.__version__,
            encoder=EncoderInfo(
                truncation=truncation,
                dim=int(embeddings["train"].shape[1]),
                teacher=TEACHER_NAME,
                student_layers=tuple(config.encoder.student_layers),
                quantization=quantization,
            ),
            data={
                "fingerprint": data.fingerprint,
                "paths": list(config.data.paths),
                **data.rows,
                "datasets": data.dataset_names,
                "split": data.splits.params(),
            },
            catalog_version=catalog.version,
            config=config.to_dict(),
            metrics={
                k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in metrics.items()
            },
            mlflow_run_id=tracker.run_id,
        )
        card = render_model_card(
            manifest=manifest,
            metrics=metrics,
            per_model=per_model,
            per_dataset=per_dataset,
            seconds=seconds,
            config=config,
        )
        bundle = write_bundle(
            config.output.bundle_dir,
            manifest=manifest,
            quality=quality,
            entries=entries,
            encoder_onnx=served,
            output_lengths=lengths,
            catalog=catalog,
            model_card=card,
            train_prompt_groups=[
                prompt_group(text) for text in data.parts["train"].texts + data.parts["val"].texts
            ],
        ).path
        size_mb = sum(f.stat().st_size for f in bundle.iterdir()) / 1e6
        if size_mb > config.output.max_bundle_mb:
            console.print(
                f"[yellow]warning[/]: the bundle is {size_mb:.1f} MB "
                f"(limit {config.output.max_bundle_mb} MB)"
            )
        tracker.metrics({"bundle_mb": size_mb})
        tracker.artifacts(bundle, "bundle")
        _log_plots(tracker, history, losses)
        version = tracker.register(bundle, example_prompt=data.parts["test"].texts[0][:2000])
        lap("bundle_and_tracking")
        tracker.metrics({f"seconds_{k}": v for k, v in seconds.items()})

    _summary(console, bundle, metrics, per_dataset, seconds, version)
    return RunResult(bundle, metrics, tracker.run_id, version, seconds)


def _log_plots(tracker: Tracker, history: list[dict[str, float]], losses: list[float]) -> None:
    if not tracker.enabled:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].plot([h["train_loss"] for h in history], label="train")
    axes[0].plot([h.get("val_loss", float("nan")) for h in history], label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_title("quality-model losses")
    axes[0].legend()
    axes[1].bar(range(len(losses)), losses)
    axes[1].set_title("distillation loss (1 - cosine)")
    axes[1].set_xlabel("epoch")
    figure.tight_layout()
    tracker.figure(figure, "plots/losses.png")
    plt.close(figure)


def _summary(
    console: Console,
    bundle: Path,
    metrics: dict[str, float],
    per_dataset: dict[str, float],
    seconds: dict[str, float],
    version: str | None,
) -> None:
    table = Table(
        title=f"Trained {bundle}" + (f" (registered version {version})" if version else "")
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "test_auc",
        "test_brier",
        "test_ece",
        "test_canonical_auc",
        "test_length_median_abs_log_ratio",
        "parity_max_abs_diff",
        "parity_val_auc_drop",
        "student_int8_30_tokens_ms_1t",
        "student_int8_500_tokens_ms_1t",
        "encoder_mb",
    ):
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    for name, value in per_dataset.items():
        table.add_row(f"test AUC {name}", f"{value:.4f}")
    table.add_row("total seconds", f"{sum(seconds.values()):.0f}")
    console.print(table)


def _distil_student(
    config: TrainConfig,
    data: TrainingData,
    truncation: Truncation,
    cache: Path,
    tracker: Tracker,
    progress: Progress,
    console: Console,
) -> tuple[PromptEncoder, Path, Path | None, list[float]]:
    """Steps 2-3: teacher embeddings, the distilled student, its ONNX export."""
    console.print("[bold]2/6[/] teacher embeddings (cached)")
    texts = data.parts["train"].texts
    # Gradient distillation needs the teacher on every prompt it trains on;
    # the closed-form projection alone needs only its own sample.
    limit = config.encoder.distill_max_prompts
    if config.encoder.distill_epochs == 0:
        limit = config.encoder.projection_prompts
    if limit and len(texts) > limit:
        rng = np.random.default_rng(config.seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), limit, replace=False))]
    teacher_onnx = cache / "teacher.fp32.onnx"
    if not teacher_onnx.exists():
        export_fp32(teacher_encoder(), teacher_onnx)
    tag = f"teacher-{truncation.max_tokens}-{truncation.head_tokens}"
    task = progress.add_task("teacher embeddings", total=None)
    targets = embed_with_onnx(
        teacher_onnx,
        texts,
        truncation,
        cache=EmbeddingStore(cache / "embeddings", tag),
        progress=lambda done, total: progress.update(task, completed=done, total=total),
    )
    progress.remove_task(task)
    console.print(f"[bold]3/6[/] distilling a {len(config.encoder.student_layers)}-layer student")
    student = student_encoder(config.encoder.student_layers)
    task = progress.add_task("distillation", total=None)
    losses = distill(
        student,
        texts,
        targets,
        truncation,
        epochs=config.encoder.distill_epochs,
        init_rows=config.encoder.projection_prompts,
        batch_size=config.encoder.distill_batch_size,
        learning_rate=config.encoder.distill_learning_rate,
        seed=config.seed,
        on_epoch=lambda epoch, loss: tracker.metrics({"distill_loss": loss}, step=epoch),
        progress=lambda done, total: progress.update(task, completed=done, total=total),
    )
    progress.remove_task(task)
    fp32, int8 = export_encoder(student, temporary_folder(), int8=config.encoder.int8)
    return student, int8 or fp32, int8, losses


def quality_data(part: SplitArrays, embeddings: npt.NDArray[np.float32]) -> QualityData:
    """A split as the quality model's training rows: each dataset is its own label source."""
    return QualityData(
        embeddings=embeddings,
        labels=part.labels,
        source=part.dataset_index,
        dataset=part.dataset_index,
        lengths=part.output_tokens,
    )


def p_on_own_scale(
    quality: LatentQualityModel,
    part: SplitArrays,
    embeddings: npt.NDArray[np.float32],
    sources: list[str],
    *,
    canonical: bool = False,
) -> npt.NDArray[np.float64]:
    """P(success) of every labelled cell on its dataset's label scale (how it was graded;
    with ``canonical``, on the canonical scale serving uses); NaN where unlabelled.

    Each dataset's rows are predicted over the models graded there, together: the
    candidates a router compares on that traffic (with joint trust they share one
    trust, so predicting every model of the bundle at once would mostly measure the
    priors)."""
    p = np.full(part.labels.shape, np.nan)
    for d, name in enumerate(sources):
        rows = np.flatnonzero(part.dataset_index == d)
        cols = np.flatnonzero((~np.isnan(part.labels[rows])).any(axis=0)) if len(rows) else rows
        if len(cols):
            p[np.ix_(rows, cols)] = quality.p_success(
                embeddings[rows],
                models=[quality.models[c] for c in cols],
                scale=None if canonical else name,
            )
    return p


def length_metrics(
    quality: LatentQualityModel, part: SplitArrays, embeddings: npt.NDArray[np.float32]
) -> dict[str, float]:
    """How far predicted answer lengths are from the observed ones on held-out prompts."""
    predicted = quality.predict(embeddings).output_tokens
    assert predicted is not None
    seen = np.isfinite(part.output_tokens) & (part.output_tokens > 0)
    if not seen.any():
        return {}
    ratio = np.log(predicted[seen] / part.output_tokens[seen])
    return {
        "test_length_median_abs_log_ratio": float(np.median(np.abs(ratio))),
        "test_length_total_predicted_over_observed": float(
            predicted[seen].sum() / part.output_tokens[seen].sum()
        ),
    }


def per_dataset_auc(
    p: npt.NDArray[np.float64], part: SplitArrays, models: list[str], names: list[str]
) -> dict[str, float]:
    """Mean per-model test AUC in each dataset."""
    out = {}
    for d, name in enumerate(names):
        rows = part.dataset_index == d
        if not rows.any():
            continue
        found = per_model_metrics(p[rows], part.labels[rows].astype(np.float64), models)
        aucs = [m.auc for m in found if not np.isnan(m.auc)]
        if aucs:
            out[name] = float(np.mean(aucs))
    return out


def _label_sources(part: SplitArrays, names: list[str]) -> list[list[str]]:
    """The datasets each model's training labels come from."""
    known = ~np.isnan(part.labels)
    return [
        [name for d, name in enumerate(names) if known[part.dataset_index == d, j].any()]
        for j in range(part.labels.shape[1])
    ]


def _per_model_rows(
    models: list[str],
    after: list[ModelMetrics],
    labelled: npt.NDArray[np.int64],
    sources: list[list[str]],
) -> list[dict[str, Any]]:
    """One model-card row per model: training labels and sources, test metrics where
    it has at least 20 test labels."""
    measured = {m.model: m for m in after}
    rows = []
    for j, model in enumerate(models):
        found = measured.get(model)
        rows.append(
            {
                "model": model,
                "train_labels": int(labelled[j]),
                "datasets": sources[j],
                "test_labels": found.labels if found else 0,
                "auc": found.auc if found else None,
                "brier": found.brier if found else None,
                "ece": found.ece if found else None,
            }
        )
    return rows


def cli(
    data: list[str], config_path: str | None, overrides: dict[str, Any] | None = None
) -> RunResult:
    """What ``python -m training train`` calls."""
    config = load_config(
        config_path, **({"data.paths": list(data)} if data else {}), **(overrides or {})
    )
    return main(config)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(json.dumps(cli(sys.argv[1:], None).metrics, indent=1))
