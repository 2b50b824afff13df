"""Writing files so that a kill leaves the old version or the new one, never a torn one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY = ".tmp"


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
    """Write ``content`` to ``path`` atomically (temporary file + ``os.replace``)."""
    with replacing(path) as temporary:
        if isinstance(content, str):
            temporary.write_text(content)
        else:
            temporary.write_bytes(content)


def remove_leftovers(directory: Path) -> None:
    """Delete the temporary files that writers killed inside ``replacing`` left under ``directory``
    (call it only while no writer can be running there, e.g. under the run directory's lock)."""
    for leftover in directory.rglob(f".*{TEMPORARY}*"):
        if leftover.is_file():
            leftover.unlink()
