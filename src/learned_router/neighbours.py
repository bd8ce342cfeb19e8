"""The quality model's own misses on its labelled training prompts, read near a prompt.

The network predicts P(success) from a prompt's embedding through a small
shared trunk; what it gets wrong on a region of the training data stays wrong
there. Beside the bundle sits a compact bank of the training prompts: each
one's embedding projected on ``dims`` principal axes and rounded to int8, and,
for every model graded on it, the label minus the model's own prediction on the
label's source scale (its *miss*, int8 in steps of 1/127; -128 where the model
was not graded). For a prompt ``x`` and a model ``m``:

    near     = the k bank prompts most similar to x (cosine in the projection)
    w_i      = exp((cos(x, i) - 1) / tau)
    shift_m  = sum_i w_i miss_im / (sum_i w_i [m graded on i] + pseudo)
    p        = clip(p_model + trust * shift_m)

``trust`` is the quality model's: with joint trust, the least trust among the
candidates, so the shift counts only where every candidate was graded near the
prompt. That gate is what makes it safe: ungated, the misses of look-alikes
graded on other terms cost held-out MATH level 5 0.02 AIQ; gated, held-out
sets move by at most 0.0005 while in distribution RouterBench, LLMRouter's
9-model set and MMLU-Pro gain (docs/training.md, "Neighbour misses").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from learned_router.errors import BundleError

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I8 = npt.NDArray[np.int8]

NO_LABEL = -128
"""The int8 code of "this model was not graded on this bank prompt"."""
ARRAY_NAMES = (
    "neighbour_mean",
    "neighbour_axes",
    "neighbour_step",
    "neighbour_codes",
    "neighbour_misses",
)
"""The bank's arrays in ``heads.npz`` (all present or none)."""


