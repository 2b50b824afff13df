"""Two studies compared, B minus A: the claims' quantities and the fresh and final models' scores.

Per seed, each run gives the claims' quantities and the mean metric of its fresh models and of
its final shared models. Q1's planned contrast (later minus first position) and Q2 (shared minus
fresh) are one quantity: the fresh model of X is the depth-1 node of the tree and every position
has as many orders, so the two are the same per-seed number (``harness report`` shows Q1 by closed
testing from Q2, ``questions.IMPLIES``); it is compared once, as "Q1/Q2". Q3 (positive: more
forgetting) and Q4 (positive: more retained) are the oriented differences, Q5 the range over
actors of the fresh models' metric. When both runs tested the same images on the same seeds (see
:func:`pairing`), seed s of A and seed s of B share their split, so the comparison is paired by
seed: a paired t-test on the per-seed differences with the exact sign-flip p beside it. Otherwise
it is Welch's t-test on the two runs' per-seed values, and the reason is stated. The four distinct
claim quantities (Q1/Q2, Q3, Q4, Q5) form one Holm family; the two scores are tested beside them,
unadjusted. "No effect >= min-effect" only where the (1 - 2 alpha) interval of the difference lies
inside +-min_effect (two one-sided tests), with the verdict words of ``harness report``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.analysis.families import MIN_SEEDS, Verdict, holm
from harness.analysis.index import RunIndex, build_index
from harness.analysis.intervals import Interval, t_interval
from harness.analysis.procedures import RESAMPLES, PairedT, SignFlip
from harness.analysis.questions import Claim, differences, level_table, pooled
from harness.analysis.validate import oriented, validate
from harness.errors import HarnessError
from harness.schema import Alternative


class Quantity(StrEnum):
    """What is compared per seed: the four distinct claim quantities (one Holm family), then two scores."""

    Q1_Q2 = "Q1/Q2"
    Q3 = "Q3"
    Q4 = "Q4"
    Q5 = "Q5"
    FRESH = "fresh"
    FINAL = "final"

    @property
    def in_family(self) -> bool:
        """One of the claim quantities, Holm-adjusted together."""
        return self not in (Quantity.FRESH, Quantity.FINAL)

    @property
    def title(self) -> str:
        return TITLES[self]


TITLES = {
    Quantity.Q1_Q2: "shared minus fresh (= Q1's contrast, later minus first position)",
    Quantity.Q3: "forgetting",
    Quantity.Q4: "retention beyond transfer",
    Quantity.Q5: "actor effect (range of the fresh models over actors)",
    Quantity.FRESH: "fresh models' mean score",
    Quantity.FINAL: "final shared models' mean score",
}


@dataclass(frozen=True, eq=False)
class Study:
    """One run's rows and what decides whether its seeds pair with another run's (from config.json;
    ``None`` where it records none): the split a seed draws depends on the images (the fingerprint
    covers their bytes, per class in order, and the image size), the protocol, the order in which
    the actors were loaded (``disjoint_split`` draws actor by actor), the data seed and the counts."""

    name: str
    results: pd.DataFrame
    metric: str
    fingerprint: str | None = None
    protocol: str | None = None
    actor_order: tuple[str, ...] | None = None
    data_seed: int | None = None
    counts: str | None = None


SPLIT_KEYS = (
    ("fingerprint", "the dataset fingerprint"),
    ("protocol", "the split protocol"),
    ("actor_order", "the actor order (the split is drawn actor by actor)"),
    ("data_seed", "the data seed"),
    ("counts", "the image counts"),
)
"""What must be equal for seed s to test the same images in both runs, and how the reason names it.
The fingerprint and the protocol are required; the others are compared where either run records them."""


@dataclass(frozen=True)
class Pairing:
    """Whether the runs are compared seed by seed, on which seeds (those both have), why not when
    not, and the seeds a paired comparison leaves out for want of a partner."""

    paired: bool
    seeds: tuple[int, ...]
    reason: str = ""
    left_out: str = ""


@dataclass(frozen=True, eq=False)
class Difference:
    """One quantity, B minus A: means, the difference with its 95 % t-interval, the test and the verdict.

    ``p_exact``: the exact sign-flip p beside a paired t-test (NaN for Welch). ``p_adjusted``: Holm
    over the claim quantities (the raw p for the two scores). ``per_seed``: seeds x (A, B).
    """

    quantity: Quantity
    paired: bool
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    effect: float
    ci_low: float
    ci_high: float
    test: str
    statistic: float
    p: float
    p_exact: float
    p_adjusted: float
    verdict: Verdict
    min_effect: float
    per_seed: pd.DataFrame
    reason: str = ""

    @property
    def n(self) -> int:
        """Seeds compared: pairs when paired, else the smaller run."""
        return min(self.n_a, self.n_b)

    @property
    def label(self) -> str:
        """The verdict in the words of ``harness report``."""
        return {
            Verdict.UNDECIDED: f"undecided with {self.n} seeds",
            Verdict.NO_EFFECT: f"no effect >= {self.min_effect:g}",
        }.get(self.verdict, str(self.verdict))


@dataclass(frozen=True, eq=False)
class Comparison:
    """Every quantity compared, claims first."""

    a: str
    b: str
    metric: str
    alpha: float
    min_effect: float
    pairing: Pairing
    differences: tuple[Difference, ...]


def per_seed(ix: RunIndex, sign: float) -> pd.DataFrame:
    """Seeds x quantities of one run (Q1/Q2 and Q4 oriented so that positive means better, Q3 so that
    positive means more forgetting, scores raw). Q1/Q2 is Q2's mean over orders of shared minus fresh,
    which is Q1's contrast whenever every position has as many orders."""
    fresh = level_table(ix, Claim.Q5)
    final = [pd.Series(np.nanmean([ix.r(o, x) for o in ix.orders], axis=0), fresh.index) for x in ix.actors]
    claim_of = {Quantity.Q1_Q2: Claim.Q2, Quantity.Q3: Claim.Q3, Quantity.Q4: Claim.Q4}
    columns = {
        **{q: pooled([differences(ix, c, x, sign) for x in ix.actors]) for q, c in claim_of.items()},
        Quantity.Q5: fresh.max(axis=1, skipna=False) - fresh.min(axis=1, skipna=False),
        Quantity.FRESH: fresh.mean(axis=1, skipna=False),
        Quantity.FINAL: pooled(final),
    }
    return pd.DataFrame({str(q): pd.Series(v.to_numpy(float), index=fresh.index) for q, v in columns.items()})


