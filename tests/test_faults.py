"""Faults during a real study (32 px, 1 epoch, LFW): SIGTERM, a full disk, a snapshot of another
model, Dask schedulers without workers or speaking another protocol, and the only worker lost."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_auto import auto_args
from test_permute import (
    baseline,
    harness_process,
    interrupted,
    invoke,
    permute_args,
    results,
    stored_trainings,
    wait_for_trainings,
    wait_until,
)

from harness.execute import SCHEDULER_TIMEOUT_S, WORKERS_TIMEOUT_S

__all__ = ["baseline"]  # the uninterrupted run the faulty ones are compared with

pytestmark = pytest.mark.slow


def test_sigterm_is_handled_as_ctrl_c_and_its_session_counts_against_the_budget(lfw_home, tmp_path):
    run_dir = tmp_path / "terminated"
    code, stderr, stored = interrupted(auto_args(lfw_home, run_dir), run_dir, signal.SIGTERM)
    assert code == 143, stderr
    assert f"interrupted; {stored} trainings stored; rerun the same command to resume" in stderr.splitlines(), stderr
    assert "Traceback" not in stderr
    sessions = pd.read_csv(run_dir / "sessions.csv")
    assert len(sessions) == 1 and sessions["trainings_run"].iloc[0] == stored
    assert len(pd.read_csv(run_dir / "trainings.csv")) == stored and (run_dir / "results.csv").is_file()

    # the terminated session's time is spent: a budget below it stops before the first look
    budget = f"{sessions['wall_seconds'].iloc[0] / 2:.3f}"
    output = invoke(auto_args(lfw_home, run_dir, "--budget", budget)).output
    assert "stopped after 0 seeds: the next look would exceed the budget" in output


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 MB file system (tmpfs), where the test can fill every byte; root only."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write to ``disk`` until no byte is left."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (2**16, 1):  # then the last few bytes, one at a time
            try:
                while os.write(handle, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(handle)
    return filler


@pytest.mark.heavy
def test_a_full_disk_is_one_line_naming_the_path_and_the_rerun_completes_identically(baseline, lfw_home, small_disk):
    run_dir = small_disk / "run"
    process = harness_process(permute_args(lfw_home, run_dir))
    wait_for_trainings(run_dir, 4, process)
    filler = fill(small_disk)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: the disk is full: writing {run_dir}/") and " MB free there" in line, stderr
    assert "rerun the same command" in line
    stored = stored_trainings(run_dir)
    assert stored >= 4

    filler.unlink()
    invoke(permute_args(lfw_home, run_dir))
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))
    assert len(pd.read_csv(run_dir / "trainings.csv")) == len(pd.read_csv(baseline / "trainings.csv"))
    assert os.listdir(small_disk) == ["run"]


@pytest.mark.heavy
def test_a_readable_snapshot_of_another_model_is_a_lost_snapshot(baseline, lfw_home, tmp_path):
    """kill -9 while depth-2 snapshots exist; replace the depth-1 ones by an .npz of other arrays and
    give the depth-2 ones a weight of the wrong shape: each is named, retrained, and the study ends
    as an uninterrupted run (before: a Keras set_weights traceback on every rerun)."""
    run_dir = tmp_path / "foreign-snapshots"
    process = harness_process(permute_args(lfw_home, run_dir))
    stored = lambda: [f for f in (run_dir / "snapshots").rglob("*.npz") if ".tmp" not in f.name]  # noqa: E731
    wait_until(lambda: any(">" in f.name for f in stored()), process, poll=0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    files = stored()
    for file in files:
        if ">" in file.name:
            with np.load(file) as stored:
                arrays = dict(stored)
            arrays["w0"] = arrays["w0"][..., :1]
            np.savez(file, **arrays)
        else:
            np.savez(file, weights=np.zeros(3))
    assert any(">" not in f.name for f in files) and any(">" in f.name for f in files)

    with sqlite3.connect(run_dir / "results.sqlite") as db:
        finished = {f"{seed}/{path}.npz" for seed, path in db.execute("SELECT seed, path FROM trainings")}
    lost = [f for f in files if f"{f.parent.name}/{f.name}" in finished]  # a node not stored is simply run
    assert lost

    output = invoke(permute_args(lfw_home, run_dir)).output
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))
    for file in lost:
        assert f"warning: snapshot {file} is unreadable or not this model's state" in output, output


def one_line_within_the_bound(args: list[str]) -> str:
    """Run permute in a real process; return its last stderr line, asserting exit 2 within the
    documented bound (plus start-up and data loading)."""
    started = time.monotonic()
    process = harness_process(args)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr
    assert time.monotonic() - started < SCHEDULER_TIMEOUT_S + WORKERS_TIMEOUT_S + 60
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.fixture
def cluster():
    """A real LocalCluster with one worker process under a nanny (which restarts a killed worker)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield cluster, client
    try:
        client.close()
        cluster.close(timeout=10)
    except Exception:  # noqa: BLE001 - a test may have killed the nanny itself
        pass


