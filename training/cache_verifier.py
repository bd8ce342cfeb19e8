"""Trains and tunes the cache's learned verifier and picks the operating point.

Material (development only, never committed):

- ``paws_wiki_dev.tsv`` (8,000 labelled word-swap pairs), split by a hash of
  ``pair_id``: 60% *train* (fits the network), 20% *tune* (picks the
  thresholds), 20% *test* (reported, touched once);
- pairs generated from the development prompts' questions (train only):
  harmless rewrites (abbreviation periods, number words, case, punctuation)
  as paraphrases; two names or numbers swapped, a clause added, two content
  words swapped as look-alikes.

A pair (text1, text2) is a cache holding ``text1`` asked ``text2``: served
when cosine >= ``min_similarity``, the guards pass and (with the verifier)
P(same meaning) >= its threshold. Writes ``verifier.json`` into the cache
encoder folder, the chosen thresholds into its manifest, and the curves to
``benchmarks/results/cache_verifier.json``.

``python -m training.cache_verifier [--encoder FOLDER] [--target 0.01]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.cache import guards
from learned_router.cache.encoder import (
    CacheEncoder,
    default_encoder_folder,
    verify_cache_encoder,
    write_cache_encoder_manifest,
)
from learned_router.cache.verifier import FEATURE_NAMES, FORMAT, FORMAT_VERSION, pair_features

DATA_DIR = Path("../shared/data")
PAWS = DATA_DIR / "paraphrase" / "paws_wiki_dev.tsv"
WORK_DIR = Path(".cache/cache_eval")
REPORT = Path("benchmarks/results/cache_verifier.json")
#: Stated false-hit target on word-swap look-alikes; thresholds are chosen on
#: the tune part at half of it, for margin on unseen pairs.
TARGET_FALSE_HIT_RATE = 0.01
COSINES = tuple(round(t, 2) for t in np.arange(0.50, 1.0, 0.01))
HIDDEN = 16
#: Paraphrase share (of the tune part) given up for a lower cosine threshold.
HIT_SLACK = 0.01


def paws_pairs(path: Path = PAWS) -> list[tuple[str, int, str, str, str]]:
    """(pair_id, label, text1, text2, part) with part in train/tune/test."""
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL):
            bucket = int(hashlib.sha256(row["pair_id"].encode()).hexdigest()[:8], 16) % 10
            part = "train" if bucket < 6 else "tune" if bucket < 8 else "test"
            rows.append((row["pair_id"], int(row["label"]), row["text1"], row["text2"], part))
    return rows


_QUESTION = re.compile(r"[^\n]{25,240}\?")
_NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][a-z]{2,}|\d+(?:\.\d+)?)\b")
_CONTENT = re.compile(r"\b[a-z]{4,}\b")
_ADDITIONS = (
    " for a child",
    " in winter",
    " on Windows",
    " without any tools",
    " in the long run",
    " for beginners",
)


def _swap(text: str, a: str, b: str) -> str:
    """``text`` with every ``a`` and ``b`` (whole words) traded."""
    return re.sub(
        rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(0) == a else a, text
    )


def generated_pairs(
    prompts: Sequence[str], *, seed: int = 0, limit: int = 1500, held_out: bool = False
) -> list[tuple[int, str, str]]:
    """(label, text1, text2) rewrites of real questions from the outcome logs.
    ``held_out``: from the next ``limit`` questions (disjoint from training's),
    with other questions of the logs as extra look-alikes."""
    rng = random.Random(seed)
    questions = sorted({m.group(0).strip() for p in prompts for m in _QUESTION.finditer(p)})
    rng.shuffle(questions)
    chosen = questions[limit : 2 * limit] if held_out else questions[:limit]
    out: list[tuple[int, str, str]] = []
    if held_out:  # another real question: the cache must not answer it
        out += [
            (0, a, b)
            for a, b in zip(chosen[: limit // 6], chosen[limit // 6 : limit // 3], strict=False)
        ]
        rng = random.Random(seed + 1)
    for q in chosen:
        kind = rng.randrange(6)
        if kind == 0:
            out.append((1, q, q.lower().rstrip("?") if rng.random() < 0.5 else q.upper()))
        elif kind == 1:
            out.append((1, q, q.replace(",", "").replace("?", " ?")))
        elif kind == 2:
            spans = _NAME_OR_NUMBER.findall(q)
            if len(set(spans)) >= 2:
                a, b = rng.sample(sorted(set(spans)), 2)
                swapped = _swap(q, a, b)
                out.append((0, q, swapped))
        elif kind == 3:
            out.append((0, q, q[:-1] + rng.choice(_ADDITIONS) + "?"))
        elif kind == 4:
            words = sorted(set(_CONTENT.findall(q)) - guards._STOP_WORDS)
            if len(words) >= 2:
                a, b = rng.sample(words, 2)
                swapped = _swap(q, a, b)
                out.append((0, q, swapped))
        else:
            out.append((1, q, re.sub(r"\bDr\b", "Dr.", q.replace("  ", " ")) + " "))
    return out


def development_prompts() -> list[str]:
    import pyarrow.parquet as pq

    prompts: list[str] = []
    for path in sorted((DATA_DIR / "prompts").glob("*.parquet")):
        prompts += [str(p) for p in pq.read_table(path, columns=["prompt"]).column(0).to_pylist()]
    return prompts


def embed_cached(
    name: str, texts: Sequence[str], embed: Callable[[Sequence[str]], npt.NDArray[np.float32]]
) -> npt.NDArray[np.float32]:
    """Embeddings of ``texts``, cached under ``.cache/cache_eval/`` by content."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = WORK_DIR / f"{name}-{digest}.npy"
    if path.is_file():
        return np.asarray(np.load(path), dtype=np.float32)
    vectors = np.concatenate([embed(texts[i : i + 256]) for i in range(0, len(texts), 256)]).astype(
        np.float32
    )
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def served(
    cosines: npt.NDArray[np.float64],
    guard_ok: npt.NDArray[np.bool_],
    scores: npt.NDArray[np.float64] | None,
    min_similarity: float,
    threshold: float,
) -> npt.NDArray[np.bool_]:
    ok = (cosines >= min_similarity) & guard_ok
    if scores is not None:
        ok &= scores >= threshold
    return ok


def rates(served_mask: npt.NDArray[np.bool_], labels: npt.NDArray[np.int64]) -> tuple[float, float]:
    """(share of paraphrases served, share of look-alikes served)."""
    return float(served_mask[labels == 1].mean()), float(served_mask[labels == 0].mean())


def best_point(
    cosines: npt.NDArray[np.float64],
    guard_ok: npt.NDArray[np.bool_],
    scores: npt.NDArray[np.float64] | None,
    labels: npt.NDArray[np.int64],
    target: float,
) -> tuple[float, float]:
    """(min_similarity, threshold) at <= ``target`` false hits: the lowest
    cosine whose best threshold serves within :data:`HIT_SLACK` of the most
    paraphrases any point serves. PAWS pairs all sit at cosine > 0.9, so it
    barely constrains the cosine; the lowest one that costs (almost) nothing
    there keeps the paraphrases of ordinary traffic, which sit lower."""
    best_per_cosine: dict[float, tuple[float, float]] = {}
    thresholds = np.round(np.arange(0.0, 1.0, 0.01), 2) if scores is not None else [0.0]
    for cosine in (*COSINES, 1.0):
        for threshold in thresholds:
            hit, false = rates(served(cosines, guard_ok, scores, cosine, threshold), labels)
            if false <= target and hit > best_per_cosine.get(cosine, (-1.0, 0.0))[0]:
                best_per_cosine[cosine] = (hit, float(threshold))
    top = max(hit for hit, _ in best_per_cosine.values())
    cosine = min(c for c, (hit, _) in best_per_cosine.items() if hit >= top - HIT_SLACK)
    return cosine, best_per_cosine[cosine][1]


def curve(
    cosines: npt.NDArray[np.float64],
    guard_ok: npt.NDArray[np.bool_],
    scores: npt.NDArray[np.float64] | None,
    labels: npt.NDArray[np.int64],
) -> list[tuple[float, float]]:
    """The (false-hit rate, hit rate) frontier over all threshold pairs."""
    points = set()
    thresholds = np.round(np.arange(0.0, 1.0, 0.02), 2) if scores is not None else [0.0]
    # PAWS pairs crowd into cosine 0.95-1.0: a fine grid there.
    grid = (*np.round(np.arange(0.3, 0.9, 0.01), 2), *np.round(np.arange(0.9, 1.0, 0.001), 3))
    for cosine in (*grid, 1.0, 1.01):
        for threshold in thresholds:
            hit, false = rates(served(cosines, guard_ok, scores, cosine, threshold), labels)
            points.add((round(false, 4), round(hit, 4)))
    frontier, best = [], -1.0
    for false, hit in sorted(points, key=lambda p: (p[0], -p[1])):
        if hit > best:
            frontier.append((false, hit))
            best = hit
    return frontier


def hit_at(frontier: list[tuple[float, float]], false_rate: float) -> float:
    return max((hit for false, hit in frontier if false <= false_rate), default=0.0)


def main(
    encoder_folder: Path | None = None, *, target: float = TARGET_FALSE_HIT_RATE
) -> dict[str, Any]:
    from sklearn.neural_network import MLPClassifier

    folder = Path(encoder_folder or default_encoder_folder())
    encoder = CacheEncoder.load(folder)
    rows = paws_pairs()
    prompts = development_prompts()
    gen = generated_pairs(prompts)
    held = generated_pairs(prompts, held_out=True)
    texts1 = [r[2] for r in rows] + [g[1] for g in gen] + [h[1] for h in held]
    texts2 = [r[3] for r in rows] + [g[2] for g in gen] + [h[2] for h in held]
    name = "verifier-" + re.sub(r"[^\w.-]+", "_", encoder.name)
    v1, v2 = embed_cached(name, texts1, encoder), embed_cached(name, texts2, encoder)
    cosines = np.sum(v1 * v2, axis=1).astype(np.float64)
    labels = np.asarray(
        [r[1] for r in rows] + [g[0] for g in gen] + [h[0] for h in held], dtype=np.int64
    )
    parts = np.asarray(
        [r[4] for r in rows] + ["generated"] * len(gen) + ["outcome_pairs"] * len(held)
    )
    features = np.stack(
        [pair_features(a, b, c) for a, b, c in zip(texts1, texts2, cosines, strict=True)]
    )
    guard_ok = np.asarray([guards.check(b, a) is None for a, b in zip(texts1, texts2, strict=True)])

    fit = (parts == "train") | (parts == "generated")
    mean = features[fit].mean(axis=0)
    scale = features[fit].std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=1e-3, max_iter=600, random_state=0)
    model.fit((features[fit] - mean) / scale, labels[fit])
    scores = model.predict_proba((features - mean) / scale)[:, 1]

    tune, test, outcome = parts == "tune", parts == "test", parts == "outcome_pairs"
    no_guards = np.ones_like(guard_ok)
    cos_only = best_point(cosines[tune], no_guards[tune], None, labels[tune], target / 2)
    guards_only = best_point(cosines[tune], guard_ok[tune], None, labels[tune], target / 2)
    full = best_point(cosines[tune], guard_ok[tune], scores[tune], labels[tune], target / 2)

    def report(ok: npt.NDArray[np.bool_], sel: npt.NDArray[np.bool_]) -> dict[str, float]:
        hit, false = rates(ok[sel], labels[sel])
        return {"hit_rate": hit, "false_hit_rate": false}

    setups = {
        "plain cosine": (no_guards, None, cos_only),
        "cosine + guards": (guard_ok, None, guards_only),
        "cosine + guards + verifier": (guard_ok, scores, full),
    }
    result: dict[str, Any] = {
        "paws_file": str(PAWS.name),
        "split": "sha256(pair_id) % 10: 0-5 train, 6-7 tune, 8-9 test",
        "counts": {
            part: {
                "pairs": int((parts == part).sum()),
                "paraphrases": int(((parts == part) & (labels == 1)).sum()),
            }
            for part in ("train", "tune", "test", "generated", "outcome_pairs")
        },
        "target_false_hit_rate": target,
        "encoder": encoder.name,
        "operating_points": {},
        "test_curves": {},
    }
    for label, (ok_guards, score, (cos, thr)) in setups.items():
        ok = served(cosines, ok_guards, score, cos, thr)
        result["operating_points"][label] = {
            "min_similarity": cos,
            "verifier_threshold": thr if score is not None else None,
            "tune": report(ok, tune),
            "test": report(ok, test),
            "outcome_pairs": report(ok, outcome),
        }
        result.setdefault("outcome_curves", {})[label] = curve(
            cosines[outcome],
            ok_guards[outcome],
            None if score is None else score[outcome],
            labels[outcome],
        )
        result["test_curves"][label] = curve(
            cosines[test], ok_guards[test], None if score is None else score[test], labels[test]
        )
    frontier_cos = result["test_curves"]["plain cosine"]
    result["plain_cosine_hit_at_same_false_rate"] = hit_at(
        frontier_cos,
        result["operating_points"]["cosine + guards + verifier"]["test"]["false_hit_rate"],
    )

    final = served(cosines, guard_ok, scores, *full)
    np.savez(
        WORK_DIR / "verifier_scores.npz",
        cosines=cosines,
        guard_ok=guard_ok,
        scores=scores,
        labels=labels,
        parts=parts,
    )
    np.savez(
        WORK_DIR / "compare_vectors.npz",
        **{
            f"{name}/{key}": value
            for name, sel in (("paws_test", test), ("outcome_pairs", outcome))
            for key, value in (
                ("v1", v1[sel]),
                ("v2", v2[sel]),
                ("labels", labels[sel]),
                ("served", final[sel]),
                ("cosine", cosines[sel]),
            )
        },
    )
    weights = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "features": list(FEATURE_NAMES),
        "trained_on": f"{PAWS.name} train part ({result['split']}) + {len(gen)} pairs "
        "generated from the development prompts",
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "hidden_weights": model.coefs_[0].tolist(),
        "hidden_bias": model.intercepts_[0].tolist(),
        "output_weights": model.coefs_[1][:, 0].tolist(),
        "output_bias": float(model.intercepts_[1][0]),
        "threshold": full[1],
    }
    (folder / "verifier.json").write_text(json.dumps(weights) + "\n")
    manifest = verify_cache_encoder(folder)
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    fields["min_similarity"] = full[0]
    fields["min_similarity_without_verifier"] = guards_only[0]
    fields["operating_point"] = (
        f"chosen on {PAWS.name} (tune part) for <= {target / 2:.2%} false hits; "
        "training/cache_verifier.py"
    )
    write_cache_encoder_manifest(folder, fields)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", type=Path, default=None)
    parser.add_argument("--target", type=float, default=TARGET_FALSE_HIT_RATE)
    args = parser.parse_args()
    out = main(args.encoder, target=args.target)
    print(json.dumps({k: v for k, v in out.items() if k != "test_curves"}, indent=1))
