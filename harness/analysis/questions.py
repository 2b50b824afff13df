"""The five questions as per-seed quantities: per actor, and pooled over actors.

R = metric of the shared model of an order after stage t on actor j; pos(X) = the stage at which
X is trained; F[X] = fresh model of X on X (the depth-1 node of the tree: the same model as R
after stage 1 of any order starting with X); C[X] = the node of the same order with X removed.
Within a seed, orders sharing a level are averaged, then actors for the pooled claims; the
result is rounded once where a test takes it (``harness.analysis.exact``), so float noise never
breaks a tie.
Differences (Q2-Q4, Q1's contrast) are oriented so that positive means better for the metric.
"""

from __future__ import annotations

import warnings
from enum import StrEnum

import numpy as np
import pandas as pd

from harness.analysis.index import RunIndex


class Claim(StrEnum):
    """The original study's five questions, in the report's order."""

    Q1 = "Q1"
    Q2 = "Q2"
    Q3 = "Q3"
    Q4 = "Q4"
    Q5 = "Q5"

    @property
    def title(self) -> str:
        """What the question tests."""
        return TITLES[self]

    @property
    def words(self) -> str:
        """The claim in the original study's words."""
        return WORDS[self]

    @property
    def definition(self) -> str:
        """The per-seed quantity, per actor X."""
        return DEFINITIONS[self]

    def depth(self, k: int) -> int:
        """How deep into a seed's prefix tree of k actors the claim reads (a node of depth d needs its
        ancestors): Q5 only the fresh models (depth 1); Q1-Q4 whole orders, so the whole tree (see
        DEFINITIONS: R[k][X] for Q1, Q3, Q4 and R[pos(X)][X] at any position for Q2)."""
        return 1 if self is Claim.Q5 else k


TITLES = {
    Claim.Q1: "order effect on learning X",
    Claim.Q2: "shared vs fresh on X",
    Claim.Q3: "forgetting of X",
    Claim.Q4: "retention of X beyond transfer",
    Claim.Q5: "actor effect (fresh models)",
}
WORDS = {
    Claim.Q1: "order does not matter",
    Claim.Q2: "a fresh model per actor beats retraining one",
    Claim.Q3: "the shared model forgets",
    Claim.Q4: "what is left after retraining is memory",
    Claim.Q5: "some actors are easier regardless of order",
}
DEFINITIONS = {
    Claim.Q1: "a(p) = mean over orders with pos(X) = p of R[p][X], p = 1..k",
    Claim.Q2: "mean over orders with pos(X) > 1 of R[pos(X)][X] - F[X] (= Q1's contrast later minus first position)",
    Claim.Q3: "mean over orders with pos(X) < k of R[pos(X)][X] - R[k][X]",
    Claim.Q4: "mean over orders with pos(X) < k of R[k][X] - C[X]",
    Claim.Q5: "F[X] for every actor X (= Q1's level a(1) of X)",
}
LEVELS = {Claim.Q1: "position", Claim.Q5: "actor"}
"""Questions answered by a Friedman test over levels, and what a level is."""
IMPLIES = {Claim.Q2: Claim.Q1}
"""Closed testing: a claim shown shows the claim it maps to. Q2's per-seed value is Q1's planned
contrast, so Q1's null (no order effect) implies Q2's (a contrast of mean 0): rejecting Q1 whenever
Q2 is rejected errs only where rejecting Q2 already did, and keeps the family-wise error rate."""


def _mean(arrays: list[np.ndarray], n: int) -> np.ndarray:
    """Mean over orders within each seed, skipping missing ones (a seed with none is NaN)."""
    if not arrays:
        return np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.vstack(arrays), axis=0)


def _without(order: tuple[str, ...], x: str) -> tuple[str, ...]:
    return tuple(a for a in order if a != x)


def level_table(ix: RunIndex, claim: Claim, x: str = "") -> pd.DataFrame:
    """Seeds x levels: Q1 of actor ``x`` (columns = positions 1..k) or Q5 (columns = actors)."""
    n = len(ix.seeds)
    if claim is Claim.Q1:
        columns = {p: _mean([ix.r(o[:p], x) for o in ix.orders if o[p - 1] == x], n) for p in range(1, ix.k + 1)}
    else:
        columns = {a: ix.f(a, a) for a in ix.actors}
    return pd.DataFrame(columns, index=pd.Index(ix.seeds, name="seed"))


def differences(ix: RunIndex, claim: Claim, x: str, sign: float) -> pd.Series:
    """Per-seed difference of Q2, Q3 or Q4 for actor ``x``, times ``sign`` (+1: higher is better),
    so that forgetting is a loss of goodness and retention a gain."""
    k = ix.k
    if claim is Claim.Q2:
        diffs = [ix.r(o[: o.index(x) + 1], x) - ix.f(x, x) for o in ix.orders if o.index(x) > 0]
    elif claim is Claim.Q3:
        diffs = [ix.r(o[: o.index(x) + 1], x) - ix.r(o, x) for o in ix.orders if o.index(x) < k - 1]
    else:
        diffs = [ix.r(o, x) - ix.r(_without(o, x), x) for o in ix.orders if o.index(x) < k - 1]
    return pd.Series(sign * _mean(diffs, len(ix.seeds)), index=pd.Index(ix.seeds, name="seed"))


def pooled(parts: list[pd.Series | pd.DataFrame]) -> pd.Series | pd.DataFrame:
    """Per seed, the mean over actors (NaN where any actor is missing in that seed)."""
    return sum(parts) / len(parts)


def contrast(table: pd.DataFrame, sign: float) -> pd.Series:
    """Q1's planned contrast per seed: mean of the later positions minus the first, oriented."""
    return sign * (table.iloc[:, 1:].mean(axis=1, skipna=False) - table.iloc[:, 0])
