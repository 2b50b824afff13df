"""Group-sequential boundaries against published tables, and the per-look decision rules."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from simulate import ClaimEvidence as Claim

from harness.analysis.sequential import (
    Spending,
    boundaries,
    crossing_probability,
    decide_look,
    equivalence_confidence,
    nominal_p,
    repeated_interval,
    repeated_p,
)
from harness.config import MAX_LOOKS, Design
from harness.errors import HarnessError
from harness.looks import ClaimLook, LookDecision


def equal(k: int) -> list[float]:
    return [i / k for i in range(1, k + 1)]


@pytest.mark.parametrize(("looks", "constant"), [(2, 2.178), (3, 2.289), (4, 2.361), (5, 2.413)])
def test_pocock_constants_match_jennison_and_turnbull_table_2_1(looks, constant):
    bounds = boundaries(equal(looks), 0.05, Spending.POCOCK)
    assert bounds == pytest.approx([constant] * looks, abs=1e-3)


def test_obrien_fleming_boundaries_match_jennison_and_turnbull_table_2_3():
    assert boundaries(equal(4), 0.05, Spending.OBF) == pytest.approx([4.048, 2.862, 2.337, 2.024], abs=1e-3)
    assert boundaries(equal(5), 0.05, Spending.OBF)[-1] == pytest.approx(2.040, abs=1e-3)


def test_one_look_is_the_fixed_sample_test_and_one_sided_boundaries_are_lower():
    assert boundaries([1.0], 0.05, Spending.POCOCK)[0] == pytest.approx(stats.norm.isf(0.025), abs=1e-5)
    assert boundaries([1.0], 0.05, Spending.OBF, "greater")[0] == pytest.approx(stats.norm.isf(0.05), abs=1e-5)
    one_sided = boundaries(equal(4), 0.05, Spending.POCOCK, "greater")
    assert crossing_probability(one_sided[0], equal(4), Spending.POCOCK, "greater") == pytest.approx(0.05, abs=1e-4)
    assert (one_sided < boundaries(equal(4), 0.05, Spending.POCOCK)).all()


def test_unequal_looks_keep_the_crossing_probability_at_alpha():
    fractions = [5 / 17, 10 / 17, 15 / 17, 1.0]
    for spending in Spending:
        constant = boundaries(fractions, 0.01, spending)[-1]  # the shape is 1 at t = 1
        assert crossing_probability(constant, fractions, spending) == pytest.approx(0.01, abs=1e-4)


def test_design_looks_and_fractions():
    assert Design(max_seeds=20, look_every=5, q5_max_seeds=20).looks == (5, 10, 15, 20)
    assert Design(max_seeds=12, look_every=5, q5_max_seeds=12).looks == (5, 10, 12)
    assert Design(max_seeds=12, look_every=5).fractions == pytest.approx((5 / 12, 10 / 12, 1.0))
    with pytest.raises(HarnessError, match="look_every"):
        Design(max_seeds=4, look_every=5)


def test_each_claim_has_its_own_looks_and_fractions_and_q5_a_horizon_of_its_own():
    design = Design(max_seeds=12, look_every=5)  # Q5's horizon: 3 x 12 = 36
    assert design.q5_max_seeds == 36 and design.looks == (5, 10, 12, 15, 20, 25, 30, 35, 36)
    assert design.claim_looks("Q3") == (5, 10, 12) and design.claim_fractions("Q3")[-1] == 1.0
    assert design.claim_looks("Q5") == (5, 10, 15, 20, 25, 30, 35, 36)
    assert design.claim_fractions("Q5") == pytest.approx([n / 36 for n in (5, 10, 15, 20, 25, 30, 35, 36)])
    assert design.claim_look("Q5", 12) is None and design.claim_look("Q1", 15) is None
    # At 12 seeds only Q1-Q4 look; at 15 only Q5, against its own boundaries at 15 / 36.
    family = [Claim(f"Q{i}", "two-sided" if i in (1, 2, 5) else "greater", 0.5) for i in range(1, 6)]
    assert [r.claim for r in decide_look(design, 2, family)] == ["Q1", "Q2", "Q3", "Q4"]
    (q5,) = decide_look(design, 3, family)
    own = boundaries(design.claim_fractions("Q5"), 0.01, Spending.POCOCK)[2]
    assert (q5.claim, q5.seeds, q5.boundary_z) == ("Q5", 15, pytest.approx(own))
    with pytest.raises(HarnessError, match="q5_max_seeds must be at least"):
        Design(max_seeds=20, q5_max_seeds=10)


def test_a_design_with_too_many_looks_is_refused_and_many_looks_solve_fast():
    with pytest.raises(HarnessError, match="600 looks .* at most 60 looks per claim: look every 10 seeds or more"):
        Design(max_seeds=200, look_every=1)
    started = time.monotonic()
    for alternative in ("two-sided", "greater"):
        boundaries(equal(MAX_LOOKS), 0.01, Spending.OBF, alternative)
    assert time.monotonic() - started < 20  # about 2 s each on a shared 2-core machine (the MVN integral: minutes)


@pytest.mark.parametrize("looks", [2, 4, pytest.param(8, marks=pytest.mark.heavy)])
def test_the_recursive_integration_agrees_with_the_multivariate_normal_integral(looks):
    """The crossing probability against scipy's multivariate normal cdf (Genz), the reference."""
    fractions = np.array([(i + 1) ** 1.3 for i in range(looks)]) / looks**1.3  # unequal increments
    for spending, alternative in [(Spending.POCOCK, "two-sided"), (Spending.OBF, "greater")]:
        upper = 2.3 * (np.ones(looks) if spending == Spending.POCOCK else 1 / np.sqrt(fractions))
        lower = -upper if alternative == "two-sided" else np.full(looks, -np.inf)
        cov = np.sqrt(np.minimum.outer(fractions, fractions) / np.maximum.outer(fractions, fractions))
        rng = np.random.default_rng(0)
        stay = stats.multivariate_normal.cdf(upper, cov=cov, lower_limit=lower, abseps=1e-7, releps=1e-7, rng=rng)
        assert crossing_probability(2.3, fractions, spending, alternative) == pytest.approx(1 - stay, abs=2e-6)


