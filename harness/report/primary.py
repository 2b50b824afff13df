"""Section 1: the five primary claims, the answer the report opens with."""

from __future__ import annotations

from harness.analysis import Analysis, Claim, Decision, Verdict
from harness.analysis.intervals import t_interval
from harness.report.formatting import (
    FRAGILE,
    SIGN_FLIP_DISAGREES,
    effect_text,
    md_table,
    num,
    per_seed_text,
    pval,
    verdict_text,
)
from harness.schema import Alternative

HEADING = "## 1. The original study's claims (primary family)"

SUPPORTS, AGAINST, CANNOT_TELL = "supports the claim", "evidence against the claim", "cannot tell"


def reading(d: Decision) -> str:
    """What the verdict means for the claim in the original study's words."""
    if d.verdict is Verdict.NA:
        return CANNOT_TELL
    if d.claim is Claim.Q1:  # the claim is the absence of an effect
        return {Verdict.REAL: AGAINST, Verdict.NO_EFFECT: SUPPORTS}.get(d.verdict, CANNOT_TELL)
    if d.claim is Claim.Q2:  # effect = shared minus fresh; the claim predicts a negative one
        if d.verdict is Verdict.REAL:
            return SUPPORTS if d.effect < 0 else AGAINST
        return AGAINST if d.verdict is Verdict.NO_EFFECT else CANNOT_TELL
    if d.verdict is Verdict.REAL:
        return SUPPORTS
    return AGAINST if d.verdict is Verdict.NO_EFFECT else CANNOT_TELL


def line(d: Decision) -> str:
    """One plain-text line per claim, for the terminal."""
    return (
        f'{d.claim} "{d.claim.words}": {verdict_text(d)}; {reading(d)}. Effect {effect_text(d)}; '
        f"p (t) {pval(d.p if d.has_single_effect else None)}, p (exact) {pval(d.p_exact)}, "
        f"adjusted p {pval(d.p_adjusted)}"
    )


def _flag_notes(a: Analysis) -> list[str]:
    notes = []
    for d in a.primary:
        if d.shown_by:
            notes.append(
                f"- **{d.claim} is real as {d.shown_by} is** (closed testing): {d.shown_by}'s contrast is "
                f"{d.claim}'s planned contrast, so {d.claim}'s null implies {d.shown_by}'s; {d.claim}'s own "
                f"{d.test.name} test alone gives p {pval(d.p)}. One piece of evidence, not two."
            )
        if d.fragile:
            notes.append(f"- **{d.claim} is {FRAGILE}**: leaving out one seed changes its verdict.")
        if d.sign_flip_disagrees:
            notes.append(
                f"- **{d.claim}: {SIGN_FLIP_DISAGREES}**: the exact sign-flip test decides otherwise "
                f"(its Holm-adjusted p {pval(d.p_adjusted_exact)}), so the t-test's normality matters here."
            )
        if d.verdict is Verdict.REAL and d.alternative == Alternative.GREATER and not d.ci_low > 0:
            low = t_interval(d.values, 1 - 2 * a.alpha).low
            notes.append(
                f"- **{d.claim} is real by its one-sided test** (at its Holm step the level is above 0.025): "
                f"its two-sided 95 % interval reaches below 0, its one-sided {100 * (1 - a.alpha):g} % lower "
                f"bound is {num(low)}."
            )
    return notes


def _seed_notes(a: Analysis) -> list[str]:
    """Claims tested on fewer seeds than the run holds: each is analysed on the seeds that hold the
    models it reads (a ``--seeds auto`` study trains only the fresh models once Q5 alone is open)."""
    return [
        f"- {d.claim} is tested on {d.n} of {len(a.seeds)} seeds: the others lack the models it reads "
        "(seeds that trained only the fresh models, or missing rows)."
        for d in a.primary
        if not d.reason and d.n < len(a.seeds)
    ]


def section(a: Analysis) -> list[str]:
    rows = [
        (
            f'"{d.claim.words}"',
            f"{d.claim} {d.claim.title.replace(' X', ' an actor')}",
            verdict_text(d),
            reading(d),
            effect_text(d),
            pval(d.p if d.has_single_effect else None),
            pval(d.p_exact),
            pval(d.p_adjusted),
            per_seed_text(d),
        )
        for d in a.primary
    ]
    methods = "; ".join(f"{d.claim}: {d.test.name}, {d.method}" for d in a.primary if d.method)
    m = sum(not d.reason for d in a.primary)
    return [
        HEADING,
        "",
        md_table(
            [
                "Claim",
                "Question",
                "Verdict",
                "Reading",
                "Effect [95% CI]",
                "p (t)",
                "p (exact)",
                "Adjusted p",
                "Per-seed values",
            ],
            rows,
        ),
        "",
        f"The primary family: one test per claim, pooled over actors (per seed, the mean over actors of "
        f"each actor's quantity), {m} tests Holm-adjusted at alpha = {a.alpha:g}. Seeds are the unit "
        f"({len(a.seeds)} here). Q2-Q4 are paired t-tests on the per-seed values (Q2 two-sided, Q3 and Q4 "
        "one-sided: forgetting and retention greater than 0), with the exact sign-flip p beside them; "
        "Q1 and Q5 are Friedman tests over positions / actors blocked by seed, with exact permutation "
        f"p-values ({methods}). Effects are oriented so that positive means better {a.metric}: Q2 = shared "
        "minus fresh, Q3 = the drop from right after training X to the end, Q4 = the final model minus the "
        "model that never saw X. Q2 is Q1's planned contrast (later positions minus the first: the fresh "
        "model is the first position), so Q1 and Q2 are one piece of evidence about position, not two: "
        "Q2 shown shows Q1 too (closed testing: no order effect implies no Q2 effect), and Q1's adjusted p "
        "is the smaller of its own Holm-adjusted p and Q2's. Q5's levels are Q1's first position per actor, "
        "so the five are not independent evidence.",
        "",
        "**real**: adjusted p < alpha (the family-wise error of these verdicts is at most alpha). "
        "**no effect >= min-effect**, each claim's own equivalence test at alpha (not Holm-adjusted: "
        "controlled per claim, not for the five together): the "
        f"{100 * (1 - 2 * a.alpha):g} % t-interval lies inside ±{a.min_effect:g} for Q2 (an equivalence test: two "
        f"one-sided tests at alpha), its upper bound lies below {a.min_effect:g} for the one-sided Q3 and Q4, and "
        f"for Q1 and Q5 every pairwise difference of levels has its {100 * (1 - 2 * a.alpha):g} % t-interval "
        f"inside ±{a.min_effect:g} (intersection-union test at alpha). **undecided with N "
        "seeds**: neither, with the seeds a power calculation asks for (section 4). **n/a**: no test, with "
        f"the reason. **{FRAGILE}**: leaving out any one seed changes the verdict (the t-tests and "
        "t-intervals the verdict reads recomputed without it, permutation p-values kept). "
        f"**{SIGN_FLIP_DISAGREES}**: the exact sign-flip test and the t-test decide otherwise at the family's "
        "Holm threshold (judged only where the sign-flip test can reach it with this many seeds). "
        "Intervals are 95 % t-intervals over seeds.",
        "",
        *_seed_notes(a),
        *_flag_notes(a),
        "",
    ]
