"""Golden outputs: a recorded study's store exports and report stay byte for byte what they were.

The fixture (``tests/golden``, made by ``tests/golden/make.py`` from a real tiny ``--seeds auto``
run on LFW: partial seeds, several looks, one claim decided) holds the run's config.json,
sequential.json and results.sqlite as SQL text. From them the store must export the same
results.csv, trainings.csv and sessions.csv, the sequential summary must be rebuilt from the
stored looks and plans as it was written, and ``harness report`` must write the same report.md,
report.json and verdicts.csv. Training itself is not part of it: its floats depend on the CPU's
kernels, and tree == naive and the resume tests hold it fixed within a machine.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app

GOLDEN = Path(__file__).with_name("golden")
EXPORTS = ("results.csv", "trainings.csv", "sessions.csv")
REPORTS = ("report.md", "report.json", "verdicts.csv")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The recorded run, restored: its config.json, sequential.json and results.sqlite."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "sequential.json"):
        shutil.copy(GOLDEN / name, run / name)
    with sqlite3.connect(run / "results.sqlite") as db:
        db.executescript((GOLDEN / "store.sql").read_text())
    return run


def actors() -> list[str]:
    return json.loads((GOLDEN / "config.json").read_text())["dataset"]["actors"]


def expected(name: str) -> bytes:
    return (GOLDEN / "expected" / name).read_bytes()


def export(run_dir: Path) -> None:
    """The store's CSV and parquet exports."""
    from harness.store import Store

    store = Store(run_dir)
    try:
        store.export(actors())
    finally:
        store.close()


def test_the_store_exports_the_recorded_files(run_dir):
    export(run_dir)
    for name in EXPORTS:
        assert (run_dir / name).read_bytes() == expected(name), name
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert predictions.to_csv(index=False).encode() == expected("predictions.csv")


def test_the_sequential_summary_is_rebuilt_from_the_stored_looks_and_plans(run_dir):
    from harness.auto import Result, Stop, summary, write_summary
    from harness.config import Design
    from harness.store import Store

    written = json.loads((GOLDEN / "sequential.json").read_text())
    settings = {key: written["design"][key] for key in Design.__dataclass_fields__}
    design = Design(**settings)
    store = Store(run_dir)
    try:
        looks, plans = store.looks(), store.plans()
    finally:
        store.close()
    result = Result(Stop(written["stop"]), written["seeds"], looks, written["seconds_per_training"], plans)
    rebuilt = summary(design, result, written["metric"], written["budget_seconds"], len(actors()))
    out = write_summary(run_dir / "rebuilt", rebuilt)
    assert out.read_bytes() == (GOLDEN / "sequential.json").read_bytes()


def test_harness_report_writes_the_recorded_report(run_dir):
    export(run_dir)
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    for name in ("report.md", "verdicts.csv"):
        assert (run_dir / name).read_bytes() == expected(name), name
    recorded_at = json.loads(expected("report.json"))["run_dir"]  # the one line that names the directory
    written = (run_dir / "report.json").read_text().replace(json.dumps(str(run_dir)), json.dumps(recorded_at))
    assert written.encode() == expected("report.json")
