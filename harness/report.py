"""Report of a ``harness permute`` run directory: report.md, report.json, verdicts.csv, plots.

Reads ``RUN_DIR/results.csv`` (required) and, when present, ``config.json``,
``trainings.csv`` and ``sessions.csv``. All numbers come from :mod:`harness.stats`; this module
only reads files, formats and draws (matplotlib's Agg canvas, no GUI, no pyplot state).
It imports nothing of harness but ``stats`` and never TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from harness import stats

SECTIONS: tuple[str, ...] = (
    "## 1. Verdicts",
    "## 2. The original study's claims",
    "## 3. Power and noise",
    "## 4. Accuracy matrices and continual-learning metrics",
    "## 5. Plots",
    "## 6. Data, configuration and provenance",
)
"""Level-2 headings of report.md, in order."""

PLOTS: dict[str, str] = {
    "position": "plot_accuracy_by_position.png",
    "forgetting": "plot_forgetting.png",
    "shared_vs_fresh": "plot_shared_vs_fresh.png",
    "matrices": "plot_matrices.png",
}
"""PNG files written beside report.md."""

MAX_HEATMAPS = 24
NOT_RECORDED = "not recorded"

CLAIMS: tuple[tuple[str, str, bool, int], ...] = (
    # (claim, question, the claim is the null hypothesis, direction of the effect it predicts)
    ("order does not matter", "Q1", True, 0),
    ("some actors are easier regardless of order", "Q5", False, 0),
    ("the shared model forgets", "Q3", False, 1),
    ("what is left after retraining is memory", "Q4", False, 1),
    ("a fresh model per actor beats retraining one", "Q2", False, -1),
)

SUPPORTED = "supported"
AGAINST = "evidence against the claim"
CANNOT_TELL = "cannot tell"


# --------------------------------------------------------------------------------------------
# Reading


def load_results(run_dir: Path, metric: str = "accuracy") -> pd.DataFrame:
    """Read and check ``run_dir/results.csv``; ``ValueError`` (one line, naming the file)."""
    path = Path(run_dir) / "results.csv"
    if not path.is_file():
        raise ValueError(
            f"{path} not found: run `harness permute` to create it, or pass the run directory that contains results.csv"
        )
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: rerun `harness permute` for this run directory") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path} is not a readable CSV ({exc}): regenerate it with `harness permute`".replace("\n", " ")
        ) from None
    try:
        stats.validate_results(df, metric)
    except ValueError as exc:
        raise ValueError(
            f"{path} {exc}: regenerate it with `harness permute`, or choose --metric among its numeric columns"
        ) from None
    return df


def _read_optional(run_dir: Path) -> dict:
    """config.json, trainings.csv, sessions.csv when present; problems become notes."""
    out: dict = {"config": None, "trainings": None, "sessions": None, "notes": []}
    config = run_dir / "config.json"
    if config.is_file():
        try:
            out["config"] = json.loads(config.read_text())
        except (OSError, ValueError) as exc:
            out["notes"].append(f"config.json unreadable ({type(exc).__name__})")
    for name in ("trainings", "sessions"):
        path = run_dir / f"{name}.csv"
        if path.is_file():
            try:
                out[name] = pd.read_csv(path)
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                out["notes"].append(f"{name}.csv unreadable ({type(exc).__name__})")
    return out


# --------------------------------------------------------------------------------------------
# Formatting


def _finite(x: object) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _f(x: object, digits: int = 3) -> str:
    """Number with ``digits`` significant decimals; "n/a" for NaN/None."""
    if not _finite(x):
        return "n/a"
    x = float(x)
    if x != 0 and abs(x) < 10**-digits:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}f}"


def _p(x: object) -> str:
    if not _finite(x):
        return "n/a"
    x = float(x)
    return f"{x:.2e}" if x < 0.001 else f"{x:.4f}"


def _seeds(x: object) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "> 10000"
    return str(int(x))


def _md_table(headers: list[str], rows: Iterable[Iterable[object]]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _actor_label(actor: object) -> str:
    return str(actor) if isinstance(actor, str) and actor else "(all actors)"


def _question_label(qid: str) -> str:
    return f"{qid} {stats.QUESTIONS[qid].title}"


def _effect_ci(row: pd.Series) -> str:
    if not _finite(row["effect"]):
        return "n/a"
    ci = (
        f"[{_f(row['ci_low'], 4)}, {_f(row['ci_high'], 4)}]"
        if _finite(row["ci_low"]) and _finite(row["ci_high"])
        else "[CI n/a]"
    )
    return f"{_f(row['effect'], 4)} {ci}"


def _verdict_cell(row: pd.Series) -> str:
    if row["verdict"] == stats.VERDICT_NA:
        return f"n/a: {row['reason']}"
    return str(row["verdict"])


def jsonable(obj: object) -> object:
    """Plain-JSON version of ``obj``: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


