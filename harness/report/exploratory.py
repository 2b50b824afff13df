"""Section 3: the per-actor tests, a Holm family of their own."""

from __future__ import annotations

from harness.analysis import Analysis
from harness.report.formatting import actor_label, effect_text, md_table, num, pval, verdict_text

HEADING = "## 3. Exploratory family: every question per actor"


def section(a: Analysis) -> list[str]:
    rows = [
        (
            f"{d.claim} {d.claim.title}",
            actor_label(d.actor),
            d.n,
            effect_text(d),
            num(d.statistic),
            pval(d.p),
            pval(d.p_adjusted),
            verdict_text(d),
            f"{d.test.name}, {d.method}" if d.method else "-",
        )
        for d in a.exploratory
    ]
    m = sum(not d.reason for d in a.exploratory)
    notes = [f"- {d.claim} {actor_label(d.actor)}: {d.note}" for d in a.exploratory if d.note]
    return [
        HEADING,
        "",
        md_table(
            ["Question", "Actor", "n", "Effect [95% CI]", "Statistic", "p", "Adjusted p", "Verdict", "Test"], rows
        ),
        "",
        f"Not the study's claims but where an effect comes from: {m} tests Holm-adjusted at alpha = "
        f"{a.alpha:g} among themselves. Q2-Q4: exact sign-flip permutation test of the mean per-seed "
        "difference (statistic: the mean); Q1, Q5: Friedman chi-square with its permutation p-value. "
        "**cannot be shown with N seeds**: even if every test of this family reached the smallest p-value "
        "its exact test can give with N seeds, this one's Holm-adjusted p would not be below alpha.",
        "",
        *notes,
        "",
    ]
