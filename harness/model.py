"""The original CNN and a vectorised twin of its ImageDataGenerator augmentation."""

from __future__ import annotations

import numpy as np

from harness.backend import keras, tf

# The arguments of the original notebook's ImageDataGenerator, and what they mean here.
ORIGINAL_AUGMENTATION = {
    "rotation_range": 30,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 15,
    "zoom_range": [0.7, 1.4],
    "horizontal_flip": True,
    "vertical_flip": True,
}
ROTATION_DEGREES = float(ORIGINAL_AUGMENTATION["rotation_range"])
SHIFT_FRACTION = ORIGINAL_AUGMENTATION["width_shift_range"]
SHEAR_DEGREES = float(ORIGINAL_AUGMENTATION["shear_range"])
ZOOM_RANGE = tuple(ORIGINAL_AUGMENTATION["zoom_range"])


def original_cnn(image_size: int) -> keras.Sequential:
    """The original CNN, the default ``--model`` (``harness.model:original_cnn``):
    Conv(32)-Pool-Conv(64)-Pool-Conv(128)-Pool-Dropout(0.5)-Flatten-Dense(250)-Dense(1, sigmoid).

    Kernels use Keras's default Glorot-uniform initialiser and biases zeros. Built under a seed's
    Keras random state (``harness.factory.build``), the five kernels are seeded with that seed + 0..4,
    the draws of every earlier harness, so stored studies resume and reproduce bit for bit. Layers
    take the dtype policy they are built under (mixed bfloat16 for ``--precision bfloat16``); the
    sigmoid output stays float32.
    """
    seed = tf.compat.v1.random.get_seed(None)[0]  # the global seed keras.utils.set_random_seed set
    kernels = iter(range(5))

    def kernel() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=seed + next(kernels))

    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer=kernel()),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer=kernel()),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(128, 3, activation="relu", kernel_initializer=kernel()),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.5),
            keras.layers.Flatten(),
            keras.layers.Dense(250, activation="relu", kernel_initializer=kernel()),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer=kernel(), dtype="float32"),
        ]
    )


def sample_transforms(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` transforms from ImageDataGenerator's distribution (degrees, fractions)."""
    return {
        "theta": rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES, n),
        "tx": rng.uniform(-SHIFT_FRACTION, SHIFT_FRACTION, n),  # height shift, x image rows
        "ty": rng.uniform(-SHIFT_FRACTION, SHIFT_FRACTION, n),  # width shift, x image cols
        "shear": rng.uniform(-SHEAR_DEGREES, SHEAR_DEGREES, n),
        "zx": rng.uniform(*ZOOM_RANGE, n),
        "zy": rng.uniform(*ZOOM_RANGE, n),
        "flip_horizontal": rng.random(n) < 0.5,
        "flip_vertical": rng.random(n) < 0.5,
    }


def projective_transforms(params: dict[str, np.ndarray], height: int, width: int) -> np.ndarray:
    """The 8-parameter (output -> input) maps that ``apply_affine_transform`` builds, batched.

    Keras composes rotation @ shift @ shear @ zoom about the image centre in (x = column, y = row)
    coordinates, which is exactly the convention of ``keras.ops.image.affine_transform``.
    """
    theta, shear = np.deg2rad(params["theta"]), np.deg2rad(params["shear"])
    n = theta.size
    tx, ty = params["tx"] * height, params["ty"] * width
    ones, zeros = np.ones(n), np.zeros(n)

    def stack(rows: list[list[np.ndarray]]) -> np.ndarray:
        return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)

    rotation = stack(
        [[np.cos(theta), -np.sin(theta), zeros], [np.sin(theta), np.cos(theta), zeros], [zeros, zeros, ones]]
    )
    shift = stack([[ones, zeros, tx], [zeros, ones, ty], [zeros, zeros, ones]])
    shearing = stack([[ones, -np.sin(shear), zeros], [zeros, np.cos(shear), zeros], [zeros, zeros, ones]])
    zoom = stack([[params["zx"], zeros, zeros], [zeros, params["zy"], zeros], [zeros, zeros, ones]])
    o_x, o_y = height / 2 - 0.5, width / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    matrix = offset @ rotation @ shift @ shearing @ zoom @ reset
    return matrix.reshape(n, 9)[:, :8].astype(np.float32)


def augment(images, transforms, flip_horizontal, flip_vertical):
    """Apply the sampled transforms (bilinear, 'nearest' fill) and flips to a batch of images."""
    from keras import ops

    warped = ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="nearest")
    warped = ops.where(flip_horizontal[:, None, None, None], ops.flip(warped, axis=2), warped)
    return ops.where(flip_vertical[:, None, None, None], ops.flip(warped, axis=1), warped)
