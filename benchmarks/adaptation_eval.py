"""Experiment: per-tenant adaptation on a dataset the router was trained without.

For each dataset, the prompts are split (seeded) into a traffic pool (70%)
and a held-out test part (30%). The tenant's traffic is replayed from the
pool through the router with ``--adapt`` and every outcome recorded
(``learned_router.drift.replay``; bandit feedback: only the routed model's
outcome); after 1k, 5k and 20k recorded outcomes the tenant's corrections
are frozen and the routers are scored on the held-out prompts by AIQ
(cost-weight sweep through the selection kernel,
``learned_router.routing_benchmark.metrics``; cost range = cheapest to priciest single
model's mean cost on the test prompts), each with a 95% percentile interval
and each adapted router's paired difference from the others (300 bootstrap
resamples of the test prompts):

- ``router``: the router, no adaptation;
- ``router+adapt@N``: the same predictions with the tenant's corrections;
- ``zero``: the zero router, the hull of the single models' points on the test
  prompts (random mixtures of single models chosen in hindsight), the reference of
  issue 10's "do no harm"; each adapted router's difference from it says how many
  recorded outcomes an unfamiliar tenant takes to get there;
- ``per_model`` (JSON): each model's corrected P(success), its mean quality on
  the test prompts and on the pool (the tenant's traffic) and the tenant outcomes
  it got, at every step;
- ``knn`` and ``tfidf``: the benchmark's kNN (on the bundle's embeddings)
  and TF-IDF + logistic regression, trained on the whole pool with every
  model's outcome (full information, which the tenant's traffic never has).

With ``--train-without`` (what the issue asks and what docs/drift.md reports)
the router is not the shipped bundle but one trained with the shipped config
on every other development dataset, without any prompt whose normalised text
occurs in the replayed one (``build/adaptation/without-NAME``, trained once,
about two minutes each); without the flag, the shipped bundle (which trained
on part of every development set) is used.

Run: ``python -m benchmarks.adaptation_eval --data ../shared/data --train-without``
(about 4 minutes per dataset on 2 cores, plus 2 to train its bundle once).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from learned_router.drift import Corrections, Explorer
from learned_router.drift.replay import load_dataset, replay
from learned_router.outcomes import OutcomeStore
from learned_router.router import Router
from learned_router.routing_benchmark import RouterInputs, TrainingSet
from learned_router.routing_benchmark.baselines import KNNRouter, TfidfLogisticRouter
from learned_router.routing_benchmark.metrics import (
    Frontier,
    aiq,
    bootstrap_weights,
    frontier,
    percentile_interval,
    quality_at_cost,
)
from learned_router.routing_benchmark.routers import cost_weight_grid, sweep_cost_weights

DATASETS = (
    "llmrouter_nq",
    "alpacaeval2",
    "routerbench_subset",
    "zeroeval_gsm8k",
    "zeroeval_math_l5",
)
"""Sets whose known models answer >= 90% of prompts; evalperf and livecodebench are
sparser: ``--datasets evalperf livecodebench --min-coverage 0.5``."""


RESAMPLES = 300


def _fronts(
    p: np.ndarray, cost: np.ndarray, quality: np.ndarray, weights: np.ndarray
) -> list[Frontier]:
    """The cost-quality frontier of routing by ``p`` (cost-weight sweep through the
    selection kernel), under each row of ``weights`` (bootstrap weights over the
    test prompts; row 0 is uniform: the point estimate)."""
    grid = cost_weight_grid(cost)
    index = sweep_cost_weights(np.clip(p, 0, 1), cost, grid)
    rows = np.arange(len(p))
    point_cost = np.stack([cost[rows, i] for i in index], axis=1)  # [prompts, sweep]
    point_quality = np.stack([quality[rows, i] for i in index], axis=1)
    return [frontier((w @ point_cost).tolist(), (w @ point_quality).tolist()) for w in weights]


def _aiq(p: np.ndarray, cost: np.ndarray, quality: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AIQ of routing by ``p`` under each row of ``weights`` (see :func:`_fronts`)."""
    out = np.empty(len(weights))
    for b, (w, front) in enumerate(zip(weights, _fronts(p, cost, quality, weights), strict=True)):
        single = w @ cost
        out[b] = aiq(front, cost_range=(float(single.min()), float(single.max())))
    return out


