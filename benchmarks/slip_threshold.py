"""How often does the golden-model "slip" check fire by chance, and how often on a real drop?

``DriftMonitor`` marks an agreement alarm ``reference_suspect`` (no re-score)
when the golden model's recorded-outcome residuals have risen by more than
``SLIP_Z`` standard errors since their most likely change point
(``monitor._golden_slipping``). A false "slip" delays a true re-score; a missed
one lets a drifting golden model get another model re-scored. This simulates
both with the monitor's own change-point code:

- stationary residual streams (predicted P ~ U(0.5, 0.95), outcomes
  Bernoulli(P)) of ``n`` samples: the share where the check fires;
- streams whose success rate drops by ``drop`` points after ``before``
  samples, checked ``after`` samples later: the share where it fires.

Run: ``python -m benchmarks.slip_threshold`` (a few seconds).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from learned_router.drift.monitor import SLIP_MIN_SAMPLES, change_point


def fires(errors: np.ndarray, z: float) -> bool:
    """The monitor's slip test on one residual stream (``predicted - observed``)."""
    k = change_point(errors)
    before, after = errors[:k], errors[k:]
    if min(len(before), len(after)) < SLIP_MIN_SAMPLES:
        return False
    se = math.sqrt(before.var(ddof=1) / len(before) + after.var(ddof=1) / len(after))
    return bool(after.mean() - before.mean() > z * max(se, 1e-9))


def stream(rng: np.random.Generator, before: int, after: int, drop: float) -> np.ndarray:
    p = rng.uniform(0.5, 0.95, before + after)
    truth = p.copy()
    truth[before:] = np.clip(truth[before:] - drop, 0.0, 1.0)
    return p - (rng.random(before + after) < truth).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z", nargs="*", type=float, default=[3.0, 3.5, 4.0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| stream | " + " | ".join(f"z = {z:g}" for z in args.z) + " |")
    print("|---|" + "---|" * len(args.z))
    cases = [(f"stationary, {n} samples", n, 0, 0.0) for n in (100, 400, 1500)]
    cases += [
        (f"-{round(100 * d)} points after 106, checked {a} later", 106, a, d)
        for d in (0.2, 0.4)
        for a in (50, 100, 200)
    ]
    for label, before, after, drop in cases:
        streams = [stream(rng, before, after, drop) for _ in range(args.streams)]
        shares = [np.mean([fires(s, z) for s in streams]) for z in args.z]
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in shares) + " |")


if __name__ == "__main__":
    main()
