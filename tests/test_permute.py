"""`harness permute` end to end on LFW (32 px, 1 epoch, 2 seeds): counts, tree vs naive, resume,
config and lock refusals, local processes and a real Dask LocalCluster."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from images import make_folder_dataset
from typer.testing import CliRunner

from harness.choices import DEFAULT_MODEL
from harness.cli import app
from harness.config import DataConfig, TrainConfig
from harness.data import load_dataset, make_split, stage_arrays
from harness.errors import HarnessError
from harness.metrics import score
from harness.store import locked
from harness.study import Node, init_sequence, node_sequence, orders, split_sequence
from harness.train import Learner, initial_weights

pytestmark = pytest.mark.slow

SMALL = ["--epochs", "1", "--image-size", "32", "--max-positives", "60", "--negatives", "60", "--threads", "1"]
TRAININGS = 2 * 15  # two seeds of the three-actor prefix tree


def permute_args(lfw_home: Path, out: Path, *extra: str) -> list[str]:
    return ["permute", "--seeds", "2", *SMALL, "--data-home", str(lfw_home), "--out", str(out), *extra]


def invoke(args: list[str]):
    result = CliRunner().invoke(app, args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def results(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "results.csv", keep_default_na=False)


def stored_trainings(run_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM trainings WHERE stage > 0").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def harness_process(args: list[str]) -> subprocess.Popen:
    """``harness ARGS`` in a real process, with SIGINT at its default even when the tests run as a
    background job (a shell without job control starts those with SIGINT ignored, the child would
    inherit that, and Python then installs no KeyboardInterrupt handler)."""
    executable = Path(sys.executable).with_name("harness")
    return subprocess.Popen(
        [str(executable), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_until(reached, process: subprocess.Popen, limit: float = 300, poll: float = 0.2) -> None:
    deadline = time.monotonic() + limit
    while not reached():
        assert process.poll() is None, f"permute ended early: {process.stderr.read()}"
        assert time.monotonic() < deadline, "permute made no progress"
        time.sleep(poll)


def wait_for_trainings(run_dir: Path, count: int, process: subprocess.Popen) -> None:
    wait_until(lambda: stored_trainings(run_dir) >= count, process)


@pytest.fixture(scope="module")
def baseline(lfw_home, tmp_path_factory) -> Path:
    """One uninterrupted in-process run that the other runs are compared with."""
    run_dir = tmp_path_factory.mktemp("baseline")
    invoke(permute_args(lfw_home, run_dir))
    return run_dir


def test_row_counts_per_condition(baseline):
    rows = results(baseline)
    k, seeds = 3, 2
    assert rows["condition"].value_counts().to_dict() == {
        "untrained": seeds * k,
        "fresh": seeds * k * k,
        "shared": seeds * math.factorial(k) * k * k,
    }
    assert len(pd.read_csv(baseline / "trainings.csv")) == TRAININGS
    assert not list((baseline / "snapshots").rglob("*.npz")), "finished runs keep no snapshots"
    for name in ("config.json", "report.md", "report.json", "verdicts.csv", "plot_matrices.png"):
        assert (baseline / name).exists()


def test_the_tiny_real_run_ends_with_every_report_section(baseline):
    from harness.report import SECTIONS

    markdown = (baseline / "report.md").read_text()
    positions = [markdown.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions)
    verdicts = pd.read_csv(baseline / "verdicts.csv")
    assert verdicts["family"].value_counts().to_dict() == {"exploratory": 3 * 4 + 1, "primary": 5}
    assert json.loads((baseline / "config.json").read_text())["config"]["metric"] == "accuracy"


def assert_tree_equals_naive(run_dir: Path, lfw_home: Path, model: str = DEFAULT_MODEL) -> None:
    """Every order trained from scratch on one live model reproduces the tree's numbers exactly."""
    config = DataConfig(data_home=str(lfw_home.resolve()), max_positives=60, negatives=60, image_size=32)
    dataset = load_dataset(config)
    stored = results(run_dir).query("condition == 'shared'")
    for seed in (0, 1):
        split = make_split(dataset, "disjoint", split_sequence(seed))
        learner = Learner(32, "float32", model)
        for order in orders(dataset.actors):
            learner.load(initial_weights(32, "float32", init_sequence(seed), model))
            for stage, actor in enumerate(order, start=1):
                x, y = stage_arrays(dataset, split, actor, "train")
                learner.train(x, y, TrainConfig(epochs=1, model=model), node_sequence(Node(seed, order[:stage])))
                for eval_actor in dataset.actors:
                    x_test, y_test = stage_arrays(dataset, split, eval_actor, "test")
                    expected = score(y_test, learner.predict(x_test))
                    row = stored.query(
                        "seed == @seed and order == '>'.join(@order) and stage == @stage and eval_actor == @eval_actor"
                    ).iloc[0]
                    assert row["accuracy"] == expected["accuracy"] and row["tp"] == expected["tp"]
                    assert row["roc_auc"] == pytest.approx(expected["roc_auc"], rel=1e-12)


