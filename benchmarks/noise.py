"""Per-seed noise of the five pooled claim quantities of a real run, to set beside the simulator's.

    python -m benchmarks.noise reports/<run>/results.csv [--metric accuracy]

Prints, per claim, the sd over seeds of the per-seed value (Q2-Q4) or of every pairwise
difference of levels (Q1: positions, Q5: actors), as ``harness.analysis.primary_tests`` computes
them, and Q5's actor pairs' means beside their sds (a metric's seeds for Q5 scale with sd^2 over
the squared effect on that metric's own scale).
``tests/test_sequential_simulation.py::test_the_simulator_is_as_noisy_as_lfw`` holds the simulator
to the ranges this measured on LFW (README, "The simulator against LFW").
"""

from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import primary_tests


def per_seed_sds(results: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    """Claim -> the per-seed sd (one for Q2-Q4, one per pair of levels for Q1 and Q5)."""
    out = {}
    for e in primary_tests(results, metric):
        v = e.values
        if v.ndim == 1:
            out[str(e.claim)] = [float(np.std(v, ddof=1))]
        else:
            pairs = combinations(range(v.shape[1]), 2)
            out[str(e.claim)] = [float(np.std(v[:, i] - v[:, j], ddof=1)) for i, j in pairs]
    return out


def actor_pairs(results: pd.DataFrame, metric: str) -> list[tuple[float, float]]:
    """Q5's pairwise actor differences: (mean over seeds, per-seed sd) of each pair, for comparing
    metrics by the seeds a test needs (n scales with (sd / effect)^2, each on its metric's scale)."""
    v = next(e.values for e in primary_tests(results, metric) if str(e.claim) == "Q5")
    return [
        (float(np.mean(v[:, i] - v[:, j])), float(np.std(v[:, i] - v[:, j], ddof=1)))
        for i, j in combinations(range(v.shape[1]), 2)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--metric", default="accuracy")
    args = parser.parse_args()
    results = pd.read_csv(args.results)
    print(f"{args.results}: {results['seed'].nunique()} seeds, {args.metric}")
    for claim, sds in per_seed_sds(results, args.metric).items():
        print(f"{claim}: per-seed sd {', '.join(f'{x:.3f}' for x in sds)}")
    pairs = actor_pairs(results, args.metric)
    means, sds = ", ".join(f"{m:+.4f}" for m, _ in pairs), ", ".join(f"{s:.4f}" for _, s in pairs)
    ratios = ", ".join(f"{abs(m) / s:.2f}" for m, s in pairs)
    print(f"Q5 actor pairs: mean {means}; sd {sds}; |mean| / sd {ratios}")


if __name__ == "__main__":
    main()
