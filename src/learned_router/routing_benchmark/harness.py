"""The evaluation harness: same split, same embeddings, same held-out prompts for every router.

For each dataset of the log with at least ``min_models`` models:

1. keep the models that answered at least ``min_model_coverage`` of its
   prompts and the prompts that every kept model answered (complete cases, so
   every router and every single model is scored on the same prompts);
2. split by prompt with :func:`~learned_router.data.split_prompts` (fixed
   seed, grouped by normalised text across the whole log) and check in code
   that no text sits in two splits;
3. price every (prompt, model) cell twice: the *expected* cost a router can
   know before calling (catalog prices x counted input tokens x output lengths
   fitted on the training split) for routing, and the *real* cost where the
   log has one (else the same estimate with lengths fitted on the whole
   dataset) for scoring;
4. fit every router on the training split (validation for tuning), route the
   held-out split, and score all of them, the single models and the oracle
   with :mod:`learned_router.routing_benchmark.metrics`, with bootstrap intervals over
   held-out prompts (the same resamples for every router, so differences are
   paired).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from learned_router.data.log import OutcomeLog, OutcomeMatrix
from learned_router.data.splits import DEFAULT_FRACTIONS, check_no_leakage, prompt_group
from learned_router.data.splits import split_prompts as _split_prompts
from learned_router.errors import BenchmarkError, DatasetNotUsableError, InvalidInputError
from learned_router.routing_benchmark import metrics
from learned_router.routing_benchmark.baselines import (
    BestFixedRouter,
    KNNRouter,
    MatrixFactorizationRouter,
    MLPRouter,
    TfidfLogisticRouter,
)
from learned_router.routing_benchmark.embeddings import Embed
from learned_router.routing_benchmark.learned import LearnedRouterPredictor, PredictorRouter
from learned_router.routing_benchmark.routers import (
    AlwaysBest,
    AlwaysCheapest,
    BenchRouter,
    FloatArray,
    HeuristicTriage,
    IndexArray,
    Oracle,
    RandomMixture,
    ReferenceModels,
    RouterInputs,
    Routing,
    TrainingSet,
)

if TYPE_CHECKING:
    from learned_router.catalog import Catalog

QUALITY_TARGETS: tuple[float, ...] = (0.90, 0.95, 1.00)
"""Shares of the best single model's quality whose cost the report gives."""
ZERO_ROUTER = "zero-router"
"""Key of RouterBench's zero router (random mixtures of single models) in score tables."""


@dataclass(frozen=True)
class BenchConfig:
    """How the benchmark splits, filters and resamples. Every knob is recorded in the report."""

    seed: int = 0
    """Seed of the prompt split, the random router and the bootstrap."""
    fractions: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    """Split fractions; routers train on "train" and tune on "val" when present."""
    split: str = "test"
    """The held-out split every router is scored on."""
    min_models: int = 3
    """Datasets with fewer models are skipped."""
    min_model_coverage: float = 0.9
    """Models that answered fewer of a dataset's prompts are left out of it."""
    bootstrap_resamples: int = 1000
    """Resamples of held-out prompts for the 95% intervals (0: no intervals)."""
    two_model_steps: int = 11
    """Shares of strong-model calls evaluated for APGR/CPT: 0%, 10%, ..., 100%."""
    datasets: tuple[str, ...] | None = None
    """Only these datasets (default: every one in the log)."""


@dataclass(frozen=True)
class Estimate:
    """A metric on the held-out prompts with its 95% bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class OperatingPoint:
    """Mean cost per prompt (USD) and mean quality of one way of routing."""

    label: str
    cost_usd: float
    quality: float


@dataclass(frozen=True)
class RouterResult:
    """Everything measured for one router on one dataset."""

    name: str
    kind: str
    points: tuple[OperatingPoint, ...]
    frontier: tuple[OperatingPoint, ...]
    """Vertices of the non-decreasing convex hull of ``points``."""
    aiq: Estimate
    oracle_gap_captured: Estimate
    quality_at_best_cost: Estimate
    cost_to_reach_usd: Mapping[float, Estimate]
    """Mean cost per prompt to reach each share of the best single model's quality."""
    savings: Mapping[float, Estimate]
    """1 - that cost / the best single model's cost, for each share."""
    aiq_delta: Estimate | None
    """AIQ minus the reference router's AIQ (paired bootstrap), when there is one."""
    apgr: Estimate | None
    cpt50: Estimate | None
    cpt80: Estimate | None
    two_model_points: tuple[tuple[float, float], ...]
    """(share of strong-model calls, quality) in the two-model setting."""
    fit_seconds: float
    route_seconds: float


