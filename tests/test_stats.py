"""harness.stats: hand-computed examples, scipy cross-checks, degenerate inputs, calibration."""

from __future__ import annotations

import gc
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from simulate import frame_from_nodes, node_index, simulate_results
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from harness import stats

# --------------------------------------------------------------------------------------------
# A hand-written run: 3 seeds, actors A, B, C. Only models evaluated on A (and the fresh
# models) get hand-written numbers; every other evaluation is 0.5.

HAND_ACTORS = ("A", "B", "C")
HAND = {  # (kind, what the model was trained on, eval actor): (seed 0, seed 1, seed 2)
    ("shared", "A", "A"): (0.90, 0.80, 0.70),
    ("shared", "B>A", "A"): (0.80, 0.80, 0.60),
    ("shared", "C>A", "A"): (0.90, 0.70, 0.60),
    ("shared", "B>C>A", "A"): (0.70, 0.90, 0.80),
    ("shared", "C>B>A", "A"): (0.70, 0.70, 0.60),
    ("shared", "A>B>C", "A"): (0.60, 0.60, 0.50),
    ("shared", "A>C>B", "A"): (0.80, 0.60, 0.50),
    ("shared", "B>A>C", "A"): (0.70, 0.50, 0.60),
    ("shared", "C>A>B", "A"): (0.60, 0.60, 0.40),
    ("shared", "B>C", "A"): (0.50, 0.60, 0.50),
    ("shared", "C>B", "A"): (0.60, 0.40, 0.50),
    ("shared", "A>B", "A"): (0.70, 0.70, 0.60),
    ("shared", "A>C", "A"): (0.80, 0.60, 0.60),
    ("fresh", "A", "A"): (0.80, 0.90, 0.60),
    ("fresh", "B", "B"): (0.70, 0.80, 0.50),
    ("fresh", "C", "C"): (0.90, 0.60, 0.55),
    ("untrained", "", "A"): (0.40, 0.40, 0.40),
    ("untrained", "", "B"): (0.45, 0.45, 0.45),
    ("untrained", "", "C"): (0.55, 0.55, 0.55),
}

# Hand computations (see the definitions in harness.stats.QUESTIONS):
# Q1 A: a(1) = R[A]; a(2) = mean(R[BA], R[CA]); a(3) = mean(R[BCA], R[CBA])
Q1_A = np.array([[0.90, 0.85, 0.70], [0.80, 0.75, 0.80], [0.70, 0.60, 0.70]])
# ranks per seed: (3, 2, 1), (2.5, 1, 2.5), (2.5, 1, 2.5) -> sums 8, 4, 6;
# chi2 = (12 / 36 * 116 - 36) / (1 - 12 / 72) = 3.2; p = exp(-3.2 / 2); W = 3.2 / 6
Q1_A_STAT, Q1_A_P, Q1_A_W = 3.2, math.exp(-1.6), 3.2 / 6
Q1_A_EFFECT = 0.80 - 2.2 / 3  # level means 0.8, 0.7333, 0.7333
# Q2 A: mean(R[BA], R[CA], R[BCA], R[CBA]) - F[A]
Q2_A = np.array([3.1 / 4 - 0.8, 3.1 / 4 - 0.9, 2.6 / 4 - 0.6])  # -0.025, -0.125, 0.05
# |d| ranks 2, 3, 1: T+ = 2, T- = 4; two-sided exact p = 2 * P(T+ <= 2) = 2 * 3/8
Q2_A_STAT, Q2_A_P, Q2_A_RB = 2.0, 0.75, (2 - 4) / 6
# Q3 A: mean(R[A]-R[ABC], R[A]-R[ACB], R[BA]-R[BAC], R[CA]-R[CAB])
Q3_A = np.array([0.2, 0.2, 0.15])
# all positive, T+ = 6 (ties: exact permutation over 2^3 sign patterns) -> p = 1/8
Q3_A_STAT, Q3_A_P, Q3_A_RB = 6.0, 0.125, 1.0
# Q4 A: mean(R[ABC]-R[BC], R[ACB]-R[CB], R[BAC]-R[BC], R[CAB]-R[CB])
Q4_A = np.array([0.125, 0.075, 0.0])
# zero dropped, T+ = 1 + 2 = 3; permutation: 2 of 8 patterns reach 3 -> p = 1/4
Q4_A_STAT, Q4_A_P, Q4_A_RB = 3.0, 0.25, 1.0
# Q5: F[A], F[B], F[C]; ranks (2,1,3), (3,2,1), (3,1,2) -> sums 8, 4, 6; chi2 = 8/3
Q5 = np.array([[0.80, 0.70, 0.90], [0.90, 0.80, 0.60], [0.60, 0.50, 0.55]])
Q5_STAT, Q5_P, Q5_W, Q5_EFFECT = 8 / 3, math.exp(-4 / 3), (8 / 3) / 6, 2.3 / 3 - 2.0 / 3
# Q2 B, Q2 C: 0.5 - F
Q2_B, Q2_C = np.array([-0.2, -0.3, 0.0]), np.array([-0.4, -0.1, -0.05])


