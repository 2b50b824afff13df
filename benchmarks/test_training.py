"""Training throughput: the original pipeline, reproduced faithfully, against the harness's path,
in alternating rounds in one process (see conftest.py)."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.conftest import EPOCHS, IMAGE_SIZE, MODEL, ROUNDS, record_rounds
from benchmarks.efficiency import matmul_gflops, training_flops
from harness.config import TrainConfig
from harness.train import Learner, configure_tensorflow, initial_weights

PRECISIONS = os.environ.get("HARNESS_BENCH_PRECISIONS", "float32").split(",")


def original_fit(x, y, x_test, y_test) -> None:
    """The notebook: ImageDataGenerator.flow + fit with per-epoch validation, on a new model."""
    import keras
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from harness.factory import build
    from harness.model import ORIGINAL_AUGMENTATION

    model = build(MODEL, IMAGE_SIZE, "float32")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    datagen = ImageDataGenerator(**ORIGINAL_AUGMENTATION)
    model.fit(datagen.flow(x, y, batch_size=32), epochs=EPOCHS, validation_data=(x_test, y_test), verbose=0)
    keras.backend.clear_session()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_training_harness(benchmark, training_data, precision):
    """pytest-benchmark times the harness's rounds; before each, untimed by it, the original
    pipeline trains on the same data for the same epochs and numpy measures the matmul speed."""
    configure_tensorflow()
    x, y, x_test, y_test = training_data
    learner = Learner(IMAGE_SIZE, precision, MODEL)
    weights = initial_weights(IMAGE_SIZE, precision, np.random.SeedSequence(0), MODEL)
    config = TrainConfig(epochs=EPOCHS, precision=precision, model=MODEL)
    learner.load(weights)
    learner.train(x, y, replace(config, epochs=1), np.random.SeedSequence(1))  # trace once
    original, matmul = [], []

    def original_round() -> None:
        matmul.append(matmul_gflops())
        start = time.perf_counter()
        original_fit(x, y, x_test, y_test)
        original.append(time.perf_counter() - start)

    def train() -> None:
        learner.load(weights)
        learner.train(x, y, config, np.random.SeedSequence(1))

    benchmark.pedantic(train, setup=original_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    if benchmark.disabled:  # --benchmark-disable: one untimed run of each, nothing to record
        return
    harness = list(benchmark.stats.stats.data)
    record_rounds(benchmark, original, harness, matmul, len(x) * EPOCHS, training_flops(learner.model))
    assert len(original) == len(harness) == ROUNDS
