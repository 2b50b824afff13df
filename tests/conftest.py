"""Shared fixtures: the LFW copy in ../shared, a private decode cache, one TensorFlow thread.

One thread per TensorFlow process everywhere in the tests, so runs in this process, in local
worker processes and on Dask workers are bit-for-bit comparable (thread count changes float
rounding in TensorFlow's CPU kernels).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HARNESS_CACHE_DIR", tempfile.mkdtemp(prefix="harness-cache-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def lfw_home() -> Path:
    """The scikit-learn data home holding lfw_home/; fails under CI when it is missing."""
    home = Path(os.environ.get("SCIKIT_LEARN_DATA", SHARED_DATA))
    if not (home / "lfw_home" / "lfw_funneled").is_dir():
        message = f"LFW not found under {home}/lfw_home (expected ../shared/data beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return home


@pytest.fixture(scope="session", autouse=True)
def one_tensorflow_thread():
    from harness.train import configure_tensorflow

    configure_tensorflow(1)
