"""Write small synthetic image files (and folder datasets) for the data tests.

Every image drawn here is random noise from its own seed, so two images are identical only when
a test makes them so on purpose. Files are written with ``cv2.imencode`` + ``tofile`` so that
non-ASCII names work.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

NEGATIVES_DIR = "otherActors"


def noise(seed: int, height: int = 12, width: int = 12, channels: int = 3) -> np.ndarray:
    """A random uint8 image, (height, width, channels), or (height, width) for channels=1."""
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def write_image(path: Path, pixels: np.ndarray, params: tuple[int, ...] = ()) -> Path:
    """Encode ``pixels`` (BGR/BGRA/gray, uint8 or uint16) in the format of ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, pixels, list(params))
    assert ok, f"cv2 could not encode {path.name}"
    encoded.tofile(str(path))
    return path


def write_paletted_png(path: Path, rgb: tuple[int, int, int], size: int = 12) -> Path:
    """A mode 'P' PNG whose every pixel is palette entry 1 = ``rgb`` (entry 0 is unused black)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("P", (size, size), 1)
    image.putpalette([0, 0, 0, *rgb] + [0, 0, 0] * 254)
    image.save(path)
    return path


def write_png(path: Path, width: int, height: int, rows: int | None = None) -> Path:
    """An all-black 1-bit gray PNG written chunk by chunk (huge ones stay small and cheap to make);
    ``rows`` < height writes only that many rows of pixel data, as a header claiming more than the file holds."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def write_class(folder: Path, count: int, seed: int, suffix: str = ".png", size: int = 12) -> list[Path]:
    """``count`` distinct noise images named img_000.png ... in ``folder``."""
    return [write_image(folder / f"img_{i:03d}{suffix}", noise(seed * 1000 + i, size, size)) for i in range(count)]


def make_folder_dataset(
    root: Path, actors: dict[str, int], negatives: int, negatives_dir: str = NEGATIVES_DIR, seed: int = 0
) -> Path:
    """The original layout: ``root/<actor>/`` per actor and ``root/<negatives_dir>/``.

    Actor folders are created in the given order (not sorted), to catch any reliance on it.
    """
    for index, (actor, count) in enumerate(actors.items()):
        write_class(root / actor, count, seed=seed * 100 + index + 1)
    write_class(root / negatives_dir, negatives, seed=seed * 100 + 99)
    return root


def original_pipeline(path: Path, image_size: int) -> np.ndarray:
    """The notebook's preprocessing, written out independently of ``harness``."""
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"cv2.imread could not read {path}"
    resized = cv2.resize(bgr, (image_size, image_size))
    gray = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
    return (gray.astype(np.float32) / 255)[..., np.newaxis]


def set_mtime(path: Path, seconds: float) -> None:
    """Give ``path`` an explicit modification time, so tests never depend on the clock."""
    os.utime(path, (seconds, seconds))


def refuse_reading(monkeypatch, path: Path) -> None:
    """Make ``np.fromfile`` fail on ``path`` as it does without read permission (root reads any file)."""
    fromfile = np.fromfile

    def refuse(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return fromfile(file, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", refuse)
