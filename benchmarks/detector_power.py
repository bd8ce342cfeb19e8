"""How soon can any detector see a drop in shadow agreement? A simulation.

Replay found the shipped Page-Hinkley detector silent on a 20-point drop of
the most-routed shadowed model (yi-34b-chat on routerbench_subset, drift at
request 20,000, 1% shadow rate: ~92 shadow samples of it before the drift).
This asks whether a better detector would do: it simulates Bernoulli
disagreement streams with ``--before`` samples at the baseline rate and the
rest at the baseline + ``drop x (2 acc_golden - 1)`` (the shift in
disagreement a drop of the routed model's accuracy causes when the golden
model is right with probability ``acc_golden``), and runs, at the same
false-alarm target per stream and horizon as the monitor (0.2% over 1,024
samples):

- ``page-hinkley``: the monitor's detector (the numpy twin of river's
  recursion), with the threshold calibrated at the *true* baseline rate, the
  most favourable case (the monitor starts from a Wilson upper bound);
- ``glr-scan``: a generalised likelihood-ratio change-point test for a
  Bernoulli rate with unknown before/after rates, scanning change points
  sqrt(2) apart, threshold calibrated the same way (simulated stationary
  streams). It does not let post-change samples drag its reference, as the
  Page-Hinkley running mean does.

It prints the share of streams alarmed within 300 samples of the change and
the median delay. Figures: docs/drift.md ("How soon can it be seen").

Run: ``python -m benchmarks.detector_power`` (about 2 minutes on 2 cores).
Defaults: baseline disagreement 0.17 and golden accuracy 0.88, measured on
routerbench_subset (gpt-4-1106-preview vs yi-34b-chat, all prompts).
"""

from __future__ import annotations

import argparse

import numpy as np

from learned_router.drift.detectors import DetectorSettings, calibrate_threshold

HORIZON = 1024


def _page_hinkley(x: np.ndarray, threshold: float, settings: DetectorSettings) -> np.ndarray:
    """First alarm index (1-based) per column of ``x`` [samples, streams], or 0."""
    samples, streams = x.shape
    mean = np.zeros(streams)
    total = np.zeros(streams)
    low = np.full(streams, np.inf)
    first = np.zeros(streams, dtype=np.int64)
    for t in range(1, samples + 1):
        row = x[t - 1]
        mean += (row - mean) / t
        total = settings.alpha * total + (row - mean) - settings.delta
        np.minimum(low, total, out=low)
        if t >= settings.min_instances:
            hit = (total - low > threshold) & (first == 0)
            first[hit] = t
    return first


def _windows(horizon: int) -> np.ndarray:
    sizes, m = set(), 10.0
    while m < horizon:
        sizes.add(round(m))
        m *= 2**0.5
    return np.array(sorted(sizes))


def _loglik(count: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Bernoulli log-likelihood at the MLE, with 0 log 0 = 0."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros(np.broadcast(count, n).shape)
    for c in (count, n - count):
        with np.errstate(divide="ignore", invalid="ignore"):
            term = c * np.log(np.where(c > 0, c / np.maximum(n, 1), 1.0))
        out += np.where(c > 0, term, 0.0)
    return out


def _glr(x: np.ndarray, min_instances: int) -> np.ndarray:
    """Per time and stream, the largest one-sided (rate up) GLR statistic over change points."""
    samples, streams = x.shape
    sums = np.vstack([np.zeros((1, streams)), np.cumsum(x, axis=0)])
    stat = np.zeros((samples, streams))
    windows = _windows(HORIZON)
    for t in range(min_instances, samples + 1):
        best = np.zeros(streams)
        for m in windows:
            k = t - m
            if k < 10:
                break
            before, after = sums[k], sums[t] - sums[k]
            lr = _loglik(before, k) + _loglik(after, m) - _loglik(sums[t], t)
            best = np.maximum(best, np.where(after / m > before / k, lr, 0.0))
        stat[t - 1] = best
    return stat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=float, default=0.17, help="disagreement before")
    parser.add_argument("--golden-accuracy", type=float, default=0.88)
    parser.add_argument("--drops", nargs="*", type=int, default=[10, 20, 40])
    parser.add_argument("--before", nargs="*", type=int, default=[92, 300, 600])
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = DetectorSettings()
    rng = np.random.default_rng(args.seed)
    fa = settings.false_alarm_rate
    ph_threshold = calibrate_threshold(args.baseline, HORIZON, settings=settings)
    null = (rng.random((HORIZON, max(settings.simulations, int(20 / fa)))) < args.baseline) * 1.0
    glr_threshold = float(
        np.quantile(_glr(null, settings.min_instances).max(axis=0), 1 - fa, method="higher")
    )
    print(
        f"baseline disagreement {args.baseline}, golden accuracy {args.golden_accuracy}, "
        f"false-alarm target {fa} per stream over {HORIZON} samples; thresholds: "
        f"page-hinkley {ph_threshold:.2f}, glr-scan {glr_threshold:.2f}"
    )
    print(
        "| drop (points) | shift in disagreement | samples before | detector "
        "| alarmed <= 300 after | median delay | alarmed before the change |"
    )
    print("|---|---|---|---|---|---|---|")
    for drop in args.drops:
        shift = drop / 100 * (2 * args.golden_accuracy - 1)
        for before in args.before:
            x = np.vstack(
                [
                    rng.random((before, args.streams)) < args.baseline,
                    rng.random((HORIZON - before, args.streams)) < args.baseline + shift,
                ]
            ).astype(np.float64)
            ph = _page_hinkley(x, ph_threshold, settings)
            hits = _glr(x, settings.min_instances) > glr_threshold
            glr = np.where(hits.any(axis=0), hits.argmax(axis=0) + 1, 0)
            for name, first in (("page-hinkley", ph), ("glr-scan", glr)):
                delay = np.where(first > 0, first - before, np.iinfo(np.int64).max)
                within = np.mean((delay >= 0) & (delay <= 300))
                early = np.mean((first > 0) & (first <= before))
                median = np.median(delay)
                shown = "none in horizon" if median > HORIZON else f"{median:.0f}"
                print(
                    f"| {drop} | {shift:.3f} | {before} | {name} | {within:.2f} "
                    f"| {shown} | {early:.3f} |"
                )


if __name__ == "__main__":
    main()
