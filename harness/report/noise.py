"""Section 4: seeds needed and the noise of one evaluation."""

from __future__ import annotations

import pandas as pd

from harness.analysis import Analysis
from harness.analysis.intervals import wilson_interval
from harness.report.formatting import actor_label, md_table, num, pval, seeds

HEADING = "## 4. Power and noise"


def wilson_rows(df: pd.DataFrame) -> list[dict]:
    """95 % Wilson interval of one accuracy at each n_test: at the observed mean and at 0.5."""
    if "n_test" not in df.columns or "accuracy" not in df.columns:
        return []
    sub = df[["n_test", "accuracy"]].apply(pd.to_numeric, errors="coerce").dropna()
    sub = sub[sub["n_test"] > 0]
    rows = []
    for n_test, group in sub.groupby("n_test"):
        for label, acc in (("observed mean", float(group["accuracy"].mean())), ("worst case", 0.5)):
            low, high = wilson_interval(acc, int(n_test))
            rows.append(
                {
                    "n_test": int(n_test),
                    "accuracy_kind": label,
                    "accuracy": acc,
                    "low": low,
                    "high": high,
                    "half_width": (high - low) / 2,
                    "n_rows": int(len(group)),
                }
            )
    return rows


def section(a: Analysis, wilson: list[dict]) -> list[str]:
    rows = [
        (
            d.family,
            f"{d.claim} {d.claim.title}",
            actor_label(d.actor),
            d.n,
            num(d.sd, 4),
            pval(d.power_alpha),
            seeds(d.seeds_needed),
        )
        for d in a.decisions
        if not d.reason
    ]
    lines = [
        HEADING,
        "",
        "### Seeds needed",
        "",
        f"Seeds for 80 % power to detect an effect of {a.min_effect:g} (`--min-effect`), for the tests "
        "not yet decided: statsmodels `TTestPower` (paired t) with the observed sd of the per-seed values, "
        "at Holm's first-step threshold alpha/m of the test's family (conservative: Holm can only do "
        "better). For Friedman tests the sd is that of the per-seed difference between the best and worst "
        "level and the count is divided by Friedman's efficiency 3/pi k/(k+1); exact tests are never "
        "credited with fewer seeds than they need to reach the threshold at all. Observed sds from few "
        "seeds are themselves uncertain: read these as orders of magnitude.",
        "",
        md_table(["Family", "Question", "Actor", "n", "SD per seed", "Threshold", "Seeds for 80 % power"], rows),
        "",
        "### Noise of a single evaluation",
        "",
    ]
    if not wilson:
        return lines + ["n_test / accuracy: not recorded.", ""]
    return lines + [
        "95 % Wilson interval of one accuracy measured on n_test test images "
        '(statsmodels `proportion_confint`, method="wilson"):',
        "",
        md_table(
            ["n_test", "Accuracy", "Value", "95% Wilson interval", "± half-width", "Rows"],
            [
                (
                    w["n_test"],
                    w["accuracy_kind"],
                    num(w["accuracy"]),
                    f"[{num(w['low'])}, {num(w['high'])}]",
                    num(w["half_width"]),
                    w["n_rows"],
                )
                for w in wilson
            ],
        ),
        "",
        "Differences between two models on one seed smaller than about this half-width are within the "
        "sampling noise of the test set.",
        "",
    ]