def hand_results() -> pd.DataFrame:
    index = node_index(HAND_ACTORS)
    values = np.full((3, len(index)), 0.5)
    for key, per_seed in HAND.items():
        values[:, index[key]] = per_seed
    return frame_from_nodes(HAND_ACTORS, values)


@pytest.fixture(scope="module")
def hand() -> pd.DataFrame:
    return hand_results()


@pytest.fixture(scope="module")
def hand_table(hand) -> pd.DataFrame:
    return stats.run_tests(hand, n_resamples=2000)


def row(table: pd.DataFrame, question: str, actor: str = "") -> pd.Series:
    hit = table[(table["question"] == question) & (table["actor"] == actor)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_hand_per_seed_series(hand):
    series = stats.per_seed_series(hand)
    assert list(series) == [(q, a) for q in ("Q1", "Q2", "Q3", "Q4") for a in HAND_ACTORS] + [("Q5", "")]
    np.testing.assert_allclose(series[("Q1", "A")].to_numpy(), Q1_A)
    assert list(series[("Q1", "A")].columns) == [1, 2, 3]
    np.testing.assert_allclose(series[("Q2", "A")], Q2_A, atol=1e-12)
    np.testing.assert_allclose(series[("Q3", "A")], Q3_A, atol=1e-12)
    np.testing.assert_allclose(series[("Q4", "A")], Q4_A, atol=1e-12)
    np.testing.assert_allclose(series[("Q5", "")].to_numpy(), Q5)
    assert list(series[("Q5", "")].columns) == list(HAND_ACTORS)
    np.testing.assert_allclose(series[("Q2", "B")], Q2_B, atol=1e-12)
    np.testing.assert_allclose(series[("Q2", "C")], Q2_C, atol=1e-12)
    # floating-point noise is rounded away: 0.8/4 and (0.3+0.1+0.1+0.3)/4 tie exactly
    assert series[("Q3", "A")].iloc[0] == series[("Q3", "A")].iloc[1]


@pytest.mark.parametrize(
    "question, data, stat, p, size, alternative",
    [
        ("Q2", Q2_A, Q2_A_STAT, Q2_A_P, Q2_A_RB, "two-sided"),
        ("Q3", Q3_A, Q3_A_STAT, Q3_A_P, Q3_A_RB, "greater"),
        ("Q4", Q4_A, Q4_A_STAT, Q4_A_P, Q4_A_RB, "greater"),
    ],
)
def test_hand_wilcoxon(hand_table, question, data, stat, p, size, alternative):
    r = row(hand_table, question, "A")
    direct = sps.wilcoxon(data, alternative=alternative)
    assert r["statistic"] == pytest.approx(stat) == pytest.approx(direct.statistic)
    assert r["p"] == pytest.approx(p) == pytest.approx(direct.pvalue)
    assert r["effect"] == pytest.approx(data.mean())
    assert r["effect_size"] == pytest.approx(size)
    assert r["n"] == 3 and r["alternative"] == alternative


def test_hand_friedman(hand_table):
    r = row(hand_table, "Q1", "A")
    direct = sps.friedmanchisquare(*Q1_A.T)
    assert r["statistic"] == pytest.approx(Q1_A_STAT) == pytest.approx(direct.statistic)
    assert r["p"] == pytest.approx(Q1_A_P) == pytest.approx(direct.pvalue)
    assert r["effect_size"] == pytest.approx(Q1_A_W)
    assert r["effect"] == pytest.approx(Q1_A_EFFECT)
    assert r["level_means"].startswith("1: 0.8, 2: 0.7333")
    r = row(hand_table, "Q5")
    direct = sps.friedmanchisquare(*Q5.T)
    assert r["statistic"] == pytest.approx(Q5_STAT) == pytest.approx(direct.statistic)
    assert r["p"] == pytest.approx(Q5_P) == pytest.approx(direct.pvalue)
    assert r["effect_size"] == pytest.approx(Q5_W)
    assert r["effect"] == pytest.approx(Q5_EFFECT)


def test_hand_family_holm_and_verdicts(hand_table):
    t = hand_table
    assert list(t.columns[: len(stats.VERDICT_COLUMNS)]) == list(stats.VERDICT_COLUMNS)
    valid = t["p"].notna()
    expected = multipletests(t.loc[valid, "p"], method="holm")[1]
    np.testing.assert_allclose(t.loc[valid, "p_holm"], expected)
    assert row(t, "Q2", "B")["p"] == pytest.approx(sps.wilcoxon(Q2_B).pvalue)
    assert row(t, "Q2", "C")["p"] == pytest.approx(sps.wilcoxon(Q2_C).pvalue)
    # with 3 seeds nothing can reach Holm-adjusted 0.05: Friedman's best is exp(-3) = 0.0498
    assert set(t.loc[valid, "verdict"]) == {stats.cannot_be_shown(3)}
    na = t[~valid]
    assert set(na["verdict"]) == {"n/a"}
    assert row(t, "Q1", "B")["reason"] == "all levels tie within every seed"
    assert row(t, "Q3", "B")["reason"] == "all per-seed differences are zero"
    assert row(t, "Q4", "C")["reason"] == "all per-seed differences are zero"
    assert (na["reason"] != "").all() and (t.loc[valid, "reason"] == "").all()


def test_hand_bootstrap_matches_scipy(hand_table):
    # Q1 A: every seed distinct -> BCa of the range of level means, resampling whole seeds
    r = row(hand_table, "Q1", "A")
    direct = sps.bootstrap(
        tuple(Q1_A.T),
        stats._range_of_means,
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="BCa",
        rng=np.random.default_rng(0),
    )
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(direct.confidence_interval))
    # Q3 A has only 2 distinct per-seed values: mean reported, CI n/a
    r = row(hand_table, "Q3", "A")
    assert np.isnan(r["ci_low"]) and "fewer than 3 distinct" in r["ci_note"]
    assert r["effect"] == pytest.approx(0.55 / 3)


