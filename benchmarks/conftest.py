"""Benchmark fixtures and the side-by-side throughput summary printed at the end of the session.

Absolute times drift on shared machines, so every harness benchmark also records its ratio to
the original pipeline measured in the same session (``extra_info["speedup_vs_original"]``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCHS = int(os.environ.get("HARNESS_BENCH_EPOCHS", "60"))
IMAGE_SIZE = 100
N_TRAIN, N_TEST = 210, 90  # the original: 70% of 150 positives + 150 negatives, 30% tested
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

THROUGHPUT: dict[str, float] = {}  # training throughput by pipeline, for the side-by-side ratio
RATIO_REGRESSION = 0.8  # fail when a pipeline's speed-up over the original falls below 80% of the last saved


def previous_ratios(storage: Path = Path(".benchmarks")) -> tuple[str, dict[str, float]]:
    """The speed-ups over the original in the latest saved run with the same number of epochs."""
    for saved in sorted(storage.rglob("*.json"), key=lambda file: file.stat().st_mtime, reverse=True):
        runs = json.loads(saved.read_text())["benchmarks"]
        ratios = {
            run["name"]: run["extra_info"]["speedup_vs_original"]
            for run in runs
            if "speedup_vs_original" in run["extra_info"] and run["extra_info"].get("epochs") == EPOCHS
        }
        if ratios:
            return saved.name, ratios
    return "", {}


def pytest_configure(config):
    config.previous_ratios = previous_ratios()


@pytest.fixture(scope="session")
def training_data():
    """Images of the original's size and count (content does not change the arithmetic)."""
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_TEST, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
    y = (np.arange(N_TRAIN + N_TEST) % 2).astype(np.float32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture(scope="session")
def lfw_home() -> Path:
    home = Path(os.environ.get("SCIKIT_LEARN_DATA", SHARED_DATA))
    if not (home / "lfw_home" / "lfw_funneled").is_dir():
        pytest.skip(f"LFW not found under {home}")
    return home


def record_throughput(benchmark, images: int, training: str | None = None) -> float:
    """images/s from the benchmark's mean time; a ``training`` pipeline is also kept for the ratio."""
    rate = images / benchmark.stats.stats.mean
    benchmark.extra_info["images_per_second"] = round(rate, 1)
    if training:
        benchmark.extra_info["epochs"] = EPOCHS
        THROUGHPUT[training] = rate
        if training != "original" and "original" in THROUGHPUT:
            benchmark.extra_info["speedup_vs_original"] = round(rate / THROUGHPUT["original"], 3)
    return rate


def ratio_changes(config) -> list[tuple[str, float, float]]:
    """(benchmark, previous speed-up, current speed-up) for every ratio measured in both runs."""
    _, before = config.previous_ratios
    now = {name: round(THROUGHPUT[name] / THROUGHPUT["original"], 3) for name in THROUGHPUT if name != "original"}
    return [
        (name, before[test], ratio)
        for name, ratio in now.items()
        for test in before
        if test.endswith(f"[{name.split()[-1]}]")
    ]


def pytest_sessionfinish(session, exitstatus):
    if "original" in THROUGHPUT and any(
        now < RATIO_REGRESSION * then for _, then, now in ratio_changes(session.config)
    ):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, config):
    if "original" not in THROUGHPUT:
        return
    terminalreporter.section(f"training throughput, {EPOCHS} epochs, {N_TRAIN} images of {IMAGE_SIZE} px")
    for name, rate in THROUGHPUT.items():
        ratio = rate / THROUGHPUT["original"]
        terminalreporter.write_line(f"{name:>18}: {rate:8.1f} images/s   {ratio:5.2f}x the original pipeline")
    saved, _ = config.previous_ratios
    for name, then, now in ratio_changes(config):
        verdict = "REGRESSION" if now < RATIO_REGRESSION * then else "ok"
        terminalreporter.write_line(f"{name:>18}: {now:.2f}x now, {then:.2f}x in {saved}: {verdict}")
