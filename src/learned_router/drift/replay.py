"""Replay: stream a logged dataset through a router to measure the learning loop.

``learned-router replay --data DIR --dataset NAME --requests N --shadow-rate R
--seed S [--drift MODEL:AT:REPLACEMENT [--recover-at B]] [--adapt] [--json]``

Requests are prompts of the dataset drawn with replacement (seeded). Each is
routed by the real :class:`~learned_router.router.Router` (its corrections
hook included) among the dataset's models the bundle knows, and answered with
the chosen model's logged outcome. From request ``AT`` on, ``MODEL``'s
requests are answered with ``REPLACEMENT``'s logged outcomes instead:

- ``MODEL``: a model name, ``@top`` (the model routed most before ``AT``), or
  ``@top-shadowed`` (the same among the models a shadow check can see, i.e.
  not the golden model: when the golden model is also the most routed, its
  own drift is visible only through recorded outcomes, ``--outcome-rate``);
- ``REPLACEMENT``: a model name, ``@weakest`` (the lowest mean quality in the
  set), or ``@dropNN`` (each outcome kept with the probability that lowers the
  model's mean quality by NN points: a controlled drop).

A sampled share of requests (``--shadow-rate``, deterministic per request
index) is also "sent" to the golden model (default: the best model of the
set): the shadow check's agreement is ``1 - |q_routed - q_golden|`` on the
logged qualities (the logs hold scores, not comparable answers for every
set). ``--outcome-rate`` is the share of requests whose outcome the caller
records (feeding the residual detector and, with ``--adapt``, the tenant's
corrections).

``--recover-at B``: from request ``B`` on, the drifted model answers with its
own logged outcomes again (the provider's fix). A re-scored model gets no
traffic, so the monitor probes it (``--probe-rate``, :meth:`DriftMonitor.should_probe`):
a probed request is answered by it (its quality counts in the stream's mean),
checked against the golden model when it is not the golden one (the golden
call counts in the shadow cost), and its outcome recorded when the caller
records any (``--outcome-rate`` > 0).

Speed: a prompt drawn twice is tokenised, embedded and scored by the heads
once (memos in front of the router's encoder and predictor; predictions are
deterministic per prompt, so this changes no decision); everything else,
pricing, corrections, the selection kernel, the decision, runs per request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.drift.corrections import Corrections
from learned_router.drift.detectors import DetectorSettings
from learned_router.drift.explore import Explorer
from learned_router.drift.monitor import PROBE_RATE, DriftMonitor
from learned_router.drift.sampling import (
    WARMUP_CHECKS,
    WARMUP_MIN_SHARE,
    WARMUP_RATE,
    ShadowSampler,
)
from learned_router.errors import InvalidInputError
from learned_router.outcomes import OutcomeRecord, OutcomeStore
from learned_router.predictor import QualityPrediction

_DROP = re.compile(r"^@drop(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class DriftSpec:
    """``MODEL:AT:REPLACEMENT`` (see the module docstring)."""

    model: str
    at: int
    replacement: str

    @classmethod
    def parse(cls, text: str) -> DriftSpec:
        """Parses ``MODEL:AT:REPLACEMENT``.

        >>> DriftSpec.parse("@top:5000:@drop20")
        DriftSpec(model='@top', at=5000, replacement='@drop20')
        """
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            raise InvalidInputError(
                f"--drift {text!r}: expected MODEL:AT:REPLACEMENT, e.g. @top:5000:@drop20 "
                "(AT is a request index)"
            )
        return cls(parts[0], int(parts[1]), parts[2])


@dataclass
class ReplayResult:
    dataset: str
    requests: int
    models: list[str]
    golden: str
    drift_at: int | None
    drift_model: str | None
    drift_replacement: str | None
    drift_points: float | None
    """Measured drop of the drifting model's mean quality over the set (points)."""
    detected_at: int | None
    detection_delay_requests: int | None
    detection_delay_shadow_samples: int | None
    detection_signal: str | None
    false_alarms: int
    shadow_samples: int
    shadow_cost_usd: float
    shadow_cost_share: float
    mean_quality: float
    mean_cost_usd: float
    mean_quality_before_reaction: float | None
    mean_cost_usd_before_reaction: float | None
    mean_quality_after_reaction: float | None
    mean_cost_usd_after_reaction: float | None
    drift_model_share_before_reaction: float | None
    drift_model_share_after_reaction: float | None
    outcomes_recorded: int
    explored: int = 0
    """Requests answered by another candidate than the router's choice (``explore``)."""
    probes: int = 0
    """Requests answered by a re-scored model to see whether it recovered."""
    recover_at: int | None = None
    recovered_at: int | None = None
    """Request of the first recovery alert on the drifted model at or after ``recover_at``."""
    recovery_delay_requests: int | None = None
    false_recoveries: int = 0
    """Recovery alerts on the drifted model before it recovered."""
    drift_model_share_after_recovery: float | None = None
    """Its share of requests from ``recovered_at`` on (``drift_model_share_before_reaction``
    is the share it had between the drift and the alarm)."""
    mean_quality_after_recovery: float | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _MemoEncoder:
    """The router's encoder, with each prompt's tokens and embedding kept once computed."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._ids: dict[str, tuple[list[int], int]] = {}
        self._vectors: dict[tuple[int, ...], npt.NDArray[np.float32]] = {}

    def token_ids_and_counts(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._ids]
        if missing:
            ids, counts = self._inner.token_ids_and_counts(missing)
            self._ids.update(zip(missing, zip(ids, counts, strict=True), strict=True))
        return [self._ids[t][0] for t in texts], [self._ids[t][1] for t in texts]

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        keys = [tuple(row) for row in ids]
        missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
        if missing:
            vectors = self._inner.embed_ids([list(k) for k in missing])
            self._vectors.update(zip(missing, vectors, strict=True))
        return np.stack([self._vectors[k] for k in keys])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MemoPredictor:
    """The router's quality predictor, with each embedding's P(success) kept once computed
    (the heads are deterministic per embedding: the same prompt, the same prediction)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._rows: dict[tuple[bytes, str | None, tuple[str, ...] | None], tuple[Any, ...]] = {}

    def predict(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> QualityPrediction:
        names = None if models is None else tuple(models)
        keys = [(row.tobytes(), scale, names) for row in embeddings]
        missing = [i for i, k in enumerate(keys) if k not in self._rows]
        if missing:
            fresh = self._inner.predict(embeddings[missing], models=models, scale=scale)
            for n, i in enumerate(missing):
                self._rows[keys[i]] = (
                    fresh.p_success[n],
                    None if fresh.support is None else fresh.support[n],
                    None if fresh.output_tokens is None else fresh.output_tokens[n],
                )
        rows = [self._rows[k] for k in keys]

        def stack(part: int) -> npt.NDArray[np.float64] | None:
            if rows[0][part] is None:
                return None
            return np.stack([r[part] for r in rows])

        p = stack(0)
        assert p is not None
        return QualityPrediction(p_success=p, support=stack(1), output_tokens=stack(2))

    def p_success(
        self,
        embeddings: npt.NDArray[np.float32],
        *,
        models: Sequence[str] | None = None,
        scale: str | None = None,
    ) -> npt.NDArray[np.float64]:
        return self.predict(embeddings, models=models, scale=scale).p_success

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class ReplayData:
    """One dataset as dense arrays over the models the router knows."""

    name: str
    prompts: list[str]
    models: list[str]
    quality: npt.NDArray[np.float64]
    cost_usd: npt.NDArray[np.float64]
    scales: list[str] = field(default_factory=list)
    """Per prompt, the quality scale of its outcomes."""

    def subset(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> ReplayData:
        """The same dataset restricted to prompts ``rows`` (e.g. a traffic / held-out split)."""
        index = [int(i) for i in rows]
        return ReplayData(
            self.name,
            [self.prompts[i] for i in index],
            self.models,
            self.quality[index],
            self.cost_usd[index],
            [self.scales[i] for i in index] if self.scales else [],
        )

    def write_jsonl(self, path: Path) -> Path:
        """The dataset as a canonical outcome log (JSONL), one row per prompt and model."""
        import json

        with Path(path).open("w") as handle:
            for i, prompt in enumerate(self.prompts):
                for j, model in enumerate(self.models):
                    row = {
                        "prompt_id": f"{self.name}-{i}",
                        "prompt": prompt,
                        "model": model,
                        "quality": float(self.quality[i, j]),
                        "dataset": self.name,
                        "quality_scale": self.scales[i] if self.scales else None,
                    }
                    if not np.isnan(self.cost_usd[i, j]):
                        row["cost_usd"] = float(self.cost_usd[i, j])
                    handle.write(json.dumps(row) + "\n")
        return Path(path)


def load_dataset(
    data_dir: str | Path, name: str, router: Any, *, min_coverage: float = 0.9
) -> ReplayData:
    """The dataset's prompts x known models, keeping models with outcomes on at least
    ``min_coverage`` of prompts and prompts with an outcome for every kept model
    (a judge's reference graded against itself is not an outcome: dropped)."""
    import tempfile

    from learned_router import data

    path = Path(data_dir) / "outcomes" / f"{name}.parquet"
    if not path.is_file():
        path = Path(data_dir) / name
    if not path.exists():
        raise InvalidInputError(
            f"replay: no dataset {name!r} under {data_dir} (looked for outcomes/{name}.parquet)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        log = data.load(path, dataset=name, rejects=Path(tmp) / "rejects.jsonl")
    # A judge's reference graded against itself (0.5 on every prompt) is a tie by
    # construction, not an outcome: dropped, as training and the benchmark do.
    log, _ = log.without_self_comparisons()
    catalog = router.catalog.current
    known = [m for m in log.models if catalog.knows(m) and catalog.resolve(m) in router.models]
    if len(known) < 2:
        raise InvalidInputError(
            f"replay: the bundle knows {len(known)} of {name}'s models ({known}); replay needs 2+"
        )
    log = log.select(models=known).with_catalog_names(catalog)
    matrix = log.matrix()
    coverage = np.mean(~np.isnan(matrix.quality), axis=0)
    keep = [j for j in range(len(matrix.models)) if coverage[j] >= min_coverage]
    quality = matrix.quality[:, keep]
    rows = ~np.isnan(quality).any(axis=1)
    if rows.sum() < 10 or len(keep) < 2:
        raise InvalidInputError(
            f"replay: {name} has too few prompts answered by every known model "
            f"({int(rows.sum())} prompts, {len(keep)} models)"
        )
    return ReplayData(
        name,
        [matrix.prompts[i] for i in np.flatnonzero(rows)],
        [matrix.models[j] for j in keep],
        quality[rows],
        matrix.cost_usd[:, keep][rows],
        [matrix.quality_scales[i] for i in np.flatnonzero(rows)],
    )


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def replay(
    router: Any,
    dataset: ReplayData,
    *,
    requests: int,
    shadow_rate: float = 0.01,
    warmup_rate: float = WARMUP_RATE,
    warmup_checks: int = WARMUP_CHECKS,
    warmup_min_share: float = WARMUP_MIN_SHARE,
    seed: int = 0,
    drift: DriftSpec | None = None,
    adapt: bool = False,
    rescore: bool = True,
    outcome_rate: float = 0.0,
    golden: str | None = None,
    policy: dict[str, float] | None = None,
    settings: DetectorSettings = DetectorSettings(),  # noqa: B008 (frozen)
    chunk: int = 50,
    window: int = 1000,
    tenant: str = "replay",
    corrections_path: str | Path | None = None,
    state_path: str | Path | None = None,
    record_to: OutcomeStore | None = None,
    explore: Explorer | None = None,
    recover_at: int | None = None,
    probe_rate: float = PROBE_RATE,
) -> ReplayResult:
    """Streams ``requests`` requests of ``dataset`` through ``router``; see the module docstring.

    ``record_to``: an outcome store that receives every recorded outcome (the
    drifted traffic a retrain learns from). ``explore``: answers its share of
    requests with another candidate (their outcomes recorded against it; no
    shadow check of an explored request).
    """
    if requests < 1:
        raise InvalidInputError(f"replay: --requests must be >= 1, got {requests}")
    if not 0 <= outcome_rate <= 1:
        raise InvalidInputError(f"replay: --outcome-rate must be in [0, 1], got {outcome_rate}")
    models = dataset.models
    col = {m: j for j, m in enumerate(models)}
    mean_q = dataset.quality.mean(axis=0)
    golden = golden or models[int(np.argmax(mean_q))]
    if golden not in col:
        raise InvalidInputError(f"replay: golden model {golden!r} is not among {models}")
    if drift is not None and drift.at >= requests:
        raise InvalidInputError(f"replay: drift at {drift.at} is past the last request")
    if recover_at is not None and (drift is None or not drift.at < recover_at < requests):
        raise InvalidInputError(
            f"replay: --recover-at {recover_at} needs --drift and must fall after the drift "
            f"({None if drift is None else drift.at}) and before the last request ({requests})"
        )
    corrections = (
        Corrections.load(corrections_path) if corrections_path is not None else Corrections()
    )
    router.corrections = corrections
    if not isinstance(router.encoder, _MemoEncoder):
        router.encoder = _MemoEncoder(router.encoder)
    if not isinstance(router.quality, _MemoPredictor):
        router.quality = _MemoPredictor(router.quality)
    sampler = ShadowSampler(
        golden_model=golden,
        rate=shadow_rate,
        salt=f"replay-{seed}",
        warmup_rate=warmup_rate,
        warmup_checks=warmup_checks,
        warmup_min_share=warmup_min_share,
    )
    # The span one stream's false-alarm target covers: the plain rate's share of the
    # stream, plus the warm-up's extra checks.
    extra = warmup_checks if warmup_rate > shadow_rate > 0 else 0
    horizon = max(64, int(np.ceil(shadow_rate * requests)) + extra)
    monitor = DriftMonitor(
        sampler=sampler,
        corrections=corrections,
        settings=settings,
        shadow_horizon=horizon,
        outcome_horizon=max(64, int(np.ceil(outcome_rate * requests))),
        sinks=[],
        rescore=rescore,
        adapt=adapt,
        probe_rate=probe_rate,
    )
    policy = dict(policy or {"quality_fraction": 0.9})

    # Predictions before any correction, per prompt (the residuals' reference).
    base = router.route_batch(dataset.prompts, candidates=models, tenant=tenant, **policy)
    p_base = np.array([[d.candidate(m).p_success for m in models] for d in base])
    expected_cost = np.array([[d.candidate(m).expected_cost_usd for m in models] for d in base])
    cost = np.where(np.isnan(dataset.cost_usd), expected_cost, dataset.cost_usd)
    # The prompts' embeddings, for the tenant corrections' per-prompt term.
    embeddings = router.encoder.embed(dataset.prompts) if adapt and corrections.local_k else None

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(dataset.prompts), size=requests)
    drift_rng = np.random.default_rng(seed + 1)
    outcome_draw = np.random.default_rng(seed + 2).random(requests)

    drift_model: str | None = None
    replacement: str | None = None
    keep_prob = 1.0
    if drift is not None:
        replacement = drift.replacement
        if replacement == "@weakest":
            replacement = models[int(np.argmin(mean_q))]
        if drift.model not in ("@top", "@top-shadowed"):
            drift_model = router.catalog.current.resolve(drift.model)
            if drift_model not in col:
                raise InvalidInputError(f"replay: drift model {drift.model!r} not among {models}")

    routed_counts: Counter[str] = Counter()
    qualities: list[float] = []
    costs: list[float] = []
    chosen: list[str] = []
    shadow_samples = 0
    shadow_cost = 0.0
    drift_shadow_samples = 0
    outcomes = 0
    explored = 0
    probes = 0
    recovered_at: int | None = None
    false_recoveries = 0
    records: list[OutcomeRecord] = []
    detected_at: int | None = None
    detection_signal: str | None = None
    detection_shadow: int | None = None
    false_alarms = 0

    def answered(model: str, row: int, t: int) -> float:
        """The logged quality of ``model`` on prompt ``row``, drifted from ``drift.at`` on."""
        q = float(dataset.quality[row, col[model]])
        fixed = recover_at is not None and t >= recover_at
        if drift is not None and t >= drift.at and not fixed and model == drift_model:
            if replacement is not None and replacement in col:
                return float(dataset.quality[row, col[replacement]])
            return q * float(drift_rng.random() < keep_prob)
        return q

    for start in range(0, requests, chunk):
        idx = rows[start : start + chunk]
        decisions = router.route_batch(
            [dataset.prompts[i] for i in idx], candidates=models, tenant=tenant, **policy
        )
        for offset, (i, decision) in enumerate(zip(idx, decisions, strict=True)):
            t = start + offset
            if drift is not None and t == drift.at and drift_model is None:
                if drift.model == "@top-shadowed":
                    visible = [m for m in models if m != golden]
                    drift_model = max(visible, key=lambda m: routed_counts[m])
                else:
                    drift_model = routed_counts.most_common(1)[0][0]
            if drift is not None and t == drift.at:
                assert drift_model is not None
                match = _DROP.match(replacement or "")
                if match:
                    points = float(match.group(1)) / 100.0
                    keep_prob = max(0.0, 1.0 - points / max(1e-9, mean_q[col[drift_model]]))
                elif replacement not in col:
                    raise InvalidInputError(
                        f"replay: replacement {replacement!r} is not @weakest, @dropNN or one "
                        f"of {models}"
                    )

            request_id = f"{seed}-{t}"
            alternative = (
                None if explore is None else explore.choose(decision, request_id=request_id)
            )
            explored += alternative is not None
            probe = (
                monitor.should_probe(decision, request_id=request_id)
                if alternative is None
                else None
            )
            probes += probe is not None
            model = alternative or probe or decision.model
            j = col[model]
            routed_counts[model] += 1
            q = answered(model, int(i), t)
            qualities.append(q)
            costs.append(float(cost[i, j]))
            chosen.append(model)
            alerts = []
            if (probe is not None and probe != golden) or (
                alternative is None
                and probe is None
                and monitor.should_shadow(decision, request_id=request_id) is not None
            ):
                shadow_samples += 1
                shadow_cost += float(cost[i, col[golden]])
                if drift is not None and t >= drift.at and model == drift_model:
                    drift_shadow_samples += 1
                g = answered(golden, int(i), t)
                alerts.append(
                    monitor.observe_agreement(
                        request_id, model, 1.0 - abs(q - g), at_request=t, tier=decision.tier
                    )
                )
            if outcome_draw[t] < outcome_rate or (probe is not None and outcome_rate > 0):
                outcomes += 1
                if record_to is not None:
                    records.append(
                        OutcomeRecord(
                            prompt_id=request_id,
                            prompt=dataset.prompts[i],
                            model=model,
                            quality=q,
                            cost_usd=float(cost[i, j]),
                            tenant=tenant,
                            dataset="production",
                            quality_scale=dataset.scales[i] if dataset.scales else None,
                            decision_id=decision.decision_id,
                        )
                    )
                alerts.append(
                    monitor.observe_outcome(
                        request_id,
                        model,
                        predicted=float(np.clip(p_base[i, j], 0, 1)),
                        observed=q,
                        tenant=tenant,
                        at_request=t,
                        tier=decision.tier,
                        embedding=embeddings[i] if embeddings is not None else None,
                    )
                )
            for alert in alerts:
                if alert is None:
                    continue
                if alert.recovery:  # a re-scored model recovered (or a wrong re-score undone)
                    if alert.model == drift_model and recover_at is not None and t >= recover_at:
                        recovered_at = t if recovered_at is None else recovered_at
                    elif alert.model == drift_model:
                        false_recoveries += 1
                    continue
                true_alarm = drift is not None and t >= drift.at and alert.model == drift_model
                if true_alarm and detected_at is None:
                    detected_at, detection_signal = t, alert.signal
                    detection_shadow = drift_shadow_samples
                elif not true_alarm:
                    false_alarms += 1

    if record_to is not None and records:
        record_to.append_many(records)
    total_cost = float(np.sum(costs))
    result = ReplayResult(
        dataset=dataset.name,
        requests=requests,
        models=models,
        golden=golden,
        drift_at=None if drift is None else drift.at,
        drift_model=drift_model,
        drift_replacement=replacement,
        drift_points=None,
        detected_at=detected_at,
        detection_delay_requests=None
        if detected_at is None or drift is None
        else detected_at - drift.at,
        detection_delay_shadow_samples=detection_shadow,
        detection_signal=detection_signal,
        false_alarms=false_alarms,
        shadow_samples=shadow_samples,
        shadow_cost_usd=shadow_cost,
        shadow_cost_share=shadow_cost / total_cost if total_cost > 0 else 0.0,
        mean_quality=float(np.mean(qualities)),
        mean_cost_usd=float(np.mean(costs)),
        mean_quality_before_reaction=None,
        mean_cost_usd_before_reaction=None,
        mean_quality_after_reaction=None,
        mean_cost_usd_after_reaction=None,
        drift_model_share_before_reaction=None,
        drift_model_share_after_reaction=None,
        outcomes_recorded=outcomes,
        explored=explored,
        probes=probes,
        recover_at=recover_at,
        recovered_at=recovered_at,
        recovery_delay_requests=None
        if recovered_at is None or recover_at is None
        else recovered_at - recover_at,
        false_recoveries=false_recoveries,
        alerts=[a.as_dict() for a in monitor.alerts],
    )
    if drift is not None and drift_model is not None:
        match = _DROP.match(drift.replacement)
        if match:
            result.drift_points = float(match.group(1))
        elif replacement in col:
            result.drift_points = 100.0 * float(mean_q[col[drift_model]] - mean_q[col[replacement]])
        end = detected_at if detected_at is not None else requests
        stop = recover_at if recover_at is not None else requests
        before, after = slice(drift.at, end), slice(end, max(end, stop))
        result.mean_quality_before_reaction = _mean(qualities[before])
        result.mean_cost_usd_before_reaction = _mean(costs[before])
        result.mean_quality_after_reaction = _mean(qualities[after])
        result.mean_cost_usd_after_reaction = _mean(costs[after])
        result.drift_model_share_before_reaction = _mean(
            [float(m == drift_model) for m in chosen[before]]
        )
        result.drift_model_share_after_reaction = _mean(
            [float(m == drift_model) for m in chosen[after]]
        )
        if recovered_at is not None:
            back = slice(recovered_at, requests)
            result.mean_quality_after_recovery = _mean(qualities[back])
            result.drift_model_share_after_recovery = _mean(
                [float(m == drift_model) for m in chosen[back]]
            )
    elif adapt:
        first = slice(0, min(window, requests))
        result.mean_quality_before_reaction = _mean(qualities[first])
        result.mean_cost_usd_before_reaction = _mean(costs[first])
        result.mean_quality_after_reaction = _mean(qualities[first.stop :])
        result.mean_cost_usd_after_reaction = _mean(costs[first.stop :])
    for w in range(0, requests, window):
        result.windows.append(
            {
                "start": w,
                "end": min(requests, w + window),
                "mean_quality": float(np.mean(qualities[w : w + window])),
                "mean_cost_usd": float(np.mean(costs[w : w + window])),
            }
        )
    if adapt and corrections_path is not None:
        corrections.save(corrections_path)
    if state_path is not None:
        monitor.save_state(state_path)
    return result