@dataclass(frozen=True)
class DatasetResult:
    """One dataset: what was evaluated, and every router's result."""

    dataset: str
    models: tuple[str, ...]
    dropped_models: tuple[str, ...]
    prompts: Mapping[str, int]
    """Prompts per split after filtering."""
    dropped_prompts: int
    cost_method: str
    quality_scale: str
    best_model: str
    cheapest_model: str
    single_models: tuple[OperatingPoint, ...]
    cost_range_usd: tuple[float, float]
    """[c_min, c_max] of AIQ: the cheapest and the most expensive single model's mean cost."""
    zero_router_aiq: Estimate
    """AIQ of RouterBench's zero router: the hull of the single models' points."""
    routers: tuple[RouterResult, ...]
    reference: str | None
    left_out_models: tuple[str, ...] = ()
    """Models every router did without, each with the reason: not in the price
    catalog, or no head in the learned router's bundle."""

    def router(self, name: str) -> RouterResult:
        for result in self.routers:
            if result.name == name:
                return result
        raise KeyError(
            f"no router {name!r} in {self.dataset}; have {[r.name for r in self.routers]}"
        )

    @property
    def best_single(self) -> OperatingPoint:
        return next(p for p in self.single_models if p.label == self.best_model)


@dataclass(frozen=True)
class BenchResult:
    """A whole benchmark run."""

    datasets: tuple[DatasetResult, ...]
    skipped: tuple[tuple[str, str], ...]
    """(dataset, why) for every dataset not evaluated."""
    split: str
    split_params: Mapping[str, Any]
    embedder: str
    config: BenchConfig
    seconds: float
    machine: Mapping[str, Any]


def default_routers(*, seed: int = 0) -> list[BenchRouter]:
    """Fresh instances of every baseline (the oracle and learned router are added by the harness).

    >>> [r.name for r in default_routers()]  # doctest: +NORMALIZE_WHITESPACE
    ['always-cheapest', 'always-best', 'random-mixture', 'best-fixed', 'heuristic-triage',
     'knn', 'mlp', 'matrix-factorisation', 'tfidf-logreg']
    """
    return [
        AlwaysCheapest(),
        AlwaysBest(),
        RandomMixture(seed=seed),
        BestFixedRouter(),
        HeuristicTriage(),
        KNNRouter(),
        MLPRouter(),
        MatrixFactorizationRouter(),
        TfidfLogisticRouter(),
    ]


# --- preparing one dataset -------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedDataset:
    """One dataset ready for routers: splits as :class:`TrainingSet` s, held-out truth."""

    name: str
    train: TrainingSet
    validation: TrainingSet | None
    held_out: TrainingSet
    """The evaluated split; routers only ever see ``held_out.inputs``."""
    held_out_cost_usd: FloatArray
    """Real (or best-estimate) cost of every held-out cell, for scoring."""
    held_out_groups: frozenset[str]
    dropped_models: tuple[str, ...]
    dropped_prompts: int
    cost_method: str
    quality_scale: str
    left_out_models: tuple[str, ...] = ()


