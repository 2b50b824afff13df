"""Descriptive continual-learning numbers: each order's matrix R and ACC, BWT, FWT, forgetting."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.index import RunIndex
from harness.schema import Condition

CL_COLUMNS = ("ACC", "BWT", "FWT", "forgetting")


@dataclass(frozen=True, eq=False)
class OrderMatrix:
    """Mean and sd over seeds of R[stage][actor] for one order (columns in training order)."""

    order: str
    mean: pd.DataFrame
    sd: pd.DataFrame
    n_seeds: int


def order_cube(ix: RunIndex, order: tuple[str, ...]) -> np.ndarray:
    """seeds x stage x actor array of R for one order (actors in training order)."""
    return np.stack([np.column_stack([ix.r(order[:t], a) for a in order]) for t in range(1, len(order) + 1)], axis=1)


def matrices(ix: RunIndex) -> dict[str, OrderMatrix]:
    """Per full order: the stage x eval-actor matrix, mean and sd over seeds."""
    out: dict[str, OrderMatrix] = {}
    for order in ix.orders:
        cube = order_cube(ix, order)
        stages = pd.Index(range(1, len(order) + 1), name="stage")
        cols = pd.Index(order, name="eval_actor")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = pd.DataFrame(np.nanmean(cube, axis=0), index=stages, columns=cols)
            sd = pd.DataFrame(np.nanstd(cube, axis=0, ddof=1), index=stages, columns=cols)
        n_seeds = int(np.any(np.isfinite(cube), axis=(1, 2)).sum())
        out[">".join(order)] = OrderMatrix(">".join(order), mean, sd, n_seeds)
    return out


def cl_scores(matrix: np.ndarray, baseline: np.ndarray | None = None, sign: float = 1.0) -> dict[str, float]:
    """Continual-learning scores of one T x T matrix R[i][j] (row: after task i, col: task j).

    ACC = mean_j R[T][j]; BWT = mean_{j<T} R[T][j] - R[j][j] (Lopez-Paz & Ranzato 2017);
    FWT = mean_{j>1} R[j-1][j] - b_j with b the untrained baseline (ibid.);
    forgetting = mean_{j<T} max_{l<T} R[l][j] - R[T][j] (Chaudhry et al. 2018), with R times ``sign``
    (-1 for log loss and Brier) so that the best value is the lowest loss and forgetting is positive.
    """
    r = np.asarray(matrix, float)
    t = r.shape[0]
    out = {"ACC": float(np.mean(r[-1]))}
    if t < 2:
        return {**out, "BWT": np.nan, "FWT": np.nan, "forgetting": np.nan}
    out["BWT"] = float(np.mean([r[-1, j] - r[j, j] for j in range(t - 1)]))
    out["FWT"] = np.nan if baseline is None else float(np.mean([r[j - 1, j] - baseline[j] for j in range(1, t)]))
    good = sign * r
    out["forgetting"] = float(np.mean([good[: t - 1, j].max() - good[-1, j] for j in range(t - 1)]))
    return out


def cl_metrics(ix: RunIndex, sign: float = 1.0) -> pd.DataFrame:
    """ACC, BWT, FWT, forgetting per order (mean and sd over seeds), plus an "all orders" row
    (each seed's mean over orders, then mean and sd over seeds); ``sign``: see :func:`cl_scores`."""
    per_seed: dict[str, np.ndarray] = {}
    for order in ix.orders:
        cube = order_cube(ix, order)
        base = np.column_stack([ix.b(a) for a in order])
        per_seed[">".join(order)] = np.array(
            [[cl_scores(cube[s], base[s], sign)[c] for c in CL_COLUMNS] for s in range(len(ix.seeds))]
        )
    if per_seed:
        per_seed["all orders"] = np.mean(np.stack(list(per_seed.values())), axis=0)
    rows = []
    for name, values in per_seed.items():
        complete = values[np.isfinite(values[:, 0])]
        row: dict[str, object] = {"order": name, "n_seeds": len(complete)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i, c in enumerate(CL_COLUMNS):
                col = complete[:, i]
                col = col[np.isfinite(col)]
                row[c] = float(np.mean(col)) if col.size else np.nan
                row[f"{c}_sd"] = float(np.std(col, ddof=1)) if col.size > 1 else np.nan
        rows.append(row)
    columns = ["order", "n_seeds"] + [x for c in CL_COLUMNS for x in (c, f"{c}_sd")]
    return pd.DataFrame(rows, columns=columns)


def shared_fresh_pairs(ix: RunIndex) -> pd.DataFrame:
    """Per seed and actor: shared (mean over orders with pos(X) > 1 of R[pos][X]) and fresh F[X]."""
    frames = []
    for x in ix.actors:
        arrays = [ix.r(o[: o.index(x) + 1], x) for o in ix.orders if o.index(x) > 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shared = np.nanmean(np.vstack(arrays), axis=0) if arrays else np.full(len(ix.seeds), np.nan)
        frames.append(
            pd.DataFrame({"seed": list(ix.seeds), "actor": x, Condition.SHARED: shared, Condition.FRESH: ix.f(x, x)})
        )
    if not frames:
        return pd.DataFrame(columns=["seed", "actor", Condition.SHARED, Condition.FRESH])
    return pd.concat(frames, ignore_index=True)
