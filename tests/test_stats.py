"""harness.analysis: hand-computed examples, scipy/statsmodels cross-checks, verdicts, validation."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from simulate import frame_from_nodes, node_index, simulate_results
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint

from harness.analysis import Analysis, Claim, Decision, Family, Verdict, analyse, primary_tests
from harness.analysis.continual import cl_scores
from harness.analysis.families import decide_primary, difference_evidence, level_evidence
from harness.analysis.intervals import largest_pairwise_bound, t_interval, wilson_interval
from harness.analysis.power import friedman_are, seeds_for_power
from harness.analysis.procedures import RESAMPLES, PairedT, PermutationFriedman, SignFlip
from harness.errors import HarnessError

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

# Hand computations (see the definitions in harness.analysis.questions):
# Q1 A: a(1) = R[A]; a(2) = mean(R[BA], R[CA]); a(3) = mean(R[BCA], R[CBA])
Q1_A = np.array([[0.90, 0.85, 0.70], [0.80, 0.75, 0.80], [0.70, 0.60, 0.70]])
# ranks per seed: (3, 2, 1), (2.5, 1, 2.5), (2.5, 1, 2.5) -> sums 8, 4, 6;
# chi2 = (12 / 36 * 116 - 36) / (1 - 12 / 72) = 3.2
Q1_A_STAT = 3.2
# Q2 A: mean(R[BA], R[CA], R[BCA], R[CBA]) - F[A]
Q2_A = np.array([3.1 / 4 - 0.8, 3.1 / 4 - 0.9, 2.6 / 4 - 0.6])  # -0.025, -0.125, 0.05
# Q3 A: mean(R[A]-R[ABC], R[A]-R[ACB], R[BA]-R[BAC], R[CA]-R[CAB])
Q3_A = np.array([0.2, 0.2, 0.15])
# Q4 A: mean(R[ABC]-R[BC], R[ACB]-R[CB], R[BAC]-R[BC], R[CAB]-R[CB])
Q4_A = np.array([0.125, 0.075, 0.0])
# Q5: F[A], F[B], F[C]; ranks (2,1,3), (3,2,1), (3,1,2) -> sums 8, 4, 6; chi2 = 8/3
Q5 = np.array([[0.80, 0.70, 0.90], [0.90, 0.80, 0.60], [0.60, 0.50, 0.55]])
Q5_STAT = 8 / 3
# Q2 B, Q2 C: 0.5 - F
Q2_B, Q2_C = np.array([-0.2, -0.3, 0.0]), np.array([-0.4, -0.1, -0.05])


def hand_results() -> pd.DataFrame:
    index = node_index(HAND_ACTORS)
    values = np.full((3, len(index)), 0.5)
    for key, per_seed in HAND.items():
        values[:, index[key]] = per_seed
    return frame_from_nodes(HAND_ACTORS, values)


@pytest.fixture(scope="module")
def hand() -> Analysis:
    return analyse(hand_results(), "accuracy", 0.05, 0.05)


def find(decisions, claim: str, actor: str = "") -> Decision:
    hits = [d for d in decisions if d.claim == claim and d.actor == actor]
    assert len(hits) == 1
    return hits[0]


def friedman_p_by_enumeration(table: np.ndarray) -> float:
    """Every assignment of each seed's values to the levels: P(sum of squared rank sums >= observed)."""
    ranks = sps.rankdata(table, axis=1)
    observed = (ranks.sum(axis=0) ** 2).sum()
    k = table.shape[1]
    hits = total = 0
    for perms in itertools.product(list(itertools.permutations(range(k))), repeat=len(table)):
        sums = sum(r[list(p)] for r, p in zip(ranks, perms, strict=True))
        hits += (sums**2).sum() >= observed - 1e-9
        total += 1
    return hits / total


def sign_flip_p_by_enumeration(d: np.ndarray, alternative: str) -> float:
    """Every sign pattern: the share whose mean is at least as extreme as the observed mean."""
    means = np.array([np.mean(d * s) for s in itertools.product((1, -1), repeat=len(d))])
    observed = np.mean(d)
    greater = np.mean(means >= observed - 1e-12)
    less = np.mean(means <= observed + 1e-12)
    return greater if alternative == "greater" else min(1.0, 2 * min(greater, less))


# --------------------------------------------------------------------------------------------
# Hand-computed examples: exploratory family (per actor)


def test_hand_per_seed_values(hand):
    e = hand.exploratory
    np.testing.assert_allclose(find(e, "Q1", "A").per_seed.to_numpy(), Q1_A)
    assert list(find(e, "Q1", "A").per_seed.columns) == [1, 2, 3]
    for claim, actor, expected in (
        ("Q2", "A", Q2_A),
        ("Q3", "A", Q3_A),
        ("Q4", "A", Q4_A),
        ("Q2", "B", Q2_B),
        ("Q2", "C", Q2_C),
    ):
        np.testing.assert_allclose(find(e, claim, actor).per_seed, expected, atol=1e-12)
    np.testing.assert_allclose(find(e, "Q5").per_seed.to_numpy(), Q5)
    # floating-point noise is rounded away: 0.8/4 and (0.3+0.1+0.1+0.3)/4 tie exactly
    q3 = find(e, "Q3", "A").per_seed
    assert q3.iloc[0] == q3.iloc[1]


