"""Statistics over the tidy ``results.csv`` of ``harness permute``: pure functions, no I/O.

``analyse`` validates the rows once, indexes them once, and returns every number the report
shows as frozen dataclasses, so the calibration tests exercise exactly what the report runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from harness import rundir
from harness.analysis.continual import OrderMatrix, cl_metrics, matrices, shared_fresh_pairs
from harness.analysis.families import (
    Decision,
    Evidence,
    Family,
    Verdict,
    decide_exploratory,
    decide_primary,
    exploratory_evidence,
    primary_evidence,
)
from harness.analysis.index import RunIndex, build_index
from harness.analysis.procedures import RESAMPLES
from harness.analysis.questions import Claim
from harness.analysis.validate import oriented, validate
from harness.schema import Metric

__all__ = [
    "Analysis",
    "Claim",
    "Decision",
    "Evidence",
    "Family",
    "Verdict",
    "analyse",
    "primary_tests",
]


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything the report shows, computed once (the descriptive parts when first asked for)."""

    metric: Metric
    alpha: float
    min_effect: float
    index: RunIndex
    primary: tuple[Decision, ...]
    exploratory: tuple[Decision, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.index.seeds

    @cached_property
    def matrices(self) -> dict[str, OrderMatrix]:
        """Each full order's mean and sd matrix R[stage][actor] over seeds."""
        return matrices(self.index)

    @cached_property
    def cl_metrics(self) -> pd.DataFrame:
        """ACC, BWT, FWT and forgetting per order."""
        return cl_metrics(self.index, oriented(self.metric))

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """Shared and fresh per seed and actor (Q2's two terms)."""
        return shared_fresh_pairs(self.index)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """Both families, primary first."""
        return self.primary + self.exploratory


def primary_tests(results: pd.DataFrame, metric: str, resamples: int = RESAMPLES) -> tuple[Evidence, ...]:
    """The five pooled tests Q1..Q5 of ``results`` (no Holm, no verdicts): what a sequential
    look at the data computes."""
    df = validate(results, metric)
    return primary_evidence(build_index(df, metric), oriented(metric), resamples)


def analyse(
    results: pd.DataFrame,
    metric: str,
    alpha: float,
    min_effect: float,
    resamples: int = RESAMPLES,
    *,
    source: str = rundir.RESULTS,
) -> Analysis:
    """Validate and index ``results`` once (``alpha`` and ``min_effect`` come validated, as
    ``harness.config.Settings``); both families with verdicts, and the descriptive numbers.

    ``resamples``: Monte Carlo permutations where exact enumeration would exceed
    ``procedures.MAX_EXACT`` (fewer make simulations faster; the p-values stay valid).
    ``source`` names the rows in error messages.
    """
    df = validate(results, metric, source)
    ix = build_index(df, metric)
    sign = oriented(metric)
    return Analysis(
        metric=Metric(metric),
        alpha=alpha,
        min_effect=min_effect,
        index=ix,
        primary=decide_primary(primary_evidence(ix, sign, resamples), alpha, min_effect),
        exploratory=decide_exploratory(exploratory_evidence(ix, sign, resamples), alpha, min_effect),
    )