# --------------------------------------------------------------------------------------------
# Claims and summaries


def _row_status(row: pd.Series) -> str:
    """ "shown", "powered" (not shown although 80 % power for min_effect), or "unknown"."""
    if row["verdict"] == stats.VERDICT_REAL:
        return "shown"
    needed = row.get("seeds_for_80_power_min_effect", np.nan)
    if row["verdict"] == stats.VERDICT_NOT_SHOWN and _finite(needed) and needed <= row["n"]:
        return "powered"
    return "unknown"


def claims(verdicts: pd.DataFrame, n_seeds: int, min_effect: float = 0.05) -> list[dict]:
    """The original study's claims, each with a status and a one-sentence verdict.

    Status "supported", "evidence against the claim" or "cannot tell": a real effect in the
    predicted direction supports a claim (contradicts it, for "order does not matter"); an
    effect that is not shown although the run has 80 % power for ``min_effect`` counts
    against a claim of an effect (and for the null claim); anything else cannot be told.
    """
    out = []
    for claim, qid, is_null, direction in CLAIMS:
        rows = verdicts[verdicts["question"] == qid]
        pro, con, unknown = [], [], []
        for _, row in rows.iterrows():
            who = f" for {_actor_label(row['actor'])}" if stats.QUESTIONS[qid].per_actor else ""
            status = _row_status(row)
            if status == "shown":
                same = direction == 0 or np.sign(row["effect"]) == direction
                text = (
                    f"{'shown' if same else 'opposite effect shown'}{who} "
                    f"(effect {_f(row['effect'], 3)}, adjusted p {_p(row['p_holm'])})"
                )
                (con if (is_null or not same) else pro).append(text)
            elif status == "powered":
                text = (
                    f"no effect of {min_effect:g} or more{who} although {int(row['n'])}"
                    " seeds give 80 % power to detect it"
                )
                (pro if is_null else con).append(text)
            elif row["verdict"] == stats.VERDICT_NA:
                unknown.append(f"n/a{who} ({row['reason']})")
            else:
                need = _seeds(row.get("seeds_for_80_power_min_effect", np.nan))
                unknown.append(
                    f"{row['verdict']}{who} (about {need} seeds needed for 80 % power at an effect of {min_effect:g})"
                )
        if qid == "Q4":
            q3 = verdicts[(verdicts["question"] == "Q3") & (verdicts["verdict"] == stats.VERDICT_REAL)]["actor"]
            for actor in q3:
                q4 = rows[rows["actor"] == actor]
                if len(q4) and q4["verdict"].iloc[0] != stats.VERDICT_REAL:
                    what = (
                        "is explained by transfer, not memory"
                        if _row_status(q4.iloc[0]) == "powered"
                        else "may be transfer rather than memory (too few seeds to tell)"
                    )
                    unknown.append(
                        f"forgetting is real but retention is not shown for "
                        f"{_actor_label(actor)}, so what is left there {what}"
                    )
        if is_null:
            status = AGAINST if con else SUPPORTED if pro and not unknown else CANNOT_TELL
        else:
            status = SUPPORTED if pro else AGAINST if con else CANNOT_TELL
        lead = {
            SUPPORTED: "Supported",
            AGAINST: "Evidence against the claim",
            CANNOT_TELL: f"Cannot tell with {n_seeds} seeds (underpowered)",
        }[status]
        details = "; ".join(pro + con + unknown) or "no test could be run"
        out.append({"claim": claim, "question": qid, "status": status, "sentence": f"{lead}: {details}."})
    return out


