"""Section 5: each order's mean matrix and the continual-learning metrics."""

from __future__ import annotations

import pandas as pd

from harness.analysis import Analysis
from harness.analysis.continual import CL_COLUMNS
from harness.report.formatting import is_finite, md_table, num
from harness.schema import Condition

HEADING = "## 5. Matrices and continual-learning metrics"


def baselines(df: pd.DataFrame, metric: str) -> dict[str, float]:
    """The untrained model's mean metric per actor."""
    sub = df[df["condition"] == Condition.UNTRAINED]
    return (
        {}
        if sub.empty
        else pd.to_numeric(sub[metric], errors="coerce").groupby(sub["eval_actor"].astype(str)).mean().to_dict()
    )


def section(a: Analysis, base: dict[str, float]) -> list[str]:
    lines = [
        HEADING,
        "",
        f"Mean ± sd over seeds of {a.metric} of the shared model after each stage (rows) on each actor "
        "(columns, in training order).",
        "",
    ]
    if not a.matrices:
        lines += ["No complete shared orders in results.csv.", ""]
    for name, mat in a.matrices.items():
        actors = list(mat.mean.columns)
        rows = [
            [stage, actors[stage - 1]]
            + [
                f"{num(mat.mean.loc[stage, x])} ± {num(mat.sd.loc[stage, x])}"
                if is_finite(mat.mean.loc[stage, x])
                else "n/a"
                for x in actors
            ]
            for stage in mat.mean.index
        ]
        rows.append(["untrained (b)", "-"] + [num(base.get(x)) for x in actors])
        lines += [
            f"### {name.replace('>', ' > ')} ({mat.n_seeds} seeds)",
            "",
            md_table(["Stage", "Trained", *actors], rows),
            "",
        ]
    lines += [
        "### Continual-learning metrics",
        "",
        "Per order and seed, then mean ± sd over seeds: ACC = mean final value over actors; BWT = mean over "
        "earlier actors of final minus just-trained (Lopez-Paz & Ranzato 2017); FWT = mean over later actors "
        "of the value just before training them minus the untrained baseline b_j (ibid.); forgetting = mean "
        "over earlier actors of the best value at stages 1..k-1 minus the final (Chaudhry et al. 2018; for "
        "a loss the best is the lowest and the sign is turned, so positive means forgotten).",
        "",
    ]
    cl = a.cl_metrics
    if cl.empty:
        return lines + ["No complete shared orders in results.csv.", ""]
    rows = [
        (r["order"], int(r["n_seeds"]))
        + tuple(f"{num(r[c])} ± {num(r[c + '_sd'])}" if is_finite(r[c]) else "n/a" for c in CL_COLUMNS)
        for _, r in cl.iterrows()
    ]
    return lines + [md_table(["Order", "Seeds", "ACC", "BWT", "FWT", "Forgetting"], rows), ""]
