"""Measurement: input drift on development data, with the shipped bundle's reference.

The stream is drawn from the development prompts the bundle never trained on
(their normalised text is not in ``train_prompt_groups.npy``), so it is
traffic like the training data but unseen. Runs, each ``--requests`` long:

- ``unchanged`` (per seed): only those prompts; alarms here are false alarms;
- ``wiki NN%`` (per seed): from request ``--at`` on, NN% of requests are
  Wikipedia sentences (the PAWS paraphrase set's ``text1``), a kind of input
  the router was never trained on; the delay is counted from ``--at``.

Each prompt is embedded once with the bundle's encoder; the watch
(:class:`learned_router.drift.InputDriftWatch`, default window and target)
then sees the stream in batches of 100. Also printed: the share of unseen
development prompts beyond the reference (5% expected if they resemble the
validation prompts the reference came from).

Run: ``python -m benchmarks.input_drift_eval --data ../shared/data`` (one JSON line per run).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from learned_router import data
from learned_router.bundle import Bundle
from learned_router.data.splits import prompt_group
from learned_router.drift import InputDriftWatch, InputReference
from learned_router.drift.inputs import novelty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--bundle", default="models/default")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--at", type=int, default=20_000)
    parser.add_argument("--shares", nargs="*", type=float, default=[0.1, 0.3])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    args = parser.parse_args()

    started = time.perf_counter()
    bundle = Bundle.load(args.bundle)
    quality = bundle.quality_model()
    reference = InputReference.from_quality_model(quality)
    trained = bundle.train_prompt_groups() or frozenset()
    log = data.load([args.data], rejects=Path(".cache") / "input_drift_rejects.jsonl")
    unseen = sorted({p for p in log.matrix().prompts if prompt_group(p) not in trained})
    with open(args.data / "paraphrase" / "paws_wiki_dev.tsv", newline="") as handle:
        wiki = sorted({row["text1"] for row in csv.DictReader(handle, delimiter="\t")})
    scorer = bundle.scorer()
    e_unseen = scorer.embed(unseen)
    e_wiki = scorer.embed(wiki)
    share = float(np.mean(novelty(e_unseen, reference.centroids) > reference.threshold))
    wiki_share = float(np.mean(novelty(e_wiki, reference.centroids) > reference.threshold))
    print(
        json.dumps(
            {
                "unseen_prompts": len(unseen),
                "wiki_sentences": len(wiki),
                "novelty_threshold": reference.threshold,
                "unseen_share_beyond": share,
                "wiki_share_beyond": wiki_share,
                "embed_s": round(time.perf_counter() - started, 1),
            }
        ),
        flush=True,
    )

    runs: list[tuple[str, int, float]] = [("unchanged", s, 0.0) for s in args.seeds]
    runs += [(f"wiki {round(100 * x)}%", s, x) for x in args.shares for s in args.seeds]
    for label, seed, mix in runs:
        rng = np.random.default_rng(seed)
        watch = InputDriftWatch(reference, horizon=args.requests)
        from_wiki = (np.arange(args.requests) >= args.at) & (rng.random(args.requests) < mix)
        rows_unseen = rng.integers(0, len(unseen), args.requests)
        rows_wiki = rng.integers(0, len(wiki), args.requests)
        alarms: list[int] = []
        t0 = time.perf_counter()
        for start in range(0, args.requests, 100):
            stop = min(args.requests, start + 100)
            batch = np.where(
                from_wiki[start:stop, None],
                e_wiki[rows_wiki[start:stop]],
                e_unseen[rows_unseen[start:stop]],
            ).astype(np.float32)
            ids = [str(t) for t in range(start, stop)]
            for alert in watch.observe(ids, batch, at_request=stop):
                alarms.append(int(alert.window[1]))
        drifted = mix > 0
        detected = next((a for a in alarms if a > args.at), None) if drifted else None
        false_alarms = sum(1 for a in alarms if not drifted or a <= args.at)
        print(
            json.dumps(
                {
                    "run": label,
                    "seed": seed,
                    "requests": args.requests,
                    "drift_at": args.at if drifted else None,
                    "detected_at": detected,
                    "detection_delay_requests": None if detected is None else detected - args.at,
                    "false_alarms": false_alarms,
                    "alarms": len(alarms),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":  # pragma: no cover
    main()