def pairing(a: Study, b: Study, seeds_a: tuple[int, ...], seeds_b: tuple[int, ...]) -> Pairing:
    """Paired by seed on the common seeds when both runs tested the same images (every ``SPLIT_KEYS``
    equal); else the reason, naming each that differs."""
    common = tuple(sorted(set(seeds_a) & set(seeds_b)))
    different = [
        f"{what} differs ({_shown(getattr(a, key))} in {a.name}, {_shown(getattr(b, key))} in {b.name})"
        for key, what in SPLIT_KEYS
        if getattr(a, key) != getattr(b, key)
    ]
    missing = [s.name for s in (a, b) if s.fingerprint is None or s.protocol is None]
    if missing:
        reason = f"{' and '.join(missing)} record no dataset fingerprint or split protocol (no config.json)"
        return Pairing(False, common, reason)
    if different:
        return Pairing(False, common, "; ".join(different) + ": seed s does not test the same images in both")
    alone = [(s.name, sorted(set(own) - set(common))) for s, own in ((a, seeds_a), (b, seeds_b))]
    left_out = "; ".join(f"seeds {', '.join(map(str, rest))} of {name}" for name, rest in alone if rest)
    return Pairing(True, common, left_out=left_out)


def _tested(values: pd.DataFrame, paired: bool, alpha: float, resamples: int) -> dict:
    """The test of one quantity: a paired t (with the sign-flip p) on B - A, or Welch's t."""
    a, b = values["A"].dropna().to_numpy(float), values["B"].dropna().to_numpy(float)
    out = dict(n_a=len(a), n_b=len(b), mean_a=float(np.mean(a)) if len(a) else math.nan)
    out["mean_b"] = float(np.mean(b)) if len(b) else math.nan
    nan = dict(effect=math.nan, ci_low=math.nan, ci_high=math.nan, statistic=math.nan, p=math.nan, p_exact=math.nan)
    if paired:
        d = (values["B"] - values["A"]).dropna().to_numpy(float)
        out.update(n_a=len(d), n_b=len(d), test="paired t")
        ci = t_interval(d)
        out.update(nan, effect=ci.mean, ci_low=ci.low, ci_high=ci.high)
        if len(d) < MIN_SEEDS:
            return out | {"reason": f"too few seeds with both runs' values ({len(d)} < {MIN_SEEDS})"}
        if np.ptp(d) == 0:
            return out | {"reason": "every seed's difference is the same (t undefined)"}
        t, flip = PairedT().run(d), SignFlip(Alternative.TWO_SIDED, resamples).run(d)
        return out | {"statistic": t.statistic, "p": t.p, "p_exact": flip.p, "tost": t_interval(d, 1 - 2 * alpha)}
    out.update(nan, test="Welch t", effect=out["mean_b"] - out["mean_a"])
    if min(len(a), len(b)) < MIN_SEEDS:
        return out | {"reason": f"too few seeds with values ({len(a)} in A, {len(b)} in B; need {MIN_SEEDS})"}
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return out | {"reason": "no spread over seeds in either run (t undefined)"}
    res = sps.ttest_ind(b, a, equal_var=False)
    ci, tost = res.confidence_interval(0.95), res.confidence_interval(1 - 2 * alpha)
    out.update(ci_low=float(ci.low), ci_high=float(ci.high), statistic=float(res.statistic), p=float(res.pvalue))
    return out | {"tost": Interval(out["effect"], float(tost.low), float(tost.high), 1 - 2 * alpha)}


