"""On-disk cache of decoded image sets.

The cache owns only what it wrote: entries are named ``harness-decoded-<32 hex digits>.npz`` and
their temporary files ``.harness-decoded-<hex>.<pid>.tmp.npz``; nothing else in the directory
(a user's ``weights.npz``, entries of earlier versions) is ever read, counted, evicted or cleared.

An entry holds every file one draw used (``DrawCache``) and is named after the draw's first files
and the preprocessing options. Each stored file is used only while its bytes still hash to what
was stored (so any change to a file, even one that keeps its size and mtime, and a file that
becomes readable, is decoded afresh), and the entry's arrays must match the SHA-256 stored with
them, so a rewritten entry is a miss too. Reading the files to hash them costs milliseconds next
to decoding them.

The cache never stops a run: an entry that cannot be loaded is a miss (with a warning naming it),
a directory that cannot be written leaves the run going uncached (with one warning). Entries are
written atomically, and the least recently used ones are removed once the cache outgrows its limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.data.images import UnreadableImage, bytes_sha256, content_sha256, decode, read, unreadable_sha256
from harness.errors import DiskFull, HarnessError
from harness.files import TEMPORARY, replacing

FORMAT_VERSION = 4  # 4: one entry per draw, checked file by file and against its own checksum
DEFAULT_LIMIT_MB = 2048
ENTRY_PREFIX = "harness-decoded-"
ENTRY = re.compile(rf"{ENTRY_PREFIX}[0-9a-f]{{32}}\.npz")
WRITING = re.compile(rf"\.{ENTRY_PREFIX}[0-9a-f]{{32}}\.(\d+){re.escape(TEMPORARY)}\.npz")
"""A temporary entry being written by the process whose id it names (``files.replacing``)."""

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
    skipped_sha256: list[str]  # the skipped files' content hashes, so a fixed file is decoded afresh

    def subset(self, paths: list[Path]) -> ImageSet:
        """The set of ``paths`` (each one of this set's files), in their order, without copying the
        pixels when they are all of this set's images in its order (a cache hit)."""
        kept = {path: i for i, path in enumerate(self.paths)}
        skipped = {path: i for i, (path, _) in enumerate(self.skipped)}
        rows = [kept[path] for path in paths if path in kept]
        others = [skipped[path] for path in paths if path not in kept]
        return ImageSet(
            pixels=self.pixels if rows == list(range(len(self.paths))) else self.pixels[rows],
            paths=[self.paths[i] for i in rows],
            content_sha256=[self.content_sha256[i] for i in rows],
            pixel_sha256=[self.pixel_sha256[i] for i in rows],
            skipped=[self.skipped[i] for i in others],
            skipped_sha256=[self.skipped_sha256[i] for i in others],
        )


@dataclass(frozen=True)
class DecodedFile:
    """One file decoded: the hash of its bytes, and its pixels or the reason it was skipped."""

    path: Path
    content_sha256: str
    pixels: np.ndarray | None  # (S, S, 1), None when skipped
    pixel_sha256: str = ""
    reason: str = ""


def image_set(files: list[DecodedFile], image_size: int) -> ImageSet:
    """The set of the decoded ``files``, in their order."""
    kept = [o for o in files if o.pixels is not None]
    skipped = [o for o in files if o.pixels is None]
    stack = np.stack([o.pixels for o in kept]) if kept else np.zeros((0, image_size, image_size, 1), np.float32)
    return ImageSet(
        pixels=stack,
        paths=[o.path for o in kept],
        content_sha256=[o.content_sha256 for o in kept],
        pixel_sha256=[o.pixel_sha256 for o in kept],
        skipped=[(o.path, o.reason) for o in skipped],
        skipped_sha256=[o.content_sha256 for o in skipped],
    )


def decoded_files(images: ImageSet) -> list[DecodedFile]:
    """The set's files one by one: its images in order, then its skipped files."""
    kept = [
        DecodedFile(path, content, pixels, pixel_hash)
        for path, content, pixels, pixel_hash in zip(
            images.paths, images.content_sha256, images.pixels, images.pixel_sha256, strict=True
        )
    ]
    skipped = [
        DecodedFile(path, content, None, reason=reason)
        for (path, reason), content in zip(images.skipped, images.skipped_sha256, strict=True)
    ]
    return kept + skipped


def combined(parts: list[ImageSet]) -> ImageSet:
    """One set holding every part's images and skipped files, sorted by path."""
    if len(parts) == 1:
        return parts[0]
    files = sorted((o for part in parts for o in decoded_files(part)), key=lambda o: o.path.parts)  # Path order
    return image_set(files, parts[0].pixels.shape[1])


def from_environment() -> bool:
    """Whether ``HARNESS_CACHE_DIR`` is set and not blank (a blank one, even ``" "``, means unset)."""
    return bool(os.environ.get("HARNESS_CACHE_DIR", "").strip())


def default_cache_dir() -> Path:
    """``HARNESS_CACHE_DIR`` (set and not blank), else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if from_environment():
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "harness"


def check_outside(cache_dir: Path, data_root: Path, setting: str) -> None:
    """Refuse a cache inside the data directory (``setting`` says where ``cache_dir`` came from):
    its entries would be listed as a class's files."""
    cache, root = os.path.realpath(cache_dir), os.path.realpath(data_root)
    if os.path.commonpath([cache, root]) == root:
        raise HarnessError(
            f"the decode cache {cache_dir} ({setting}) is inside the data directory {data_root}, where its "
            "entries would be read as images; give --cache-dir or HARNESS_CACHE_DIR a folder outside it"
        )


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


def entry_name(paths: list[Path], image_size: int) -> str:
    """The entry of a draw whose first files are ``paths``: a hash of their paths and the options."""
    blob = json.dumps({"v": FORMAT_VERSION, "size": image_size, "files": [str(p.absolute()) for p in paths]})
    return f"{ENTRY_PREFIX}{hashlib.sha256(blob.encode()).hexdigest()[:32]}.npz"


def decode_file(path: Path, image_size: int) -> DecodedFile:
    """Read the file once, hash its bytes and decode them."""
    try:
        raw = read(path)
    except UnreadableImage as reason:
        return DecodedFile(path, unreadable_sha256(reason), None, reason=str(reason))
    try:
        decoded = decode(raw, image_size)
    except UnreadableImage as reason:
        return DecodedFile(path, bytes_sha256(raw), None, reason=str(reason))
    return DecodedFile(path, bytes_sha256(raw), decoded.pixels, decoded.pixel_sha256)


def payload_sha256(arrays: dict[str, np.ndarray]) -> str:
    """A hash over every array of an entry (name, type, shape and bytes)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])  # no copy: stored and loaded arrays are contiguous
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.data)  # the buffer itself, not a copy of it
    return digest.hexdigest()


def save(images: ImageSet, file: Path) -> None:
    """Write the entry and its checksum to a temporary file and rename it: a kill never leaves a torn entry."""
    arrays = {
        "pixels": images.pixels,
        "paths": np.array([str(p) for p in images.paths], dtype=str),
        "content_sha256": np.array(images.content_sha256, dtype=str),
        "pixel_sha256": np.array(images.pixel_sha256, dtype=str),
        "skipped_paths": np.array([str(p) for p, _ in images.skipped], dtype=str),
        "skipped_reasons": np.array([r for _, r in images.skipped], dtype=str),
        "skipped_sha256": np.array(images.skipped_sha256, dtype=str),
    }
    file.parent.mkdir(parents=True, exist_ok=True)
    with replacing(file) as partial:
        np.savez(partial, payload_sha256=np.array(payload_sha256(arrays)), **arrays)


class ChangedEntry(Exception):
    """The entry's arrays no longer match the checksum written with them."""


def load(file: Path) -> ImageSet:
    with np.load(file) as stored:
        arrays = {name: stored[name] for name in stored.files}
    if str(arrays.pop("payload_sha256")) != payload_sha256(arrays):
        raise ChangedEntry("its contents do not match the checksum written with them")
    return ImageSet(
        pixels=arrays["pixels"],
        paths=[Path(p) for p in arrays["paths"]],
        content_sha256=[str(d) for d in arrays["content_sha256"]],
        pixel_sha256=[str(d) for d in arrays["pixel_sha256"]],
        skipped=list(zip(map(Path, arrays["skipped_paths"]), map(str, arrays["skipped_reasons"]), strict=True)),
        skipped_sha256=[str(d) for d in arrays["skipped_sha256"]],
    )


def regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a folder or link): only such files can be the cache's own."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def entries(cache_dir: Path) -> list[tuple[Path, os.stat_result]]:
    """The cache's entries (only files named as this version names them) and their status, least
    recently used first."""
    found = []
    try:
        for path in cache_dir.iterdir():
            if ENTRY.fullmatch(path.name):
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another process
                    found.append((path, path.lstat()))
    except OSError:  # no cache yet, or not a directory
        return []
    owned = [(path, status) for path, status in found if stat.S_ISREG(status.st_mode)]  # no folder or link
    return sorted(owned, key=lambda entry: entry[1].st_mtime_ns)