def complete_cases(
    quality: FloatArray, *, min_model_coverage: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(models kept, prompts kept): models answering enough prompts, then complete prompts.

    >>> q = np.array([[1, np.nan, 0], [1, np.nan, np.nan], [0, 1, 1], [1, np.nan, 1.0]])
    >>> [m.tolist() for m in complete_cases(q, min_model_coverage=0.7)]
    [[True, False, True], [True, False, True, True]]
    """
    answered = ~np.isnan(quality)
    models = np.asarray(answered.mean(axis=0) >= min_model_coverage, dtype=np.bool_)
    prompts = np.asarray(answered[:, models].all(axis=1), dtype=np.bool_)
    return models, prompts


def _training_set(
    matrix: OutcomeMatrix,
    rows: npt.NDArray[np.int64],
    models: tuple[str, ...],
    columns: npt.NDArray[np.int64],
    embeddings: npt.NDArray[np.float32],
    expected_cost: FloatArray,
    quality_scale: str | None = None,
) -> TrainingSet:
    inputs = RouterInputs(
        prompts=tuple(matrix.prompts[i] for i in rows),
        embeddings=np.ascontiguousarray(embeddings[rows]),
        models=models,
        expected_cost_usd=np.ascontiguousarray(expected_cost[np.ix_(rows, columns)]),
        quality_scale=quality_scale,
    )
    return TrainingSet(inputs=inputs, quality=matrix.quality[np.ix_(rows, columns)])


def prepare_dataset(
    log: OutcomeLog,
    name: str,
    assignment: Mapping[tuple[str, str], str],
    *,
    embed: Embed,
    config: BenchConfig,
    catalog: Catalog,
    exclude: Mapping[str, str] | None = None,
) -> PreparedDataset:
    """Filters, splits, prices and embeds one dataset of ``log``. ``exclude`` maps models
    every router must do without to the reason (recorded as ``left_out_models``); they
    are left out before the complete-case filter, so their missing outcomes drop no
    prompt."""
    from learned_router.costs import log_costs
    from learned_router.tokens import OutputLengthModel, TokenCounter

    exclude = exclude or {}
    part = log.select(datasets=[name])
    left_out = tuple(f"{m} ({exclude[m]})" for m in part.models if m in exclude)
    if left_out:
        part = part.select(models=[m for m in part.models if m not in exclude])
    matrix = part.matrix()
    keep_models, keep_prompts = complete_cases(
        matrix.quality, min_model_coverage=config.min_model_coverage
    )
    columns = np.flatnonzero(keep_models).astype(np.int64)
    models = tuple(matrix.models[j] for j in columns)
    dropped_models = tuple(
        m for m, keep in zip(matrix.models, keep_models, strict=True) if not keep
    )
    if len(models) < config.min_models:
        raise DatasetNotUsableError(
            f"{name}: only {len(models)} models answer >= {config.min_model_coverage:.0%} of "
            f"its prompts (need {config.min_models})"
        )
    split_of = [assignment.get(key) for key in matrix.keys]
    if any(s is None for s in split_of):
        raise BenchmarkError(f"{name}: some prompts have no split; split the log after loading it")

    def rows(split: str) -> npt.NDArray[np.int64]:
        return np.flatnonzero(
            keep_prompts & np.array([s == split for s in split_of], dtype=np.bool_)
        ).astype(np.int64)

    train_rows, held_rows = rows("train"), rows(config.split)
    val_rows = rows("val") if "val" in config.fractions and config.split != "val" else None
    if train_rows.size == 0 or held_rows.size == 0:
        raise DatasetNotUsableError(
            f"{name}: the train or {config.split!r} split is empty after filtering "
            f"({train_rows.size} train, {held_rows.size} held-out prompts)"
        )
    # Leakage, checked again per dataset on exactly what routers see: no held-out
    # text (case and space folded) may appear in the training or validation split.
    held_groups = frozenset(prompt_group(matrix.prompts[i]) for i in held_rows)
    seen_rows = train_rows if val_rows is None else np.concatenate([train_rows, val_rows])
    leaked = [
        matrix.prompts[i] for i in seen_rows if prompt_group(matrix.prompts[i]) in held_groups
    ]
    if leaked:
        raise BenchmarkError(
            f"{name}: {len(leaked)} training prompt(s) also appear in the {config.split!r} "
            f"split, e.g. {leaked[0][:80]!r}"
        )

    counter = TokenCounter()
    train_keys = [matrix.keys[i] for i in train_rows]
    lengths_train = OutputLengthModel.fit(part.subset(train_keys), counter)
    expected = log_costs(matrix, catalog, lengths_train, counter=counter).estimated_usd
    realised = log_costs(matrix, catalog, OutputLengthModel.fit(part, counter), counter=counter)

    used = np.concatenate([train_rows, held_rows] + ([] if val_rows is None else [val_rows]))
    vectors = np.asarray(embed([matrix.prompts[i] for i in used]), dtype=np.float32)
    embeddings = np.zeros((len(matrix.prompts), vectors.shape[1]), dtype=np.float32)
    embeddings[used] = vectors

    scales = sorted({matrix.quality_scales[i] for i in held_rows})
    single_scale = scales[0] if len(scales) == 1 and scales[0] else None

    def subset(r: npt.NDArray[np.int64]) -> TrainingSet:
        return _training_set(matrix, r, models, columns, embeddings, expected, single_scale)

    realised_held = realised.cost_usd[np.ix_(held_rows, columns)]
    real_share = float(realised.is_real[np.ix_(held_rows, columns)].mean())
    return PreparedDataset(
        name=name,
        train=subset(train_rows),
        validation=None if val_rows is None or val_rows.size == 0 else subset(val_rows),
        held_out=subset(held_rows),
        held_out_cost_usd=realised_held,
        held_out_groups=held_groups,
        dropped_models=dropped_models,
        left_out_models=left_out,
        dropped_prompts=int((~keep_prompts).sum()),
        cost_method=_cost_method(real_share, realised.method),
        quality_scale="; ".join(s for s in scales if s) or "unspecified",
    )


def _cost_method(real_share: float, method: str) -> str:
    routing = (
        "Routers decide on expected costs (catalog prices x counted input tokens x mean "
        "output tokens per model and task on the training split)."
    )
    if real_share == 1.0:
        return f"Scored on real cost_usd from the logs. {routing}"
    if real_share == 0.0:
        return (
            "Scored on estimated costs (no cost_usd in the logs): input tokens counted with "
            "the encoder's WordPiece tokenizer, output tokens = mean answer length per (model, "
            f"task) in the dataset, priced with the catalog. {routing}"
        )
    return f"Scored on {method} ({100 * real_share:.0f}% real). {routing}"


# --- scoring ---------------------------------------------------------------------------------


def two_model_decisions(preference: FloatArray, *, steps: int, seed: int) -> npt.NDArray[np.bool_]:
    """``[steps, n]``: send the top share f of prompts (by preference) to the strong model,
    for f = 0, 1/(steps-1), ..., 1. Ties are broken at random (seeded), which is
    the same as mixing at random within a tie.

    >>> two_model_decisions(np.array([0.9, 0.1, 0.5, 0.3]), steps=3, seed=0).astype(int).tolist()
    [[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]]
    """
    n = preference.size
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, -preference))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    shares = np.linspace(0.0, 1.0, steps)
    calls = np.rint(shares * n).astype(np.int64)
    return rank[None, :] < calls[:, None]


@dataclass(frozen=True)
class _Layout:
    """Where each router's rows sit in the stacked per-prompt matrices."""

    singles: slice
    routers: dict[str, slice]
    two_model: dict[str, slice]


def _metric_table(
    quality_points: FloatArray,
    cost_points: FloatArray,
    strong_points: FloatArray,
    two_quality_points: FloatArray,
    layout: _Layout,
    *,
    best: int,
    weak: int,
    reference: str | None,
) -> dict[str, dict[str, float]]:
    """Every metric of every router for one weighting of the held-out prompts."""
    single_q, single_c = quality_points[layout.singles], cost_points[layout.singles]
    cost_range = (float(single_c.min()), float(single_c.max()))
    q_best, c_best = float(single_q[best]), float(single_c[best])
    q_weak = float(single_q[weak])
    zero = metrics.frontier(single_c, single_q)
    oracle = layout.routers["oracle"]
    oracle_aiq = metrics.aiq(
        metrics.frontier(cost_points[oracle], quality_points[oracle]), cost_range=cost_range
    )
    zero_aiq = metrics.aiq(zero, cost_range=cost_range)
    table: dict[str, dict[str, float]] = {}
    for name, rows in layout.routers.items():
        front = metrics.frontier(cost_points[rows], quality_points[rows])
        row: dict[str, float] = {"aiq": metrics.aiq(front, cost_range=cost_range)}
        # Paired with the zero router on the same resample: the "do no harm" margin.
        row["aiq_over_zero"] = row["aiq"] - zero_aiq
        row["gap"] = metrics.oracle_gap_captured(
            row["aiq"], zero_aiq=zero_aiq, oracle_aiq=oracle_aiq
        )
        row["q_at_best_cost"] = metrics.quality_at_cost(front, cost_usd=c_best)
        for target in QUALITY_TARGETS:
            cost = metrics.cost_to_reach(front, target_quality=target * q_best)
            row[f"cost@{target}"] = cost
            row[f"savings@{target}"] = metrics.savings(cost, baseline_cost_usd=c_best)
        if name in layout.two_model:
            two = layout.two_model[name]
            shares, q = strong_points[two], two_quality_points[two]
            kwargs = {"weak_quality": q_weak, "strong_quality": q_best}
            row["apgr"] = metrics.apgr(shares, q, **kwargs)
            row["cpt50"] = metrics.cpt(shares, q, fraction=0.5, **kwargs)
            row["cpt80"] = metrics.cpt(shares, q, fraction=0.8, **kwargs)
        table[name] = row
    if reference is not None:
        for row in table.values():
            row["aiq_delta"] = row["aiq"] - table[reference]["aiq"]
    table[ZERO_ROUTER] = {"aiq": zero_aiq}
    return table


def score_routings(
    quality: FloatArray,
    cost_usd: FloatArray,
    routings: Mapping[str, Routing],
    *,
    best: int,
    weak: int,
    reference: str | None = None,
    bootstrap_resamples: int = 1000,
    two_model_steps: int = 11,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Estimate]], dict[str, Any]]:
    """Scores routers' decisions on held-out outcomes, with paired bootstrap intervals.

    ``routings`` must include ``"oracle"``. ``best`` and ``weak`` are the column
    indices of the best single model and the cheap model (chosen on the
    training split); they are the strong and weak models of the two-model
    metrics. Returns ``{router: {metric: Estimate}}`` and the full-sample
    curves (points, frontiers, two-model points) for the report.
    """
    if "oracle" not in routings:
        raise InvalidInputError("score_routings needs the oracle's routing (key 'oracle')")
    if reference is not None and reference not in routings:
        raise InvalidInputError(f"reference router {reference!r} is not among the routings")
    n, m = quality.shape
    prompts = np.arange(n)
    blocks: list[IndexArray] = [np.repeat(np.arange(m)[:, None], n, axis=1)]
    layout = _Layout(singles=slice(0, m), routers={}, two_model={})
    start = m
    for name, routing in routings.items():
        blocks.append(routing.index)
        layout.routers[name] = slice(start, start + routing.index.shape[0])
        start += routing.index.shape[0]
    index = np.concatenate(blocks)
    chosen_quality = quality[prompts[None, :], index]
    chosen_cost = cost_usd[prompts[None, :], index]

    strong_rows: list[npt.NDArray[np.bool_]] = []
    start = 0
    for name, routing in routings.items():
        if routing.predicted_quality is not None:
            preference = routing.predicted_quality[:, best] - routing.predicted_quality[:, weak]
        elif routing.strong_preference is not None:
            preference = routing.strong_preference
        else:
            continue
        strong_rows.append(two_model_decisions(preference, steps=two_model_steps, seed=seed))
        layout.two_model[name] = slice(start, start + two_model_steps)
        start += two_model_steps
    strong = np.concatenate(strong_rows) if strong_rows else np.zeros((0, n), dtype=np.bool_)
    two_quality = np.where(strong, quality[:, best][None, :], quality[:, weak][None, :])

    full = np.full((1, n), 1.0 / n)
    weights = (
        np.concatenate(
            [full, metrics.bootstrap_weights(n, resamples=bootstrap_resamples, seed=seed)]
        )
        if bootstrap_resamples > 0
        else full
    )
    q_points = chosen_quality @ weights.T  # [rows, 1 + B]
    c_points = chosen_cost @ weights.T
    s_points = strong.astype(np.float64) @ weights.T
    t_points = two_quality @ weights.T
    tables = [
        _metric_table(
            q_points[:, b],
            c_points[:, b],
            s_points[:, b],
            t_points[:, b],
            layout,
            best=best,
            weak=weak,
            reference=reference,
        )
        for b in range(weights.shape[0])
    ]
    estimates: dict[str, dict[str, Estimate]] = {}
    for name, row in tables[0].items():
        estimates[name] = {}
        for metric, value in row.items():
            samples = [t[name][metric] for t in tables[1:]]
            low, high = metrics.percentile_interval(samples) if samples else (math.nan, math.nan)
            estimates[name][metric] = Estimate(value=value, low=low, high=high)
    curves = {
        "quality": q_points[:, 0],
        "cost": c_points[:, 0],
        "strong": s_points[:, 0],
        "two_quality": t_points[:, 0],
        "layout": layout,
    }
    return estimates, curves


