"""Benchmark fixtures, the interleaved-round bookkeeping and the summary printed at the end.

Absolute times drift on a shared machine, and one round per pipeline lets a burst of noise
decide a ratio, so the training benchmarks run the pipelines in alternating rounds in one
process (original, harness, original, harness, ...) on the same data, store every round in
the JSON (``extra_info["rounds"]``) and judge the median of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import numpy as np
import pytest

from benchmarks.efficiency import vector_extensions
from harness.choices import DEFAULT_MODEL

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCHS = int(os.environ.get("HARNESS_BENCH_EPOCHS", "10"))
MODEL = os.environ.get("HARNESS_BENCH_MODEL", DEFAULT_MODEL)  # the --model factory the training benchmarks time
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "3"))
IMAGE_SIZE = 100
N_TRAIN, N_TEST = 210, 90  # the original: 70% of 150 positives + 150 negatives, 30% tested
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

INTERLEAVED: dict[str, dict] = {}  # extra_info of each interleaved benchmark, for the summary
RATIO_REGRESSION = 0.8  # fail when a median speed-up falls below 80% of the last saved one


def previous_ratios(storage: Path = Path(".benchmarks")) -> tuple[str, dict[str, float]]:
    """The median speed-ups over the original in the latest saved run with the same epochs."""
    for saved in sorted(storage.rglob("*.json"), key=lambda file: file.stat().st_mtime, reverse=True):
        runs = json.loads(saved.read_text())["benchmarks"]
        ratios = {
            run["name"]: run["extra_info"]["ratio_median"]
            for run in runs
            if "ratio_median" in run["extra_info"] and run["extra_info"].get("epochs") == EPOCHS
        }
        if ratios:
            return saved.name, ratios
    return "", {}


def pytest_configure(config):
    if ROUNDS < 3:
        raise pytest.UsageError(f"HARNESS_BENCH_ROUNDS={ROUNDS}: a median of ratios needs at least 3 rounds")
    storage = config.getoption("benchmark_storage")  # pytest-benchmark's --benchmark-storage
    config.previous_ratios = previous_ratios(Path(storage.removeprefix("file://")))


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


def record_throughput(benchmark, images: int) -> float:
    """images/s from the benchmark's mean time."""
    rate = images / benchmark.stats.stats.mean
    benchmark.extra_info["images_per_second"] = round(rate, 1)
    return rate


def record_rounds(benchmark, original: list[float], harness: list[float], matmul: list[float], images: int, flops: int):
    """Store every round (seconds of each pipeline, the ratio, the matmul speed beside it) and their medians."""
    rounds = [
        {
            "round": i,
            "original_seconds": round(o, 3),
            "harness_seconds": round(h, 3),
            "ratio": round(o / h, 3),
            "matmul_gflops": round(m, 1),
        }
        for i, (o, h, m) in enumerate(zip(original, harness, matmul, strict=True))
    ]
    ratios = [r["ratio"] for r in rounds]
    benchmark.extra_info.update(
        epochs=EPOCHS,
        images_per_round=images,
        training_gflop_per_image=round(flops / 1e9, 4),
        original_images_per_second=round(images / statistics.median(original), 1),
        images_per_second=round(images / statistics.median(harness), 1),
        ratio_median=statistics.median(ratios),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        rounds=rounds,
    )
    INTERLEAVED[benchmark.name] = benchmark.extra_info


def ratio_changes(config) -> list[tuple[str, float, float]]:
    """(benchmark, previous median speed-up, current one) for every benchmark in both runs."""
    _, before = config.previous_ratios
    return [(name, before[name], info["ratio_median"]) for name, info in INTERLEAVED.items() if name in before]


def pytest_sessionfinish(session, exitstatus):
    if any(now < RATIO_REGRESSION * then for _, then, now in ratio_changes(session.config)):
        session.exitstatus = 1


def efficiency_lines() -> list[str]:
    """images/s, GFLOP/s and % of the session's best float32 matmul for every pipeline."""
    from cpuinfo import get_cpu_info  # what pytest-benchmark stores as machine_info["cpu"]

    cpu = get_cpu_info()
    peak = max(r["matmul_gflops"] for info in INTERLEAVED.values() for r in info["rounds"])
    lines = [
        f"CPU: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores; {' '.join(vector_extensions(cpu['flags']))}",
        f"float32 matmul peak (numpy, 2048^2, best round of the session): {peak:.0f} GFLOP/s",
    ]
    for name, info in INTERLEAVED.items():
        gflop = info["training_gflop_per_image"]
        ratios = f"median {info['ratio_median']:.2f}x, range {info['ratio_min']:.2f}-{info['ratio_max']:.2f}x"
        for pipeline, rate, vs in (
            ("original", info["original_images_per_second"], ""),
            (name.removeprefix("test_training_"), info["images_per_second"], f"   {ratios} the original"),
        ):
            flops = f"{rate * gflop:6.1f} GFLOP/s {rate * gflop / peak:6.1%} of peak"
            lines.append(f"{pipeline:>18}: {rate:6.1f} images/s {flops}{vs}")
        lines.append(f"{'rounds':>18}: original / harness images/s, ratio, matmul GFLOP/s beside them")
        images = info["images_per_round"]
        for r in info["rounds"]:
            rates = f"{images / r['original_seconds']:6.1f} / {images / r['harness_seconds']:6.1f}"
            lines.append(f"{r['round']:>18}: {rates} images/s {r['ratio']:5.2f}x {r['matmul_gflops']:6.1f}")
    return lines


def pytest_terminal_summary(terminalreporter, config):
    if not INTERLEAVED:
        return
    terminalreporter.section(
        f"training, {EPOCHS} epochs, {N_TRAIN} images of {IMAGE_SIZE} px, {ROUNDS} interleaved rounds"
    )
    for line in efficiency_lines():
        terminalreporter.write_line(line)
    saved, _ = config.previous_ratios
    for name, then, now in ratio_changes(config):
        verdict = "REGRESSION" if now < RATIO_REGRESSION * then else "ok"
        terminalreporter.write_line(f"{name}: median {now:.2f}x now, {then:.2f}x in {saved}: {verdict}")
