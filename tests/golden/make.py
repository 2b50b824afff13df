"""Write the golden fixture of ``tests/test_golden.py`` from a finished run directory.

The fixture was made from a real tiny ``--seeds auto`` study on LFW (partial seeds, several looks, a
decided claim), so that every path from the store to the report is exercised::

    harness permute --seeds auto --look-every 2 --max-seeds 4 --q5-max-seeds 8 --epochs 2 \\
        --image-size 32 --max-positives 40 --negatives 40 --metric roc_auc --threads 1 --out DIR/run
    python tests/golden/make.py DIR/run

It keeps the run's inputs (config.json, sequential.json, results.sqlite as SQL text, with the
per-image predictions of seed 0 only, to keep it small) and, as the expected outputs, the files
the run exported (predictions.parquet as CSV) and the report permute wrote. The directory must be
named ``run``: report.md's title names it, and the test restores it under that name. Rerun it
only when an output is meant to change, and say so in the commit.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
INPUTS = ("config.json", "sequential.json")
EXPECTED = ("results.csv", "trainings.csv", "sessions.csv", "report.md", "report.json", "verdicts.csv")
PREDICTIONS = "predictions.csv"  # seed 0's rows of predictions.parquet, as CSV


def dump(database: Path) -> str:
    """The store as SQL text, predictions kept for seed 0 only."""
    with sqlite3.connect(":memory:") as copy:
        sqlite3.connect(database).backup(copy)
        copy.execute("DELETE FROM predictions WHERE seed != 0")
        return "\n".join(copy.iterdump()) + "\n"


def main(run_dir: Path) -> None:
    if run_dir.name != "run":
        raise SystemExit(f"{run_dir}: the run directory must be named 'run' (report.md's title names it)")
    (HERE / "store.sql").write_text(dump(run_dir / "results.sqlite"))
    for name in INPUTS:
        shutil.copy(run_dir / name, HERE / name)
    (HERE / "expected").mkdir(exist_ok=True)
    for name in EXPECTED:
        shutil.copy(run_dir / name, HERE / "expected" / name)
    predictions = pd.read_parquet(run_dir / "predictions.parquet").query("seed == 0")
    (HERE / "expected" / PREDICTIONS).write_text(predictions.to_csv(index=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
