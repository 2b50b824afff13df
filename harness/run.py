"""One session on a run directory, from lock to exports: ``with open_run(run_dir, record) as run:``.

Opening refuses, with one line, a directory that cannot be written, is damaged, is in use, or
holds another study (or was started with another thread count); closing, however the session
ends, records it in the store and exports the CSV files, so a Ctrl-C or a SIGTERM loses only the
trainings in flight and says how to resume.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DiskFull, HarnessError, Interrupted, Terminated, WorkersLost
from harness.store import Store, check_config, check_run_dir, locked, write_config


@dataclass
class Run:
    """A session's view of its run directory; the summary fields are filled in when it ends."""

    run_dir: Path
    store: Store
    started: float
    skipped: int
    ran: int = 0
    trainings_stored: int = 0
    images_per_second: float | None = None
    results: Path | None = None

    def finish(self, actors: list[str]) -> None:
        """Record the session, export the CSV files and summarise this session's trainings only."""
        self.ran = len(self.store.finished()) - self.skipped
        self.store.record_session(self.started, self.ran, self.skipped)
        self.results = self.store.export(actors)
        self.trainings_stored = int((self.store.trainings()["stage"] > 0).sum())
        self.images_per_second = self.store.images_per_second(since=self.started)


@contextmanager
def open_run(run_dir: Path, record: dict) -> Iterator[Run]:
    """Lock RUN_DIR, check it holds this study (``record`` is what config.json holds), open its
    store; on exit record the session and export, and turn Ctrl-C, SIGTERM and the loss of every
    Dask worker into ``Interrupted``."""
    check_run_dir(run_dir)
    with locked(run_dir):
        check_config(run_dir, record)
        store = Store(run_dir)
        write_config(run_dir, record)
        run = Run(run_dir, store, time.time(), len(store.finished()))
        interrupted: KeyboardInterrupt | WorkersLost | None = None
        failure: BaseException | None = None
        try:
            with terminate_as_interrupt():
                yield run
        except (KeyboardInterrupt, WorkersLost) as stop:
            interrupted = stop
        except BaseException as error:
            failure = error
        try:
            run.finish(record["dataset"]["actors"])
        except DiskFull:
            if failure is None:
                raise
        finally:
            store.close()
    if failure is not None:
        raise failure  # the first fault, not the full disk that also stopped the exports after it
    if interrupted is not None:
        resume = f"interrupted; {run.trainings_stored} trainings stored; rerun the same command to resume"
        if isinstance(interrupted, WorkersLost):
            raise Interrupted(f"{interrupted}; {resume}", HarnessError.exit_code)
        raise Interrupted(resume, 128 + getattr(interrupted, "signal_number", signal.SIGINT))


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """For the duration, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in the main thread, so
    a ``kill`` records the session and exports as Ctrl-C does; a second SIGTERM ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signal_number: int, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