def summary_lines(verdicts: pd.DataFrame) -> list[str]:
    """One plain-text line per test, for the CLI.

    Accepts :func:`harness.stats.run_tests` output or verdicts.csv as read back (also with
    ``keep_default_na=False``, where empty cells are ""); without a ``reason`` column, "n/a"
    lines point to report.md.
    """
    lines = []
    for _, row in verdicts.iterrows():
        qid = str(row["question"])
        label = _question_label(qid) if qid in stats.QUESTIONS else qid
        head = f"{label} [{_actor_label(row['actor'])}]"
        if row["verdict"] == stats.VERDICT_NA:
            reason = row.get("reason", "")
            reason = reason if isinstance(reason, str) and reason else "see report.md"
            lines.append(f"{head}: n/a ({reason})")
            continue
        n = int(float(row["n"])) if _finite(row["n"]) else 0
        lines.append(
            f"{head}: {row['verdict']} (n={n}, effect {_effect_ci(row)}, "
            f"p={_p(row['p'])}, adjusted p={_p(row['p_holm'])})"
        )
    return lines


# --------------------------------------------------------------------------------------------
# Plots


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _plot_position(path: Path, series: stats.SeriesMap, metric: str) -> None:
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    items = [(actor, table.dropna()) for (qid, actor), table in series.items() if qid == "Q1"]
    items = [(actor, complete) for actor, complete in items if not complete.empty]
    for i, (actor, complete) in enumerate(items):
        x = np.asarray(complete.columns, float) + 0.04 * (i - (len(items) - 1) / 2)
        sem = (complete.std(ddof=1) / np.sqrt(len(complete))) if len(complete) > 1 else None
        ax.errorbar(x, complete.mean(), yerr=sem, marker="o", capsize=3, label=actor)
    if not items:
        _no_data(ax)
    else:
        ax.set_xticks(np.asarray(items[0][1].columns, float))
        ax.set_xlabel("position at which X is trained (stage)")
        ax.set_ylabel(f"{metric} on X right after training X")
        ax.set_title("Accuracy by position (mean over seeds, ± 1 SE)")
        ax.legend(fontsize="small")
    fig.savefig(path)


def _plot_forgetting(path: Path, series: stats.SeriesMap, verdicts: pd.DataFrame, metric: str) -> None:
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    items = [(actor, s.dropna()) for (qid, actor), s in series.items() if qid == "Q3"]
    items = [(a, s) for a, s in items if len(s)]
    if not items:
        _no_data(ax)
    else:
        rng = np.random.default_rng(0)
        for i, (actor, values) in enumerate(items):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=14, alpha=0.6)
            row = verdicts[(verdicts["question"] == "Q3") & (verdicts["actor"] == actor)]
            mean = float(values.mean())
            err = None
            if len(row) and _finite(row["ci_low"].iloc[0]) and _finite(row["ci_high"].iloc[0]):
                err = [[mean - row["ci_low"].iloc[0]], [row["ci_high"].iloc[0] - mean]]
            ax.errorbar([i + 0.3], [mean], yerr=err, fmt="D", color="black", capsize=4)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(items)), [a for a, _ in items], rotation=15)
        ax.set_ylabel(f"forgetting f_s ({metric}: right after training - final)")
        ax.set_title("Forgetting per actor (dots: seeds; diamond: mean with 95 % BCa CI)")
    fig.savefig(path)


