"""Simulated studies analysed in worker processes: the calibration tests' Monte Carlo, split
over the machine's cores (each worker draws its own studies from its own seed)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from simulate import simulate_studies

from harness.analysis import Verdict, analyse, primary_tests
from harness.analysis.families import decide_primary

ALPHA = 0.05
MIN_EFFECT = 0.05


def null_chunk(n_studies: int, rng: int, n_seeds: int, resamples: int) -> np.ndarray:
    """Per study: any primary "real", any exploratory "real", and whether the 95 % t-intervals of
    Q2, Q3, Q4 cover 0 (the truth: no effect anywhere)."""
    rows = []
    for df in simulate_studies(n_studies, n_seeds, rng=rng):
        a = analyse(df, "accuracy", ALPHA, MIN_EFFECT, resamples)
        rows.append(
            [
                any(d.verdict is Verdict.REAL for d in a.primary),
                any(d.verdict is Verdict.REAL for d in a.exploratory),
                *(d.ci_low <= 0 <= d.ci_high for d in a.primary if d.has_single_effect),
            ]
        )
    return np.array(rows, dtype=float)


def forgetting_chunk(n_studies: int, rng: int, forgetting: float, forgetting_sd: float) -> np.ndarray:
    """Per 5-seed study with planted forgetting: "real" per claim, Q3's per-seed variance, and
    whether Q3's 95 % t-interval covers the planted forgetting."""
    rows = []
    for df in simulate_studies(n_studies, 5, rng=rng, forgetting=forgetting, forgetting_sd=forgetting_sd):
        decisions = decide_primary(primary_tests(df, "accuracy"), ALPHA, MIN_EFFECT)
        q3 = decisions[2]
        rows.append([*(d.verdict is Verdict.REAL for d in decisions), q3.sd**2, q3.ci_low <= forgetting <= q3.ci_high])
    return np.array(rows, dtype=float)


def in_parallel(function, n_studies: int, rng: int, *args) -> np.ndarray:
    """``function(count, rng, *args)`` over the cores, the studies split evenly; rows stacked."""
    workers = max(1, min(os.cpu_count() or 1, 4))
    counts = [len(part) for part in np.array_split(np.arange(n_studies), workers)]
    context = multiprocessing.get_context("spawn")  # no fork of a process that loaded TensorFlow
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = pool.map(function, counts, *zip(*[(rng * 100 + i, *args) for i in range(workers)], strict=True))
        return np.vstack(list(parts))
