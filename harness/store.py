"""The run directory: a SQLite results store, its lock, weight snapshots and CSV exports.

Each finished node's evaluations are committed in one transaction, so a killed run loses at most
the nodes in flight, and running the same command again skips what is already stored.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.schema import METRICS
from harness.study import Node, conditions

NEW_METRICS = ("log_loss", "brier", "p_true")  # what stores made before per-image predictions lack

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS trainings (
    seed INTEGER, path TEXT, stage INTEGER, trained_actor TEXT,
    n_train INTEGER, seconds REAL, images_per_second REAL, finished REAL,
    PRIMARY KEY (seed, path));
CREATE TABLE IF NOT EXISTS evaluations (
    seed INTEGER, path TEXT, eval_actor TEXT, {", ".join(f"{m} REAL" for m in METRICS)},
    PRIMARY KEY (seed, path, eval_actor));
CREATE TABLE IF NOT EXISTS sessions (
    started REAL, finished REAL, wall_seconds REAL, trainings_run INTEGER, trainings_skipped INTEGER);
CREATE TABLE IF NOT EXISTS predictions (
    seed INTEGER, path TEXT, eval_actor TEXT, image TEXT, label INTEGER, probability REAL,
    PRIMARY KEY (seed, path, eval_actor, image)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS looks (
    look INTEGER, seeds INTEGER, claim TEXT, alternative TEXT, alpha REAL, p REAL, effect REAL,
    ci_low REAL, ci_high REAL, sd REAL, boundary_z REAL, boundary_p REAL, decision TEXT, recorded REAL,
    PRIMARY KEY (look, claim));
"""
LOOK_COLUMNS = (
    "look",
    "seeds",
    "claim",
    "alternative",
    "alpha",
    "p",
    "effect",
    "ci_low",
    "ci_high",
    "sd",
    "boundary_z",
    "boundary_p",
    "decision",
)


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold RUN_DIR's lock for the duration; a second writer gets one clear line instead."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise HarnessError(f"{run_dir} is in use by {holder}; wait for it or pass another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"harness process {os.getpid()}")
        handle.flush()
        yield


def check_config(run_dir: Path, record: dict) -> None:
    """Write config.json, or refuse a run dir that holds another configuration."""
    file = run_dir / "config.json"
    if file.exists():
        stored = json.loads(file.read_text())
        differs = [
            f"{key}: {stored['config'].get(key)!r} there, {value!r} now"
            for key, value in record["config"].items()
            if stored["config"].get(key) != value
        ]
        if stored.get("dataset", {}).get("fingerprint") != record["dataset"]["fingerprint"]:
            differs.append("the dataset's files changed (fingerprint differs)")
        if differs:
            raise HarnessError(f"{run_dir} holds a different study ({'; '.join(differs)}); pass another --out")
    file.write_text(json.dumps(record, indent=2, default=str))