def _zero_aiq(cost: np.ndarray, quality: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The zero router's AIQ (the hull of the single models' points: random mixtures
    of single models, chosen in hindsight) under each row of ``weights``."""
    out = np.empty(len(weights))
    for b, w in enumerate(weights):
        single_cost, single_quality = w @ cost, w @ quality
        out[b] = aiq(
            frontier(single_cost.tolist(), single_quality.tolist()),
            cost_range=(float(single_cost.min()), float(single_cost.max())),
        )
    return out


def _quality_at(fronts: list[Frontier], costs: np.ndarray) -> np.ndarray:
    """Each frontier's quality at the matching cost (NaN below its cheapest point)."""
    return np.array(
        [quality_at_cost(f, cost_usd=float(c)) for f, c in zip(fronts, costs, strict=True)]
    )


def _summary(values: np.ndarray) -> dict[str, float]:
    low, high = percentile_interval(values[1:])
    return {"value": float(values[0]), "low": low, "high": high}


def unseen_rows(prompts: list[str], router: Router) -> np.ndarray:
    """The rows of ``prompts`` whose normalised text the router's bundle did not
    train on."""
    from learned_router.data.splits import prompt_group

    trained = router.bundle.train_prompt_groups()
    if trained is None:
        raise SystemExit("adaptation_eval: the bundle does not list its training prompts")
    return np.array([i for i, t in enumerate(prompts) if prompt_group(t) not in trained])