def test_bootstrap_ci_matches_scipy():
    d = np.random.default_rng(5).normal(0.03, 0.02, 12)
    low, high, note = stats.bootstrap_ci(d, n_resamples=3000, random_state=3)
    direct = sps.bootstrap(
        (d,), np.mean, n_resamples=3000, method="BCa", rng=np.random.default_rng(3)
    ).confidence_interval
    assert (low, high) == pytest.approx((direct.low, direct.high)) and note == ""
    assert stats.bootstrap_ci(np.array([0.1, 0.1, 0.2]))[2].startswith("CI n/a")


def test_hand_cl_metrics_and_matrix(hand):
    # order A>B>C, tasks A, B, C; per seed R on A after stages 1..3 = (A, AB, ABC), else 0.5
    # seed 0: ACC (0.6+0.5+0.5)/3; BWT ((0.6-0.9)+(0.5-0.5))/2 = -0.15;
    #         FWT ((0.5-0.45)+(0.5-0.55))/2 = 0; forgetting (max(0.9,0.7)-0.6 + 0)/2 = 0.15
    # seed 1: ACC 1.6/3, BWT -0.1, FWT 0, forgetting 0.1; seed 2: ACC 1.5/3, BWT -0.1, ... 0.1
    cl = stats.cl_metrics(hand).set_index("order")
    r = cl.loc["A>B>C"]
    assert r["n_seeds"] == 3
    assert r["ACC"] == pytest.approx((1.6 + 1.6 + 1.5) / 9)
    assert r["BWT"] == pytest.approx(-0.35 / 3)
    assert r["FWT"] == pytest.approx(0.0, abs=1e-12)
    assert r["forgetting"] == pytest.approx(0.35 / 3)
    assert r["BWT_sd"] == pytest.approx(np.std([-0.15, -0.1, -0.1], ddof=1))
    assert "all orders" in cl.index and len(cl) == 7
    mat = stats.accuracy_matrices(hand)["A>B>C"]
    assert list(mat.mean.columns) == ["A", "B", "C"] and list(mat.mean.index) == [1, 2, 3]
    assert mat.mean.loc[1, "A"] == pytest.approx(0.8) and mat.sd.loc[1, "A"] == pytest.approx(0.1)
    assert mat.mean.loc[3, "A"] == pytest.approx((0.6 + 0.6 + 0.5) / 3)
    assert mat.mean.loc[2, "C"] == pytest.approx(0.5) and mat.n_seeds == 3


