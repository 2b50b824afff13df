"""The report's section on a ``--seeds auto`` study, from ``RUN_DIR/sequential.json``.

It states the design, every look with the boundary each claim faced, why the study stopped, and per
claim its last decision with the repeated p-value and repeated confidence interval (Jennison &
Turnbull 2000, ch. 9), the adjustment for having looked several times.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import rundir
from harness.looks import LookDecision
from harness.report.formatting import md_table, num, pval

HEADING = "## Sequential design (--seeds auto)"


def load(file: Path) -> dict:
    """The content of sequential.json; ValueError saying why when it is not a readable record."""
    try:
        content = json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(getattr(error, "strerror", None) or str(error)) from None
    if not isinstance(content, dict) or not isinstance(content.get("design"), dict):
        raise ValueError("not a record of looks")
    return content


def read(run_dir: Path) -> dict | None:
    """sequential.json, or None for a fixed design or an unreadable file (``section`` notes that)."""
    try:
        return load(Path(run_dir) / rundir.SEQUENTIAL)
    except ValueError:
        return None


def unreadable(file: Path, reason: str) -> list[str]:
    """What stands in for the section when sequential.json is there but cannot be read: the
    fixed-sample verdicts alone would silently ignore the looks the study made."""
    return [
        HEADING,
        "",
        f"**{file} cannot be read ({reason}), so the looks of this study and the verdicts adjusted for them "
        "are not shown: section 1's fixed-sample verdicts do not account for the looks. Rerunning the same "
        "`harness permute` command rewrites the file from the looks stored in results.sqlite.**",
        "",
    ]


def _interval(low: object, high: object) -> str:
    """``[low, high]``; one-sided intervals (a JSON null for the infinite end) as ``[low, inf)`` or
    ``(-inf, high]``."""
    if low is None and high is None:
        return "-"
    if low is None:
        return f"(-inf, {num(high)}]"
    return f"[{num(low)}, inf)" if high is None else f"[{num(low)}, {num(high)}]"


def _effect(r: dict) -> str:
    """A shown claim's decision: "effect (as Q2 is)" where closed testing showed it (its own p short
    of its boundary: the look's recorded ``shown_by``), else "effect"."""
    return f"effect (as {r['shown_by']} is)" if r.get("shown_by") else "effect"


def _look_decision(r: dict) -> str:
    return _effect(r) if r["decision"] == LookDecision.EFFECT else r["decision"]


def _adjusted_decision(r: dict, min_effect: float, equivalence: bool) -> str:
    """A claim's last decision in the table adjusted for the looks. Sequential files written before
    futility used the repeated bounds (no ``equivalence_high``) call theirs a futility stop: that
    rule used one look's unadjusted 95 % CI and is not an error-controlled "no effect"."""
    if r["decision"] == "open":
        return f"undecided with {r['seeds']} seeds"
    if r["decision"] == LookDecision.EFFECT:
        return _effect(r)
    return f"no effect >= {min_effect:g}" if equivalence else f"futility stop at {r['seeds']} seeds"


def _equivalence(r: dict) -> str:
    """The bounds that closed a claim as "no effect" (none for the other decisions, nor for Q1/Q5)."""
    if r["decision"] != LookDecision.NO_EFFECT:
        return "-"
    return _interval(r.get("equivalence_low"), r.get("equivalence_high"))


