"""The two families of tests, their Holm adjustment and the verdicts.

* primary (pre-specified): one test per claim of the original study, pooled over actors
  (per seed, the mean over actors of the per-actor quantity). Q1 and Q5: permutation Friedman
  over levels blocked by seed; Q2: two-sided paired t; Q3, Q4: one-sided paired t.
  Holm, then one closed-testing step: Q2 shown shows Q1 (``questions.IMPLIES``).
* exploratory: the same questions per actor (Q1-Q4 for each actor, and Q5), with exact
  permutation tests (sign-flip for Q2-Q4, Friedman for Q1 and Q5), in a Holm family of their own.

Seeds are the unit of analysis throughout; the per-seed values enter a test on the grid of
``harness.analysis.exact``.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, fields
from enum import StrEnum

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from harness.analysis.exact import on_grid
from harness.analysis.index import RunIndex
from harness.analysis.intervals import Interval, rules_out, t_interval
from harness.analysis.power import friedman_are, seeds_for_power, seeds_to_reach
from harness.analysis.procedures import RESAMPLES, PairedT, PermutationFriedman, SignFlip
from harness.analysis.questions import IMPLIES, LEVELS, Claim, contrast, differences, level_table, pooled
from harness.schema import Alternative

MIN_SEEDS = 3
"""Fewer seeds with complete data than this give "n/a"."""
ALTERNATIVES = {
    Claim.Q1: Alternative.TWO_SIDED,
    Claim.Q2: Alternative.TWO_SIDED,
    Claim.Q3: Alternative.GREATER,
    Claim.Q4: Alternative.GREATER,
    Claim.Q5: Alternative.TWO_SIDED,
}


class Family(StrEnum):
    """Which Holm family a test belongs to."""

    PRIMARY = "primary"
    EXPLORATORY = "exploratory"


class Verdict(StrEnum):
    """What a test says; :attr:`Decision.label` adds the seed count or the min effect."""

    REAL = "real"
    UNDECIDED = "undecided"
    NO_EFFECT = "no effect"
    NOT_SHOWN = "not shown"
    CANNOT_BE_SHOWN = "cannot be shown"
    NA = "n/a"


@dataclass(frozen=True, eq=False, kw_only=True)
class Evidence:
    """One test of one question (pooled, or for one actor), before any multiplicity correction.

    ``effect``, ``ci_low``, ``ci_high``: mean per-seed difference and its 95 % t-interval (NaN
    for Q1/Q5, which have no single effect: see ``levels`` and ``contrast``; Q1's per-seed contrast,
    oriented and on the grid, is ``contrast_per_seed``). ``p``: the test's
    raw p (t for primary Q2-Q4, else the permutation p); ``p_exact``: the exact sign-flip p
    beside a t-test (= ``p`` for permutation tests); ``min_p_exact``: its smallest attainable
    value with ``n`` seeds. ``reason`` is non-empty when no test could be run.
    """

    family: Family
    claim: Claim
    actor: str
    test: PairedT | SignFlip | PermutationFriedman
    alternative: Alternative
    n: int
    effect: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    sd: float = math.nan
    statistic: float = math.nan
    p: float = math.nan
    p_exact: float = math.nan
    min_p_exact: float = math.nan
    method: str = ""
    levels: tuple[tuple[str, Interval], ...] = ()
    contrast: Interval | None = None
    per_seed: pd.Series | pd.DataFrame
    contrast_per_seed: pd.Series | None = None
    reason: str = ""
    note: str = ""

    @property
    def has_single_effect(self) -> bool:
        """Q2-Q4: a mean difference (Q1 and Q5 compare levels)."""
        return self.claim not in LEVELS

    @property
    def values(self) -> np.ndarray:
        """The complete per-seed values the test used (rows of levels for Q1/Q5)."""
        return self.per_seed.dropna().to_numpy(float)


@dataclass(frozen=True, eq=False, kw_only=True)
class Decision(Evidence):
    """Evidence with its family's Holm-adjusted p, the verdict and the safeguards.

    ``power_alpha``: the per-test threshold of the power calculation (Holm's first step,
    alpha / m: conservative, Holm can only do better). ``shown_by``: the claim whose rejection
    made this one real by closed testing (Q2 for Q1), when its own test did not. ``fragile``:
    leaving out one seed changes this t-based verdict (see :func:`_fragile`);
    ``sign_flip_disagrees``: the exact sign-flip test and the t-test decide otherwise at the
    family's Holm threshold (judged only where the sign-flip test can reach it).
    """

    p_adjusted: float = math.nan
    verdict: Verdict = Verdict.NA
    min_effect: float = math.nan
    power_alpha: float = math.nan
    p_adjusted_exact: float = math.nan
    shown_by: str = ""
    sign_flip_disagrees: bool = False
    fragile: bool = False

    @property
    def label(self) -> str:
        """The verdict in words, e.g. "undecided with 5 seeds"."""
        return {
            Verdict.REAL: f"real, as {self.shown_by} is" if self.shown_by else "real",
            Verdict.UNDECIDED: f"undecided with {self.n} seeds",
            Verdict.CANNOT_BE_SHOWN: f"cannot be shown with {self.n} seeds",
            Verdict.NO_EFFECT: f"no effect >= {self.min_effect:g}",
        }.get(self.verdict, str(self.verdict))

    @property
    def seeds_needed(self) -> float:
        """Seeds for 80 % power at ``power_alpha`` for an effect of ``min_effect``, given the observed
        per-seed sd (paired-t power; for Friedman divided by its efficiency 3/pi k/(k+1)), raised to
        the first count at which the test can reach the threshold at all (inf when its Monte Carlo
        floor 1 / (resamples + 1) stays above it). NaN when decided."""
        if self.verdict not in (Verdict.UNDECIDED, Verdict.NOT_SHOWN, Verdict.CANNOT_BE_SHOWN):
            return math.nan
        k = len(self.levels)
        if self.has_single_effect:
            needed = seeds_for_power(self.min_effect, self.sd, self.power_alpha, self.alternative)
        else:
            needed = seeds_for_power(self.min_effect, self.sd, self.power_alpha, Alternative.TWO_SIDED, friedman_are(k))
        if not np.isfinite(needed):
            return needed
        return seeds_to_reach(lambda n: self.test.min_p(n, max(k, 2)), self.power_alpha, max(MIN_SEEDS, int(needed)))


# --------------------------------------------------------------------------------------------
# Evidence


def _shortage(n: int) -> str:
    if n == 0:
        return "no data: the rows this question needs are missing"
    if n < MIN_SEEDS:
        return f"too few seeds with complete data ({n} < {MIN_SEEDS})"
    return ""


def _dropped(complete: pd.Index, seeds: pd.Index, fresh_only: frozenset[int]) -> str:
    """Which seeds a test left out, and why: not planned for the claim (they trained only the fresh
    models, by plan) or missing data."""
    n, left_out = len(complete), seeds.difference(complete)
    if not n or not len(left_out):
        return ""
    planned = left_out.intersection(pd.Index(sorted(fresh_only)))
    notes = []
    if len(planned):
        notes.append(
            f"tested on the {n} seeds that trained the whole tree; {len(planned)} seeds trained only the fresh"
            " models, by plan"
        )
    if len(left_out) > len(planned):
        notes.append(f"{len(left_out) - len(planned)} of {len(seeds)} seeds dropped for missing data")
    return "; ".join(notes)


def difference_evidence(
    family: Family,
    claim: Claim,
    actor: str,
    series: pd.Series,
    resamples: int = RESAMPLES,
    fresh_only: frozenset[int] = frozenset(),
) -> Evidence:
    """Q2-Q4: the primary family's t-test with the sign-flip p beside it, or the exploratory
    family's exact sign-flip test alone; ``fresh_only``: the seeds planned for the fresh models only."""
    alternative = ALTERNATIVES[claim]
    exact = SignFlip(alternative, resamples)
    test = PairedT(alternative) if family is Family.PRIMARY else exact
    series = on_grid(series)
    complete = series.dropna()
    d = complete.to_numpy(float)
    n = len(d)
    base = dict(family=family, claim=claim, actor=actor, test=test, alternative=alternative, n=n, per_seed=series)
    ci = t_interval(d)
    base.update(effect=ci.mean, ci_low=ci.low, ci_high=ci.high, note=_dropped(complete.index, series.index, fresh_only))
    if n > 1:
        base["sd"] = float(np.std(d, ddof=1))
    reason = _shortage(n)
    if not reason and np.all(d == 0):
        reason = "all per-seed differences are zero"
    elif not reason and family is Family.PRIMARY and np.ptp(d) == 0:
        reason = "all per-seed differences are equal (t undefined)"
    if reason:
        return Evidence(**base, reason=reason)
    flip = exact.run(d)
    result = test.run(d)
    return Evidence(
        **base,
        statistic=result.statistic,
        p=result.p,
        p_exact=flip.p,
        min_p_exact=exact.min_p(n),
        method=flip.method if test is exact else f"t distribution; sign-flip {flip.method}",
    )


