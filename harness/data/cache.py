"""On-disk cache of decoded image sets.

A set is keyed by every file's path and a hash of its bytes (or of why it cannot be read) and by
the preprocessing options, so any change to a file, even one that keeps its size and mtime, and a
file that becomes readable, misses the cache and is decoded afresh. Reading the files to hash them
costs milliseconds next to decoding them.

The cache never stops a run: an entry that cannot be loaded is a miss (with a warning naming it),
a directory that cannot be written leaves the run going uncached (with one warning). Entries are
written atomically, and the least recently used ones are removed once the cache outgrows its limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.images import UnreadableImage, content_sha256, decode
from harness.errors import HarnessError
from harness.files import replacing

FORMAT_VERSION = 3  # 3: keyed by the files' contents
DEFAULT_LIMIT_MB = 2048
ENTRY_SUFFIX = ".npz"

Progress = Callable[[Iterable[Path], str, int], Iterable[Path]]
Warn = Callable[[str], None]


def no_progress(items: Iterable[Path], description: str, total: int) -> Iterable[Path]:
    return items


def python_warning(message: str) -> None:
    """The default ``Warn`` outside the CLI: a Python ``UserWarning``."""
    warnings.warn(message, stacklevel=3)


@dataclass(frozen=True)
class ImageSet:
    """The usable images of one class, and why the others were skipped."""

    pixels: np.ndarray  # (n, S, S, 1) float32
    paths: list[Path]
    content_sha256: list[str]
    pixel_sha256: list[str]
    skipped: list[tuple[Path, str]]


def combined(parts: list[ImageSet]) -> ImageSet:
    """One set holding every part's images and skipped files, sorted by path."""
    if len(parts) == 1:
        return parts[0]
    paths = [path for part in parts for path in part.paths]
    order = sorted(range(len(paths)), key=paths.__getitem__)
    contents = [digest for part in parts for digest in part.content_sha256]
    pixel_hashes = [digest for part in parts for digest in part.pixel_sha256]
    return ImageSet(
        pixels=np.concatenate([part.pixels for part in parts])[order],
        paths=[paths[i] for i in order],
        content_sha256=[contents[i] for i in order],
        pixel_sha256=[pixel_hashes[i] for i in order],
        skipped=sorted(entry for part in parts for entry in part.skipped),
    )


def default_cache_dir() -> Path:
    """``HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if "HARNESS_CACHE_DIR" in os.environ:
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harness"


def cache_limit_bytes() -> int:
    """``HARNESS_CACHE_LIMIT_MB`` (default 2048) in bytes: the size beyond which old entries go."""
    value = os.environ.get("HARNESS_CACHE_LIMIT_MB", str(DEFAULT_LIMIT_MB))
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1
    if not 0 <= megabytes < float("inf"):
        raise HarnessError(f"HARNESS_CACHE_LIMIT_MB must be a number of megabytes, not '{value}'")
    return int(megabytes * 2**20)


def cache_key(paths: list[Path], image_size: int) -> str:
    """Hash of the files' paths and contents and the preprocessing options."""
    entries = [[str(path.absolute()), content_sha256(path)] for path in paths]
    blob = json.dumps({"v": FORMAT_VERSION, "size": image_size, "files": entries})
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def decode_all(paths: list[Path], image_size: int, progress: Progress, label: str) -> ImageSet:
    """Decode every file, keeping the readable ones and the reason for each skipped one."""
    kept, pixels, contents, hashes, skipped = [], [], [], [], []
    for path in progress(paths, label, len(paths)):
        try:
            decoded = decode(path, image_size)
        except UnreadableImage as reason:
            skipped.append((path, str(reason)))
            continue
        kept.append(path)
        pixels.append(decoded.pixels)
        contents.append(decoded.content_sha256)
        hashes.append(decoded.pixel_sha256)
    stack = np.stack(pixels) if pixels else np.zeros((0, image_size, image_size, 1), np.float32)
    return ImageSet(stack, kept, contents, hashes, skipped)


