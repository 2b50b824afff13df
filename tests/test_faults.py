"""Faults during a real study (32 px, 1 epoch, LFW): SIGTERM, a full disk, a snapshot of another
model, Dask schedulers without workers or speaking another protocol, and the only worker lost."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest
from test_auto import auto_args
from test_permute import harness_process, invoke, stored_trainings, wait_for_trainings

pytestmark = pytest.mark.slow


def test_sigterm_is_handled_as_ctrl_c_and_its_session_counts_against_the_budget(lfw_home, tmp_path):
    run_dir = tmp_path / "terminated"
    process = harness_process(auto_args(lfw_home, run_dir))
    wait_for_trainings(run_dir, 3, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    stored = stored_trainings(run_dir)
    assert f"interrupted; {stored} trainings stored; rerun the same command to resume" in stderr.splitlines(), stderr
    assert "Traceback" not in stderr
    sessions = pd.read_csv(run_dir / "sessions.csv")
    assert len(sessions) == 1 and sessions["trainings_run"].iloc[0] == stored
    assert len(pd.read_csv(run_dir / "trainings.csv")) == stored and (run_dir / "results.csv").is_file()

    # the terminated session's time is spent: a budget below it stops before the first look
    budget = f"{sessions['wall_seconds'].iloc[0] / 2:.3f}"
    output = invoke(auto_args(lfw_home, run_dir, "--budget", budget)).output
    assert "stopped after 0 seeds: the next look would exceed the budget" in output
