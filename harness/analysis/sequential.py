"""Group-sequential testing of the primary claims: boundaries, per-look decisions, adjusted p and CIs.

A study with ``--seeds auto`` looks at the primary family after every ``look_every`` seeds, up to
``max_seeds``. At look i the information fraction is t_i = n_i / n_max (seeds so far over the
planned maximum); under the null the standardised statistics Z_1..Z_K of a mean difference are
multivariate normal with corr(Z_i, Z_j) = sqrt(t_i / t_j) for t_i <= t_j (independent increments).

Boundaries (Jennison & Turnbull 2000, ch. 2): Pocock's constant c at every look, or
O'Brien-Fleming's c / sqrt(t_i); the constant is solved (``scipy.optimize.brentq``) so that the
probability of crossing at any look under the null equals alpha. That probability is computed by
recursive numerical integration (Jennison & Turnbull 2000, ch. 19; Armitage, McPherson & Rowe
1969): the density of the score S_i = Z_i sqrt(t_i) among the paths still inside the boundaries
is carried from look to look on a Simpson grid, S_i - S_(i-1) being N(0, t_i - t_(i-1)), so one
evaluation costs milliseconds at 20 looks where the multivariate normal integral took seconds.

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
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy import optimize, special, stats

from harness.analysis.intervals import interval_from, rules_out
from harness.analysis.questions import IMPLIES
from harness.config import Design
from harness.looks import ClaimLook, LookDecision
from harness.schema import Alternative, Spending

__all__ = [
    "LookEvidence",
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


class LookEvidence(Protocol):
    """What a look needs of one claim's test (``harness.analysis.primary_tests`` yields these)."""

    claim: str
    alternative: Alternative
    n: int
    p: float
    effect: float
    ci_low: float
    ci_high: float
    sd: float  # of the per-seed values (NaN for Q1/Q5)

    @property
    def values(self) -> np.ndarray:
        """The per-seed values tested: a vector (Q2-Q4), or seeds x levels (Q1, Q5)."""


def _shape(fractions: Sequence[float], spending: Spending) -> np.ndarray:
    t = np.asarray(fractions, float)
    return np.ones_like(t) if spending == Spending.POCOCK else 1 / np.sqrt(t)


GRID_PER_SD = 8  # Simpson points per sd of the adjacent increments: error about 1e-7 in the crossing probability
SQRT_2PI = math.sqrt(2 * math.pi)
LOWER_Z = -6.0  # a one-sided claim's continuation region is truncated here: Phi(-6) = 1e-9 per look


def _simpson(low: float, high: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points and composite Simpson weights on [low, high], at most ``spacing`` apart."""
    n = 2 * max(1, math.ceil((high - low) / (2 * spacing))) + 1
    x = np.linspace(low, high, n)
    w = np.full(n, 2.0)
    w[1::2] = 4.0
    w[[0, -1]] = 1.0
    return x, w * (x[1] - x[0]) / 3


def _crossings(upper: np.ndarray, lower: np.ndarray, fractions: np.ndarray) -> float:
    """P(Z_i > upper_i or Z_i < lower_i at some look) under the null, by recursive integration of the
    score's density over the continuation regions (see the module docstring)."""
    t = fractions
    sd = np.sqrt(np.diff(t, prepend=0.0))
    root = np.sqrt(t)
    cross = float(special.ndtr(-upper[0]) + special.ndtr(lower[0]))
    x, w = _simpson(max(lower[0], LOWER_Z) * root[0], upper[0] * root[0], min(sd[:2]) / GRID_PER_SD)
    density = np.exp(-0.5 * (x / sd[0]) ** 2) / (sd[0] * SQRT_2PI)
    for i in range(1, len(t)):
        mass = w * density
        outside = special.ndtr((x - upper[i] * root[i]) / sd[i]) + special.ndtr((lower[i] * root[i] - x) / sd[i])
        cross += float(mass @ outside)
        if i + 1 < len(t):
            spacing = min(sd[i : i + 2]) / GRID_PER_SD
            x_next, w_next = _simpson(max(lower[i], LOWER_Z) * root[i], upper[i] * root[i], spacing)
            z = (x_next[None, :] - x[:, None]) / sd[i]
            density = mass @ np.exp(-0.5 * z * z) / (sd[i] * SQRT_2PI)
            x, w = x_next, w_next
    return cross


def crossing_probability(
    constant: float, fractions: Sequence[float], spending: Spending, alternative: Alternative = Alternative.TWO_SIDED
) -> float:
    """P(the statistic crosses the boundary constant * shape at some look) under the null."""
    upper = constant * _shape(fractions, spending)
    lower = -upper if alternative == Alternative.TWO_SIDED else np.full_like(upper, -np.inf)
    return float(min(1.0, max(0.0, _crossings(upper, lower, np.asarray(fractions, float)))))


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: Spending, alternative: Alternative) -> np.ndarray:
    def excess(constant: float) -> float:
        return crossing_probability(constant, fractions, spending, alternative) - alpha

    tail = alpha / 2 if alternative == Alternative.TWO_SIDED else alpha
    low, high = stats.norm.isf(tail), stats.norm.isf(tail / len(fractions))  # one look; Bonferroni over all
    constant = optimize.brentq(excess, low - 1e-3, high + 1e-3, xtol=1e-7)
    return constant * _shape(fractions, spending)


