"""``harness compare RUN_A RUN_B``: compare.md (opening with the answer), compare.csv and the per-seed plot.

Reads each run's results.csv and config.json (for the primary metric, the dataset fingerprint and the
split protocol), computes with :func:`harness.analysis.compare.compare`, and only formats and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness import rundir
from harness.analysis import Verdict
from harness.analysis.compare import Comparison, Difference, Quantity, Study, compare
from harness.analysis.validate import read_results
from harness.config import recorded
from harness.report.files import read_optional, write_atomic, write_text
from harness.report.formatting import md_table, num, pval
from harness.report.plots import figure, save

CSV_COLUMNS = (
    "quantity",
    "title",
    "in_holm_family",
    "paired",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "effect",
    "ci_low",
    "ci_high",
    "test",
    "statistic",
    "p",
    "p_exact",
    "p_adjusted",
    "verdict",
    "reason",
)


@dataclass(frozen=True, eq=False)
class Compared:
    """What ``write_comparison`` produced: compare.md's path and the terminal lines."""

    compare_md: Path
    lines: tuple[str, ...]


def read_study(run_dir: Path) -> Study:
    """A run directory's rows, its recorded primary metric, and what decides its seeds' splits
    (``compare.SPLIT_KEYS``: fingerprint, protocol, actor order, data seed, image counts)."""
    path, results = read_results(run_dir)
    config = read_optional(run_dir)["config"]
    record = config if isinstance(config, dict) else {}
    dataset, settings = record.get("dataset") or {}, record.get("config") or {}
    images = dataset.get("images")
    counts = None
    if isinstance(images, dict):
        counts = ", ".join(f"{actor} {n}" for actor, n in images.items()) + f", negatives {dataset.get('negatives')}"
    return Study(
        name=run_dir.name or str(run_dir),
        results=results,
        metric=recorded(record.get("config"))[0].metric,
        fingerprint=dataset.get("fingerprint"),
        protocol=settings.get("protocol"),
        actor_order=tuple(dataset["actors"]) if isinstance(dataset.get("actors"), list) else None,
        data_seed=settings.get("data_seed"),
        counts=counts,
    )


PHRASES: dict[Quantity, tuple[str, str, str]] = {
    Quantity.Q1_Q2: ("'s shared model gains {} over a fresh model than {a}'s", "more", "less"),
    Quantity.Q3: (" forgets {} than {a}", "more", "less"),
    Quantity.Q4: (" retains {} beyond transfer than {a}", "more", "less"),
    Quantity.Q5: ("'s actors differ {} (range of the fresh models) than {a}'s", "more", "less"),
    Quantity.FRESH: ("'s fresh models score {} {metric} than {a}'s", "higher", "lower"),
    Quantity.FINAL: ("'s final shared models score {} {metric} than {a}'s", "higher", "lower"),
}
"""What B does against A, with the word for a positive and for a negative difference."""


def sentence(d: Difference, c: Comparison) -> str:
    """E.g. "B (small) forgets less than A (original) by 0.040 [0.010, 0.070]": the interval is that of
    the difference in the direction the sentence states."""
    template, up, down = PHRASES[d.quantity]
    text = template.format(up if d.effect >= 0 else down, a=f"A ({c.a})", metric=c.metric)
    low, high = (d.ci_low, d.ci_high) if d.effect >= 0 else (-d.ci_high, -d.ci_low)
    told = f"B ({c.b}){text} by {num(abs(d.effect))} [{num(low)}, {num(high)}]"
    return told if d.quantity.in_family else f"{told} (a score outside the Holm family, unadjusted p)"


def answer(c: Comparison) -> str:
    """The sentence compare.md opens with: every difference shown real, or that none is."""
    real = [sentence(d, c) for d in c.differences if d.verdict is Verdict.REAL]
    if real:
        return "; ".join(real) + "."
    ruled_out = [d.quantity.title for d in c.differences if d.verdict is Verdict.NO_EFFECT]
    text = f"No difference between B ({c.b}) and A ({c.a}) is shown at alpha = {c.alpha:g}"
    if ruled_out:
        text += f"; none of {c.min_effect:g} or more in {', '.join(ruled_out)}"
    return text + "."


def _named(d: Difference) -> str:
    """The claim with its title ("Q3 forgetting"); a score by its title alone."""
    return f"{d.quantity} {d.quantity.title}" if d.quantity.in_family else d.quantity.title


def _verdict(d: Difference) -> str:
    return f"n/a: {d.reason}" if d.reason else d.label


def _design(c: Comparison) -> str:
    p = c.pairing
    if p.paired:
        text = (
            f"Paired by seed on the {len(p.seeds)} seeds both runs have (the same dataset fingerprint, split "
            "protocol, actor order, data seed and image counts, so seed s tested the same images in both): "
            "paired t-tests on the per-seed differences B - A, with the exact sign-flip p beside them."
        )
        return text + (f" Left out for want of a partner: {p.left_out}." if p.left_out else "")
    return f"Not paired: {p.reason}. Welch's t-tests on the two runs' per-seed values."


def rows(c: Comparison) -> pd.DataFrame:
    """compare.csv: one row per quantity, the claims first."""
    records = [
        {
            "quantity": str(d.quantity),
            "title": d.quantity.title,
            "in_holm_family": d.quantity.in_family,
            "paired": d.paired,
            **{k: getattr(d, k) for k in CSV_COLUMNS[4:16]},
            "verdict": _verdict(d),
            "reason": d.reason,
        }
        for d in c.differences
    ]
    return pd.DataFrame(records, columns=list(CSV_COLUMNS))


