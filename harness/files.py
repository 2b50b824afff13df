"""Output files: checked before any work starts, written so that a kill leaves the old or the new version."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError


def check_output_file(path: Path, option: str) -> None:
    """Refuse, with one line, an output file that could not be written: a directory, a path below a
    file, or a folder the user may not write to."""
    if path.is_dir():
        raise HarnessError(f"{option} {path} is a directory; give a file name, e.g. {path / 'out.json'}")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise HarnessError(f"{option} {path} is below {existing}, which is a file; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HarnessError(f"{option} {path}: {existing} is not writable; choose another path")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