@pytest.mark.parametrize(
    "claim, actor, data, p, alternative",
    [
        ("Q2", "A", Q2_A, 0.75, "two-sided"),  # sums of +-0.025 +-0.125 +-0.05: 3 of 8 <= -0.1
        ("Q2", "B", Q2_B, 0.5, "two-sided"),  # the zero flips to itself: 2 of 8 <= -0.5
        ("Q2", "C", Q2_C, 0.25, "two-sided"),  # all negative: 1 of 8, doubled
        ("Q3", "A", Q3_A, 1 / 8, "greater"),  # all positive
        ("Q4", "A", Q4_A, 1 / 4, "greater"),  # zero: 2 of 8 patterns reach the observed mean
    ],
)
def test_hand_sign_flip(hand, claim, actor, data, p, alternative):
    d = find(hand.exploratory, claim, actor)
    assert d.p == pytest.approx(p) == pytest.approx(sign_flip_p_by_enumeration(data, alternative))
    direct = sps.permutation_test((data,), np.mean, permutation_type="samples", alternative=alternative)
    assert d.p == pytest.approx(direct.pvalue)
    assert d.effect == pytest.approx(data.mean()) and d.statistic == pytest.approx(data.mean())
    assert (d.ci_low, d.ci_high) == pytest.approx(tuple(sps.ttest_1samp(data, 0).confidence_interval()))
    assert d.n == 3 and d.alternative == alternative and d.method == "exact, 8 permutations"


def test_hand_friedman(hand):
    for claim, actor, table, chi2 in (("Q1", "A", Q1_A, Q1_A_STAT), ("Q5", "", Q5, Q5_STAT)):
        d = find(hand.exploratory, claim, actor)
        assert d.statistic == pytest.approx(chi2) == pytest.approx(sps.friedmanchisquare(*table.T).statistic)
        direct = sps.permutation_test(
            tuple(table.T),
            lambda *levels: sps.friedmanchisquare(*levels).statistic,
            permutation_type="samples",
            alternative="greater",
        )
        assert d.p == pytest.approx(friedman_p_by_enumeration(table)) == pytest.approx(direct.pvalue)
        assert d.method == "exact, 216 permutations" and d.min_p_exact == pytest.approx(6 / 216)
        means = [level.mean for _, level in d.levels]
        np.testing.assert_allclose(means, table.mean(axis=0))
        assert np.isnan(d.effect) and np.isnan(d.ci_low)  # no single effect, no interval on a range
    contrast = find(hand.exploratory, "Q1", "A").contrast  # later positions minus the first
    later_minus_first = Q1_A[:, 1:].mean(axis=1) - Q1_A[:, 0]
    assert contrast.mean == pytest.approx(later_minus_first.mean())
    assert (contrast.low, contrast.high) == pytest.approx(
        tuple(sps.ttest_1samp(later_minus_first, 0).confidence_interval())
    )


def test_hand_exploratory_holm_and_verdicts(hand):
    e = hand.exploratory
    assert len(e) == 13 and all(d.family == "exploratory" for d in e)
    valid = [d for d in e if not d.reason]
    np.testing.assert_allclose([d.p_adjusted for d in valid], multipletests([d.p for d in valid], method="holm")[1])
    # 3 seeds: best sign-flip p 1/8 (one-sided), best Friedman p 1/36; Holm makes nothing reachable
    assert {d.label for d in valid} == {"cannot be shown with 3 seeds"}
    assert find(e, "Q1", "B").reason == "all levels tie within every seed"
    assert find(e, "Q3", "B").reason == "all per-seed differences are zero"
    assert find(e, "Q4", "C").reason == "all per-seed differences are zero"
    assert all(d.verdict == Verdict.NA and d.label == "n/a" for d in e if d.reason)


# --------------------------------------------------------------------------------------------
# Hand-computed examples: primary family (pooled over actors)


def pooled_terms(df: pd.DataFrame, claim: str) -> tuple[np.ndarray, np.ndarray]:
    """The two paired columns of Q2 or Q3, per seed: mean over actors of the mean over orders,
    computed here from results.csv's columns without harness.analysis."""
    shared = df[df["condition"] == "shared"]
    k = shared["position"].max()
    at = shared[shared["stage"] == shared["position"]]  # right after training the actor
    final = shared[shared["stage"] == k]
    if claim == "Q3":
        first = at[at["position"] < k].groupby(["seed", "eval_actor"])["accuracy"].mean()
        second = final[final["position"] < k].groupby(["seed", "eval_actor"])["accuracy"].mean()
    else:
        first = at[at["position"] > 1].groupby(["seed", "eval_actor"])["accuracy"].mean()
        fresh = df[(df["condition"] == "fresh") & (df["trained_actor"] == df["eval_actor"])]
        second = fresh.groupby(["seed", "eval_actor"])["accuracy"].mean()
    return first.groupby("seed").mean().to_numpy(), second.groupby("seed").mean().to_numpy()


