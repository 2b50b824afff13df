"""The tidy rows indexed once by model: per-seed metric of every node of the prefix tree."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.schema import Condition, Plan


def parse_order(order: object) -> tuple[str, ...]:
    """``"A>B>C"`` -> ``("A", "B", "C")``; empty/NaN -> ``()``."""
    if not isinstance(order, str) or not order.strip():
        return ()
    return tuple(part.strip() for part in order.split(">"))


@dataclass(frozen=True, eq=False)
class RunIndex:
    """Per-seed metric of every model of a run, keyed by what the model was trained on.

    A shared model after stage t of an order depends only on the prefix, so rows repeating a
    prefix are one model. Arrays are aligned with ``seeds``; a missing model reads as all-NaN.
    """

    seeds: tuple[int, ...]
    actors: tuple[str, ...]
    orders: tuple[tuple[str, ...], ...]
    shared: dict[tuple[tuple[str, ...], str], np.ndarray]
    fresh: dict[tuple[str, str], np.ndarray]
    untrained: dict[str, np.ndarray]
    fresh_only: frozenset[int] = frozenset()  # seeds that by plan trained only the fresh models (plan 'fresh')

    @property
    def k(self) -> int:
        """Number of actors."""
        return len(self.actors)

    def _nan(self) -> np.ndarray:
        return np.full(len(self.seeds), np.nan)

    def r(self, prefix: tuple[str, ...], actor: str) -> np.ndarray:
        """Shared model trained on ``prefix`` (in that order), evaluated on ``actor``."""
        return self.shared.get((tuple(prefix), actor), self._nan())

    def f(self, trained: str, actor: str) -> np.ndarray:
        """Fresh model of ``trained`` evaluated on ``actor`` (the depth-1 node when no fresh row)."""
        return self.fresh.get((trained, actor), self.r((trained,), actor))

    def b(self, actor: str) -> np.ndarray:
        """Untrained (initial) model evaluated on ``actor``: the baseline b_j."""
        return self.untrained.get(actor, self._nan())


def build_index(df: pd.DataFrame, metric: str) -> RunIndex:
    """Index validated rows by model: shared (prefix, eval actor), fresh (actor, eval actor), untrained."""
    seeds = tuple(int(s) for s in np.sort(df["seed"].unique()))
    fresh_only = frozenset(int(s) for s in df.loc[df["plan"] == Plan.FRESH, "seed"]) if "plan" in df else frozenset()
    df = df[df["eval_actor"].notna()]
    order = df["order"].to_numpy(object)
    if "trained_actor" in df.columns:  # fresh rows: the actor, from order or trained_actor
        order = np.where(pd.isna(order), df["trained_actor"].to_numpy(object), order)
    order = np.where(pd.isna(order), "", order).astype(str).astype(object)
    cond = df["condition"].astype(str).to_numpy(object)
    stage = df["stage"].astype(int)
    evals = df["eval_actor"].astype(str).to_numpy(object)
    sep = "\x1f"
    keys = cond + sep + order + sep + stage.astype(str).to_numpy(object) + sep + evals
    model_codes, uniques = pd.factorize(keys)
    models = [(c, o, int(t), e) for c, o, t, e in (u.split(sep) for u in uniques)]
    seed_codes = pd.Index(seeds).get_indexer(df["seed"])
    v = df[metric].to_numpy(float)
    ok = ~np.isnan(v)
    sums = np.zeros((len(models), len(seeds)))
    counts = np.zeros((len(models), len(seeds)))
    np.add.at(sums, (model_codes[ok], seed_codes[ok]), v[ok])
    np.add.at(counts, (model_codes[ok], seed_codes[ok]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / counts, np.nan)

    collected: dict[tuple[tuple[str, ...], str], list[np.ndarray]] = {}
    fresh: dict[tuple[str, str], np.ndarray] = {}
    untrained: dict[str, np.ndarray] = {}
    parsed: dict[str, tuple[str, ...]] = {}
    for (kind, key, t, ev), row in zip(models, values, strict=True):
        if kind == Condition.SHARED and t >= 1:
            prefix = parsed.setdefault(key, parse_order(key))[:t]
            if len(prefix) == t:
                collected.setdefault((prefix, ev), []).append(row)
        elif kind == Condition.FRESH and key:
            fresh[(key, ev)] = row
        elif kind == Condition.UNTRAINED:
            untrained[ev] = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shared = {key: (v[0] if len(v) == 1 else np.nanmean(np.vstack(v), axis=0)) for key, v in collected.items()}

    actor_set = ({a for p in parsed.values() for a in p} | {t for t, _ in fresh}) - {""}
    actors = tuple(sorted(actor_set or set(evals)))
    orders = tuple(sorted(p for p in set(parsed.values()) if len(p) == len(actors) and set(p) == actor_set))
    return RunIndex(seeds, actors, orders, shared, fresh, untrained, fresh_only)
