"""The benchmark's FLOP count from layer shapes agrees with TensorFlow's own profiler."""

from __future__ import annotations

import pytest
import tensorflow as tf

from benchmarks.efficiency import forward_flops, training_flops, vector_extensions
from harness.choices import DEFAULT_MODEL
from harness.factory import build


@pytest.mark.parametrize("size", [32, 100])
def test_forward_flops_match_tensorflow_profiler(size):
    model = build(DEFAULT_MODEL, size, "float32")
    graph = (
        tf.function(lambda x: model(x, training=False))
        .get_concrete_function(tf.TensorSpec((1, size, size, 1), tf.float32))
        .graph
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation() | {"output": "none"}
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    counted = sum(op.total_float_ops for op in profile.children if op.name.endswith(("convolution", "MatMul")))
    assert forward_flops(model) == counted


def test_training_costs_about_047_gflop_per_image_at_100_px():
    assert training_flops(build(DEFAULT_MODEL, 100, "float32")) == pytest.approx(0.47e9, rel=0.02)


def test_vector_extensions_keeps_simd_flags_only():
    assert vector_extensions(["sse2", "avx2", "fma", "amx_tile", "avx512f"]) == ["amx_tile", "avx2", "avx512f", "fma"]


def test_regression_baseline_is_the_latest_save_with_the_same_epochs(tmp_path):
    import json
    import os

    from benchmarks.conftest import EPOCHS, previous_ratios

    def save(name: str, epochs: int, median: float, mtime: int) -> None:
        info = {"epochs": epochs, "ratio_median": median, "rounds": []}
        file = tmp_path / name
        file.write_text(json.dumps({"benchmarks": [{"name": "test_training_harness[float32]", "extra_info": info}]}))
        os.utime(file, (mtime, mtime))

    save("0001_old.json", EPOCHS, 1.5, 1_000)
    save("0002_same.json", EPOCHS, 1.8, 2_000)
    save("0003_other_epochs.json", EPOCHS + 1, 9.9, 3_000)
    assert previous_ratios(tmp_path) == ("0002_same.json", {"test_training_harness[float32]": 1.8})
