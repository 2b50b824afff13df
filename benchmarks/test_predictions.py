"""The per-image store: a 20-seed study's predictions committed node by node, exported to
predictions.parquet and read back; sizes on disk and the cost of a node's commit with and without them.

Each node of the study commits its evaluations (3 actors) and, with predictions, one row per test
image per actor (90 each, as LFW's defaults give): 20 seeds x 16 nodes x 3 x 90 = 86,400 rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from harness.execute import PREDICTION_COLUMNS
from harness.schema import METRICS
from harness.store import Store
from harness.study import plan

SEEDS, ACTORS, N_TEST = 20, ["Colin_Powell", "George_W_Bush", "Tony_Blair"], 90
NODES = plan(ACTORS, list(range(SEEDS)))


def image_ids(actor: str) -> list[str]:
    """Ids shaped like the harness's: the LFW path relative to the data root and a content hash."""
    names = [f"{actor}/{actor}_{i:04d}.jpg" for i in range(N_TEST // 2)]
    names += [f"Other_Person_{i}/Other_Person_{i}_0001.jpg" for i in range(N_TEST - N_TEST // 2)]
    return [f"{name}#{hashlib.sha256(name.encode()).hexdigest()[:12]}" for name in names]


@pytest.fixture(scope="module")
def node_outputs():
    """Per node: its evaluations and its per-image predictions (random probabilities)."""
    rng = np.random.default_rng(0)
    ids = {actor: image_ids(actor) for actor in ACTORS}
    labels = np.r_[np.ones(N_TEST // 2, int), np.zeros(N_TEST - N_TEST // 2, int)]
    outputs = []
    for node in NODES:
        evaluations = [{"eval_actor": a, **{m: float(rng.random()) for m in METRICS}} for a in ACTORS]
        predictions = pd.concat(
            [
                pd.DataFrame(dict(zip(PREDICTION_COLUMNS, (a, ids[a], labels, rng.random(N_TEST)), strict=True)))
                for a in ACTORS
            ],
            ignore_index=True,
        )
        outputs.append((node, evaluations, predictions))
    return outputs


def commit_all(store: Store, outputs, with_predictions: bool) -> None:
    for node, evaluations, predictions in outputs:
        store.commit(node, 1000, 1.0, evaluations, predictions if with_predictions else None)


@pytest.mark.parametrize("with_predictions", [False, True], ids=["metrics-only", "with-predictions"])
def test_node_commits(benchmark, node_outputs, tmp_path_factory, with_predictions):
    """Every node's commit of a 20-seed study (320 transactions)."""

    def setup():
        return (Store(tmp_path_factory.mktemp("commit")), node_outputs, with_predictions), {}

    stores = []

    def run(store, outputs, flag):
        stores.append(store)
        commit_all(store, outputs, flag)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    store = stores[-1]
    rows = store.db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert rows == (len(NODES) * len(ACTORS) * N_TEST if with_predictions else 0)
    benchmark.extra_info["nodes"] = len(NODES)
    benchmark.extra_info["prediction_rows"] = rows
    benchmark.extra_info["ms_per_node_commit"] = benchmark.stats.stats.mean / len(NODES) * 1000
    benchmark.extra_info["sqlite_bytes"] = (store.run_dir / "results.sqlite").stat().st_size
    for s in stores:
        s.close()


def test_predictions_parquet_written_and_read_back(benchmark, node_outputs, tmp_path):
    store = Store(tmp_path)
    commit_all(store, node_outputs, True)

    def run() -> pd.DataFrame:
        return pd.read_parquet(store.export_predictions())

    back = benchmark.pedantic(run, rounds=3, iterations=1)
    assert len(back) == len(NODES) * len(ACTORS) * N_TEST
    assert list(back.columns) == ["seed", "path", "eval_actor", *PREDICTION_COLUMNS[1:]]
    expected = pd.concat(
        [p.assign(seed=n.seed, path=n.name) for n, _, p in node_outputs], ignore_index=True
    ).sort_values(["seed", "path", "eval_actor", "image"], ignore_index=True)
    pd.testing.assert_frame_equal(back[expected.columns.tolist()].astype(expected.dtypes), expected)
    benchmark.extra_info["rows"] = len(back)
    benchmark.extra_info["parquet_bytes"] = (tmp_path / "predictions.parquet").stat().st_size
    benchmark.extra_info["sqlite_bytes"] = (tmp_path / "results.sqlite").stat().st_size
    store.close()
