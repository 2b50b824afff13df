"""One command's work, from spec to outcome: :func:`permute`, :func:`replicate`, :func:`compare`,
:func:`inspect_data`.

Each step has one home here, in the order it happens: the model is checked, the run directory
refused or opened (``harness.run``), the data loaded, the nodes planned and the trainings
estimated, the study executed (a fixed number of seeds, or ``harness.auto``'s looks), stored, and
the report written. What a person sees goes through a ``Display`` (the CLI's rich console), and
what the command prints at the end comes back as a frozen outcome; nothing here prints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.config import CompareSpec, DataConfig, PermuteSpec, ReplicateSpec, StudyConfig
from harness.files import atomic_write, check_output_file
from harness.study import Node

if TYPE_CHECKING:
    import pandas as pd

    from harness.analysis.continual import OrderMatrix
    from harness.auto import Batch, Result
    from harness.data import Dataset, Split
    from harness.estimate import Estimate
    from harness.execute import NodeResult
    from harness.factory import ModelInfo
    from harness.report import Written
    from harness.report.compare import Compared
    from harness.run import Run


class Progress(Protocol):
    """The per-node callback of a progress display over trainings."""

    def __call__(self, result: NodeResult) -> None: ...

    def batch(self, batch: Batch, total: int, completed: int) -> Progress:
        """``--seeds auto``: a new batch of seeds leading to a look; returns the callback for it."""


class Display(Protocol):
    """What a person sees while a command works (the CLI's console; a test's recorder)."""

    def note(self, line: str) -> None:
        """A line of the run's account (a note on an older run directory)."""

    def estimate(self, estimate: Estimate) -> None:
        """How long the trainings planned will take here, before they start."""

    def studied(self, outcome: Permutation) -> None:
        """``permute``: the study is stored and exported (the report is written next)."""

    def warn(self, line: str) -> None:
        """A problem that does not stop the work (a skipped file, a retrained snapshot)."""

    def decoding(self, items: Iterable, description: str, total: int) -> Iterable:
        """Progress over the files being decoded."""

    def trainings(self, total: int, skipped: int, estimate: Estimate) -> AbstractContextManager[Progress]:
        """Progress over the trainings planned (``skipped`` of them already stored)."""

    def stage(self, depth: int, actor: str, epochs: int) -> AbstractContextManager[None]:
        """``replicate``: a stage is training."""

    def stage_done(self, stage: Stage) -> None:
        """``replicate``: a stage finished."""


def load(config: DataConfig, display: Display) -> Dataset:
    """Load the dataset, warning once per skipped file, cache problem and exact duplicate."""
    from harness.data import load_dataset

    dataset = load_dataset(config, progress=display.decoding, warn=display.warn)
    for label_a, path_a, label_b, path_b in dataset.duplicates:
        display.warn(f"identical pixels in {label_a} and {label_b}: {path_a} = {path_b}")
    return dataset


def checked_model(spec: str, image_size: int, precision: str, processes: int) -> ModelInfo:
    """``--model``, loaded and checked before any data is read (``harness.factory.inspect_model``)."""
    from harness.factory import inspect_model, normalise

    return inspect_model(normalise(spec), image_size, precision, processes)


# ---- harness data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSummary:
    """What ``harness data`` shows: the dataset, its split for one seed and the images that leak."""

    dataset: Dataset
    split: dict[str, Split]
    leaks: int


def inspect_data(config: DataConfig, seed: int, display: Display) -> DataSummary:
    """Load the data and split it as a study's seed ``seed`` would."""
    from harness.data import make_split
    from harness.data.splits import leaks
    from harness.study import split_sequence

    dataset = load(config, display)
    split = make_split(dataset, config.protocol, split_sequence(seed))
    return DataSummary(dataset, split, len(leaks(dataset, split)))


# ---- harness replicate -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of the notebook: the actor trained and every actor's evaluation after it."""

    depth: int
    actor: str
    seconds: float
    evaluations: list[dict]

    def on(self, actor: str) -> dict:
        """The evaluation on ``actor``."""
        return next(e for e in self.evaluations if e["eval_actor"] == actor)


@dataclass(frozen=True)
class Replication:
    """``harness replicate``'s outcome: the stages in order, the wall time, the JSON file written."""

    stages: list[Stage]
    wall_seconds: float
    out: Path | None

    def revisited(self) -> Iterator[tuple[str, int, dict, dict]]:
        """Each actor, its stage, its evaluation then and after the last stage."""
        for stage in self.stages:
            yield stage.actor, stage.depth, stage.on(stage.actor), self.stages[-1].on(stage.actor)


