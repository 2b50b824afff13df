"""One training stage, evaluation, and exact snapshot/restore of weights and optimizer state.

A ``Learner`` is one compiled model (the ``--model`` factory's network) and its optimizer, reused
within a process for that model, image size and precision (tracing a new Keras graph per stage
would cost more than a small stage does). Loading a ``Snapshot`` puts the
learner in exactly the state another learner was in, so branching from a snapshot and carrying
on with a live model give bit-identical results.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from harness.backend import tf
from harness.choices import DEFAULT_MODEL
from harness.config import TrainConfig
from harness.factory import build, training_parts
from harness.model import augment, projective_transforms, sample_transforms


@dataclass(frozen=True)
class Snapshot:
    """Model weights and optimizer variables (iteration, learning rate, Adam moments)."""

    weights: list[np.ndarray]
    optimizer: list[np.ndarray]


def configure_tensorflow(threads: int | None = None) -> None:
    """Deterministic ops and the thread budget; call before TensorFlow runs anything."""
    tf.config.experimental.enable_op_determinism()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # already initialised in this process: keep what it runs with


def stage_seed(seed_sequence: np.random.SeedSequence) -> int:
    return int(seed_sequence.generate_state(1)[0])


def initial_weights(
    image_size: int, precision: str, seed_sequence: np.random.SeedSequence, model: str = DEFAULT_MODEL
) -> list[np.ndarray]:
    """The seed's random initialisation of the network: the factory called under the seed's Keras random state."""
    return build(model, image_size, precision, seed=stage_seed(seed_sequence) % 2**31).get_weights()


class Learner:
    """A compiled model plus optimizer whose whole state can be saved and loaded.

    The optimizer and loss are the factory's when it compiles its model, else Adam and binary
    cross-entropy; the optimizer's state right after it is built is what every root starts from.
    """

    def __init__(self, image_size: int, precision: str, model: str = DEFAULT_MODEL):
        self.image_size = image_size
        self.model = build(model, image_size, precision)
        self.optimizer, loss = training_parts(self.model)
        self.model.compile(optimizer=self.optimizer, loss=loss, jit_compile=False)
        self.optimizer.build(self.model.trainable_variables)
        self.fresh_optimizer = [v.numpy() for v in self.optimizer.variables]

    def load(self, weights: list[np.ndarray], optimizer: list[np.ndarray] | None = None) -> None:
        """Set the weights, and the optimizer state (a fresh Adam when ``None``)."""
        self.model.set_weights(weights)
        for variable, value in zip(self.optimizer.variables, optimizer or self.fresh_optimizer, strict=True):
            variable.assign(value)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.model.get_weights(), [v.numpy() for v in self.optimizer.variables])

    def train(self, x: np.ndarray, y: np.ndarray, config: TrainConfig, seed_sequence: np.random.SeedSequence) -> float:
        """Train one stage, as ``fit(datagen.flow(x, y, batch_size), epochs)`` did; return seconds.

        Each epoch reshuffles and draws fresh transforms; dropout is reseeded, so a stage
        depends only on its inputs and its seed, never on what the process ran before.
        """
        rng = np.random.default_rng(seed_sequence)
        for variable in self.model.non_trainable_variables:
            if "seed_generator_state" in variable.path:
                variable.assign(np.array([stage_seed(seed_sequence), 0], dtype=variable.dtype))
        dataset = augmented_batches(x, y, config, rng)
        start = time.perf_counter()
        self.model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of 'this actor' for each image."""
        return self.model.predict(x, batch_size=256, verbose=0).reshape(-1).astype(np.float64)


_learners = threading.local()


def learner(image_size: int, precision: str, model: str = DEFAULT_MODEL) -> Learner:
    """This thread's learner for this model, image size and precision (Dask may run tasks in threads)."""
    cache = _learners.__dict__.setdefault("cache", {})
    if (model, image_size, precision) not in cache:
        cache[model, image_size, precision] = Learner(image_size, precision, model)
    return cache[model, image_size, precision]


def augmented_batches(x: np.ndarray, y: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> tf.data.Dataset:
    """All epochs' batches: per epoch a fresh shuffle and fresh transforms, last batch partial.

    Each epoch is warped in one vectorised call and then cut into batches, while the previous
    epoch trains; everything random is drawn here, up front, from the stage's generator.
    """
    n, size, epochs = len(x), x.shape[1], config.epochs
    order = np.stack([rng.permutation(n) for _ in range(epochs)])
    params = sample_transforms(rng, epochs * n)
    transforms = tf.constant(projective_transforms(params, size, size).reshape(epochs, n, 8))
    flips_h = tf.constant(params["flip_horizontal"].reshape(epochs, n))
    flips_v = tf.constant(params["flip_vertical"].reshape(epochs, n))
    images, labels, order = tf.constant(x), tf.constant(y.reshape(-1, 1)), tf.constant(order)

    def epoch(e):
        warped = augment(tf.gather(images, order[e]), transforms[e], flips_h[e], flips_v[e])
        return tf.data.Dataset.from_tensor_slices((warped, tf.gather(labels, order[e]))).batch(config.batch_size)

    per_epoch = -(-n // config.batch_size)
    batches = tf.data.Dataset.range(epochs).flat_map(epoch)
    return batches.apply(tf.data.experimental.assert_cardinality(epochs * per_epoch)).prefetch(per_epoch)
