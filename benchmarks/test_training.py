"""Training throughput: the original pipeline, reproduced faithfully, beside the harness's path."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import EPOCHS, IMAGE_SIZE, record_throughput
from harness.train import Learner, TrainConfig, configure_tensorflow, initial_weights


def original_fit(x, y, x_test, y_test) -> None:
    """The notebook: ImageDataGenerator.flow + fit with per-epoch validation, on a new model."""
    import keras
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from harness.model import ORIGINAL_AUGMENTATION, build_model

    model = build_model(IMAGE_SIZE)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    datagen = ImageDataGenerator(**ORIGINAL_AUGMENTATION)
    model.fit(datagen.flow(x, y, batch_size=32), epochs=EPOCHS, validation_data=(x_test, y_test), verbose=0)
    keras.backend.clear_session()


def test_training_original_pipeline(benchmark, training_data):
    configure_tensorflow()
    x, y, x_test, y_test = training_data
    benchmark.pedantic(original_fit, args=(x, y, x_test, y_test), rounds=1, iterations=1)
    record_throughput(benchmark, len(x) * EPOCHS, training="original")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_training_harness(benchmark, training_data, precision):
    x, y, _, _ = training_data
    learner = Learner(IMAGE_SIZE, precision)
    weights = initial_weights(IMAGE_SIZE, precision, np.random.SeedSequence(0))
    config = TrainConfig(epochs=EPOCHS, precision=precision)
    learner.load(weights)
    learner.train(x, y, TrainConfig(epochs=1, precision=precision), np.random.SeedSequence(1))  # trace once

    def train() -> None:
        learner.load(weights)
        learner.train(x, y, config, np.random.SeedSequence(1))

    benchmark.pedantic(train, rounds=1, iterations=1, warmup_rounds=0)
    record_throughput(benchmark, len(x) * EPOCHS, training=f"harness {precision}")
