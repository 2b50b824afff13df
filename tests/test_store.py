"""The run directory's files on their own: snapshots, atomic writes, damaged config and store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.files import atomic_write, replacing
from harness.store import Store, check_config, check_store
from harness.study import Node


def test_a_truncated_snapshot_reads_as_missing(tmp_path):
    store = Store(tmp_path)
    node = Node(0, ("A", "B"))
    store.save_snapshot(node, [np.arange(1000.0)], [np.ones(3)])
    weights, optimizer = store.load_snapshot(node)
    assert np.array_equal(weights[0], np.arange(1000.0)) and np.array_equal(optimizer[0], np.ones(3))
    file = store.snapshot_file(node)
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    assert store.load_snapshot(node) is None
    file.write_bytes(b"")
    assert store.load_snapshot(node) is None
    store.close()


def test_a_failed_write_keeps_the_old_file(tmp_path):
    file = tmp_path / "results.csv"
    atomic_write(file, "old\n")
    with pytest.raises(RuntimeError), replacing(file) as partial:
        partial.write_text("half of the new")
        raise RuntimeError("killed")
    assert file.read_text() == "old\n" and list(tmp_path.iterdir()) == [file]
    atomic_write(file, b"new\n")
    assert file.read_text() == "new\n" and list(tmp_path.iterdir()) == [file]


def kill_when_ready(code: str) -> None:
    """Run ``code`` in a real Python process and SIGKILL it once it prints 'ready'."""
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_store_killed_mid_transaction_is_rolled_back_not_called_damaged(tmp_path):
    """kill -9 while a transaction has spilled to the database file leaves a hot journal: opening
    the store must roll it back (SQLite does) rather than report the file as damaged."""
    store = Store(tmp_path)
    store.commit(Node(0, ("A",)), 10, 1.0, [])
    store.close()
    kill_when_ready(
        "import sqlite3, time\n"
        f"db = sqlite3.connect({str(tmp_path / 'results.sqlite')!r}, isolation_level=None)\n"
        "db.execute('PRAGMA cache_size=1'); db.execute('BEGIN')\n"
        "for i in range(5000):\n"
        "    db.execute('INSERT INTO trainings VALUES (1, ?, 1, ?, 1, 1, 1, 1)', (str(i), 'x' * 200))\n"
        "print('ready', flush=True); time.sleep(600)"
    )
    assert (tmp_path / "results.sqlite-journal").exists()
    check_store(tmp_path / "results.sqlite")
    store = Store(tmp_path)
    assert store.finished() == {Node(0, ("A",))}
    store.close()


def test_files_a_killed_writer_left_half_written_are_removed_when_the_store_opens(tmp_path):
    target = tmp_path / "snapshots" / "0" / "A.npz"
    target.parent.mkdir(parents=True)
    kill_when_ready(
        "import time\n"
        "from pathlib import Path\n"
        "from harness.files import replacing\n"
        f"with replacing(Path({str(target)!r})) as partial:\n"
        "    partial.write_bytes(b'half')\n"
        "    print('ready', flush=True); time.sleep(600)"
    )
    assert len(list(target.parent.iterdir())) == 1 and not target.exists()
    Store(tmp_path).close()
    assert list(target.parent.iterdir()) == []


def test_a_run_directory_from_before_the_metric_was_recorded_resumes_under_the_default(tmp_path):
    """config.json of older runs has no "metric": they analysed accuracy, so that resumes; another metric does not."""
    old = {"config": {"epochs": 1}, "dataset": {"fingerprint": "f"}, "execution": {"threads_per_worker": 2}}
    atomic_write(tmp_path / "config.json", json.dumps(old))
    record = {**old, "config": {"epochs": 1, "metric": "accuracy"}}
    check_config(tmp_path, record)
    with pytest.raises(HarnessError, match="metric: 'accuracy' there, 'f1' now"):
        check_config(tmp_path, {**old, "config": {"epochs": 1, "metric": "f1"}})


def test_a_design_recorded_before_q5s_own_horizon_resumes_with_q5_stopping_with_the_others(tmp_path):
    """config.json of a --seeds auto run made before --q5-max-seeds: its Q5 stopped at max_seeds, so
    that design (and only that) is the same study."""
    import json

    from harness.errors import HarnessError
    from harness.store import check_config

    design = {"max_seeds": 20, "look_every": 5, "spending": "pocock", "alpha": 0.05, "min_effect": 0.05}
    stored = {"config": {"metric": "accuracy", "design": design}, "dataset": {"fingerprint": "f"}, "execution": {}}
    (tmp_path / "config.json").write_text(json.dumps(stored))

    def record(q5: int) -> dict:
        config = {"metric": "accuracy", "design": design | {"q5_max_seeds": q5}}
        return {"config": config, "dataset": {"fingerprint": "f"}, "execution": {"threads_per_worker": 1}}

    check_config(tmp_path, record(20))
    with pytest.raises(HarnessError, match="different study.*q5_max_seeds"):
        check_config(tmp_path, record(60))


def test_a_looks_table_from_before_shown_by_gains_it_and_keeps_its_looks(tmp_path):
    """A store whose looks table predates ``shown_by`` (closed testing recorded at the look) opens
    with the column added, empty for its rows, and records new looks with it."""
    import sqlite3

    from harness.looks import ClaimLook, LookDecision

    old = "look, seeds, claim, alternative, alpha, p, effect, ci_low, ci_high, sd, boundary_z, boundary_p, decision"
    row = (0, 5, "Q1", "two-sided", 0.01, 0.3, 0.02, -0.01, 0.05, 0.02, 2.9, 0.0037, "effect", 1.0)
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute(f"CREATE TABLE looks ({old}, recorded REAL, PRIMARY KEY (look, claim))")
        db.execute(f"INSERT INTO looks VALUES ({', '.join('?' * len(row))})", row)
    store = Store(tmp_path)
    new = dict(
        zip(
            old.split(", "),
            (1, 10, "Q5", "two-sided", 0.01, 1e-4, 0.1, 0.05, 0.15, 0.05, 2.9, 4e-3, "effect"),
            strict=True,
        )
    )
    new = ClaimLook(**new | {"decision": LookDecision.EFFECT})
    store.record_look([new, replace(new, claim="Q4", shown_by="Q2")])
    records = store.looks()
    store.close()
    assert [(r.claim, r.shown_by) for r in records] == [("Q1", ""), ("Q5", ""), ("Q4", "Q2")]
