"""How much of this machine's arithmetic a training uses: FLOPs per image and the float32 matmul peak.

FLOPs are counted from the layer shapes: 2 x multiply-adds of every Conv2D and Dense layer
(bias, activation, pooling and dropout add under 1%, and TensorFlow's profiler counts the same
convolutions and matmuls to the FLOP; tests/test_efficiency.py checks it). A training step costs
about 3 forward passes: the forward itself, then gradients of the inputs and of the weights.
"""

from __future__ import annotations

import time

import numpy as np

TRAINING_PER_FORWARD = 3


def forward_flops(model) -> int:
    """FLOPs of one image's forward pass through the convolutions and dense layers."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            total += 2 * height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def training_flops(model) -> int:
    """FLOPs of one training image (forward and backward)."""
    return TRAINING_PER_FORWARD * forward_flops(model)


def matmul_gflops(n: int = 2048, repeats: int = 3) -> float:
    """This machine's float32 matmul speed right now (numpy's BLAS, all cores), best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b  # warm the BLAS threads
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def vector_extensions(flags: list[str]) -> list[str]:
    """The SIMD flags that decide float32/bf16 speed (AVX, AVX-512, FMA, AMX)."""
    return sorted(flag for flag in flags if flag.startswith(("avx", "amx", "fma")))
