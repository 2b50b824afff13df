"""Output files: checked before any work starts, written so that a kill leaves the old or the new version."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import DiskFull, HarnessError

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


def disk_full(error: BaseException, path: Path | str | None = None) -> DiskFull | None:
    """``DiskFull`` naming ``path`` (else the error's file) and the space left, when ``error`` says
    the disk is full (ENOSPC; SQLite's SQLITE_FULL; pyarrow's "No space left on device"); else None."""
    full = (
        getattr(error, "errno", None) == errno.ENOSPC
        or getattr(error, "sqlite_errorname", None) == "SQLITE_FULL"
        or "No space left on device" in str(error)
    )
    if not full:
        return None
    where = Path(path or getattr(error, "filename", None) or ".").absolute()
    existing = next(p for p in (where, *where.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    return DiskFull(
        f"the disk is full: writing {where} failed ({free / 2**20:.1f} MB free there); free some space and "
        "rerun the same command: everything stored so far is kept and the study resumes where it stopped"
    )


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that infer the format from
    it still work); once the block succeeds, flush it to disk and rename it over ``path``. A full
    disk leaves ``path`` as it was and raises ``DiskFull`` naming it."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}{TEMPORARY}{path.suffix}")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if full := disk_full(error, path):
            raise full from None
        raise
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


def strict_json(content: object, indent: int | None = None) -> str:
    """``content`` as strict JSON: NaN and infinities (there is no JSON for them) as null, recursively."""

    def finite(value: object) -> object:
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(finite(content), indent=indent, allow_nan=False)