def test_repeated_p_equals_the_level_at_which_the_boundary_is_just_reached():
    fractions = equal(4)
    for spending in Spending:
        bound = boundaries(fractions, 0.03, spending)
        for look in range(4):
            p = float(nominal_p(bound[look]))
            assert repeated_p(p, look, fractions, spending, "two-sided") == pytest.approx(0.03, abs=2e-4)
    assert repeated_p(0.5, 0, fractions, Spending.POCOCK, "two-sided") > 0.5  # never below the raw p


def test_repeated_interval_is_wider_than_the_fixed_sample_interval():
    fractions = equal(4)
    low, high = repeated_interval(0.1, 0.05, 10, 1, fractions, Spending.POCOCK, 0.05)
    half = stats.t.isf(0.025, 9) * 0.05 / math.sqrt(10)
    assert low < 0.1 - half and high > 0.1 + half and (low + high) / 2 == pytest.approx(0.1)
    assert all(math.isnan(v) for v in repeated_interval(math.nan, 0.05, 10, 1, fractions, Spending.POCOCK, 0.05))


def test_a_one_sided_repeated_interval_excludes_zero_exactly_when_the_claim_crosses():
    fractions, n, sd = equal(4), 8, 0.05
    level = float(nominal_p(boundaries(fractions, 0.01, Spending.POCOCK, "greater")[1], "greater"))
    for p in (level * 0.9, level * 1.1):
        effect = stats.t.isf(p, n - 1) * sd / math.sqrt(n)  # the mean whose one-sided t-test p is p
        low, high = repeated_interval(effect, sd, n, 1, fractions, Spending.POCOCK, 0.01, "greater")
        assert high == math.inf and (low > 0) == (p <= level)