def level_evidence(
    family: Family,
    claim: Claim,
    actor: str,
    table: pd.DataFrame,
    sign: float,
    resamples: int = RESAMPLES,
    fresh_only: frozenset[int] = frozenset(),
) -> Evidence:
    """Q1 or Q5: permutation Friedman over the levels, level means with t-intervals, and for Q1
    the planned contrast (later positions minus the first)."""
    test = PermutationFriedman(resamples)
    # Q1's contrast per seed from the levels before they are rounded, as Q2's values are: an exact tie is 0
    planned_per_seed = on_grid(contrast(table, sign)) if claim is Claim.Q1 and table.shape[1] > 1 else None
    table = on_grid(table)
    complete = table.dropna()
    values = complete.to_numpy(float)
    n, k = values.shape
    levels = tuple((str(c), t_interval(complete[c].to_numpy(float))) for c in complete.columns)
    planned = t_interval(contrast(complete, sign).to_numpy(float)) if planned_per_seed is not None and n else None
    base = dict(
        family=family,
        claim=claim,
        actor=actor,
        test=test,
        alternative=ALTERNATIVES[claim],
        n=n,
        per_seed=table,
        levels=levels,
        contrast=planned,
        contrast_per_seed=planned_per_seed,
        note=_dropped(complete.index, table.index, fresh_only),
    )
    if n > 1 and k > 1:
        means = values.mean(axis=0)
        base["sd"] = float(np.std(values[:, np.argmax(means)] - values[:, np.argmin(means)], ddof=1))
    reason = f"needs >= 2 {LEVELS[claim]}s, got {k}" if k < 2 else _shortage(n)
    if not reason and bool(np.all(np.ptp(values, axis=1) == 0)):
        reason = "all levels tie within every seed"
    if reason:
        return Evidence(**base, reason=reason)
    result = test.run(values)
    return Evidence(
        **base,
        statistic=result.statistic,
        p=result.p,
        p_exact=result.p,
        min_p_exact=test.min_p(n, k),
        method=result.method,
    )


