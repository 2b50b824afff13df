"""The grid on which per-seed values are exact, so that a tie is a tie for every test.

Metric values are fractions of a test set's size (an accuracy of 61/90), and a claim's per-seed
value is a mean of them over orders and actors. Two values equal in exact arithmetic can end a few
1e-16 apart, depending on the order of the float additions, and a rank or a comparison of a null
statistic with the observed one would then break the tie one way or the other. So every per-seed
value a test sees is rounded once, after all averaging, to ``DECIMALS`` decimals: far coarser than
float error, far finer than any difference the metrics can produce. A fraction p/q lies at least
1 / (2e9 q) from a rounding boundary of this grid (on one only if 1024 divides q): 4.6e-13 for the
pooled means of 90-image accuracies with 3 actors (q <= 1080), so no exact tie is split. The exact
tests then compare values on the grid: Friedman ranks the rounded values, the sign-flip test sums
them in integer units of the grid, so its null sums are exact integers.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

DECIMALS = 9
"""Per-seed values are rounded once to the nearest multiple of 10**-DECIMALS. Values that far apart
or more stay apart; closer values can still be split by a rounding boundary (an odd multiple of
5e-10) between them. Values equal in exact arithmetic on a coarser grid (fractions p/q, q far
below 1e9), whose float sums differ by far less than 1e-9, land on the same grid point: p/q lies
at least 1 / (2e9 q) from a boundary (on one only if 1024 divides q)."""

Values = TypeVar("Values", np.ndarray, pd.Series, pd.DataFrame)


def on_grid(values: Values) -> Values:
    """``values`` rounded to the grid (idempotent: values on it stay as they are)."""
    return values.round(DECIMALS) if isinstance(values, pd.Series | pd.DataFrame) else np.round(values, DECIMALS)


def grid_units(values: np.ndarray) -> np.ndarray:
    """``values`` as integer multiples of the grid step (int64), for sums without rounding error."""
    return np.rint(np.asarray(values, float) * 10**DECIMALS).astype(np.int64)