def boundaries(
    fractions: Sequence[float], alpha: float, spending: Spending, alternative: Alternative = Alternative.TWO_SIDED
) -> np.ndarray:
    """The z boundary at each look (for ``two-sided``: on |Z|) with null crossing probability alpha."""
    return _boundaries(
        tuple(float(t) for t in fractions), float(alpha), Spending(spending), Alternative(alternative)
    ).copy()


def nominal_p(boundary: np.ndarray | float, alternative: Alternative = Alternative.TWO_SIDED) -> np.ndarray | float:
    """The p-value that a z boundary corresponds to: reject at a look when p <= this."""
    tail = stats.norm.sf(boundary)
    return 2 * tail if alternative == Alternative.TWO_SIDED else tail


def z_from_p(p: float, alternative: Alternative = Alternative.TWO_SIDED) -> float:
    """The standard normal statistic with this p-value (the inverse of ``nominal_p``)."""
    return float(stats.norm.isf(p / 2 if alternative == Alternative.TWO_SIDED else p))


def repeated_p(p: float, look: int, fractions: Sequence[float], spending: Spending, alternative: Alternative) -> float:
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
    alternative: Alternative = Alternative.TWO_SIDED,
) -> tuple[float, float]:
    """Jennison & Turnbull's repeated confidence interval (ch. 9) of a mean per-seed difference:
    effect +- q * sd / sqrt(n), q the t quantile (n - 1 df) at the nominal level of the design's
    level-``alpha`` boundary at ``look``. One-sided claims (``greater``) get a lower bound only (the
    upper is +inf), so the interval excludes 0 exactly when the claim crosses its boundary. The
    intervals of all looks cover the true effect simultaneously with probability >= 1 - alpha."""
    if not (np.isfinite(effect) and np.isfinite(sd) and n >= 2):
        return math.nan, math.nan
    level = float(nominal_p(boundaries(fractions, alpha, spending, alternative)[look], alternative))
    if alternative == Alternative.TWO_SIDED:
        half = stats.t.isf(level / 2, n - 1) * sd / math.sqrt(n)
        return effect - half, effect + half
    return effect - stats.t.isf(level, n - 1) * sd / math.sqrt(n), math.inf


def equivalence_confidence(design: Design, claim: str, seeds: int) -> float:
    """Confidence of the two-sided t-interval whose bounds are the one-sided repeated bounds at the
    design's alpha at the claim's look at ``seeds``: 1 - 2 x the nominal p of its one-sided
    level-alpha boundary there."""
    look = design.claim_look(claim, seeds)
    boundary = boundaries(design.claim_fractions(claim), design.alpha, design.spending, Alternative.GREATER)[look]
    return 1 - 2 * float(nominal_p(boundary, Alternative.GREATER))