def plot(path: Path, c: Comparison) -> None:
    """Per quantity, each seed's value in A and in B, joined by seed when the runs are paired."""
    fig = figure(2.3 * len(c.differences), 3.8)
    axes = fig.subplots(1, len(c.differences), squeeze=False)[0]
    for ax, d in zip(axes, c.differences, strict=True):
        values = d.per_seed
        if d.paired:
            for _, row in values.dropna().iterrows():
                ax.plot([0, 1], [row["A"], row["B"]], marker="o", color="tab:blue", alpha=0.5)
        else:
            for x, column in enumerate(("A", "B")):
                ax.scatter(np.full(values[column].notna().sum(), x), values[column].dropna(), alpha=0.6)
        for x, column in enumerate(("A", "B")):
            ax.plot([x], [values[column].mean()], marker="D", color="black")
        ax.set_xticks([0, 1], [f"A\n{c.a}"[:16], f"B\n{c.b}"[:16]], fontsize=7)
        ax.set_xlim(-0.4, 1.4)
        ax.set_title(_named(d)[:38], fontsize=7)
    axes[0].set_ylabel(f"per-seed value ({c.metric})")
    joined = "lines join each seed's two runs" if c.pairing.paired else "not paired: dots are seeds"
    fig.suptitle(f"B minus A per seed ({joined}; diamonds: means)", fontsize=9)
    save(fig, path)


def markdown(c: Comparison) -> list[str]:
    table = md_table(
        ["Quantity", "A mean", "B mean", "B - A [95% CI]", "Test", "p", "p (exact)", "Adjusted p", "Verdict"],
        [
            (
                _named(d) + ("" if d.quantity.in_family else " (outside the Holm family)"),
                num(d.mean_a),
                num(d.mean_b),
                f"{num(d.effect)} [{num(d.ci_low)}, {num(d.ci_high)}]",
                d.test,
                pval(d.p),
                pval(d.p_exact),
                pval(d.p_adjusted),
                _verdict(d),
            )
            for d in c.differences
        ],
    )
    return [
        f"# Comparison: B ({c.b}) minus A ({c.a})",
        "",
        f"**{answer(c)}**",
        "",
        f"Metric `{c.metric}` (both runs' primary metric), alpha = {c.alpha:g}, min effect = {c.min_effect:g}. "
        + _design(c),
        "",
        table,
        "",
        "Per seed, each run gives the claims' quantities of `harness report`, pooled over actors: Q1/Q2 is Q2, "
        "shared minus fresh, which is also Q1's planned contrast (later minus first position): the fresh model "
        "is the tree's depth-1 node and every position has as many orders, so the two are one per-seed number, "
        "compared once (`harness report` shows Q1 from Q2 by closed testing); Q3 is forgetting (positive: the "
        "final model scores lower than right after training, more forgetting); Q4 is the final model minus the "
        "model that never saw the actor (positive: more retained); Q1/Q2 and Q4 are oriented so that positive "
        "means better; Q5 is the range over actors of the fresh models' scores. Beside them, the mean score of "
        f"the fresh models and of the final shared models. The four claim quantities are Holm-adjusted together "
        f"at alpha = {c.alpha:g}; the two scores are tested unadjusted, outside the family. "
        "**real**: adjusted p < alpha. "
        f"**no effect >= {c.min_effect:g}**: the {100 * (1 - 2 * c.alpha):g} % t-interval of the difference lies "
        f"inside ±{c.min_effect:g} (two one-sided tests at alpha). **undecided with N seeds**: neither. "
        "**n/a**: no test, with the reason. Intervals are 95 % t-intervals (Welch's for unpaired runs).",
        "",
        f"![Per-seed values of both runs]({rundir.COMPARE_PLOT})",
        "",
    ]


def write_comparison(
    run_a: Path, run_b: Path, out: Path | None = None, alpha: float = 0.05, min_effect: float = 0.05
) -> Compared:
    """Compare RUN_B with RUN_A; write compare.md, compare.csv and the plot to ``out`` (default
    RUN_B/compare-vs-<RUN_A's name>). Runs that cannot be compared raise ``HarnessError`` with one
    line before anything is written."""
    run_a, run_b = Path(run_a), Path(run_b)
    c = compare(read_study(run_a), read_study(run_b), alpha, min_effect)
    out = Path(out) if out else run_b / f"compare-vs-{run_a.name}"
    out.mkdir(parents=True, exist_ok=True)
    plot(out / rundir.COMPARE_PLOT, c)
    write_atomic(out / rundir.COMPARE_CSV, lambda tmp: rows(c).to_csv(tmp, index=False))
    compare_md = out / rundir.COMPARE_MD
    write_text(compare_md, "\n".join(markdown(c)))
    lines = (
        answer(c),
        _design(c),
        *(
            f"{_named(d)}: B - A {num(d.effect)} [{num(d.ci_low)}, {num(d.ci_high)}]; "
            f"{d.test} p {pval(d.p)}, exact p {pval(d.p_exact)}, adjusted p {pval(d.p_adjusted)}: {_verdict(d)}"
            for d in c.differences
        ),
    )
    return Compared(compare_md, lines)