def test_hand_primary_equals_scipy_on_pooled_means(hand):
    df = hand_results()
    p = hand.primary
    assert [d.claim for d in p] == list(Claim) and all(d.actor == "" and d.family == "primary" for d in p)
    after, final = pooled_terms(df, "Q3")
    q3 = find(p, "Q3")
    np.testing.assert_allclose(q3.per_seed, Q3_A / 3, atol=1e-12)  # B and C forget nothing
    assert q3.p == pytest.approx(sps.ttest_rel(after, final, alternative="greater").pvalue)
    assert q3.p == pytest.approx(sps.ttest_1samp(Q3_A / 3, 0, alternative="greater").pvalue)
    shared, fresh = pooled_terms(df, "Q2")
    q2 = find(p, "Q2")
    np.testing.assert_allclose(q2.per_seed, (Q2_A + Q2_B + Q2_C) / 3, atol=1e-12)
    assert q2.p == pytest.approx(sps.ttest_rel(shared, fresh).pvalue)
    assert q2.statistic == pytest.approx(sps.ttest_rel(shared, fresh).statistic)
    assert q2.p_exact == pytest.approx(sign_flip_p_by_enumeration((Q2_A + Q2_B + Q2_C) / 3, "two-sided"))
    q4 = find(p, "Q4")
    assert q4.p == pytest.approx(sps.ttest_1samp(Q4_A / 3, 0, alternative="greater").pvalue)
    # Q1 pooled: A's levels averaged with B's and C's constant 0.5: same within-seed ranks as Q1 A
    q1 = find(p, "Q1")
    np.testing.assert_allclose(q1.per_seed.to_numpy(), (Q1_A + 1.0) / 3)
    assert q1.p == pytest.approx(friedman_p_by_enumeration(Q1_A))
    assert find(p, "Q5").p == pytest.approx(friedman_p_by_enumeration(Q5))
    np.testing.assert_allclose([d.p_adjusted for d in p], multipletests([d.p for d in p], method="holm")[1])
    assert all(np.isnan(d.effect) for d in p if d.claim in ("Q1", "Q5"))


def test_primary_tests_is_the_unadjusted_primary_family(hand):
    evidence = primary_tests(hand_results(), "accuracy")
    assert [e.claim for e in evidence] == list(Claim)
    assert [e.p for e in evidence] == pytest.approx([d.p for d in hand.primary], nan_ok=True)
    assert not hasattr(evidence[0], "p_adjusted")


def test_primary_p_values_equal_scipy_on_a_simulated_study():
    df = simulate_results(7, rng=4, forgetting=0.05, learn=0.1)
    evidence = primary_tests(df, "accuracy")
    after, final = pooled_terms(df, "Q3")
    assert evidence[2].p == pytest.approx(sps.ttest_rel(after, final, alternative="greater").pvalue)
    shared, fresh = pooled_terms(df, "Q2")
    assert evidence[1].p == pytest.approx(sps.ttest_rel(shared, fresh).pvalue)
    assert evidence[1].p == pytest.approx(sps.ttest_1samp(shared - fresh, 0).pvalue)


# --------------------------------------------------------------------------------------------
# Verdicts and safeguards


def primary_of(values, claim: Claim = Claim.Q3, min_effect: float = 0.05) -> Decision:
    series = pd.Series(values, index=pd.Index(range(len(values)), name="seed"), dtype=float)
    return decide_primary((difference_evidence(Family.PRIMARY, claim, "", series),), 0.05, min_effect)[0]


def test_verdict_real_with_ci():
    d = primary_of([0.1, 0.12, 0.09, 0.11, 0.1])
    assert d.verdict == Verdict.REAL and d.label == "real" and d.ci_low > 0
    assert np.isnan(d.seeds_needed) and not d.fragile and not d.sign_flip_disagrees


def test_verdict_no_effect_only_from_the_equivalence_test():
    small = [0.004, -0.003, 0.001, 0.002, -0.001, 0.0, 0.003, -0.002]
    d = primary_of(small, Claim.Q2)
    ci90 = sps.ttest_1samp(small, 0).confidence_interval(0.90)
    assert -0.05 < ci90.low and ci90.high < 0.05
    assert d.verdict == Verdict.NO_EFFECT and d.label == "no effect >= 0.05"
    # the same mean with a wide spread: not shown, but not absent either
    wide = primary_of([0.12, -0.1, 0.06, -0.08, 0.01], Claim.Q2)
    assert wide.verdict == Verdict.UNDECIDED and wide.label == "undecided with 5 seeds"
    solver = TTestPower()
    needed = wide.seeds_needed
    dz = 0.05 / wide.sd
    assert solver.power(dz, needed, 0.05, alternative="two-sided") >= 0.8
    assert solver.power(dz, needed - 1, 0.05, alternative="two-sided") < 0.8


def test_equivalence_test_is_at_the_family_alpha():
    """ "no effect" is TOST at --alpha: the (1 - 2 alpha) t-interval inside +-min-effect, not a
    90 % interval whatever alpha is (that would be an equivalence test at 0.05 beside "real" at 0.01)."""
    values = [0.06, -0.02, 0.05, -0.01, 0.03, 0.01]
    series = pd.Series(values, index=pd.Index(range(len(values)), name="seed"), dtype=float)
    evidence = (difference_evidence(Family.PRIMARY, Claim.Q2, "", series),)
    assert sps.ttest_1samp(values, 0).confidence_interval(0.90).high < 0.05  # TOST at 0.05 says equivalent
    assert sps.ttest_1samp(values, 0).confidence_interval(0.98).high > 0.05  # TOST at 0.01 does not
    assert decide_primary(evidence, 0.05, 0.05)[0].verdict == Verdict.NO_EFFECT
    assert decide_primary(evidence, 0.01, 0.05)[0].verdict == Verdict.UNDECIDED


