"""What `harness permute --out` must refuse before any training, naming the entry: a directory of
other files, a place inside the data directory, entries of the wrong type, seeds the store cannot
hold; and snapshot names that stay within a file name for long actor names."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from images import make_folder_dataset
from test_permute import invoke
from test_run import refusal, stored_results

LARGEST_SEED = 2**63 - 1  # SQLite INTEGER

pytestmark = pytest.mark.slow

TINY = ["--epochs", "1", "--image-size", "32", "--threads", "1", "--max-positives", "12", "--negatives", "12"]


def folder_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["permute", "--seeds", "1", *TINY, "--data-dir", str(data_dir), "--out", str(out), *extra]


@pytest.fixture
def faces(tmp_path) -> Path:
    return make_folder_dataset(tmp_path / "faces", {"A": 14, "B": 14}, negatives=14)


def contents(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_directory_of_other_files_is_refused_naming_them_and_left_as_it_was(faces, tmp_path):
    """A results.csv from elsewhere (the README invites `harness report` on one) is not a run record."""
    out = tmp_path / "someone-elses"
    out.mkdir()
    (out / "results.csv").write_text("seed,condition\n0,shared\n")
    (out / "notes.txt").write_text("mine")
    before = contents(out)
    message = refusal(folder_args(faces, out))
    assert f"--out {out} is not empty and holds no harness run" in message and "notes.txt, results.csv" in message
    assert contents(out) == before and sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.csv"]


@pytest.mark.parametrize("database", ["empty", "foreign"])
def test_a_results_sqlite_that_is_not_the_harness_s_is_no_run_record(faces, tmp_path, database):
    """A user's own SQLite file (or an empty one) named results.sqlite does not make a directory a run."""
    import sqlite3

    out = tmp_path / "someone-elses"
    out.mkdir()
    (out / "results.csv").write_text("seed,condition\n0,shared\n")
    (out / "results.sqlite").write_bytes(b"")
    if database == "foreign":
        with sqlite3.connect(out / "results.sqlite") as db:
            db.execute("CREATE TABLE mine (x)")
    before = contents(out)
    message = refusal(folder_args(faces, out))
    assert f"--out {out} is not empty and holds no harness run" in message
    assert contents(out) == before


@pytest.mark.parametrize("where", ["the data directory", "an actor's folder", "below an actor's folder"])
def test_out_inside_the_data_directory_is_refused(faces, where):
    out = {"the data directory": faces, "an actor's folder": faces / "A", "below an actor's folder": faces / "A/run"}
    before = contents(faces)
    message = refusal(folder_args(faces, out[where]))
    assert f"is inside the data directory {faces}" in message and "--out" in message
    assert contents(faces) == before and not (faces / "A/run").exists()


@pytest.mark.parametrize(
    "entry, kind",
    [
        ("config.json", "dir"),
        (".lock", "dir"),
        ("results.sqlite", "dir"),
        ("results.csv", "dir"),
        ("predictions.parquet", "dir"),
        ("report.md", "dir"),
        ("plot_matrices.png", "dir"),
        ("snapshots", "file"),
        ("snapshots/0", "file"),
        ("snapshots/0/A.npz", "dir"),
        ("config.json", "fifo"),
        (".lock", "fifo"),
        (".lock", "link"),
        ("snapshots/0", "link"),
    ],
)
def test_an_entry_of_the_wrong_type_is_refused_before_training(faces, tmp_path, entry, kind):
    out = tmp_path / "run"
    stored_results(out)  # a run record, as a killed run leaves it
    path = out / entry
    victim = tmp_path / "outside.txt"
    victim.write_text("the user's")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        path.unlink()
    if kind == "dir":
        path.mkdir(parents=True)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link":  # a link out of the run directory: never followed, never written through
        path.symlink_to(victim)
    else:
        path.write_text("not a folder")
    message = refusal(folder_args(faces, out))
    found = {
        "dir": "a directory",
        "file": "a file",
        "fifo": "neither a file nor a directory",
        "link": "a symbolic link",
    }
    assert message.startswith(f"{path} is {found[kind]}, where a run keeps"), message
    assert "move it aside" in message and "--out" in message
    assert victim.read_text() == "the user's"


def test_seeds_beyond_what_the_store_holds_are_refused(faces, tmp_path):
    out = tmp_path / "run"
    message = refusal(folder_args(faces, out, "--first-seed", str(LARGEST_SEED), "--seeds", "2"))
    assert f"reaches seed {LARGEST_SEED + 1}" in message and "--first-seed" in message
    assert not out.exists()


def test_long_actor_names_train_with_bounded_snapshot_names(tmp_path):
    """Three legal 130-character folder names: a depth-2 path is 261 characters, too long for a file name."""
    actors = {name * 130: 14 for name in "ABC"}
    faces = make_folder_dataset(tmp_path / "faces", actors, negatives=14)
    out = tmp_path / "run"
    invoke(folder_args(faces, out, "--workers", "1"))
    trainings = pd.read_csv(out / "trainings.csv")
    assert len(trainings) == 15 and trainings["path"].str.len().max() == 3 * 130 + 2
    assert all(len(p.name) <= 255 for p in out.rglob("*")) and os.path.isdir(out / "snapshots")