def _plot_shared_fresh(path: Path, pairs: pd.DataFrame, metric: str) -> None:
    actors = list(dict.fromkeys(pairs["actor"])) if len(pairs) else []
    fig = _figure(max(3.2 * len(actors), 4.0), 4.0)
    if not actors:
        _no_data(fig.add_subplot())
        fig.savefig(path)
        return
    axes = fig.subplots(1, len(actors), sharey=True, squeeze=False)[0]
    for ax, actor in zip(axes, actors, strict=True):
        sub = pairs[pairs["actor"] == actor].dropna(subset=["shared", "fresh"])
        for _, r in sub.iterrows():
            colour = "tab:red" if r["shared"] < r["fresh"] else "tab:blue"
            ax.plot([0, 1], [r["fresh"], r["shared"]], marker="o", color=colour, alpha=0.6)
        ax.set_xticks([0, 1], ["fresh", "shared\n(pos > 1)"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(actor, fontsize="small")
        if sub.empty:
            ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
    axes[0].set_ylabel(f"{metric} on the actor (one line per seed)")
    fig.suptitle("Shared vs fresh, paired by seed")
    fig.savefig(path)


def _plot_matrices(path: Path, mats: dict[str, stats.OrderMatrix], metric: str) -> None:
    names = list(mats)[:MAX_HEATMAPS]
    if not names:
        fig = _figure(4, 3)
        _no_data(fig.add_subplot())
        fig.savefig(path)
        return
    ncols = min(3 if len(names) <= 9 else 6, len(names))
    nrows = math.ceil(len(names) / ncols)
    k = mats[names[0]].mean.shape[0]
    fig = _figure(ncols * (1.2 + 0.9 * k), nrows * (0.9 + 0.8 * k))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    values = np.concatenate([mats[n].mean.to_numpy().ravel() for n in names])
    values = values[np.isfinite(values)]
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    image = None
    for ax, name in zip(axes, names, strict=False):
        mean = mats[name].mean
        image = ax.imshow(mean.to_numpy(float), vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(mean.shape[1]), [c[:14] for c in mean.columns], fontsize=6, rotation=30)
        ax.set_yticks(range(mean.shape[0]), [str(s) for s in mean.index], fontsize=7)
        ax.set_ylabel("stage", fontsize=7)
        ax.set_title(name.replace(">", " > "), fontsize=7)
        if k <= 5:
            for (i, j), v in np.ndenumerate(mean.to_numpy(float)):
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if v < (vmin + vmax) / 2 else "black",
                    )
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(names)]), shrink=0.8, label=f"mean {metric}")
    fig.savefig(path)


def _plots(
    run_dir: Path,
    series: stats.SeriesMap,
    verdicts: pd.DataFrame,
    pairs: pd.DataFrame,
    mats: dict[str, stats.OrderMatrix],
    metric: str,
) -> dict[str, str]:
    _plot_position(run_dir / PLOTS["position"], series, metric)
    _plot_forgetting(run_dir / PLOTS["forgetting"], series, verdicts, metric)
    _plot_shared_fresh(run_dir / PLOTS["shared_vs_fresh"], pairs, metric)
    _plot_matrices(run_dir / PLOTS["matrices"], mats, metric)
    return dict(PLOTS)


# --------------------------------------------------------------------------------------------
# Sections


def _section_verdicts(verdicts: pd.DataFrame, alpha: float, n_seeds: int) -> list[str]:
    rows = [
        (
            _question_label(r["question"]),
            _actor_label(r["actor"]),
            int(r["n"]),
            _effect_ci(r),
            _f(r["statistic"], 3),
            _p(r["p"]),
            _p(r["p_holm"]),
            _verdict_cell(r),
        )
        for _, r in verdicts.iterrows()
    ]
    details = [
        (
            r["question"],
            _actor_label(r["actor"]),
            r["test"],
            r["alternative"],
            f"{_f(r['effect_size'], 3)} ({r['effect_size_kind']})",
            r["level_means"] or "-",
            "; ".join(x for x in (r["note"], r["ci_note"]) if x) or "-",
        )
        for _, r in verdicts.iterrows()
    ]
    m = int(verdicts["p"].notna().sum())
    definitions = [
        f"- **{q.qid}** ({q.title}): {q.series}; effect = {q.effect}; "
        f"{'Wilcoxon signed-rank' if q.test == 'wilcoxon' else 'Friedman'} test, "
        f"alternative {q.alternative}."
        for q in stats.QUESTIONS.values()
    ]
    return [
        SECTIONS[0],
        "",
        _md_table(["Question", "Actor", "n", "Effect [95% CI]", "Statistic", "p", "Adjusted p", "Verdict"], rows),
        "",
        f"Seeds are the unit of analysis ({n_seeds} seeds in this run). The family is the {m} "
        f"tests that could be computed; p-values are Holm-adjusted and a test is **real** when "
        f"its adjusted p < {alpha:g}. **cannot be shown with N seeds**: even if every test of "
        "the family reached the smallest p-value attainable with its number of seeds (exact "
        "Wilcoxon with all differences of one sign; Friedman with every seed ranking the levels"
        " identically), this test's Holm-adjusted p would not be below alpha. **n/a**: no test"
        " (reason given). CIs are 95 % BCa bootstrap intervals over seeds (n/a with fewer than "
        "3 distinct per-seed values).",
        "",
        *definitions,
        "",
        "Test details (effect size: matched-pairs rank-biserial for Wilcoxon, Kendall's W for Friedman):",
        "",
        _md_table(["Question", "Actor", "Test", "Alternative", "Effect size", "Level means", "Notes"], details),
        "",
    ]


