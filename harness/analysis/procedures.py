"""The tests, as objects with ``run`` (statistic and p) and ``min_p`` (the smallest attainable p).

All p-values come from scipy: ``ttest_1samp`` for the paired t-test on per-seed differences
(identical to ``ttest_rel`` on the two paired columns) and ``permutation_test`` for the exact
tests. Permutation tests enumerate every permutation when there are at most ``max_exact`` of
them, and otherwise draw ``resamples`` Monte Carlo permutations from a fixed generator, so a
report is reproducible. Both compare values on the grid of ``harness.analysis.exact``: an exact
tie is a tie, whatever the order of the float additions that produced the values.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from harness.analysis.exact import grid_units, on_grid
from harness.schema import Alternative

MAX_EXACT = 100_000
"""Permutation tests are exact up to this many permutations."""
RESAMPLES = 9_999
"""Monte Carlo permutations beyond that."""
RNG_SEED = 0


@dataclass(frozen=True)
class PValue:
    """What one test gives: its p, the statistic, and how the p was obtained."""

    statistic: float
    p: float
    permutations: int = 0  # 0: not a permutation test
    exact: bool = True

    @property
    def method(self) -> str:
        """How p was computed, for the report."""
        if not self.permutations:
            return "t distribution"
        return f"exact, {self.permutations} permutations" if self.exact else f"Monte Carlo, {self.permutations} draws"


def _budget(base: int, n: int, resamples: int, max_exact: int) -> tuple[int, bool]:
    """Permutations of a test with ``base ** n`` of them: all when at most ``max_exact``, else
    ``resamples`` draws. Integer arithmetic, and ``base ** n`` only once it is known to be small,
    so any number of seeds works (a float ``6.0 ** n`` overflows beyond about 400 seeds)."""
    exact = n * math.log(base) <= math.log(max_exact) + 1 and base**n <= max_exact
    return (base**n, True) if exact else (resamples, False)


@dataclass(frozen=True)
class PairedT:
    """Paired t-test of per-seed differences against 0 (scipy ``ttest_1samp``)."""

    alternative: Alternative = Alternative.TWO_SIDED
    name: str = "paired t"

    def run(self, d: np.ndarray) -> PValue:
        res = sps.ttest_1samp(d, 0.0, alternative=self.alternative)
        return PValue(float(res.statistic), float(res.pvalue))

    def p_rows(self, rows: np.ndarray) -> np.ndarray:
        """p of every row of a 2-D array at once (leave-one-seed-out)."""
        return np.asarray(sps.ttest_1samp(rows, 0.0, axis=1, alternative=self.alternative).pvalue, float)

    def min_p(self, n: int, k: int = 2) -> float:
        """A t-test can reach any p > 0."""
        return 0.0


def _sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(x, axis=axis)


@dataclass(frozen=True)
class SignFlip:
    """Exact sign-flip permutation test of the mean difference (Pitman): the t-test without the
    normality assumption; with n seeds its smallest one-sided p is 1/2^n (two-sided 2/2^n). The
    statistic is the sum in integer units of the grid (as the mean, for a fixed n), so every null
    sum equal to the observed one in exact arithmetic is equal in the comparison too."""

    alternative: Alternative = Alternative.TWO_SIDED
    resamples: int = RESAMPLES
    max_exact: int = MAX_EXACT
    name: str = "sign-flip"

    def run(self, d: np.ndarray) -> PValue:
        n_resamples, exact = _budget(2, len(d), self.resamples, self.max_exact)
        res = sps.permutation_test(
            (grid_units(d),),
            _sum,
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_resamples if not exact else self.max_exact,
            alternative=self.alternative,
            rng=np.random.default_rng(RNG_SEED),
        )
        return PValue(float(np.mean(d)), float(res.pvalue), n_resamples, exact)

    def min_p(self, n: int, k: int = 2) -> float:
        n_resamples, exact = _budget(2, n, self.resamples, self.max_exact)
        tail = 1.0 / n_resamples if exact else 1.0 / (n_resamples + 1)
        return min(1.0, tail * (2 if self.alternative == Alternative.TWO_SIDED else 1))


def _rank_sum_statistic(*levels: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum over levels of the squared rank sums: Friedman's chi-square up to constants fixed by
    the within-seed permutations, so the two order every permutation alike."""
    sums = np.stack([np.sum(level, axis=axis) for level in levels])
    return np.sum(sums**2, axis=0)


@lru_cache(maxsize=4096)
def _friedman_null(patterns: tuple[tuple[float, ...], ...], resamples: int, max_exact: int) -> tuple[np.ndarray, bool]:
    """scipy's permutation distribution of the statistic for seeds with these within-seed rank
    patterns (each seed's ranks sorted; seeds sorted). Permuting within seeds, the distribution
    depends on nothing else, so studies with the same patterns share it."""
    table = np.array(patterns)
    n, k = table.shape
    n_resamples, exact = _budget(math.factorial(k), n, resamples, max_exact)
    res = sps.permutation_test(
        tuple(table.T),
        _rank_sum_statistic,
        permutation_type="samples",
        vectorized=True,
        n_resamples=max_exact if exact else n_resamples,
        alternative=Alternative.GREATER,  # a large rank-sum statistic is evidence of a level effect
        rng=np.random.default_rng(RNG_SEED),
    )
    return res.null_distribution, exact


@dataclass(frozen=True)
class PermutationFriedman:
    """Friedman test over levels blocked by seed, with its p from the permutation distribution
    (levels permuted within each seed) instead of the chi-square approximation. With n seeds
    and k levels the smallest p is k!/(k!)^n (1/1296 for 5 seeds and 3 levels)."""

    resamples: int = RESAMPLES
    max_exact: int = MAX_EXACT
    name: str = "permutation Friedman"

    def run(self, table: np.ndarray) -> PValue:
        table = on_grid(np.asarray(table, float))
        ranks = sps.rankdata(table, axis=1)
        patterns = tuple(sorted(tuple(float(r) for r in sorted(row)) for row in ranks))
        null, exact = _friedman_null(patterns, self.resamples, self.max_exact)
        observed = _rank_sum_statistic(*ranks.T)  # sums of squared half-integers: exact in floating point
        hits = int(np.count_nonzero(null >= observed))
        p = hits / null.size if exact else (hits + 1) / (null.size + 1)  # scipy's exact / Monte Carlo p
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            chi2 = float(sps.friedmanchisquare(*table.T).statistic) if table.shape[1] >= 3 else math.nan
        return PValue(chi2, p, null.size, exact)

    def min_p(self, n: int, k: int) -> float:
        n_resamples, exact = _budget(math.factorial(k), n, self.resamples, self.max_exact)
        return math.factorial(k) / n_resamples if exact else 1.0 / (n_resamples + 1)