def test_cl_scores_definitions():
    r = np.array([[0.9, 0.3, 0.2], [0.8, 0.95, 0.4], [0.6, 0.7, 0.9]])
    b = np.array([0.5, 0.25, 0.3])
    out = stats.cl_scores(r, b)
    assert out["ACC"] == pytest.approx((0.6 + 0.7 + 0.9) / 3)
    assert out["BWT"] == pytest.approx(((0.6 - 0.9) + (0.7 - 0.95)) / 2)
    assert out["FWT"] == pytest.approx(((0.3 - 0.25) + (0.4 - 0.3)) / 2)
    assert out["forgetting"] == pytest.approx(((0.9 - 0.6) + (0.95 - 0.7)) / 2)


def test_wilson_interval():
    low, high = stats.wilson_interval(0.8, 100)
    assert (low, high) == pytest.approx(proportion_confint(80, 100, method="wilson"))
    z, p, n = sps.norm.ppf(0.975), 0.8, 100  # Wilson's formula by hand
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (low, high) == pytest.approx((centre - half, centre + half))


def test_min_attainable_p():
    assert stats.min_attainable_p("wilcoxon", 5) == pytest.approx(0.0625)
    assert stats.min_attainable_p("wilcoxon", 5, alternative="greater") == pytest.approx(1 / 32)
    assert stats.min_attainable_p("wilcoxon", 10) == pytest.approx(2 / 2**10)
    assert stats.min_attainable_p("friedman", 5, 3) == pytest.approx(math.exp(-5))  # chi2 = 10
    assert stats.min_attainable_p("friedman", 4, 4) == pytest.approx(sps.chi2.sf(12, 3))
    assert stats.min_attainable_p("friedman", 5, 2) == 1.0
    assert stats.min_attainable_p("wilcoxon", 0) == 1.0
    with pytest.raises(ValueError):
        stats.min_attainable_p("t", 5)


