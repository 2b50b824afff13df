"""The study-time estimate: from stored trainings (pure), from a real calibration, and as
`harness permute` prints it before training."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from rich.progress import Progress
from typer.testing import CliRunner

from harness.cli import app
from harness.config import DataConfig, StudyConfig, TrainConfig
from harness.data import load_dataset
from harness.estimate import Estimate, EtaColumn, estimate_study
from harness.execute import InProcess
from harness.store import Store
from harness.study import Node, plan

SMALL = ["--epochs", "1", "--image-size", "32", "--max-positives", "60", "--negatives", "60", "--threads", "1"]


def test_the_stores_seconds_per_training_is_the_median_of_trained_nodes_only(tmp_path):
    """The one estimate of a training's seconds (the sequential budget's and the estimate's)."""
    store = Store(tmp_path)
    assert store.seconds_per_training() is None
    for seed, (n_train, seconds) in enumerate([(0, 0.0), (100, 4.0), (100, 5.0), (100, 9.0), (0, 0.0)]):
        store.commit(Node(seed, ("A",) if n_train else ()), n_train, seconds, [])
    assert store.seconds_per_training() == 5.0
    store.close()


def test_estimate_divides_by_parallel_trainings_and_counts_down():
    estimate = Estimate(trainings=75, seconds_per_training=40.0, slots=2, source="test")
    assert estimate.seconds_left() == 1500.0
    assert estimate.seconds_left(trained=74) == 20.0
    assert estimate.seconds_left(trained=80) == 0.0
    assert "75 trainings to run x 40.0 s" in estimate.line() and "0:25:00" in estimate.line()


def test_a_worst_case_estimate_says_at_most():
    """--seeds auto counts every claim open now run to its horizon: a bound, not the plan."""
    line = Estimate(trainings=420, seconds_per_training=4.0, slots=1, source="test", at_most=True).line()
    assert line.startswith("at most 420 trainings (to the horizons) x 4.0 s") and "at most about 0:28:00" in line
    assert "to run" not in line


def test_progress_bar_eta_uses_the_estimate():
    column = EtaColumn(Estimate(trainings=10, seconds_per_training=60.0, slots=1, source="test"))
    with Progress(column, disable=True) as bar:
        task = bar.add_task("trainings", total=10, trained=0)
        assert column.render(bar.tasks[task]).plain == "ETA 0:10:00"
        bar.update(task, trained=4)
        assert column.render(bar.tasks[task]).plain == "ETA 0:06:00"


@pytest.mark.slow
def test_permute_prints_a_calibrated_estimate_and_a_resumed_run_uses_stored_trainings(lfw_home, tmp_path):
    out = tmp_path / "run"
    args = ["permute", "--seeds", "1", *SMALL, "--data-home", str(lfw_home), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = re.search(r"(\d+) trainings to run x ([\d.]+) s per training \(calibrated", result.output)
    assert printed, result.output
    assert int(printed[1]) == 15
    stored = pd.read_csv(out / "trainings.csv")["seconds"]
    assert stored.median() / 5 < float(printed[2]) < stored.median() * 5  # one epoch here, one epoch there

    data = DataConfig(data_home=str(lfw_home), image_size=32, max_positives=60, negatives=60)
    dataset = load_dataset(data)
    two_seeds = StudyConfig(data, TrainConfig(epochs=1), (0, 1))
    store = Store(out)
    estimate = estimate_study(store, dataset, two_seeds, InProcess(dataset, 1), plan(dataset.actors, [0, 1]))
    store.close()
    assert (estimate.trainings, estimate.slots) == (15, 1)  # seed 0 is stored, seed 1 is left
    assert estimate.seconds_per_training == stored.median()
    assert "stored in this run directory" in estimate.source


def test_extrapolation_separates_fixed_start_up_from_time_per_epoch():
    from harness.estimate import extrapolate

    assert extrapolate(short=1.5, long=2.5, long_epochs=3, epochs=60) == pytest.approx(1.5 + 0.5 * 59)
    assert extrapolate(short=2.0, long=1.0, long_epochs=3, epochs=60) == 2.0  # noise never makes epochs free
