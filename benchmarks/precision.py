"""Does bfloat16 change what the study measures? A seed-paired comparison with float32.

For every seed and actor, the fresh model (the study's depth-1 node) is trained in both
precisions from the same initial weights, split and augmentation stream, and scored on the
actor's test set. Prints the means, the paired difference with its 95% t-interval, and the
throughput of each precision; writes them as JSON.

    python -m benchmarks.precision --seeds 3 --epochs 60 --out reports/precision.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from scipy import stats

from harness.data import DataConfig, load_dataset
from harness.execute import StudyConfig, run_node
from harness.study import Node
from harness.train import TrainConfig, configure_tensorflow


def compare(seeds: int, epochs: int, image_size: int) -> dict:
    configure_tensorflow()
    data = DataConfig(image_size=image_size)
    dataset = load_dataset(data)
    rows = []
    for precision in ("float32", "bfloat16"):
        config = StudyConfig(data, TrainConfig(epochs=epochs, precision=precision), tuple(range(seeds)))
        for seed in config.seeds:
            for actor in dataset.actors:
                result = run_node(dataset, config, Node(seed, (actor,)), None)
                own = next(e for e in result.evaluations if e["eval_actor"] == actor)
                rows.append(
                    {
                        "precision": precision,
                        "seed": seed,
                        "actor": actor,
                        "accuracy": own["accuracy"],
                        "images_per_second": result.n_train / result.seconds,
                    }
                )
    table = pd.DataFrame(rows)
    paired = table.pivot_table(index=["seed", "actor"], columns="precision", values="accuracy")
    difference = paired["bfloat16"] - paired["float32"]
    test = stats.ttest_rel(paired["bfloat16"], paired["float32"])
    interval = test.confidence_interval(0.95)
    return {
        "seeds": seeds,
        "epochs": epochs,
        "image_size": image_size,
        "pairs": len(difference),
        "mean_accuracy": table.groupby("precision")["accuracy"].mean().to_dict(),
        "mean_difference_bf16_minus_f32": float(difference.mean()),
        "ci95_difference": [float(interval.low), float(interval.high)],
        "paired_t_p": float(test.pvalue),
        "images_per_second": table.groupby("precision")["images_per_second"].mean().to_dict(),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("reports/precision.json"))
    args = parser.parse_args()
    started = time.time()
    result = compare(args.seeds, args.epochs, args.image_size) | {"wall_seconds": time.time() - started}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    summary = {key: value for key, value in result.items() if key != "rows"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