def primary_evidence(ix: RunIndex, sign: float, resamples: int = RESAMPLES) -> tuple[Evidence, ...]:
    """The five pooled tests, Q1..Q5, from an index."""
    out = []
    for claim in Claim:
        if claim is Claim.Q5:
            out.append(
                level_evidence(Family.PRIMARY, claim, "", level_table(ix, claim), sign, resamples, ix.fresh_only)
            )
        elif claim is Claim.Q1:
            table = pooled([level_table(ix, claim, x) for x in ix.actors]) if ix.actors else level_table(ix, claim)
            out.append(level_evidence(Family.PRIMARY, claim, "", table, sign, resamples, ix.fresh_only))
        else:
            series = pooled([differences(ix, claim, x, sign) for x in ix.actors])
            out.append(difference_evidence(Family.PRIMARY, claim, "", series, resamples, ix.fresh_only))
    return tuple(out)


def exploratory_evidence(ix: RunIndex, sign: float, resamples: int = RESAMPLES) -> tuple[Evidence, ...]:
    """Q1-Q4 for every actor, then Q5: the per-actor tests."""
    family = Family.EXPLORATORY
    out = [
        level_evidence(family, Claim.Q1, x, level_table(ix, Claim.Q1, x), sign, resamples, ix.fresh_only)
        for x in ix.actors
    ]
    for claim in (Claim.Q2, Claim.Q3, Claim.Q4):
        out += [
            difference_evidence(family, claim, x, differences(ix, claim, x, sign), resamples, ix.fresh_only)
            for x in ix.actors
        ]
    out.append(level_evidence(family, Claim.Q5, "", level_table(ix, Claim.Q5), sign, resamples))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Holm and verdicts


def holm(p: list[float], alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels ``multipletests``); NaN stays NaN (no test)."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        gc.freeze()  # statsmodels' Holm branch runs gc.collect(): ~0.1 s on a full heap, per call
        try:
            out[valid] = multipletests(p[valid], alpha=alpha, method="holm")[1]
        finally:
            gc.unfreeze()
    return out


def _decision(e: Evidence, **extra) -> Decision:
    return Decision(**{f.name: getattr(e, f.name) for f in fields(Evidence)}, **extra)


def adjusted(evidence: tuple[Evidence, ...], p: list[float] | np.ndarray, alpha: float) -> np.ndarray:
    """Holm-adjusted ``p`` of the primary family, then closed testing (``questions.IMPLIES``): a claim
    implied by another takes the smaller of the two adjusted p-values, so Q1 is real whenever Q2 is."""
    out = holm(p, alpha)
    where = {e.claim: i for i, e in enumerate(evidence)}
    for shown, implied in IMPLIES.items():
        i, j = where.get(implied), where.get(shown)
        if i is not None and j is not None and not np.isnan(out[i]) and not np.isnan(out[j]):
            out[i] = min(out[i], out[j])
    return out


def _primary_verdict(p_adjusted: float, e: Evidence, values: np.ndarray, alpha: float, min_effect: float) -> Verdict:
    if np.isnan(p_adjusted):
        return Verdict.NA
    if p_adjusted < alpha:
        return Verdict.REAL
    equivalent = rules_out(values, min_effect, 1 - 2 * alpha, e.alternative)  # each bound a test at alpha
    return Verdict.NO_EFFECT if equivalent else Verdict.UNDECIDED


