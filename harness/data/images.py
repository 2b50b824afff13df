"""Decoding one image file exactly as the original notebook did.

``cv2.imread -> cv2.resize((S, S)) -> BGR2GRAY -> float32 / 255``, shape (S, S, 1).
The bytes are read with numpy and decoded with ``cv2.imdecode`` (same decoder and flags as
``cv2.imread``) so that non-ASCII paths work everywhere and the content hash comes for free.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class UnreadableImage(Exception):
    """The file exists but is not a decodable image; the message is the reason."""


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # (S, S, 1) float32 in [0, 1]
    content_sha256: str  # hash of the file's bytes (dataset fingerprint)
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


def content_sha256(path: Path) -> str:
    """Hash of the file's bytes, or of the reason it cannot be read (so fixing it changes the hash)."""
    try:
        return hashlib.sha256(read(path).tobytes()).hexdigest()
    except UnreadableImage as reason:
        return f"unreadable: {reason}"


def decode(path: Path, image_size: int) -> Decoded:
    """Decode and preprocess one file, or raise ``UnreadableImage`` with the reason."""
    raw = read(path)
    if raw.size == 0:
        raise UnreadableImage("is empty (0 bytes)")
    bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableImage("is not an image OpenCV can decode (corrupt or another format)")
    return Decoded(
        pixels=preprocess(bgr, image_size),
        content_sha256=hashlib.sha256(raw.tobytes()).hexdigest(),
        pixel_sha256=hashlib.sha256(f"{bgr.shape}".encode() + bgr.tobytes()).hexdigest(),  # shape too
    )