def _section_claims(claim_rows: list[dict]) -> list[str]:
    lines = [SECTIONS[1], ""]
    for c in claim_rows:
        lines.append(f'- **"{c["claim"]}"** ({c["question"]}): {c["sentence"]}')
    return lines + [""]


def _wilson_rows(df: pd.DataFrame) -> list[dict]:
    if "n_test" not in df.columns or "accuracy" not in df.columns:
        return []
    sub = df[["n_test", "accuracy"]].apply(pd.to_numeric, errors="coerce").dropna()
    sub = sub[sub["n_test"] > 0]
    rows = []
    for n_test, group in sub.groupby("n_test"):
        for label, acc in (("observed mean", float(group["accuracy"].mean())), ("worst case", 0.5)):
            low, high = stats.wilson_interval(acc, int(n_test))
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


def _section_power(verdicts: pd.DataFrame, wilson: list[dict], alpha: float, min_effect: float) -> list[str]:
    lines = [SECTIONS[2], "", "### Noise of a single evaluation", ""]
    if wilson:
        lines += [
            "95 % Wilson interval of one accuracy measured on n_test test images "
            '(statsmodels `proportion_confint`, method="wilson"):',
            "",
            _md_table(
                ["n_test", "Accuracy", "Value", "95% Wilson interval", "± half-width", "Rows"],
                [
                    (
                        w["n_test"],
                        w["accuracy_kind"],
                        _f(w["accuracy"]),
                        f"[{_f(w['low'])}, {_f(w['high'])}]",
                        _f(w["half_width"]),
                        w["n_rows"],
                    )
                    for w in wilson
                ],
            ),
            "",
            "Differences between two models on one seed smaller than about this half-width are "
            "within the sampling noise of the test set.",
            "",
        ]
    else:
        lines += [f"n_test / accuracy: {NOT_RECORDED}.", ""]
    threshold = verdicts["power_alpha"].dropna()
    thr = _p(threshold.iloc[0]) if len(threshold) else "n/a"
    lines += [
        "### Seeds needed",
        "",
        f"Seeds for 80 % power at Holm's first-step threshold alpha/m = {thr} (conservative: "
        "Holm can only do better), for the observed effect and for an effect of "
        f"{min_effect:g}. Approximation: paired-t power (statsmodels `TTestPower`) with the "
        "effect standardised by the sd of the per-seed differences, divided by the asymptotic "
        "relative efficiency of the rank test under normality (Wilcoxon 3/pi = 0.955; Friedman "
        "3/pi * k/(k+1)). For Friedman questions the per-seed difference is best level minus "
        "worst level, so the power is that of detecting the range as a paired comparison of "
        "the two extreme levels (conservative when middle levels also differ; the observed "
        "range is biased upward, so its seed count is optimistic). Never below the smallest n "
        "at which the test can reach the threshold at all.",
        "",
        _md_table(
            [
                "Question",
                "Actor",
                "n",
                "Effect",
                "SD of per-seed differences",
                "Seeds (observed effect)",
                f"Seeds (effect {min_effect:g})",
            ],
            [
                (
                    _question_label(r["question"]),
                    _actor_label(r["actor"]),
                    int(r["n"]),
                    _f(r["effect"], 4),
                    _f(r["sd"], 4),
                    _seeds(r["seeds_for_80_power_observed"]),
                    _seeds(r["seeds_for_80_power_min_effect"]),
                )
                for _, r in verdicts.iterrows()
            ],
        ),
        "",
    ]
    return lines


