"""The original CNN, and the vectorised augmentation against Keras's own ImageDataGenerator."""

from __future__ import annotations

import numpy as np
import pytest
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from scipy import stats

from harness.choices import DEFAULT_MODEL
from harness.factory import build
from harness.model import ORIGINAL_AUGMENTATION, augment, projective_transforms, sample_transforms

DRAWS = 3000
SHAPE = (40, 32, 1)  # non-square, so that rows and columns cannot be mixed up unnoticed
IDENTITY = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0}


@pytest.fixture
def global_numpy_seed():
    """ImageDataGenerator draws from np.random's global state: seed it, and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(1234)
    yield
    np.random.set_state(state)


def test_model_has_the_original_architecture():
    model = build(DEFAULT_MODEL, 100, "float32")
    assert model.count_params() == 3_293_173
    assert [tuple(layer.output.shape) for layer in model.layers] == [
        (None, 98, 98, 32),
        (None, 49, 49, 32),
        (None, 47, 47, 64),
        (None, 23, 23, 64),
        (None, 21, 21, 128),
        (None, 10, 10, 128),
        (None, 10, 10, 128),
        (None, 12800),
        (None, 250),
        (None, 1),
    ]


def test_bfloat16_model_computes_in_bfloat16_and_outputs_float32():
    model = build(DEFAULT_MODEL, 32, "bfloat16")
    assert model.layers[0].compute_dtype == "bfloat16"
    output = model(np.zeros((2, 32, 32, 1), np.float32))
    assert output.dtype == "float32" and tuple(output.shape) == (2, 1)


def original_draws(n: int) -> dict[str, np.ndarray]:
    """``n`` draws of ImageDataGenerator's parameters, shifts converted from pixels to fractions."""
    generator = ImageDataGenerator(**ORIGINAL_AUGMENTATION)
    draws = [generator.get_random_transform(SHAPE) for _ in range(n)]
    keys = ["theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical"]
    params = {key: np.array([d[key] for d in draws], dtype=float) for key in keys}
    params["tx"] /= SHAPE[0]  # height shift, in pixels of the rows
    params["ty"] /= SHAPE[1]  # width shift, in pixels of the columns
    return params


@pytest.mark.usefixtures("global_numpy_seed")
def test_sample_transforms_match_image_data_generator_distribution():
    ours = sample_transforms(np.random.default_rng(0), DRAWS)
    theirs = original_draws(DRAWS)
    assert set(ours) == set(theirs)
    for key, values in ours.items():
        assert len(values) == DRAWS
        result = stats.ks_2samp(np.asarray(values, dtype=float), theirs[key], method="asymp")
        assert result.pvalue > 1e-3, f"{key}: {result}"


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [("theta", -30, 30), ("tx", -0.2, 0.2), ("ty", -0.2, 0.2), ("shear", -15, 15), ("zx", 0.7, 1.4), ("zy", 0.7, 1.4)],
)
def test_sample_transforms_cover_the_original_ranges(key, low, high):
    values = sample_transforms(np.random.default_rng(1), DRAWS)[key]
    margin = (high - low) * 0.01  # with 3000 uniform draws the extremes lie this close to the bounds
    assert low <= values.min() < low + margin and high - margin < values.max() <= high


def test_sample_transforms_zooms_are_independent_and_flips_are_fair():
    params = sample_transforms(np.random.default_rng(2), DRAWS)
    assert abs(np.corrcoef(params["zx"], params["zy"])[0, 1]) < 0.08  # ~4 standard errors
    for flip in ("flip_horizontal", "flip_vertical"):
        assert params[flip].dtype == bool
        assert stats.binomtest(int(params[flip].sum()), DRAWS).pvalue > 1e-3
    assert abs(np.corrcoef(params["flip_horizontal"], params["flip_vertical"])[0, 1]) < 0.08


def smooth_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth random images: bilinear sampling errors stay tiny, so 1e-4 is a strict bound."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    images = []
    for _ in range(n):
        a, b, c, d = rng.uniform(0.05, 0.3, 4)
        images.append(0.5 + 0.25 * np.sin(a * rows + b * cols + c) + 0.2 * np.cos(d * cols - a * rows))
    return np.stack(images)[..., np.newaxis].astype(np.float32)


def keras_reference(images: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """ImageDataGenerator.apply_transform per image, with the shifts in pixels as it draws them."""
    generator = ImageDataGenerator(fill_mode="nearest")
    out = []
    for i, image in enumerate(images):
        one = {key: values[i] for key, values in params.items()}
        one["tx"] *= SHAPE[0]
        one["ty"] *= SHAPE[1]
        out.append(generator.apply_transform(image, one))
    return np.stack(out)


def harness_augment(images: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    transforms = projective_transforms(params, SHAPE[0], SHAPE[1])
    return np.asarray(augment(images, transforms, params["flip_horizontal"], params["flip_vertical"]))


def test_augment_reproduces_apply_transform_with_flips():
    rng = np.random.default_rng(3)
    n = 8
    images = smooth_images(rng, n)
    params = sample_transforms(rng, n)
    params["flip_horizontal"] = np.array([False, True, False, True] * 2)  # every flip combination
    params["flip_vertical"] = np.array([False, False, True, True] * 2)
    got = harness_augment(images, params)
    expected = keras_reference(images, params)
    assert got.shape == images.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert np.abs(got - images).max() > 0.05  # the transforms did something


@pytest.mark.parametrize("key", ["theta", "tx", "ty", "shear", "zx"])
def test_augment_reproduces_each_parameter_alone(key):
    """One parameter at a time, so that a wrong sign or axis in one term cannot hide behind another."""
    images = smooth_images(np.random.default_rng(4), 2)
    value = {"theta": 20.0, "tx": 0.15, "ty": -0.15, "shear": 12.0, "zx": 1.3}[key]
    params = {k: np.full(2, v) for k, v in IDENTITY.items()}
    params[key] = np.array([value, -value if key != "zx" else 0.75])
    params["flip_horizontal"] = params["flip_vertical"] = np.zeros(2, bool)
    np.testing.assert_allclose(harness_augment(images, params), keras_reference(images, params), rtol=0, atol=1e-4)


def test_pure_shift_fills_with_the_nearest_edge_pixels():
    """tx = 0.25 of the 40 rows is 10 pixels; like Keras, it moves the image along the columns."""
    height, width = SHAPE[:2]
    image = np.arange(height * width, dtype=np.float32).reshape(1, height, width, 1)
    params = {k: np.full(1, v) for k, v in IDENTITY.items()}
    params["tx"] = np.array([0.25])
    params["flip_horizontal"] = params["flip_vertical"] = np.zeros(1, bool)
    got = harness_augment(image, params)[0, ..., 0]
    source_columns = np.minimum(np.arange(width) + 10, width - 1)
    np.testing.assert_allclose(got, image[0, ..., 0][:, source_columns], rtol=0, atol=1e-3)
    edge = got[:, width - 10 :]
    assert np.all(edge == image[0, :, width - 1 :, 0])  # the last column repeated, not zeros
    np.testing.assert_allclose(got, keras_reference(image, params)[0, ..., 0], rtol=0, atol=1e-3)
