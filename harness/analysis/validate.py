"""Reading and checking results.csv: every problem is one line naming the file and the row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness import rundir
from harness.errors import HarnessError
from harness.schema import HIGHER_IS_BETTER, UNBOUNDED_ABOVE, Condition, Metric

REQUIRED_COLUMNS: tuple[str, ...] = ("seed", "condition", "order", "stage", "eval_actor")
"""Columns the analysis cannot do without (plus the metric column)."""

CONDITIONS: tuple[Condition, ...] = tuple(Condition)
KEY: tuple[str, ...] = ("seed", "condition", "order", "stage", "eval_actor")
"""One evaluation per key: a repeated key is a duplicated row."""

FIX = "regenerate it with `harness permute` or correct that row"


def read_results(run_dir: Path) -> tuple[Path, pd.DataFrame]:
    """``run_dir/results.csv`` as strings-and-NaN DataFrame; HarnessError if absent or unreadable."""
    path = Path(run_dir) / rundir.RESULTS
    if not path.is_file():
        raise HarnessError(
            f"{path} not found: run `harness permute` to create it, or pass the run directory that contains results.csv"
        )
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise HarnessError(f"{path} is empty: rerun `harness permute` for this run directory") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        message = f"{path} is not a readable CSV ({exc}): regenerate it with `harness permute`"
        raise HarnessError(message.replace("\n", " ")) from None
    return path, df


def metric_of(name: str) -> Metric:
    """``name`` as a :class:`Metric`; HarnessError naming the choices otherwise."""
    try:
        return Metric(name)
    except ValueError:
        raise HarnessError(f"--metric {name!r} is not a metric; choose one of {', '.join(Metric)}") from None


def _shown(value: object) -> str:
    """A cell as the user wrote it: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(float(value)).removesuffix(".0")


def _where(df: pd.DataFrame, i: int, source: str) -> str:
    """``results.csv line 7 (seed 1, shared A>B stage 2 on C)`` for row position ``i``."""
    row = df.iloc[i]
    what = " ".join(str(row[c]) for c in ("condition", "order") if c in df.columns and pd.notna(row[c]))
    return f"{source} line {i + 2} (seed {row.get('seed')}, {what} stage {row.get('stage')} on {row.get('eval_actor')})"


def validate(df: pd.DataFrame, metric: str, source: str = rundir.RESULTS) -> pd.DataFrame:
    """Check ``df`` once and return it with numeric ``seed``/``stage``/metric columns.

    Refused, each with one line naming ``source`` and the first offending row: no rows, a
    missing column, a metric that is not a :class:`Metric`, a seed or stage that is not an
    integer, an unknown condition, a metric value that is text, infinite or outside the metric's
    range, two rows for the same evaluation (an untrained row's empty order included), and an
    actor that only untrained rows evaluate. Empty metric cells are allowed (ROC AUC of a
    one-class test set) and leave that evaluation out.
    """
    metric = metric_of(metric)
    if df is None or len(df) == 0:
        raise HarnessError(f"{source} has no rows: rerun `harness permute` for this run directory")
    missing = [c for c in (*REQUIRED_COLUMNS, metric) if c not in df.columns]
    if missing:
        raise HarnessError(f"{source} lacks column(s) {', '.join(missing)}: {FIX}, or choose another --metric")
    df = df.reset_index(drop=True).copy()
    for column in ("seed", "stage"):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values != values.round())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = _shown(df[column].iloc[i])
            raise HarnessError(f"{_where(df, i, source)}: {column} {shown} is not an integer; {FIX}")
        df[column] = values.astype(int)
    unknown = ~df["condition"].isin(CONDITIONS)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise HarnessError(
            f"{_where(df, i, source)}: unknown condition {df['condition'].iloc[i]!r} "
            f"(expected one of {', '.join(CONDITIONS)}); {FIX}"
        )
    raw = df[metric]
    values = pd.to_numeric(raw, errors="coerce")
    high = math.inf if metric in UNBOUNDED_ABOVE else 1.0
    bad = (values.isna() & raw.notna()) | (values.notna() & ~values.between(0.0, high))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        problem = "is not a number" if pd.isna(values.iloc[i]) else f"is outside [0, {high:g}]"
        raise HarnessError(f"{_where(df, i, source)}: {metric} {_shown(raw.iloc[i])} {problem}; {FIX}")
    if values.isna().all():
        raise HarnessError(f"{source}: column {metric} has no values; choose another --metric")
    df[metric] = values
    repeated = df.duplicated(subset=list(KEY), keep="first")
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        evaluation = df.groupby(list(KEY), dropna=False, sort=False).ngroup().to_numpy()  # an empty order is a key too
        first = int(np.flatnonzero(evaluation == evaluation[i])[0])
        raise HarnessError(f"{_where(df, i, source)} repeats line {first + 2}: one row per evaluation; {FIX}")
    trained = df["condition"] != Condition.UNTRAINED
    if trained.any():
        alone = df["eval_actor"].where(~trained).notna() & ~df["eval_actor"].isin(df["eval_actor"][trained])
        if alone.any():
            i = int(np.flatnonzero(alone)[0])
            raise HarnessError(
                f"{_where(df, i, source)}: actor {df['eval_actor'].iloc[i]!r} is evaluated only in untrained rows "
                f"(no trained model is evaluated on it); {FIX}"
            )
    return df


def oriented(metric: str) -> float:
    """+1 when a higher ``metric`` is better, -1 when lower is (log loss, Brier)."""
    return 1.0 if HIGHER_IS_BETTER[metric] else -1.0