def test_no_forgetting_is_a_one_sided_equivalence_test():
    """Q3/Q4 are one-sided claims: "no effect >= 0.05" rules out a forgetting of 0.05 or more (the
    upper bound of the 90 % interval below 0.05, a one-sided test at alpha), so a model that clearly
    gets *better* on earlier actors has no forgetting of 0.05, though its interval reaches below -0.05."""
    values = [-0.09, -0.06, -0.1, -0.07, -0.08]
    ci90 = sps.ttest_1samp(values, 0).confidence_interval(0.90)
    assert ci90.low < -0.05 and ci90.high < 0.05
    assert primary_of(values, Claim.Q3).verdict == Verdict.NO_EFFECT
    assert primary_of(values, Claim.Q2).verdict == Verdict.REAL  # two-sided: a real (negative) effect
    near = [-0.03, 0.09, 0.0, 0.07, 0.02]  # upper bound above 0.05: forgetting of 0.05 not ruled out
    assert sps.ttest_1samp(near, 0).confidence_interval(0.90).high > 0.05
    assert primary_of(near, Claim.Q3).verdict == Verdict.UNDECIDED


def test_no_order_effect_from_the_intersection_union_test_of_every_pair_of_positions():
    """Q1 "order does not matter" is supported only when every pairwise difference of positions has
    its (1 - 2 alpha) t-interval inside +-min-effect (each a TOST at alpha; their intersection-union
    test is at alpha too), computed here with scipy pair by pair."""
    rng = np.random.default_rng(3)
    close = pd.DataFrame(0.7 + rng.normal(0, 0.004, (8, 3)), index=pd.Index(range(8), name="seed"), columns=[1, 2, 3])
    far = close.copy()
    far[3] += rng.normal(0.0, 0.1, 8)  # noisy: position 3 could be 0.05 better or worse than the others
    for table, expected in ((close, Verdict.NO_EFFECT), (far, Verdict.UNDECIDED)):
        evidence = (level_evidence(Family.PRIMARY, Claim.Q1, "", table, 1.0),)
        values = table.to_numpy()
        pairs = [values[:, i] - values[:, j] for i in range(3) for j in range(i + 1, 3)]
        inside = all(
            -0.05 < ci.low and ci.high < 0.05 for ci in (sps.ttest_1samp(d, 0).confidence_interval(0.90) for d in pairs)
        )
        assert inside == (expected is Verdict.NO_EFFECT)
        assert decide_primary(evidence, 0.05, 0.05)[0].verdict == expected


def test_skewed_seeds_are_fragile_and_the_sign_flip_test_disagrees():
    """All positive but one seed carries the mean: the t-test does not reject, the exact
    sign-flip test does (1/64 < 0.05), and leaving out that seed changes the verdict."""
    d = primary_of([0.007, 0.002, 0.006, 0.18, 0.028, 0.018])
    assert d.verdict == Verdict.UNDECIDED and d.p > 0.05
    assert d.p_exact == pytest.approx(1 / 64)
    assert d.sign_flip_disagrees and d.fragile


@pytest.mark.parametrize("claim", [Claim.Q1, Claim.Q5])
def test_a_no_effect_of_levels_is_fragile_when_it_rests_on_every_seed(claim):
    """Q1's and Q5's "no effect" is t-based (every pairwise (1 - 2 alpha) t-interval inside
    +-min-effect), so it is checked by leaving out each seed: with min-effect just above the largest
    bound one seed less overturns it, with min-effect far above it nothing does. Their permutation
    Friedman p is kept, so leaving out a seed cannot make them real."""
    rng = np.random.default_rng(5)
    table = pd.DataFrame(0.7 + rng.normal(0, 0.02, (8, 3)), index=pd.Index(range(8), name="seed"), columns=[1, 2, 3])
    evidence = (level_evidence(Family.PRIMARY, claim, "", table, 1.0),)
    assert evidence[0].p > 0.05
    bound = largest_pairwise_bound(evidence[0].values, 0.90)
    tight, loose = (decide_primary(evidence, 0.05, m)[0] for m in (bound * 1.001, bound * 3))
    assert tight.verdict == loose.verdict == Verdict.NO_EFFECT
    assert tight.fragile and not loose.fragile and not tight.sign_flip_disagrees
    assert tight.label == "no effect >= " + f"{bound * 1.001:g}"


def test_sign_flip_that_cannot_reach_the_threshold_is_not_a_disagreement():
    d = primary_of([0.1, 0.12, 0.09, 0.11, 0.1])  # 5 seeds: exact one-sided minimum 1/32
    assert d.p_exact == pytest.approx(1 / 32) and d.verdict == Verdict.REAL
    five = decide_primary(primary_tests(simulate_results(5, rng=0, forgetting=0.1), "accuracy"), 0.05, 0.05)
    # Holm over 5: the sign-flip test's floor 5/32 is above alpha, so it cannot disagree
    assert not any(d.sign_flip_disagrees for d in five)


def test_five_seeds_can_decide_now():
    df = simulate_results(5, rng=0, forgetting=0.1, forgetting_sd=0.02)
    a = analyse(df, "accuracy", 0.05, 0.05)
    assert find(a.primary, "Q3").verdict == Verdict.REAL
    # the exploratory family still cannot with 5 seeds: sign-flip minimum 1/32 over 13 tests
    assert find(a.exploratory, "Q3", "Tony_Blair").label == "cannot be shown with 5 seeds"
    assert find(a.exploratory, "Q1", "Tony_Blair").min_p_exact == pytest.approx(1 / 1296)


# --------------------------------------------------------------------------------------------
# Procedures, intervals, power


def test_min_p():
    assert SignFlip("greater").min_p(5) == pytest.approx(1 / 32)
    assert SignFlip("two-sided").min_p(5) == pytest.approx(1 / 16)
    assert SignFlip("greater").min_p(30) == pytest.approx(1 / (RESAMPLES + 1))  # Monte Carlo
    assert PermutationFriedman().min_p(5, 3) == pytest.approx(1 / 1296)
    assert PermutationFriedman().min_p(3, 4) == pytest.approx(24 / 24**3)
    assert PairedT().min_p(5) == 0.0


