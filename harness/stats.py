"""Statistics over the tidy ``results.csv`` of ``harness permute``.

Pure functions: no file I/O, no printing, no TensorFlow. Everything the report shows is computed
here, so the calibration tests exercise exactly the code the report runs.

Design (documented in the report as well):

* The seed is the unit of analysis. Within a seed, the orders that share a condition are
  averaged (e.g. the two orders that train X first), giving one number per seed and level.
* A shared model after stage t of order o depends only on the prefix o[:t], so every metric is
  looked up by (seed, prefix, eval actor); rows that repeat across orders sharing a prefix are
  averaged (they are identical).
* Missing data: within a seed, orders with a missing evaluation are skipped (the ``note``
  column counts them); a seed with no usable order for a value is dropped from that test
  (noted); fewer than 3 seeds, k < 3 levels for Friedman, all-zero differences or all-tied
  levels give the verdict "n/a" with a ``reason`` instead of a test.
* Per-seed series are rounded to 12 decimals so that floating-point noise (0.3 - 0.1 vs 0.2)
  counts as a tie or a zero, as it would with exact fractions of n_test.
* Q2-Q4 use the Wilcoxon signed-rank test (scipy's ``method="auto"``: exact without ties,
  an exact permutation distribution with ties/zeros for n <= 13, normal approximation above);
  Q1 and Q5 use the Friedman test blocked by seed.
* The family is every test that can be computed (Q1-Q4 per actor, plus Q5); p-values are
  Holm-adjusted (statsmodels ``multipletests``). A test is "real" when its adjusted p < alpha.
* "cannot be shown with N seeds": Holm-adjusted p-values are non-decreasing in every raw
  p-value, so the smallest adjusted p a test can ever reach with its n is the Holm adjustment
  of the vector of *attainable minima* of all tests in the family (Wilcoxon: all differences
  of one sign, exact; Friedman: every seed ranks the levels identically). When that best case
  is not below alpha, no data with this many seeds could make the test "real".
* Power: seeds for 80 % power at the Holm first-step threshold alpha / m (m = size of the
  family; conservative, Holm can only do better), from paired-t power (statsmodels
  ``TTestPower``) with the effect standardised by the sd of the per-seed differences, divided
  by the asymptotic relative efficiency (ARE) of the rank test under normality: 3/pi for
  Wilcoxon, 3/pi * k/(k+1) for Friedman with k levels (Noether). For Friedman questions the
  "difference" is the per-seed difference between the best and the worst level, i.e. the
  power to detect the observed range as a paired comparison of the two extreme levels
  (conservative when the middle levels differ too: in simulation a linear order effect was
  detected more often than predicted). The result is never below the smallest n at which
  the test can reach the threshold at all.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint

REQUIRED_COLUMNS: tuple[str, ...] = ("seed", "condition", "order", "stage", "eval_actor")
"""Columns the analysis cannot do without (plus the metric column)."""

VERDICT_COLUMNS: tuple[str, ...] = (
    "question",
    "actor",
    "n",
    "effect",
    "ci_low",
    "ci_high",
    "statistic",
    "p",
    "p_holm",
    "verdict",
)
"""Columns of verdicts.csv, in order."""

EXTRA_COLUMNS: tuple[str, ...] = (
    "title",
    "test",
    "alternative",
    "effect_kind",
    "effect_size",
    "effect_size_kind",
    "n_levels",
    "level_means",
    "sd",
    "min_p_attainable",
    "min_p_holm_attainable",
    "reason",
    "ci_note",
    "note",
    "seeds_for_80_power_observed",
    "seeds_for_80_power_min_effect",
    "power_alpha",
)
"""Further columns of :func:`run_tests` (report.json carries them all)."""

VERDICT_REAL = "real"
VERDICT_NOT_SHOWN = "not shown"
VERDICT_NA = "n/a"
MIN_SEEDS = 3
"""Fewer complete seeds than this give "n/a" (no test, no bootstrap)."""

WILCOXON_ARE = 3.0 / math.pi
"""Asymptotic relative efficiency of the signed-rank test to the paired t test (normal data)."""

SEED_EFFECT_DECIMALS = 12

_SHARED, _FRESH, _UNTRAINED = "shared", "fresh", "untrained"


def cannot_be_shown(n: int) -> str:
    """The verdict for a test that no data with ``n`` seeds could make significant."""
    return f"cannot be shown with {n} seeds"


@dataclass(frozen=True)
class Question:
    """One question of the family: which test, which alternative, what the numbers mean."""

    qid: str
    title: str
    test: str  # "wilcoxon" or "friedman"
    alternative: str  # scipy alternative
    per_actor: bool
    series: str  # definition of the per-seed series
    effect: str  # definition of "effect"
    needs: str  # which rows the question needs (for "n/a" reasons)


QUESTIONS: dict[str, Question] = {
    "Q1": Question(
        "Q1",
        "order effect on learning X",
        "friedman",
        "two-sided",
        True,
        "a_s(p) = mean over orders with pos(X) = p of R[p][X], p = 1..k",
        "range (max - min over p) of the seed-mean a(p)",
        "shared rows with X trained at every position",
    ),
    "Q2": Question(
        "Q2",
        "shared vs fresh on X",
        "wilcoxon",
        "two-sided",
        True,
        "d_s = mean over orders with pos(X) > 1 of R[pos(X)][X] - F[X]",
        "mean of d_s (shared minus fresh)",
        "fresh rows of X and shared rows with X at stage > 1",
    ),
    "Q3": Question(
        "Q3",
        "forgetting of X",
        "wilcoxon",
        "greater",
        True,
        "f_s = mean over orders with pos(X) < k of R[pos(X)][X] - R[k][X]",
        "mean of f_s (accuracy lost by the end of the order)",
        "shared rows at the stage X is trained and at the last stage",
    ),
    "Q4": Question(
        "Q4",
        "retention of X beyond transfer",
        "wilcoxon",
        "greater",
        True,
        "r_s = mean over orders with pos(X) < k of R[k][X] - C[X] (C = shared model trained on the order without X)",
        "mean of r_s (final model minus a model that never saw X)",
        "shared rows of the final stage and of the order without X",
    ),
    "Q5": Question(
        "Q5",
        "actor effect (fresh models)",
        "friedman",
        "two-sided",
        False,
        "F_s[X] = fresh model of X on X, for every actor X",
        "range (max - min over actors) of the seed-mean F[X]",
        "fresh rows of every actor",
    ),
}


# --------------------------------------------------------------------------------------------
# Input checks and lookup


def parse_order(order: object) -> tuple[str, ...]:
    """``"A>B>C"`` -> ``("A", "B", "C")``; empty/NaN -> ``()``."""
    if not isinstance(order, str) or not order.strip():
        return ()
    return tuple(part.strip() for part in order.split(">"))


def validate_results(df: pd.DataFrame, metric: str = "accuracy") -> None:
    """Raise ``ValueError`` (one line) if ``df`` cannot be analysed for ``metric``."""
    if df is None or len(df) == 0:
        raise ValueError("no rows: results are empty")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"lacks column(s) {', '.join(missing)}")
    if metric not in df.columns:
        numeric = [c for c in df.columns if c not in REQUIRED_COLUMNS and pd.api.types.is_numeric_dtype(df[c])]
        raise ValueError(f"has no metric column {metric!r}; numeric columns: {', '.join(numeric)}")
    values = pd.to_numeric(df[metric], errors="coerce")
    if values.notna().sum() == 0:
        raise ValueError(f"metric column {metric!r} has no numeric values")


@dataclass(frozen=True)
class RunIndex:
    """Per-seed metric of every model of a run, keyed by what the model was trained on.

    Arrays are aligned with ``seeds``; a missing model reads as all-NaN.
    """

    seeds: tuple
    actors: tuple[str, ...]
    orders: tuple[tuple[str, ...], ...]
    shared: dict[tuple[tuple[str, ...], str], np.ndarray]
    fresh: dict[tuple[str, str], np.ndarray]
    untrained: dict[str, np.ndarray]

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
        """Fresh model of ``trained``, evaluated on ``actor``."""
        return self.fresh.get((trained, actor), self._nan())

    def b(self, actor: str) -> np.ndarray:
        """Untrained (initial) model evaluated on ``actor``: the baseline b_j."""
        return self.untrained.get(actor, self._nan())


def build_index(df: pd.DataFrame, metric: str = "accuracy") -> RunIndex:
    """Index ``df`` by model: shared (prefix, eval actor), fresh (actor, eval actor), untrained."""
    validate_results(df, metric)
    seeds = pd.Index(df["seed"].dropna().unique()).sort_values().tolist()
    keep = df["seed"].notna() & df["eval_actor"].notna()
    df = df[keep]
    order = df["order"].to_numpy(object)
    if "trained_actor" in df.columns:  # fresh rows: the actor, from order or trained_actor
        order = np.where(pd.isna(order), df["trained_actor"].to_numpy(object), order)
    order = np.where(pd.isna(order), "", order).astype(str).astype(object)
    cond = df["condition"].astype(str).to_numpy(object)
    stage = pd.to_numeric(df["stage"], errors="coerce").fillna(-1).astype(int)
    evals = df["eval_actor"].astype(str).to_numpy(object)
    # one row per model and eval actor, one column per seed (duplicates averaged, NaN ignored)
    sep = "\x1f"
    keys = cond + sep + order + sep + stage.astype(str).to_numpy(object) + sep + evals
    model_codes, uniques = pd.factorize(keys)
    models = [(c, o, int(t), e) for c, o, t, e in (u.split(sep) for u in uniques)]
    seed_codes = pd.Index(seeds).get_indexer(df["seed"])
    v = pd.to_numeric(df[metric], errors="coerce").to_numpy(float)
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
        if kind == _SHARED and t >= 1:
            if key not in parsed:
                parsed[key] = parse_order(key)
            prefix = parsed[key][:t]
            if len(prefix) == t:
                collected.setdefault((prefix, ev), []).append(row)
        elif kind == _FRESH and key:
            fresh[(key, ev)] = row
        elif kind == _UNTRAINED:
            untrained[ev] = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shared = {key: (v[0] if len(v) == 1 else np.nanmean(np.vstack(v), axis=0)) for key, v in collected.items()}

    actor_set = ({a for p in parsed.values() for a in p} | {t for t, _ in fresh}) - {""}
    if not actor_set:
        actor_set = set(evals)
    actors = tuple(sorted(actor_set))
    orders = tuple(sorted(p for p in set(parsed.values()) if len(p) == len(actors) and set(p) == actor_set))
    return RunIndex(tuple(seeds), actors, orders, shared, fresh, untrained)


# --------------------------------------------------------------------------------------------
# Per-seed series


def _mean(arrays: list[np.ndarray], n: int) -> tuple[np.ndarray, int]:
    """Mean over orders within each seed, skipping missing values, and how many were missing
    in seeds that kept at least one (a seed with none is NaN and dropped by the tests)."""
    if not arrays:
        return np.full(n, np.nan), 0
    stacked = np.vstack(arrays)
    missing = np.isnan(stacked)
    kept = ~missing.all(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stacked, axis=0)
    return np.round(mean, SEED_EFFECT_DECIMALS), int(missing[:, kept].sum())


def _series(ix: RunIndex, arrays: list[np.ndarray], name: str) -> pd.Series:
    values, missing = _mean(arrays, len(ix.seeds))
    out = pd.Series(values, index=pd.Index(ix.seeds, name="seed"), name=name)
    out.attrs["missing"] = missing
    return out


def _frame(ix: RunIndex, columns: dict[object, list[np.ndarray]]) -> pd.DataFrame:
    means = {c: _mean(arrays, len(ix.seeds)) for c, arrays in columns.items()}
    out = pd.DataFrame({c: m[0] for c, m in means.items()}, index=pd.Index(ix.seeds, name="seed"))
    out.attrs["missing"] = sum(m[1] for m in means.values())
    return out


def _q1(ix: RunIndex, x: str) -> pd.DataFrame:
    return _frame(ix, {p: [ix.r(o[:p], x) for o in ix.orders if o[p - 1] == x] for p in range(1, ix.k + 1)})


def _q2(ix: RunIndex, x: str) -> pd.Series:
    diffs = [ix.r(o[: o.index(x) + 1], x) - ix.f(x, x) for o in ix.orders if o.index(x) > 0]
    return _series(ix, diffs, "d")


def _q3(ix: RunIndex, x: str) -> pd.Series:
    diffs = [ix.r(o[: o.index(x) + 1], x) - ix.r(o, x) for o in ix.orders if o.index(x) < ix.k - 1]
    return _series(ix, diffs, "f")


def _without(order: tuple[str, ...], x: str) -> tuple[str, ...]:
    return tuple(a for a in order if a != x)


def _q4(ix: RunIndex, x: str) -> pd.Series:
    diffs = [ix.r(o, x) - ix.r(_without(o, x), x) for o in ix.orders if o.index(x) < ix.k - 1]
    return _series(ix, diffs, "r")


def _q5(ix: RunIndex) -> pd.DataFrame:
    return _frame(ix, {x: [ix.f(x, x)] for x in ix.actors})


SeriesMap = dict[tuple[str, str], "pd.Series | pd.DataFrame"]


def per_seed_series(df: pd.DataFrame, metric: str = "accuracy") -> SeriesMap:
    """The per-seed data every test consumes, keyed by (question, actor); Q5's actor is "".

    Wilcoxon questions (Q2-Q4) give a Series of per-seed differences; Friedman questions
    (Q1: columns = positions 1..k, Q5: columns = actors) give a seeds x levels DataFrame.
    Within a seed, orders with a missing evaluation are skipped (``attrs["missing"]`` counts
    them); a seed left with no order for a value is NaN there and dropped by the tests.
    """
    ix = build_index(df, metric)
    out: SeriesMap = {}
    for qid, fn in (("Q1", _q1), ("Q2", _q2), ("Q3", _q3), ("Q4", _q4)):
        for x in ix.actors:
            out[(qid, x)] = fn(ix, x)
    out[("Q5", "")] = _q5(ix)
    return out


def shared_fresh_pairs(df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per seed and actor: shared (mean over orders with pos(X) > 1 of R[pos][X]) and fresh F[X].

    The two terms of Q2's difference, for the paired plot.
    """
    ix = build_index(df, metric)
    frames = []
    for x in ix.actors:
        shared, _ = _mean([ix.r(o[: o.index(x) + 1], x) for o in ix.orders if o.index(x) > 0], len(ix.seeds))
        frames.append(pd.DataFrame({"seed": list(ix.seeds), "actor": x, "shared": shared, "fresh": ix.f(x, x)}))
    if not frames:
        return pd.DataFrame(columns=["seed", "actor", "shared", "fresh"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Test building blocks


@lru_cache(maxsize=4096)
def min_attainable_p(test: str, n: int, k: int = 3, alternative: str = "two-sided") -> float:
    """Smallest p-value ``test`` can return with ``n`` seeds (and ``k`` levels for Friedman).

    Computed by scipy on the most extreme data: Wilcoxon on n differences of one sign (exact
    for n <= 50, like the test itself); Friedman on n blocks that all rank the k levels
    identically (chi-square = n(k-1)). Returns 1.0 where the test cannot run.
    """
    if test == "wilcoxon":
        if n < 1:
            return 1.0
        d = np.arange(1, n + 1, dtype=float)
        if alternative == "less":
            d = -d
        return float(sps.wilcoxon(d, alternative=alternative).pvalue)
    if test == "friedman":
        if n < 1 or k < 3:
            return 1.0
        ranks = np.tile(np.arange(k, dtype=float), (n, 1))
        return float(sps.friedmanchisquare(*ranks.T).pvalue)
    raise ValueError(f"unknown test {test!r}")


def rank_biserial(d: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby): (T+ - T-) / (T+ + T-), zeros dropped.

    +1: every non-zero difference is positive; -1: every one negative. Same zero handling as
    scipy's default ``zero_method="wilcox"``.
    """
    d = np.asarray(d, float)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    ranks = sps.rankdata(np.abs(d))
    t_plus, t_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((t_plus - t_minus) / (t_plus + t_minus))


def kendalls_w(statistic: float, n: int, k: int) -> float:
    """Kendall's W from the (tie-corrected) Friedman chi-square: chi2 / (n (k - 1))."""
    return float(statistic / (n * (k - 1)))


def _empty_row(q: Question, actor: str) -> dict:
    return {
        "question": q.qid,
        "actor": actor,
        "n": 0,
        "effect": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "statistic": np.nan,
        "p": np.nan,
        "p_holm": np.nan,
        "verdict": "",
        "title": q.title,
        "test": "Wilcoxon signed-rank" if q.test == "wilcoxon" else "Friedman",
        "alternative": q.alternative,
        "effect_kind": q.effect,
        "effect_size": np.nan,
        "effect_size_kind": "rank-biserial" if q.test == "wilcoxon" else "Kendall's W",
        "n_levels": 2 if q.test == "wilcoxon" else 0,
        "level_means": "",
        "sd": np.nan,
        "min_p_attainable": np.nan,
        "min_p_holm_attainable": np.nan,
        "reason": "",
        "ci_note": "",
        "note": "",
        "seeds_for_80_power_observed": np.nan,
        "seeds_for_80_power_min_effect": np.nan,
        "power_alpha": np.nan,
    }


def _missing_note(data: pd.Series | pd.DataFrame, n: int) -> str:
    """Say how much data was missing: whole seeds dropped, order values skipped."""
    notes = []
    if 0 < n < len(data):
        notes.append(f"{len(data) - n} of {len(data)} seeds dropped for missing data")
    missing = data.attrs.get("missing", 0)
    if missing:
        notes.append(f"{missing} per-order values missing, averaged over the other orders")
    return "; ".join(notes)


def _wilcoxon_row(q: Question, actor: str, series: pd.Series) -> dict:
    row = _empty_row(q, actor)
    d = series.to_numpy(float)
    d = d[~np.isnan(d)]
    n = len(d)
    row["n"], row["note"] = n, _missing_note(series, n)
    if n:
        row["effect"] = float(np.mean(d))
    if n > 1:
        row["sd"] = float(np.std(d, ddof=1))
    if n == 0:
        row["reason"] = f"no data: needs {q.needs}"
    elif n < MIN_SEEDS:
        row["reason"] = f"too few seeds with complete data ({n} < {MIN_SEEDS})"
    elif np.all(d == 0):
        row["reason"] = "all per-seed differences are zero"
    if row["reason"]:
        return row
    res = sps.wilcoxon(d, alternative=q.alternative)
    row["statistic"], row["p"] = float(res.statistic), float(res.pvalue)
    row["effect_size"] = rank_biserial(d)
    row["min_p_attainable"] = min_attainable_p("wilcoxon", int(np.count_nonzero(d)), alternative=q.alternative)
    return row


def _friedman_row(q: Question, actor: str, table: pd.DataFrame) -> dict:
    row = _empty_row(q, actor)
    values = table.to_numpy(float)
    k = values.shape[1]
    complete = values[~np.isnan(values).any(axis=1)] if k else values[:0]
    n = len(complete)
    row["n"], row["note"], row["n_levels"] = n, _missing_note(table, n), k
    if n and k:
        means = complete.mean(axis=0)
        row["level_means"] = ", ".join(f"{c}: {v:.4g}" for c, v in zip(table.columns, means, strict=True))
        hi, lo = int(np.argmax(means)), int(np.argmin(means))
        row["effect"] = float(means[hi] - means[lo])
        if n > 1:
            row["sd"] = float(np.std(complete[:, hi] - complete[:, lo], ddof=1))
    if k < 3:
        row["reason"] = f"Friedman needs >= 3 levels, got k={k}"
    elif n == 0:
        row["reason"] = f"no data: needs {q.needs}"
    elif n < MIN_SEEDS:
        row["reason"] = f"too few seeds with complete data ({n} < {MIN_SEEDS})"
    elif bool(np.all(np.ptp(complete, axis=1) == 0)):
        row["reason"] = "all levels tie within every seed"
    if row["reason"]:
        return row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.friedmanchisquare(*complete.T)
    if not np.isfinite(res.pvalue):
        row["reason"] = "Friedman statistic undefined (ties)"
        return row
    row["statistic"], row["p"] = float(res.statistic), float(res.pvalue)
    row["effect_size"] = kendalls_w(res.statistic, n, k)
    row["min_p_attainable"] = min_attainable_p("friedman", n, k)
    return row


def pvalue_table(series: SeriesMap) -> pd.DataFrame:
    """One row per test with n, effect, statistic, raw p, effect size and "n/a" reasons.

    No multiplicity correction, no bootstrap, no power: see :func:`holm_verdicts`,
    :func:`confidence_intervals`, :func:`power_table`.
    """
    rows = []
    for (qid, actor), data in series.items():
        q = QUESTIONS[qid]
        if q.test == "wilcoxon":
            rows.append(_wilcoxon_row(q, actor, data))
        else:
            rows.append(_friedman_row(q, actor, data))
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS) + list(EXTRA_COLUMNS))


