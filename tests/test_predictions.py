"""Per-image predictions: stable image ids, one row per test image per evaluation, stored with the
node's metrics, exported to predictions.parquet; and a run directory made by an older harness."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from images import make_folder_dataset
from test_permute import SMALL, invoke, results

from harness.config import DataConfig
from harness.data import load_dataset, make_split, stage_ids
from harness.metrics import score
from harness.schema import METRICS
from harness.store import NEW_METRICS
from harness.study import split_sequence

# The store's tables exactly as the harness before per-image predictions created them.
OLD_METRICS = [m for m in METRICS if m not in NEW_METRICS]
OLD_SCHEMA = f"""
CREATE TABLE trainings (
    seed INTEGER, path TEXT, stage INTEGER, trained_actor TEXT,
    n_train INTEGER, seconds REAL, images_per_second REAL, finished REAL,
    PRIMARY KEY (seed, path));
CREATE TABLE evaluations (
    seed INTEGER, path TEXT, eval_actor TEXT, {", ".join(f"{m} REAL" for m in OLD_METRICS)},
    PRIMARY KEY (seed, path, eval_actor));
CREATE TABLE sessions (
    started REAL, finished REAL, wall_seconds REAL, trainings_run INTEGER, trainings_skipped INTEGER);
"""


def test_image_ids_are_the_relative_path_and_a_content_hash(tmp_path):
    root = make_folder_dataset(tmp_path / "faces", {"A": 12, "B": 12}, negatives=14)
    config = DataConfig(dataset="folder", data_dir=str(root), image_size=8, cache_dir=str(tmp_path / "cache"))
    first, again = load_dataset(config), load_dataset(config)  # a decode, then a cache hit
    assert first.image_ids == again.image_ids
    file = root / "A" / "img_003.png"
    assert first.image_ids["A"][3] == f"A/img_003.png#{hashlib.sha256(file.read_bytes()).hexdigest()[:12]}"
    every = [i for ids in first.image_ids.values() for i in ids]
    assert len(set(every)) == len(every) == 12 + 12 + 14
    split = make_split(first, "disjoint", split_sequence(0))
    test_a = stage_ids(first, split, "A", "test")
    assert len(test_a) == len(split["A"].test_pos) + len(split["A"].test_neg)
    assert test_a[0].startswith("A/") and test_a[-1].startswith("otherActors/")


def permute_args(lfw_home: Path, out: Path) -> list[str]:
    return ["permute", "--seeds", "1", *SMALL, "--data-home", str(lfw_home), "--out", str(out)]


@pytest.fixture(scope="module")
def one_seed(lfw_home, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("one-seed")
    invoke(permute_args(lfw_home, run_dir))
    return run_dir


@pytest.mark.slow
def test_every_evaluation_has_one_prediction_per_test_image_aligned_across_models(one_seed):
    predictions = pd.read_parquet(one_seed / "predictions.parquet")
    assert list(predictions.columns) == ["seed", "path", "eval_actor", "image", "label", "probability"]
    assert predictions["path"].nunique() == 16  # root, 3 fresh, 6 of depth 2, 6 full orders
    for _, actor in predictions.groupby("eval_actor"):
        images = actor.groupby("path")["image"].apply(frozenset)
        assert images.nunique() == 1, "every model of the seed scores the same test images"
        labels = actor.groupby("image")["label"].nunique()
        assert (labels == 1).all()
    # The stored metrics are exactly the metrics of the stored probabilities.
    stored = pd.read_sql_query("SELECT * FROM evaluations", sqlite3.connect(one_seed / "results.sqlite"))
    for key, rows in predictions.groupby(["path", "eval_actor"]):
        expected = score(rows["label"].to_numpy(), rows["probability"].to_numpy())
        row = stored.set_index(["path", "eval_actor"]).loc[key]
        for metric in ("accuracy", "roc_auc", "log_loss", "brier", "p_true", "n_test"):
            assert row[metric] == pytest.approx(expected[metric], rel=1e-12)


def old_run_directory(finished: Path, old: Path, keep: str) -> None:
    """``old``: what the previous harness left after finishing the nodes of ``keep``'s subtree and
    the root: its SQLite schema (no predictions table, no new metric columns), its results.csv."""
    old.mkdir()
    shutil.copy(finished / "config.json", old / "config.json")
    source = sqlite3.connect(finished / "results.sqlite")
    kept = "path = '' OR path = ? OR path LIKE ?"
    with sqlite3.connect(old / "results.sqlite") as db:
        db.executescript(OLD_SCHEMA)
        trainings = source.execute(f"SELECT * FROM trainings WHERE {kept}", (keep, f"{keep}>%")).fetchall()
        db.executemany("INSERT INTO trainings VALUES (?, ?, ?, ?, ?, ?, ?, ?)", trainings)
        columns = ", ".join(["seed", "path", "eval_actor", *OLD_METRICS])
        evaluations = source.execute(f"SELECT {columns} FROM evaluations WHERE {kept}", (keep, f"{keep}>%"))
        db.executemany(f"INSERT INTO evaluations VALUES ({', '.join('?' * (3 + len(OLD_METRICS)))})", evaluations)
    source.close()
    rows = results(finished)
    rows = rows[(rows["trained_actor"] == "") | rows["order"].str.startswith(keep)]
    rows.drop(columns=list(NEW_METRICS)).to_csv(old / "results.csv", index=False)


@pytest.mark.slow
def test_a_run_directory_from_before_predictions_reports_resumes_and_says_so(one_seed, lfw_home, tmp_path):
    actor = results(one_seed).query("condition == 'fresh'")["order"].iloc[0]
    old = tmp_path / "old"
    old_run_directory(one_seed, old, actor)

    invoke(["report", str(old)])  # the old results.csv reports as it is, and says what it lacks
    assert "no predictions.parquet: no per-image evidence" in (old / "report.md").read_text()
    output = invoke(permute_args(lfw_home, old)).output
    notes = [line for line in output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "6 of the 6 nodes" in notes[0] and "older harness" in notes[0]

    resumed, baseline = results(old), results(one_seed)
    old_rows = (resumed["trained_actor"] == "") | resumed["order"].str.startswith(actor)
    pd.testing.assert_frame_equal(resumed.drop(columns=list(NEW_METRICS)), baseline.drop(columns=list(NEW_METRICS)))
    new = pd.read_csv(old / "results.csv")[list(NEW_METRICS)]
    assert new[old_rows].isna().all().all()
    pd.testing.assert_frame_equal(new[~old_rows], pd.read_csv(one_seed / "results.csv")[list(NEW_METRICS)][~old_rows])
    predictions = pd.read_parquet(old / "predictions.parquet")
    assert predictions["path"].nunique() == 10 and not (predictions["path"] == actor).any()
    assert (old / "report.md").exists()
    again = invoke(permute_args(lfw_home, old)).output  # still says so on the next resume
    assert sum(line.startswith("note: 6 of the 16 nodes") for line in again.splitlines()) == 1