def replicate(spec: ReplicateSpec, display: Display) -> Replication:
    """Train ONE model on each actor in turn (the notebook), evaluating every actor after each stage."""
    from harness.execute import run_node

    if spec.out:
        check_output_file(spec.out, "--out")
    model = checked_model(spec.train.model, spec.data.image_size, spec.train.precision, processes=1)
    loaded = load(spec.data, display)
    study = StudyConfig(spec.data, replace(spec.train, model=model.spec), (spec.seed,))
    path = tuple(loaded.actors)
    stages, parent, started = [], None, time.perf_counter()
    for depth in range(1, len(path) + 1):
        with display.stage(depth, path[depth - 1], spec.train.epochs):
            result = run_node(loaded, study, Node(spec.seed, path[:depth]), parent)
        parent = result.snapshot
        stages.append(Stage(depth, path[depth - 1], result.seconds, result.evaluations))
        display.stage_done(stages[-1])
    wall = time.perf_counter() - started
    if spec.out:
        record = {
            "order": list(path),
            "seed": spec.seed,
            "config": study.to_dict(),
            "model": model.to_dict(),
            "fingerprint": loaded.fingerprint,
            "wall_seconds": wall,
            "stages": [
                {"stage": s.depth, "trained_actor": s.actor, "seconds": s.seconds, "evaluations": s.evaluations}
                for s in stages
            ],
        }
        atomic_write(spec.out, json.dumps(record, indent=2, default=float))
    return Replication(stages, wall, spec.out)


# ---- harness permute ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Permutation:
    """``harness permute``'s outcome: the session's account, the sequential result (None for a
    fixed number of seeds), each order's mean accuracy matrix, and the report written."""

    run: Run
    wall_seconds: float
    sequential: Result | None
    matrices: dict[str, OrderMatrix]
    report: Written | None = None  # written once the account above is shown


def permute(spec: PermuteSpec, display: Display) -> Permutation:
    """Every order over the spec's seeds (or ``--seeds auto``'s looks), stored, exported and reported."""
    from harness.estimate import estimate_study
    from harness.execute import make_executor, run_study, threads_per_worker
    from harness.report import write_report
    from harness.run import open_run
    from harness.store import check_outside, check_run_dir, default_run_dir, run_record
    from harness.study import check_actors, plan

    data, train = spec.study.data, spec.study.train
    model = checked_model(train.model, data.image_size, train.precision, spec.execution.processes)
    spec = replace(spec, study=replace(spec.study, train=replace(train, model=model.spec)))
    study, design, execution = spec.study, spec.design, spec.execution
    run_dir = spec.out or default_run_dir(spec.run_dir_key())
    check_outside(run_dir, data.data_dir)
    check_run_dir(run_dir)
    loaded = load(data, display)
    check_actors(loaded.actors)
    threads = threads_per_worker(execution.workers, execution.scheduler, execution.threads)
    started, sequential = time.time(), None
    with make_executor(loaded, execution.workers, execution.scheduler, threads) as executor:
        where = {"workers": executor.slots, "threads_per_worker": threads, "scheduler": execution.scheduler}
        with open_run(run_dir, run_record(spec.config(), loaded, where, model.to_dict())) as run:
            if note := run.store.legacy_note():
                display.note(note)
            nodes = plan(loaded.actors, list(study.seeds)) if design is None else forecast_nodes(spec, loaded, run)
            estimate = estimate_study(run.store, loaded, study, executor, nodes, at_most=design is not None)
            display.estimate(estimate)
            with display.trainings(len(nodes), run.skipped, estimate) as progress:
                if design is None:
                    run_study(study, loaded.actors, run.store, executor, progress, display.warn)
                else:
                    sequential = run_sequential(spec, loaded.actors, run, executor, progress.batch, display.warn)
    outcome = Permutation(run, time.time() - started, sequential, order_matrices(run.results))
    display.studied(outcome)
    return replace(outcome, report=write_report(run_dir))


def forecast_nodes(spec: PermuteSpec, dataset: Dataset, run: Run) -> list[Node]:
    """--seeds auto: the nodes planned so far and those the claims open now would need up to their horizons."""
    from harness.auto import forecast

    return forecast(spec.design, run.store.looks(), dataset.actors, spec.study.seeds[0], run.store.plans())


def run_sequential(
    spec: PermuteSpec,
    actors: list[str],
    run: Run,
    executor,
    on_batch: Callable[[Batch, int, int], Progress],
    warn: Callable[[str], None],
) -> Result:
    """The --seeds auto loop (``harness.auto``), its progress reset per batch, and sequential.json."""
    from harness.auto import planned_nodes, run_auto, summary, write_summary

    store, first = run.store, spec.study.seeds[0]

    def batch_progress(batch: Batch) -> Progress:
        done = store.finished()
        nodes = [n for n in planned_nodes(actors, store.plans()) if n.seed < first + batch.seeds]
        return on_batch(batch, len(nodes), sum(n in done for n in nodes))

    result = run_auto(spec, actors, store, executor, batch_progress, warn)
    metric = str(spec.settings.metric)
    write_summary(run.run_dir, summary(spec.design, result, metric, spec.budget_seconds, len(actors)))
    return result


def order_matrices(results: Path) -> dict[str, OrderMatrix]:
    """Each order's accuracy matrix R[stage][actor], mean over seeds (``harness.analysis.continual``)."""
    import pandas as pd

    from harness.analysis.continual import matrices
    from harness.analysis.index import build_index

    frame: pd.DataFrame = pd.read_csv(results)
    return matrices(build_index(frame, "accuracy"))


# ---- harness compare ---------------------------------------------------------------------------


def compare(spec: CompareSpec) -> Compared:
    """Two studies compared, B minus A (``harness.analysis.compare``), and compare.md written."""
    from harness.report.compare import write_comparison
    from harness.store import check_writable

    if spec.out:
        check_writable(spec.out)
    return write_comparison(spec.run_a, spec.run_b, spec.out, spec.alpha, spec.min_effect)