def test_a_rejection_passes_its_alpha_to_the_others_at_the_same_look():
    design = Design(max_seeds=20, look_every=5, alpha=0.05)
    pocock = lambda alpha: float(nominal_p(boundaries(design.fractions, alpha, Spending.POCOCK)[0]))  # noqa: E731
    # Q2 fails alpha/5 but passes alpha/4: rejected only after Q1's rejection frees its share.
    family = [Claim("Q1", "two-sided", 1e-6), Claim("Q2", "two-sided", (pocock(0.01) + pocock(0.0125)) / 2)]
    family += [Claim(f"Q{i}", "two-sided", 0.9) for i in (3, 4, 5)]
    records = {r.claim: r for r in decide_look(design, 0, family)}
    assert records["Q1"].decision == records["Q2"].decision == LookDecision.EFFECT
    assert records["Q1"].alpha == pytest.approx(0.01) and records["Q2"].alpha == pytest.approx(0.0125)
    assert records["Q3"].alpha == pytest.approx(0.05 / 3) and records["Q3"].decision == LookDecision.OPEN
    assert records["Q2"].boundary_p == pytest.approx(pocock(0.0125))
    # Without Q1's rejection Q2 stays open.
    alone = {r.claim: r for r in decide_look(design, 0, [family[1], *family[2:], Claim("Q1", "two-sided", 0.9)])}
    assert alone["Q2"].decision == LookDecision.OPEN


def test_a_look_at_which_every_claim_is_shown_decides_them_all():
    design = Design(max_seeds=20, look_every=5, alpha=0.05)
    family = [Claim(f"Q{i}", "two-sided" if i in (1, 2, 5) else "greater", 1e-9) for i in range(1, 6)]
    records = decide_look(design, 0, family)
    assert [r.decision for r in records] == [LookDecision.EFFECT] * 5
    assert [r.alpha for r in records] == pytest.approx([0.01] * 5)  # all crossed at the first pass
    # Every claim but the last crosses first; the last only once their shares are freed: alpha / 1.
    last = float(nominal_p(boundaries(design.claim_fractions("Q5"), 0.05, Spending.POCOCK)[0]))
    staggered = [*family[:4], Claim("Q5", "two-sided", last * 0.99)]
    records = decide_look(design, 0, staggered)
    assert [r.decision for r in records] == [LookDecision.EFFECT] * 5 and records[-1].alpha == pytest.approx(0.05)


def test_q2_shown_shows_q1_at_the_same_look_and_the_report_says_why(tmp_path):
    """Closed testing: Q2's contrast is Q1's, so Q2 shown shows Q1 (its own p far from its boundary),
    and the two freed shares pass to the claims still open at the same look."""
    from harness.auto import Result, Stop, summary, write_summary
    from harness.report.sequential import section

    design = Design(max_seeds=20, look_every=5, alpha=0.05)
    family = [Claim("Q1", "two-sided", 0.3), Claim("Q2", "two-sided", 1e-9)]
    family += [Claim(f"Q{i}", "two-sided", 0.9) for i in (3, 4, 5)]
    records = decide_look(design, 0, family)
    by_claim = {r.claim: r for r in records}
    assert by_claim["Q1"].decision == by_claim["Q2"].decision == LookDecision.EFFECT
    assert by_claim["Q1"].p > by_claim["Q1"].boundary_p
    assert by_claim["Q1"].shown_by == "Q2" and by_claim["Q2"].shown_by == ""  # recorded when decided
    assert by_claim["Q3"].alpha == pytest.approx(0.05 / 3) and by_claim["Q3"].decision == LookDecision.OPEN
    write_summary(
        tmp_path, summary(design, Result(Stop.MAX_SEEDS, 5, list(records), math.nan, {}), "accuracy", None, 3)
    )
    looks = "\n".join(section(tmp_path)).split("### Looks")[1].split("### Adjusted")[0]
    rows = {line.split(" | ")[2]: line for line in looks.splitlines() if line.startswith("| 1 ")}
    assert rows["Q1"].endswith("| effect (as Q2 is) |") and rows["Q2"].endswith("| effect |")


