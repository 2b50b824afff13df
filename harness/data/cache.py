"""On-disk cache of decoded image sets.

A set is keyed by every file's (path, size, mtime) and the preprocessing options, so a changed,
added or removed file, or another image size, misses the cache and is decoded afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.images import UnreadableImage, decode

FORMAT_VERSION = 2  # 2: pixel_sha256 covers the image shape

Progress = Callable[[Iterable[Path], str, int], Iterable[Path]]


def no_progress(items: Iterable[Path], description: str, total: int) -> Iterable[Path]:
    return items


@dataclass(frozen=True)
class ImageSet:
    """The usable images of one class, and why the others were skipped."""

    pixels: np.ndarray  # (n, S, S, 1) float32
    paths: list[Path]
    content_sha256: list[str]
    pixel_sha256: list[str]
    skipped: list[tuple[Path, str]]


def default_cache_dir() -> Path:
    """``HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if "HARNESS_CACHE_DIR" in os.environ:
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harness"


def cache_key(paths: list[Path], image_size: int) -> str:
    """Hash of the files' identities and the preprocessing options."""
    entries = []
    for path in paths:
        try:
            stat = path.stat()
            entries.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
        except OSError:
            entries.append([str(path), None, None])
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
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(
        partial,
        pixels=image_set.pixels,
        paths=np.array([str(p) for p in image_set.paths], dtype=str),
        content_sha256=np.array(image_set.content_sha256, dtype=str),
        pixel_sha256=np.array(image_set.pixel_sha256, dtype=str),
        skipped_paths=np.array([str(p) for p, _ in image_set.skipped], dtype=str),
        skipped_reasons=np.array([r for _, r in image_set.skipped], dtype=str),
    )
    os.replace(partial, file)  # atomic: a killed run never leaves a half-written cache entry


def load(file: Path) -> ImageSet:
    with np.load(file) as stored:
        return ImageSet(
            pixels=stored["pixels"],
            paths=[Path(p) for p in stored["paths"]],
            content_sha256=list(stored["content_sha256"]),
            pixel_sha256=list(stored["pixel_sha256"]),
            skipped=list(zip(map(Path, stored["skipped_paths"]), stored["skipped_reasons"], strict=True)),
        )


def cached_image_set(
    paths: list[Path], image_size: int, cache_dir: Path, progress: Progress = no_progress, label: str = ""
) -> tuple[ImageSet, bool]:
    """The decoded set for ``paths``, from the cache when valid; also whether it was a hit."""
    file = cache_dir / f"{cache_key(paths, image_size)}.npz"
    if file.exists():
        try:
            return load(file), True
        except (OSError, ValueError, KeyError):
            pass  # an unreadable entry is just a miss
    image_set = decode_all(paths, image_size, progress, label)
    save(image_set, file)
    return image_set, False
