"""TensorFlow and Keras, imported without their start-up log lines reaching the user's terminal.

TensorFlow logs through absl; what it logs before absl's logging is initialised (oneDNN, CUDA
probing, CPU features: several lines before every training command) ignores
``TF_CPP_MIN_LOG_LEVEL``, so the import itself runs with the process's stderr (file descriptor 2)
pointed at /dev/null. ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) silences what the C++
side logs later, such as the failed ``cuInit`` on machines without a GPU. Python errors are not
affected: they are raised after stderr is restored. Every harness module takes TensorFlow and
Keras from here.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration (C++ libraries write to it directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with stderr_silenced():
    import keras
    import tensorflow as tf

__all__ = ["keras", "tf"]