def test_decided_claims_are_not_retested_and_keep_the_levels_they_freed():
    design = Design(max_seeds=10, look_every=5)
    first = (
        ClaimLook(
            "Q1", 0, 5, "two-sided", 0.01, 1e-6, math.nan, math.nan, math.nan, math.nan, 3.0, 0.002, LookDecision.EFFECT
        ),
        ClaimLook("Q3", 0, 5, "greater", 0.0125, 0.6, -0.01, -0.05, 0.02, 0.05, 3.0, 0.002, LookDecision.NO_EFFECT),
    )
    family = [Claim("Q1", "two-sided", 0.9), Claim("Q3", "greater", 1e-9), Claim("Q2", "two-sided", 0.5)]
    records = decide_look(design, 1, family, first)
    assert [r.claim for r in records] == ["Q2"]
    assert records[0].alpha == pytest.approx(0.05 / 2)  # m = 3, one rejected


def with_upper_bound(bound: float, confidence: float, n: int = 5, sd: float = 0.02) -> np.ndarray:
    """n per-seed values whose two-sided ``confidence`` t-interval ends at ``bound``."""
    z = np.array([-1.2, -0.6, 0.0, 0.6, 1.2])[:n]
    values = z / np.std(z, ddof=1) * sd
    return values + bound - stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)


def test_futility_bounds_are_the_repeated_one_sided_bounds_at_alpha():
    design = Design(max_seeds=20, look_every=5, alpha=0.05)
    one_sided = boundaries(design.fractions, 0.05, Spending.POCOCK, "greater")[0]
    assert equivalence_confidence(design, "Q2", 5) == pytest.approx(1 - 2 * stats.norm.sf(one_sided))
    assert 0.90 < equivalence_confidence(design, "Q2", 5) < 0.97  # wider than the fixed 90 %: four looks
    assert equivalence_confidence(Design(max_seeds=5, look_every=5, alpha=0.05), "Q2", 5) == pytest.approx(0.90)


def test_futility_closes_a_claim_only_when_its_repeated_bounds_rule_min_effect_out():
    design = Design(max_seeds=20, look_every=5, min_effect=0.05)
    level = equivalence_confidence(design, "Q2", 5)
    family = [
        Claim("Q3", "greater", 0.4, values=with_upper_bound(0.049, level)),  # upper bound below 0.05: no effect
        Claim("Q4", "greater", 0.4, values=with_upper_bound(0.049, 0.95)),  # the 95 % bound is not enough
        Claim("Q2", "two-sided", 0.4, values=with_upper_bound(0.051, level)),  # could be 0.051: open
    ]
    decisions = {r.claim: r.decision for r in decide_look(design, 0, family)}
    assert decisions == {"Q3": LookDecision.NO_EFFECT, "Q4": LookDecision.OPEN, "Q2": LookDecision.OPEN}
    centred = with_upper_bound(0.049, level) - with_upper_bound(0.049, level).mean()  # inside +-0.049
    (q2,) = decide_look(design, 0, [Claim("Q2", "two-sided", 0.4, values=centred)])
    assert q2.decision == LookDecision.NO_EFFECT


def test_futility_of_a_level_claim_needs_every_pair_of_levels_within_min_effect():
    design = Design(max_seeds=20, look_every=5, min_effect=0.05)
    level = equivalence_confidence(design, "Q2", 5)
    close = with_upper_bound(0.049, level) - with_upper_bound(0.049, level).mean()  # a pair's difference
    base = np.array([0.7, 0.72, 0.69, 0.71, 0.7])
    table = np.column_stack([base, base + close, base + close / 10])  # widest pair: the first two
    (q5,) = decide_look(design, 0, [Claim("Q5", "two-sided", 0.4, values=table)])
    assert q5.decision == LookDecision.NO_EFFECT
    table[:, 2] = base + with_upper_bound(0.051, level)  # the third actor could be 0.051 better than the first
    (q5,) = decide_look(design, 0, [Claim("Q5", "two-sided", 0.4, values=table)])
    assert q5.decision == LookDecision.OPEN
    (q1,) = decide_look(design, 0, [Claim("Q1", "two-sided", 0.4)])  # no values: efficacy only
    assert q1.decision == LookDecision.OPEN


def test_a_claim_without_a_test_stays_open():
    (record,) = decide_look(Design(), 0, [Claim("Q1", "two-sided", math.nan)])
    assert record.decision == LookDecision.OPEN and np.isnan(record.p)


