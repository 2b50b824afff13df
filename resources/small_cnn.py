"""A smaller network for `harness permute --model resources/small_cnn.py:small_cnn` (see README, "The model")."""

import keras


def small_cnn(image_size: int) -> keras.Model:
    """Conv(16)-Pool-Conv(32)-Pool-Flatten-Dense(64)-Dense(1, sigmoid): Adam and binary cross-entropy (not compiled)."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
