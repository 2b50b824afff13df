"""The study's images: draw files reproducibly, decode them (cached), check what would leak."""

from __future__ import annotations

import hashlib
import os
import sys
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.choices import MIN_IMAGES, DatasetName
from harness.config import DataConfig
from harness.data.cache import (
    DrawCache,
    ImageSet,
    Progress,
    Warn,
    check_outside,
    combined,
    default_cache_dir,
    from_environment,
    no_progress,
    python_warning,
    writable_cache_dir,
)
from harness.data.images import reason_kind
from harness.data.sources import NEGATIVES, Catalog, folder_catalog, lfw_catalog
from harness.errors import HarnessError

SEPARATORS = (">", ",")  # of actors in an order (A>B) and in a list (A,B)
ID_HASH_CHARS = 12
NAMED_SKIPS = 5  # skipped files named one by one per class and kind of reason; the rest are counted


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
    refused: list[tuple[Path, str]] = field(default_factory=list)  # symbolic links not followed (``list_class``)

    @property
    def skipped(self) -> list[tuple[Path, str]]:
        sets = [*self.positives.values(), self.negatives]
        return [*self.refused, *(entry for image_set in sets for entry in image_set.skipped)]


def draw_usable(
    files: list[Path], limit: int, data_seed: int, label: str, decode: Callable[[list[Path]], ImageSet]
) -> ImageSet:
    """Up to ``limit`` usable images drawn from the sorted ``files``, reproducibly for (data seed, label).

    Files that cannot be decoded are replaced by further draws from the rest, so a corrupt file never
    takes a usable one's place; with no bad files this is one draw of ``limit`` files.
    """
    rng = np.random.default_rng(np.random.SeedSequence(data_seed, spawn_key=(zlib.crc32(os.fsencode(label)),)))
    parts: list[ImageSet] = []
    remaining = list(files)
    while True:
        wanted = limit - sum(len(part.paths) for part in parts)
        if len(remaining) <= wanted:
            picked = np.arange(len(remaining))
        else:
            picked = np.sort(rng.choice(len(remaining), size=wanted, replace=False))
        parts.append(decode([remaining[i] for i in picked]))
        left = np.ones(len(remaining), bool)
        left[picked] = False
        remaining = [path for path, keep in zip(remaining, left, strict=True) if keep]
        if not remaining or sum(len(part.paths) for part in parts) >= limit:
            return combined(parts)


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
    """Hash over the loaded files' bytes, per class and in order, and the image size.

    The content hashes come from decoding, or from a cache entry only where they equal the hash of
    the file's current bytes, so they are always the files' current contents.
    """
    digest = hashlib.sha256(f"size={image_size}".encode())
    for label in sorted(sets):
        digest.update(os.fsencode(label))
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
    if DatasetName(config.dataset) == DatasetName.FOLDER:
        if not config.data_dir:
            raise HarnessError("--dataset folder needs --data-dir DIR (one folder per actor inside)")
        return folder_catalog(Path(config.data_dir), config.negatives_dir, actors)
    if config.data_dir:
        raise HarnessError(
            f"--dataset {config.dataset} does not read --data-dir {config.data_dir}; drop --dataset to load "
            "that folder, or drop --data-dir"
        )
    return lfw_catalog(Path(config.data_home) if config.data_home else None, actors)


def check_actor_names(catalog: Catalog) -> None:
    """Actor names must not be the negative pool's label nor contain the separators of orders and lists."""
    if NEGATIVES in catalog.actors:  # the label of the negative pool; an actor of that name would be lost
        raise HarnessError(
            f"an actor cannot be named '{NEGATIVES}' (in {catalog.root}); rename that folder, or pass "
            f"--negatives-dir {NEGATIVES} if it holds the negatives"
        )
    for actor in catalog.actors:
        if any(separator in actor for separator in SEPARATORS):
            raise HarnessError(
                f"actor folder {catalog.root / actor} has '>' or ',' in its name, which separate actors in "
                "orders (A>B) and lists (A,B); rename the folder"
            )
    check_decodable(catalog)


def check_decodable(catalog: Catalog) -> None:
    """Every file name must decode in this locale: where it does not (a C locale with Python's UTF-8
    mode turned off), Python keeps the raw bytes as surrogates, which no record can store."""
    for files in [*catalog.actors.values(), catalog.negatives]:
        for file in files:
            try:
                str(file).encode()
            except UnicodeEncodeError:
                raise HarnessError(
                    f"the file name {str(file)!r} cannot be decoded with this locale's encoding "
                    f"({sys.getfilesystemencoding()}); run in a UTF-8 locale (e.g. LC_ALL=C.UTF-8) or with PYTHONUTF8=1"
                ) from None


def warn_skipped(label: str, skipped: list[tuple[Path, str]], warn: Warn) -> None:
    """One warning per skipped file, up to ``NAMED_SKIPS`` per kind of reason; then one line counting the rest."""
    by_kind: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for path, reason in skipped:
        by_kind[reason_kind(reason)].append((path, reason))
    for kind, files in by_kind.items():
        for path, reason in files[:NAMED_SKIPS]:
            warn(f"skipped {path}: {reason}")
        if len(files) > NAMED_SKIPS:
            warn(f"skipped {len(files) - NAMED_SKIPS} more files of {label}: each {kind}")


def load_dataset(config: DataConfig, progress: Progress = no_progress, warn: Warn = python_warning) -> Dataset:
    """Draw, decode (through the cache) and check every class the study needs.

    ``warn`` gets one line per skipped file and per cache problem, as they happen, so they come
    before any error about too few usable images.
    """
    catalog = catalog_for(config)
    check_actor_names(catalog)
    wanted = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    setting = "--cache-dir" if config.cache_dir else "HARNESS_CACHE_DIR" if from_environment() else "the default"
    check_outside(wanted, catalog.root, setting)
    cache_dir = writable_cache_dir(wanted, warn)
    candidates = {**catalog.actors, NEGATIVES: catalog.negatives}
    limits = {**{actor: config.max_positives for actor in catalog.actors}, NEGATIVES: config.negatives}
    sets = {}
    for label, files in candidates.items():
        draw = DrawCache(cache_dir, config.image_size, progress, f"decoding {label}", warn)
        sets[label] = draw_usable(files, limits[label], config.data_seed, label, draw.decode)
        draw.save()
        warn_skipped(label, catalog.refused.get(label, []) + sets[label].skipped, warn)
    for label, image_set in sets.items():
        if len(image_set.paths) < MIN_IMAGES:
            where = catalog.root / label if label != NEGATIVES else "the negative pool"
            files = f"{len(candidates[label])} files"
            if skipped := len(catalog.refused.get(label, [])) + len(image_set.skipped):
                files += f", {skipped} skipped: see the warnings above"
            raise HarnessError(
                f"{label}: only {len(image_set.paths)} usable images in {where} ({files}); "
                f"need at least {MIN_IMAGES}: add images or choose another actor"
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
        refused=[entry for label in candidates for entry in catalog.refused.get(label, [])],
    )
