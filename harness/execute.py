"""Running the prefix tree: one node per task, in this process, in local processes, or on Dask.

``run_node`` is the unit of work: a pure function of the dataset, the configuration, the node and
its parent's snapshot, so it gives the same result wherever it runs and can simply be retried.
The driver (``run_study``) is the only writer of the store; workers only compute.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
from distributed import WorkerPlugin

from harness.config import StudyConfig
from harness.data import Dataset, make_split, stage_arrays, stage_ids
from harness.errors import HarnessError, WorkersLost
from harness.metrics import score
from harness.store import Structure, structure_of
from harness.study import Node, children, init_sequence, node_sequence, plan, split_sequence
from harness.train import (
    Learner,
    Snapshot,
    configure_tensorflow,
    initial_weights,
    learner,
)

PREDICTION_COLUMNS = ("eval_actor", "image", "label", "probability")


def no_predictions() -> pd.DataFrame:
    return pd.DataFrame(columns=PREDICTION_COLUMNS)


@dataclass
class NodeResult:
    node: Node
    evaluations: list[dict]
    n_train: int
    seconds: float
    snapshot: Snapshot | None = field(default=None, repr=False)
    predictions: pd.DataFrame = field(default_factory=no_predictions, repr=False)  # one row per test image


def load_state(lrn: Learner, config: StudyConfig, node: Node, parent: Snapshot | None) -> None:
    """Put the learner where the node starts: the seed's initial weights, or the parent's state."""
    if parent is None:
        train = config.train
        lrn.load(initial_weights(config.data.image_size, train.precision, init_sequence(node.seed), train.model))
    else:
        lrn.load(parent.weights, parent.optimizer)


def run_node(
    dataset: Dataset, config: StudyConfig, node: Node, parent: Snapshot | None, threads: int | None = None
) -> NodeResult:
    """Train the node's last actor from its parent's state and evaluate it on every actor."""
    configure_tensorflow(threads)
    split = make_split(dataset, config.data.protocol, split_sequence(node.seed))
    lrn = learner(config.data.image_size, config.train.precision, config.train.model)
    load_state(lrn, config, node, parent)
    seconds, n_train = 0.0, 0
    if node.path:
        x, y = stage_arrays(dataset, split, node.path[-1], "train")
        seconds = lrn.train(x, y, config.train, node_sequence(node))
        n_train = len(x) * config.train.epochs
    evaluations, predictions = [], []
    for actor in dataset.actors:
        x, y = stage_arrays(dataset, split, actor, "test")
        probability = lrn.predict(x)
        evaluations.append({"eval_actor": actor, **score(y, probability)})
        ids = stage_ids(dataset, split, actor, "test")
        predictions.append(
            pd.DataFrame({"eval_actor": actor, "image": ids, "label": y.astype(int), "probability": probability})
        )
    has_children = 0 < len(node.path) < len(dataset.actors)
    snapshot = lrn.snapshot() if has_children else None
    return NodeResult(node, evaluations, n_train, seconds, snapshot, pd.concat(predictions, ignore_index=True))


@functools.cache
def state_structure(image_size: int, precision: str, model: str) -> Structure:
    """The shapes and dtypes of a node's state in this study's model (weights, then optimizer
    variables), which a stored snapshot must have to be loaded (a file of another model is lost)."""
    lrn = learner(image_size, precision, model)
    return structure_of(lrn.model.get_weights()), structure_of(lrn.fresh_optimizer)


# Local processes get the dataset once, at start-up, instead of with every task.
_worker_dataset: Dataset | None = None
_worker_threads: int | None = None


def _init_worker(dataset: Dataset, threads: int) -> None:
    global _worker_dataset, _worker_threads
    _worker_dataset, _worker_threads = dataset, threads
    configure_tensorflow(threads)


def _run_in_worker(config: StudyConfig, node: Node, parent: Snapshot | None) -> NodeResult:
    return run_node(_worker_dataset, config, node, parent, _worker_threads)


class Executor(Protocol):
    """Where nodes run: ``slots`` tasks at a time, each with ``threads`` TensorFlow threads.

    ``submit`` returns a future of a ``NodeResult``; ``wait`` returns the futures that have
    finished once at least one has; ``close`` cancels what is queued. Use it as a context manager.
    """

    slots: int
    threads: int

    def submit(self, config: StudyConfig, node: Node, parent: Snapshot | None) -> cf.Future:
        raise NotImplementedError

    def wait(self, futures: list) -> set:
        return cf.wait(futures, return_when=cf.FIRST_COMPLETED).done

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class InProcess(Executor):
    """Runs each task at submission, in this process (``--workers 1``)."""

    slots = 1

    def __init__(self, dataset: Dataset, threads: int):
        self.dataset, self.threads = dataset, threads

    def submit(self, config: StudyConfig, node: Node, parent: Snapshot | None) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(run_node(self.dataset, config, node, parent, self.threads))
        except Exception as error:  # noqa: BLE001 - re-raised by the driver via result()
            future.set_exception(error)
        return future


class LocalProcesses(Executor):
    """``--workers N``: N spawned processes with ``threads`` TensorFlow threads each."""

    def __init__(self, dataset: Dataset, workers: int, threads: int):
        self.slots, self.threads = workers, threads
        self.pool = cf.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(dataset, threads),
        )

    def submit(self, config: StudyConfig, node: Node, parent: Snapshot | None) -> cf.Future:
        return self.pool.submit(_run_in_worker, config, node, parent)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


SCHEDULER_TIMEOUT_S = 10
"""How long to try reaching a Dask scheduler and hearing it answer as one, before saying it is not there."""
WORKERS_TIMEOUT_S = 20
"""How long a scheduler may have no worker (at the start, or after losing the last one) before the
study stops: at most ``SCHEDULER_TIMEOUT_S + WORKERS_TIMEOUT_S`` (30 s) to the one line."""


class DatasetOnWorkers(WorkerPlugin):
    """A Dask worker plugin holding the dataset: the scheduler sends it to every worker that joins,
    so a worker lost mid-study (the only one, even) is survived once another one joins, where a
    scattered dataset would have died with the worker that held it."""

    def __init__(self, dataset: Dataset, name: str):
        self.dataset, self.name = dataset, name

    def setup(self, worker) -> None:
        """Nothing to do: the dataset came with the plugin."""


def _run_on_dask(plugin: str, config: StudyConfig, node: Node, parent: Snapshot | None, threads: int) -> NodeResult:
    from distributed import get_worker

    return run_node(get_worker().plugins[plugin].dataset, config, node, parent, threads)


def check_scheduler(address: str) -> None:
    """One line unless ADDRESS is a Dask scheduler that answers within ``SCHEDULER_TIMEOUT_S``: the
    Dask client itself waits forever for the handshake of a port that accepts but never speaks Dask."""
    import asyncio

    from distributed.comm import connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=SCHEDULER_TIMEOUT_S), SCHEDULER_TIMEOUT_S)
        await comm.close()

    try:
        asyncio.run(handshake())
        return
    except TimeoutError:
        problem = f"the port accepted a connection but gave no Dask answer within {SCHEDULER_TIMEOUT_S} s"
    except OSError as error:
        problem = f"no Dask scheduler answered within {SCHEDULER_TIMEOUT_S} s ({error})"
    except (ValueError, TypeError) as error:
        problem = f"is not a scheduler address ({error})"
    raise HarnessError(
        f"--scheduler {address}: {problem}; give a running scheduler's address (e.g. tcp://host:8786) "
        "or leave --scheduler out to train on this machine"
    )


class DaskCluster(Executor):
    """``--scheduler ADDRESS``: the same tasks on a Dask distributed cluster.

    Dask reruns a task whose worker was lost; ``retries`` also covers tasks that raised. With no
    worker for ``WORKERS_TIMEOUT_S``, ``wait`` raises ``WorkersLost`` (what finished is stored).
    """

    def __init__(self, dataset: Dataset, address: str, threads: int, retries: int = 3):
        from distributed import Client

        check_scheduler(address)
        self.client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            self.client.close()
            raise HarnessError(
                f"--scheduler {address}: the scheduler has no workers (none joined within {WORKERS_TIMEOUT_S} s); "
                "start workers (dask worker ADDRESS) or leave --scheduler out to train on this machine"
            ) from None
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.plugin = f"harness-dataset-{dataset.fingerprint[:12]}-{uuid.uuid4().hex}"
        self.client.register_plugin(DatasetOnWorkers(dataset, self.plugin))
        self.threads, self.retries = threads, retries

    def submit(self, config: StudyConfig, node: Node, parent: Snapshot | None):
        return self.client.submit(
            _run_on_dask,
            self.plugin,
            config,
            node,
            parent,
            self.threads,
            key=f"node-{node.seed}-{node.name or 'root'}-{time.time_ns()}",
            retries=self.retries,
        )

    def wait(self, futures: list) -> set:
        from distributed import wait

        alone_since = None
        while True:
            try:
                return wait(futures, timeout=1, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                pass
            if self.client.nthreads():
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > WORKERS_TIMEOUT_S:
                raise WorkersLost(f"the Dask scheduler has had no worker for {WORKERS_TIMEOUT_S} s")

    def close(self) -> None:
        try:
            self.client.unregister_worker_plugin(self.plugin)
        except Exception:  # noqa: BLE001 - a scheduler or worker already gone has nothing left to remove
            pass
        self.client.close()


def threads_per_worker(workers: int, scheduler: str | None, threads: int | None) -> int:
    """TensorFlow threads per task: as given, else 1 on Dask, else the cores shared among the workers."""
    if threads:
        return threads
    if scheduler:
        return 1
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def make_executor(dataset: Dataset, workers: int, scheduler: str | None, threads: int) -> Executor:
    """In-process for one worker, local processes for several, Dask when given a scheduler."""
    if scheduler:
        return DaskCluster(dataset, scheduler, threads)
    if workers <= 1:
        return InProcess(dataset, threads)
    return LocalProcesses(dataset, workers, threads)


def run_study(
    config: StudyConfig,
    actors: list[str],
    store,
    executor: Executor,
    on_node: Callable[[NodeResult], None] = print,
    on_warning: Callable[[str], None] = print,
    nodes: list[Node] | None = None,
) -> int:
    """Run every node (of ``nodes``; default the whole tree of every seed) not already in the store;
    commit each as it finishes; return nodes run.

    Deeper nodes go first so that snapshots are used and freed soon. A finished node whose
    snapshot is missing or unreadable is trained again (from its nearest ancestor with a stored
    snapshot, or the seed's initial weights) only to restore the snapshot: training is
    deterministic, so its children get exactly the state they would have had.
    """
    nodes = plan(actors, list(config.seeds)) if nodes is None else nodes
    done = store.finished()
    pending = [n for n in nodes if n not in done]
    memory: dict[Node, Snapshot] = {}
    rebuild: set[Node] = set()
    planned = set(nodes)
    remaining_children = {n: sum(c in planned and c not in done for c in children(n, actors)) for n in nodes}

    def parent_state(node: Node) -> tuple[bool, Snapshot | None]:
        parent = node.parent
        if parent is None or not parent.path:
            return True, None
        if parent in memory:
            return True, memory[parent]
        if parent in done and parent not in rebuild:
            structure = state_structure(config.data.image_size, config.train.precision, config.train.model)
            stored = store.load_snapshot(parent, structure)
            if stored is not None:
                memory[parent] = Snapshot(*stored)
                return True, memory[parent]
            file = store.snapshot_file(parent)
            problem = "unreadable or not this model's state" if file.exists() else "missing"
            on_warning(
                f"snapshot {file} is {problem}; retraining {parent.name} "
                f"(seed {parent.seed}) from its nearest stored ancestor, which gives the same result"
            )
            rebuild.add(parent)
            pending.append(parent)
        return False, None

    in_flight: dict = {}
    ran = 0
    try:
        while pending or in_flight:
            for node in sorted(pending, key=lambda n: (-len(n.path), n)):
                if len(in_flight) >= executor.slots:
                    break
                ready, parent = parent_state(node)
                if ready:
                    pending.remove(node)
                    in_flight[executor.submit(config, node, parent)] = node
            if not in_flight:
                continue
            for future in executor.wait(list(in_flight)):
                node = in_flight.pop(future)
                result: NodeResult = future.result()
                if result.snapshot is not None and remaining_children[node]:
                    store.save_snapshot(node, result.snapshot.weights, result.snapshot.optimizer)
                    memory[node] = result.snapshot
                if node in rebuild:
                    rebuild.discard(node)
                    continue
                store.commit(node, result.n_train, result.seconds, result.evaluations, result.predictions)
                done.add(node)
                ran += 1
                parent = node.parent
                if parent is not None and parent.path:
                    remaining_children[parent] -= 1
                    if remaining_children[parent] == 0:
                        memory.pop(parent, None)
                        store.drop_snapshot(parent)
                on_node(result)
    finally:
        for future in in_flight:
            future.cancel()
    return ran