def holm_verdicts(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Add Holm-adjusted p-values and the verdict of every test.

    The family is every test with a p-value. Verdicts: "real" (adjusted p < alpha);
    "cannot be shown with N seeds" (even the Holm adjustment of the family's attainable
    minima is not below alpha for this test); "not shown"; "n/a" (no test, see ``reason``).
    """
    out = table.copy()
    valid = out["p"].notna().to_numpy()
    out["p_holm"] = np.nan
    out["min_p_holm_attainable"] = np.nan
    if valid.any():
        out.loc[valid, "p_holm"] = multipletests(out.loc[valid, "p"].to_numpy(float), alpha=alpha, method="holm")[1]
        out.loc[valid, "min_p_holm_attainable"] = multipletests(
            out.loc[valid, "min_p_attainable"].to_numpy(float), alpha=alpha, method="holm"
        )[1]
    verdicts = []
    for ok, n, p_holm, best in zip(valid, out["n"], out["p_holm"], out["min_p_holm_attainable"], strict=True):
        if not ok:
            verdicts.append(VERDICT_NA)
        elif p_holm < alpha:
            verdicts.append(VERDICT_REAL)
        elif best >= alpha:
            verdicts.append(cannot_be_shown(int(n)))
        else:
            verdicts.append(VERDICT_NOT_SHOWN)
    out["verdict"] = verdicts
    return out


# --------------------------------------------------------------------------------------------
# Confidence intervals


def _range_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.ptp(np.stack([np.mean(s, axis=axis) for s in samples]), axis=0)


def bootstrap_ci(
    data: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 9999, random_state: int = 0
) -> tuple[float, float, str]:
    """BCa bootstrap CI over seeds: of the mean (1-D data) or of the range of level means (2-D).

    2-D data (seeds x levels) is resampled by whole seeds (``paired=True``). Returns
    ``(low, high, note)``; with fewer than 3 distinct seeds' values, or a degenerate
    bootstrap distribution, the CI is NaN and ``note`` says why.
    """
    data = np.asarray(data, float)
    distinct = np.unique(data).size if data.ndim == 1 else np.unique(data, axis=0).shape[0] if data.size else 0
    if distinct < 3:
        return np.nan, np.nan, "CI n/a: fewer than 3 distinct per-seed values"
    rng = np.random.default_rng(random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if data.ndim == 1:
                res = sps.bootstrap(
                    (data,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="BCa", rng=rng
                )
            else:
                res = sps.bootstrap(
                    tuple(data.T),
                    _range_of_means,
                    paired=True,
                    vectorized=True,
                    confidence_level=confidence,
                    n_resamples=n_resamples,
                    method="BCa",
                    rng=rng,
                )
        except (ValueError, FloatingPointError) as exc:
            return np.nan, np.nan, f"CI n/a: bootstrap failed ({exc})"
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        return np.nan, np.nan, "CI n/a: degenerate bootstrap distribution"
    return low, high, ""


def confidence_intervals(
    series: SeriesMap, *, confidence: float = 0.95, n_resamples: int = 9999, random_state: int = 0
) -> pd.DataFrame:
    """95 % BCa bootstrap CI of every test's effect (columns question, actor, ci_low, ...)."""
    rows = []
    for (qid, actor), data in series.items():
        values = data.dropna().to_numpy(float)
        if QUESTIONS[qid].test == "friedman" and values.ndim == 2 and values.shape[1] < 2:
            low, high, note = np.nan, np.nan, "CI n/a: fewer than 2 levels"
        else:
            low, high, note = bootstrap_ci(
                values, confidence=confidence, n_resamples=n_resamples, random_state=random_state
            )
        rows.append({"question": qid, "actor": actor, "ci_low": low, "ci_high": high, "ci_note": note})
    return pd.DataFrame(rows, columns=["question", "actor", "ci_low", "ci_high", "ci_note"])


# --------------------------------------------------------------------------------------------
# Power


def friedman_are(k: int) -> float:
    """ARE of the Friedman test to the repeated-measures F test, normal data: 3/pi k/(k+1)."""
    return 3.0 / math.pi * k / (k + 1)


def _sm_alternative(alternative: str) -> str:
    return {"two-sided": "two-sided", "greater": "larger", "less": "larger"}[alternative]


def _standardised(effect: float, sd: float, alternative: str) -> float:
    """Effect / sd in the direction of the alternative (NaN where undefined)."""
    if not (np.isfinite(effect) and np.isfinite(sd)) or sd <= 0:
        return np.nan
    dz = effect / sd
    if alternative == "two-sided":
        return abs(dz)
    if alternative == "less":
        dz = -dz
    return dz if dz > 0 else np.nan


def predicted_power(
    effect: float, sd: float, n: int, alpha: float, alternative: str = "two-sided", are: float = WILCOXON_ARE
) -> float:
    """Approximate power of a rank test with ``n`` seeds: paired-t power at n * ARE seeds.

    ``effect``/``sd`` is the standardised mean per-seed difference; ``alpha`` the threshold
    the p-value must beat (the report uses Holm's first step, alpha / m).
    """
    dz = _standardised(effect, sd, alternative)
    if not np.isfinite(dz) or n * are <= 1:
        return np.nan
    return float(
        TTestPower().power(effect_size=dz, nobs=n * are, alpha=alpha, alternative=_sm_alternative(alternative))
    )


@lru_cache(maxsize=1024)
def min_seeds_attainable(
    test: str, alpha: float, k: int = 3, alternative: str = "two-sided", max_seeds: int = 10_000
) -> int:
    """Smallest n whose attainable minimum p-value is below ``alpha``."""
    n = MIN_SEEDS
    while n < max_seeds and min_attainable_p(test, n, k, alternative) >= alpha:
        n += 1
    return n


def seeds_for_power(
    effect: float,
    sd: float,
    alpha: float,
    *,
    power: float = 0.8,
    alternative: str = "two-sided",
    test: str = "wilcoxon",
    k: int = 3,
    max_seeds: int = 10_000,
) -> float:
    """Seeds needed for ``power`` to detect ``effect`` given the per-seed sd (see module doc).

    NaN when undefined (sd unknown, zero effect, or an effect opposite to a one-sided
    alternative); inf when more than ``max_seeds`` would be needed.
    """
    if not (np.isfinite(effect) and np.isfinite(sd)) or effect == 0:
        return np.nan
    are = WILCOXON_ARE if test == "wilcoxon" else friedman_are(k)
    floor = min_seeds_attainable(test, alpha, k, alternative, max_seeds)
    if sd == 0:
        ok = alternative == "two-sided" or (effect > 0) == (alternative == "greater")
        return float(floor) if ok else np.nan
    dz = _standardised(effect, sd, alternative)
    if not np.isfinite(dz):
        return np.nan
    solver = TTestPower()
    alt = _sm_alternative(alternative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver.power(effect_size=dz, nobs=2, alpha=alpha, alternative=alt) >= power:
            n_t = 2.0
        else:
            try:
                n_t = float(solver.solve_power(effect_size=dz, nobs=None, alpha=alpha, power=power, alternative=alt))
            except (ValueError, RuntimeError):
                n_t = np.nan
    if not np.isfinite(n_t):
        return np.inf
    n = max(math.ceil(n_t / are), floor)
    return float(n) if n <= max_seeds else np.inf


def power_alpha(table: pd.DataFrame, alpha: float) -> float:
    """Holm's first-step threshold alpha / m, m = tests with a p-value (or all, if none)."""
    m = int(table["p"].notna().sum()) or len(table)
    return alpha / max(m, 1)


def power_table(table: pd.DataFrame, alpha: float = 0.05, min_effect: float = 0.05) -> pd.DataFrame:
    """Add seeds needed for 80 % power for the observed effect and for ``min_effect``."""
    out = table.copy()
    threshold = power_alpha(out, alpha)
    out["power_alpha"] = threshold
    observed, minimal = [], []
    for _, row in out.iterrows():
        q = QUESTIONS[row["question"]]
        kw = {"alternative": q.alternative, "test": q.test, "k": int(row["n_levels"])}
        if q.test == "friedman" and kw["k"] < 3:
            observed.append(np.nan)
            minimal.append(np.nan)
            continue
        observed.append(seeds_for_power(row["effect"], row["sd"], threshold, **kw))
        direction = -1.0 if q.alternative == "less" else 1.0
        minimal.append(seeds_for_power(direction * min_effect, row["sd"], threshold, **kw))
    out["seeds_for_80_power_observed"] = observed
    out["seeds_for_80_power_min_effect"] = minimal
    return out


# --------------------------------------------------------------------------------------------
# The whole family


def run_tests(
    df: pd.DataFrame,
    metric: str = "accuracy",
    alpha: float = 0.05,
    min_effect: float = 0.05,
    *,
    bootstrap: bool = True,
    power: bool = True,
    n_resamples: int = 9999,
    random_state: int = 0,
) -> pd.DataFrame:
    """The verdict table: one row per test (Q1-Q4 per actor, then Q5), ``VERDICT_COLUMNS``
    first, then ``EXTRA_COLUMNS``.

    ``bootstrap=False`` / ``power=False`` skip the CIs / power (for fast simulations); the
    p-values and verdicts are the same either way.
    """
    series = per_seed_series(df, metric)
    table = holm_verdicts(pvalue_table(series), alpha)
    if bootstrap:
        cis = confidence_intervals(series, n_resamples=n_resamples, random_state=random_state)
        table[["ci_low", "ci_high", "ci_note"]] = cis[["ci_low", "ci_high", "ci_note"]].to_numpy()
        table[["ci_low", "ci_high"]] = table[["ci_low", "ci_high"]].astype(float)
    else:
        table["ci_note"] = "CI not computed"
    if power:
        table = power_table(table, alpha, min_effect)
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Descriptive statistics


@dataclass(frozen=True)
class OrderMatrix:
    """Mean and sd over seeds of R[stage][actor] for one order (columns in training order)."""

    order: str
    mean: pd.DataFrame
    sd: pd.DataFrame
    n_seeds: int


def _order_cube(ix: RunIndex, order: tuple[str, ...]) -> np.ndarray:
    """seeds x stage x actor array of R for one order (actors in training order)."""
    return np.stack([np.column_stack([ix.r(order[:t], a) for a in order]) for t in range(1, len(order) + 1)], axis=1)


def accuracy_matrices(df: pd.DataFrame, metric: str = "accuracy") -> dict[str, OrderMatrix]:
    """Per full order: the stage x eval-actor matrix of the metric, mean and sd over seeds."""
    ix = build_index(df, metric)
    out: dict[str, OrderMatrix] = {}
    for order in ix.orders:
        cube = _order_cube(ix, order)
        stages = pd.Index(range(1, len(order) + 1), name="stage")
        cols = pd.Index(order, name="eval_actor")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = pd.DataFrame(np.nanmean(cube, axis=0), index=stages, columns=cols)
            sd = pd.DataFrame(np.nanstd(cube, axis=0, ddof=1), index=stages, columns=cols)
        n_seeds = int(np.any(np.isfinite(cube), axis=(1, 2)).sum())
        out[">".join(order)] = OrderMatrix(">".join(order), mean, sd, n_seeds)
    return out


def cl_scores(matrix: np.ndarray, baseline: np.ndarray | None = None) -> dict[str, float]:
    """Continual-learning scores of one T x T matrix R[i][j] (row: after task i, col: task j).

    ACC = mean_j R[T][j]; BWT = mean_{j<T} R[T][j] - R[j][j] (Lopez-Paz & Ranzato 2017);
    FWT = mean_{j>1} R[j-1][j] - b_j with b the untrained baseline (ibid.);
    forgetting = mean_{j<T} max_{l<T} R[l][j] - R[T][j] (Chaudhry et al. 2018).
    """
    r = np.asarray(matrix, float)
    t = r.shape[0]
    out = {"ACC": float(np.mean(r[-1]))}
    if t < 2:
        return {**out, "BWT": np.nan, "FWT": np.nan, "forgetting": np.nan}
    out["BWT"] = float(np.mean([r[-1, j] - r[j, j] for j in range(t - 1)]))
    if baseline is None:
        out["FWT"] = np.nan
    else:
        out["FWT"] = float(np.mean([r[j - 1, j] - baseline[j] for j in range(1, t)]))
    out["forgetting"] = float(np.mean([r[: t - 1, j].max() - r[-1, j] for j in range(t - 1)]))
    return out


CL_COLUMNS = ("ACC", "BWT", "FWT", "forgetting")


def cl_metrics(df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """ACC, BWT, FWT, forgetting per order (mean and sd over seeds), plus an "all orders" row
    (each seed's mean over orders, then mean and sd over seeds)."""
    ix = build_index(df, metric)
    per_seed: dict[str, np.ndarray] = {}
    for order in ix.orders:
        cube = _order_cube(ix, order)
        base = np.column_stack([ix.b(a) for a in order])
        per_seed[">".join(order)] = np.array(
            [[cl_scores(cube[s], base[s])[c] for c in CL_COLUMNS] for s in range(len(ix.seeds))]
        )
    rows = []
    if per_seed:
        per_seed["all orders"] = np.mean(np.stack(list(per_seed.values())), axis=0)
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


def wilson_interval(accuracy: float, n_test: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of one accuracy measured on ``n_test`` images (statsmodels)."""
    count = round(float(accuracy) * int(n_test))
    low, high = proportion_confint(count, int(n_test), alpha=1 - confidence, method="wilson")
    return float(low), float(high)