@dataclass(frozen=True)
class NeighbourMisses:
    """A bank of training prompts and each model's misses on them; see the module docstring."""

    mean: F32  # [dim] the bank's mean embedding
    axes: F32  # [dim, dims] principal axes
    step: F32  # [dims] int8 step per axis
    codes: I8  # [n, dims] the bank prompts, projected and rounded
    misses: I8  # [n, models] label minus prediction, x127; NO_LABEL where not graded
    k: int
    tau: float
    pseudo: float

    @classmethod
    def build(
        cls,
        embeddings: F32,
        misses: FloatArray,
        *,
        dims: int,
        k: int,
        tau: float,
        pseudo: float,
    ) -> NeighbourMisses:
        """The bank of ``embeddings`` (unit rows) with ``misses`` ([n, models], NaN
        where a model was not graded; clipped to [-1, 1])."""
        x = embeddings.astype(np.float64)
        mean = x.mean(0)
        sample = x[:: max(1, len(x) // 20000)] - mean
        _, _, vt = np.linalg.svd(sample, full_matrices=False)
        axes = vt[:dims].T
        projected = (x - mean) @ axes
        step = np.maximum(np.abs(projected).max(0), 1e-12) / 127.0
        codes = np.clip(np.round(projected / step), -127, 127).astype(np.int8)
        coded = np.where(
            np.isnan(misses), NO_LABEL, np.clip(np.round(np.nan_to_num(misses) * 127), -127, 127)
        ).astype(np.int8)
        return cls(
            mean=mean.astype(np.float32),
            axes=axes.astype(np.float32),
            step=step.astype(np.float32),
            codes=codes,
            misses=coded,
            k=int(k),
            tau=float(tau),
            pseudo=float(pseudo),
        )

    @classmethod
    def from_stored(
        cls,
        arrays: Mapping[str, npt.NDArray[Any]],
        settings: Mapping[str, Any],
        *,
        dim: int,
        models: int,
    ) -> NeighbourMisses:
        """The bank from ``heads.npz`` and ``calibration.json``'s ``neighbours``;
        raises :class:`BundleError` naming the fault."""
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise BundleError(f"quality.npz has a neighbour bank without {missing}")
        try:
            k, tau, pseudo = int(settings["k"]), float(settings["tau"]), float(settings["pseudo"])
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(
                f"calibration.json: neighbours needs k, tau and pseudo ({error!r})"
            ) from None
        mean = np.asarray(arrays["neighbour_mean"], np.float32)
        axes = np.asarray(arrays["neighbour_axes"], np.float32)
        step = np.asarray(arrays["neighbour_step"], np.float32)
        codes, misses = arrays["neighbour_codes"], arrays["neighbour_misses"]
        dims = axes.shape[1] if axes.ndim == 2 else -1
        n = codes.shape[0] if codes.ndim == 2 else -1
        expected = {
            "neighbour_mean": (mean.shape, (dim,)),
            "neighbour_axes": (axes.shape, (dim, dims)),
            "neighbour_step": (step.shape, (dims,)),
            "neighbour_codes": (codes.shape, (n, dims)),
            "neighbour_misses": (misses.shape, (n, models)),
        }
        for name, (shape, want) in expected.items():
            if shape != want:
                raise BundleError(
                    f"quality.npz: {name} has shape {shape}, expected {want} "
                    f"({models} models, dim {dim})"
                )
        if codes.dtype != np.int8 or misses.dtype != np.int8:
            raise BundleError("quality.npz: neighbour_codes and neighbour_misses must be int8")
        if not (0 < k <= n and tau > 0 and pseudo >= 0):
            raise BundleError(
                f"calibration.json: neighbours k={k} (1..{n}), tau={tau} (> 0), "
                f"pseudo={pseudo} (>= 0)"
            )
        if not all(np.isfinite(a).all() for a in (mean, axes, step)):
            raise BundleError("quality.npz: the neighbour bank holds NaN or infinite values")
        return cls(mean, axes, step, codes, misses, k, tau, pseudo)

    def to_stored(self) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """``heads.npz`` arrays and ``calibration.json``'s ``neighbours``."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "neighbour_mean": self.mean,
            "neighbour_axes": self.axes,
            "neighbour_step": self.step,
            "neighbour_codes": self.codes,
            "neighbour_misses": self.misses,
        }
        return arrays, {"k": self.k, "tau": self.tau, "pseudo": self.pseudo}

    def with_model(self) -> NeighbourMisses:
        """The bank with one more model, graded on none of its prompts (``add-model``)."""
        column = np.full((len(self.misses), 1), NO_LABEL, np.int8)
        return NeighbourMisses(
            self.mean,
            self.axes,
            self.step,
            self.codes,
            np.hstack([self.misses, column]),
            self.k,
            self.tau,
            self.pseudo,
        )

    @property
    def size(self) -> int:
        """The number of bank prompts."""
        return int(self.codes.shape[0])

    @functools.cached_property
    def _bank(self) -> tuple[F32, FloatArray, FloatArray]:
        # Decoded once: unit rows in float32 for the scan, and in float64 the step
        # and each row's norm, to recompute the nearest rows' cosines exactly.
        step = self.step.astype(np.float64)
        norms = np.maximum(np.linalg.norm(self.codes * step, axis=1), 1e-12)
        scan = (self.codes * step / norms[:, None]).astype(np.float32)
        return scan, step, norms

    def shift(self, embeddings: F32, cols: npt.NDArray[np.intp], chunk: int = 32) -> FloatArray:
        """``[n, len(cols)]`` each model's mean miss near each prompt, shrunk by ``pseudo``.

        The scan over the bank runs in float32 (half the memory traffic of float64,
        which bounds it); its ``k + 32`` best rows are then rescored in float64, one
        row at a time, so which ``k`` rows count does not depend on the batch."""
        scan, step, norms = self._bank
        k = min(self.k, self.size)
        wide = min(k + 32, self.size)
        out = np.zeros((len(embeddings), len(cols)))
        for start in range(0, len(embeddings), chunk):
            x = embeddings[start : start + chunk].astype(np.float64) - self.mean
            q = x @ self.axes.astype(np.float64)
            q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            rough = q.astype(np.float32) @ scan.T
            candidates = np.argpartition(-rough, wide - 1, axis=1)[:, :wide]
            rows = self.codes[candidates] * step  # [q, wide, dims] float64
            exact = np.einsum("qd,qwd->qw", q, rows) / norms[candidates]
            best = np.argpartition(-exact, k - 1, axis=1)[:, :k]
            near = np.take_along_axis(candidates, best, axis=1)
            weight = np.exp((np.take_along_axis(exact, best, axis=1) - 1.0) / self.tau)
            coded = self.misses[near][:, :, cols]  # [q, k, c]
            graded = coded != NO_LABEL
            values = np.where(graded, coded.astype(np.float64) / 127.0, 0.0)
            total = np.einsum("qk,qkc->qc", weight, values)
            count = np.einsum("qk,qkc->qc", weight, graded.astype(np.float64))
            shrunk = count + self.pseudo  # 0 only where no neighbour was graded (pseudo 0)
            out[start : start + chunk] = np.divide(
                total, shrunk, out=np.zeros_like(total), where=shrunk > 0
            )
        return out
