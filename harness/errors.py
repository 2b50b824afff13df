"""The errors the CLI turns into a single line and an exit code."""


class HarnessError(Exception):
    """Bad input or state the user can fix; the message says what and how (exit code 2)."""

    exit_code = 2
    prefix = "error: "


class DiskFull(HarnessError):
    """A write failed for lack of space: nothing stored is lost, and the same command resumes."""


class Interrupted(HarnessError):
    """Ctrl-C or SIGTERM during a study: what finished is stored, and the message says how to resume.

    The exit code is the shell's for the signal: 130 for SIGINT, 143 for SIGTERM."""

    exit_code = 130
    prefix = ""

    def __init__(self, message: str, signal_number: int = 2):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class Terminated(KeyboardInterrupt):
    """SIGTERM (what kill, Docker, systemd and Slurm send) raised in the main thread, so that it
    takes the path Ctrl-C takes."""

    signal_number = 15