def _without(e: Evidence, seed: int) -> np.ndarray:
    """The complete per-seed values of ``e`` without ``seed`` (all of them if it has no such seed)."""
    return e.per_seed.drop(index=seed, errors="ignore").dropna().to_numpy(float)


def _t_p_without(e: Evidence, seed: int) -> float:
    """The t-test's p of ``e`` without ``seed``; the evidence's own p for a permutation test
    (fragility is of the t-based parts); NaN where the rest is constant (no t)."""
    if not isinstance(e.test, PairedT):
        return e.p
    rest = _without(e, seed)
    return float(e.test.p_rows(rest[None])[0]) if np.ptp(rest) > 0 else math.nan


def _fragile(i: int, evidence: tuple[Evidence, ...], verdict: Verdict, alpha: float, min_effect: float) -> bool:
    """Whether leaving out any one seed changes the verdict of test ``i``: without that seed, the
    t-tests the verdict reads (its own, and for Q1 Q2's, through closed testing) and its equivalence
    t-intervals are recomputed; the permutation p-values and the family's other p-values are kept.
    Only t-based parts can move, so a verdict resting on a permutation test alone is never fragile."""
    e = evidence[i]
    if e.reason or e.n <= MIN_SEEDS:
        return False
    reads = [i] + [j for j, x in enumerate(evidence) if IMPLIES.get(x.claim) == e.claim and not x.reason]
    p = np.array([x.p for x in evidence], float)
    for seed in e.per_seed.dropna().index:
        for j in reads:
            p[j] = _t_p_without(evidence[j], seed)
        if _primary_verdict(adjusted(evidence, p, alpha)[i], e, _without(e, seed), alpha, min_effect) != verdict:
            return True
    return False


def decide_primary(evidence: tuple[Evidence, ...], alpha: float, min_effect: float) -> tuple[Decision, ...]:
    """Holm over the primary family with the closed-testing step (:func:`adjusted`); verdicts real /
    no effect (the (1 - 2 alpha) t-interval inside +-min_effect, two one-sided tests at alpha; for the
    one-sided Q3/Q4 its upper bound below min_effect; for Q1/Q5 every pairwise difference's) /
    undecided / n/a, seeds a power calculation asks for, and the safeguards."""
    m = max(sum(not e.reason for e in evidence), 1)
    own = holm([e.p for e in evidence], alpha)
    p_adjusted = adjusted(evidence, [e.p for e in evidence], alpha)
    p_exact = adjusted(evidence, [e.p_exact for e in evidence], alpha)
    exact_floor = holm([e.min_p_exact for e in evidence], alpha)
    out = []
    for i, e in enumerate(evidence):
        verdict = _primary_verdict(p_adjusted[i], e, e.values, alpha, min_effect)
        through = verdict is Verdict.REAL and not own[i] < alpha  # real only by the closed-testing step
        shown_by = next((str(c) for c, implied in IMPLIES.items() if implied == e.claim), "") if through else ""
        t_based = e.has_single_effect and not e.reason
        disagrees = t_based and exact_floor[i] < alpha and (p_adjusted[i] < alpha) != (p_exact[i] < alpha)
        out.append(
            _decision(
                e,
                p_adjusted=float(p_adjusted[i]),
                verdict=verdict,
                min_effect=min_effect,
                power_alpha=alpha / m,
                p_adjusted_exact=float(p_exact[i]),
                shown_by=shown_by,
                sign_flip_disagrees=bool(disagrees),
                fragile=_fragile(i, evidence, verdict, alpha, min_effect),
            )
        )
    return tuple(out)


def decide_exploratory(evidence: tuple[Evidence, ...], alpha: float, min_effect: float) -> tuple[Decision, ...]:
    """Holm over the exploratory family: real / cannot be shown with N seeds (even the family's
    exact minimum p-values would not survive Holm) / not shown / n/a."""
    m = max(sum(not e.reason for e in evidence), 1)
    p_adjusted = holm([e.p for e in evidence], alpha)
    floor = holm([e.min_p_exact for e in evidence], alpha)
    out = []
    for i, e in enumerate(evidence):
        if e.reason:
            verdict = Verdict.NA
        elif p_adjusted[i] < alpha:
            verdict = Verdict.REAL
        elif floor[i] >= alpha:
            verdict = Verdict.CANNOT_BE_SHOWN
        else:
            verdict = Verdict.NOT_SHOWN
        out.append(
            _decision(
                e,
                p_adjusted=float(p_adjusted[i]),
                verdict=verdict,
                min_effect=min_effect,
                power_alpha=alpha / m,
                p_adjusted_exact=float(p_adjusted[i]),
            )
        )
    return tuple(out)
