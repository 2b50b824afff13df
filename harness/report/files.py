"""The run directory's files: optional inputs read leniently, outputs written atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from harness import rundir
from harness.errors import HarnessError
from harness.files import replacing


def read_optional(run_dir: Path) -> dict:
    """config.json, trainings.csv, sessions.csv when present; problems become notes."""
    out: dict = {"config": None, "trainings": None, "sessions": None, "notes": []}
    config = run_dir / rundir.CONFIG
    if config.is_file():
        try:
            out["config"] = json.loads(config.read_text())
        except (OSError, ValueError) as exc:
            out["notes"].append(f"config.json unreadable ({type(exc).__name__})")
    if not (run_dir / rundir.PREDICTIONS).is_file():
        out["notes"].append(
            "no predictions.parquet: no per-image evidence "
            "(an older harness made this run, or the results came from elsewhere)"
        )
    for name, file in (("trainings", rundir.TRAININGS), ("sessions", rundir.SESSIONS)):
        path = run_dir / file
        if path.is_file():
            try:
                out[name] = pd.read_csv(path)
            except (OSError, ValueError, pd.errors.ParserError) as exc:
                out["notes"].append(f"{name}.csv unreadable ({type(exc).__name__})")
    return out


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path`` (``files.replacing``);
    an unwritable run directory is one line, not a traceback."""
    try:
        with replacing(path) as tmp:
            write(tmp)
    except OSError as exc:
        raise HarnessError(f"cannot write {path} ({exc.strerror or exc}); make the run directory writable") from None


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