def equivalence_bounds(effect: float, sd: float, design: Design, look: ClaimLook) -> tuple[float, float]:
    """The repeated bounds that futility compared with min-effect, from a look's summary numbers
    (for the report): the t-interval at :func:`equivalence_confidence`; a one-sided claim
    (``greater``) gets the upper bound only (the lower is -inf)."""
    interval = interval_from(effect, sd, look.seeds, equivalence_confidence(design, look.claim, look.seeds))
    return (interval.low if look.alternative == Alternative.TWO_SIDED else -math.inf), interval.high


def futile(evidence: LookEvidence, design: Design, seeds: int) -> bool:
    """The repeated bounds at the claim's look at ``seeds`` rule out an effect of ``min_effect`` in
    the tested direction(s); for Q1/Q5 no two levels differ that much (see the module docstring)."""
    confidence = equivalence_confidence(design, str(evidence.claim), seeds)
    return rules_out(evidence.values, design.min_effect, confidence, evidence.alternative)


def claim_boundary(design: Design, claim: str, seeds: int, level: float, alternative: Alternative) -> float:
    """The z boundary the claim faces at its look at ``seeds`` when tested at ``level``."""
    fractions = design.claim_fractions(claim)
    return float(boundaries(fractions, level, design.spending, alternative)[design.claim_look(claim, seeds)])


def decide_look(
    design: Design, look: int, evidence: Sequence[LookEvidence], previous: Sequence[ClaimLook] = ()
) -> tuple[ClaimLook, ...]:
    """Test every claim still open that has a look of its own at the study's ``look`` (0-based
    into ``design.looks``), against its own boundaries; ``previous``: all earlier looks' records.

    Claims decided at an earlier look are not tested again, nor are claims past their horizon
    (they keep their share of alpha, unused). ``evidence`` holds every claim of the family (its
    size m fixes the initial level alpha / m).
    """
    seeds = design.looks[look]
    decided = {r.claim: r.decision for r in previous if r.decision != LookDecision.OPEN}
    rejected = sum(d == LookDecision.EFFECT for d in decided.values())
    open_claims = [
        e for e in evidence if str(e.claim) not in decided and design.claim_look(str(e.claim), seeds) is not None
    ]
    m = len(evidence)
    level_of: dict[str, float] = {}
    decision_of: dict[str, LookDecision] = {}
    shown_by: dict[str, str] = {}
    while rejected < m:  # Holm-type reallocation: repeat at this look until no new rejection (or none left)
        level = design.alpha / (m - rejected)
        new = 0
        for e in open_claims:
            claim = str(e.claim)
            if decision_of.get(claim) == LookDecision.EFFECT:
                continue
            level_of[claim] = level
            boundary = claim_boundary(design, claim, seeds, level, e.alternative)
            if np.isfinite(e.p) and e.p <= nominal_p(boundary, e.alternative):
                decision_of[claim] = LookDecision.EFFECT
                new += 1
        for shown, implied in IMPLIES.items():  # closed testing: Q2 shown shows Q1
            if (
                decision_of.get(shown) == LookDecision.EFFECT
                and implied in level_of
                and decision_of.get(implied) is None
            ):
                decision_of[implied] = LookDecision.EFFECT
                shown_by[implied] = shown
                new += 1
        if not new:
            break
        rejected += new
    records = []
    for e in open_claims:
        claim = str(e.claim)
        decision = decision_of.get(claim) or (LookDecision.NO_EFFECT if futile(e, design, seeds) else LookDecision.OPEN)
        boundary = claim_boundary(design, claim, seeds, level_of[claim], e.alternative)
        records.append(
            ClaimLook(
                claim=claim,
                look=look,
                seeds=seeds,
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
                shown_by=shown_by.get(claim, ""),
            )
        )
    return tuple(records)


def still_open(design: Design, records: Sequence[ClaimLook], seeds: int, claims: Sequence[str]) -> list[str]:
    """The claims not yet decided whose horizon reaches ``seeds``: what a batch up to ``seeds`` trains for."""
    decided = {r.claim for r in records if r.decision != LookDecision.OPEN}
    return [c for c in claims if c not in decided and design.horizon(c) >= seeds]
