"""Data loading: folder and LFW sources, draws, preprocessing, the decode cache, splits, bad input."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from images import (
    NEGATIVES_DIR,
    make_folder_dataset,
    noise,
    original_pipeline,
    refuse_reading,
    set_mtime,
    write_class,
    write_image,
    write_paletted_png,
    write_png,
)
from sklearn.model_selection import train_test_split

from harness.config import DataConfig
from harness.data import load_dataset
from harness.data.cache import cached_image_set
from harness.data.images import MAX_IMAGE_PIXELS
from harness.data.sources import list_files
from harness.data.splits import leaks, make_split, stage_arrays
from harness.errors import HarnessError
from harness.study import split_sequence

SIZE = 16
# Actor folders are written in this (unsorted) order; Alice has a different count from the others so
# that the 'original' split differs between actors.
ACTORS = {"Carol": 12, "Alice": 14, "Bob": 12}
N_NEGATIVES = 16
LFW_TOP3 = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]
BROKEN = "is not an image OpenCV can decode (corrupt or another format)"


@pytest.fixture
def faces(tmp_path) -> Path:
    """A good folder dataset: three actors and 16 negatives of 12x12 noise PNGs."""
    return make_folder_dataset(tmp_path / "faces", ACTORS, N_NEGATIVES)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def config(data_dir: Path, cache_dir: Path, **options) -> DataConfig:
    options = {"max_positives": 100, "negatives": 100, "image_size": SIZE, **options}
    return DataConfig(dataset="folder", data_dir=str(data_dir), cache_dir=str(cache_dir), **options)


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


class ProgressCounter:
    """A progress callback that counts how many classes were decoded (i.e. missed the cache)."""

    def __init__(self):
        self.decoded = 0

    def __call__(self, items, description, total):
        self.decoded += 1
        return items


# --- folder source -----------------------------------------------------------------------------


def test_folder_default_actors_are_every_folder_but_negatives_sorted(faces, cache):
    dataset = load_dataset(config(faces, cache))
    assert dataset.actors == ["Alice", "Bob", "Carol"]
    assert {a: len(dataset.positives[a].paths) for a in dataset.actors} == {"Alice": 14, "Bob": 12, "Carol": 12}
    assert all(p.parent.name == a for a in dataset.actors for p in dataset.positives[a].paths)
    assert len(dataset.negatives.paths) == N_NEGATIVES
    assert {p.parent.name for p in dataset.negatives.paths} == {NEGATIVES_DIR}
    assert dataset.skipped == [] and dataset.duplicates == []
    assert dataset.source == faces


def test_actors_option_picks_actors_in_the_given_order(faces, cache):
    dataset = load_dataset(config(faces, cache, actors=("Carol", "Alice")))
    assert dataset.actors == ["Carol", "Alice"]
    assert set(dataset.positives) == {"Carol", "Alice"}


def test_negatives_dir_renames_the_negatives_folder(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "renamed", {"Alice": 10, "Bob": 10}, 11, negatives_dir="others")
    dataset = load_dataset(config(root, cache, negatives_dir="others"))
    assert dataset.actors == ["Alice", "Bob"]  # 'others' is not an actor
    assert {p.parent.name for p in dataset.negatives.paths} == {"others"}
    assert len(dataset.negatives.paths) == 11


# --- sizes and reproducible draws --------------------------------------------------------------


def test_draw_respects_the_limits(faces, cache):
    dataset = load_dataset(config(faces, cache, max_positives=10, negatives=11))
    assert all(len(dataset.positives[a].paths) == 10 for a in dataset.actors)
    assert len(dataset.negatives.paths) == 11


def test_draw_is_reproducible_and_depends_on_the_data_seed(faces, cache):
    def drawn(seed):
        dataset = load_dataset(config(faces, cache, max_positives=10, negatives=10, data_seed=seed))
        return {a: dataset.positives[a].paths for a in dataset.actors} | {"neg": dataset.negatives.paths}

    first, again, other = drawn(0), drawn(0), drawn(1)
    assert first == again
    for label in first:
        assert first[label] != other[label]  # 14 or 12 or 16 files, limit 10: a real draw
        assert first[label] == sorted(first[label])


def test_draw_never_depends_on_filesystem_order(faces, cache, monkeypatch):
    """Listing directories in reverse order must not change which files are drawn."""
    limits = {"max_positives": 10, "negatives": 10, "data_seed": 3}
    expected = load_dataset(config(faces, cache, **limits))
    rglob, iterdir = Path.rglob, Path.iterdir
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: reversed(list(rglob(self, pattern))))
    monkeypatch.setattr(Path, "iterdir", lambda self: reversed(list(iterdir(self))))
    assert list(faces.iterdir()) == list(iterdir(faces))[::-1]  # the patch is in effect
    shuffled = load_dataset(config(faces, cache, **limits))
    assert shuffled.actors == expected.actors
    for actor in expected.actors:
        assert shuffled.positives[actor].paths == expected.positives[actor].paths
    assert shuffled.negatives.paths == expected.negatives.paths


# --- preprocessing -----------------------------------------------------------------------------


def test_pixels_are_exactly_the_original_pipeline(tmp_path, cache):
    """imread -> resize((S, S)) -> BGR2GRAY -> float32 / 255 on non-square JPEGs and PNGs."""
    root = tmp_path / "pipeline"
    for i in range(10):
        write_image(root / "Alice" / f"a{i}.jpg", noise(i, 24, 20))
        write_image(root / "Alice" / f"b{i}.png", noise(50 + i, 9, 21))
    write_class(root / NEGATIVES_DIR, 10, seed=7, size=23)
    dataset = load_dataset(config(root, cache, image_size=SIZE))
    for image_set in (dataset.positives["Alice"], dataset.negatives):
        assert image_set.pixels.shape == (len(image_set.paths), SIZE, SIZE, 1)
        assert image_set.pixels.dtype == np.float32
        for path, pixels in zip(image_set.paths, image_set.pixels, strict=True):
            np.testing.assert_array_equal(pixels, original_pipeline(path, SIZE))
    assert len(dataset.positives["Alice"].paths) == 20


# --- the decode cache --------------------------------------------------------------------------


def test_cache_hits_for_unchanged_files_and_returns_the_same_arrays(faces, cache):
    paths = list_files(faces / "Alice")
    fresh, hit = cached_image_set(paths, SIZE, cache)
    assert not hit
    again, hit = cached_image_set(paths, SIZE, cache)
    assert hit
    np.testing.assert_array_equal(again.pixels, fresh.pixels)
    assert again.paths == fresh.paths == paths
    assert again.content_sha256 == fresh.content_sha256 and again.pixel_sha256 == fresh.pixel_sha256


def test_cache_misses_when_a_file_changes(faces, cache):
    paths = list_files(faces / "Alice")
    for path in paths:
        set_mtime(path, 1_600_000_000)
    before, _ = cached_image_set(paths, SIZE, cache)
    assert cached_image_set(paths, SIZE, cache)[1]

    write_image(paths[0], noise(12345))  # new content, and an explicitly later mtime
    set_mtime(paths[0], 1_600_000_100)
    after, hit = cached_image_set(paths, SIZE, cache)
    assert not hit
    assert not np.array_equal(after.pixels[0], before.pixels[0])
    np.testing.assert_array_equal(after.pixels[0], original_pipeline(paths[0], SIZE))
    np.testing.assert_array_equal(after.pixels[1:], before.pixels[1:])

    set_mtime(paths[1], 1_600_000_200)  # only the mtime changes: the same bytes, still a hit
    assert cached_image_set(paths, SIZE, cache)[1]


def test_cache_misses_when_the_content_changes_but_size_and_mtime_stay(faces, cache):
    """BMPs of one shape have one size: new pixels, same size, mtime set back, and the fingerprint follows."""
    alice = faces / "Alice"
    target = write_image(alice / "same_size.bmp", noise(1, 12, 12))
    set_mtime(target, 1_600_000_000)
    before = load_dataset(config(faces, cache))
    size = target.stat().st_size

    write_image(target, noise(2, 12, 12))
    set_mtime(target, 1_600_000_000)
    assert target.stat().st_size == size and target.stat().st_mtime == 1_600_000_000
    after = load_dataset(config(faces, cache))
    index = after.positives["Alice"].paths.index(target)
    np.testing.assert_array_equal(after.positives["Alice"].pixels[index], original_pipeline(target, SIZE))
    assert not np.array_equal(after.positives["Alice"].pixels[index], before.positives["Alice"].pixels[index])
    assert after.fingerprint != before.fingerprint


def test_cache_misses_when_a_file_is_added_or_removed(faces, cache):
    paths = list_files(faces / "Alice")
    assert not cached_image_set(paths, SIZE, cache)[1]
    added = [*paths, write_image(faces / "Alice" / "zz_new.png", noise(999))]
    image_set, hit = cached_image_set(added, SIZE, cache)
    assert not hit and len(image_set.paths) == len(paths) + 1

    assert not cached_image_set(paths[1:], SIZE, cache)[1]
    # Removing the file from disk (the list still names it) also changes the key: it is now skipped.
    added[-1].unlink()
    image_set, hit = cached_image_set(added, SIZE, cache)
    assert not hit
    assert image_set.paths == paths and [p for p, _ in image_set.skipped] == [added[-1]]


def test_cache_misses_for_another_image_size(faces, cache):
    paths = list_files(faces / "Alice")
    assert not cached_image_set(paths, SIZE, cache)[1]
    image_set, hit = cached_image_set(paths, SIZE * 2, cache)
    assert not hit and image_set.pixels.shape[1:] == (SIZE * 2, SIZE * 2, 1)


def test_second_load_dataset_is_served_from_the_cache(faces, cache):
    first = ProgressCounter()
    dataset = load_dataset(config(faces, cache), progress=first)
    assert first.decoded == len(ACTORS) + 1  # every class decoded once

    second = ProgressCounter()
    again = load_dataset(config(faces, cache), progress=second)
    assert second.decoded == 0
    assert again.fingerprint == dataset.fingerprint
    np.testing.assert_array_equal(again.positives["Alice"].pixels, dataset.positives["Alice"].pixels)

    resized = ProgressCounter()
    load_dataset(config(faces, cache, image_size=SIZE + 4), progress=resized)
    assert resized.decoded == len(ACTORS) + 1


# --- splits ------------------------------------------------------------------------------------


def test_disjoint_split_counts_and_one_shared_negative_split(faces, cache):
    dataset = load_dataset(config(faces, cache))
    split = make_split(dataset, "disjoint", split_sequence(0))
    first = split["Alice"]
    for actor in dataset.actors:
        s = split[actor]
        n_pos = len(dataset.positives[actor].paths)
        assert len(s.test_pos) == int(np.ceil(0.3 * n_pos)) and len(s.train_pos) == n_pos - len(s.test_pos)
        assert sorted([*s.train_pos, *s.test_pos]) == list(range(n_pos))
        assert sorted([*s.train_neg, *s.test_neg]) == list(range(N_NEGATIVES))
        assert len(s.test_neg) == 5 and len(s.train_neg) == 11  # 30 % of 16, rounded up
        np.testing.assert_array_equal(s.train_neg, first.train_neg)  # the same negative split for everyone
        np.testing.assert_array_equal(s.test_neg, first.test_neg)
    assert leaks(dataset, split) == []


def test_disjoint_split_depends_on_the_seed_sequence(faces, cache):
    dataset = load_dataset(config(faces, cache))
    a = make_split(dataset, "disjoint", split_sequence(0))
    b = make_split(dataset, "disjoint", split_sequence(0))
    c = make_split(dataset, "disjoint", split_sequence(1))
    for actor in dataset.actors:
        np.testing.assert_array_equal(a[actor].test_pos, b[actor].test_pos)
        np.testing.assert_array_equal(a[actor].test_neg, b[actor].test_neg)
    assert any(set(a[x].test_pos) != set(c[x].test_pos) for x in dataset.actors) and set(a["Alice"].test_neg) != set(
        c["Alice"].test_neg
    )


def test_original_split_is_the_notebooks_and_leaks_across_actors(faces, cache):
    """Per actor: train_test_split(pos + neg, test_size=0.3, random_state=42), whatever the seed."""
    dataset = load_dataset(config(faces, cache))
    split = make_split(dataset, "original", split_sequence(0))
    other_seed = make_split(dataset, "original", split_sequence(5))
    for actor in dataset.actors:
        s = split[actor]
        n_pos = len(dataset.positives[actor].paths)
        labels = np.r_[np.ones(n_pos), np.zeros(N_NEGATIVES)]
        _, _, y_train, y_test = train_test_split(np.arange(n_pos + N_NEGATIVES), labels, test_size=0.3, random_state=42)
        assert (len(s.train_pos), len(s.train_neg)) == (y_train.sum(), (y_train == 0).sum())
        assert (len(s.test_pos), len(s.test_neg)) == (y_test.sum(), (y_test == 0).sum())
        assert not set(s.train_pos) & set(s.test_pos) and not set(s.train_neg) & set(s.test_neg)
        assert sorted([*s.train_neg, *s.test_neg]) == list(range(N_NEGATIVES))
        np.testing.assert_array_equal(s.test_neg, other_seed[actor].test_neg)
    found = leaks(dataset, split)
    negatives = {str(p) for p in dataset.negatives.paths}
    assert found and all(trained != tested for _, trained, tested in found)
    assert any(file in negatives for file, _, _ in found)


def test_stage_arrays_label_positives_1_and_negatives_0(faces, cache):
    dataset = load_dataset(config(faces, cache))
    split = make_split(dataset, "disjoint", split_sequence(0))
    for part in ("train", "test"):
        s = split["Bob"]
        pos, neg = getattr(s, f"{part}_pos"), getattr(s, f"{part}_neg")
        x, y = stage_arrays(dataset, split, "Bob", part)
        assert x.shape == (len(pos) + len(neg), SIZE, SIZE, 1)
        np.testing.assert_array_equal(y, np.r_[np.ones(len(pos)), np.zeros(len(neg))])
        np.testing.assert_array_equal(x[: len(pos)], dataset.positives["Bob"].pixels[pos])
        np.testing.assert_array_equal(x[len(pos) :], dataset.negatives.pixels[neg])


# --- duplicates and fingerprint ----------------------------------------------------------------


def test_exact_duplicates_across_classes_are_reported(faces, cache):
    """Same decoded pixels count as duplicates even when the file bytes differ (PNG compression)."""
    shared = noise(4242)
    in_alice = write_image(faces / "Alice" / "dup.png", shared, (cv2.IMWRITE_PNG_COMPRESSION, 0))
    in_bob = write_image(faces / "Bob" / "dup_again.png", shared, (cv2.IMWRITE_PNG_COMPRESSION, 9))
    in_carol = shutil.copy(faces / "Carol" / "img_000.png", faces / NEGATIVES_DIR / "copied.png")
    write_image(faces / "Alice" / "dup_within.png", shared)  # same class twice: not reported
    assert in_alice.read_bytes() != in_bob.read_bytes()

    dataset = load_dataset(config(faces, cache))
    pairs = {frozenset([(a, pa), (b, pb)]) for a, pa, b, pb in dataset.duplicates}
    assert frozenset([("Alice", in_alice), ("Bob", in_bob)]) in pairs
    assert frozenset([("Alice", faces / "Alice" / "dup_within.png"), ("Bob", in_bob)]) in pairs
    assert frozenset([("Carol", faces / "Carol" / "img_000.png"), ("negatives", Path(in_carol))]) in pairs
    assert len(dataset.duplicates) == 3
    assert all(a != b for a, _, b, _ in dataset.duplicates)


def test_same_bytes_in_another_shape_is_not_a_duplicate(faces, cache):
    """A black 10x20 and a black 20x10 image decode to the same bytes, but they are not the same pixels."""
    write_image(faces / "Alice" / "black_wide.png", np.zeros((10, 20, 3), np.uint8))
    write_image(faces / NEGATIVES_DIR / "black_tall.png", np.zeros((20, 10, 3), np.uint8))
    assert load_dataset(config(faces, cache)).duplicates == []


def test_fingerprint_is_content_based(faces, cache, tmp_path):
    dataset = load_dataset(config(faces, cache))
    copy = shutil.copytree(faces, tmp_path / "copy")
    assert load_dataset(config(copy, cache)).fingerprint == dataset.fingerprint  # other paths, same bytes

    target = copy / "Bob" / "img_003.png"
    mtime = target.stat().st_mtime
    write_image(target, noise(777))
    set_mtime(target, mtime + 10)
    assert load_dataset(config(copy, cache)).fingerprint != dataset.fingerprint


# --- bad input ---------------------------------------------------------------------------------


def test_bad_files_are_skipped_with_a_reason_each(faces, cache, monkeypatch):
    alice = faces / "Alice"
    good = write_image(alice / "good.jpg", noise(31, 24, 24)).read_bytes()
    (alice / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (alice / "garbage.jpg").write_bytes(b"this is not a JPEG at all" * 8)
    (alice / "empty.png").write_bytes(b"")
    (alice / "notes.txt").write_text("not an image\n")
    locked = write_image(alice / "locked.png", noise(32))
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make np.fromfile fail as it would
        refuse_reading(monkeypatch, locked)
    dangling = alice / "dangling.png"
    dangling.symlink_to(alice / "deleted.png")
    warnings = []
    try:
        dataset = load_dataset(config(faces, cache), warn=warnings.append)
    finally:
        locked.chmod(0o644)

    bad = {"truncated.jpg", "garbage.jpg", "empty.png", "notes.txt", "locked.png", "dangling.png"}
    reasons = {path.name: reason for path, reason in dataset.skipped}
    assert set(reasons) == bad and len(dataset.skipped) == 6
    assert sorted(warnings) == sorted(f"skipped {path}: {reason}" for path, reason in dataset.skipped)
    assert "dangling symbolic link" in reasons["dangling.png"] and "deleted.png" in reasons["dangling.png"]
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert "0 bytes" in reasons["empty.png"] and "cannot be read" in reasons["locked.png"]
    assert len(dataset.positives["Alice"].paths) == 14 + 1  # the originals and good.jpg
    assert not bad & {p.name for p in dataset.positives["Alice"].paths}


def test_unusual_pngs_and_non_ascii_names_load_correctly(tmp_path, cache):
    root = tmp_path / "formats"
    alice = root / "Zoë"  # a non-ASCII actor name as well
    write_class(alice, 10, seed=1)
    write_class(root / NEGATIVES_DIR, 10, seed=2)
    bgra = np.zeros((12, 12, 4), np.uint8)
    bgra[...] = (40, 120, 200, 30)  # mostly transparent; alpha is dropped like cv2.imread does
    write_image(alice / "rgba.png", bgra)
    write_image(alice / "gray.png", np.full((12, 12), 200, np.uint8))
    write_image(alice / "white16.png", np.full((12, 12), 65535, np.uint16))
    write_image(alice / "mid16.png", np.full((12, 12), 32768, np.uint16))
    write_paletted_png(alice / "paletted.png", rgb=(200, 30, 90))
    write_image(alice / "Zoë_Ångström_日本.png", np.full((10, 14, 3), 77, np.uint8))

    dataset = load_dataset(config(root, cache))
    assert dataset.actors == ["Zoë"] and dataset.skipped == []
    loaded = {
        p.name: pixels
        for p, pixels in zip(dataset.positives["Zoë"].paths, dataset.positives["Zoë"].pixels, strict=True)
    }
    assert len(loaded) == 16

    def value(name):
        pixels = loaded[name]
        assert pixels.shape == (SIZE, SIZE, 1) and np.ptp(pixels) == 0  # uniform images stay uniform
        return float(pixels[0, 0, 0])

    gray_of_bgra = round(0.114 * 40 + 0.587 * 120 + 0.299 * 200)
    assert value("rgba.png") == np.float32(gray_of_bgra) / 255
    assert value("gray.png") == np.float32(200) / 255
    assert value("white16.png") == 1.0
    assert value("mid16.png") == np.float32(128) / 255
    assert abs(value("paletted.png") - (0.299 * 200 + 0.587 * 30 + 0.114 * 90) / 255) <= 1 / 255
    assert value("Zoë_Ångström_日本.png") == np.float32(77) / 255


def test_missing_directory_is_a_one_line_error(tmp_path, cache):
    missing = tmp_path / "nowhere"
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(missing, cache))
    message = one_line_error(excinfo)
    assert str(missing) in message and "not a directory" in message


def test_missing_negatives_folder_is_a_one_line_error(tmp_path, cache):
    root = tmp_path / "no_negatives"
    write_class(root / "Alice", 10, seed=1)
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(root, cache))
    message = one_line_error(excinfo)
    assert "otherActors" in message and "--negatives-dir" in message


def test_unknown_actor_lists_the_available_ones(faces, cache):
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(faces, cache, actors=("Alice", "Dave")))
    message = one_line_error(excinfo)
    assert "Dave" in message and "Alice, Bob, Carol" in message


def test_an_actor_named_like_the_negative_pool_is_a_one_line_error(tmp_path, cache):
    """'negatives' labels the negative pool; an actor folder of that name must not silently vanish."""
    root = make_folder_dataset(tmp_path / "clash", {"Alice": 10, "negatives": 10}, negatives=10)
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(root, cache))
    assert "'negatives'" in one_line_error(excinfo) and "--negatives-dir" in str(excinfo.value)


@pytest.mark.parametrize("max_positives", [10, 100])
def test_too_few_usable_images_is_a_one_line_error(faces, cache, max_positives):
    """Bob has 12 files, but 3 are broken: 9 usable < 10, whatever the limit, and the skips come first."""
    bob = sorted((faces / "Bob").iterdir())
    for path in bob[:3]:
        path.write_bytes(b"broken")
    warnings = []
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(faces, cache, max_positives=max_positives), warn=warnings.append)
    message = one_line_error(excinfo)
    assert message.startswith(f"Bob: only 9 usable images in {faces / 'Bob'} (12 files, 3 skipped")
    assert "at least 10" in message
    assert sorted(w for w in warnings if "Bob" in w) == [f"skipped {p}: {BROKEN}" for p in bob[:3]]


def test_broken_files_do_not_use_up_the_limit(faces, cache):
    """Alice: 14 good files and 6 broken ones; a limit of 14 still gets the 14 good ones."""
    broken = [faces / "Alice" / f"broken_{i}.png" for i in range(6)]
    for path in broken:
        path.write_bytes(b"broken")
    dataset = load_dataset(config(faces, cache, max_positives=14), warn=lambda message: None)
    assert len(dataset.positives["Alice"].paths) == 14
    assert {p.name for p in dataset.positives["Alice"].paths} == {f"img_{i:03d}.png" for i in range(14)}
    assert {p for p, _ in dataset.positives["Alice"].skipped} <= set(broken)


def test_limits_below_the_minimum_leave_too_few_images_and_say_so(faces, cache):
    """--max-positives below 10 is refused by its option (tests/test_spec.py); a library caller asking
    for fewer gets the too-few-images line."""
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(faces, cache, max_positives=5))
    assert "only 5 usable images" in one_line_error(excinfo) and "need at least 10" in str(excinfo.value)


@pytest.mark.parametrize("name", ["A>B", "Smith, John"])
def test_actor_names_with_separators_are_refused(faces, cache, name):
    write_class(faces / name, 10, seed=5)
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(faces, cache))
    message = one_line_error(excinfo)
    assert str(faces / name) in message and "rename" in message


def test_data_dir_with_lfw_is_a_one_line_error(faces, cache):
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(DataConfig(dataset="lfw", data_dir=str(faces), cache_dir=str(cache)))
    assert "--data-dir" in one_line_error(excinfo) and "--dataset lfw" in str(excinfo.value)


def test_too_few_negatives_is_a_one_line_error(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "few", {"Alice": 10}, negatives=9)
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(root, cache))
    assert "only 9 usable images in the negative pool" in one_line_error(excinfo)


# --- issue 18: the negatives folder, oversized and many bad images, symlinked folders -------------


@pytest.mark.parametrize("name", ["", ".", "..", "/abs", "Alice/../otherActors", "sub/folder"])
def test_negatives_dir_must_be_a_folder_name(faces, cache, name):
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(faces, cache, negatives_dir=str(faces / NEGATIVES_DIR) if name == "/abs" else name))
    message = one_line_error(excinfo)
    assert message.startswith("--negatives-dir") and "name of a folder in" in message


def test_the_cli_refuses_an_empty_negatives_dir_with_one_line(faces, cache):
    result = harness_cli("data", "--data-dir", str(faces), "--negatives-dir", "", cache_dir=cache)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --negatives-dir")


def test_images_whose_header_claims_too_many_pixels_are_skipped_before_decoding(faces, cache):
    alice = faces / "Alice"
    bomb = write_png(alice / "bomb.png", 100_000, 100_000, rows=1)  # a hundred bytes claiming 10^10 pixels
    big = write_png(alice / "big.png", 12_000, 12_000)  # a real, valid, all-black PNG of 144 megapixels
    assert bomb.stat().st_size < 1000 and 12_000**2 > MAX_IMAGE_PIXELS
    warnings: list[str] = []
    dataset = load_dataset(config(faces, cache), warn=warnings.append)
    reasons = dict(dataset.skipped)
    assert set(reasons) == {bomb, big}
    assert "12000 x 12000 by its header" in reasons[big] and "by its header" in reasons[bomb]
    assert all(f"{MAX_IMAGE_PIXELS:,}" in reason for reason in reasons.values())
    assert len(dataset.positives["Alice"].paths) == 14 and len(warnings) == 2


def test_many_bad_files_are_summarised_and_cached_as_one_entry_per_class(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 20)
    for i in range(400):
        (root / NEGATIVES_DIR / f"notes_{i:04d}.txt").write_text(f"not an image {i}\n")
    warnings: list[str] = []
    dataset = load_dataset(config(root, cache, negatives=10), warn=warnings.append)
    assert len(dataset.negatives.paths) == 10
    skipped = len(dataset.negatives.skipped)
    assert skipped > 100  # most of the pool is text: the draw went through many rounds
    named = [line for line in warnings if line.startswith(f"skipped {root}")]
    assert len(named) == 5 and len(warnings) == 6, warnings
    assert warnings[-1] == f"skipped {skipped - 5} more files of negatives: each is not an image OpenCV can decode"
    assert len(list(cache.iterdir())) == 3  # one entry per class, however many rounds the draw took

    counter = ProgressCounter()
    again = load_dataset(config(root, cache, negatives=10), warn=lambda message: None, progress=counter)
    assert counter.decoded == 0 and again.fingerprint == dataset.fingerprint  # nothing decoded afresh


def test_images_in_a_symlinked_sub_folder_are_used_and_a_link_loop_ends(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "faces", {"Bob": 12}, 12)
    elsewhere = write_class(tmp_path / "elsewhere" / "alice_photos", 12, seed=7)[0].parent
    (root / "Alice").mkdir()
    (root / "Alice" / "photos").symlink_to(elsewhere, target_is_directory=True)
    (root / "Alice" / "photos_again").symlink_to(elsewhere, target_is_directory=True)  # the same folder twice
    (elsewhere / "loop").symlink_to(elsewhere, target_is_directory=True)
    dataset = load_dataset(config(root, cache))
    alice = dataset.positives["Alice"].paths
    assert len(alice) == 12 and dataset.skipped == []
    assert {path.parent for path in alice} == {root / "Alice" / "photos"}


def test_links_to_the_data_root_above_it_or_into_another_class_are_refused_with_a_warning(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 12)
    alice = root / "Alice"
    (alice / "up").symlink_to("..", target_is_directory=True)  # would pull every class into Alice
    (alice / "everything").symlink_to("/", target_is_directory=True)  # would walk the filesystem
    (alice / "bobs").symlink_to(root / "Bob", target_is_directory=True)  # Bob's images as Alice's
    (alice / "bob.png").symlink_to(root / "Bob" / "img_000.png")
    warnings: list[str] = []
    dataset = load_dataset(config(root, cache), warn=warnings.append)
    assert len(dataset.positives["Alice"].paths) == 12
    assert {path.parent for path in dataset.positives["Alice"].paths} == {alice}
    assert sorted(path.name for path, _ in dataset.skipped) == ["bob.png", "bobs", "everything", "up"]
    reasons = dict(dataset.skipped)
    assert "data directory or a folder above it" in reasons[alice / "up"] and str(root) in reasons[alice / "up"]
    assert "data directory or a folder above it (to /)" in reasons[alice / "everything"]
    assert "into another folder" in reasons[alice / "bobs"] and "into another folder" in reasons[alice / "bob.png"]
    assert len(warnings) == 4 and all(line.startswith(f"skipped {alice}") for line in warnings), warnings


def test_a_negatives_folder_linked_to_the_data_root_is_refused(tmp_path, cache):
    root = make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 12)
    (root / "self").symlink_to(".", target_is_directory=True)
    warnings: list[str] = []
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(config(root, cache, negatives_dir="self"), warn=warnings.append)
    assert "only 0 usable images in the negative pool (0 files, 1 skipped" in one_line_error(excinfo)
    assert warnings == [
        f"skipped {root / 'self'}: is a symbolic link to the data directory or a folder above it "
        f"(to {root}); remove the link"
    ]


# --- the CLI -----------------------------------------------------------------------------------


def harness_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("harness")
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache_dir), "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_data_missing_directory_exits_2_with_one_error_line(tmp_path, cache):
    result = harness_cli("data", "--dataset", "folder", "--data-dir", str(tmp_path / "MISSING"), cache_dir=cache)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "MISSING" in lines[0] and "Traceback" not in result.stderr


def test_cli_data_prints_the_table_and_fingerprint(faces, cache):
    """--data-dir alone means --dataset folder (it used to be ignored for LFW)."""
    result = harness_cli("data", "--data-dir", str(faces), "--image-size", "32", cache_dir=cache)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        words = re.findall(r"\w+", line)
        if words and words[0] in ACTORS:
            rows[words[0]] = [int(word) for word in words[1:]]
    # images, train +, train -, test +, test - (disjoint split: the 16 negatives go 11/5 for everyone)
    assert rows == {"Alice": [14, 9, 11, 5, 5], "Bob": [12, 8, 11, 4, 5], "Carol": [12, 8, 11, 4, 5]}
    expected = load_dataset(config(faces, cache, max_positives=150, negatives=150, image_size=32)).fingerprint
    assert f"dataset fingerprint: {expected}" in result.stdout


# --- LFW ---------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Retry downloading")
def test_lfw_missing_and_not_downloadable_names_the_way_out(tmp_path, cache, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", offline)  # never download 200 MB, even with a network
    empty = tmp_path / "empty_home"
    empty.mkdir()
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(DataConfig(dataset="lfw", data_home=str(empty), cache_dir=str(cache)))
    message = one_line_error(excinfo)
    assert str(empty / "lfw_home") in message
    assert "--data-home" in message and "SCIKIT_LEARN_DATA" in message and "--dataset folder" in message


def test_lfw_missing_warns_nothing_and_leaves_no_empty_lfw_home(tmp_path, cache, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", offline)
    home = tmp_path / "empty_home"
    home.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(HarnessError) as excinfo:
            load_dataset(DataConfig(dataset="lfw", data_home=str(home), cache_dir=str(cache)))
    assert str(home / "lfw_home") in one_line_error(excinfo)
    assert [str(w.message) for w in caught] == [] and list(home.iterdir()) == []


def test_lfw_missing_removes_only_the_folders_the_fetch_created_and_hides_only_its_retries(
    tmp_path, cache, monkeypatch
):
    def offline(*args, **kwargs):
        warnings.warn("a library's own warning while connecting", stacklevel=1)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "getaddrinfo", offline)  # the first call of a download, where there is no DNS
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "x" / "new"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(HarnessError) as excinfo:
            load_dataset(DataConfig(dataset="lfw", cache_dir=str(cache)))
    assert str(tmp_path / "x" / "new" / "lfw_home") in one_line_error(excinfo)
    assert not (tmp_path / "x").exists()  # neither folder existed before: both go
    messages = {str(w.message) for w in caught}
    assert "a library's own warning while connecting" in messages
    assert not any(message.startswith("Retry downloading") for message in messages)


def test_lfw_default_actors_are_the_three_largest_and_not_negatives(lfw_home, cache):
    dataset = load_dataset(
        DataConfig(
            dataset="lfw", data_home=str(lfw_home), image_size=16, max_positives=20, negatives=20, cache_dir=str(cache)
        )
    )
    assert dataset.actors == LFW_TOP3
    assert all(len(dataset.positives[a].paths) == 20 for a in LFW_TOP3)
    assert all(p.parent.name == a for a in LFW_TOP3 for p in dataset.positives[a].paths)
    assert len(dataset.negatives.paths) == 20
    assert not {p.parent.name for p in dataset.negatives.paths} & set(LFW_TOP3)
    positives = {p for a in LFW_TOP3 for p in dataset.positives[a].paths}
    assert not positives & set(dataset.negatives.paths)


def test_lfw_fingerprint_is_the_one_earlier_versions_recorded(lfw_home, cache):
    """Run directories record the fingerprint; with no broken file the draw is unchanged, so they still resume."""
    options = {"dataset": "lfw", "data_home": str(lfw_home), "image_size": 32, "cache_dir": str(cache)}
    small = load_dataset(DataConfig(max_positives=60, negatives=60, **options))
    assert small.fingerprint == "2a9fdf71afb11ed9"  # as computed before broken files were redrawn
    assert load_dataset(DataConfig(**options)).fingerprint == "c2d0aeea61eb36f0"
