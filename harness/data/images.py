"""Decoding one image file exactly as the original notebook did.

``cv2.imread -> cv2.resize((S, S)) -> BGR2GRAY -> float32 / 255``, shape (S, S, 1).
The bytes are read with numpy and decoded with ``cv2.imdecode`` (same decoder and flags as
``cv2.imread``) so that non-ASCII paths work everywhere and the content hash comes for free.

Before decoding, the image's size is read from its header (Pillow's lazy ``Image.open`` reads
only the header; OpenCV has no header-only call), and an image of more than ``MAX_IMAGE_PIXELS``
is skipped: a 100-byte PNG may claim 10^10 pixels, and a real 20000 x 20000 one decodes to
gigabytes. Formats Pillow does not know are left to OpenCV's own limit (2^30 pixels). That limit
(``OPENCV_IO_MAX_IMAGE_PIXELS``) is not lowered instead because OpenCV reads it once, when ``cv2``
is first imported: set here, it would be ignored wherever ``cv2`` was imported before ``harness``.

A skipped file's reason starts with fixed words (``is empty``, ``cannot be read``...) and puts
any detail in brackets after them, so that reasons can be counted by kind.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MAX_IMAGE_PIXELS = 100_000_000
"""Larger images are skipped: 100 megapixels (10000 x 10000) decode to 300 MB of BGR."""
HEADER_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF", "JPEG2000", "SUN")
"""The formats OpenCV decodes whose headers Pillow reads (trying only these keeps a non-image cheap)."""


class UnreadableImage(Exception):
    """The file exists but is not a decodable image; the message is the reason."""


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # (S, S, 1) float32 in [0, 1]
    pixel_sha256: str  # hash of the full-size decoded pixels (exact-duplicate detection)


def preprocess(bgr: np.ndarray, image_size: int) -> np.ndarray:
    """Resize, convert to gray and scale to [0, 1], as the original did."""
    resized = cv2.resize(bgr, (image_size, image_size))
    gray = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
    return (gray.astype(np.float32) / 255.0)[..., np.newaxis]


def read(path: Path) -> np.ndarray:
    """The file's bytes, or ``UnreadableImage`` with the reason (a dangling link, no permission...)."""
    if path.is_symlink() and not path.exists():
        raise UnreadableImage(f"is a dangling symbolic link (to {os.readlink(path)})")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise UnreadableImage(f"cannot be read ({error.strerror or error})") from error


def bytes_sha256(raw: np.ndarray) -> str:
    """The hash of a file's bytes (the dataset fingerprint is made of these)."""
    return hashlib.sha256(raw.tobytes()).hexdigest()


def unreadable_sha256(reason: UnreadableImage) -> str:
    """What stands for the hash of a file that cannot be read: the reason, so fixing it changes the hash."""
    return f"unreadable: {reason}"


def content_sha256(path: Path) -> str:
    """Hash of the file's bytes, or of the reason it cannot be read."""
    try:
        return bytes_sha256(read(path))
    except UnreadableImage as reason:
        return unreadable_sha256(reason)


def reason_kind(reason: str) -> str:
    """A skip reason without its bracketed detail: ``cannot be read (Permission denied)`` -> ``cannot be read``."""
    return reason.split(" (", 1)[0]


def check_size(raw: np.ndarray) -> None:
    """Raise ``UnreadableImage`` when the header claims more than ``MAX_IMAGE_PIXELS``; any file
    whose header Pillow cannot read is left for OpenCV to judge."""
    too_large = f"has more pixels than the {MAX_IMAGE_PIXELS:,} harness decodes"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own decompression-bomb warning, format quirks
        try:
            with Image.open(io.BytesIO(raw.tobytes()), formats=HEADER_FORMATS) as image:
                width, height = image.size
        except Image.DecompressionBombError:  # over twice Pillow's limit, which is above ours
            raise UnreadableImage(
                f"{too_large} (more than {2 * Image.MAX_IMAGE_PIXELS:,} by its header); downscale it"
            ) from None
        except Exception:  # not a format Pillow knows, or a header it cannot parse
            return
    if width * height > MAX_IMAGE_PIXELS:
        raise UnreadableImage(f"{too_large} ({width} x {height} by its header); downscale it")


def decode(raw: np.ndarray, image_size: int) -> Decoded:
    """Decode and preprocess one file's bytes, or raise ``UnreadableImage`` with the reason."""
    if raw.size == 0:
        raise UnreadableImage("is empty (0 bytes)")
    check_size(raw)
    try:
        bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    except cv2.error as error:  # e.g. beyond OpenCV's own size limits in a format Pillow does not read
        detail = str(error).strip().splitlines()[-1]
        raise UnreadableImage(f"is not an image OpenCV can decode ({detail})") from None
    if bgr is None:
        raise UnreadableImage("is not an image OpenCV can decode (corrupt or another format)")
    return Decoded(
        pixels=preprocess(bgr, image_size),
        pixel_sha256=hashlib.sha256(f"{bgr.shape}".encode() + bgr.tobytes()).hexdigest(),  # shape too
    )
