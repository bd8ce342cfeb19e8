"""The bundle's model card: data, method, metrics on the held-out split, latency, limits."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from learned_router.bundle import BundleManifest
from training.config import TrainConfig


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(metrics: Mapping[str, float], label: str, prefix: str) -> str:
    values = [_f(metrics.get(f"{prefix}{name}")) for name in ("auc", "brier", "ece")]
    return f"| {label} | " + " | ".join(values) + " |"


def render_model_card(
    *,
    manifest: BundleManifest,
    metrics: Mapping[str, float],
    per_model: Sequence[Mapping[str, Any]],
    per_dataset: Mapping[str, float],
    seconds: Mapping[str, float],
    config: TrainConfig,
) -> str:
    encoder = manifest.encoder
    data = manifest.data
    trunc = encoder.truncation
    layers = list(encoder.student_layers)
    has_teacher = "teacher_test_auc" in metrics
    lines = [
        f"# learned-router model card: {manifest.name}",
        "",
        f"Created {manifest.created_at} by learned-router {manifest.package_version}; "
        f"MLflow run `{manifest.mlflow_run_id}`; catalog `{manifest.catalog_version}`.",
        "",
        "## What it predicts",
        "",
        "For a prompt, the probability that each of "
        f"{len(per_model) if per_model else 'its'} models answers it well (P(success)), "
        "from the prompt alone. The router combines these with live prices to pick the "
        "cheapest model that clears a quality bar.",
        "",
        "## Data",
        "",
        f"- Sources: {', '.join(data['datasets'])} ({data['prompts']} prompts, "
        f"{data['outcomes']} outcomes after validation; fingerprint `{data['fingerprint'][:16]}`).",
        f"- Split by prompt text (grouped, stratified by dataset and task): "
        f"{data['split']['split_fractions']}, seed {data['split']['split_seed']}; "
        f"{data.get('train_prompts')} / {data.get('val_prompts')} / "
        f"{data.get('test_prompts')} prompts.",
        "- Labels are each dataset's own quality in [0, 1] (0/1 correctness, a judge's "
        "win probability, pass rates, task scores). Each dataset is its own label source "
        "with its own monotone link to one latent scale shared by every model, so a model "
        "graded only by a judge is still comparable with the rest. Serving uses the "
        "canonical link unless `Router(quality_scale=DATASET)` names a source.",
        "",
        "## Method",
        "",
        f"- Encoder: a {len(layers)}-layer student (teacher layers "
        f"{layers}) of `{encoder.teacher}`, distilled to the teacher's "
        f"embeddings: a projection fitted in closed form (least squares) on "
        f"{config.encoder.projection_prompts} training prompts"
        + (
            f", then {config.encoder.distill_epochs} epoch(s) of cosine distillation"
            if config.encoder.distill_epochs
            else ""
        )
        + f"; exported to ONNX ({encoder.quantization})"
        + (
            f". Reused as it is from `{config.encoder.reuse_from}` (it learns from no labels; "
            "this run trained the quality model only)."
            if config.encoder.reuse_from
            else "."
        ),
        f"- Token budget: {trunc.max_tokens} tokens; long prompts keep the first "
        f"{trunc.head_tokens} tokens and the last "
        f"{trunc.max_tokens - 2 - trunc.head_tokens} "
        "(few-shot prompts put the question last). The choice and its trade-off come from "
        "the encoder study (docs/training.md).",
        f"- Quality model (`latent-v2`): shared prompt features ({config.quality.hidden} "
        "units), one ability and skill vector per model (a deployment shares its base "
        "model's), a prompt difficulty, one link per label source; binary cross-entropy on "
        "soft labels, early-stopped on the validation split. Each prediction carries its "
        f"support (labelled training prompts nearby, {config.quality.centroids} centroids, "
        f"bandwidth {config.quality.bandwidth}); with little support it shrinks towards the "
        f"model's prior (half-way at support {config.quality.prior_strength}): its ability "
        "from a one-parameter IRT fit to the (dataset, model) accuracy table, so a model is "
        "ranked against the models graded beside it."
        + (
            " The candidates of one request share the least supported one's trust (joint trust)."
            if config.quality.joint_trust
            else ""
        )
        + (
            f" Neighbour misses: the network's own misses on the {config.quality.neighbour_k} "
            "nearest labelled training prompts (an int8 bank of "
            f"{config.quality.neighbour_dims} principal axes) correct each prediction, "
            "gated by the same trust."
            if config.quality.neighbour_k > 0
            else ""
        ),
        "- Answer lengths: a ridge regression of log tokens on the prompt embedding plus a "
        "per-model verbosity offset (estimated within datasets, shrunk with support); it "
        "prices every candidate per prompt.",
        "- AlpacaEval 2's reference model graded against itself (0.5 on every prompt) is "
        "left out of training.",
        "",
        "## Held-out test metrics",
        "",
        "Label-weighted means over models with at least 20 test labels (AUC against label >= 0.5).",
        "",
        "| | AUC | Brier | ECE |",
        "|---|---|---|---|",
        _row(metrics, "each test prompt on its own dataset's scale", "test_"),
        _row(metrics, "canonical scale (what serving uses)", "test_canonical_"),
    ]
    if has_teacher:
        lines.append(_row(metrics, "teacher (6 layers, same budget), calibrated", "teacher_test_"))
    lines += ["", "Mean per-model test AUC by dataset:", "", "| dataset | AUC |", "|---|---|"]
    lines += [f"| {name} | {_f(value)} |" for name, value in per_dataset.items()]
    lines += [
        "",
        "Every model, with its training labels and where they come from, and test metrics "
        "where it has at least 20 test labels:",
        "",
        "| model | training labels | datasets | test labels | AUC | Brier | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(per_model, key=lambda r: (-r["train_labels"], r["model"])):
        lines.append(
            f"| {row['model']} | {row['train_labels']} | {', '.join(row['datasets'])} | "
            f"{row['test_labels']} | {_f(row['auc'])} | {_f(row['brier'])} | {_f(row['ece'])} |"
        )
    lines += [
        "",
        "## Export parity",
        "",
        f"torch student vs int8 ONNX on validation prompts: max |embedding diff| "
        f"{_f(metrics.get('parity_max_abs_diff'), 4)}, "
        f"min cosine {_f(metrics.get('parity_min_cosine'), 4)}, "
        f"validation AUC {_f(metrics.get('parity_val_auc_torch'))} -> "
        f"{_f(metrics.get('parity_val_auc_onnx_int8'))}. Student-to-teacher cosine on validation "
        f"prompts: {_f(metrics.get('student_cosine_to_teacher_val'))}.",
        "",
        "## Latency",
        "",
        "Encoder only (tokenise + ONNX), median of 20 calls on the training machine at training "
        "time; `make bench` measures the whole route() call.",
        "",
        "| threads | 30-token prompt | 500-token prompt |",
        "|---|---|---|",
    ]
    for threads in (1, 2):
        lines.append(
            f"| {threads} | {_f(metrics.get(f'student_int8_30_tokens_ms_{threads}t'), 2)} ms | "
            f"{_f(metrics.get(f'student_int8_500_tokens_ms_{threads}t'), 2)} ms |"
        )
    total = sum(seconds.values())
    lines += [
        "",
        f"Training took {total / 60:.1f} minutes ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + ").",
        "",
        "## Limits",
        "",
        "- Predictions are only as good as the logs: prompts unlike any training prompt (other "
        "languages, new task types) get each model's overall record (low support).",
        "- A model graded on few prompts, or by one judge only, is placed on the shared scale "
        "through that source's link; its ranking is only as good as that link.",
        "- Costs in training reports are estimated from catalog list prices unless the logs "
        "carry real costs; latency profiles in the shipped catalog are tier estimates.",
        "- The encoder sees at most the token budget; the middle of long prompts is not read.",
        "",
    ]
    return "\n".join(lines)
