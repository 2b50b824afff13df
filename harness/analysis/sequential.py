"""Group-sequential testing of the primary claims: boundaries, per-look decisions, adjusted p and CIs.

A study with ``--seeds auto`` looks at the primary family after every ``look_every`` seeds, up to
``max_seeds``. At look i the information fraction is t_i = n_i / n_max (seeds so far over the
planned maximum); under the null the standardised statistics Z_1..Z_K of a mean difference are
multivariate normal with corr(Z_i, Z_j) = sqrt(t_i / t_j) for t_i <= t_j (independent increments).

Boundaries (Jennison & Turnbull 2000, ch. 2): Pocock's constant c at every look, or
O'Brien-Fleming's c / sqrt(t_i); the constant is solved so that the probability of crossing at any
look under the null equals alpha, with ``scipy.stats.multivariate_normal.cdf`` (Genz's
quasi-Monte-Carlo integration, fixed seed, tolerance 1e-5) and ``scipy.optimize.brentq``.

Tests with their own null distributions (paired t-tests, exact permutation Friedman tests) are
compared through their p-values: each look's z boundary becomes a nominal p boundary
(2 * (1 - Phi(b)) two-sided, 1 - Phi(b) one-sided) and a claim crosses when its raw p is at or
below it. For t-tests this is the usual small-sample transfer of the normal boundaries; for the
Friedman tests it is an approximation whose error rates the simulation tests check.

Several claims (Maurer & Bretz 2013, the Holm-type graph): each claim not yet rejected is tested
at alpha / (number of claims not yet rejected); when claims are rejected at a look, their alpha is
shared equally among the remaining ones and these are re-tested, at the same look, against the
boundaries recomputed for their larger level. A claim closed for futility is not rejected: it keeps
its share, unused, which the non-binding futility rule requires (the boundaries never assume that
the study stops for futility, so stopping or continuing leaves the error rate at or below alpha).
A claim shown also shows the claim it implies by closed testing (Q2 shows Q1: ``questions.IMPLIES``),
at the same look, if that one is still open.

Futility (non-binding) is an equivalence test adjusted for the looks: a claim closes as "no effect
>= min-effect" when its repeated confidence bounds at the design's ``alpha`` rule that effect out:
the upper bound below ``min_effect`` for a one-sided claim, both bounds inside (-min_effect,
min_effect) for a two-sided one (two one-sided tests), and for Q1/Q5 every pairwise difference of
levels inside it (Berger's intersection-union test). Each bound is a one-sided t bound at the
nominal level of the one-sided level-``alpha`` boundary of this look, so the bounds hold at every
look simultaneously and "no effect" is wrong with probability about ``alpha`` at most per claim
(the t quantiles carry the normal boundaries over, as for efficacy), as the fixed design's
equivalence test (Jennison & Turnbull 2000, ch. 9: repeated confidence intervals for stopping to
accept the null). With a single look the bounds are the fixed design's 90 % (alpha 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy import optimize, stats

from harness.analysis.intervals import interval_from, rules_out
from harness.analysis.questions import IMPLIES
from harness.schema import Spending

__all__ = [
    "ClaimLook",
    "Design",
    "Outcome",
    "Spending",
    "boundaries",
    "crossing_probability",
    "decide_look",
    "equivalence_bounds",
    "equivalence_confidence",
    "futile",
    "nominal_p",
    "repeated_interval",
    "repeated_p",
]

TOLERANCE = 1e-5  # absolute and relative; boundaries come out within about 1e-4 on the z scale
INTEGRATION_SEED = 20130101


class Outcome(StrEnum):
    """Where a claim stands after a look."""

    OPEN = "open"
    EFFECT = "effect"
    NO_EFFECT = "no effect >= min-effect"


class Evidence(Protocol):
    """What a look needs of one claim's test (``harness.analysis.primary_tests`` yields these)."""

    claim: str
    alternative: str
    n: int
    p: float
    effect: float
    ci_low: float
    ci_high: float
    sd: float  # of the per-seed values (NaN for Q1/Q5)

    @property
    def values(self) -> np.ndarray:
        """The per-seed values tested: a vector (Q2-Q4), or seeds x levels (Q1, Q5)."""


