"""The run directory: a SQLite results store, its lock, weight snapshots and CSV exports.

Each finished node's evaluations are committed in one transaction, so a killed run loses at most
the nodes in flight, and running the same command again skips what is already stored.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from harness import rundir
from harness.choices import DEFAULT_MODEL
from harness.config import recorded
from harness.errors import HarnessError
from harness.files import atomic_write, disk_full, remove_leftovers, replacing
from harness.looks import ClaimLook, LookDecision
from harness.schema import METRICS, Condition, Plan
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
    shown_by TEXT DEFAULT '', PRIMARY KEY (look, claim));
CREATE TABLE IF NOT EXISTS plans (seed INTEGER PRIMARY KEY, depth INTEGER, recorded REAL);
"""
TRAINING_COLUMNS = ("seed", "path", "stage", "trained_actor", "n_train", "seconds", "images_per_second", "finished")
EVALUATION_COLUMNS = ("seed", "path", "eval_actor", *METRICS)
SESSION_COLUMNS = ("started", "finished", "wall_seconds", "trainings_run", "trainings_skipped")
PREDICTION_COLUMNS = ("seed", "path", "eval_actor", "image", "label", "probability")
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
    "shown_by",
)


LOOK_FLOATS = ("alpha", "p", "effect", "ci_low", "ci_high", "sd", "boundary_z", "boundary_p")


def _look(row: dict) -> ClaimLook:
    """A stored look's row as its record (NULL floats as NaN)."""
    numbers = {k: math.nan if row[k] is None else float(row[k]) for k in LOOK_FLOATS}
    return ClaimLook(
        **{
            **row,
            **numbers,
            "look": int(row["look"]),
            "seeds": int(row["seeds"]),
            "decision": LookDecision(row["decision"]),
            "shown_by": row["shown_by"] or "",
        }
    )


def check_writable(run_dir: Path) -> None:
    """Refuse, before any work, a run directory that is a file or cannot be created or written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise HarnessError(f"the run directory {run_dir} is a file; pass --out a directory")
    existing = next(p for p in (run_dir.absolute(), *run_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise HarnessError(f"cannot create the run directory {run_dir}: {existing} is a file; pass another --out")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise HarnessError(
            f"cannot write the run directory {run_dir}: {existing} is not writable ({error.strerror}); "
            "make it writable or pass another --out"
        ) from None


def read_config(run_dir: Path) -> dict | None:
    """The record in RUN_DIR/config.json, ``None`` if there is none; one line if it is damaged."""
    file = run_dir / rundir.CONFIG
    if not file.exists():
        return None
    try:
        stored = json.loads(file.read_text())
        if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
            raise ValueError("not a harness run record")
    except (ValueError, UnicodeDecodeError) as error:
        raise HarnessError(
            f"{file} is damaged ({error}); move it aside to let this command write it anew "
            f"(the results stored in {run_dir} are kept and taken to be of this study), or pass another --out"
        ) from None
    return stored


def check_store(file: Path) -> None:
    """One line, naming the file and the choices, when results.sqlite is not a sound SQLite database.

    Opened for writing, so that SQLite rolls back a transaction a kill left half-written; a
    database that another process holds busy is not damaged (the lock then says who has it).
    """
    if not file.exists():
        return
    try:
        with closing(sqlite3.connect(file)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return
        verdict = str(error)
    if verdict != "ok":
        raise HarnessError(
            f"{file} is damaged ({verdict}); move it aside to start this study afresh there, or pass another --out"
        )


def check_entries(run_dir: Path) -> None:
    """Refuse, naming it, an entry of the run directory of the wrong type (config.json or .lock a
    directory, snapshots a file, a seed's snapshot folder a file, a snapshot a directory), which would
    otherwise end the session in a traceback, some only once every training is done."""
    wrong = [
        (path, _kind(path), "a file")
        for pattern in (*rundir.FILES, f"{rundir.SNAPSHOTS}/*/*.npz")
        for path in sorted(run_dir.glob(pattern))
        if path.is_symlink() or not path.is_file()
    ] + [
        (path, _kind(path), "its folder")
        for pattern in (*rundir.FOLDERS, f"{rundir.SNAPSHOTS}/*")
        for path in sorted(run_dir.glob(pattern))
        if path.is_symlink() or not path.is_dir()
    ]
    if wrong:
        path, found, expected = wrong[0]
        raise HarnessError(f"{path} is {found}, where a run keeps {expected}; move it aside, or pass another --out")


def _kind(path: Path) -> str:
    """What a run-directory entry is, in the words of a refusal."""
    if path.is_symlink():
        return "a symbolic link"
    return "a directory" if path.is_dir() else "a file" if path.is_file() else "neither a file nor a directory"


def _holds_harness_tables(database: Path) -> bool:
    """Whether ``database`` is a SQLite file with the harness's evaluations table (opened read-only)."""
    try:
        with closing(sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)) as db:
            return (
                db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evaluations'").fetchone()
                is not None
            )
    except sqlite3.DatabaseError:
        return False