def split(n: int, seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """The seeded 70/30 split of ``n`` prompts: the generator (for the draws that
    follow), the held-out test rows (30%, at least 50) and the traffic pool."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = max(50, int(0.3 * n))
    return rng, np.sort(order[:n_test]), np.sort(order[n_test:])


def tuning_split(pool: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The pool's rows the baselines fit on, and the fifth they tune k / C on (as
    the benchmark does)."""
    tune = pool[rng.random(len(pool)) < 0.2]
    return np.setdiff1d(pool, tune), tune


def baselines(
    data: Any,
    embeddings: np.ndarray,
    expected: np.ndarray,
    fit: np.ndarray,
    tune: np.ndarray,
    test: np.ndarray,
) -> dict[str, np.ndarray]:
    """kNN and TF-IDF + logistic regression trained on the ``fit`` rows with every
    model's outcome (full information), k / C tuned on the ``tune`` rows; each one's
    predictions on the ``test`` rows."""

    def inputs(rows: np.ndarray) -> RouterInputs:
        prompts = tuple(data.prompts[i] for i in rows)
        return RouterInputs(prompts, embeddings[rows], tuple(data.models), expected[rows])

    train = TrainingSet(inputs(fit), data.quality[fit])
    validation = TrainingSet(inputs(tune), data.quality[tune])
    out: dict[str, np.ndarray] = {}
    for label, baseline in (("knn", KNNRouter()), ("tfidf", TfidfLogisticRouter())):
        baseline.fit(train, validation=validation)
        out[label] = baseline.predict_quality(inputs(test))
    return out


def bundle_without(data_dir: Path, name: str, root: Path, share: float = 1.0) -> Path:
    """A bundle trained with the shipped config on every development dataset but
    ``name``, without any prompt whose normalised text occurs in ``name`` (the
    same GSM8K / MATH questions sit in several sets). Trained once, then reused.
    ``share`` < 1: without that share of ``name``'s prompts only (by a hash of the
    normalised text), the rest of ``name`` trained on."""
    out = root / (f"without-{name}" if share >= 1 else f"without-{share:g}-of-{name}")
    if (out / "manifest.json").is_file():
        return out
    from training.train import cli

    with tempfile.TemporaryDirectory() as tmp:
        path = logs_without(data_dir, name, Path(tmp) / "train.parquet", share=share)
        print(f"{name}: training a bundle without {share:.0%} of it -> {out}", flush=True)
        cli(
            [str(path)],
            "training/configs/default.toml",
            {"output.bundle_dir": str(out), "tracking.enabled": False},
        )
    return out


def logs_without(data_dir: Path, name: str, path: Path, share: float = 1.0) -> Path:
    """Every development log but ``name``, without any prompt whose normalised text
    occurs in ``name``, written to ``path`` (parquet); ``share`` < 1: without the
    prompts (of any set) whose normalised text is one of that share of ``name``'s."""
    from learned_router import data
    from learned_router.data.splits import outside, prompt_group

    log = data.load([data_dir], rejects=path.parent / "rejects.jsonl")
    keys = log.prompt_keys()
    datasets = [d for d, _ in keys]
    if name not in datasets:
        raise SystemExit(f"adaptation_eval: no dataset {name!r} under {data_dir}")
    groups = [prompt_group(t) for t in log.prompts.column("prompt").to_pylist()]
    if share >= 1:
        keep = outside(datasets, groups, name)
    else:
        pairs = zip(groups, datasets, strict=True)
        held = {g for g, d in pairs if d == name and _hashed(g) < share}
        keep = [g not in held for g in groups]
    kept = [k for k, keep_it in zip(keys, keep, strict=True) if keep_it]
    print(
        f"{name}: {len(keys) - len(kept)} of {len(keys)} prompts left out, overlaps included",
        flush=True,
    )
    return log.subset(kept).write(path)


def _hashed(group: str) -> float:
    """A prompt group (a hex digest) as a number in [0, 1)."""
    return int(group[:12], 16) / float(16**12)


def evaluate(
    data_dir: Path,
    name: str,
    *,
    steps: tuple[int, ...],
    seed: int,
    min_coverage: float = 0.9,
    bundle: Path | None = None,
    variants: dict[str, dict[str, float]] | None = None,
    explore: float = 0.0,
    explore_max_cost_ratio: float | None = 1.0,
    retrain: bool = False,
    keep: Path | None = None,
    unseen_prompts: bool = False,
) -> dict[str, Any]:
    """``variants``: label -> :class:`Corrections` settings to adapt with (default:
    one, unlabelled, with Corrections' defaults); each is replayed at every step.
    ``unseen_prompts``: only the prompts whose normalised text the bundle did not
    train on (its ``train_prompt_groups``): traffic like its training data, with
    neither the tenant's pool nor the test prompts seen in training."""
    variants = variants if variants is not None else {"": {}}
    router = Router.load(bundle, capacity=False)
    data = load_dataset(data_dir, name, router, min_coverage=min_coverage)
    if unseen_prompts:
        rows = unseen_rows(data.prompts, router)
        if len(rows) < 200:
            raise SystemExit(
                f"adaptation_eval: {len(rows)} of {name}'s prompts are unseen by the bundle, "
                "too few to replay and score; train one without part of it "
                "(--train-without-share)"
            )
        data = data.subset(rows)
    rng, test, pool = split(len(data.prompts), seed)
    base = router.route_batch(data.prompts, candidates=data.models, tenant="base")
    p = np.array([[d.candidate(m).p_success for m in data.models] for d in base])
    support = None
    if all(c.support is not None for c in base[0].candidates):
        support = np.array([[d.candidate(m).support for m in data.models] for d in base])
    expected = np.array([[d.candidate(m).expected_cost_usd for m in data.models] for d in base])
    cost = np.where(np.isnan(data.cost_usd), expected, data.cost_usd)
    out: dict[str, Any] = {
        "dataset": name,
        "bundle": str(bundle or "models/default (shipped; trained on part of this set)"),
        "corrections": variants,
        "explore": explore,
        "explore_max_cost_ratio": explore_max_cost_ratio,
        "models": list(data.models),
        "pool_prompts": len(pool),
        "test_prompts": len(test),
        "cost_method": "logged cost_usd where present, else the router's expected cost",
    }
    weights = np.vstack(
        [
            np.full((1, len(test)), 1.0 / len(test)),
            bootstrap_weights(len(test), resamples=RESAMPLES, seed=seed),
        ]
    )
    samples: dict[str, np.ndarray] = {}
    fronts: dict[str, list[Frontier]] = {}
    fronts["router"] = _fronts(p[test], cost[test], data.quality[test], weights)
    samples["router"] = _aiq(p[test], cost[test], data.quality[test], weights)
    # Issue 10's "do no harm" reference: how many outcomes until the adapted router is
    # no longer below random mixtures of single models on this traffic.
    samples["zero"] = _zero_aiq(cost[test], data.quality[test], weights)
    test_prompts = [data.prompts[i] for i in test]
    column = {m: j for j, m in enumerate(data.models)}

    def operating_point(routed: Router, tenant: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean cost and quality of ``routed``'s decisions for ``tenant`` on the test
        prompts under the replay's policy (``quality_fraction=0.9``), per weight row."""
        decisions = routed.route_batch(
            test_prompts, candidates=data.models, tenant=tenant, quality_fraction=0.9
        )
        chosen = np.array([column[d.model] for d in decisions])
        rows = np.arange(len(test))
        return weights @ cost[test][rows, chosen], weights @ data.quality[test][rows, chosen]

    at_cost: dict[str, Any] = {}
    stream: dict[str, Any] = {}  # the replayed traffic itself (what exploration costs)
    op_cost, op_quality = operating_point(router, "base")
    at_cost["router (no adaptation)"] = {
        "cost_usd": _summary(op_cost),
        "quality": _summary(op_quality),
    }
    embeddings = router.encoder.embed(data.prompts)
    fit, tune = tuning_split(pool, rng)
    for label, predicted in baselines(data, embeddings, expected, fit, tune, test).items():
        samples[label] = _aiq(predicted, cost[test], data.quality[test], weights)
        fronts[label] = _fronts(predicted, cost[test], data.quality[test], weights)
    pool_data = data.subset(pool)
    # --retrain: the logs the bundle was trained on, written once for every step.
    scratch = tempfile.TemporaryDirectory()
    base_logs: Path | None = None
    for variant, n in ((v, n) for v in variants for n in steps):
        label = f"router+adapt{f'[{variant}]' if variant else ''}@{n}"
        adapted = Router.load(bundle, capacity=False)
        with tempfile.TemporaryDirectory() as tmp:
            start = Path(tmp) / "corrections.json"  # empty, with these settings
            Corrections(**variants[variant]).save(start)  # type: ignore[arg-type]
            store = OutcomeStore(Path(tmp) / "outcomes.sqlite") if retrain else None
            streamed = replay(
                adapted,
                pool_data,
                requests=n,
                shadow_rate=0.0,
                seed=seed,
                adapt=True,
                outcome_rate=1.0,
                tenant="tenant",
                corrections_path=start,
                explore=(
                    Explorer(rate=explore, max_cost_ratio=explore_max_cost_ratio)
                    if explore
                    else None
                ),
                record_to=store,
            )
            if retrain:
                assert bundle is not None
                # The tenant's outcomes, learned by the network: a bundle trained on
                # the logs it was trained on plus the outcome store, judged on the
                # same held-out prompts (no corrections).
                from training.train import cli

                if base_logs is None:
                    base_logs = logs_without(data_dir, name, Path(scratch.name) / "base.parquet")
                cli(
                    [str(base_logs), str(store.path)],  # type: ignore[union-attr]
                    "training/configs/default.toml",
                    {"output.bundle_dir": str(Path(tmp) / "retrained"), "tracking.enabled": False},
                )
                if keep is not None:  # for a diagnosis: the store and the retrained bundle
                    kept = keep / name / label
                    shutil.rmtree(kept, ignore_errors=True)
                    kept.mkdir(parents=True)
                    shutil.copy2(store.path, kept / "outcomes.sqlite")  # type: ignore[union-attr]
                    shutil.copytree(Path(tmp) / "retrained", kept / "retrained")
                retrained = Router.load(Path(tmp) / "retrained", capacity=False)
                again = retrained.route_batch(test_prompts, candidates=data.models, tenant="t")
                q = np.array([[d.candidate(m).p_success for m in data.models] for d in again])
                samples[f"retrained{f'[{variant}]' if variant else ''}@{n}"] = _aiq(
                    q, cost[test], data.quality[test], weights
                )
                # How far the retrained predictions moved (0 would mean nothing learned).
                out.setdefault("retrained_mean_abs_change", {})[label] = float(
                    np.mean(np.abs(q - p[test]))
                )
        assert adapted.corrections is not None
        corrected = adapted.corrections.apply(
            p[test],
            data.models,
            tenant="tenant",
            embeddings=embeddings[test],
            support=None if support is None else support[test],
        )
        samples[label] = _aiq(corrected, cost[test], data.quality[test], weights)
        # Per model: what the corrections made of it, against its mean on the test
        # prompts and on the traffic they learned from, and how many outcomes it got.
        recorded = {
            m: n for t, m, n, _total in adapted.corrections.state()["tenant"] if t == "tenant"
        }
        out.setdefault("per_model", {})[label] = {
            m: {
                "corrected": float(corrected[:, j].mean()),
                "test_mean": float(data.quality[test][:, j].mean()),
                "pool_mean": float(data.quality[pool][:, j].mean()),
                "outcomes": int(recorded.get(m, 0)),
            }
            for j, m in enumerate(data.models)
        }
        # Quality at equal cost: the adapted router's own decisions under the tenant's
        # policy, against each other router's frontier at that mean cost.
        op_cost, op_quality = operating_point(adapted, "tenant")
        row: dict[str, Any] = {"cost_usd": _summary(op_cost), "quality": _summary(op_quality)}
        for other in ("router", "knn", "tfidf"):
            theirs = _quality_at(fronts[other], op_cost)
            row[f"{other} at this cost"] = _summary(theirs)
            row[f"minus {other}"] = _summary(op_quality - theirs)
        at_cost[label] = row
        stream[label] = {
            "mean_quality": streamed.mean_quality,
            "mean_cost_usd": streamed.mean_cost_usd,
            "explored": streamed.explored,
        }
    # Each router's AIQ, and each adapted router's paired difference from the others
    # (the same bootstrap resamples of the test prompts), with 95% intervals.
    out["aiq"] = {name: _summary(v) for name, v in samples.items()}
    out["adapted_minus"] = {
        f"{name} - {other}": _summary(samples[name] - samples[other])
        for name in samples
        if name.startswith(("router+adapt", "retrained"))
        for other in ("router", "knn", "tfidf", "zero")
    }
    out["router_minus_zero"] = _summary(samples["router"] - samples["zero"])
    scratch.cleanup()
    out["at_tenant_cost"] = at_cost
    out["stream"] = stream
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--steps", nargs="*", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-coverage", type=float, default=0.9)
    parser.add_argument(
        "--train-without",
        action="store_true",
        help="route with a bundle trained without the replayed dataset (trained once, cached)",
    )
    parser.add_argument("--bundles", type=Path, default=Path("build/adaptation"))
    parser.add_argument(
        "--train-without-share",
        type=float,
        default=None,
        help="route with a bundle trained without this share of the replayed dataset's "
        "prompts (the rest trained on), and replay and score only those: traffic like the "
        "training data, prompts unseen (trained once, cached)",
    )
    parser.add_argument(
        "--unseen-prompts",
        action="store_true",
        help="replay and score only the prompts the bundle did not train on (without "
        "--train-without: traffic like the shipped bundle's training data, prompts unseen)",
    )
    parser.add_argument(
        "--max-shift", type=float, help="bound of the tenant corrections (default: Corrections')"
    )
    parser.add_argument(
        "--pooled",
        type=float,
        help="share of the tenant-wide residual every model gets (default: Corrections'; "
        "0 = per model only, the behaviour before pooling)",
    )
    parser.add_argument(
        "--prior-strength",
        type=float,
        help="pseudo-outcomes each level of the corrections is shrunk with (default: Corrections')",
    )
    parser.add_argument(
        "--local",
        metavar="K:TAU:PSEUDO:POOLED",
        help="the corrections' per-prompt term (Corrections' local_k, local_tau, "
        "local_pseudo, local_pooled); default: Corrections'",
    )
    parser.add_argument(
        "--variant",
        action="append",
        metavar="LABEL:KEY=VALUE,...",
        help="adapt with these Corrections settings (on top of the flags above), e.g. "
        "'per-model:pooled=0'; repeat to compare several on the same split and baselines",
    )
    parser.add_argument(
        "--explore",
        type=float,
        default=0.0,
        help="share of the tenant's requests answered by another candidate, never pricier "
        "(learned_router.drift.Explorer); 0 = none",
    )
    parser.add_argument(
        "--explore-max-cost-ratio",
        type=lambda v: None if v.lower() == "none" else float(v),
        default=1.0,
        help="an explored model costs at most this multiple of the chosen one "
        "(Explorer.max_cost_ratio; 'none' = any candidate)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="also train a bundle on the logs plus the tenant's recorded outcomes at each "
        "step and score it (with --train-without; minutes per step)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="with --retrain: keep each step's outcome store and retrained bundle under "
        "KEEP/DATASET/LABEL (for a diagnosis)",
    )
    args = parser.parse_args()
    base: dict[str, float] = {}
    for key, value in (
        ("max_shift", args.max_shift),
        ("pooled", args.pooled),
        ("prior_strength", args.prior_strength),
    ):
        if value is not None:
            base[key] = value
    if args.local:
        k, tau, pseudo, pooled = args.local.split(":")
        base.update(local_k=int(k), local_tau=float(tau), local_pseudo=float(pseudo))
        base["local_pooled"] = float(pooled)
    variants = {"": base}
    if args.variant:
        variants = {}
        for spec in args.variant:
            label, _, settings = spec.partition(":")
            pairs = (item.split("=") for item in settings.split(",") if item)
            variants[label] = {**base, **{k: float(v) for k, v in pairs}}
    share = args.train_without_share
    if share is not None and (not 0 < share < 1 or args.train_without or args.retrain):
        raise SystemExit(
            "adaptation_eval: --train-without-share takes a share in (0, 1), "
            "without --train-without or --retrain"
        )
    for name in args.datasets:
        bundle = bundle_without(args.data, name, args.bundles) if args.train_without else None
        if share is not None:
            bundle = bundle_without(args.data, name, args.bundles, share)
        result = evaluate(
            args.data,
            name,
            steps=tuple(args.steps),
            seed=args.seed,
            min_coverage=args.min_coverage,
            bundle=bundle,
            variants=variants,
            explore=args.explore,
            explore_max_cost_ratio=args.explore_max_cost_ratio,
            retrain=args.retrain,
            keep=args.keep,
            unseen_prompts=args.unseen_prompts or share is not None,
        )
        print(json.dumps(result))


if __name__ == "__main__":
    main()
