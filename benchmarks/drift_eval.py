"""Measurement: the drift loop on development data, with `replay`.

For one dataset, through the shipped bundle (``models/default``), at 1%
shadow rate: detection delay of a 10-, 20- and 40-point drop of the most
routed model (planted at request ``--at`` of ``--requests``), false alarms on
unchanged streams, quality and cost before and after re-scoring (and the
same drifted stream without re-scoring, for the recovery), shadow cost share.
One router is loaded per dataset and reused (its memos keep each prompt's
embedding and prediction), so each replay costs only its decisions.

Run: ``python -m benchmarks.drift_eval --data ../shared/data`` (one JSON line per run);
``--drift-model @top-shadowed`` drifts the most routed model the shadow checks
can see, ``--outcome-rate 0.01`` adds recorded outcomes (the residual signal).
``--recover-at B`` fixes the drifted model at request ``B`` (its logged outcomes
again): the JSON then says when the probes (``--probe-rate``) found the fix
(``recovered_at``), and the model's share and the quality after it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from learned_router.drift.monitor import PROBE_RATE
from learned_router.drift.replay import DriftSpec, load_dataset, replay
from learned_router.drift.sampling import WARMUP_CHECKS, WARMUP_MIN_SHARE, WARMUP_RATE
from learned_router.router import Router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dataset", default="routerbench_subset")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--at", type=int, default=20_000)
    parser.add_argument("--shadow-rate", type=float, default=0.01)
    parser.add_argument(
        "--warmup-rate",
        type=float,
        default=WARMUP_RATE,
        help="rate while a model's detector has fewer than --warmup-checks (0: off)",
    )
    parser.add_argument("--warmup-checks", type=int, default=WARMUP_CHECKS)
    parser.add_argument(
        "--warmup-min-share",
        type=float,
        default=WARMUP_MIN_SHARE,
        help="share of decisions a model needs for its warm-up",
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--drops", nargs="*", type=int, default=[10, 20, 40])
    parser.add_argument("--stationary-seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument(
        "--drift-model",
        default="@top",
        help="@top, @top-shadowed (the most routed model other than the golden one) or a name",
    )
    parser.add_argument(
        "--outcome-rate", type=float, default=0.0, help="share of outcomes the caller records"
    )
    parser.add_argument(
        "--recover-at", type=int, default=None, help="request at which the drifted model is fixed"
    )
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=PROBE_RATE,
        help="share of requests that try a re-scored model again (0: never)",
    )
    args = parser.parse_args()
    router = Router.load(capacity=False)
    data = load_dataset(args.data, args.dataset, router)
    runs: list[tuple[str, int, DriftSpec | None, bool]] = []
    for seed in args.stationary_seeds:
        runs.append(("stationary", seed, None, True))
    for drop in args.drops:
        for seed in args.seeds:
            runs.append(
                (f"drop{drop}", seed, DriftSpec(args.drift_model, args.at, f"@drop{drop}"), True)
            )
    runs.append(
        ("drop40-no-rescore", args.seeds[0], DriftSpec(args.drift_model, args.at, "@drop40"), False)
    )
    for label, seed, drift, rescore in runs:
        started = time.perf_counter()
        result = replay(
            router,
            data,
            requests=args.requests,
            shadow_rate=args.shadow_rate,
            warmup_rate=args.warmup_rate,
            warmup_checks=args.warmup_checks,
            warmup_min_share=args.warmup_min_share,
            seed=seed,
            drift=drift,
            rescore=rescore,
            outcome_rate=args.outcome_rate,
            recover_at=args.recover_at if drift is not None and rescore else None,
            probe_rate=args.probe_rate,
        )
        out = result.as_dict()
        out.pop("windows")
        out["alerts"] = [
            {
                k: a[k]
                for k in (
                    "model",
                    "signal",
                    "magnitude",
                    "interval",
                    "at_request",
                    "reference_suspect",
                )
            }
            for a in out["alerts"]
        ]
        out["run"] = label
        out["seed"] = seed
        out["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
