"""A small whole study (2 seeds, 2 epochs, 32 px) run as a prefix tree and naively, order by order."""

from __future__ import annotations

import pytest

from benchmarks.conftest import MODEL
from harness.config import DataConfig, StudyConfig, TrainConfig
from harness.data import load_dataset, make_split, stage_arrays
from harness.execute import InProcess, run_study
from harness.store import Store
from harness.study import Node, init_sequence, node_sequence, orders, split_sequence
from harness.train import initial_weights, learner

SEEDS, EPOCHS, SIZE = (0, 1), 2, 32


@pytest.fixture(scope="module")
def small_study(lfw_home):
    data = DataConfig(data_home=str(lfw_home), image_size=SIZE)
    return StudyConfig(data, TrainConfig(epochs=EPOCHS, model=MODEL), SEEDS), load_dataset(data)


def test_study_prefix_tree(benchmark, small_study, tmp_path_factory):
    config, dataset = small_study

    def run() -> int:
        store = Store(tmp_path_factory.mktemp("tree"))
        return run_study(config, dataset.actors, store, InProcess(dataset, None), on_node=lambda result: None)

    ran = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["trainings"] = ran - len(SEEDS)  # the roots only evaluate
    assert benchmark.extra_info["trainings"] == len(SEEDS) * 15


def test_study_naive(benchmark, small_study):
    """Every order from scratch (k! x k stages) plus k fresh models, per seed."""
    config, dataset = small_study
    lrn = learner(SIZE, "float32", MODEL)

    def run() -> int:
        trainings = 0
        for seed in SEEDS:
            split = make_split(dataset, "disjoint", split_sequence(seed))
            paths = [order[:stage] for order in orders(dataset.actors) for stage in (1, 2, 3)]
            paths = [*paths, *((actor,) for actor in dataset.actors)]
            for path in paths:
                if len(path) == 1:
                    lrn.load(initial_weights(SIZE, "float32", init_sequence(seed), MODEL))
                x, y = stage_arrays(dataset, split, path[-1], "train")
                lrn.train(x, y, config.train, node_sequence(Node(seed, path)))
                for actor in dataset.actors:
                    lrn.predict(stage_arrays(dataset, split, actor, "test")[0])
                trainings += 1
        return trainings

    benchmark.extra_info["trainings"] = benchmark.pedantic(run, rounds=1, iterations=1)
    assert benchmark.extra_info["trainings"] == len(SEEDS) * (18 + 3)