def _baselines(df: pd.DataFrame, metric: str) -> dict[str, float]:
    cond = df["condition"].astype(str).str.strip().str.lower()
    sub = df[cond == "untrained"]
    if sub.empty:
        return {}
    values = pd.to_numeric(sub[metric], errors="coerce")
    return values.groupby(sub["eval_actor"].astype(str)).mean().to_dict()


def _section_matrices(
    mats: dict[str, stats.OrderMatrix], cl: pd.DataFrame, baselines: dict[str, float], metric: str
) -> list[str]:
    lines = [
        SECTIONS[3],
        "",
        f"Mean ± sd over seeds of {metric} of the shared model after each stage (rows) on "
        "each actor (columns, in training order).",
        "",
    ]
    if not mats:
        lines += ["No complete shared orders in results.csv.", ""]
    for name, mat in mats.items():
        actors = list(mat.mean.columns)
        rows = []
        for stage in mat.mean.index:
            rows.append(
                [stage, actors[stage - 1]]
                + [
                    f"{_f(mat.mean.loc[stage, a])} ± {_f(mat.sd.loc[stage, a])}"
                    if _finite(mat.mean.loc[stage, a])
                    else "n/a"
                    for a in actors
                ]
            )
        rows.append(["untrained (b)", "-"] + [_f(baselines.get(a, np.nan)) for a in actors])
        lines += [
            f"### {name.replace('>', ' > ')} ({mat.n_seeds} seeds)",
            "",
            _md_table(["Stage", "Trained"] + actors, rows),
            "",
        ]
    lines += [
        "### Continual-learning metrics",
        "",
        "Per order and seed, then mean ± sd over seeds: ACC = mean final accuracy over actors; "
        "BWT = mean over earlier actors of final minus just-trained accuracy (Lopez-Paz & "
        "Ranzato 2017); FWT = mean over later actors of the accuracy just before training them "
        "minus the untrained baseline b_j (ibid.); forgetting = mean over earlier actors of the "
        "best accuracy at stages 1..k-1 minus the final (Chaudhry et al. 2018).",
        "",
    ]
    if cl.empty:
        lines += ["No complete shared orders in results.csv.", ""]
    else:
        lines += [
            _md_table(
                ["Order", "Seeds", "ACC", "BWT", "FWT", "Forgetting"],
                [
                    (r["order"], int(r["n_seeds"]))
                    + tuple(f"{_f(r[c])} ± {_f(r[c + '_sd'])}" if _finite(r[c]) else "n/a" for c in stats.CL_COLUMNS)
                    for _, r in cl.iterrows()
                ],
            ),
            "",
        ]
    return lines


def _section_plots(plots: dict[str, str], n_orders: int) -> list[str]:
    capped = f" (first {MAX_HEATMAPS} of {n_orders} orders)" if n_orders > MAX_HEATMAPS else ""
    return [
        SECTIONS[4],
        "",
        f"![Accuracy by position per actor]({plots['position']})",
        "",
        f"![Forgetting per actor]({plots['forgetting']})",
        "",
        f"![Shared vs fresh, paired by seed]({plots['shared_vs_fresh']})",
        "",
        f"![Mean matrix per order{capped}]({plots['matrices']})",
        "",
    ]


def _config_block(config: object) -> list[str]:
    if not isinstance(config, dict):
        return ["```json", json.dumps(config, default=str), "```"]
    lines = []
    for key, value in config.items():
        lines.append(f"**{key}**:")
        lines.append("")
        if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            lines.append(_md_table(["Key", "Value"], [(k, v) for k, v in value.items()]))
        else:
            lines += ["```json", json.dumps(value, default=str), "```"]
        lines.append("")
    return lines


