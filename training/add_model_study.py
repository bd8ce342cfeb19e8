"""Held-out model experiment: is a head fitted on a few hundred labels, with the
encoder and trunk frozen, as good as training the model jointly?

For each chosen model X: train the heads on the training split without X's
labels; then fit X's head alone on 100, 300, 1000 and all of X's training
labels (``training.heads.fit_new_model``, what ``python -m training add-model``
does), three ways: a fixed l2 = 1; l2 by cross-validation; prior (none, the
mean model, the five most similar models) and l2 by cross-validation. Each
count is drawn ``--draws`` times and the mean test AUC reported, next to X's
test AUC with the heads trained jointly on all of X's labels.

Run: ``python -m training.add_model_study --data ../shared/data --bundle models/default``.
Writes ``docs/results/add_model_study.json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learned_router.bundle import Bundle
from learned_router.catalog import Catalog
from training.config import load_config
from training.dataset import SplitArrays, prepare
from training.evaluate import head_data
from training.heads import features_of, fit_new_model, logits_of, train_heads
from training.platt import auc


def _without(part: SplitArrays, column: int) -> SplitArrays:
    labels = part.labels.copy()
    labels[:, column] = np.nan
    return replace(part, labels=labels)


def run(
    data_paths: list[str],
    bundle_dir: Path,
    models: list[str],
    labels: list[int],
    out: Path,
    draws: int = 3,
) -> list[dict[str, object]]:
    config = load_config("training/configs/default.toml")
    bundle = Bundle.load(bundle_dir)
    data = prepare(
        data_paths,
        Catalog.load(),
        fractions=dict(config.data.fractions),
        seed=config.data.split_seed,
        rejects=Path(config.output.cache_dir) / "rejects.jsonl",
    )
    encoder = bundle.encoder()
    embeddings = {name: encoder.embed(part.texts) for name, part in data.parts.items()}
    train, val, test = data.parts["train"], data.parts["val"], data.parts["test"]
    n_scales = len(data.scales)
    joint, _ = train_heads(
        head_data(train, embeddings["train"]),
        head_data(val, embeddings["val"]),
        n_scales,
        config.heads,
    )
    joint_logits = logits_of(joint, embeddings["test"])
    results = []
    rng = np.random.default_rng(0)
    for model in models:
        j = data.models.index(Catalog.load().resolve(model))
        held, _ = train_heads(
            head_data(_without(train, j), embeddings["train"]),
            head_data(_without(val, j), embeddings["val"]),
            n_scales,
            config.heads,
        )
        known = np.flatnonzero(~np.isnan(train.labels[:, j]))
        test_rows = ~np.isnan(test.labels[:, j])
        y = test.labels[test_rows, j].astype(np.float64)
        test_features = features_of(held, embeddings["test"][test_rows])
        # The other models' vectors: the candidates for the new one's prior.
        others = np.delete(held.model_vectors.detach().numpy(), j, axis=0).astype(np.float64)
        row: dict[str, object] = {
            "model": data.models[j],
            "train_labels_available": int(known.size),
            "test_labels": int(test_rows.sum()),
            "auc_joint": auc(joint_logits[test_rows, j], y),
            "auc_mean_model_only": auc(test_features @ others.mean(axis=0), y),
        }
        # Three ways to fit the new head, each on the same `draws` random label
        # subsets (the mean AUC over draws is reported; one draw is noisy).
        methods: dict[str, Callable[..., tuple[npt.NDArray[np.float64], float]]] = {
            "l2_1": partial(fit_new_model, l2=1.0),
            "cv_l2": fit_new_model,
            "cv_prior_l2": partial(fit_new_model, existing=others),
        }
        for count in [*labels, known.size]:
            tag = "all" if count == known.size else str(count)
            scores: dict[str, list[float]] = {name: [] for name in methods}
            for _ in range(1 if tag == "all" else draws):
                chosen = rng.choice(known, size=min(count, known.size), replace=False)
                y_few = train.labels[chosen, j].astype(np.float64)
                features = features_of(held, embeddings["train"][chosen])
                for name, fit in methods.items():
                    vector, bias = fit(features, y_few)
                    scores[name].append(auc(test_features @ vector + bias, y))
            for name, values in scores.items():
                row[f"auc_added_{tag}_labels_{name}"] = float(np.mean(values))
        results.append(row)
        print(json.dumps(row), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"bundle": bundle.version, "results": results}, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["../shared/data"])
    parser.add_argument("--bundle", type=Path, default=Path("models/default"))
    parser.add_argument(
        "--models",
        nargs="+",
        default=["gpt-3.5-turbo-1106", "gemini-1.5-pro-002", "Qwen1.5-72B-Chat"],
    )
    parser.add_argument("--labels", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--draws", type=int, default=3, help="label subsets per count")
    parser.add_argument("--out", type=Path, default=Path("docs/results/add_model_study.json"))
    args = parser.parse_args(argv)
    run(args.data, args.bundle, args.models, args.labels, args.out, args.draws)


if __name__ == "__main__":
    main()