def _router_result(
    name: str,
    kind: str,
    routing: Routing,
    estimates: Mapping[str, Estimate],
    curves: Mapping[str, Any],
    *,
    seconds: tuple[float, float],
) -> RouterResult:
    layout: _Layout = curves["layout"]
    rows = layout.routers[name]
    points = tuple(
        OperatingPoint(label=label, cost_usd=float(c), quality=float(q))
        for label, c, q in zip(
            routing.labels, curves["cost"][rows], curves["quality"][rows], strict=True
        )
    )
    front = metrics.frontier([p.cost_usd for p in points], [p.quality for p in points])
    vertices = tuple(
        OperatingPoint(label="frontier", cost_usd=float(c), quality=float(q))
        for c, q in zip(front.cost, front.quality, strict=True)
    )
    two = layout.two_model.get(name)
    two_points = (
        tuple(
            (float(s), float(q))
            for s, q in zip(curves["strong"][two], curves["two_quality"][two], strict=True)
        )
        if two is not None
        else ()
    )
    return RouterResult(
        name=name,
        kind=kind,
        points=points,
        frontier=vertices,
        aiq=estimates["aiq"],
        oracle_gap_captured=estimates["gap"],
        quality_at_best_cost=estimates["q_at_best_cost"],
        cost_to_reach_usd={t: estimates[f"cost@{t}"] for t in QUALITY_TARGETS},
        savings={t: estimates[f"savings@{t}"] for t in QUALITY_TARGETS},
        aiq_delta=estimates.get("aiq_delta"),
        apgr=estimates.get("apgr"),
        cpt50=estimates.get("cpt50"),
        cpt80=estimates.get("cpt80"),
        two_model_points=two_points,
        fit_seconds=seconds[0],
        route_seconds=seconds[1],
    )