def trainings_summary(trainings: pd.DataFrame | None) -> dict | None:
    """Count, time and throughput of the trainings (overall and per ``path``)."""
    if trainings is None or trainings.empty:
        return None
    num = {
        c: pd.to_numeric(trainings[c], errors="coerce")
        for c in ("seconds", "images_per_second", "n_train")
        if c in trainings.columns
    }
    out: dict = {"trainings": int(len(trainings))}
    if "seconds" in num:
        out["total_seconds"] = float(num["seconds"].sum())
        out["mean_seconds"] = float(num["seconds"].mean())
    if "images_per_second" in num:
        out["median_images_per_second"] = float(num["images_per_second"].median())
    if "path" in trainings.columns and "seconds" in num:
        grouped = pd.DataFrame({"path": trainings["path"].astype(str), **num}).groupby("path")
        out["by_path"] = {
            p: {
                "trainings": int(len(g)),
                "total_seconds": float(g["seconds"].sum()),
                "median_images_per_second": float(g["images_per_second"].median())
                if "images_per_second" in g
                else None,
            }
            for p, g in grouped
        }
    return out


def sessions_summary(sessions: pd.DataFrame | None) -> dict | None:
    """Invocations of permute: count, first start, last finish, wall time, trainings."""
    if sessions is None or sessions.empty:
        return None
    out: dict = {"sessions": int(len(sessions))}
    if "started" in sessions.columns:
        out["first_started"] = str(sessions["started"].min())
    if "finished" in sessions.columns:
        out["last_finished"] = str(sessions["finished"].max())
    for col in ("wall_seconds", "trainings_run", "trainings_skipped"):
        if col in sessions.columns:
            out[f"total_{col}"] = float(pd.to_numeric(sessions[col], errors="coerce").sum())
    return out


def _section_provenance(df: pd.DataFrame, ix: stats.RunIndex, optional: dict, metric: str) -> list[str]:
    cond_counts = df["condition"].astype(str).value_counts().to_dict()
    n_test = (
        sorted(pd.to_numeric(df["n_test"], errors="coerce").dropna().astype(int).unique())
        if "n_test" in df.columns
        else []
    )
    seeds = list(ix.seeds)
    seed_text = ", ".join(map(str, seeds[:30])) + (" ..." if len(seeds) > 30 else "")
    lines = [
        SECTIONS[5],
        "",
        "### Data",
        "",
        _md_table(
            ["Item", "Value"],
            [
                ("results.csv rows", len(df)),
                ("metric", metric),
                ("seeds", f"{len(seeds)} ({seed_text})"),
                ("actors (k)", f"{ix.k}: {', '.join(ix.actors)}"),
                ("complete shared orders", len(ix.orders)),
                ("rows per condition", ", ".join(f"{k}: {v}" for k, v in cond_counts.items())),
                ("n_test", ", ".join(map(str, n_test)) or NOT_RECORDED),
            ],
        ),
        "",
    ]
    config = optional["config"]
    lines += ["### Configuration, versions, machine", ""]
    if config is None:
        lines += [f"config.json: {NOT_RECORDED} (configuration, dataset, versions, machine: {NOT_RECORDED}).", ""]
    else:
        if isinstance(config, dict):
            for key in ("config", "dataset", "versions", "machine"):
                if key not in config:
                    lines.append(f"- {key}: {NOT_RECORDED}")
            lines.append("")
        lines += _config_block(config)
    lines += ["### Wall time and throughput", ""]
    sessions = sessions_summary(optional["sessions"])
    if sessions is None:
        lines.append(f"- sessions.csv (wall time): {NOT_RECORDED}")
    else:
        lines.append("- sessions: " + ", ".join(f"{k} = {_num(v)}" for k, v in sessions.items()))
    trainings = trainings_summary(optional["trainings"])
    if trainings is None:
        lines.append(f"- trainings.csv (throughput): {NOT_RECORDED}")
    else:
        lines.append("- trainings: " + ", ".join(f"{k} = {_num(v)}" for k, v in trainings.items() if k != "by_path"))
        for path, s in trainings.get("by_path", {}).items():
            lines.append(f"  - {path}: " + ", ".join(f"{k} = {_num(v)}" for k, v in s.items()))
    for note in optional["notes"]:
        lines.append(f"- note: {note}")
    return lines + [""]


