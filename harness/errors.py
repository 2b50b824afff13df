"""The one error type the CLI turns into a single line and exit code 2."""


class HarnessError(Exception):
    """Bad input or state the user can fix; the message says what and how."""