@pytest.mark.heavy
def test_a_scheduler_without_workers_is_one_line_within_the_bound(lfw_home, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as empty:
        line = one_line_within_the_bound(
            permute_args(lfw_home, tmp_path / "run", "--scheduler", empty.scheduler_address)
        )
    assert line.startswith(f"error: --scheduler {empty.scheduler_address}: the scheduler has no workers"), line
    assert not (tmp_path / "run").exists()


@pytest.mark.heavy
def test_a_port_that_does_not_speak_dask_is_one_line_within_the_bound(lfw_home, tmp_path):
    """It accepts the connection and never answers (before: permute hung with no output)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(99)), daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    line = one_line_within_the_bound(permute_args(lfw_home, tmp_path / "run", "--scheduler", address))
    assert line.startswith(f"error: --scheduler {address}: the port accepted a connection but gave no Dask answer")
    assert accepted and not (tmp_path / "run").exists()
    server.close()


@pytest.mark.heavy
def test_the_only_dask_worker_lost_is_survived_when_another_joins(baseline, lfw_home, tmp_path, cluster):
    """The nanny starts a new worker a few seconds after the kill; the dataset reaches it with the
    plugin (a scattered dataset died with the only worker that held it)."""
    cluster, client = cluster
    run_dir = tmp_path / "dask-only-worker"
    process = harness_process(permute_args(lfw_home, run_dir, "--scheduler", cluster.scheduler_address))
    wait_for_trainings(run_dir, 4, process)
    (victim,) = client.run(os.getpid).values()
    os.kill(victim, signal.SIGKILL)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))


@pytest.mark.heavy
def test_the_only_dask_worker_lost_for_good_is_interrupted_with_what_finished_stored(lfw_home, tmp_path):
    """A real scheduler whose one worker (a `dask worker --no-nanny` process: nothing restarts it) is
    killed: after WORKERS_TIMEOUT_S the study stops with the session recorded (before: it waited forever)."""
    from distributed import LocalCluster

    run_dir = tmp_path / "dask-no-worker"
    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as empty:
        dask = Path(sys.executable).with_name("dask")
        worker = subprocess.Popen(
            [str(dask), "worker", empty.scheduler_address, "--nthreads", "1", "--no-nanny"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process = harness_process(permute_args(lfw_home, run_dir, "--scheduler", empty.scheduler_address))
            wait_for_trainings(run_dir, 4, process)
        finally:
            worker.kill()
            worker.wait()
        started = time.monotonic()
        _, stderr = process.communicate(timeout=300)
    assert time.monotonic() - started < WORKERS_TIMEOUT_S + 30
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    stored = stored_trainings(run_dir)
    line = stderr.strip().splitlines()[-1]
    assert line == (
        f"the Dask scheduler has had no worker for {WORKERS_TIMEOUT_S} s; interrupted; {stored} trainings stored; "
        "rerun the same command to resume"
    ), stderr
    assert len(pd.read_csv(run_dir / "trainings.csv")) == stored and len(pd.read_csv(run_dir / "sessions.csv")) == 1