def test_rank_biserial_and_w():
    assert stats.rank_biserial(np.array([1.0, -2.0, 3.0, 0.0])) == pytest.approx((4 - 2) / 6)
    assert np.isnan(stats.rank_biserial(np.zeros(3)))
    assert stats.kendalls_w(10.0, 5, 3) == 1.0


# --------------------------------------------------------------------------------------------
# Power


def test_seeds_for_power_inverts_predicted_power():
    alpha = 0.05 / 13
    for effect, sd, alt in ((0.05, 0.04, "greater"), (0.03, 0.05, "two-sided")):
        n = stats.seeds_for_power(effect, sd, alpha, alternative=alt)
        assert stats.predicted_power(effect, sd, n, alpha, alt) >= 0.8
        assert stats.predicted_power(effect, sd, n - 1, alpha, alt) < 0.8
    # huge effects: limited by the smallest n that can reach alpha at all (2^-n < alpha)
    assert stats.seeds_for_power(1.0, 0.01, alpha, alternative="greater") == 9
    assert stats.seeds_for_power(1.0, 0.01, alpha, alternative="two-sided") == 10
    assert stats.seeds_for_power(1.0, 0.0, alpha, alternative="greater") == 9
    assert np.isnan(stats.seeds_for_power(-0.05, 0.04, alpha, alternative="greater"))
    assert np.isnan(stats.seeds_for_power(0.05, np.nan, alpha))
    assert stats.seeds_for_power(1e-6, 1.0, alpha) == np.inf
    k3 = stats.seeds_for_power(0.05, 0.04, alpha, test="friedman", k=3)
    assert k3 > stats.seeds_for_power(0.05, 0.04, alpha)  # ARE 3/pi * 3/4 < 3/pi


def test_power_columns_present(hand_table):
    t = stats.run_tests(simulate_results(10, rng=0, forgetting=0.05), bootstrap=False)
    assert t["power_alpha"].iloc[0] == pytest.approx(0.05 / 13)
    assert t["seeds_for_80_power_min_effect"].notna().all()
    assert (t.loc[t["question"] == "Q3", "seeds_for_80_power_observed"] >= 9).all()


# --------------------------------------------------------------------------------------------
# Degenerate inputs


def assert_clean(table: pd.DataFrame) -> None:
    """Every n/a row has a reason; every other row a p-value and a verdict."""
    assert table["verdict"].notna().all() and (table["verdict"] != "").all()
    na = table["verdict"] == "n/a"
    assert (table.loc[na, "reason"] != "").all()
    assert table.loc[~na, "p"].notna().all() and table.loc[~na, "p_holm"].notna().all()


def test_two_seeds_is_na():
    t = stats.run_tests(simulate_results(2, rng=0, forgetting=0.1))
    assert_clean(t)
    assert set(t["verdict"]) == {"n/a"}
    assert t["reason"].str.startswith("too few seeds").all()


def test_two_actors_friedman_na():
    t = stats.run_tests(simulate_results(8, ("A_a", "B_b"), rng=0, forgetting=0.05))
    assert_clean(t)
    assert len(t) == 4 * 2 + 1
    friedman = t[t["question"].isin(["Q1", "Q5"])]
    assert set(friedman["verdict"]) == {"n/a"}
    assert friedman["reason"].str.contains("needs >= 3 levels").all()
    assert t.loc[t["question"] == "Q3", "p"].notna().all()


def test_all_zero_differences():
    df = simulate_results(6, rng=0, seed_sd=0, seed_actor_sd=0, noise_sd=0)
    t = stats.run_tests(df)
    assert_clean(t)
    assert set(t["verdict"]) == {"n/a"}
    assert set(t["reason"]) == {"all per-seed differences are zero", "all levels tie within every seed"}
    assert t["ci_note"].str.startswith("CI n/a").all()