@dataclass(frozen=True)
class Design:
    """A sequential design: looks after every ``look_every`` seeds up to ``max_seeds`` (the last look
    at ``max_seeds`` even when it is not a multiple), family-wise ``alpha``, futility ``min_effect``."""

    max_seeds: int = 20
    look_every: int = 5
    spending: Spending = Spending.POCOCK
    alpha: float = 0.05
    min_effect: float = 0.05

    def __post_init__(self) -> None:
        if not 1 <= self.look_every <= self.max_seeds:
            raise ValueError(f"look_every must be in [1, max_seeds={self.max_seeds}], got {self.look_every}")
        if not 0 < self.alpha < 1 or not self.min_effect > 0:
            raise ValueError(f"alpha must be in (0, 1) and min_effect > 0, got {self.alpha}, {self.min_effect}")

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds at each planned look."""
        seeds = list(range(self.look_every, self.max_seeds + 1, self.look_every))
        return tuple(seeds if seeds[-1] == self.max_seeds else [*seeds, self.max_seeds])

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.max_seeds for n in self.looks)

    def to_dict(self) -> dict:
        return {**asdict(self), "spending": str(self.spending)}


def _shape(fractions: Sequence[float], spending: Spending) -> np.ndarray:
    t = np.asarray(fractions, float)
    return np.ones_like(t) if spending == Spending.POCOCK else 1 / np.sqrt(t)


def _correlation(fractions: Sequence[float]) -> np.ndarray:
    t = np.asarray(fractions, float)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def crossing_probability(
    constant: float, fractions: Sequence[float], spending: Spending, alternative: str = "two-sided"
) -> float:
    """P(the statistic crosses the boundary constant * shape at some look) under the null."""
    upper = constant * _shape(fractions, spending)
    lower = -upper if alternative == "two-sided" else np.full_like(upper, -np.inf)
    if len(upper) == 1:
        stay = stats.norm.cdf(upper[0]) - stats.norm.cdf(lower[0])
    else:
        stay = stats.multivariate_normal.cdf(
            upper,
            mean=np.zeros(len(upper)),
            cov=_correlation(fractions),
            lower_limit=lower,
            abseps=TOLERANCE,
            releps=TOLERANCE,
            rng=np.random.default_rng(INTEGRATION_SEED),
        )
    return float(min(1.0, max(0.0, 1 - stay)))


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: Spending, alternative: str) -> np.ndarray:
    def excess(constant: float) -> float:
        return crossing_probability(constant, fractions, spending, alternative) - alpha

    constant = optimize.brentq(excess, 0.0, 40.0, xtol=1e-6)
    return constant * _shape(fractions, spending)


def boundaries(
    fractions: Sequence[float], alpha: float, spending: Spending, alternative: str = "two-sided"
) -> np.ndarray:
    """The z boundary at each look (for ``two-sided``: on |Z|) with null crossing probability alpha."""
    return _boundaries(tuple(float(t) for t in fractions), float(alpha), Spending(spending), alternative).copy()


def nominal_p(boundary: np.ndarray | float, alternative: str = "two-sided") -> np.ndarray | float:
    """The p-value that a z boundary corresponds to: reject at a look when p <= this."""
    tail = stats.norm.sf(boundary)
    return 2 * tail if alternative == "two-sided" else tail


def z_from_p(p: float, alternative: str = "two-sided") -> float:
    """The standard normal statistic with this p-value (the inverse of ``nominal_p``)."""
    return float(stats.norm.isf(p / 2 if alternative == "two-sided" else p))


def repeated_p(p: float, look: int, fractions: Sequence[float], spending: Spending, alternative: str) -> float:
    """Jennison & Turnbull's repeated p-value (section 9.3): the smallest alpha at which the design's
    boundaries would have rejected at ``look`` (0-based) given this look's raw p. Valid at any look,
    whether or not the study stopped there; compare it with the claim's level."""
    if not np.isfinite(p):
        return math.nan
    constant = z_from_p(p, alternative) / _shape(fractions, spending)[look]
    return crossing_probability(constant, fractions, spending, alternative)


def repeated_interval(
    effect: float,
    sd: float,
    n: int,
    look: int,
    fractions: Sequence[float],
    spending: Spending,
    alpha: float,
    alternative: str = "two-sided",
) -> tuple[float, float]:
    """Jennison & Turnbull's repeated confidence interval (ch. 9) of a mean per-seed difference:
    effect +- q * sd / sqrt(n), q the t quantile (n - 1 df) at the nominal level of the design's
    level-``alpha`` boundary at ``look``. One-sided claims (``greater``) get a lower bound only (the
    upper is +inf), so the interval excludes 0 exactly when the claim crosses its boundary. The
    intervals of all looks cover the true effect simultaneously with probability >= 1 - alpha."""
    if not (np.isfinite(effect) and np.isfinite(sd) and n >= 2):
        return math.nan, math.nan
    level = float(nominal_p(boundaries(fractions, alpha, spending, alternative)[look], alternative))
    if alternative == "two-sided":
        half = stats.t.isf(level / 2, n - 1) * sd / math.sqrt(n)
        return effect - half, effect + half
    return effect - stats.t.isf(level, n - 1) * sd / math.sqrt(n), math.inf


