"""How long a study will take here: measured seconds per training times the trainings left.

The seconds per training come from this run directory's earlier trainings when it has any (the
median of their stored training times: same configuration, and usually the same machine), else
from a short calibration: real 1- and 3-epoch trainings of the study's model on the loaded data,
after an untimed one that traces the graph (which the study then reuses), extrapolated to the
study's epochs (scaling one epoch would also multiply each training's fixed start-up). Both are
training time, as ``trainings.csv`` stores it; evaluating and storing add a little.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from rich.progress import ProgressColumn
from rich.text import Text

CALIBRATION_EPOCHS = 3  # the longer of the two calibration trainings


@dataclass(frozen=True)
class Estimate:
    """Trainings still to run, the measured seconds each takes, and how many run at once;
    ``at_most``: the trainings are a worst case (``--seeds auto``: every claim open now run to its
    horizon), not the plan."""

    trainings: int
    seconds_per_training: float
    slots: int
    source: str
    at_most: bool = False

    def seconds_left(self, trained: int = 0) -> float:
        """Wall seconds for the trainings left after ``trained`` more have finished."""
        return max(0, self.trainings - trained) * self.seconds_per_training / self.slots

    def line(self) -> str:
        workers = f"{self.slots} at a time" if self.slots > 1 else "one at a time"
        count = (
            f"at most {self.trainings} trainings (to the horizons)"
            if self.at_most
            else f"{self.trainings} trainings to run"
        )
        about = "at most about" if self.at_most else "about"
        return (
            f"{count} x {self.seconds_per_training:.1f} s per training ({self.source}), "
            f"{workers}: {about} {clock(self.seconds_left())} (h:mm:ss) of training on this machine"
        )


def clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def extrapolate(short: float, long: float, long_epochs: int, epochs: int) -> float:
    """Seconds of an ``epochs``-epoch training from 1-epoch and ``long_epochs``-epoch times.

    A training's time is a fixed part (building the pipeline, warping the first epoch before
    anything overlaps it) plus a part per epoch; two lengths separate them.
    """
    per_epoch = max(0.0, (long - short) / (long_epochs - 1))
    return short + per_epoch * (epochs - 1)


def calibrate(dataset, config, threads: int | None) -> float:
    """Seconds one training of ``config`` takes in this process, from short real trainings.

    Trains the first seed's fresh model on the first actor's training images, exactly as the
    study's first stage does (so the graph it traces is the one the study reuses): once to
    trace, then alternately for 1 and ``CALIBRATION_EPOCHS`` epochs, twice each, and
    extrapolates from the means; a study that short is simply timed.
    """
    from harness.data import make_split, stage_arrays
    from harness.execute import load_state
    from harness.study import Node, node_sequence, split_sequence
    from harness.train import configure_tensorflow, learner

    configure_tensorflow(threads)
    node = Node(config.seeds[0], (dataset.actors[0],))
    split = make_split(dataset, config.data.protocol, split_sequence(node.seed))
    x, y = stage_arrays(dataset, split, node.path[0], "train")
    lrn = learner(config.data.image_size, config.train.precision, config.train.model)

    def timed(epochs: int) -> float:
        load_state(lrn, config, node, None)
        return lrn.train(x, y, replace(config.train, epochs=epochs), node_sequence(node))

    timed(1)  # traces the graph
    lengths = (1, min(config.train.epochs, CALIBRATION_EPOCHS))
    seconds = {length: [] for length in lengths}
    for length in lengths * 2:
        seconds[length].append(timed(length))
    short, long = (statistics.mean(seconds[length]) for length in lengths)
    return long if lengths[1] == config.train.epochs else extrapolate(short, long, lengths[1], config.train.epochs)


def estimate_study(store, dataset, config, executor, nodes: list, at_most: bool = False) -> Estimate:
    """The estimate for the trainings among ``nodes`` (what the study plans to train, or with
    ``at_most`` the most it may train) not yet in ``store``, run on ``executor``."""
    done = store.finished()
    left = sum(1 for node in nodes if node.path and node not in done)
    stored = store.seconds_per_training()
    if stored is not None:
        return Estimate(left, stored, executor.slots, "median of the trainings stored in this run directory", at_most)
    if left == 0:
        return Estimate(0, 0.0, executor.slots, "nothing left to train")
    seconds = calibrate(dataset, config, executor.threads)
    source = f"calibrated here: 1- and {CALIBRATION_EPOCHS}-epoch trainings extrapolated to {config.train.epochs}"
    return Estimate(left, seconds, executor.slots, source, at_most)


class EtaColumn(ProgressColumn):
    """The progress bar's ETA from the same estimate, counting down between finished trainings.

    Reads the task's ``trained`` field (trainings finished in this session).
    """

    def __init__(self, estimate: Estimate):
        super().__init__()
        self.estimate, self.trained, self.since = estimate, 0, time.monotonic()

    def render(self, task) -> Text:
        trained = task.fields.get("trained", 0)
        if trained != self.trained:
            self.trained, self.since = trained, time.monotonic()
        left = self.estimate.seconds_left(trained) - (time.monotonic() - self.since)
        return Text(f"ETA {clock(max(0.0, left))}", style="progress.remaining")