class Store:
    """Results of one run directory; only the driver process writes it."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.snapshots = run_dir / "snapshots"
        self.db = sqlite3.connect(run_dir / "results.sqlite")
        self.db.executescript(SCHEMA)
        self.add_missing_metric_columns()

    def add_missing_metric_columns(self) -> None:
        """A store from an older harness lacks newer metric columns: add them (empty for its rows)."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(evaluations)")}
        with self.db:
            for metric in METRICS:
                if metric not in present:
                    self.db.execute(f"ALTER TABLE evaluations ADD COLUMN {metric} REAL")

    def legacy_note(self) -> str | None:
        """One line when stored nodes predate per-image predictions (an older harness made them)."""
        total, without = self.db.execute(
            "SELECT COUNT(*), SUM(NOT EXISTS (SELECT 1 FROM predictions p WHERE p.seed = t.seed AND p.path = t.path)) "
            "FROM trainings t"
        ).fetchone()
        if not without:
            return None
        return (
            f"note: {without} of the {total} nodes stored in {self.run_dir} were made by an older harness: they have "
            f"no per-image predictions and no {', '.join(NEW_METRICS)} (empty in results.csv); new nodes have them"
        )

    def close(self) -> None:
        self.db.close()

    def finished(self) -> set[Node]:
        rows = self.db.execute("SELECT seed, path FROM trainings").fetchall()
        return {Node(seed, tuple(path.split(">")) if path else ()) for seed, path in rows}

    def commit(
        self,
        node: Node,
        n_train: int,
        seconds: float,
        evaluations: list[dict],
        predictions: pd.DataFrame | None = None,
    ) -> None:
        """Store one node's training record, its evaluations and its per-image predictions in one transaction."""
        rate = n_train / seconds if seconds > 0 else None
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO trainings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    node.seed,
                    node.name,
                    len(node.path),
                    node.path[-1] if node.path else "",
                    n_train,
                    seconds,
                    rate,
                    time.time(),
                ),
            )
            self.db.executemany(
                f"INSERT OR REPLACE INTO evaluations (seed, path, eval_actor, {', '.join(METRICS)}) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(METRICS))})",
                [(node.seed, node.name, e["eval_actor"], *(e[m] for m in METRICS)) for e in evaluations],
            )
            if predictions is not None:
                self.db.executemany(
                    "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?)",
                    zip(
                        [node.seed] * len(predictions),
                        [node.name] * len(predictions),
                        predictions["eval_actor"],
                        predictions["image"],
                        predictions["label"].astype(int).tolist(),
                        predictions["probability"].astype(float).tolist(),
                        strict=True,
                    ),
                )

    def record_look(self, records: list[dict]) -> None:
        """One sequential look (every claim tested at it, with ``LOOK_COLUMNS``) in one transaction;
        a look is recorded once and never replaced."""
        recorded = time.time()
        with self.db:
            self.db.executemany(
                f"INSERT INTO looks VALUES ({', '.join('?' * (len(LOOK_COLUMNS) + 1))})",
                [(*(r[c] for c in LOOK_COLUMNS), recorded) for r in records],
            )

    def looks(self) -> pd.DataFrame:
        """Every recorded look's claims, in look order."""
        return pd.read_sql_query(f"SELECT {', '.join(LOOK_COLUMNS)} FROM looks ORDER BY look, rowid", self.db)

    def record_session(self, started: float, run: int, skipped: int) -> None:
        finished = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (started, finished, finished - started, run, skipped)
            )

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_sql_query(f"SELECT * FROM {name}", self.db)

    def export(self, actors: list[str]) -> Path:
        """Write results.csv (one tidy row per evaluation), predictions.parquet, trainings.csv and sessions.csv."""
        evaluations = self.table("evaluations")
        for count in ("tp", "fp", "tn", "fn", "n_test"):
            evaluations[count] = evaluations[count].astype(int)
        conditions(evaluations, actors).to_csv(self.run_dir / "results.csv", index=False)
        trainings = self.table("trainings").query("stage > 0").drop(columns="finished")
        trainings.sort_values(["seed", "stage", "path"]).to_csv(self.run_dir / "trainings.csv", index=False)
        sessions = self.table("sessions")
        for column in ("started", "finished"):
            sessions[column] = pd.to_datetime(sessions[column], unit="s", utc=True)
        sessions.to_csv(self.run_dir / "sessions.csv", index=False)
        self.export_predictions()
        return self.run_dir / "results.csv"

    def export_predictions(self) -> Path:
        """predictions.parquet: one row per (seed, node path, eval_actor, image), written atomically."""
        file = self.run_dir / "predictions.parquet"
        partial = file.with_suffix(f".{os.getpid()}.tmp")
        self.table("predictions").to_parquet(partial, index=False)
        os.replace(partial, file)
        return file

    # Snapshots let a resumed run branch from nodes a previous process finished.
    def snapshot_file(self, node: Node) -> Path:
        return self.snapshots / str(node.seed) / f"{node.name or 'root'}.npz"

    def save_snapshot(self, node: Node, weights: list[np.ndarray], optimizer: list[np.ndarray]) -> None:
        file = self.snapshot_file(node)
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(".tmp.npz")
        arrays = {f"w{i}": w for i, w in enumerate(weights)} | {f"o{i}": o for i, o in enumerate(optimizer)}
        np.savez(partial, **arrays)
        os.replace(partial, file)

    def load_snapshot(self, node: Node) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        file = self.snapshot_file(node)
        if not file.exists():
            return None
        with np.load(file) as stored:
            count = lambda prefix: sum(key.startswith(prefix) for key in stored.files)  # noqa: E731
            return [stored[f"w{i}"] for i in range(count("w"))], [stored[f"o{i}"] for i in range(count("o"))]

    def drop_snapshot(self, node: Node) -> None:
        self.snapshot_file(node).unlink(missing_ok=True)


def default_run_dir(config: dict) -> Path:
    """``reports/<dataset>-<k>actors-<n>seeds-<hash>``: the same command finds the same directory."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]
    actors = len(config["actors"]) if config.get("actors") else "default-"
    return Path("reports") / f"{config['dataset']}-{actors}actors-{len(config['seeds'])}seeds-{digest}"


def environment() -> dict:
    """Package versions and the machine, recorded with every run."""
    packages = [
        "harness",
        "tensorflow",
        "keras",
        "numpy",
        "pandas",
        "scikit-learn",
        "scipy",
        "opencv-python-headless",
        "dask",
        "distributed",
    ]
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "hostname": platform.node(),
    }
    return {"versions": versions, "machine": machine}


def run_record(config: dict, dataset) -> dict:
    """What config.json holds: the configuration, the data actually loaded, versions, machine."""
    counts = {actor: len(images.paths) for actor, images in dataset.positives.items()}
    return {
        "config": config,
        "seeds": config["seeds"],
        "dataset": {
            "fingerprint": dataset.fingerprint,
            "actors": dataset.actors,
            "source": str(dataset.source),
            "images": counts,
            "negatives": len(dataset.negatives.paths),
            "skipped": len(dataset.skipped),
            "duplicates": len(dataset.duplicates),
        },
        **environment(),
    }