@dataclass(frozen=True)
class ClaimLook:
    """One claim at one look: its test, the boundary it faced at its level, and the decision."""

    claim: str
    look: int  # 0-based index into Design.looks
    seeds: int
    alternative: str
    alpha: float  # the claim's level at the decision (after reallocation)
    p: float
    effect: float
    ci_low: float
    ci_high: float
    sd: float
    boundary_z: float
    boundary_p: float
    decision: Outcome

    def to_dict(self) -> dict:
        return {**asdict(self), "decision": str(self.decision)}


def equivalence_confidence(design: Design, look: int) -> float:
    """Confidence of the two-sided t-interval whose bounds are the one-sided repeated bounds at the
    design's alpha at ``look``: 1 - 2 x the nominal p of the one-sided level-alpha boundary."""
    boundary = boundaries(design.fractions, design.alpha, design.spending, "greater")[look]
    return 1 - 2 * float(nominal_p(boundary, "greater"))


def equivalence_bounds(
    effect: float, sd: float, n: int, design: Design, look: int, alternative: str
) -> tuple[float, float]:
    """The repeated bounds that futility compared with min-effect, from a look's summary numbers
    (for the report): the t-interval at :func:`equivalence_confidence`; a one-sided claim
    (``greater``) gets the upper bound only (the lower is -inf)."""
    interval = interval_from(effect, sd, n, equivalence_confidence(design, look))
    return (interval.low if alternative == "two-sided" else -math.inf), interval.high


def futile(evidence: Evidence, design: Design, look: int) -> bool:
    """The repeated bounds at ``look`` rule out an effect of ``min_effect`` in the tested
    direction(s); for Q1/Q5 no two levels differ that much (see the module docstring)."""
    return rules_out(evidence.values, design.min_effect, equivalence_confidence(design, look), evidence.alternative)


def decide_look(
    design: Design, look: int, evidence: Sequence[Evidence], previous: Sequence[ClaimLook] = ()
) -> tuple[ClaimLook, ...]:
    """Test every claim still open at ``look`` (0-based); ``previous``: all earlier looks' records.

    Claims decided at an earlier look are not tested again. ``evidence`` holds every claim of the
    family (its size m fixes the initial level alpha / m).
    """
    decided = {r.claim: r.decision for r in previous if r.decision != Outcome.OPEN}
    rejected = sum(d == Outcome.EFFECT for d in decided.values())
    open_claims = [e for e in evidence if str(e.claim) not in decided]
    m = len(evidence)
    level_of: dict[str, float] = {}
    outcome: dict[str, Outcome] = {}
    while rejected < m:  # Holm-type reallocation: repeat at this look until no new rejection (or none left)
        level = design.alpha / (m - rejected)
        new = 0
        for e in open_claims:
            claim = str(e.claim)
            if outcome.get(claim) == Outcome.EFFECT:
                continue
            level_of[claim] = level
            boundary = boundaries(design.fractions, level, design.spending, e.alternative)[look]
            if np.isfinite(e.p) and e.p <= nominal_p(boundary, e.alternative):
                outcome[claim] = Outcome.EFFECT
                new += 1
        for shown, implied in IMPLIES.items():  # closed testing: Q2 shown shows Q1
            if outcome.get(shown) == Outcome.EFFECT and implied in level_of and outcome.get(implied) is None:
                outcome[implied] = Outcome.EFFECT
                new += 1
        if not new:
            break
        rejected += new
    records = []
    for e in open_claims:
        claim = str(e.claim)
        decision = outcome.get(claim) or (Outcome.NO_EFFECT if futile(e, design, look) else Outcome.OPEN)
        boundary = float(boundaries(design.fractions, level_of[claim], design.spending, e.alternative)[look])
        records.append(
            ClaimLook(
                claim=claim,
                look=look,
                seeds=design.looks[look],
                alternative=e.alternative,
                alpha=level_of[claim],
                p=float(e.p),
                effect=float(e.effect),
                ci_low=float(e.ci_low),
                ci_high=float(e.ci_high),
                sd=float(e.sd),
                boundary_z=boundary,
                boundary_p=float(nominal_p(boundary, e.alternative)),
                decision=decision,
            )
        )
    return tuple(records)