def test_missing_condition():
    df = simulate_results(8, rng=0)
    t = stats.run_tests(df[df["condition"] != "fresh"])
    assert_clean(t)
    no_fresh = t[t["question"].isin(["Q2", "Q5"])]
    assert set(no_fresh["verdict"]) == {"n/a"}
    assert no_fresh["reason"].str.startswith("no data: needs fresh rows").all()
    assert t.loc[t["question"].isin(["Q1", "Q3", "Q4"]), "p"].notna().all()
    only_fresh = stats.run_tests(df[df["condition"] == "fresh"])
    assert_clean(only_fresh)
    assert only_fresh.loc[only_fresh["question"] != "Q5", "verdict"].eq("n/a").all()


def test_missing_evaluations():
    df = simulate_results(8, rng=0)
    last = "Tony_Blair>George_W_Bush>Colin_Powell"
    # seed 7 lacks one order: its values average the other orders, no seed is dropped
    partial = df[~((df["seed"] == 7) & (df["order"] == last))]
    t = stats.run_tests(partial, bootstrap=False)
    assert_clean(t)
    assert (t["n"] == 8).all()
    assert row(t, "Q3", "Tony_Blair")["note"] == ("1 per-order values missing, averaged over the other orders")
    full, part = stats.per_seed_series(df), stats.per_seed_series(partial)
    ix = stats.build_index(df)
    kept = [o for o in ix.orders if o.index("Tony_Blair") < 2 and ">".join(o) != last]
    by_hand = np.mean([ix.r(o[: o.index("Tony_Blair") + 1], "Tony_Blair")[7] - ix.r(o, "Tony_Blair")[7] for o in kept])
    assert part[("Q3", "Tony_Blair")][7] == pytest.approx(by_hand)
    assert part[("Q3", "Tony_Blair")][6] == full[("Q3", "Tony_Blair")][6]
    # seed 7 lacks its fresh models: dropped from Q2 and Q5 only
    t = stats.run_tests(df[~((df["seed"] == 7) & (df["condition"] == "fresh"))], bootstrap=False)
    assert_clean(t)
    assert (t.loc[t["question"].isin(["Q2", "Q5"]), "n"] == 7).all()
    assert (t.loc[t["question"].isin(["Q1", "Q3", "Q4"]), "n"] == 8).all()
    assert row(t, "Q5")["note"] == "1 of 8 seeds dropped for missing data"


def test_five_seeds_cannot_be_shown():
    df = simulate_results(
        5, rng=0, learn=0.3, forgetting=0.2, order_effect=0.3, shared_gap=0.3, actor_effects=(0.0, 0.1, 0.2)
    )
    t = stats.run_tests(df, bootstrap=False)
    assert set(t["verdict"]) == {"cannot be shown with 5 seeds"}
    q2 = t[t["question"] == "Q2"]
    assert (q2["min_p_attainable"] == 0.0625).all() and (q2["p"] == 0.0625).all()
    # the same effects with 10 seeds are shown
    t10 = stats.run_tests(simulate_results(10, rng=0, learn=0.3, forgetting=0.2), bootstrap=False, power=False)
    assert (t10.loc[t10["question"] == "Q3", "verdict"] == "real").all()


def test_validation_errors():
    df = simulate_results(3, rng=0)
    with pytest.raises(ValueError, match="lacks column"):
        stats.run_tests(df.drop(columns=["eval_actor"]))
    with pytest.raises(ValueError, match="no metric column 'auc'"):
        stats.run_tests(df, metric="auc")
    with pytest.raises(ValueError, match="no rows"):
        stats.run_tests(df.iloc[:0])
    t = stats.run_tests(df.assign(stage=df["stage"].astype(float)), metric="f1", bootstrap=False)
    assert len(t) == 13


def test_discrete_accuracies_with_ties():
    t = stats.run_tests(simulate_results(8, rng=3, discrete=True, forgetting=0.05))
    assert_clean(t)
    assert t["p"].between(0, 1).all()


def test_parse_order():
    assert stats.parse_order("Tony_Blair>George_W_Bush") == ("Tony_Blair", "George_W_Bush")
    assert stats.parse_order(float("nan")) == () and stats.parse_order("") == ()


