"""Intervals: t-intervals over seeds for mean effects, Wilson intervals for one accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from harness.schema import Alternative


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its two-sided t-interval (NaN bounds with < 2 seeds or no spread)."""

    mean: float
    low: float
    high: float
    confidence: float = 0.95

    def inside(self, bound: float) -> bool:
        """Whether the whole interval lies strictly within (-bound, +bound)."""
        return bool(-bound < self.low and self.high < bound)


@lru_cache(maxsize=256)
def _t_quantile(confidence: float, df: int) -> float:
    return float(sps.t.ppf((1 + confidence) / 2, df))


def t_interval(x: np.ndarray, confidence: float = 0.95) -> Interval:
    """Two-sided t-interval of the mean of ``x``: mean +- t quantile x standard error (equal to scipy's
    ``ttest_1samp(x, 0).confidence_interval``, which is ten times slower)."""
    x = np.asarray(x, float)
    mean = float(np.mean(x)) if x.size else math.nan
    if x.size < 2 or np.ptp(x) == 0:
        return Interval(mean, math.nan, math.nan, confidence)
    return interval_from(mean, float(np.std(x, ddof=1)), x.size, confidence)


def interval_from(mean: float, sd: float, n: int, confidence: float = 0.95) -> Interval:
    """The t-interval from summary numbers (mean and sd of ``n`` per-seed values); NaN bounds when
    it is undefined (n < 2, sd not > 0, or a non-finite input)."""
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0 and n >= 2):
        return Interval(mean, math.nan, math.nan, confidence)
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, confidence)


def largest_pairwise_bound(levels: np.ndarray, confidence: float = 0.95) -> float:
    """The largest absolute bound of the t-intervals of every pairwise difference between the columns
    (levels) of a seeds x levels table; NaN when any pair has no interval (a constant or
    non-finite difference), so that such data never pass for equivalence.

    Below ``m``, every pair's interval lies inside (-m, m): with (1 - 2 alpha) intervals that is the
    intersection-union test (Berger 1982) of "no two levels differ by m or more" at level alpha,
    equivalence for a claim without a single effect (Q1, Q5)."""
    levels = np.asarray(levels, float)
    bounds = []
    for i in range(levels.shape[1]):
        for j in range(i + 1, levels.shape[1]):
            pair = t_interval(levels[:, i] - levels[:, j], confidence)
            bounds.append(max(abs(pair.low), abs(pair.high)))
    return float(np.max(bounds)) if bounds else math.nan  # NaN if any pair has none, whatever the order


def rules_out(values: np.ndarray, min_effect: float, confidence: float, alternative: Alternative) -> bool:
    """The equivalence test behind every "no effect >= min-effect": the ``confidence`` t-interval of
    the per-seed ``values`` lies inside (-min_effect, min_effect) for a two-sided claim (two one-sided
    tests, each at (1 - confidence) / 2), below min_effect for a one-sided claim (``greater``), and for a
    seeds x levels table every pairwise difference's does (the intersection-union test). The fixed
    design calls it at 1 - 2 alpha, a sequential look at its repeated bounds' confidence."""
    values = np.asarray(values, float)
    if values.ndim == 2:
        spread = largest_pairwise_bound(values, confidence)
        return bool(np.isfinite(spread) and spread < min_effect)
    interval = t_interval(values, confidence)
    return interval.inside(min_effect) if alternative == Alternative.TWO_SIDED else bool(interval.high < min_effect)


def wilson_interval(accuracy: float, n_test: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of one accuracy measured on ``n_test`` images (statsmodels)."""
    count = round(float(accuracy) * int(n_test))
    low, high = proportion_confint(count, int(n_test), alpha=1 - confidence, method="wilson")
    return float(low), float(high)
