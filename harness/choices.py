"""The choices and numeric limits of the command-line options, shared by the CLI and the code they configure.

Free of heavy imports, so that ``--help`` and option checks need neither TensorFlow nor OpenCV.
"""

from enum import StrEnum


class DatasetName(StrEnum):
    """Where the images come from."""

    LFW = "lfw"  # scikit-learn's LFW cache
    FOLDER = "folder"  # one folder per actor and a negatives folder


class Protocol(StrEnum):
    """How images are split into train and test sets (see harness.data.splits)."""

    DISJOINT = "disjoint"
    ORIGINAL = "original"


class Precision(StrEnum):
    """The Keras dtype policy of training."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"  # Keras mixed precision


MIN_IMAGES = 10  # usable images every actor and the negative pool need, for a 70/30 split with both parts
MIN_IMAGE_SIZE = 22  # three valid 3x3 convolutions with 2x2 pooling need at least this
# The dense layer has ((((S - 2) // 2 - 2) // 2 - 2) // 2)^2 x 128 x 250 weights: 123 million at 512 px, where
# `harness replicate --epochs 1` on two small actors peaked at 8.5 GB resident (weights, gradients, Adam's moments and
# snapshots); 2 billion at 2000 px, where the kernel's OOM killer ends the run.
MAX_IMAGE_SIZE = 512
MAX_IMAGE_SIZE_MEMORY = "8.5 GB"  # measured, as above

DEFAULT_MODEL = "harness.model:original_cnn"  # the --model factory of the original CNN (harness.factory)
