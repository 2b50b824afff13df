"""The run directory's files on their own: snapshots, atomic writes, damaged config and store."""

from __future__ import annotations

import numpy as np
import pytest

from harness.files import atomic_write, replacing
from harness.store import Store
from harness.study import Node


def test_a_truncated_snapshot_reads_as_missing(tmp_path):
    store = Store(tmp_path)
    node = Node(0, ("A", "B"))
    store.save_snapshot(node, [np.arange(1000.0)], [np.ones(3)])
    weights, optimizer = store.load_snapshot(node)
    assert np.array_equal(weights[0], np.arange(1000.0)) and np.array_equal(optimizer[0], np.ones(3))
    file = store.snapshot_file(node)
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    assert store.load_snapshot(node) is None
    file.write_bytes(b"")
    assert store.load_snapshot(node) is None
    store.close()


def test_a_failed_write_keeps_the_old_file(tmp_path):
    file = tmp_path / "results.csv"
    atomic_write(file, "old\n")
    with pytest.raises(RuntimeError), replacing(file) as partial:
        partial.write_text("half of the new")
        raise RuntimeError("killed")
    assert file.read_text() == "old\n" and list(tmp_path.iterdir()) == [file]
    atomic_write(file, b"new\n")
    assert file.read_text() == "new\n" and list(tmp_path.iterdir()) == [file]
