"""Section 6: the data analysed, the configuration, versions, machine and wall time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.analysis import Analysis
from harness.report.formatting import md_table, num

HEADING = "## 6. Data, configuration and provenance"
NOT_RECORDED = "not recorded"


def trainings_summary(trainings: pd.DataFrame | None) -> dict | None:
    """Count, time and throughput of the trainings (overall and per ``path``)."""
    if trainings is None or trainings.empty:
        return None
    cols = {
        c: pd.to_numeric(trainings[c], errors="coerce")
        for c in ("seconds", "images_per_second", "n_train")
        if c in trainings.columns
    }
    out: dict = {"trainings": int(len(trainings))}
    if "seconds" in cols:
        out["total_seconds"] = float(cols["seconds"].sum())
        out["mean_seconds"] = float(cols["seconds"].mean())
    if "images_per_second" in cols:
        out["median_images_per_second"] = float(cols["images_per_second"].median())
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


def _value(v: object) -> str:
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        return num(v, 1) if abs(v) >= 100 else num(v, 3)
    return "n/a" if v is None else str(v)


def _config_block(config: object) -> list[str]:
    if not isinstance(config, dict):
        return ["```json", json.dumps(config, default=str), "```"]
    lines = []
    for key, value in config.items():
        lines += [f"**{key}**:", ""]
        if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            lines.append(md_table(["Key", "Value"], [(k, v) for k, v in value.items()]))
        else:
            lines += ["```json", json.dumps(value, default=str), "```"]
        lines.append("")
    return lines


def section(a: Analysis, df: pd.DataFrame, optional: dict) -> list[str]:
    ix = a.index
    n_test = (
        sorted(pd.to_numeric(df["n_test"], errors="coerce").dropna().astype(int).unique())
        if "n_test" in df.columns
        else []
    )
    seed_text = ", ".join(map(str, ix.seeds[:30])) + (" ..." if len(ix.seeds) > 30 else "")
    lines = [
        HEADING,
        "",
        "### Data",
        "",
        md_table(
            ["Item", "Value"],
            [
                ("results.csv rows", len(df)),
                ("metric", a.metric),
                ("seeds", f"{len(ix.seeds)} ({seed_text})"),
                ("actors (k)", f"{ix.k}: {', '.join(ix.actors)}"),
                ("complete shared orders", len(ix.orders)),
                ("rows per condition", ", ".join(f"{k}: {v}" for k, v in df["condition"].value_counts().items())),
                ("n_test", ", ".join(map(str, n_test)) or NOT_RECORDED),
            ],
        ),
        "",
        "### Configuration, versions, machine",
        "",
    ]
    config = optional["config"]
    if config is None:
        lines += [f"config.json: {NOT_RECORDED} (configuration, dataset, versions, machine: {NOT_RECORDED}).", ""]
    else:
        missing = [
            f"- {key}: {NOT_RECORDED}" for key in ("config", "dataset", "versions", "machine") if key not in config
        ]
        lines += [*missing, "", *_config_block(config)]
    lines += ["### Wall time and throughput", ""]
    sessions = sessions_summary(optional["sessions"])
    trainings = trainings_summary(optional["trainings"])
    lines.append(
        f"- sessions.csv (wall time): {NOT_RECORDED}"
        if sessions is None
        else "- sessions: " + ", ".join(f"{k} = {_value(v)}" for k, v in sessions.items())
    )
    lines.append(
        f"- trainings.csv (throughput): {NOT_RECORDED}"
        if trainings is None
        else "- trainings: " + ", ".join(f"{k} = {_value(v)}" for k, v in trainings.items())
    )
    lines += [f"- note: {note}" for note in optional["notes"]]
    return [*lines, ""]