# --------------------------------------------------------------------------------------------
# Calibration by simulation


@pytest.fixture
def frozen_gc():
    """statsmodels' Holm step calls gc.collect(); freezing the heap keeps 1000 runs fast."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def test_null_calibration(frozen_gc):
    """No effect anywhere: each verdict and the family are "real" at most alpha + 3 MC SE."""
    n_sims, alpha = 1000, 0.05
    rng = np.random.default_rng(20240601)
    real, raw = [], []
    for _ in range(n_sims):
        t = stats.run_tests(simulate_results(10, rng=rng), alpha=alpha, bootstrap=False, power=False)
        real.append((t["verdict"] == "real").to_numpy())
        raw.append((t["p"] < alpha).to_numpy())
    real, raw = np.array(real), np.array(raw)
    limit = alpha + 3 * math.sqrt(alpha * (1 - alpha) / n_sims)
    assert real.mean(axis=0).max() <= limit
    assert real.any(axis=1).mean() <= limit  # family-wise
    # the raw tests are calibrated too (not only rescued by Holm)
    assert raw.mean(axis=0).max() <= limit


def detection(question: str, n_seeds: int, n_sims: int, **effects) -> tuple[float, float, int]:
    """Rate of "real" for ``question`` (all actors pooled) and the pooled per-seed sd."""
    rng = np.random.default_rng(11)
    hits, values = [], []
    for _ in range(n_sims):
        series = stats.per_seed_series(simulate_results(n_seeds, rng=rng, **effects))
        table = stats.holm_verdicts(stats.pvalue_table(series))  # = run_tests(bootstrap=False)
        hits += list(table.loc[table["question"] == question, "verdict"] == "real")
        for (q, _), data in series.items():
            if q == question:
                m = data.to_numpy()
                values.append(m if m.ndim == 1 else m[:, -1] - m[:, 0])
    return float(np.mean(hits)), float(np.std(np.concatenate(values), ddof=1)), len(hits)


# Tolerance: 3 Monte-Carlo standard errors (the three actors' tests are independent: their
# noise and seed x actor effects are) plus 0.05 for the approximation itself (paired-t power at
# n * 3/pi seeds): with 1000 studies (3000 tests) per scenario the prediction was within 0.02
# of the observed rate (Q3: 0.611 vs 0.604; Q2: 0.479 vs 0.463).
APPROXIMATION = 0.05


@pytest.mark.parametrize(
    "question, alternative, effects",
    [
        ("Q3", "greater", {"forgetting": 0.025}),
        ("Q2", "two-sided", {"shared_gap": 0.035, "learn": -0.035}),  # no Q4 effect
    ],
)
def test_power_prediction_wilcoxon(frozen_gc, question, alternative, effects):
    n_seeds, true_effect = 12, next(iter(effects.values()))
    rate, sd, n = detection(question, n_seeds, 200, **effects)
    predicted = stats.predicted_power(true_effect, sd, n_seeds, 0.05 / 13, alternative)
    assert 0.25 < predicted < 0.85  # not vacuous
    tolerance = 3 * math.sqrt(predicted * (1 - predicted) / n) + APPROXIMATION
    assert abs(rate - predicted) <= tolerance, (rate, predicted)


def test_power_prediction_friedman_is_conservative(frozen_gc):
    """Q1 with a linear order effect: the extreme-levels analogue may only under-predict."""
    n_seeds, effect = 15, 0.04
    rate, sd, n = detection("Q1", n_seeds, 150, order_effect=effect)
    predicted = stats.predicted_power(effect, sd, n_seeds, 0.05 / 13, "two-sided", stats.friedman_are(3))
    assert 0.2 < predicted < 0.9
    assert rate >= predicted - 3 * math.sqrt(predicted * (1 - predicted) / n)
    assert rate <= predicted + 0.25, (rate, predicted)
