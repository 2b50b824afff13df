"""Does bfloat16 change what the study measures? Two studies, float32 and bfloat16, and `harness compare`.

Both runs share every other option, so seed s has the same split, initial weights and augmentation
stream in both: `harness compare` pairs them by seed (B = bfloat16 minus A = float32) on the claims'
quantities (Q1/Q2 once) and the fresh and final models' scores. Prints the comparison and each precision's training
throughput (images/s, from trainings.csv); the run directories and compare.md go under --out.

    python -m benchmarks.precision --seeds 3 --epochs 60 --out reports/precision
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from harness.choices import DEFAULT_MODEL

PRECISIONS = ("float32", "bfloat16")


def harness(*args: str) -> None:
    """Run ``harness ARGS`` in its own process (its output goes to this terminal)."""
    subprocess.run([str(Path(sys.executable).with_name("harness")), *args], check=True)


def images_per_second(run_dir: Path) -> float:
    trainings = pd.read_csv(run_dir / "trainings.csv")
    return float(trainings["n_train"].sum() / trainings["seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=100)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="The --model factory both runs train.")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: every core).")
    parser.add_argument("--out", type=Path, default=Path("reports/precision"))
    args = parser.parse_args()
    options = ["--seeds", str(args.seeds), "--epochs", str(args.epochs), "--image-size", str(args.image_size)]
    options += ["--model", args.model] + (["--threads", str(args.threads)] if args.threads else [])
    for precision in PRECISIONS:
        harness("permute", *options, "--precision", precision, "--out", str(args.out / precision))
    harness("compare", *(str(args.out / p) for p in PRECISIONS), "--out", str(args.out / "compare"))
    for precision in PRECISIONS:
        print(f"{precision}: {images_per_second(args.out / precision):.0f} images/s while training")


if __name__ == "__main__":
    main()