# --------------------------------------------------------------------------------------------
# Exact ties: values equal in exact arithmetic are equal for every test, whatever float sums give

# Hand-made, on the 1/90 grid (numbers are 90ths): per seed, F[X] = R[X] of A, B, C and the two
# position-2 models of each actor (B>A, C>A; A>B, C>B; A>C, B>C); every position-3 model is 70/90.
# In every seed the pooled position-1 and position-2 levels are equal (sum F / 270 = sum of the
# position-2 values / 540: 92/135 = 0.681481..., 177/270 = 0.655556 ...), but summed in floats they
# end 1e-12 apart, in either direction.
TIE_SEEDS = (
    ((61, 58, 65), ((61, 65), (55, 60), (64, 63))),
    ((62, 60, 62), ((64, 55), (62, 59), (65, 63))),
    ((65, 57, 55), ((57, 58), (57, 58), (62, 62))),
    ((57, 60, 60), ((60, 56), (60, 57), (65, 56))),
)
POSITION_2 = {"A": ("B>A", "C>A"), "B": ("A>B", "C>B"), "C": ("A>C", "B>C")}
POSITION_3 = {"A": ("B>C>A", "C>B>A"), "B": ("A>C>B", "C>A>B"), "C": ("A>B>C", "B>A>C")}


def tied_levels_results() -> pd.DataFrame:
    index = node_index(HAND_ACTORS)
    values = np.full((len(TIE_SEEDS), len(index)), 0.5)
    for s, (fresh, second) in enumerate(TIE_SEEDS):
        for x, f, pair in zip(HAND_ACTORS, fresh, second, strict=True):
            values[s, index[("fresh", x, x)]] = values[s, index[("shared", x, x)]] = f / 90
            for order, g in zip(POSITION_2[x], pair, strict=True):
                values[s, index[("shared", order, x)]] = g / 90
            for order in POSITION_3[x]:
                values[s, index[("shared", order, x)]] = 70 / 90
    return frame_from_nodes(HAND_ACTORS, values)


def test_exact_ties_of_pooled_levels_rank_as_ties():
    """Pooled Q1 levels equal in exact arithmetic rank 1.5, 1.5, 3 in every seed, so the exact p is
    P(every seed puts its best level at the same position) = 3 / 3^4 = 1/27; broken by float noise
    into 1, 2, 3 and 2, 1, 3 the same table gave another p."""
    q1 = analyse(tied_levels_results(), "accuracy", 0.05, 0.05).primary[0]
    exact = [
        (Fraction(sum(f), 270), Fraction(sum(sum(pair) for pair in g), 540), Fraction(70, 90)) for f, g in TIE_SEEDS
    ]
    assert all(a == b for a, b, _ in exact)  # the hand-made ties are exact
    assert q1.p == pytest.approx(1 / 27)
    table = q1.per_seed.to_numpy()
    np.testing.assert_array_equal(sps.rankdata(table, axis=1), [[1.5, 1.5, 3]] * len(TIE_SEEDS))
    np.testing.assert_array_equal(table, [[round(float(v), 9) for v in row] for row in exact])  # the grid
    assert q1.p == pytest.approx(friedman_p_by_enumeration(table))
    direct = sps.permutation_test(
        tuple(table.T),
        lambda *levels: sps.friedmanchisquare(*levels).statistic,
        permutation_type="samples",
        alternative="greater",
    )
    assert q1.p == pytest.approx(direct.pvalue)


# Hand-made: actor A's Q2 per seed, mean of its four later-position models minus F[A], in 90ths;
# every other evaluation is 0.5. The differences are (11, 0, 9, 11, -20, -11) / 360: they sum to 0
# exactly, and so do the flips of {0}, {11, 9, -20}, {11, -11}, ...
FLIP_SEEDS = (
    (62, (67, 63, 65, 64)),
    (58, (60, 56, 58, 58)),
    (59, (64, 59, 61, 61)),
    (63, (68, 64, 66, 65)),
    (60, (57, 53, 55, 55)),
    (61, (61, 56, 58, 58)),
)
LATER_A = (("shared", "B>A", "A"), ("shared", "C>A", "A"), ("shared", "B>C>A", "A"), ("shared", "C>B>A", "A"))


def test_exact_ties_of_sign_flip_sums_count_as_ties():
    """Every null sum equal to the observed sum (0) in exact arithmetic counts, so the two-sided
    exact p is 1 (by enumeration on fractions); with float sums, near-zero null sums fell on either
    side of a near-zero observed mean and the same data gave 0.875."""
    index = node_index(HAND_ACTORS)
    values = np.full((len(FLIP_SEEDS), len(index)), 0.5)
    for s, (fresh, later) in enumerate(FLIP_SEEDS):
        values[s, index[("fresh", "A", "A")]] = values[s, index[("shared", "A", "A")]] = fresh / 90
        for key, v in zip(LATER_A, later, strict=True):
            values[s, index[key]] = v / 90
    a = analyse(frame_from_nodes(HAND_ACTORS, values), "accuracy", 0.05, 0.05)
    d = [Fraction(sum(later), 360) - Fraction(fresh, 90) for fresh, later in FLIP_SEEDS]
    assert sum(d) == 0
    sums = [sum(x * s for x, s in zip(d, signs, strict=True)) for signs in itertools.product((1, -1), repeat=len(d))]
    exact_p = min(1.0, 2 * min(np.mean([v >= 0 for v in sums]), np.mean([v <= 0 for v in sums])))
    assert exact_p == 1.0
    assert find(a.exploratory, "Q2", "A").p == exact_p
    assert find(a.primary, "Q2").p_exact == exact_p  # pooled: d / 3, the same ties


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_exact_tests_equal_scipy_on_tie_free_data(alternative):
    """Where nothing ties, the grid changes nothing: scipy's permutation_test on the raw values."""
    rng = np.random.default_rng(11)
    d = rng.normal(0.02, 0.05, 7)
    direct = sps.permutation_test((d,), np.mean, permutation_type="samples", alternative=alternative)
    assert SignFlip(alternative).run(d).p == pytest.approx(direct.pvalue)
    table = rng.normal(0.7, 0.05, (5, 3))
    friedman = sps.permutation_test(
        tuple(table.T),
        lambda *levels: sps.friedmanchisquare(*levels).statistic,
        permutation_type="samples",
        alternative="greater",
    )
    assert PermutationFriedman().run(table).p == pytest.approx(friedman.pvalue)