def check_run_record(run_dir: Path) -> None:
    """Refuse a directory that holds other things and no run record: a run there would replace a
    results.csv, report.md or plots that some other study wrote, and add its own among the user's files."""
    present = sorted(p.name for p in run_dir.iterdir() if p.name != rundir.LOCK)
    record = (run_dir / rundir.CONFIG).is_file() or _holds_harness_tables(run_dir / rundir.STORE)
    if present and not record:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise HarnessError(
            f"--out {run_dir} is not empty and holds no harness run (no {' or '.join(rundir.RECORD)}): {shown}; "
            "pass a new or empty directory, or the run directory of this study"
        )


def check_outside(run_dir: Path, data_dir: str | None) -> None:
    """Refuse a run directory inside the data directory: its plots would become an actor's images
    and its snapshots folder an actor of the next study."""
    if data_dir and run_dir.resolve().is_relative_to(Path(data_dir).resolve()):
        raise HarnessError(
            f"--out {run_dir} is inside the data directory {data_dir} (--data-dir): the run's files would be "
            "read as images; pass an --out outside it"
        )


def check_run_dir(run_dir: Path) -> None:
    """Everything about RUN_DIR that can be refused before the data is loaded."""
    check_writable(run_dir)
    if run_dir.is_dir():
        check_entries(run_dir)
        read_config(run_dir)
        check_store(run_dir / rundir.STORE)  # a damaged store is named as such, before "no run record"
        check_run_record(run_dir)


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold RUN_DIR's lock for the duration; a second writer gets one clear line instead."""
    run_dir.mkdir(parents=True, exist_ok=True)
    try:  # never through a link: the lock file is written, and nothing outside the run directory may be
        descriptor = os.open(run_dir / rundir.LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise HarnessError(
            f"{run_dir / '.lock'} cannot be opened as the run's lock ({error.strerror}); "
            "move it aside, or pass another --out"
        ) from None
    with open(descriptor, "r+") as handle:
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


ADDED_LATER: dict[str, object] = {"model": DEFAULT_MODEL}
"""Study keys that older run directories lack, with the value that reproduces what those runs did: such a
directory still resumes under the default (the analysis settings' defaults are ``harness.config.Settings``')."""
MODEL_KEYS = ("sha256", "parameters", "layers", "optimizer", "loss")
"""What config.json's ``model`` section (``harness.factory.ModelInfo``) identifies a model by, beside its spec."""


def check_config(run_dir: Path, record: dict) -> None:
    """Refuse a run dir that holds another study, or was started with another thread count. The analysis
    settings that older run directories lack read as what those runs did (``harness.config.recorded``), so such
    a directory still resumes under them."""
    stored = read_config(run_dir)
    if stored is None:
        return
    then = recorded(stored["config"])[0].to_dict() | ADDED_LATER | stored["config"]
    if isinstance(then.get("design"), dict):  # a design from before Q5's own horizon: Q5 stopped with the others
        then["design"] = {"q5_max_seeds": then["design"].get("max_seeds")} | then["design"]
    differs = [
        f"{key}: {then.get(key)!r} there, {value!r} now"
        for key, value in record["config"].items()
        if then.get(key) != value
    ]
    if stored.get("dataset", {}).get("fingerprint") != record["dataset"]["fingerprint"]:
        differs.append("the dataset's files changed (fingerprint differs)")
    model_then, model_now = stored.get("model") or {}, record.get("model") or {}
    changed = [  # a None (a factory of the harness package, harness.factory.ModelInfo) is not compared
        key
        for key in MODEL_KEYS
        if model_then.get(key) is not None and model_now.get(key) is not None and model_then[key] != model_now[key]
    ]
    differs += [
        f"the model's {key} differs" + (f" ({model_then['source']} changed)" * (key == "sha256")) for key in changed
    ]
    if differs:
        raise HarnessError(f"{run_dir} holds a different study ({'; '.join(differs)}); pass another --out")
    then = (stored.get("execution") or {}).get("threads_per_worker")
    now = record["execution"]["threads_per_worker"]
    if then is not None and then != now:
        raise HarnessError(
            f"{run_dir} was started with {then} TensorFlow threads per worker and this command would use {now}, "
            f"so its results would no longer be bit-identical; pass --threads {then}, or another --out"
        )


def write_config(run_dir: Path, record: dict) -> None:
    """config.json, written once, when the run directory starts (resuming never rewrites it)."""
    file = run_dir / rundir.CONFIG
    if not file.exists():
        atomic_write(file, json.dumps(record, indent=2, default=str))


Structure = tuple[tuple[tuple[tuple[int, ...], str], ...], ...]
"""(shape, dtype) of every weight array and of every optimizer variable: what a snapshot must match."""


def structure_of(arrays: list[np.ndarray]) -> tuple[tuple[tuple[int, ...], str], ...]:
    return tuple((tuple(a.shape), str(a.dtype)) for a in arrays)


LONGEST_NAME = 200
"""Bytes of a node path kept as a snapshot's file name: file systems allow 255, and the temporary
file that ``replacing`` writes beside it adds about 20."""


class Store:
    """Results of one run directory; only the driver process, holding the lock, writes it."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.snapshots = run_dir / rundir.SNAPSHOTS
        check_store(run_dir / rundir.STORE)
        remove_leftovers(run_dir)
        self.db = sqlite3.connect(run_dir / rundir.STORE)
        with self.transaction():
            self.db.executescript(SCHEMA)
        self.add_missing_columns()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (rolled back when the block fails); a full disk as one ``DiskFull`` line."""
        try:
            with self.db:
                yield
        except sqlite3.OperationalError as error:
            if full := disk_full(error, self.run_dir / rundir.STORE):
                raise full from None
            raise

    def add_missing_columns(self) -> None:
        """A store from an older harness lacks newer metric columns and the looks' ``shown_by``: add
        them (empty for its rows)."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(evaluations)")}
        looks = {row[1] for row in self.db.execute("PRAGMA table_info(looks)")}
        with self.transaction():
            for metric in METRICS:
                if metric not in present:
                    self.db.execute(f"ALTER TABLE evaluations ADD COLUMN {metric} REAL")
            if "shown_by" not in looks:
                self.db.execute("ALTER TABLE looks ADD COLUMN shown_by TEXT DEFAULT ''")

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
        with self.transaction():
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

    def record_look(self, records: list[ClaimLook]) -> None:
        """One sequential look (every claim tested at it) in one transaction; a look is recorded
        once and never replaced."""
        recorded = time.time()
        rows = [r.to_dict() for r in records]
        with self.transaction():
            self.db.executemany(
                f"INSERT INTO looks ({', '.join((*LOOK_COLUMNS, 'recorded'))}) "
                f"VALUES ({', '.join('?' * (len(LOOK_COLUMNS) + 1))})",
                [(*(r[c] for c in LOOK_COLUMNS), recorded) for r in rows],
            )

    def looks(self) -> list[ClaimLook]:
        """Every recorded look's claims, in look order (SQLite keeps NaN as NULL)."""
        rows = self.db.execute(f"SELECT {', '.join(LOOK_COLUMNS)} FROM looks ORDER BY look, rowid").fetchall()
        return [_look(dict(zip(LOOK_COLUMNS, row, strict=True))) for row in rows]

    def record_plans(self, plans: dict[int, int]) -> None:
        """``--seeds auto``: how deep each new seed's tree is to be trained (its number of actors for
        the whole tree, 1 for the fresh models only), in one transaction, before any of it is
        trained; a seed's plan is recorded once and never replaced."""
        recorded = time.time()
        with self.transaction():
            self.db.executemany("INSERT INTO plans VALUES (?, ?, ?)", [(s, d, recorded) for s, d in plans.items()])

    def plans(self) -> dict[int, int]:
        """Seed -> the depth of its tree that was planned (empty for a fixed design)."""
        return dict(self.db.execute("SELECT seed, depth FROM plans ORDER BY seed").fetchall())

    def record_session(self, started: float, run: int, skipped: int) -> None:
        finished = time.time()
        with self.transaction():
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (started, finished, finished - started, run, skipped)
            )

    def evaluations(self) -> pd.DataFrame:
        """One row per (seed, node path, eval_actor): the metrics of ``harness.schema.METRICS``."""
        return pd.read_sql_query(f"SELECT {', '.join(EVALUATION_COLUMNS)} FROM evaluations", self.db)

    def trainings(self) -> pd.DataFrame:
        """One row per stored node (``TRAINING_COLUMNS``; stage 0: an untrained root, evaluated only)."""
        return pd.read_sql_query(f"SELECT {', '.join(TRAINING_COLUMNS)} FROM trainings", self.db)

    def sessions(self) -> pd.DataFrame:
        """One row per session on this run directory (``SESSION_COLUMNS``, times in Unix seconds)."""
        return pd.read_sql_query(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions", self.db)

    def predictions(self) -> pd.DataFrame:
        """One row per (seed, node path, eval_actor, test image): its label and predicted probability."""
        return pd.read_sql_query(f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM predictions", self.db)

    def wall_seconds(self) -> float:
        """Wall seconds of every earlier session on this run directory."""
        return float(self.db.execute("SELECT COALESCE(SUM(wall_seconds), 0) FROM sessions").fetchone()[0])

    def seconds_per_training(self) -> float | None:
        """The harness's one estimate of a training's seconds here: the median training time of the
        nodes stored (untrained roots excluded; same configuration, usually the same machine);
        None before any."""
        trained = self.trainings().query("n_train > 0")["seconds"]
        return float(trained.median()) if len(trained) else None

    def images_per_second(self, since: float) -> float | None:
        """Training images per second of the trainings finished since ``since`` (None if none trained)."""
        trainings = self.trainings()
        mine = trainings[(trainings["stage"] > 0) & (trainings["finished"] >= since)]
        seconds = mine["seconds"].sum()
        return float(mine["n_train"].sum() / seconds) if seconds > 0 else None

    def export(self, actors: list[str]) -> Path:
        """Write results.csv (one tidy row per evaluation), predictions.parquet, trainings.csv and sessions.csv.

        A seed planned for the fresh models only (``--seeds auto``) has no shared rows: its depth-1
        nodes are its fresh rows, and no order of it goes further. Every row's ``plan`` says which:
        'tree' (the whole prefix tree) or 'fresh' (only the fresh models, by plan)."""
        evaluations = self.evaluations()
        for count in ("tp", "fp", "tn", "fn", "n_test"):
            evaluations[count] = evaluations[count].astype(int)
        rows = conditions(evaluations, actors)
        partial = [seed for seed, depth in self.plans().items() if depth < len(actors)]
        rows = rows[~(rows["seed"].isin(partial) & (rows["condition"] == Condition.SHARED))]
        rows = rows.assign(plan=np.where(rows["seed"].isin(partial), str(Plan.FRESH), str(Plan.TREE)))
        atomic_write(self.run_dir / rundir.RESULTS, rows.to_csv(index=False))
        trainings = self.trainings().query("stage > 0").drop(columns="finished")
        atomic_write(
            self.run_dir / rundir.TRAININGS, trainings.sort_values(["seed", "stage", "path"]).to_csv(index=False)
        )
        sessions = self.sessions()
        for column in ("started", "finished"):
            sessions[column] = pd.to_datetime(sessions[column], unit="s", utc=True)
        atomic_write(self.run_dir / rundir.SESSIONS, sessions.to_csv(index=False))
        self.export_predictions()
        return self.run_dir / rundir.RESULTS

    def export_predictions(self) -> Path:
        """predictions.parquet: one row per (seed, node path, eval_actor, image), written atomically."""
        file = self.run_dir / rundir.PREDICTIONS
        with replacing(file) as partial:
            self.predictions().to_parquet(partial, index=False)
        return file

    # Snapshots let a resumed run branch from nodes a previous process finished.
    def snapshot_file(self, node: Node) -> Path:
        """``snapshots/<seed>/<A>B>.npz``; a path too long for a file name (long actor names) by its hash."""
        name = node.name or "root"
        if len(name.encode()) > LONGEST_NAME:
            name = f"path-{hashlib.sha256(name.encode()).hexdigest()}"
        return self.snapshots / str(node.seed) / f"{name}.npz"

    def save_snapshot(self, node: Node, weights: list[np.ndarray], optimizer: list[np.ndarray]) -> None:
        file = self.snapshot_file(node)
        file.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, w in enumerate(weights)} | {f"o{i}": o for i, o in enumerate(optimizer)}
        with replacing(file) as partial:
            np.savez(partial, **arrays)

    def load_snapshot(
        self, node: Node, structure: Structure | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """The node's weights and optimizer state, or ``None`` when the file is missing, unreadable,
        or (given the model's ``structure``) not this model's state: the caller then retrains the
        node, which gives the same state."""
        try:
            with np.load(self.snapshot_file(node)) as stored:
                count = lambda prefix: sum(key.startswith(prefix) for key in stored.files)  # noqa: E731
                state = [stored[f"w{i}"] for i in range(count("w"))], [stored[f"o{i}"] for i in range(count("o"))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if structure is not None and tuple(structure_of(arrays) for arrays in state) != structure:
            return None
        return state

    def drop_snapshot(self, node: Node) -> None:
        self.snapshot_file(node).unlink(missing_ok=True)


def default_run_dir(config: dict) -> Path:
    """``reports/<dataset>-<k>actors-<n>seeds-<hash>``: the same command finds the same directory (a key
    added later, at the value older runs had, leaves the name as it was)."""
    named = {key: value for key, value in config.items() if key not in ADDED_LATER or ADDED_LATER[key] != value}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True, default=str).encode()).hexdigest()[:10]
    actors = len(config["actors"]) if config.get("actors") else "default-"
    return Path("reports") / f"{config['dataset']}-{actors}actors-{len(config['seeds'])}seeds-{digest}"


def physical_memory() -> int:
    """This machine's memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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
    memory = physical_memory() / 2**30
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "hostname": platform.node(),
    }
    return {"versions": versions, "machine": machine}


def run_record(config: dict, dataset, execution: dict, model: dict | None = None) -> dict:
    """What config.json holds: the configuration, the data actually loaded, the model (``harness.factory.ModelInfo``),
    where it runs (workers, threads per worker, scheduler), versions and the machine."""
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
        "model": model,
        "execution": execution,
        **environment(),
    }
