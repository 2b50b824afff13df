"""What to train, in what order: the prefix tree of every order of the actors, per seed.

A node is a seed and a path of actors, e.g. ``(0, ("A", "B"))``: the model trained on A, then B,
from seed 0's initial weights. The root ``()`` is the untrained model, depth-1 nodes are the fresh
models, and the depth-k nodes end the k! orders; every order with one actor removed is itself a
node (the transfer control). Orders sharing a prefix share its training.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.schema import CSV_COLUMNS, Condition

SEPARATOR = ">"
SPLIT_STREAM, INIT_STREAM, NODE_STREAM = 0, 1, 2


@dataclass(frozen=True, order=True)
class Node:
    seed: int
    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return SEPARATOR.join(self.path)

    @property
    def parent(self) -> Node | None:
        return Node(self.seed, self.path[:-1]) if self.path else None


def split_sequence(seed: int) -> np.random.SeedSequence:
    """The seed's stream for the train/test split."""
    return np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM,))


def init_sequence(seed: int) -> np.random.SeedSequence:
    """The seed's stream for the initial weights, shared by every condition of that seed."""
    return np.random.SeedSequence(seed, spawn_key=(INIT_STREAM,))


def node_sequence(node: Node) -> np.random.SeedSequence:
    """The stream for a node's augmentation, batch order and dropout: a function of its path only."""
    return np.random.SeedSequence(node.seed, spawn_key=(NODE_STREAM, zlib.crc32(node.name.encode())))


def check_actors(actors: list[str]) -> None:
    """The study compares orders of actors, so it needs at least two of them."""
    if len(actors) < 2:
        raise HarnessError(
            f"the study compares the orders of at least 2 actors, but only {', '.join(actors) or 'none'} "
            "was loaded; pass --actors A,B[,C] (or a --data-dir with more actor folders), "
            "or use `harness replicate` to train one actor"
        )


def plan(actors: list[str], seeds: list[int], depth: int | None = None) -> list[Node]:
    """Every node of every seed's prefix tree down to ``depth`` (default: the whole tree, depth k;
    1: the untrained model and the fresh ones), parents before children."""
    k = len(actors) if depth is None else depth
    return [Node(seed, path) for seed in seeds for d in range(k + 1) for path in itertools.permutations(actors, d)]


def tree_trainings(k: int, depth: int) -> int:
    """Trainings in one seed's tree of k actors down to ``depth`` (the untrained root is not one):
    15 for the whole tree of 3 actors, 3 for their fresh models."""
    return sum(math.perm(k, d) for d in range(1, depth + 1))


def children(node: Node, actors: list[str]) -> list[Node]:
    return [Node(node.seed, (*node.path, a)) for a in actors if a not in node.path]


def orders(actors: list[str]) -> list[tuple[str, ...]]:
    return list(itertools.permutations(actors))


def conditions(evaluations: pd.DataFrame, actors: list[str]) -> pd.DataFrame:
    """Expand per-node evaluations (seed, path, eval_actor, metrics) into the tidy CSV rows.

    ``path`` is the node name ('' for the root). Untrained rows come from the root, fresh rows from
    depth-1 nodes, and shared rows list every stage of every full order (prefix rows repeat).
    """
    by_node = {name: rows for name, rows in evaluations.groupby("path", sort=False)}
    frames = []

    def rows(path: tuple[str, ...], condition: Condition, order: str, position_in: tuple[str, ...]) -> None:
        name = SEPARATOR.join(path)
        if name not in by_node:
            return
        frame = by_node[name].drop(columns="path").copy()
        frame["condition"] = str(condition)
        frame["order"] = order
        frame["stage"] = len(path)
        frame["trained_actor"] = path[-1] if path else ""
        frame["position"] = [position_in.index(a) + 1 if a in position_in else pd.NA for a in frame["eval_actor"]]
        frames.append(frame)

    rows((), Condition.UNTRAINED, "", ())
    for actor in actors:
        rows((actor,), Condition.FRESH, actor, (actor,))
    for order in orders(actors):
        for stage in range(1, len(order) + 1):
            rows(order[:stage], Condition.SHARED, SEPARATOR.join(order), order)
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS)
    tidy = pd.concat(frames, ignore_index=True)
    tidy["position"] = tidy["position"].astype("Int64")
    rank = tidy["condition"].map({str(c): i for i, c in enumerate(Condition)})  # the tree's order
    keys = [tidy["seed"], rank, tidy["order"], tidy["stage"], tidy["eval_actor"]]
    return tidy.iloc[np.lexsort(keys[::-1])][list(CSV_COLUMNS)].reset_index(drop=True)