def test_monte_carlo_beyond_the_exact_limit():
    table = np.random.default_rng(2).normal(size=(9, 3))  # 6^9 permutations: Monte Carlo
    ours = PermutationFriedman().run(table)
    assert not ours.exact and ours.permutations == RESAMPLES and ours.method == "Monte Carlo, 9999 draws"
    direct = sps.permutation_test(
        tuple(table.T),
        lambda *levels: sps.friedmanchisquare(*levels).statistic,
        permutation_type="samples",
        alternative="greater",
        n_resamples=RESAMPLES,
        rng=np.random.default_rng(0),
    )
    se = math.sqrt(direct.pvalue * (1 - direct.pvalue) / RESAMPLES)
    assert abs(ours.p - direct.pvalue) < 5 * se + 1e-3
    assert PermutationFriedman().run(table).p == ours.p  # fixed generator: reproducible
    d = np.random.default_rng(3).normal(0.01, 0.02, 25)
    flip = SignFlip("greater").run(d)
    assert not flip.exact and flip.p == SignFlip("greater").run(d).p


def test_the_smallest_alpha_on_six_seeds_gives_seeds_needed_without_overflow():
    """alpha 0.001 puts the exploratory family's first threshold at 0.001/13, below the Monte Carlo
    floor 1/10000 of the permutation tests (Friedman from 7 seeds on, sign-flip from 17): seeds
    beyond those can never show it (inf, "> 10000"), and the search says so instead of overflowing
    float(3!)**n."""
    a = analyse(simulate_results(6, rng=1), "accuracy", 0.001, 0.05)
    for d in a.exploratory:  # alpha / 13, below the Monte Carlo floor: only an exact test reaches it
        assert d.power_alpha < 1 / (RESAMPLES + 1) and d.seeds_needed <= 16 or math.isinf(d.seeds_needed)
    assert all(math.isinf(d.seeds_needed) for d in a.exploratory if d.claim in (Claim.Q1, Claim.Q5))
    assert PermutationFriedman().min_p(10_000, 3) == pytest.approx(1 / (RESAMPLES + 1))
    assert SignFlip("greater").min_p(2_000) == pytest.approx(1 / (RESAMPLES + 1))


def test_t_interval_equals_scipy():
    x = np.random.default_rng(5).normal(0.03, 0.02, 12)
    for level in (0.95, 0.90):
        ours = t_interval(x, level)
        direct = sps.ttest_1samp(x, 0).confidence_interval(level)
        assert (ours.low, ours.high) == pytest.approx((direct.low, direct.high))
    assert np.isnan(t_interval(np.array([0.1, 0.1, 0.1])).low)


def test_seeds_for_power_inverts_statsmodels():
    solver = TTestPower()
    for effect, sd, alt in ((0.05, 0.04, "greater"), (0.03, 0.05, "two-sided")):
        n = seeds_for_power(effect, sd, 0.01, alt)
        sm_alt = "larger" if alt == "greater" else alt
        assert solver.power(effect / sd, n, 0.01, alternative=sm_alt) >= 0.8
        assert solver.power(effect / sd, n - 1, 0.01, alternative=sm_alt) < 0.8
    assert np.isnan(seeds_for_power(0.05, np.nan, 0.05)) and np.isnan(seeds_for_power(0.05, 0.0, 0.05))
    assert seeds_for_power(1e-6, 1.0, 0.05) == np.inf
    assert seeds_for_power(0.05, 0.04, 0.01, efficiency=friedman_are(3)) > seeds_for_power(0.05, 0.04, 0.01)