def test_tree_execution_equals_naive_execution(baseline, lfw_home):
    assert_tree_equals_naive(baseline, lfw_home)


def test_resume_after_sigkill_equals_uninterrupted_run(baseline, lfw_home, tmp_path):
    run_dir = tmp_path / "killed"
    process = harness_process(permute_args(lfw_home, run_dir))
    wait_for_trainings(run_dir, 8, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = stored_trainings(run_dir)
    assert 8 <= done_before < TRAININGS

    invoke(permute_args(lfw_home, run_dir, "--workers", "2"))  # also: local processes equal in-process
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))
    sessions = pd.read_csv(run_dir / "sessions.csv")
    assert sessions["trainings_skipped"].iloc[-1] >= done_before
    assert len(pd.read_csv(run_dir / "trainings.csv")) == TRAININGS  # nothing retrained twice


@pytest.mark.heavy
def test_lost_and_truncated_snapshots_are_retrained_from_the_nearest_stored_ancestor(baseline, lfw_home, tmp_path):
    """Kill -9 while depth-2 snapshots exist, delete the depth-1 ones and truncate the depth-2
    ones: the rerun retrains them (training is deterministic) and ends exactly as an uninterrupted run."""
    run_dir = tmp_path / "lost-snapshots"
    process = harness_process(permute_args(lfw_home, run_dir))
    wait_until(lambda: any((run_dir / "snapshots").rglob("*>*.npz")), process, poll=0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    files = [f for f in (run_dir / "snapshots").rglob("*.npz") if ".tmp" not in f.name]
    for file in files:
        if ">" in file.name:
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
        else:
            file.unlink()
    assert any(">" not in f.name for f in files)

    output = invoke(permute_args(lfw_home, run_dir)).output
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))
    assert len(pd.read_csv(run_dir / "trainings.csv")) == TRAININGS
    assert any(f"warning: snapshot {file}" in output for file in files), output


def test_rerun_of_a_finished_study_skips_everything(baseline, lfw_home):
    before = (baseline / "results.csv").read_text()
    config = (baseline / "config.json").stat().st_mtime_ns
    output = invoke(permute_args(lfw_home, baseline)).output
    assert "0 nodes run" in output
    assert "images/s" not in output, "a session that trained nothing has no training rate"
    assert (baseline / "results.csv").read_text() == before
    assert (baseline / "config.json").stat().st_mtime_ns == config, "resuming never rewrites config.json"
    assert len(pd.read_csv(baseline / "sessions.csv")) >= 2


def test_another_thread_count_is_refused_naming_both(baseline, lfw_home):
    args = permute_args(lfw_home, baseline)
    args[args.index("--threads") + 1] = "2"
    config = (baseline / "config.json").read_text()
    with pytest.raises(HarnessError, match="started with 1 TensorFlow threads per worker .* would use 2.*--threads 1"):
        invoke(args)
    assert (baseline / "config.json").read_text() == config


def interrupted(args: list[str], run_dir: Path, sent: signal.Signals) -> tuple[int, str, int]:
    """``harness ARGS`` sent ``sent`` after 3 stored trainings: its exit code, stderr and the trainings stored."""
    process = harness_process(args)
    wait_for_trainings(run_dir, 3, process)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr, stored_trainings(run_dir)


def test_ctrl_c_records_the_session_and_says_how_to_resume(lfw_home, tmp_path):
    run_dir = tmp_path / "interrupted"
    code, stderr, stored = interrupted(permute_args(lfw_home, run_dir), run_dir, signal.SIGINT)
    assert code == 130, stderr
    line = f"interrupted; {stored} trainings stored; rerun the same command to resume"
    assert line in stderr.splitlines(), stderr
    sessions = pd.read_csv(run_dir / "sessions.csv")
    assert len(sessions) == 1 and sessions["trainings_run"].iloc[0] >= stored
    assert len(pd.read_csv(run_dir / "trainings.csv")) == stored


def test_another_configuration_is_refused(baseline, lfw_home):
    args = permute_args(lfw_home, baseline)
    args[args.index("--epochs") + 1] = "2"
    with pytest.raises(HarnessError, match="different study.*epochs"):
        invoke(args)


def test_lock_stops_a_second_writer(baseline, lfw_home):
    with locked(baseline), pytest.raises(HarnessError, match="in use"):
        invoke(permute_args(lfw_home, baseline))


@pytest.fixture(scope="module")
def dask_cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield cluster, client


def test_dask_local_cluster_equals_local_run(baseline, lfw_home, tmp_path, dask_cluster):
    cluster, _ = dask_cluster
    run_dir = tmp_path / "dask"
    invoke(permute_args(lfw_home, run_dir, "--scheduler", cluster.scheduler_address))
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))


