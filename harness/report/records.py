"""verdicts.csv and report.json, both from the analysis' dataclasses."""

from __future__ import annotations

import math
from dataclasses import fields

import pandas as pd

from harness.analysis import Analysis, Decision
from harness.analysis.intervals import Interval

VERDICT_COLUMNS: tuple[str, ...] = (
    "family",
    "question",
    "actor",
    "n",
    "effect",
    "ci_low",
    "ci_high",
    "statistic",
    "p",
    "p_exact",
    "p_adjusted",
    "verdict",
    "fragile",
    "sign_flip_disagrees",
    "seeds_needed",
    "test",
    "reason",
)
"""Columns of verdicts.csv, in order: one row per test of both families, primary first."""


def _interval(i: Interval | None) -> dict | None:
    return None if i is None else {"mean": i.mean, "ci_low": i.low, "ci_high": i.high}


def decision_record(d: Decision) -> dict:
    """Every field of a decision, plus its words, verdict label and flags, as plain data."""
    skip = {"test", "levels", "contrast", "per_seed", "contrast_per_seed", "claim"}
    record = {f.name: getattr(d, f.name) for f in fields(d) if f.name not in skip}
    per_seed = d.per_seed
    return {
        "question": str(d.claim),
        "claim": d.claim.words,
        "title": d.claim.title,
        "definition": d.claim.definition,
        **record,
        "test": f"{d.test.name}" + (f" ({d.method})" if d.method else ""),
        "verdict": str(d.verdict),
        "label": d.label,
        "seeds_needed": d.seeds_needed,
        "levels": {name: _interval(i) for name, i in d.levels},
        "contrast_later_minus_first": _interval(d.contrast),
        "per_seed": per_seed.to_dict(orient="index") if isinstance(per_seed, pd.DataFrame) else per_seed.to_dict(),
    }


def verdict_rows(a: Analysis) -> pd.DataFrame:
    """verdicts.csv: both families, with the verdict in words ("undecided with 5 seeds")."""
    rows = []
    for d in a.decisions:
        r = decision_record(d)
        r["verdict"] = d.label
        r["seeds_needed"] = d.seeds_needed if not math.isinf(d.seeds_needed) else float("inf")
        rows.append({c: r[c] for c in VERDICT_COLUMNS})
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