def _verdict(tested: dict, p_adjusted: float, alpha: float, min_effect: float) -> Verdict:
    if tested.get("reason") or not math.isfinite(p_adjusted):
        return Verdict.NA
    if p_adjusted < alpha:
        return Verdict.REAL
    return Verdict.NO_EFFECT if tested["tost"].inside(min_effect) else Verdict.UNDECIDED  # two one-sided tests


def compare(a: Study, b: Study, alpha: float, min_effect: float, resamples: int = RESAMPLES) -> Comparison:
    """B minus A on every quantity; one line (``HarnessError``) for runs that cannot be compared:
    another metric, other actors, or no seed in common."""
    if a.metric != b.metric:
        raise HarnessError(
            f"{a.name} and {b.name} have different primary metrics ({a.metric} and {b.metric}); "
            "compare runs made with the same --metric"
        )
    indexes = [build_index(validate(s.results, s.metric, f"{s.name}/results.csv"), s.metric) for s in (a, b)]
    if set(indexes[0].actors) != set(indexes[1].actors):
        raise HarnessError(
            f"{a.name} and {b.name} studied different actors ({', '.join(indexes[0].actors)} and "
            f"{', '.join(indexes[1].actors)}); compare runs made with the same --actors"
        )
    pair = pairing(a, b, indexes[0].seeds, indexes[1].seeds)
    if not pair.seeds:
        raise HarnessError(
            f"{a.name} and {b.name} have no seed in common (seeds {_span(indexes[0].seeds)} and "
            f"{_span(indexes[1].seeds)}); compare runs over the same --first-seed and --seeds"
        )
    sign = oriented(a.metric)
    tables = [per_seed(ix, sign) for ix in indexes]
    if pair.paired:
        tables = [t.loc[list(pair.seeds)] for t in tables]
    tested = {}
    for q in Quantity:
        values = pd.concat({"A": tables[0][str(q)], "B": tables[1][str(q)]}, axis=1)
        values.index.name = "seed"
        tested[q] = (_tested(values, pair.paired, alpha, resamples), values)
    claims = [q for q in Quantity if q.in_family]
    adjusted = dict(zip(claims, holm([tested[q][0]["p"] for q in claims], alpha), strict=True))
    out = []
    for q, (t, values) in tested.items():
        p_adjusted = float(adjusted[q]) if q.in_family else t["p"]
        fields = {k: v for k, v in t.items() if k != "tost"}
        out.append(
            Difference(
                quantity=q,
                paired=pair.paired,
                p_adjusted=p_adjusted,
                verdict=_verdict(t, p_adjusted, alpha, min_effect),
                min_effect=min_effect,
                per_seed=values,
                **fields,
            )
        )
    return Comparison(a.name, b.name, a.metric, alpha, min_effect, pair, tuple(out))


def _shown(value: object) -> str:
    if value is None:
        return "not recorded"
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _span(seeds: tuple[int, ...]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0]) if seeds else "none"