def test_largest_pairwise_bound_is_nan_when_any_pair_has_no_interval_in_any_column_order():
    """Two levels 0.08 apart in every seed have no t-interval (sd 0): that must not let the other
    pairs' narrow intervals pass the table for "no two levels differ by 0.05"."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.7, 0.01, 6)
    c = a + 0.04 + rng.normal(0, 0.001, 6)
    for table in (np.column_stack([a, a + 0.08, c]), np.column_stack([a, c, a + 0.08])):
        assert np.isnan(largest_pairwise_bound(table))
    table = np.column_stack([a, c, a + 0.01 + rng.normal(0, 0.001, 6)])
    expected = max(
        np.abs(sps.ttest_1samp(table[:, i] - table[:, j], 0).confidence_interval(0.95)).max()
        for i, j in ((0, 1), (0, 2), (1, 2))
    )
    assert largest_pairwise_bound(table) == pytest.approx(expected)


def test_wilson_interval():
    low, high = wilson_interval(0.8, 100)
    assert (low, high) == pytest.approx(proportion_confint(80, 100, method="wilson"))
    z, p, n = sps.norm.ppf(0.975), 0.8, 100  # Wilson's formula by hand
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (low, high) == pytest.approx((centre - half, centre + half))


# --------------------------------------------------------------------------------------------
# Continual-learning metrics


def test_hand_cl_metrics_and_matrix(hand):
    # order A>B>C, tasks A, B, C; per seed R on A after stages 1..3 = (A, AB, ABC), else 0.5
    # seed 0: ACC (0.6+0.5+0.5)/3; BWT ((0.6-0.9)+(0.5-0.5))/2 = -0.15;
    #         FWT ((0.5-0.45)+(0.5-0.55))/2 = 0; forgetting (max(0.9,0.7)-0.6 + 0)/2 = 0.15
    # seed 1: ACC 1.6/3, BWT -0.1, FWT 0, forgetting 0.1; seed 2: ACC 1.5/3, BWT -0.1, ... 0.1
    cl = hand.cl_metrics.set_index("order")
    r = cl.loc["A>B>C"]
    assert r["n_seeds"] == 3
    assert r["ACC"] == pytest.approx((1.6 + 1.6 + 1.5) / 9)
    assert r["BWT"] == pytest.approx(-0.35 / 3)
    assert r["FWT"] == pytest.approx(0.0, abs=1e-12)
    assert r["forgetting"] == pytest.approx(0.35 / 3)
    assert r["BWT_sd"] == pytest.approx(np.std([-0.15, -0.1, -0.1], ddof=1))
    assert "all orders" in cl.index and len(cl) == 7
    mat = hand.matrices["A>B>C"]
    assert list(mat.mean.columns) == ["A", "B", "C"] and list(mat.mean.index) == [1, 2, 3]
    assert mat.mean.loc[1, "A"] == pytest.approx(0.8) and mat.sd.loc[1, "A"] == pytest.approx(0.1)
    assert mat.mean.loc[3, "A"] == pytest.approx((0.6 + 0.6 + 0.5) / 3)
    assert mat.mean.loc[2, "C"] == pytest.approx(0.5) and mat.n_seeds == 3


def test_cl_scores_definitions():
    r = np.array([[0.9, 0.3, 0.2], [0.8, 0.95, 0.4], [0.6, 0.7, 0.9]])
    b = np.array([0.5, 0.25, 0.3])
    out = cl_scores(r, b)
    assert out["ACC"] == pytest.approx((0.6 + 0.7 + 0.9) / 3)
    assert out["BWT"] == pytest.approx(((0.6 - 0.9) + (0.7 - 0.95)) / 2)
    assert out["FWT"] == pytest.approx(((0.3 - 0.25) + (0.4 - 0.3)) / 2)
    assert out["forgetting"] == pytest.approx(((0.9 - 0.6) + (0.95 - 0.7)) / 2)


def test_forgetting_of_a_loss_is_from_its_best_value():
    """For log loss and Brier (lower is better) the best value is the lowest: a loss that only falls
    as training goes on forgets nothing, and one that rises from its best has forgotten."""
    loss = np.array([[0.3, 0.7, 0.7], [0.2, 0.3, 0.7], [0.2, 0.3, 0.3]])  # learnt, kept
    assert cl_scores(loss, sign=-1.0)["forgetting"] == pytest.approx(0.0)
    rises = np.array([[0.3, 0.7, 0.7], [0.5, 0.3, 0.7], [0.6, 0.4, 0.3]])
    assert cl_scores(rises, sign=-1.0)["forgetting"] == pytest.approx(((0.6 - 0.3) + (0.4 - 0.3)) / 2)
    df = simulate_results(4, rng=3)
    df["log_loss"] = 1.0 - df["accuracy"]
    acc, loss = analyse(df, "accuracy", 0.05, 0.05), analyse(df, "log_loss", 0.05, 0.05)
    assert loss.cl_metrics["forgetting"].to_numpy() == pytest.approx(acc.cl_metrics["forgetting"].to_numpy())


# --------------------------------------------------------------------------------------------
# Orientation, degenerate inputs, missing data


def test_lower_is_better_metrics_are_oriented():
    df = simulate_results(6, rng=1, forgetting=0.1)
    df["log_loss"] = 1.0 - df["accuracy"]  # goodness goes down as the loss goes up
    acc = primary_tests(df, "accuracy")
    loss = primary_tests(df, "log_loss")
    for a, b in zip(acc[1:4], loss[1:4], strict=True):
        assert b.effect == pytest.approx(a.effect) and b.p == pytest.approx(a.p)
    assert loss[2].effect > 0  # forgetting is a loss of goodness for either metric


def test_two_seeds_is_na():
    a = analyse(simulate_results(2, rng=0, forgetting=0.1), "accuracy", 0.05, 0.05)
    assert {d.verdict for d in a.decisions} == {Verdict.NA}
    assert all(d.reason.startswith("too few seeds") for d in a.decisions)


def test_two_actors():
    a = analyse(simulate_results(8, ("A_a", "B_b"), rng=0, forgetting=0.1), "accuracy", 0.05, 0.05)
    assert len(a.exploratory) == 4 * 2 + 1
    assert all(not d.reason for d in a.primary)  # two positions, two actors: Friedman still runs
    assert find(a.primary, "Q3").verdict == Verdict.REAL


def test_all_zero_differences():
    df = simulate_results(6, rng=0, seed_sd=0, seed_actor_sd=0, step_sd=0, n_pos=1000, n_neg=1000)
    df["accuracy"] = 0.7  # every model alike
    a = analyse(df, "accuracy", 0.05, 0.05)
    assert {d.verdict for d in a.decisions} == {Verdict.NA}
    assert {d.reason for d in a.decisions} == {"all per-seed differences are zero", "all levels tie within every seed"}


def test_fresh_rows_are_the_depth_one_nodes():
    """Without fresh rows, Q2 and Q5 read the depth-1 shared nodes: the same models."""
    df = simulate_results(8, rng=0)
    with_fresh = primary_tests(df, "accuracy")
    without = primary_tests(df[df["condition"] != "fresh"], "accuracy")
    assert [e.p for e in without] == pytest.approx([e.p for e in with_fresh])


def test_missing_evaluations():
    df = simulate_results(8, rng=0)
    last = "Tony_Blair>George_W_Bush>Colin_Powell"
    partial = df[~((df["seed"] == 7) & (df["order"] == last))]  # seed 7 lacks one order
    a = analyse(partial, "accuracy", 0.05, 0.05)
    assert all(d.n == 8 for d in a.decisions if not d.reason)
    # seed 7 lacks every evaluation of Colin_Powell: dropped from the pooled tests only
    b = analyse(df[~((df["seed"] == 7) & (df["eval_actor"] == "Colin_Powell"))], "accuracy", 0.05, 0.05)
    assert find(b.primary, "Q3").n == 7 and find(b.primary, "Q3").note == "1 of 8 seeds dropped for missing data"
    assert find(b.exploratory, "Q3", "Tony_Blair").n == 8


def test_seeds_planned_for_the_fresh_models_are_not_reported_as_missing_data():
    """A results.csv whose seeds 5-7 trained only the fresh models, by plan (``--seeds auto``; ``plan``
    'fresh', no shared rows): Q1-Q4 are tested on the other 5, which the note says without calling the
    3 missing; a seed that lost rows without a plan still counts as missing data."""
    df = simulate_results(8, rng=0)
    df["plan"] = np.where(df["seed"] >= 5, "fresh", "tree")
    df = df[~((df["seed"] >= 5) & (df["condition"] == "shared"))]
    a = analyse(df, "accuracy", 0.05, 0.05)
    planned = "tested on the 5 seeds that trained the whole tree; 3 seeds trained only the fresh models, by plan"
    assert find(a.primary, "Q3").n == 5 and find(a.primary, "Q3").note == planned
    assert find(a.primary, "Q5").n == 8 and find(a.primary, "Q5").note == ""
    assert all("missing" not in d.note for d in a.decisions)
    b = analyse(df[~((df["seed"] == 0) & (df["eval_actor"] == "Colin_Powell"))], "accuracy", 0.05, 0.05)
    note = "tested on the 4 seeds that trained the whole tree; 3 seeds trained only the fresh models, by plan"
    assert find(b.primary, "Q3").note == f"{note}; 1 of 8 seeds dropped for missing data"


# --------------------------------------------------------------------------------------------
# Validation: one line naming results.csv and the row


def bad(df: pd.DataFrame, metric: str = "accuracy") -> str:
    with pytest.raises(HarnessError) as error:
        analyse(df, metric, 0.05, 0.05)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("accuracy", np.inf, "accuracy inf is outside [0, 1]"),
        ("accuracy", 1.5, "accuracy 1.5 is outside [0, 1]"),
        ("accuracy", -0.1, "accuracy -0.1 is outside [0, 1]"),
        ("accuracy", "abc", "accuracy 'abc' is not a number"),
        ("seed", 1.5, "seed 1.5 is not an integer"),
        ("seed", "x", "seed 'x' is not an integer"),
        ("condition", "shraed", "unknown condition 'shraed'"),
    ],
)
def test_bad_values_name_the_line(column, value, expected):
    df = simulate_results(3, rng=0).astype({column: object})
    df.loc[7, column] = value
    message = bad(df)
    assert message.startswith("results.csv line 9 (") and expected in message


def test_duplicated_rows_and_bad_metrics():
    df = simulate_results(3, rng=0)
    message = bad(pd.concat([df, df.iloc[[4]]], ignore_index=True))
    assert f"results.csv line {len(df) + 2}" in message and "repeats line 6" in message
    assert "is not a metric" in bad(df, "seed") and "is not a metric" in bad(df, "auc")
    assert "lacks column(s) eval_actor" in bad(df.drop(columns=["eval_actor"]))
    assert "has no rows" in bad(df.iloc[:0])
    assert "lacks column(s) log_loss" in bad(df.drop(columns=["log_loss"]), "log_loss")
    assert "column log_loss has no values" in bad(df, "log_loss")  # the simulator leaves it empty
    assert len(analyse(df.assign(stage=df["stage"].astype(float)), "f1", 0.05, 0.05).exploratory) == 13


def test_a_repeated_untrained_row_and_an_actor_only_untrained_rows_evaluate_are_named():
    df = simulate_results(3, rng=0)
    untrained = df.index[df["condition"] == "untrained"]
    assert df.loc[untrained, "order"].isna().all()  # as results.csv has them: an empty order
    message = bad(pd.concat([df, df.loc[untrained[[1]]]], ignore_index=True))
    assert f"results.csv line {len(df) + 2}" in message and f"repeats line {untrained[1] + 2}" in message
    stranger = df.loc[untrained[[0]]].assign(eval_actor="Zed")
    message = bad(pd.concat([df, stranger], ignore_index=True))
    assert f"results.csv line {len(df) + 2}" in message and "'Zed' is evaluated only in untrained rows" in message