def save(image_set: ImageSet, file: Path) -> None:
    """Write the entry to a temporary file and rename it: a kill never leaves a torn entry."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with replacing(file) as partial:
        np.savez(
            partial,
            pixels=image_set.pixels,
            paths=np.array([str(p) for p in image_set.paths], dtype=str),
            content_sha256=np.array(image_set.content_sha256, dtype=str),
            pixel_sha256=np.array(image_set.pixel_sha256, dtype=str),
            skipped_paths=np.array([str(p) for p, _ in image_set.skipped], dtype=str),
            skipped_reasons=np.array([r for _, r in image_set.skipped], dtype=str),
        )


def load(file: Path) -> ImageSet:
    with np.load(file) as stored:
        return ImageSet(
            pixels=stored["pixels"],
            paths=[Path(p) for p in stored["paths"]],
            content_sha256=list(stored["content_sha256"]),
            pixel_sha256=list(stored["pixel_sha256"]),
            skipped=list(zip(map(Path, stored["skipped_paths"]), stored["skipped_reasons"], strict=True)),
        )


def entries(cache_dir: Path) -> list[tuple[Path, os.stat_result]]:
    """The cache's entries and their status, least recently used first."""
    found = []
    try:
        for path in cache_dir.iterdir():
            if path.suffix == ENTRY_SUFFIX:
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another process
                    found.append((path, path.stat()))
    except OSError:  # no cache yet, or not a directory
        return []
    return sorted(found, key=lambda entry: entry[1].st_mtime_ns)


def evict(cache_dir: Path, limit_bytes: int, keep: Path) -> None:
    """Remove the least recently used entries (never ``keep``) until the cache fits ``limit_bytes``."""
    present = entries(cache_dir)
    total = sum(status.st_size for _, status in present)
    for path, status in present:
        if total <= limit_bytes:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= status.st_size


def clear(cache_dir: Path) -> tuple[int, int]:
    """Remove every entry, and temporary files a killed process left; (entries removed, bytes freed)."""
    present = entries(cache_dir)
    leftovers = [(path, path.stat()) for path in cache_dir.glob(".*.tmp")] if cache_dir.is_dir() else []
    for path, _ in present + leftovers:
        path.unlink(missing_ok=True)
    return len(present), sum(status.st_size for _, status in present + leftovers)


def writable_cache_dir(cache_dir: Path, warn: Warn) -> Path | None:
    """``cache_dir``, created if needed, or ``None`` with one warning when it cannot be written."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache_dir):
            pass
    except OSError as error:
        warn(f"cannot write the decode cache {cache_dir} ({error.strerror or error}); continuing without it")
        return None
    return cache_dir


def cached_image_set(
    paths: list[Path],
    image_size: int,
    cache_dir: Path | None,
    progress: Progress = no_progress,
    label: str = "",
    warn: Warn = python_warning,
) -> tuple[ImageSet, bool]:
    """The decoded set for ``paths``, from the cache when valid; also whether it was a hit.

    ``cache_dir`` None decodes without the cache.
    """
    if cache_dir is None:
        return decode_all(paths, image_size, progress, label), False
    limit = cache_limit_bytes()  # a bad setting is an error before any work, not after it
    file = cache_dir / f"{cache_key(paths, image_size)}{ENTRY_SUFFIX}"
    if file.exists():
        try:
            image_set = load(file)
        except Exception as error:  # a torn, emptied or foreign file: whatever np.load raises, it is a miss
            warn(f"decode cache entry {file} cannot be read ({type(error).__name__}: {error}); decoding afresh")
        else:
            with contextlib.suppress(OSError):
                os.utime(file)  # recently used: evicted last
            return image_set, True
    image_set = decode_all(paths, image_size, progress, label)
    try:
        save(image_set, file)
    except OSError as error:
        warn(f"cannot write the decode cache entry {file} ({error.strerror or error}); continuing without it")
    else:
        evict(cache_dir, limit, keep=file)
    return image_set, False
