"""New models: how well ``add-model`` learns a model the bundle has never seen.

For each of five recent models X (default: the most-labelled models of the
recent sets):

1. the latent quality model is trained without any of X's labels (and a
   joint reference with them), on the training part of a split grouped by
   normalised prompt text across all datasets (20% of groups held out);
2. X is added with ``training.add_model.add_latent`` (what ``python -m
   training add-model`` does) from 50, 200 and 1,000 of its training labels,
   each count drawn three times;
3. every version is scored on X's held-out prompts: AUC (labels >= 0.5 as
   positives) and log loss, with 95% bootstrap intervals over those prompts
   (200 resamples, the three draws averaged inside each resample), next to
   the joint model and to X's prior alone (its IRT record, no prompt).

Run: ``python -m training.new_model_study --data ../shared/data`` (about 5
minutes on 2 cores with the embedding cache warm). Writes
``reports/new_models/report.md`` and ``new_models.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router import data
from learned_router.quality import LatentQualityModel, sigmoid
from training.add_model import add_latent
from training.platt import auc
from training.protocol import arrange, bundle_embedder, group_split, load_development, source_names
from training.quality_model import QualityConfig, QualityData, base_columns, fit_quality_model

RECENT = ("livecodebench", "evalperf", "zeroeval_gsm8k", "zeroeval_math_l5")
COUNTS = (50, 200, 1000)


def log_loss(p: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _metrics(
    preds: list[npt.NDArray[np.float64]], y: npt.NDArray[np.float64], idx: npt.NDArray[np.int64]
) -> tuple[float, float]:
    aucs = [auc(p[idx], y[idx]) for p in preds]
    losses = [log_loss(p[idx], y[idx]) for p in preds]
    return float(np.mean(aucs)), float(np.mean(losses))


def score(
    preds: list[npt.NDArray[np.float64]], y: npt.NDArray[np.float64], *, resamples: int, seed: int
) -> dict[str, list[float]]:
    """{"auc": [value, low, high], "log_loss": [...]} over held-out prompts."""
    full = np.arange(len(y))
    value = _metrics(preds, y, full)
    rng = np.random.default_rng(seed)
    samples = np.array(
        [_metrics(preds, y, rng.integers(0, len(y), len(y))) for _ in range(resamples)]
    )
    out = {}
    for k, name in enumerate(("auc", "log_loss")):
        finite = samples[:, k][np.isfinite(samples[:, k])]
        low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan)
        out[name] = [value[k], float(low), float(high)]
    return out


def pick_models(
    log: data.OutcomeLog,
    labels: npt.NDArray[np.float32],
    models: Sequence[str],
    datasets: Sequence[str],
    n: int,
) -> list[str]:
    """The ``n`` models with the most labels among those graded only in the recent sets."""
    recent = np.isin(np.asarray(datasets), RECENT)
    counts = (~np.isnan(labels)).sum(0)
    only_recent = (~np.isnan(labels[~recent])).sum(0) == 0
    order = np.argsort(-counts)
    return [models[j] for j in order if only_recent[j] and counts[j] > 1400][:n]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bundle", default="models/default", help="bundle whose encoder embeds")
    parser.add_argument("--models", nargs="*", help="the held-out models (default: five recent)")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--out", default="reports/new_models")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log, catalog = load_development(args.data, rejects=out / "rejects.jsonl")
    models = sorted(set(log.models))
    sources = source_names(log)
    every = arrange(log, models, sources)
    vectors = bundle_embedder(args.bundle)(every.texts)
    index = {m: j for j, m in enumerate(models)}
    test = group_split(every.groups, 0.2, seed=2)
    val = group_split(every.groups, 0.1, seed=1) & ~test
    train = ~test & ~val
    held = args.models or pick_models(log, every.labels, models, every.datasets, 5)
    config = QualityConfig()

    def fit(names: list[str]) -> LatentQualityModel:
        cols = [index[m] for m in names]
        base = base_columns(names, catalog)
        tr, va = every.rows(train), every.rows(val)
        tr_data = tr.quality_data(vectors[train])
        va_data = va.quality_data(vectors[val])

        def restrict(d: QualityData) -> QualityData:
            lengths = d.lengths[:, cols] if d.lengths is not None else None
            return dataclasses.replace(d, labels=d.labels[:, cols], lengths=lengths)

        model, _ = fit_quality_model(
            restrict(tr_data), restrict(va_data), names, sources, base, config
        )
        return model

    started = time.perf_counter()
    joint = fit(models)
    rows = []
    for x in held:
        j = index[x]
        others = [m for m in models if m != x]
        without = fit(others)
        test_rows = np.flatnonzero(test & ~np.isnan(every.labels[:, j]))
        train_rows = np.flatnonzero(train & ~np.isnan(every.labels[:, j]))
        y = every.labels[test_rows, j].astype(np.float64)
        e_test = vectors[test_rows]
        joint_score = score(
            [joint.predict(e_test, models=[x]).p_success[:, 0]],
            y,
            resamples=args.resamples,
            seed=0,
        )
        result: dict[str, object] = {
            "model": x,
            "train_labels": len(train_rows),
            "test_prompts": len(test_rows),
            "joint": joint_score,
        }
        curves = {}
        for n in COUNTS:
            if n > len(train_rows):
                continue
            preds, priors = [], []
            for draw in range(args.draws):
                pick = np.random.default_rng(draw).choice(train_rows, n, replace=False)
                added = add_latent(
                    without,
                    x,
                    vectors[pick],
                    every.labels[pick, j].astype(np.float64),
                    lengths=every.lengths[pick, j],
                )
                preds.append(added.predict(e_test, models=[x]).p_success[:, 0])
                priors.append(
                    np.full(len(y), float(sigmoid(np.array([added.prior[-1]], np.float64))[0]))
                )
            curves[str(n)] = score(preds, y, resamples=args.resamples, seed=0)
            curves[f"{n}-prior-only"] = {
                "log_loss": score(priors, y, resamples=args.resamples, seed=0)["log_loss"]
            }
        result["added"] = curves
        rows.append(result)
        print(
            f"{x}: {len(train_rows)} train labels, {len(test_rows)} test; joint AUC "
            f"{joint_score['auc'][0]:.3f}; "
            + ", ".join(f"{n}: {curves[str(n)]['auc'][0]:.3f}" for n in COUNTS if str(n) in curves)
            + f" ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    command = "python -m training.new_model_study " + " ".join(
        argv if argv is not None else __import__("sys").argv[1:]
    )
    (out / "new_models.json").write_text(
        json.dumps({"command": command, "results": rows}, indent=1)
    )
    (out / "report.md").write_text(render(rows, command))


def _ci(v: list[float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def _cell(added: dict[str, dict[str, list[float]]], n: str, metric: str) -> str:
    return _ci(added[n][metric]) if n in added else "-"


HEADER = (
    "| model | train labels | test prompts | AUC, 50 | AUC, 200 | AUC, 1,000 | AUC, joint "
    "| log loss, 200 | log loss, prior only | log loss, joint |"
)


def render(rows: list[dict[str, object]], command: str) -> str:
    lines = [
        "# New models: add-model from 50, 200 and 1,000 labels",
        "",
        f"Command: `{command}`",
        "",
        "Each model was held out of training entirely, then added with `add-model` (the latent-v2",
        "path, `training.add_model.add_latent`) from that many of its training labels (three",
        "draws, averaged); scored on its prompts in the held-out 20% of prompt groups (grouped by",
        "normalised text across all datasets). AUC: labels >= 0.5 are positives. Joint: the same",
        "quality model trained with all of the model's training labels. Prior only (from 200",
        "labels): its anchored prior, no prompt information. 95% bootstrap intervals over the",
        "held-out prompts (200 resamples).",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        added = r["added"]
        joint = r["joint"]
        assert isinstance(added, dict)
        assert isinstance(joint, dict)
        cells = [
            str(r["model"]),
            str(r["train_labels"]),
            str(r["test_prompts"]),
            _cell(added, "50", "auc"),
            _cell(added, "200", "auc"),
            _cell(added, "1000", "auc"),
            _ci(joint["auc"]),
            _cell(added, "200", "log_loss"),
            _cell(added, "200-prior-only", "log_loss"),
            _ci(joint["log_loss"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    main()
