"""Real Keras training at tiny sizes: determinism, exact snapshot/restore, metrics."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from harness.config import TrainConfig
from harness.metrics import score
from harness.train import Learner, initial_weights

SIZE = 24
CONFIG = TrainConfig(epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def task():
    """A task the flips and rotations keep learnable: a bright central square (1) or not (0)."""
    rng = np.random.default_rng(0)
    x = rng.random((80, SIZE, SIZE, 1)).astype(np.float32) * 0.3
    y = (np.arange(80) % 2).astype(np.float32)
    centre = slice(SIZE // 4, 3 * SIZE // 4)
    x[y == 1, centre, centre] += 0.7
    return x, y


def seeds(*values):
    return [np.random.SeedSequence(v) for v in values]


def test_same_seed_gives_identical_weights_and_predictions(task):
    x, y = task
    init, stage = seeds(1, 2)
    runs = []
    for _ in range(2):
        learner = Learner(SIZE, "float32")
        learner.load(initial_weights(SIZE, "float32", init))
        learner.train(x, y, CONFIG, stage)
        runs.append((learner.snapshot(), learner.predict(x)))
    (first, p1), (second, p2) = runs
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, second.weights, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(first.optimizer, second.optimizer, strict=True))
    assert np.array_equal(p1, p2)


def test_another_seed_gives_other_weights(task):
    x, y = task
    learner = Learner(SIZE, "float32")
    results = []
    for stage in seeds(2, 3):
        learner.load(initial_weights(SIZE, "float32", np.random.SeedSequence(1)))
        learner.train(x, y, CONFIG, stage)
        results.append(learner.predict(x))
    assert not np.array_equal(*results)


def test_branching_from_a_snapshot_equals_carrying_on(task):
    """Stage 2 from a restored snapshot (another learner) equals stage 2 on the live model."""
    x, y = task
    init, first, second = seeds(1, 2, 3)
    live = Learner(SIZE, "float32")
    live.load(initial_weights(SIZE, "float32", init))
    live.train(x, y, CONFIG, first)
    saved = live.snapshot()
    assert int(saved.optimizer[0]) == 2 * math.ceil(len(x) / 32)  # Adam's iteration count carried
    live.train(x[::-1].copy(), 1 - y[::-1], CONFIG, second)

    branch = Learner(SIZE, "float32")
    branch.load(initial_weights(SIZE, "float32", seeds(9)[0]))  # some other state first
    branch.train(x, y, CONFIG, seeds(8)[0])
    branch.load(saved.weights, saved.optimizer)
    branch.train(x[::-1].copy(), 1 - y[::-1], CONFIG, second)
    assert np.array_equal(live.predict(x), branch.predict(x))


def test_training_learns_the_toy_task(task):
    x, y = task
    learner = Learner(SIZE, "float32")
    learner.load(initial_weights(SIZE, "float32", np.random.SeedSequence(4)))
    learner.train(x, y, TrainConfig(epochs=15), np.random.SeedSequence(5))
    assert score(y, learner.predict(x))["accuracy"] > 0.8


def test_bfloat16_trains_and_predicts_probabilities(task):
    x, y = task
    learner = Learner(SIZE, "bfloat16")
    learner.load(initial_weights(SIZE, "bfloat16", np.random.SeedSequence(1)))
    learner.train(x, y, CONFIG, np.random.SeedSequence(2))
    p = learner.predict(x)
    assert p.dtype == np.float64 and ((p >= 0) & (p <= 1)).all()


def test_score_matches_scikit_learn_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.2, 0.1, 0.7, 0.3, 0.4, 0.5])
    s = score(y, p)
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (3, 1, 1, 3)
    assert s["accuracy"] == 6 / 8 and s["precision"] == 3 / 4 and s["recall"] == 3 / 4
    assert s["f1"] == pytest.approx(0.75)
    assert s["balanced_accuracy"] == pytest.approx(0.75)
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert s["n_test"] == 8


def test_score_defines_zero_division_cases():
    nothing_predicted = score(np.array([1, 0, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert nothing_predicted["precision"] == 0 and nothing_predicted["f1"] == 0
    assert nothing_predicted["accuracy"] == 0.5
    one_class = score(np.array([0, 0, 0]), np.array([0.1, 0.9, 0.2]))
    assert one_class["recall"] == 0 and math.isnan(one_class["roc_auc"])
