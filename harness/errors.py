"""The errors the CLI turns into a single line and an exit code."""


class HarnessError(Exception):
    """Bad input or state the user can fix; the message says what and how (exit code 2)."""

    exit_code = 2
    prefix = "error: "


class DiskFull(HarnessError):
    """A write failed for lack of space: nothing stored is lost, and the same command resumes."""


class Interrupted(HarnessError):
    """A study stopped before its end (Ctrl-C, SIGTERM, no Dask worker left): what finished is
    stored, and the message says how to resume. Its exit code is the shell's for a signal (130
    for SIGINT, 143 for SIGTERM), else 2."""

    prefix = ""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM (what kill, Docker, systemd and Slurm send) raised in the main thread, so that it
    takes the path Ctrl-C takes."""

    signal_number = 15


class WorkersLost(Exception):
    """The Dask scheduler has had no worker for too long (the last one lost, none joined): the
    study stops as an interrupted one does."""