@pytest.mark.heavy
def test_dask_worker_killed_mid_run_does_not_lose_the_study(baseline, lfw_home, tmp_path, dask_cluster):
    cluster, client = dask_cluster
    run_dir = tmp_path / "dask-kill"
    process = harness_process(permute_args(lfw_home, run_dir, "--scheduler", cluster.scheduler_address))
    wait_for_trainings(run_dir, 4, process)
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    assert stored_trainings(run_dir) == TRAININGS
    pd.testing.assert_frame_equal(results(run_dir), results(baseline))


def test_the_closing_report_uses_the_recorded_analysis_settings(tmp_path):
    """--alpha, --min-effect and --metric are recorded in config.json for a fixed number of seeds too;
    permute's closing report uses them, `harness report RUN_DIR` reproduces it byte for byte, and
    `harness report --alpha X` says in its first line that it departs from them."""
    root = make_folder_dataset(tmp_path / "faces", {"A": 12, "B": 12}, negatives=16)
    run_dir = tmp_path / "run"
    settings = ["--alpha", "0.01", "--min-effect", "0.1", "--metric", "balanced_accuracy"]
    tiny = ["--seeds", "2", "--epochs", "1", "--image-size", "32", "--threads", "1"]
    invoke(["permute", *tiny, "--data-dir", str(root), "--out", str(run_dir), *settings])
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert (config["alpha"], config["min_effect"], config["metric"], config["design"]) == (
        0.01,
        0.1,
        "balanced_accuracy",
        None,
    )
    md = (run_dir / "report.md").read_text().splitlines()
    assert md[0].endswith("Primary analysis of balanced_accuracy (the primary metric, recorded in config.json).")
    assert md[2].startswith("Metric `balanced_accuracy`, alpha = 0.01, min effect = 0.1;")
    names = ("report.md", "report.json", "verdicts.csv")
    closing = {name: (run_dir / name).read_bytes() for name in names}
    for name in names:
        (run_dir / name).unlink()
    invoke(["report", str(run_dir)])
    assert {name: (run_dir / name).read_bytes() for name in names} == closing
    invoke(["report", str(run_dir), "--alpha", "0.05"])
    first = (run_dir / "report.md").read_text().splitlines()[0]
    assert first.endswith(
        "EXPLORATORY: alpha 0.05 departs from the recorded settings (alpha 0.01, recorded in config.json); "
        "the verdicts below are not the study's pre-specified answer."
    )


def test_bad_option_exits_2_with_one_line(lfw_home, tmp_path):
    process = harness_process(permute_args(lfw_home, tmp_path / "x", "--image-size", "10"))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2  # typer's usage error, naming the option and its minimum
    assert "Invalid value for '--image-size'" in stderr and "22" in stderr and "Traceback" not in stderr


SMALL_MODEL = f"{Path(__file__).with_name('factories.py')}:small_cnn"


@pytest.fixture(scope="module")
def second_model(lfw_home, tmp_path_factory) -> Path:
    """The same study with another network (one convolution and a dense layer) from a factory file."""
    run_dir = tmp_path_factory.mktemp("second-model")
    invoke(permute_args(lfw_home, run_dir, "--model", SMALL_MODEL))
    return run_dir


def test_a_second_model_is_trained_recorded_and_tree_equals_naive(second_model, baseline, lfw_home):
    record = json.loads((second_model / "config.json").read_text())
    assert record["config"]["model"] == record["model"]["spec"] == SMALL_MODEL
    assert record["model"]["parameters"] == 473 and record["model"]["layers"][0] == "Conv2D 80"
    assert not results(second_model)["accuracy"].equals(results(baseline)["accuracy"])
    assert_tree_equals_naive(second_model, lfw_home, SMALL_MODEL)


@pytest.mark.heavy
def test_a_second_model_resumes_after_sigkill_to_identical_results(second_model, lfw_home, tmp_path):
    run_dir = tmp_path / "killed-second-model"
    args = permute_args(lfw_home, run_dir, "--model", SMALL_MODEL)
    process = harness_process(args)
    wait_until(lambda: stored_trainings(run_dir) >= 3, process, poll=0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= stored_trainings(run_dir) < TRAININGS
    invoke(args)
    pd.testing.assert_frame_equal(results(run_dir), results(second_model))
    assert len(pd.read_csv(run_dir / "trainings.csv")) == TRAININGS


def test_a_run_directory_made_with_the_default_model_refuses_another(baseline, lfw_home):
    config = (baseline / "config.json").read_text()
    with pytest.raises(HarnessError, match=f"different study .*model: '{DEFAULT_MODEL}' there, '{SMALL_MODEL}' now"):
        invoke(permute_args(lfw_home, baseline, "--model", SMALL_MODEL))
    assert (baseline / "config.json").read_text() == config
