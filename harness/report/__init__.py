"""The report of a ``harness permute`` run directory: report.md, report.json, verdicts.csv, plots.

Reads ``RUN_DIR/results.csv`` (required) and, when present, ``config.json``, ``trainings.csv``
and ``sessions.csv``. Every number comes from one :func:`harness.analysis.analyse`; this package
only reads, formats, draws and writes (each file atomically). It never imports TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness import rundir
from harness.analysis import Analysis, analyse
from harness.analysis.validate import read_results
from harness.config import Settings, check_min_effect_range, recorded
from harness.report import exploratory, matrices, noise, primary, provenance, sequential
from harness.report.files import read_optional, write_atomic, write_text
from harness.report.formatting import jsonable
from harness.report.plots import PLOTS, write_plots
from harness.report.records import VERDICT_COLUMNS, decision_record, verdict_rows

SECTIONS: tuple[str, ...] = (
    primary.HEADING,
    "## 2. Plots",
    exploratory.HEADING,
    noise.HEADING,
    matrices.HEADING,
    provenance.HEADING,
)
"""Level-2 headings of report.md, in order."""

__all__ = ["PLOTS", "SECTIONS", "VERDICT_COLUMNS", "Written", "write_report"]


@dataclass(frozen=True, eq=False)
class Written:
    """What ``write_report`` produced: report.md's path, the analysis, the terminal lines."""

    report_md: Path
    analysis: Analysis
    lines: tuple[str, ...]


def headline(used: Settings, planned: Settings, recorded_names: frozenset[str]) -> str:
    """The report's first line: the pre-specified analysis (the run's recorded settings), or an
    exploratory one, naming every setting that departs from them."""

    def source(name: str) -> str:
        return "recorded in config.json" if name in recorded_names else "assumed: config.json records none"

    if used == planned:
        return f"Primary analysis of {used.metric} (the primary metric, {source('metric')})."
    departures = []
    if used.metric != planned.metric:
        departures.append(f"{used.metric} is not the primary metric ({planned.metric}, {source('metric')})")
    for name, words in (("alpha", "alpha"), ("min_effect", "min effect")):
        if getattr(used, name) != getattr(planned, name):
            departures.append(
                f"{words} {getattr(used, name):g} departs from the recorded settings "
                f"({words} {getattr(planned, name):g}, {source(name)})"
            )
    return f"EXPLORATORY: {'; '.join(departures)}; the verdicts below are not the study's pre-specified answer."


def _plots_section(plots: dict[str, str], n_orders: int) -> list[str]:
    capped = f" (first 24 of {n_orders} orders)" if n_orders > 24 else ""
    return [
        SECTIONS[1],
        "",
        f"![Primary effects per seed with 95 % t-intervals]({plots['primary']})",
        "",
        f"![By position, per actor and pooled]({plots['position']})",
        "",
        f"![Shared vs fresh, paired by seed]({plots['shared_vs_fresh']})",
        "",
        f"![Mean matrix per order{capped}]({plots['matrices']})",
        "",
    ]


def write_report(
    run_dir: Path, metric: str | None = None, alpha: float | None = None, min_effect: float | None = None
) -> Written:
    """Analyse ``run_dir/results.csv`` with ``metric``, ``alpha`` and ``min_effect`` (each by default
    the run's recorded setting, ``harness.config.recorded``); write report.md, report.json, verdicts.csv and
    the plots. The first line says when a setting departs from the recorded ones.

    Bad input (missing, unreadable or invalid results.csv; an unknown metric) raises
    ``HarnessError`` with one line, before anything is written.
    """
    run_dir = Path(run_dir)
    path, df = read_results(run_dir)
    optional = read_optional(run_dir)
    config = optional["config"]
    planned, recorded_names = recorded(config.get("config") if isinstance(config, dict) else None)
    given = {"metric": metric, "alpha": alpha, "min_effect": min_effect}
    used = Settings(**(planned.to_dict() | {k: v for k, v in given.items() if v is not None}))
    check_min_effect_range(used)
    metric, alpha, min_effect = used.metric, used.alpha, used.min_effect
    a = analyse(df, metric, alpha, min_effect, source=str(path))
    first = headline(used, planned, recorded_names)
    lines = (first, *(primary.line(d) for d in a.primary))

    plots = write_plots(run_dir, a)
    wilson = noise.wilson_rows(df)
    base = matrices.baselines(df, metric)
    md = [
        f"# Report: {run_dir.name}. {first}",
        "",
        f"Metric `{metric}`, alpha = {alpha:g}, min effect = {min_effect:g}; {len(a.seeds)} seeds, "
        f"{a.index.k} actors, {len(a.index.orders)} shared orders.",
        "",
        *primary.section(a),
        *sequential.section(run_dir),
        *_plots_section(plots, len(a.matrices)),
        *exploratory.section(a),
        *noise.section(a, wilson),
        *matrices.section(a, base),
        *provenance.section(a, df, optional),
    ]
    report_md = run_dir / rundir.REPORT_MD
    write_text(report_md, "\n".join(md))
    write_atomic(run_dir / rundir.VERDICTS, lambda tmp: verdict_rows(a).to_csv(tmp, index=False))
    payload = {
        "headline": first,
        "run_dir": str(run_dir),
        "metric": metric,
        "primary_metric": planned.metric,
        "exploratory_metric": metric != planned.metric,
        "recorded_settings": planned.to_dict(),
        "exploratory_settings": used != planned,
        "alpha": alpha,
        "min_effect": min_effect,
        "n_seeds": len(a.seeds),
        "seeds": list(a.seeds),
        "actors": list(a.index.actors),
        "k": a.index.k,
        "orders": [">".join(o) for o in a.index.orders],
        "primary": [decision_record(d) for d in a.primary],
        "exploratory": [decision_record(d) for d in a.exploratory],
        "wilson": wilson,
        "accuracy_matrices": {
            name: {"n_seeds": m.n_seeds, "mean": m.mean.to_dict(orient="index"), "sd": m.sd.to_dict(orient="index")}
            for name, m in a.matrices.items()
        },
        "baselines": base,
        "cl_metrics": a.cl_metrics,
        "provenance": {
            "config": optional["config"],
            "trainings": provenance.trainings_summary(optional["trainings"]),
            "sessions": provenance.sessions_summary(optional["sessions"]),
            "notes": optional["notes"],
        },
        "plots": plots,
        "sequential": sequential.read(run_dir),
    }
    text = json.dumps(jsonable(payload), indent=1, allow_nan=False)
    write_text(run_dir / rundir.REPORT_JSON, text)
    return Written(report_md, a, lines)
