"""How long a study will take here: measured seconds per training times the trainings left.

The seconds per training come from this run directory's earlier trainings when it has any (the
median of their stored training times: same configuration, and usually the same machine), else
from a short calibration: 1-epoch trainings of the study's model on the loaded data, after an
untimed one that traces the graph (which the study reuses), scaled by the study's epochs. A
1-epoch fit cannot overlap augmentation with training as a longer one does, so calibration errs
on the long side. Both are training time, as ``trainings.csv`` stores it; evaluating and storing add a little.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from datetime import timedelta

import pandas as pd
from rich.progress import ProgressColumn
from rich.text import Text

CALIBRATION_EPOCHS = 3  # timed 1-epoch trainings, after one that traces the graph


@dataclass(frozen=True)
class Estimate:
    """Trainings still to run, the measured seconds each takes, and how many run at once."""

    trainings: int
    seconds_per_training: float
    slots: int
    source: str

    def seconds_left(self, trained: int = 0) -> float:
        """Wall seconds for the trainings left after ``trained`` more have finished."""
        return max(0, self.trainings - trained) * self.seconds_per_training / self.slots

    def line(self) -> str:
        workers = f"{self.slots} at a time" if self.slots > 1 else "one at a time"
        return (
            f"{self.trainings} trainings to run x {self.seconds_per_training:.1f} s per training ({self.source}), "
            f"{workers}: about {clock(self.seconds_left())} (h:mm:ss) of training on this machine"
        )


def clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def stored_seconds(trainings: pd.DataFrame) -> float | None:
    """Median seconds of the trainings stored in a run directory (untrained roots excluded)."""
    trained = trainings.loc[trainings["n_train"] > 0, "seconds"]
    return float(trained.median()) if len(trained) else None


def calibrate(dataset, config, threads: int | None) -> float:
    """Seconds one training of ``config`` takes in this process: the median of three timed
    1-epoch trainings (one burst of load on a shared machine cannot decide it), times the epochs.

    Trains the first seed's fresh model on the first actor's training images, exactly as the
    study's first stage does, so the traced graph is the one the study then runs.
    """
    from harness.data import make_split, stage_arrays
    from harness.execute import load_state
    from harness.study import Node, node_sequence, split_sequence
    from harness.train import configure_tensorflow, learner

    configure_tensorflow(threads)
    node = Node(config.seeds[0], (dataset.actors[0],))
    split = make_split(dataset, config.data.protocol, split_sequence(node.seed))
    x, y = stage_arrays(dataset, split, node.path[0], "train")
    lrn = learner(config.data.image_size, config.train.precision)
    one_epoch = replace(config.train, epochs=1)
    seconds = []
    for _ in range(CALIBRATION_EPOCHS + 1):  # the first traces the graph and is not counted
        load_state(lrn, config, node, None)
        seconds.append(lrn.train(x, y, one_epoch, node_sequence(node)))
    return statistics.median(seconds[1:]) * config.train.epochs


def estimate_study(store, dataset, config, executor) -> Estimate:
    """The estimate for the trainings of ``config`` not yet in ``store``, run on ``executor``."""
    from harness.study import plan

    done = store.finished()
    left = sum(1 for node in plan(dataset.actors, list(config.seeds)) if node.path and node not in done)
    stored = stored_seconds(store.table("trainings"))
    if stored is not None:
        return Estimate(left, stored, executor.slots, "median of the trainings stored in this run directory")
    if left == 0:
        return Estimate(0, 0.0, executor.slots, "nothing left to train")
    seconds = calibrate(dataset, config, executor.threads)
    source = f"calibrated: median 1-epoch training here x {config.train.epochs} epochs"
    return Estimate(left, seconds, executor.slots, source)


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
