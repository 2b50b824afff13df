"""Decoding (cold and cached), evaluation, and a small whole study with and without prefix sharing."""

from __future__ import annotations

import numpy as np

from benchmarks.conftest import IMAGE_SIZE, MODEL, record_throughput
from harness.data.cache import cached_image_set
from harness.data.sources import lfw_catalog
from harness.train import Learner, initial_weights

DECODED = 300


def lfw_files(lfw_home) -> list:
    catalog = lfw_catalog(lfw_home, None)
    return [path for files in catalog.actors.values() for path in files][:DECODED]


def test_decoding_cold(benchmark, lfw_home):
    files = lfw_files(lfw_home)
    benchmark.pedantic(cached_image_set, args=(files, IMAGE_SIZE, None), rounds=3, iterations=1)  # no cache
    record_throughput(benchmark, len(files))


def test_decoding_cached(benchmark, lfw_home, tmp_path):
    files = lfw_files(lfw_home)
    cached_image_set(files, IMAGE_SIZE, tmp_path)
    result = benchmark(cached_image_set, files, IMAGE_SIZE, tmp_path)
    assert result[1], "the second load must come from the cache"
    record_throughput(benchmark, len(files))


def test_evaluation(benchmark, training_data):
    _, _, x_test, _ = training_data
    learner = Learner(IMAGE_SIZE, "float32", MODEL)
    learner.load(initial_weights(IMAGE_SIZE, "float32", np.random.SeedSequence(0), MODEL))
    learner.predict(x_test)
    benchmark(learner.predict, x_test)
    record_throughput(benchmark, len(x_test))