def evaluate_dataset(
    data: PreparedDataset,
    routers: Sequence[BenchRouter],
    *,
    config: BenchConfig,
    reference: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DatasetResult:
    """Fits, routes and scores every router (plus the oracle) on one prepared dataset."""
    say = progress or (lambda _message: None)
    names = [r.name for r in routers]
    if len(set(names)) != len(names) or "oracle" in names:
        raise InvalidInputError(f"router names must be unique and not 'oracle', got {names}")
    inputs = data.held_out.inputs
    routings: dict[str, Routing] = {}
    kinds: dict[str, str] = {}
    seconds: dict[str, tuple[float, float]] = {}
    for router in routers:
        groups = getattr(router, "training_prompt_groups", None)
        if groups is not None and not data.held_out_groups.isdisjoint(groups):
            overlap = len(data.held_out_groups.intersection(groups))
            raise BenchmarkError(
                f"{data.name}: {router.name} was trained on {overlap} of the held-out prompts; "
                "train it on the benchmark's training split"
            )
        say(f"{data.name}: fitting {router.name}")
        t0 = time.perf_counter()
        router.fit(data.train, validation=data.validation)
        t1 = time.perf_counter()
        routings[router.name] = router.route(inputs)
        seconds[router.name] = (t1 - t0, time.perf_counter() - t1)
        kinds[router.name] = router.kind
    oracle = Oracle()
    oracle.reveal(data.held_out.quality, data.held_out_cost_usd)
    routings["oracle"] = oracle.route(inputs)
    kinds["oracle"], seconds["oracle"] = oracle.kind, (0.0, 0.0)

    refs = ReferenceModels.choose(data.train)
    say(f"{data.name}: scoring ({config.bootstrap_resamples} bootstrap resamples)")
    estimates, curves = score_routings(
        data.held_out.quality,
        data.held_out_cost_usd,
        routings,
        best=refs.frontier,
        weak=refs.cheap,
        reference=reference,
        bootstrap_resamples=config.bootstrap_resamples,
        two_model_steps=config.two_model_steps,
        seed=config.seed,
    )
    zero = estimates.pop(ZERO_ROUTER)["aiq"]
    layout: _Layout = curves["layout"]
    models = inputs.models
    singles = tuple(
        OperatingPoint(label=models[j], cost_usd=float(c), quality=float(q))
        for j, (c, q) in enumerate(
            zip(curves["cost"][layout.singles], curves["quality"][layout.singles], strict=True)
        )
    )
    results = tuple(
        _router_result(
            name, kinds[name], routings[name], estimates[name], curves, seconds=seconds[name]
        )
        for name in routings
    )
    costs = [p.cost_usd for p in singles]
    return DatasetResult(
        dataset=data.name,
        models=models,
        dropped_models=data.dropped_models,
        left_out_models=data.left_out_models,
        prompts={
            "train": len(data.train.inputs),
            "val": 0 if data.validation is None else len(data.validation.inputs),
            config.split: len(inputs),
        },
        dropped_prompts=data.dropped_prompts,
        cost_method=data.cost_method,
        quality_scale=data.quality_scale,
        best_model=models[refs.frontier],
        cheapest_model=models[refs.cheap],
        single_models=singles,
        cost_range_usd=(min(costs), max(costs)),
        zero_router_aiq=zero,
        routers=results,
        reference=reference,
    )


def machine_description() -> dict[str, Any]:
    """The CPU, core count and platform the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "usable_cpus": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_benchmark(
    log: OutcomeLog,
    *,
    embed: Embed,
    embedder_name: str = "custom",
    config: BenchConfig | None = None,
    learned: LearnedRouterPredictor | None = None,
    routers: Callable[[], Sequence[BenchRouter]] | None = None,
    catalog: Catalog | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Runs the whole comparison on every eligible dataset of ``log``.

    ``embed`` gives every router the same prompt embeddings; ``learned`` (any
    :class:`LearnedRouterPredictor`) is evaluated as ``learned-router`` and
    becomes the reference of the paired AIQ differences; ``routers`` builds
    fresh baselines for each dataset (default :func:`default_routers`).

    Every router chooses among the same models: a model the price catalog does not
    know, or (when ``learned`` has a ``covers(model) -> bool`` method) one the learned
    router has no head for, is left out of its dataset for all of them, named with the
    reason in ``DatasetResult.left_out_models`` and the report, instead of failing the
    run. A dataset left with fewer than ``min_models`` models is skipped, saying why.
    """
    from learned_router.catalog import Catalog

    config = config or BenchConfig()
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    catalog = catalog or Catalog.load()
    make_routers = routers or (lambda: default_routers(seed=config.seed))
    if config.split not in config.fractions or config.split == "train":
        raise InvalidInputError(
            f"split {config.split!r} must be a held-out split of {list(config.fractions)}"
        )
    splits = _split_prompts(log, fractions=config.fractions, seed=config.seed)
    check_no_leakage(log, splits)
    wanted = config.datasets or log.datasets
    unknown = set(wanted) - set(log.datasets)
    if unknown:
        raise InvalidInputError(f"unknown dataset(s) {sorted(unknown)}; the log has {log.datasets}")
    results: list[DatasetResult] = []
    skipped: list[tuple[str, str]] = []
    covers = getattr(learned, "covers", None)
    for name in wanted:
        names = log.select(datasets=[name]).models
        n_models = len(names)
        if n_models < config.min_models:
            skipped.append((name, f"{n_models} models (< {config.min_models})"))
            continue
        exclude = {m: "not in the price catalog" for m in names if not catalog.knows(m)} | {
            m: "no head in the learned router's bundle"
            for m in names
            if catalog.knows(m) and callable(covers) and not covers(m)
        }
        if exclude:
            say(f"{name}: left out {', '.join(f'{m} ({why})' for m, why in exclude.items())}")
        say(f"{name}: preparing (split, costs, embeddings)")
        try:
            data = prepare_dataset(
                log,
                name,
                splits.assignment,
                embed=embed,
                config=config,
                catalog=catalog,
                exclude=exclude,
            )
        except DatasetNotUsableError as error:
            skipped.append((name, str(error)))
            continue
        baselines = list(make_routers())
        reference = None
        if learned is not None:
            baselines.append(PredictorRouter(learned))
            reference = "learned-router"
        results.append(
            evaluate_dataset(data, baselines, config=config, reference=reference, progress=say)
        )
    return BenchResult(
        datasets=tuple(results),
        skipped=tuple(skipped),
        split=config.split,
        split_params=splits.params(),
        embedder=embedder_name,
        config=config,
        seconds=time.perf_counter() - started,
        machine=machine_description(),
    )
