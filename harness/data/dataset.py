"""The study's images: draw files reproducibly, decode them (cached), check what would leak."""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from harness.data.cache import ImageSet, Progress, cached_image_set, default_cache_dir, no_progress
from harness.data.sources import Catalog, folder_catalog, lfw_catalog
from harness.errors import HarnessError

MIN_IMAGES = 10
NEGATIVES = "negatives"
ID_HASH_CHARS = 12


@dataclass(frozen=True)
class DataConfig:
    """Everything that decides which pixels the study sees."""

    dataset: str = "lfw"  # "lfw" or "folder"
    data_dir: str | None = None
    data_home: str | None = None
    negatives_dir: str = "otherActors"
    actors: tuple[str, ...] | None = None
    max_positives: int = 150
    negatives: int = 150
    image_size: int = 100
    data_seed: int = 0
    protocol: str = "disjoint"  # "disjoint" or "original"
    cache_dir: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """The options that identify a dataset (cache location left out)."""
        options = asdict(self)
        options.pop("cache_dir")
        options["actors"] = list(self.actors) if self.actors else None
        return options


@dataclass(frozen=True)
class Dataset:
    """Decoded images per actor and for the shared negative pool."""

    actors: list[str]
    positives: dict[str, ImageSet]
    negatives: ImageSet
    fingerprint: str
    duplicates: list[tuple[str, Path, str, Path]]  # (class, path, class, path) with equal pixels
    source: Path
    image_ids: dict[str, list[str]] = field(default_factory=dict)  # per actor and NEGATIVES, as in the sets

    @property
    def skipped(self) -> list[tuple[Path, str]]:
        sets = [*self.positives.values(), self.negatives]
        return [entry for image_set in sets for entry in image_set.skipped]


def draw(files: list[Path], limit: int, data_seed: int, label: str) -> list[Path]:
    """Up to ``limit`` files drawn from the sorted list, reproducibly for (data seed, label)."""
    if len(files) <= limit:
        return list(files)
    rng = np.random.default_rng(np.random.SeedSequence(data_seed, spawn_key=(zlib.crc32(label.encode()),)))
    chosen = np.sort(rng.choice(len(files), size=limit, replace=False))
    return [files[i] for i in chosen]


def find_duplicates(sets: dict[str, ImageSet]) -> list[tuple[str, Path, str, Path]]:
    """Pairs of files in different classes whose decoded pixels are identical."""
    seen: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for label, image_set in sets.items():
        for path, digest in zip(image_set.paths, image_set.pixel_sha256, strict=True):
            seen[digest].append((label, path))
    pairs = []
    for entries in seen.values():
        for i, (label_a, path_a) in enumerate(entries):
            pairs += [(label_a, path_a, b, p) for b, p in entries[i + 1 :] if b != label_a]
    return sorted(pairs, key=lambda pair: (str(pair[1]), str(pair[3])))


def fingerprint(sets: dict[str, ImageSet], image_size: int) -> str:
    """Hash over the loaded files' contents, per class and in order, and the image size."""
    digest = hashlib.sha256(f"size={image_size}".encode())
    for label in sorted(sets):
        digest.update(label.encode())
        for content in sets[label].content_sha256:
            digest.update(content.encode())
    return digest.hexdigest()[:16]


def image_ids(image_set: ImageSet, root: Path) -> list[str]:
    """Stable ids of a set's images: the path relative to the data root plus a short content hash.

    The same file gets the same id in every seed and every model, so per-image predictions of a
    seed's models line up; the hash tells a file replaced under the same name apart.
    """

    def relative(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()

    return [
        f"{relative(path)}#{content[:ID_HASH_CHARS]}"
        for path, content in zip(image_set.paths, image_set.content_sha256, strict=True)
    ]


def catalog_for(config: DataConfig) -> Catalog:
    actors = list(config.actors) if config.actors else None
    if config.dataset == "folder":
        if not config.data_dir:
            raise HarnessError("--dataset folder needs --data-dir DIR (one folder per actor inside)")
        return folder_catalog(Path(config.data_dir), config.negatives_dir, actors)
    if config.dataset == "lfw":
        return lfw_catalog(Path(config.data_home) if config.data_home else None, actors)
    raise HarnessError(f"--dataset must be 'lfw' or 'folder', not '{config.dataset}'")


def load_dataset(config: DataConfig, progress: Progress = no_progress) -> Dataset:
    """Draw, decode (through the cache) and check every class the study needs."""
    if config.image_size < 8:
        raise HarnessError(f"--image-size {config.image_size} is too small; use 8 or more (default 100)")
    catalog = catalog_for(config)
    if NEGATIVES in catalog.actors:  # the label of the negative pool; an actor of that name would be lost
        raise HarnessError(
            f"an actor cannot be named '{NEGATIVES}' (in {catalog.root}); rename that folder, or pass "
            f"--negatives-dir {NEGATIVES} if it holds the negatives"
        )
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    wanted = {a: draw(files, config.max_positives, config.data_seed, a) for a, files in catalog.actors.items()}
    wanted[NEGATIVES] = draw(catalog.negatives, config.negatives, config.data_seed, NEGATIVES)
    sets = {
        label: cached_image_set(files, config.image_size, cache_dir, progress, f"decoding {label}")[0]
        for label, files in wanted.items()
    }
    for label, image_set in sets.items():
        if len(image_set.paths) < MIN_IMAGES:
            where = catalog.root / label if label != NEGATIVES else "the negative pool"
            raise HarnessError(
                f"{label}: only {len(image_set.paths)} usable images in {where} "
                f"(need at least {MIN_IMAGES}); add images or choose another actor"
            )
    ids = {label: image_ids(image_set, catalog.root) for label, image_set in sets.items()}
    negatives = sets.pop(NEGATIVES)
    return Dataset(
        actors=list(catalog.actors),
        positives=sets,
        negatives=negatives,
        fingerprint=fingerprint({**sets, NEGATIVES: negatives}, config.image_size),
        duplicates=find_duplicates({**sets, NEGATIVES: negatives}),
        source=catalog.root,
        image_ids=ids,
    )