def test_the_report_shows_a_futility_stop_as_no_effect_with_its_equivalence_bounds(tmp_path):
    """Futility rests on the repeated bounds at alpha, which lie inside +-min-effect for a claim closed
    as "no effect", even where the repeated CI at the claim's smaller level reaches beyond them (Q2
    of the README's LFW run: 0.006, 95 % CI +-0.0245 at 5 seeds)."""
    from harness.auto import Result, Stop, summary, write_summary
    from harness.report.sequential import section

    design = Design(max_seeds=20, look_every=5, alpha=0.05, min_effect=0.05)
    sd = 0.0245 / stats.t.isf(0.025, 4) * math.sqrt(5)
    q2 = ClaimLook(
        "Q2", 0, 5, "two-sided", 0.01, 0.51, 0.006, -0.0185, 0.0305, sd, 2.939, 0.0033, LookDecision.NO_EFFECT
    )
    q3 = ClaimLook("Q3", 0, 5, "greater", 0.01, 0.3, 0.004, -0.008, 0.016, 0.01, 2.7, 0.0034, LookDecision.NO_EFFECT)
    content = summary(design, Result(Stop.MAX_SEEDS, 20, [q2, q3], math.nan, {}), "accuracy", None, 3)
    first, second = content["looks"]
    assert first["repeated_ci_low"] < -0.05 or first["repeated_ci_high"] > 0.05
    assert -0.05 < first["equivalence_low"] and first["equivalence_high"] < 0.05
    assert second["equivalence_low"] == -math.inf and second["equivalence_high"] < 0.05
    write_summary(tmp_path, content)
    adjusted = "\n".join(section(tmp_path)).split("### Adjusted for the looks")[1]
    rows = {line.split(" | ")[0]: line for line in adjusted.splitlines() if line.startswith("| Q")}
    low, high = first["equivalence_low"], first["equivalence_high"]
    assert "no effect >= 0.05" in rows["| Q2"] and f"[{low:.3f}, {high:.3f}]" in rows["| Q2"]
    assert f"(-inf, {second['equivalence_high']:.3f}]" in rows["| Q3"]
    shown = replace(q3, claim="Q4", decision=LookDecision.EFFECT, p=1e-4)  # bounds only where they decided
    write_summary(tmp_path, summary(design, Result(Stop.DECIDED, 5, [shown], math.nan, {}), "accuracy", None, 3))
    adjusted = "\n".join(section(tmp_path)).split("### Adjusted for the looks")[1]
    row = next(line for line in adjusted.splitlines() if line.startswith("| Q4"))
    assert row.split(" | ")[4] == "-"


def test_a_sequential_file_from_before_the_equivalence_bounds_keeps_calling_it_a_futility_stop(tmp_path):
    from harness.auto import Result, Stop, summary, write_summary
    from harness.report.sequential import section

    design = Design(max_seeds=20, look_every=5)
    q3 = ClaimLook("Q3", 0, 5, "greater", 0.01, 0.3, 0.004, -0.008, 0.016, 0.01, 2.7, 0.0034, LookDecision.NO_EFFECT)
    content = summary(design, Result(Stop.MAX_SEEDS, 20, [q3], math.nan, {}), "accuracy", None, 3)
    for look in content["looks"]:
        del look["equivalence_low"], look["equivalence_high"]
    write_summary(tmp_path, content)
    adjusted = "\n".join(section(tmp_path)).split("### Adjusted for the looks")[1]
    row = next(line for line in adjusted.splitlines() if line.startswith("| Q3"))
    assert "futility stop at 5 seeds" in row and "no effect" not in row


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"design": {}}', b"\xff\xfe"])
def test_a_sequential_file_that_cannot_be_read_leaves_a_note_instead_of_no_section(tmp_path, content):
    """Without the section the report would show only the fixed-sample verdicts, which ignore the looks."""
    from harness.report.sequential import HEADING, section

    (tmp_path / "sequential.json").write_bytes(content)
    lines = section(tmp_path)
    assert lines[0] == HEADING
    assert f"{tmp_path / 'sequential.json'} cannot be read" in lines[2] and "do not account for the looks" in lines[2]
