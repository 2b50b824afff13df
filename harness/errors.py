"""The errors the CLI turns into a single line and an exit code."""


class HarnessError(Exception):
    """Bad input or state the user can fix; the message says what and how (exit code 2)."""

    exit_code = 2
    prefix = "error: "


class Interrupted(HarnessError):
    """Ctrl-C during a study: what finished is stored, and the message says how to resume."""

    exit_code = 130
    prefix = ""
