"""Output files: checked before any work starts, written so that a kill leaves the old or the new version."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

TEMPORARY = ".tmp"


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


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that infer the format from
    it still work); once the block succeeds, flush it to disk and rename it over ``path``."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}{TEMPORARY}{path.suffix}")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically (temporary file + ``os.replace``), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        if isinstance(content, str):
            temporary.write_text(content, encoding="utf-8")
        else:
            temporary.write_bytes(content)


def remove_leftovers(directory: Path) -> None:
    """Delete the temporary files that writers killed inside ``replacing`` left under ``directory``
    (call it only while no writer can be running there, e.g. under the run directory's lock)."""
    for leftover in directory.rglob(f".*{TEMPORARY}*"):
        if leftover.is_file():
            leftover.unlink()
