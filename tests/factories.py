"""Model factories for the --model tests: a second small network, and one factory per refusal."""

from __future__ import annotations

import functools
import sys

import keras


def small_cnn(image_size: int) -> keras.Model:
    """One convolution and a dense layer: another model than the original CNN, quick to train."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def compiled_sgd(image_size: int) -> keras.Model:
    """The small network compiled with SGD with momentum and a label-smoothed loss: they are used."""
    model = small_cnn(image_size)
    loss = keras.losses.BinaryCrossentropy(label_smoothing=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    return model


def two_outputs(image_size: int) -> keras.Model:
    return keras.Sequential([keras.Input((image_size, image_size, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])


def frozen(image_size: int) -> keras.Model:
    model = small_cnn(image_size)
    model.trainable = False
    return model


def fixed_size(image_size: int) -> keras.Model:
    """Ignores the image size it is given."""
    return small_cnn(48)


def raises(image_size: int) -> keras.Model:
    raise RuntimeError("this factory needs a GPU")


def not_a_model(image_size: int) -> str:
    return "a model"


def huge(image_size: int) -> keras.Model:
    """About 10^12 parameters: never allocated, only counted."""
    return keras.Sequential(
        [keras.Input((image_size, image_size, 1)), keras.layers.Flatten(), keras.layers.Dense(10**12 // image_size**2)]
        + [keras.layers.Dense(1, activation="sigmoid")]
    )


NOT_CALLABLE = 3


def huge_compiled(image_size: int) -> keras.Model:
    """The 10^12-parameter model, compiled: compiling creates the optimizer's variables, so no stateless build."""
    model = huge(image_size)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="binary_crossentropy")
    return model


def three_channels(image_size: int) -> keras.Model:
    """Built for RGB images: its symbolic input check passes, a real grey batch does not."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def linear_output(image_size: int) -> keras.Model:
    """One unit without the sigmoid: 5 on a zero image, not a probability."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(5.0)),
        ]
    )


@functools.cache
def cached(image_size: int) -> keras.Model:
    """One model object for every call: the study would train the same object for every seed."""
    return small_cnn(image_size)


def exits(image_size: int) -> keras.Model:
    """Ends the process instead of returning a model."""
    sys.exit(0)
