"""Seeds needed: the paired-t power calculation of statsmodels ``TTestPower``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

from statsmodels.stats.power import TTestPower

from harness.schema import Alternative

MAX_SEEDS = 10_000
POWER = 0.8
STATSMODELS_ALTERNATIVE = {Alternative.TWO_SIDED: "two-sided", Alternative.GREATER: "larger"}
"""Each alternative in statsmodels' words (``TTestPower``'s ``alternative``)."""


def friedman_are(k: int) -> float:
    """Asymptotic relative efficiency of Friedman's test to the repeated-measures F: 3/pi k/(k+1)."""
    return 3.0 / math.pi * k / (k + 1)


def seeds_for_power(
    effect: float, sd: float, alpha: float, alternative: Alternative = Alternative.TWO_SIDED, efficiency: float = 1.0
) -> float:
    """Seeds for 80 % power of a paired t-test at ``alpha`` to detect ``effect`` with per-seed sd
    ``sd``, divided by ``efficiency`` (the ARE, for rank tests). NaN when undefined, inf beyond
    ``MAX_SEEDS``; never below 2."""
    if not (math.isfinite(effect) and math.isfinite(sd)) or sd <= 0 or effect <= 0:
        return math.nan
    solver = TTestPower()
    alt = STATSMODELS_ALTERNATIVE[Alternative(alternative)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver.power(effect_size=effect / sd, nobs=2, alpha=alpha, alternative=alt) >= POWER:
            return 2.0
        try:
            n = float(solver.solve_power(effect_size=effect / sd, alpha=alpha, power=POWER, alternative=alt))
        except (ValueError, RuntimeError):
            return math.inf
    if not math.isfinite(n):
        return math.inf
    n = math.ceil(n / efficiency)
    return float(n) if n <= MAX_SEEDS else math.inf


def seeds_to_reach(min_p: Callable[[int], float], alpha: float, start: int) -> float:
    """The fewest seeds from ``start`` at which a test whose smallest attainable p with n seeds is
    ``min_p(n)`` can go below ``alpha``; inf when it cannot within ``MAX_SEEDS`` (e.g. a Monte
    Carlo p, never below 1 / (resamples + 1), against alpha / 13 at alpha 0.001)."""
    return float(next((n for n in range(start, MAX_SEEDS + 1) if min_p(n) < alpha), math.inf))