def _num(v: object) -> str:
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        return _f(v, 1) if abs(v) >= 100 else _f(v, 3)
    return "n/a" if v is None else str(v)


# --------------------------------------------------------------------------------------------
# Entry point


def write_report(run_dir: Path, metric: str = "accuracy", alpha: float = 0.05, min_effect: float = 0.05) -> Path:
    """Analyse ``run_dir/results.csv``; write report.md, report.json, verdicts.csv and plots.

    Returns the path of report.md. Raises ``ValueError`` (one line naming the file) when
    results.csv is missing, empty, or lacks a needed column or the metric column.
    """
    run_dir = Path(run_dir)
    df = load_results(run_dir, metric)
    optional = _read_optional(run_dir)
    ix = stats.build_index(df, metric)
    series = stats.per_seed_series(df, metric)
    verdicts = stats.run_tests(df, metric, alpha, min_effect)
    mats = stats.accuracy_matrices(df, metric)
    cl = stats.cl_metrics(df, metric)
    pairs = stats.shared_fresh_pairs(df, metric)
    wilson = _wilson_rows(df)
    baselines = _baselines(df, metric)
    claim_rows = claims(verdicts, len(ix.seeds), min_effect)
    plots = _plots(run_dir, series, verdicts, pairs, mats, metric)

    md = [
        f"# Report: {run_dir.name}",
        "",
        f"Metric: `{metric}`, alpha = {alpha:g}, min effect = {min_effect:g}; "
        f"{len(ix.seeds)} seeds, {ix.k} actors, {len(ix.orders)} shared orders.",
        "",
    ]
    md += _section_verdicts(verdicts, alpha, len(ix.seeds))
    md += _section_claims(claim_rows)
    md += _section_power(verdicts, wilson, alpha, min_effect)
    md += _section_matrices(mats, cl, baselines, metric)
    md += _section_plots(plots, len(mats))
    md += _section_provenance(df, ix, optional, metric)
    report_md = run_dir / "report.md"
    report_md.write_text("\n".join(md))

    verdicts[list(stats.VERDICT_COLUMNS)].to_csv(run_dir / "verdicts.csv", index=False)

    payload = {
        "run_dir": str(run_dir),
        "metric": metric,
        "alpha": alpha,
        "min_effect": min_effect,
        "n_seeds": len(ix.seeds),
        "seeds": list(ix.seeds),
        "actors": list(ix.actors),
        "k": ix.k,
        "orders": [">".join(o) for o in ix.orders],
        "questions": {
            q.qid: {
                "title": q.title,
                "test": q.test,
                "alternative": q.alternative,
                "series": q.series,
                "effect": q.effect,
            }
            for q in stats.QUESTIONS.values()
        },
        "verdicts": verdicts,
        "claims": claim_rows,
        "power": {
            "alpha_per_test": verdicts["power_alpha"].iloc[0] if len(verdicts) else None,
            "wilcoxon_are": stats.WILCOXON_ARE,
            "wilson": wilson,
        },
        "accuracy_matrices": {
            name: {"n_seeds": m.n_seeds, "mean": m.mean.to_dict(orient="index"), "sd": m.sd.to_dict(orient="index")}
            for name, m in mats.items()
        },
        "baselines": baselines,
        "cl_metrics": cl,
        "provenance": {
            "config": optional["config"],
            "trainings": trainings_summary(optional["trainings"]),
            "sessions": sessions_summary(optional["sessions"]),
            "notes": optional["notes"],
        },
        "plots": plots,
    }
    (run_dir / "report.json").write_text(json.dumps(jsonable(payload), indent=1, allow_nan=False))
    return report_md
