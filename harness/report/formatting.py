"""Number, table and JSON formatting shared by the report's sections."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness.analysis import Decision
from harness.analysis.intervals import Interval

PER_SEED_SHOWN = 10
"""Per-seed values listed in a table cell (report.json has them all)."""
FRAGILE = "fragile (leave-one-seed-out)"
"""The flag of a verdict that leaving out one seed changes."""
SIGN_FLIP_DISAGREES = "the sign-flip test disagrees"
"""The flag of a t-test whose exact sign-flip test decides otherwise."""


def is_finite(x: object) -> bool:
    """Whether ``x`` is a finite number (False for None, NaN, inf and anything not a number)."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def num(x: object, digits: int = 3) -> str:
    """Number with ``digits`` decimals; "n/a" for NaN/None."""
    if not is_finite(x):
        return "n/a"
    x = float(x)
    if x != 0 and abs(x) < 10**-digits:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}f}"


def pval(x: object) -> str:
    if not is_finite(x):
        return "-"
    x = float(x)
    return f"{x:.2e}" if x < 0.001 else f"{x:.4f}"


def seeds(x: object) -> str:
    if not is_finite(x):
        return "> 10000" if isinstance(x, float) and math.isinf(x) else "n/a"
    return str(int(x))


def interval(i: Interval | None, digits: int = 3) -> str:
    """``0.101 [0.062, 0.140]``; without bounds (too few seeds, no spread) ``0.101 [no CI]``."""
    if i is None or not is_finite(i.mean):
        return "n/a"
    bounds = f"[{num(i.low, digits)}, {num(i.high, digits)}]" if is_finite(i.low) else "[no CI]"
    return f"{num(i.mean, digits)} {bounds}"


def md_table(headers: list[str], rows: Iterable[Iterable[object]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def actor_label(actor: str) -> str:
    return actor or "(all actors)"


def effect_text(d: Decision) -> str:
    """A single effect with its 95 % t-interval; Q1: the planned contrast and the level means;
    Q5: the level means (no interval on a range)."""
    if d.has_single_effect:
        return interval(Interval(d.effect, d.ci_low, d.ci_high))
    levels = "; ".join(f"{name} {interval(i)}" for name, i in d.levels)
    if d.contrast is not None:
        return f"later - first position {interval(d.contrast)}; positions {levels}"
    return f"means {levels}" if levels else "n/a"


def per_seed_text(d: Decision) -> str:
    """Per-seed values (Q1: its planned contrast, later minus first position; Q5: the level values per seed)."""
    if d.has_single_effect:
        items = [num(v) for v in d.per_seed.dropna().to_numpy(float)]
    elif d.contrast_per_seed is not None:
        items = [num(v) for v in d.contrast_per_seed.dropna().to_numpy(float)]
    else:
        items = ["(" + ", ".join(num(v, 2) for v in row) + ")" for row in d.per_seed.dropna().to_numpy(float)]
    extra = f", ... ({len(items)} seeds)" if len(items) > PER_SEED_SHOWN else ""
    return ", ".join(items[:PER_SEED_SHOWN]) + extra


def verdict_text(d: Decision) -> str:
    """The verdict with what qualifies it: the n/a reason, the seeds a power calculation asks
    for, and the flags (fragile: leave-one-seed-out; the sign-flip test disagreeing)."""
    text = d.label
    if d.reason:
        return f"n/a: {d.reason}"
    if is_finite(d.seeds_needed) or (isinstance(d.seeds_needed, float) and math.isinf(d.seeds_needed)):
        text += f" (about {seeds(d.seeds_needed)} seeds for 80 % power at {d.min_effect:g})"
    if d.fragile:
        text += f"; {FRAGILE}"
    if d.sign_flip_disagrees:
        text += f"; {SIGN_FLIP_DISAGREES}"
    return text


def jsonable(obj: object) -> object:
    """Plain-JSON version of ``obj``: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return jsonable(obj.to_dict())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)