def _ranges(seeds: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``3-5, 9``."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _schedules(design: dict) -> str:
    """When the claims look: Q1-Q4 and Q5 apart when Q5 has a horizon of its own."""

    def looks(schedule: dict) -> str:
        fractions = ", ".join(f"{t:.2f}" for t in schedule["fractions"])
        return f"after {', '.join(map(str, schedule['looks']))} seeds (information fractions {fractions})"

    claims = design.get("claims")
    if not claims or claims["Q5"]["looks"] == claims["Q1"]["looks"]:
        return f"Looks {looks(design)}"
    return f"Q1-Q4 look {looks(claims['Q1'])} and Q5 {looks(claims['Q5'])}"


def _allocation(content: dict, design: dict) -> list[str]:
    """What the seeds trained and each claim's horizon and seeds (files written before claim-aware
    seeds have none of it)."""
    if "claim_seeds" not in content:
        return []
    partial = content["partial_seeds"]
    trained = (
        f"seeds {_ranges(partial)} trained only the fresh models (all that Q5, the one claim still open, reads)"
        if partial
        else "every seed trained the whole tree"
    )
    horizons = f"Q1-Q4 up to {design['max_seeds']} seeds, Q5 up to {design.get('q5_max_seeds', design['max_seeds'])}"
    used = ", ".join(f"{claim} {n}" for claim, n in content["claim_seeds"].items())
    return [
        f"{content['trainings']} trainings: {trained}. Horizons: {horizons}, each claim with its own looks and "
        f"information fractions. Seeds each claim was tested on at its last look: {used}.",
        "",
    ]


def section(run_dir: Path) -> list[str]:
    """Markdown lines; empty for a fixed design, a note when sequential.json cannot be read."""
    file = Path(run_dir) / rundir.SEQUENTIAL
    if not file.exists():
        return []
    try:
        return _section(load(file))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return unreadable(file, str(error) if isinstance(error, ValueError) else "not a record of looks")


def _section(content: dict) -> list[str]:
    design, looks = content["design"], content["looks"]
    shape = "Pocock (the same boundary at every look)" if design["spending"] == "pocock" else "O'Brien-Fleming"
    budget = content.get("budget_seconds")
    lines = [
        HEADING,
        "",
        f"{_schedules(design)}, {shape} boundaries on the primary metric "
        f"`{content['metric']}`, family-wise alpha {design['alpha']:g} over the five claims: each open claim is "
        "tested at alpha / (claims not yet shown) and a shown claim's alpha passes to the others at the same "
        "look (Holm-type reallocation, Maurer & Bretz 2013); Q2 shown shows Q1 at the same look (closed "
        "testing: Q2 is Q1's planned contrast). A claim closes as "
        f'"no effect >= {design["min_effect"]:g}" (non-binding futility) when its repeated one-sided bounds at '
        f"alpha {design['alpha']:g} rule that effect out: Q2 inside ±{design['min_effect']:g}, Q3 and Q4 below "
        f"{design['min_effect']:g}, and for Q1 and Q5 every pairwise difference of levels inside "
        f"±{design['min_effect']:g} (an equivalence test that holds over all looks: wrong with probability about "
        "alpha at most per claim). " + (f"Budget {budget / 3600:.2f} h. " if budget else "No time budget. "),
        "",
        f"**Stopped after {content['seeds']} seeds: {content['stop']}.**",
        "",
        *_allocation(content, design),
        "### Looks",
        "",
        md_table(
            ["Look", "Seeds", "Claim", "alpha", "p", "Boundary p (z)", "Effect [95% CI]", "Decision"],
            [
                (
                    r["look"] + 1,
                    r["seeds"],
                    r["claim"],
                    f"{r['alpha']:.4g}",
                    pval(r["p"]),
                    f"{pval(r['boundary_p'])} ({num(r['boundary_z'])})",
                    f"{num(r['effect'])} {_interval(r['ci_low'], r['ci_high'])}" if r["effect"] is not None else "-",
                    _look_decision(r),
                )
                for r in looks
            ],
        ),
        "",
        "### Adjusted for the looks",
        "",
        "Each claim at its last look: the repeated p-value (the smallest alpha at which this design would "
        "have shown the claim at that look) and the repeated confidence interval (simultaneous over all looks "
        "at the claim's level), Jennison & Turnbull (2000), ch. 9. Section 1's p-values and verdicts are "
        "fixed-sample tests on all seeds and do not account for the looks; for this study the claims shown "
        '("effect") below are the ones with family-wise error at most alpha. "No effect" rests on the '
        "equivalence bounds (the repeated one-sided bounds at alpha, for Q2-Q4; for Q1 and Q5 on the pairwise "
        "ones), not on the repeated CI, which is at the claim's (smaller) level for showing an effect.",
        "",
    ]
    equivalence = any("equivalence_high" in r for r in looks)
    last = {r["claim"]: r for r in looks}
    lines += [
        md_table(
            ["Claim", "Decision", "Seeds", "Effect", "Equivalence bounds", "Repeated CI", "Repeated p", "Level"],
            [
                (
                    claim,
                    _adjusted_decision(r, design["min_effect"], equivalence),
                    r["seeds"],
                    num(r["effect"]),
                    _equivalence(r),
                    _interval(r["repeated_ci_low"], r["repeated_ci_high"]),
                    pval(r["repeated_p"]),
                    f"{r['alpha']:.4g}",
                )
                for claim, r in sorted(last.items())
            ],
        ),
        "",
    ]
    return lines
