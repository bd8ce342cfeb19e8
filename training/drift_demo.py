"""`make drift-demo`: the learning loop end to end on a development set, in minutes.

1. replays ``--requests`` requests of a logged dataset through the shipped
   router with 5% shadow traffic and a planted 40-point drop of the most
   routed model a quarter of the way through (``learned_router.drift.replay``);
2. shows the arbitrage alert and the re-scoring (traffic share of the
   drifting model before and after the alarm, quality recovered);
3. retrains on the dataset plus the recorded (drifted) outcomes with a small,
   fast config, linked to the alert in MLflow (embedded sqlite store under
   ``--out``), registers the bundle as ``challenger`` and runs the promotion
   gates, replay of recent traffic included (``training.retrain``).

300 prompts of the set are held out from the traffic and from the retraining;
the promotion gates judge on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from learned_router.data.splits import prompt_group
from learned_router.drift.replay import DriftSpec, load_dataset, replay
from learned_router.outcomes import OutcomeStore
from learned_router.router import Router


def main(
    data_dir: Path,
    *,
    dataset: str = "routerbench_subset",
    out: Path = Path("build/drift-demo"),
    requests: int = 20_000,
    shadow_rate: float = 0.05,
    seed: int = 0,
) -> None:
    started = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out.resolve()}/mlflow.db"
    router = Router.load(capacity=False)
    data = load_dataset(data_dir, dataset, router)
    # Split by prompt group (normalised text), so no held-out question is in the traffic.
    groups = [prompt_group(p) for p in data.prompts]
    chosen = set(np.random.default_rng(seed).permutation(sorted(set(groups)))[:300].tolist())
    held_out = data.subset([i for i, g in enumerate(groups) if g in chosen])
    traffic = data.subset([i for i, g in enumerate(groups) if g not in chosen])
    drift = DriftSpec("@top", requests // 4, "@drop40")
    print(f"[1/3] replaying {requests} requests of {dataset} ({len(data.models)} models), ")
    print(f"      shadow rate {shadow_rate:.0%}, planted drift {drift}")
    store_path = out / "outcomes.sqlite"
    with OutcomeStore(store_path) as store:
        result = replay(
            router,
            traffic,
            requests=requests,
            shadow_rate=shadow_rate,
            seed=seed,
            drift=drift,
            outcome_rate=0.05,
            record_to=store,
            state_path=out / "drift.json",
        )
    alerts = [a for a in result.alerts if a["model"] == result.drift_model]
    if not alerts:
        print(f"no alarm on {result.drift_model}: nothing to retrain (try more --requests)")
        return
    alert = alerts[0]
    print(
        f"[2/3] ALERT {alert['model']} ({alert['signal']}): {100 * alert['magnitude']:+.1f} points "
        f"[{100 * alert['interval'][0]:+.1f}, {100 * alert['interval'][1]:+.1f}] at request "
        f"{alert['at_request']} (drift at {result.drift_at}; "
        f"{result.detection_delay_shadow_samples} shadow samples of it)"
    )
    print(
        f"      re-scored: its traffic share {result.drift_model_share_before_reaction:.0%} -> "
        f"{result.drift_model_share_after_reaction:.0%}; mean quality "
        f"{result.mean_quality_before_reaction:.3f} -> {result.mean_quality_after_reaction:.3f}; "
        f"false alarms {result.false_alarms}; shadow cost {100 * result.shadow_cost_share:.2f}% "
        "of spend"
    )
    print(f"      state: learned-router drift status {out / 'drift.json'}")

    from training.config import load_config
    from training.retrain import retrain_on_alert

    config = load_config(
        Path(__file__).parent / "configs" / "default.toml",
        **{
            "data.max_prompts_per_dataset": 300,
            "encoder.student_layers": [0],
            "encoder.projection_prompts": 1000,
            "encoder.compare_teacher": False,
            "heads.epochs": 10,
            "output.bundle_dir": str(out / "bundle"),
            "output.cache_dir": str(out / "cache"),
            "tracking.tracking_uri": f"sqlite:///{out.resolve()}/mlflow.db",
            "tracking.experiment": "drift-demo",
        },
    )
    # Held out from both the traffic and the retraining: the gates judge on it.
    eval_path = held_out.write_jsonl(out / "eval.jsonl")
    train_path = traffic.write_jsonl(out / "train.jsonl")
    print("[3/3] retraining on the dataset + recorded outcomes (small config), MLflow at", out)
    retrained = retrain_on_alert(
        alert,
        config=config,
        base_data=[str(train_path)],
        eval_data=[str(eval_path)],
        outcome_store=str(store_path),  # its latest 20% are held out for the replay gate
    )
    decision = retrained.decision
    print(
        f"      run {retrained.run_id} (tagged drift.alert_id={alert['alert_id'][:8]}) registered "
        f"version {retrained.version} as challenger; promotion: "
        f"{'PROMOTED to champion' if decision.promoted else 'REFUSED'}"
    )
    for reason in decision.reasons:
        print(f"        - {reason}")
    print(f"done in {time.perf_counter() - started:.0f} s")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dataset", default="routerbench_subset")
    parser.add_argument("--out", type=Path, default=Path("build/drift-demo"))
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--shadow-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(
        args.data,
        dataset=args.dataset,
        out=args.out,
        requests=args.requests,
        shadow_rate=args.shadow_rate,
        seed=args.seed,
    )


if __name__ == "__main__":
    cli()
