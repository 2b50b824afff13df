"""Time a cached load of the default LFW study's files (the README's decode-cache numbers).

    python benchmarks/cached_load.py        # SCIKIT_LEARN_DATA or ~/scikit_learn_data must hold LFW

Loads the default study once into a fresh cache, then times, best of 5, hashing every file's
bytes (``content_sha256``) and loading each class's draw from its entry (``cached_image_set``).
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path

from harness.config import DataConfig
from harness.data import load_dataset
from harness.data.cache import cached_image_set
from harness.data.images import content_sha256


def main() -> None:
    cache = Path(tempfile.mkdtemp())
    config = DataConfig(cache_dir=str(cache))
    dataset = load_dataset(config, warn=lambda message: None)
    draws = [sorted([*s.paths, *(p for p, _ in s.skipped)]) for s in [*dataset.positives.values(), dataset.negatives]]

    def load_all() -> None:
        assert all(cached_image_set(paths, config.image_size, cache)[1] for paths in draws), "not a cache hit"

    def hash_all() -> None:
        for paths in draws:
            [content_sha256(path) for path in paths]

    files = sum(map(len, draws))
    for name, run in (("hashing the files", hash_all), ("cached load", load_all)):
        best = min(timeit.repeat(run, number=1, repeat=5))
        print(f"{name}: {best * 1000:.0f} ms ({files} files, {len(draws)} entries, size {config.image_size})")


if __name__ == "__main__":
    main()
