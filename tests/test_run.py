"""Run directories that `harness permute` must refuse with one line, before it trains or creates
anything: unwritable places, damaged files, bad seeds, one actor, an unreachable Dask scheduler."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from test_permute import harness_process, permute_args
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.execute import SCHEDULER_TIMEOUT_S
from harness.schema import METRICS
from harness.store import Store
from harness.study import Node

pytestmark = pytest.mark.slow


def refusal(args: list[str]) -> str:
    """The one line ``harness`` would print for these arguments (the HarnessError's message)."""
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, HarnessError), f"{result.exception!r}\n{result.output}"
    return str(result.exception)


def read_only(path: Path):
    """Make a directory unwritable even for root (chattr +i), or skip where that is impossible."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True)
    else:
        path.chmod(0o555)
    try:
        (path / ".probe").touch()
    except OSError:
        return
    (path / ".probe").unlink()
    pytest.skip(f"cannot make {path} read-only here")


def writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
    path.chmod(0o755)


@pytest.fixture
def locked_dir(tmp_path):
    directory = tmp_path / "read-only"
    directory.mkdir()
    yield directory
    writable(directory)


@pytest.mark.parametrize("where", ["run directory", "parent"])
def test_an_unwritable_run_directory_is_refused_before_training(lfw_home, locked_dir, where):
    run_dir = locked_dir if where == "run directory" else locked_dir / "run"
    read_only(locked_dir)
    message = refusal(permute_args(lfw_home, run_dir))
    assert f"cannot write the run directory {run_dir}" in message and "--out" in message
    assert list(locked_dir.iterdir()) == []


@pytest.mark.parametrize("inside", [False, True])
def test_out_on_a_file_is_refused(lfw_home, tmp_path, inside):
    file = tmp_path / "afile"
    file.write_text("mine")
    run_dir = file / "run" if inside else file
    message = refusal(permute_args(lfw_home, run_dir))
    assert str(file) in message and "--out" in message
    assert file.read_text() == "mine"


def test_a_negative_first_seed_leaves_no_run_directory(lfw_home, tmp_path):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, permute_args(lfw_home, run_dir, "--first-seed", "-1"))
    assert result.exit_code == 2 and "--first-seed" in result.output
    assert not run_dir.exists()


@pytest.mark.parametrize("content", [b"{garbage", b"", b"[1, 2]"])
def test_a_damaged_config_json_is_named_and_kept(lfw_home, tmp_path, content):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_bytes(content)
    message = refusal(permute_args(lfw_home, run_dir))
    assert f"{run_dir / 'config.json'} is damaged" in message and "move it aside" in message and "--out" in message
    assert (run_dir / "config.json").read_bytes() == content
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json"]


def stored_results(run_dir: Path) -> Path:
    """A real store holding a few nodes' rows, as a killed run leaves it."""
    run_dir.mkdir()
    store = Store(run_dir)
    scores = {metric: 0.5 for metric in METRICS} | {"tp": 1, "fp": 1, "tn": 1, "fn": 1, "n_test": 4}
    for seed in range(40):
        for path in [(), ("A",), ("A", "B"), ("B",)]:
            rows = [{"eval_actor": actor, **scores} for actor in "AB"]
            store.commit(Node(seed, path), 100, 1.0, rows)
    store.close()
    return run_dir / "results.sqlite"


@pytest.mark.parametrize("damage", ["truncated", "garbage header"])
def test_a_damaged_results_sqlite_is_named_and_kept(lfw_home, tmp_path, damage):
    file = stored_results(tmp_path / "run")
    data = file.read_bytes()
    damaged = data[: len(data) // 2] if damage == "truncated" else b"not a database!!" + data[16:]
    file.write_bytes(damaged)
    message = refusal(permute_args(lfw_home, file.parent))
    assert f"{file} is damaged" in message and "move it aside" in message and "--out" in message
    assert file.read_bytes() == damaged


def test_one_actor_is_refused_before_anything_is_created(lfw_home, tmp_path):
    run_dir = tmp_path / "run"
    message = refusal(permute_args(lfw_home, run_dir, "--actors", "Tony_Blair"))
    assert "at least 2 actors" in message and "--actors" in message
    assert not run_dir.exists()


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:1"])
def test_an_unreachable_scheduler_is_one_line_within_the_timeout(lfw_home, tmp_path, address):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    process = harness_process(permute_args(lfw_home, run_dir, "--scheduler", address))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    assert time.monotonic() - started < SCHEDULER_TIMEOUT_S + 60  # start-up and data loading included
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: --scheduler {address}:"), stderr
    assert not run_dir.exists()
