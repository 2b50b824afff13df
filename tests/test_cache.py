"""The decode cache never stops a run, never serves stale pixels, stays within its limit, and
`harness cache info|clear` show and empty it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from images import make_folder_dataset, original_pipeline, refuse_reading, write_image
from typer.testing import CliRunner

from harness.cli import app
from harness.config import DataConfig
from harness.data import load_dataset
from harness.data.cache import cached_image_set, default_cache_dir, entries
from harness.data.sources import list_files
from harness.errors import HarnessError
from harness.files import replacing

SIZE = 16


@pytest.fixture
def faces(tmp_path) -> Path:
    return make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 12)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def config(data_dir: Path, cache_dir: Path, **options) -> DataConfig:
    return DataConfig(dataset="folder", data_dir=str(data_dir), cache_dir=str(cache_dir), image_size=SIZE, **options)


def load(data_dir: Path, cache_dir: Path) -> tuple[object, list[str]]:
    warnings: list[str] = []
    return load_dataset(config(data_dir, cache_dir), warn=warnings.append), warnings


def test_fingerprint_is_a_hash_of_the_selected_files_bytes(faces, cache):
    """Recomputed here from the files on disk, independently of the cache."""
    dataset, _ = load(faces, cache)
    digest = hashlib.sha256(f"size={SIZE}".encode())
    for label, image_set in sorted({**dataset.positives, "negatives": dataset.negatives}.items()):
        digest.update(label.encode())
        for path in image_set.paths:
            digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    assert dataset.fingerprint == digest.hexdigest()[:16]


def test_a_file_unreadable_once_is_used_once_it_is_fixed(faces, cache, monkeypatch):
    """Root reads any file, so 'unreadable' is np.fromfile refusing it, as it does without permission."""
    locked = faces / "Alice" / "img_003.png"
    fromfile = np.fromfile
    refuse_reading(monkeypatch, locked)
    dataset, warnings = load(faces, cache)
    assert [p for p, _ in dataset.positives["Alice"].skipped] == [locked]
    assert warnings == [f"skipped {locked}: cannot be read (Permission denied)"]

    monkeypatch.setattr(np, "fromfile", fromfile)  # fixed
    dataset, warnings = load(faces, cache)
    assert dataset.skipped == [] and warnings == []
    index = dataset.positives["Alice"].paths.index(locked)
    np.testing.assert_array_equal(dataset.positives["Alice"].pixels[index], original_pipeline(locked, SIZE))


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_entry_is_a_miss_with_a_warning_naming_it(faces, cache, damage):
    paths = list_files(faces / "Alice")
    fresh, _ = cached_image_set(paths, SIZE, cache)
    [(entry, _)] = entries(cache)
    content = entry.read_bytes()
    entry.write_bytes({"truncated": content[: len(content) // 2], "empty": b"", "garbage": b"x" * 100}[damage])

    warnings: list[str] = []
    again, hit = cached_image_set(paths, SIZE, cache, warn=warnings.append)
    assert not hit
    np.testing.assert_array_equal(again.pixels, fresh.pixels)
    assert len(warnings) == 1 and str(entry) in warnings[0] and "decoding afresh" in warnings[0]
    assert cached_image_set(paths, SIZE, cache, warn=warnings.append)[1]  # rewritten whole
    assert len(warnings) == 1


def test_a_cache_dir_that_is_a_file_leaves_the_run_uncached_with_one_warning(faces, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file")
    dataset, warnings = load(faces, blocker)
    assert dataset.actors == ["Alice", "Bob"]
    assert len(warnings) == 1 and str(blocker) in warnings[0] and "without it" in warnings[0]
    assert blocker.read_text() == "a file"


def test_a_cache_write_that_fails_leaves_no_entry_and_no_temporary_file(faces, cache, monkeypatch):
    """The disk fills up halfway through an entry: the run goes on, and nothing torn stays behind."""
    savez = np.savez

    def disk_full(file, **arrays):
        savez(file, **arrays)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    warnings: list[str] = []
    image_set, hit = cached_image_set(list_files(faces / "Alice"), SIZE, cache, warn=warnings.append)
    assert not hit and len(image_set.paths) == 12
    assert len(warnings) == 1 and "the disk is full" in warnings[0] and "continuing without it" in warnings[0]
    assert list(cache.iterdir()) == []


def test_the_cache_keeps_to_its_limit_removing_the_least_recently_used(faces, cache, monkeypatch):
    alice, bob = list_files(faces / "Alice"), list_files(faces / "Bob")
    cached_image_set(alice, SIZE, cache)
    [(first, status)] = entries(cache)
    cached_image_set(bob[:11], SIZE, cache)
    for path, _ in entries(cache):
        os.utime(path, (1_600_000_000, 1_600_000_000))  # both used long ago
    assert cached_image_set(alice, SIZE, cache)[1]  # a hit: Alice becomes the most recently used
    monkeypatch.setenv("HARNESS_CACHE_LIMIT_MB", str(2.5 * status.st_size / 2**20))
    cached_image_set(bob, SIZE, cache)  # a third entry: one must go, and it is Bob's first
    kept = {path for path, _ in entries(cache)}
    assert len(kept) == 2 and first in kept
    assert cached_image_set(bob, SIZE, cache)[1] and cached_image_set(alice, SIZE, cache)[1]


def test_harness_cache_info_and_clear(faces, cache, monkeypatch):
    load(faces, cache)
    finished = subprocess.Popen(["true"])
    finished.wait()  # a writer that was killed: its process is gone
    monkeypatch.setattr(os, "getpid", lambda: finished.pid)
    with pytest.raises(KeyboardInterrupt), replacing(entries(cache)[0][0]) as leftover:
        leftover.write_bytes(b"from a killed run")
        monkeypatch.setattr(Path, "unlink", lambda path, missing_ok=False: None)  # killed: nothing cleans up
        raise KeyboardInterrupt
    monkeypatch.undo()
    assert leftover.exists()
    size = sum(status.st_size for _, status in entries(cache))
    runner = CliRunner()
    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
    assert info.exit_code == 0, info.output
    assert f"{cache}: 3 entries, {size / 2**20:.1f} MB; limit 2048 MB" in info.output

    cleared = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
    assert cleared.exit_code == 0, cleared.output
    assert "removed 3 entries" in cleared.output and list(cache.iterdir()) == []
    again = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
    assert f"{cache}: 0 entries, 0.0 MB" in again.output

    _, warnings = load(faces, cache)  # decoded afresh into the emptied cache
    assert warnings == [] and len(entries(cache)) == 3


def test_a_changed_file_gives_new_pixels_even_when_listed_with_the_same_path(faces, cache):
    path = faces / "Bob" / "img_000.png"
    before, _ = load(faces, cache)
    write_image(path, np.zeros((12, 12, 3), np.uint8))
    after, _ = load(faces, cache)
    index = after.positives["Bob"].paths.index(path)
    assert float(after.positives["Bob"].pixels[index].max()) == 0.0
    assert after.fingerprint != before.fingerprint


def test_a_bad_cache_limit_is_a_one_line_error(faces, cache, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_LIMIT_MB", "lots")
    with pytest.raises(HarnessError) as excinfo:
        cached_image_set(list_files(faces / "Alice"), SIZE, cache)
    assert str(excinfo.value) == "HARNESS_CACHE_LIMIT_MB must be a number of megabytes, not 'lots'"
    assert not cache.exists()  # refused before any decoding or writing


# --- the cache owns only what it wrote, and verifies it --------------------------------------------


def test_cache_clear_and_eviction_leave_other_npz_files_alone(faces, cache, monkeypatch):
    cache.mkdir()
    weights = cache / "weights.npz"
    np.savez(weights, w=np.arange(1000))
    hexlike = cache / f"{'a' * 32}.npz"  # named like an entry of an earlier version, but the user's
    hexlike.write_bytes(weights.read_bytes())
    load(faces, cache)
    assert {path.name for path, _ in entries(cache)}.isdisjoint({"weights.npz", hexlike.name})

    monkeypatch.setenv("HARNESS_CACHE_LIMIT_MB", "0")  # eviction removes every entry it may
    cached_image_set(list_files(faces / "Bob"), SIZE + 2, cache)
    assert weights.exists() and hexlike.exists()

    cleared = CliRunner().invoke(app, ["cache", "clear", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
    assert cleared.exit_code == 0, cleared.output
    assert sorted(p.name for p in cache.iterdir()) == sorted(["weights.npz", hexlike.name])
    assert np.load(weights)["w"].sum() == 499500


def test_an_empty_harness_cache_dir_means_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", "")
    assert default_cache_dir() == tmp_path / "xdg" / "harness"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.npz").write_bytes(b"user data")
    cleared = CliRunner().invoke(app, ["cache", "clear"], env={"COLUMNS": "200"})
    assert cleared.exit_code == 0 and str(tmp_path / "xdg" / "harness") in cleared.output, cleared.output
    assert (tmp_path / "mine.npz").read_bytes() == b"user data"


def test_a_running_writer_s_temporary_file_is_neither_evicted_nor_counted_nor_cleared(faces, cache, monkeypatch):
    """Another process writing an entry (here: this one, inside ``replacing``) owns its temporary file."""
    cached_image_set(list_files(faces / "Alice"), SIZE, cache)
    [(entry, _)] = entries(cache)
    monkeypatch.setenv("HARNESS_CACHE_LIMIT_MB", "0")
    with replacing(cache / f"harness-decoded-{'f' * 32}.npz") as writing:  # another entry in the making
        writing.write_bytes(b"half an entry" * 1000)
        info = CliRunner().invoke(app, ["cache", "info", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
        assert f"{cache}: 1 entries" in info.output, info.output
        cached_image_set(list_files(faces / "Bob"), SIZE, cache)  # evicts every other entry
        assert writing.exists()
        CliRunner().invoke(app, ["cache", "clear", "--cache-dir", str(cache)])
        assert writing.exists() and entries(cache) == []


def test_an_entry_rewritten_whole_is_a_miss_and_the_fingerprint_comes_from_the_files(faces, cache):
    """Every entry rewritten as a valid zip (CRCs right) with other pixels and other content hashes."""
    before, _ = load(faces, cache)
    for entry, _ in entries(cache):
        with np.load(entry) as stored:
            arrays = dict(stored)
        arrays["pixels"] = np.zeros_like(arrays["pixels"])
        arrays["content_sha256"] = np.array(["0" * 64] * len(arrays["content_sha256"]))
        np.savez(entry, **arrays)
    after, warnings = load(faces, cache)
    alice = after.positives["Alice"]
    np.testing.assert_array_equal(alice.pixels[0], original_pipeline(alice.paths[0], SIZE))
    assert after.fingerprint == before.fingerprint
    assert len(warnings) == 3 and all("checksum" in line and "decoding afresh" in line for line in warnings)


# --- issue 18c: a cache inside the data, entries that are folders, a blank HARNESS_CACHE_DIR ----------


@pytest.mark.parametrize("where", ["--cache-dir", "HARNESS_CACHE_DIR"])
def test_a_cache_inside_the_data_directory_is_refused_before_any_work(faces, monkeypatch, where):
    inside = faces / "otherActors" / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(inside if where == "HARNESS_CACHE_DIR" else faces / "unused"))
    cache_dir = str(inside) if where == "--cache-dir" else None
    with pytest.raises(HarnessError) as excinfo:
        load_dataset(DataConfig(dataset="folder", data_dir=str(faces), cache_dir=cache_dir, image_size=SIZE))
    message = str(excinfo.value)
    assert "\n" not in message and f"{inside} ({where}) is inside the data directory {faces}" in message
    assert not inside.exists() and not (faces / "unused").exists()


def test_folders_and_links_named_like_entries_are_not_entries(faces, cache, monkeypatch, tmp_path):
    cache.mkdir()
    folder = cache / f"harness-decoded-{'b' * 32}.npz"
    (folder / "inside").mkdir(parents=True)
    (tmp_path / "target.npz").write_bytes(b"the user's")
    (cache / f"harness-decoded-{'c' * 32}.npz").symlink_to(tmp_path / "target.npz")
    (cache / f".harness-decoded-{'d' * 32}.2147483646.tmp.npz").mkdir()  # named like a dead writer's temporary file
    monkeypatch.setenv("HARNESS_CACHE_LIMIT_MB", "0")  # eviction removes every entry it may
    load(faces, cache)
    assert len(entries(cache)) == 1  # the last one written
    cleared = CliRunner().invoke(app, ["cache", "clear", "--cache-dir", str(cache)], env={"COLUMNS": "200"})
    assert cleared.exit_code == 0 and "removed 1 entries" in cleared.output, cleared.output
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [folder.name, f"harness-decoded-{'c' * 32}.npz", f".harness-decoded-{'d' * 32}.2147483646.tmp.npz"]
    )
    assert (folder / "inside").is_dir() and (tmp_path / "target.npz").read_bytes() == b"the user's"


def test_a_blank_harness_cache_dir_means_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", " \t")
    assert default_cache_dir() == tmp_path / "xdg" / "harness"


def test_a_hit_returns_the_entry_s_arrays_without_restacking_them(faces, cache, monkeypatch):
    """A hit costs hashing the files and loading the entry, not a per-file round trip (np.stack copies)."""
    paths = list_files(faces / "Alice")
    fresh, _ = cached_image_set(paths, SIZE, cache)

    def no_stacking(*args, **kwargs):
        raise AssertionError("a cache hit stacked the images one by one")

    monkeypatch.setattr(np, "stack", no_stacking)
    again, hit = cached_image_set(paths, SIZE, cache)
    assert hit and again.paths == fresh.paths and again.pixels.flags.c_contiguous
    np.testing.assert_array_equal(again.pixels, fresh.pixels)
