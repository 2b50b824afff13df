"""Where a harness training's time goes: TensorFlow's profiler over one training, by op.

Trains the study's model on 210 random images (the benchmark's data) once to trace, then once
under ``tf.profiler.experimental``, and sums the time of every TensorFlow op event on the
compute and tf.data threads by phase (forward, backward, optimizer, augmentation) and op type.
Prints the table with each row's share of all op time, and how busy the cores were.

    python -m benchmarks.op_profile --epochs 3 --image-size 100 --out reports/op_profile.csv
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.conftest import N_TRAIN
from harness.choices import DEFAULT_MODEL

OP_THREADS = ("tf_Compute", "tf_data_private_threadpool")


def phase(op_name: str, thread: str) -> str:
    if thread.startswith("tf_data"):
        return "augmentation (tf.data)"
    if "gradient_tape" in op_name:
        return "backward"
    if "adam" in op_name.lower() or "/Assign" in op_name:
        return "optimizer"
    return "forward"


def op_events(xspace_file: Path) -> pd.DataFrame:
    """One row per TensorFlow op event on the host's op threads: thread, phase, op type, seconds."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_file.read_bytes())
    rows = []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith(OP_THREADS):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:  # executor and iterator spans, not ops
                    continue
                op_name, op_type = name.rsplit(":", 1)
                rows.append((line.name, phase(op_name, line.name), op_type, event.duration_ps / 1e12))
    return pd.DataFrame(rows, columns=["thread", "phase", "op_type", "seconds"])


def summarise(events: pd.DataFrame) -> pd.DataFrame:
    """Seconds and share of all op time by phase and op type, largest first."""
    table = events.groupby(["phase", "op_type"], as_index=False)["seconds"].sum()
    table["share"] = table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False, ignore_index=True)


def profile(epochs: int, image_size: int, logdir: Path, model: str = DEFAULT_MODEL) -> tuple[pd.DataFrame, float]:
    """Op events of one ``epochs``-epoch training after a traced warm-up, and its wall seconds."""
    import tensorflow as tf

    from harness.config import TrainConfig
    from harness.train import Learner, configure_tensorflow, initial_weights

    configure_tensorflow()
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN, image_size, image_size, 1), dtype=np.float32)
    y = (np.arange(N_TRAIN) % 2).astype(np.float32)
    learner = Learner(image_size, "float32", model)
    learner.load(initial_weights(image_size, "float32", np.random.SeedSequence(0), model))
    learner.train(x, y, TrainConfig(epochs=1, model=model), np.random.SeedSequence(1))
    tf.profiler.experimental.start(str(logdir))
    start = time.perf_counter()
    learner.train(x, y, TrainConfig(epochs=epochs, model=model), np.random.SeedSequence(1))
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    return op_events(next(logdir.rglob("*.xplane.pb"))), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=100)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="The --model factory to profile.")
    parser.add_argument("--out", type=Path, default=Path("reports/op_profile.csv"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logdir:
        events, wall = profile(args.epochs, args.image_size, Path(logdir), args.model)
    table = summarise(events)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    cores = os.cpu_count()
    busy = events["seconds"].sum() / (wall * cores)
    print(f"{args.epochs} epochs of {N_TRAIN} images at {args.image_size} px: {wall:.1f} s wall")
    print(f"op time {events['seconds'].sum():.1f} s on {cores} cores = {busy:.0%} of the cores' wall time")
    print(table.groupby("phase")["share"].sum().sort_values(ascending=False).to_string(float_format="{:.1%}".format))
    print(table.head(15).to_string(float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
