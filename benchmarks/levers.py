"""Levers that leave the experiment unchanged, tried against the harness's settings in interleaved rounds.

Thread pools and oneDNN are fixed when TensorFlow starts, so every measurement is a fresh
process: it trains the study's model (100 px, 210 images, float32) for one untimed epoch that
traces the graph, then times ``--epochs`` epochs of ``fit`` and prints images/s. Each round
runs the baseline (what ``harness permute`` does on this machine: intra- and inter-op pools of
``cores`` threads, oneDNN on, one step per call, each epoch warped in one call) and then every
lever once, so a lever's per-round ratio compares two processes run back to back.

    python -m benchmarks.levers --epochs 4 --rounds 3 --out reports/levers.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.conftest import IMAGE_SIZE, N_TRAIN
from harness.choices import DEFAULT_MODEL

CORES = os.cpu_count() or 1
LEVERS: dict[str, dict] = {
    "baseline": {},
    "intra-op pool of all cores, inter-op pool of 1": {"inter": 1},
    "TensorFlow's default pools": {"intra": 0, "inter": 0},
    "tf.data private pool of 1 thread": {"private_threads": 1},
    "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "steps_per_execution 7 (one epoch per call)": {"steps_per_execution": 7},
    "augmentation per batch instead of per epoch": {"per_batch": True},
    "XLA (jit_compile)": {"jit_compile": True},
}


def per_batch(x, y, config, rng):
    """The same draws as ``augmented_batches``, but each batch warped when it is fetched."""
    import tensorflow as tf

    from harness.model import augment, projective_transforms, sample_transforms

    n, size, epochs = len(x), x.shape[1], config.epochs
    order = tf.constant([rng.permutation(n) for _ in range(epochs)])
    params = sample_transforms(rng, epochs * n)
    transforms = tf.constant(projective_transforms(params, size, size).reshape(epochs, n, 8))
    flips = (
        tf.constant(params["flip_horizontal"].reshape(epochs, n)),
        tf.constant(params["flip_vertical"].reshape(epochs, n)),
    )
    images, labels = tf.constant(x), tf.constant(y.reshape(-1, 1))

    def epoch(e):
        parts = tf.gather(images, order[e]), transforms[e], flips[0][e], flips[1][e], tf.gather(labels, order[e])
        return tf.data.Dataset.from_tensor_slices(parts).batch(config.batch_size)

    batches = tf.data.Dataset.range(epochs).flat_map(epoch).map(lambda i, t, h, v, label: (augment(i, t, h, v), label))
    steps = epochs * -(-n // config.batch_size)
    return batches.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(2)


def measure(lever: str, epochs: int, model: str) -> float:
    """images/s of one training of ``model`` (a ``--model`` factory) with ``lever`` in this (fresh) process."""
    import numpy as np
    import tensorflow as tf

    from harness.config import TrainConfig
    from harness.train import Learner, augmented_batches, configure_tensorflow, initial_weights

    settings = LEVERS[lever]
    configure_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(settings.get("intra", CORES))
    tf.config.threading.set_inter_op_parallelism_threads(settings.get("inter", CORES))
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32)
    y = (np.arange(N_TRAIN) % 2).astype(np.float32)
    learner = Learner(IMAGE_SIZE, "float32", model)
    learner.model.compile(
        optimizer=learner.optimizer,
        loss=learner.model.loss,  # the factory's, else binary cross-entropy (``harness.train.Learner``)
        jit_compile=settings.get("jit_compile", False),
        steps_per_execution=settings.get("steps_per_execution", 1),
    )
    learner.load(initial_weights(IMAGE_SIZE, "float32", np.random.SeedSequence(0), model))
    batches = per_batch if settings.get("per_batch") else augmented_batches
    seconds = 0.0
    for epochs_now in (1, epochs):  # the first traces the graph
        dataset = batches(x, y, TrainConfig(epochs=epochs_now, model=model), np.random.default_rng(1))
        if "private_threads" in settings:
            options = tf.data.Options()
            options.threading.private_threadpool_size = settings["private_threads"]
            dataset = dataset.with_options(options)
        steps = int(learner.optimizer.iterations.numpy())
        start = time.perf_counter()
        learner.model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        seconds = time.perf_counter() - start
        trained = int(learner.optimizer.iterations.numpy()) - steps
        assert trained == epochs_now * -(-N_TRAIN // 32), f"{lever}: {trained} steps for {epochs_now} epochs"
    return N_TRAIN * epochs / seconds


def run_round(lever: str, epochs: int, model: str) -> float:
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"} | LEVERS[lever].get("env", {})
    command = [sys.executable, "-m", "benchmarks.levers", "--measure", lever, "--epochs", str(epochs), "--model", model]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levers", default=";".join(LEVERS), help="Semicolon-separated lever names.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="The --model factory to train.")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("reports/levers.json"))
    args = parser.parse_args()
    if args.measure:
        print(measure(args.measure, args.epochs, args.model))
        return
    levers = [name for name in args.levers.split(";") if name != "baseline"]
    rounds = []
    for i in range(args.rounds):
        rates = {lever: run_round(lever, args.epochs, args.model) for lever in ["baseline", *levers]}
        rounds.append({"round": i, "load": os.getloadavg()[0], "images_per_second": rates})
        print(json.dumps(rounds[-1]), flush=True)
    summary = {}
    for lever in levers:
        ratios = [r["images_per_second"][lever] / r["images_per_second"]["baseline"] for r in rounds]
        summary[lever] = {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{lever:>45}: median {statistics.median(ratios):.2f}x the baseline (range {spread})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"epochs": args.epochs, "rounds": rounds, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