def running(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    except OverflowError:  # no process has such an id
        return False
    return True


def leftovers(cache_dir: Path) -> list[Path]:
    """Temporary entries whose writer is no longer running (a killed process's); a live writer's stay."""
    try:
        matches = [(path, WRITING.fullmatch(path.name)) for path in cache_dir.iterdir()]
    except OSError:
        return []
    return [path for path, match in matches if match and regular(path) and not running(int(match.group(1)))]


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
    freed = 0
    for path, status in present:
        path.unlink(missing_ok=True)
        freed += status.st_size
    for path in leftovers(cache_dir):
        with contextlib.suppress(FileNotFoundError):
            freed += path.stat().st_size
            path.unlink()
    return len(present), freed


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


@dataclass
class DrawCache:
    """Decodes the files of one draw through one cache entry.

    A draw asks for its files in rounds (a file that cannot be decoded is replaced by a further
    draw), and the same seed asks for the same first round: the first files asked for name the
    entry, and the entry stores every file the draw used, the replacements too, written once by
    ``save``. ``cache_dir`` None decodes without the cache.
    """

    cache_dir: Path | None
    image_size: int
    progress: Progress = no_progress
    label: str = ""
    warn: Warn = python_warning
    file: Path | None = field(default=None, init=False)  # named at the first ``decode``
    entry: ImageSet | None = field(default=None, init=False)  # what the entry holds, once read
    stored: dict[Path, DecodedFile] = field(default_factory=dict, init=False)  # the same, file by file
    used: list[ImageSet] = field(default_factory=list, init=False)
    fresh: int = field(default=0, init=False)  # files decoded afresh (not from the entry)

    def __post_init__(self) -> None:
        self.limit = cache_limit_bytes() if self.cache_dir else 0  # a bad setting is an error before any work

    def read(self, file: Path) -> ImageSet | None:
        if not file.exists():
            return None
        try:
            stored = load(file)
        except Exception as error:  # torn, emptied, rewritten or foreign: whatever it is, it is a miss
            self.warn(f"decode cache entry {file} cannot be read ({type(error).__name__}: {error}); decoding afresh")
            return None
        with contextlib.suppress(OSError):
            os.utime(file)  # recently used: evicted last
        return stored

    def decode(self, paths: list[Path]) -> ImageSet:
        """The set of ``paths`` (in their order): stored files whose bytes are unchanged, the others decoded."""
        if self.file is None and self.cache_dir is not None:
            self.file = self.cache_dir / entry_name(paths, self.image_size)
            self.entry = self.read(self.file)
            self.stored = {decoded.path: decoded for decoded in decoded_files(self.entry)} if self.entry else {}
        found = {
            path: self.stored[path]
            for path in paths
            if path in self.stored and self.stored[path].content_sha256 == content_sha256(path)
        }
        missing = [path for path in paths if path not in found]
        if not missing and self.entry is not None:
            images = self.entry.subset(paths)  # every file from the entry: its arrays as they are
        else:
            found |= {
                path: decode_file(path, self.image_size) for path in self.progress(missing, self.label, len(missing))
            }
            images = image_set([found[path] for path in paths], self.image_size)
        self.fresh += len(missing)
        self.used.append(images)
        return images

    def save(self) -> None:
        """Store every file this draw used as one entry, if any was decoded afresh; then evict."""
        if self.file is None or not self.fresh:
            return
        try:
            save(combined(self.used), self.file)
            evict(self.file.parent, self.limit, keep=self.file)
        except (OSError, DiskFull) as error:  # the cache never stops a run, not even on a full disk
            reason = getattr(error, "strerror", None) or error
            self.warn(f"cannot write the decode cache entry {self.file} ({reason}); continuing without it")


def cached_image_set(
    paths: list[Path],
    image_size: int,
    cache_dir: Path | None,
    progress: Progress = no_progress,
    label: str = "",
    warn: Warn = python_warning,
) -> tuple[ImageSet, bool]:
    """The decoded set for ``paths``, from the cache where valid; also whether nothing had to be decoded."""
    draw = DrawCache(cache_dir, image_size, progress, label, warn)
    images = draw.decode(paths)
    draw.save()
    return images, draw.fresh == 0
