"""Corrections to predicted P(success), consulted by the router at decision time.

Two kinds, both additive in probability points, bounded and reversible:

- **drift corrections** (all tenants): set by the drift monitor when an alarm
  says a model got worse (``shift = -0.2``: 20 points lower), so routing
  re-scores that model at once, without reloading the bundle; cleared with
  :meth:`Corrections.clear_drift` (or when the model is retrained).
- **tenant corrections**: learned online from the outcomes a tenant records
  (and shadow labels): per (tenant, model) and per band of predicted P, the
  mean residual ``observed - predicted``, shrunk towards the model's overall
  residual and that towards zero (``n / (n + prior_strength)`` each), bounded
  by ``max_shift``; optionally (``local_k > 0``) a per-prompt term, the
  residuals of the tenant's outcomes nearest the prompt
  (:mod:`learned_router.drift.local`). Forgotten with :meth:`Corrections.reset`.

Per model, not pooled, by default. ``pooled`` (0..1) also shrinks each model
towards the tenant's mean residual over every model and gives that mean to
models the tenant never recorded. It answers one real bias: a tenant records
outcomes of the models it was routed to, chosen because their predictions were
high, so their residuals run negative (the winner's curse), and corrected alone
they can fall below models nobody observed; with the bundles of an earlier
version that cost 0.036 AIQ on RouterBench traffic. It creates another: the
routed model's residual is given to every unobserved model, so a second
observed model with an honest prediction falls below models nothing is known
of. Re-measured with the current bundles on seven datasets each replayed as a
tenant through a bundle trained without it (docs/drift.md, "Pooled or per
model"), pooling cost RouterBench 0.055 AIQ (per model: 0.002) and was ahead
on one set only (MATH level 5, +0.016), so the default moved to ``pooled=0``.
A single model failing where the others would not is the drift monitor's to
find: it compares a model with its own history and re-scores it for every
tenant.

Models the tenant never tried: once it recorded ``unseen_down_after`` (500)
outcomes, where the models it did try turn out overrated on average, the
untried ones are lowered by that mean too (``unseen_down``; never raised).
Per model alone, a tried model corrected down fell below untried models whose
predictions were as high and as wrong, and routing at other cost levels went
to them: held-out MATH level 5 lost 0.012 AIQ to adaptation, LiveCodeBench
0.004; with it, +0.003 and +0.000, and no other held-out set moved; on traffic
like the training data it needs the dead zone below (docs/drift.md).

A dead zone (``dead_zone``, 0.05): every tenant shift is soft-thresholded
towards 0 by that much. On traffic like the bundle's training data the routed
models' outcomes run a few points below their predictions by selection alone,
and corrections learned from that made routing worse (RouterBench with half
of it held out of training: -0.023 AIQ, -0.002 with the zone); priors that are
far off (NQ) are still corrected by the excess.

The state is a small JSON file written atomically (temporary file, then
rename), kept beside the outcome store, so nothing learned is lost on restart.

Thread-safe: route() reads and record paths write from many threads; one lock
guards the tables (a dict of floats mutated by several threads).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.drift.local import LocalResiduals
from learned_router.errors import InvalidInputError, LearnedRouterError

FORMAT_VERSION = 1
BANDS = 5
"""Predicted-P bands of a tenant correction: [0, .2), [.2, .4), ..., [.8, 1]."""


class CorrectionsFileError(LearnedRouterError):
    """A saved corrections file cannot be read (damaged, or from a newer version)."""


@dataclass
class _Residuals:
    n: float = 0.0
    total: float = 0.0

    def add(self, residual: float) -> None:
        self.n += 1.0
        self.total += residual


def _band(p: float) -> int:
    return min(BANDS - 1, max(0, int(p * BANDS)))


class Corrections:
    """Per-model drift shifts and per-tenant learned shifts of P(success).

    >>> c = Corrections(prior_strength=10, max_shift=0.3)
    >>> for _ in range(90):
    ...     c.observe("m", predicted=0.9, observed=0.5, tenant="acme")
    >>> round(c.shift("m", 0.9, tenant="acme"), 3)
    -0.3
    >>> c.shift("m", 0.9, tenant="other")
    0.0
    """

    def __init__(
        self,
        *,
        prior_strength: float = 50.0,
        # 0.6, not 0.3: off its training data the prior can be 0.3-0.56 too high
        # for every model of a tenant (LLMRouter NQ: 0.69 predicted, 0.13-0.46
        # observed); clipped at 0.3 they all end up equal and the ranking the
        # outcomes show is lost (benchmarks/adaptation_eval: AlpacaEval 2 AIQ
        # 0.121 -> 0.121 at 0.3, -> 0.203 at 0.6; NQ 0.447 -> 0.456; no other set moved).
        max_shift: float = 0.6,
        max_drift_shift: float = 0.6,
        path: str | os.PathLike[str] | None = None,
        pooled: float = 0.0,
        local_k: int = 0,
        local_tau: float = 0.1,
        local_pseudo: float = 5.0,
        local_pooled: float = 0.0,
        local_capacity: int = 4096,
        # Optimism while a tenant's ranking is learned, pessimism once it settled:
        # see _common_shift and docs/drift.md ("Models the tenant never tried").
        unseen_down: float = 1.0,
        unseen_down_after: int = 500,
        # Residuals this small are what routing's own selection leaves on calibrated
        # predictions (the winner's curse); see _bounded and docs/drift.md.
        dead_zone: float = 0.05,
    ) -> None:
        if not (
            prior_strength > 0
            and 0 < max_shift <= 1
            and 0 < max_drift_shift <= 1
            and 0 <= pooled <= 1
            and 0 <= unseen_down <= 1
            and unseen_down_after >= 0
            and 0 <= dead_zone <= 0.5
        ):
            raise InvalidInputError(
                "Corrections: prior_strength must be > 0, max_shift and max_drift_shift in "
                "(0, 1], pooled and unseen_down in [0, 1], unseen_down_after >= 0, dead_zone "
                f"in [0, 0.5]; got {prior_strength}, {max_shift}, {max_drift_shift}, {pooled}, "
                f"{unseen_down}, {unseen_down_after}, {dead_zone}"
            )
        if not (
            local_k >= 0
            and local_tau > 0
            and local_pseudo > 0
            and 0 <= local_pooled <= 1
            and local_capacity >= 1
        ):
            raise InvalidInputError(
                "Corrections: local_k must be >= 0 (0 = no per-prompt term), local_tau and "
                "local_pseudo > 0, local_pooled in [0, 1], local_capacity >= 1; got "
                f"{local_k}, {local_tau}, {local_pseudo}, {local_pooled}, {local_capacity}"
            )
        self.local_k = int(local_k)
        self.local_tau = float(local_tau)
        self.local_pseudo = float(local_pseudo)
        self.local_pooled = float(local_pooled)
        self.local_capacity = int(local_capacity)
        self._local: dict[str, LocalResiduals] = {}
        self.prior_strength = float(prior_strength)
        self.max_shift = float(max_shift)
        self.max_drift_shift = float(max_drift_shift)
        self.path = None if path is None else Path(path)
        self.pooled = float(pooled)
        self.unseen_down = float(unseen_down)
        self.unseen_down_after = int(unseen_down_after)
        self.dead_zone = float(dead_zone)
        # Written by record paths and alarms, read by route(): one lock.
        self._lock = threading.Lock()
        self._drift: dict[str, float] = {}
        self._tenant: dict[tuple[str, str], _Residuals] = {}
        # Per tenant, the sum of its models' entries above: the pooled shift's input,
        # kept as outcomes arrive so route() need not add them up per decision.
        self._pool: dict[str, _Residuals] = {}
        # Per tenant, its models' entries of _tenant (the same objects): the mean
        # model residual of unseen_down, without a scan over every tenant.
        self._models: dict[str, dict[str, _Residuals]] = {}
        self._band: dict[tuple[str, str, int], _Residuals] = {}
        self.version = 0
        """Bumped on every change (lets callers cache)."""

    # --- drift ------------------------------------------------------------------------------

    def set_drift(self, model: str, shift: float) -> float:
        """Re-scores ``model`` for every tenant by ``shift`` points (bounded); returns it."""
        if not math.isfinite(shift):
            raise InvalidInputError(f"drift shift for {model!r} must be finite, got {shift}")
        bounded = float(np.clip(shift, -self.max_drift_shift, self.max_drift_shift))
        with self._lock:
            self._drift[model] = bounded
            self.version += 1
        return bounded

    def clear_drift(self, model: str | None = None) -> None:
        """Undoes the drift correction of ``model`` (or of every model)."""
        with self._lock:
            if model is None:
                self._drift.clear()
            else:
                self._drift.pop(model, None)
            self.version += 1

    def drift_shift(self, model: str) -> float:
        with self._lock:
            return self._drift.get(model, 0.0)

    # --- tenants ----------------------------------------------------------------------------

    def observe(
        self,
        model: str,
        *,
        predicted: float,
        observed: float,
        tenant: str | None = None,
        embedding: npt.NDArray[np.float32] | None = None,
    ) -> None:
        """Learns from one recorded outcome (or shadow label) of ``tenant``'s traffic.

        ``predicted`` is the P(success) the router used *before* corrections;
        ``embedding``, the prompt's (the router's encoder), feeds the per-prompt
        term when ``local_k > 0``.
        """
        if not (0.0 <= predicted <= 1.0 and 0.0 <= observed <= 1.0):
            raise InvalidInputError(
                f"Corrections.observe({model!r}): predicted and observed must be in [0, 1]; "
                f"got {predicted}, {observed}"
            )
        key = tenant or "default"
        residual = float(observed) - float(predicted)
        vector = None
        if self.local_k and embedding is not None:
            vector = np.asarray(embedding, np.float32).reshape(-1)
            if not np.isfinite(vector).all():
                raise InvalidInputError(
                    f"Corrections.observe({model!r}): the embedding holds NaN or infinite values"
                )
        with self._lock:
            if vector is not None:
                memory = self._local.get(key)
                if memory is None:
                    memory = self._local[key] = LocalResiduals(len(vector), self.local_capacity)
                if memory.dim != len(vector):
                    raise InvalidInputError(
                        f"Corrections.observe({model!r}): embedding of dimension {len(vector)}, "
                        f"but tenant {key!r}'s earlier ones have {memory.dim} (another encoder?); "
                        "reset(tenant) to start its per-prompt term afresh"
                    )
                memory.add(vector, model, float(predicted), residual)
            entry = self._tenant.setdefault((key, model), _Residuals())
            entry.add(residual)
            self._models.setdefault(key, {})[model] = entry
            self._pool.setdefault(key, _Residuals()).add(residual)
            self._band.setdefault((key, model, _band(predicted)), _Residuals()).add(residual)
            self.version += 1

    def reset(self, tenant: str | None = None) -> None:
        """Forgets what was learned for ``tenant`` (or for every tenant)."""
        with self._lock:
            if tenant is None:
                self._tenant.clear()
                self._models.clear()
                self._pool.clear()
                self._band.clear()
                self._local.clear()
            else:
                self._tenant = {k: v for k, v in self._tenant.items() if k[0] != tenant}
                self._pool.pop(tenant, None)
                self._models.pop(tenant, None)
                self._local.pop(tenant, None)
                self._band = {k: v for k, v in self._band.items() if k[0] != tenant}
            self.version += 1

    def _common_shift(self, key: str) -> float:
        """What a model the tenant never recorded gets, and what a recorded one's own
        residual is shrunk towards: ``pooled`` of the tenant's mean residual over
        every outcome, plus, once the tenant recorded ``unseen_down_after``
        outcomes, ``unseen_down`` of its mean *model* residual where that is
        negative (each recorded model's mean residual weighted by ``n / (n +
        prior_strength)``, so one heavily routed model counts as one model).

        Never raised: an underrated routed model says nothing good of models
        nobody tried (what pooling got wrong on RouterBench). Not from the first
        outcome: while the tenant's ranking is being learned, the routed model
        falling below untried ones is what makes the policy try them (NQ and
        AlpacaEval 2 held out learn +0.11 and +0.06 AIQ that way, and nothing
        with the untried models lowered from the start).
        """
        common = 0.0
        pool = self._pool.get(key)
        if self.pooled and pool is not None and pool.n:
            common = self.pooled * pool.total / (pool.n + self.prior_strength)
        models = self._models.get(key)  # recorded models imply a pool of their outcomes
        if self.unseen_down and models and self._pool[key].n >= self.unseen_down_after:
            k = self.prior_strength
            weights = [r.n / (r.n + k) for r in models.values()]
            means = [r.total / r.n for r in models.values()]
            mean = sum(w * m for w, m in zip(weights, means, strict=True)) / sum(weights)
            common += self.unseen_down * min(0.0, mean)
        return common

    def _bounded(self, shift: float) -> float:
        """A tenant shift less the dead zone (soft-thresholded towards 0), bounded.

        On traffic like the bundle's training data a routed model's outcomes run a
        few points below its predictions by selection alone: it was routed where
        its prediction was high, errors included. Corrected by that, routing got
        worse (RouterBench, half held out of training, 20,000 outcomes: -0.023
        AIQ; with a zone of 0.05, -0.002), while priors that are far off (NQ, 0.3-0.56
        too high) are still corrected by the excess.
        """
        # Plain min/max: np.clip on a scalar costs ~20 us, and apply() calls this
        # BANDS times per recorded model on every decision.
        if self.dead_zone:
            shift = math.copysign(max(0.0, abs(shift) - self.dead_zone), shift)
        return max(-self.max_shift, min(self.max_shift, float(shift)))

    def _tenant_shift(self, key: str, model: str, band: int, common: float | None = None) -> float:
        common = self._common_shift(key) if common is None else common
        overall = self._tenant.get((key, model))
        if overall is None:
            return self._bounded(common)
        k = self.prior_strength
        # Shrink the model's mean residual towards the tenant's (towards 0 when not
        # pooled), the band's towards the model's.
        model_shift = (overall.total + k * common) / (overall.n + k)
        local = self._band.get((key, model, band))
        shift = model_shift if local is None else (local.total + k * model_shift) / (local.n + k)
        return self._bounded(shift)

    def shift(self, model: str, predicted: float, *, tenant: str | None = None) -> float:
        """The total shift applied to ``model`` at P(success) ``predicted`` for ``tenant``."""
        with self._lock:
            return self._drift.get(model, 0.0) + self._tenant_shift(
                tenant or "default", model, _band(predicted)
            )

    def apply(
        self,
        p: npt.NDArray[np.float64],
        models: Sequence[str],
        *,
        tenant: str | None = None,
        embeddings: npt.NDArray[np.float32] | None = None,
        support: npt.NDArray[np.float64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """``p`` (``[n, len(models)]``) with every correction applied, clipped to [0, 1].

        ``embeddings`` (``[n, dim]``, the prompts'): adds the per-prompt term where
        the tenant has outcomes in memory (``local_k > 0``); ``support`` (``[n,
        len(models)]``, the quality model's, where it has one) shrinks that term by
        the bundle's own labelled evidence near each prompt. Returns ``p`` itself
        when nothing applies (no copy on the hot path).
        """
        key = tenant or "default"
        with self._lock:
            drift = np.array([self._drift.get(m, 0.0) for m in models])
            common = self._common_shift(key)
            observed = [j for j, m in enumerate(models) if (key, m) in self._tenant]
            memory = self._local.get(key) if embeddings is not None else None
            # Each recorded model's shift per band, built once per call: the observed
            # candidates and the per-prompt term's remembered models mostly overlap.
            tables: dict[str, npt.NDArray[np.float64]] = {}

            def table(model: str) -> npt.NDArray[np.float64]:
                if model not in tables:
                    tables[model] = np.array(
                        [self._tenant_shift(key, model, b, common) for b in range(BANDS)]
                    )
                return tables[model]

            local_table = None
            if memory is not None and memory.size:
                local_table = np.array([table(m) for m in memory.models])
            if not drift.any() and not observed and not common and local_table is None:
                return p
            # Models this tenant never recorded get its pooled shift alone (one number);
            # recorded ones their own shift per band of predicted P.
            unseen = np.full(len(models), self._bounded(common))
            unseen[observed] = 0.0
            out = np.array(p, dtype=np.float64, copy=True)
            bands = np.minimum(BANDS - 1, np.maximum(0, (out * BANDS).astype(np.int64)))
            out += drift + unseen
            for j in observed:
                out[:, j] += table(models[j])[bands[:, j]]
            if local_table is not None:
                assert memory is not None
                assert embeddings is not None
                if embeddings.shape != (len(p), memory.dim):
                    raise InvalidInputError(
                        f"Corrections.apply: embeddings of shape {embeddings.shape}, expected "
                        f"({len(p)}, {memory.dim})"
                    )
                if support is not None and np.shape(support) != np.shape(p):
                    raise InvalidInputError(
                        f"Corrections.apply: support of shape {np.shape(support)}, expected "
                        f"{np.shape(p)} (one per prompt and model)"
                    )
                local = memory.shift(
                    embeddings,
                    models,
                    local_table,
                    k=self.local_k,
                    tau=self.local_tau,
                    pseudo=self.local_pseudo,
                    pooled=self.local_pooled,
                    bands=BANDS,
                    support=None if support is None else np.asarray(support, np.float64),
                )
                out += np.clip(local, -self.max_shift, self.max_shift)
        np.clip(out, 0.0, 1.0, out=out)
        return out

    # --- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "format_version": FORMAT_VERSION,
                "prior_strength": self.prior_strength,
                "max_shift": self.max_shift,
                "max_drift_shift": self.max_drift_shift,
                "pooled": self.pooled,
                "unseen_down": self.unseen_down,
                "unseen_down_after": self.unseen_down_after,
                "dead_zone": self.dead_zone,
                "local_k": self.local_k,
                "local_tau": self.local_tau,
                "local_pseudo": self.local_pseudo,
                "local_pooled": self.local_pooled,
                "local_capacity": self.local_capacity,
                "local": {t: memory.state() for t, memory in self._local.items()},
                "drift": dict(self._drift),
                "tenant": [[t, m, r.n, r.total] for (t, m), r in self._tenant.items()],
                "band": [[t, m, b, r.n, r.total] for (t, m, b), r in self._band.items()],
            }

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Writes the state atomically (to ``path`` or the file it was loaded from)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidInputError("Corrections.save: give a path (none was set at creation)")
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(self.state(), sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Corrections:
        """Reads a saved state; a missing file gives empty corrections bound to ``path``."""
        path = Path(path)
        if not path.exists():
            return cls(path=path)
        try:
            state = json.loads(path.read_text())
            version = int(state["format_version"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CorrectionsFileError(
                f"{path}: not a corrections file ({error}); delete it to start afresh"
            ) from error
        if version > FORMAT_VERSION:
            raise CorrectionsFileError(
                f"{path}: corrections format {version} is newer than this learned-router "
                f"understands ({FORMAT_VERSION}); upgrade learned-router"
            )
        try:
            out = cls(
                prior_strength=state["prior_strength"],
                max_shift=state["max_shift"],
                max_drift_shift=state["max_drift_shift"],
                path=path,
                pooled=float(state.get("pooled", 1.0)),
                local_k=int(state.get("local_k", 0)),
                local_tau=float(state.get("local_tau", 0.1)),
                local_pseudo=float(state.get("local_pseudo", 5.0)),
                local_pooled=float(state.get("local_pooled", 0.0)),
                local_capacity=int(state.get("local_capacity", 4096)),
                unseen_down=float(state.get("unseen_down", 0.0)),
                unseen_down_after=int(state.get("unseen_down_after", 0)),
                dead_zone=float(state.get("dead_zone", 0.0)),
            )
            out._local = {
                str(t): LocalResiduals.from_state(m) for t, m in state.get("local", {}).items()
            }
            out._drift = {str(k): float(v) for k, v in state["drift"].items()}
            out._tenant = {(t, m): _Residuals(n, total) for t, m, n, total in state["tenant"]}
            for (tenant, model), residuals in out._tenant.items():
                out._models.setdefault(tenant, {})[model] = residuals
                pool = out._pool.setdefault(tenant, _Residuals())
                pool.n += residuals.n
                pool.total += residuals.total
            out._band = {
                (t, m, int(b)): _Residuals(n, total) for t, m, b, n, total in state["band"]
            }
        except (KeyError, TypeError, ValueError, AttributeError, InvalidInputError) as error:
            raise CorrectionsFileError(
                f"{path}: damaged corrections file ({type(error).__name__}: {error}); "
                "restore it from a backup or delete it to start afresh"
            ) from error
        return out
