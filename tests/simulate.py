"""Build results.csv-shaped DataFrames without training anything (pure numpy, fast).

A run is a set of *models* ("nodes"): the untrained model, one fresh model per actor, and one
shared model per order prefix. Each node is evaluated on every actor; rows of orders that share
a prefix repeat the same node, exactly as ``harness permute`` writes them.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np
import pandas as pd

from harness.schema import CSV_COLUMNS

ACTORS: tuple[str, ...] = ("Tony_Blair", "George_W_Bush", "Colin_Powell")

NodeKey = tuple[str, str, str]
"""("untrained", "", eval) | ("fresh", trained, eval) | ("shared", "A>B", eval)."""


@lru_cache(maxsize=16)
def template(actors: tuple[str, ...]) -> tuple[pd.DataFrame, tuple[NodeKey, ...], np.ndarray]:
    """Rows of one seed (without metric values), the node keys, and each row's node index."""
    nodes: dict[NodeKey, int] = {}

    def node(key: NodeKey) -> int:
        return nodes.setdefault(key, len(nodes))

    rows, row_node = [], []
    for j in actors:
        rows.append(("untrained", np.nan, 0, np.nan, j, np.nan))
        row_node.append(node(("untrained", "", j)))
    for x in actors:
        for j in actors:
            rows.append(("fresh", x, 1, x, j, 1.0 if j == x else np.nan))
            row_node.append(node(("fresh", x, j)))
    for order in permutations(actors):
        for t in range(1, len(order) + 1):
            for j in actors:
                rows.append(("shared", ">".join(order), t, order[t - 1], j, float(order.index(j) + 1)))
                row_node.append(node(("shared", ">".join(order[:t]), j)))
    frame = pd.DataFrame(rows, columns=["condition", "order", "stage", "trained_actor", "eval_actor", "position"])
    return frame, tuple(nodes), np.array(row_node)


def frame_from_nodes(actors: tuple[str, ...], values: np.ndarray, seeds=None, n_test: int = 100) -> pd.DataFrame:
    """results.csv-shaped DataFrame from per-seed node values (seeds x nodes, see template)."""
    rows, _, row_node = template(tuple(actors))
    n_seeds = values.shape[0]
    seeds = np.arange(n_seeds) if seeds is None else np.asarray(seeds)
    acc = values[:, row_node].reshape(-1)
    out = pd.concat([rows] * n_seeds, ignore_index=True)
    out.insert(0, "seed", np.repeat(seeds, len(rows)))
    pos = n_test // 2
    correct = np.rint(np.clip(acc, 0, 1) * n_test).astype(int)
    tp = np.minimum(correct // 2, pos)
    tn = np.minimum(correct - tp, n_test - pos)
    for col in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "p_true"):
        out[col] = acc
    out["tp"], out["fn"], out["tn"], out["fp"] = tp, pos - tp, tn, n_test - pos - tn
    out["n_test"] = n_test
    return out.reindex(columns=list(CSV_COLUMNS))  # log_loss and brier are not simulated: NaN


def node_means(
    actors: tuple[str, ...],
    *,
    base: float = 0.75,
    untrained: float = 0.5,
    learn: float = 0.0,
    transfer: float = 0.0,
    order_effect: float = 0.0,
    forgetting: float = 0.0,
    shared_gap: float = 0.0,
    actor_effects: tuple[float, ...] | None = None,
) -> np.ndarray:
    """True mean of every node.

    A model that was trained on j scores base + a_j + learn (+ shared_gap for shared models,
    + order_effect * (p-1)/(k-1) when j was trained at position p, - forgetting once any actor
    was trained after j); a model that never saw j scores base + a_j + transfer. With every
    effect zero all shared and fresh nodes have the same mean: no question has an effect.
    """
    _, keys, _ = template(tuple(actors))
    k = len(actors)
    a = dict(zip(actors, actor_effects or (0.0,) * k, strict=True))
    means = np.empty(len(keys))
    for i, (kind, trained, j) in enumerate(keys):
        if kind == "untrained":
            means[i] = untrained
            continue
        prefix = tuple(trained.split(">"))
        if j not in prefix:
            means[i] = base + a[j] + transfer
        elif kind == "fresh":
            means[i] = base + a[j] + learn
        else:
            p, t = prefix.index(j) + 1, len(prefix)
            means[i] = base + a[j] + learn + shared_gap + order_effect * (p - 1) / max(k - 1, 1) - forgetting * (t > p)
    return means


def simulate_results(
    n_seeds: int,
    actors: tuple[str, ...] = ACTORS,
    *,
    rng: np.random.Generator | int | None = None,
    seed_sd: float = 0.03,
    seed_actor_sd: float = 0.02,
    noise_sd: float = 0.03,
    n_test: int = 100,
    discrete: bool = False,
    **effects: float,
) -> pd.DataFrame:
    """A valid results DataFrame: node means (see :func:`node_means`, ``effects``) plus a seed
    effect, a seed x eval-actor effect and independent Gaussian noise per model; ``discrete``
    draws each accuracy as Binomial(n_test, value) / n_test instead (ties, like real runs)."""
    rng = np.random.default_rng(rng)
    actors = tuple(actors)
    _, keys, _ = template(actors)
    means = node_means(actors, **effects)
    eval_idx = np.array([actors.index(j) for _, _, j in keys])
    trained_model = np.array([kind != "untrained" for kind, _, _ in keys])
    u = rng.normal(0, seed_sd, (n_seeds, 1))
    v = rng.normal(0, seed_actor_sd, (n_seeds, len(actors)))
    values = means + trained_model * (u + v[:, eval_idx])
    values = values + rng.normal(0, noise_sd, values.shape)
    if discrete:
        values = rng.binomial(n_test, np.clip(values, 0, 1)) / n_test
    return frame_from_nodes(actors, values, n_test=n_test)


def node_index(actors: tuple[str, ...]) -> dict[NodeKey, int]:
    """Node key -> column of the ``values`` array of :func:`frame_from_nodes`."""
    _, keys, _ = template(tuple(actors))
    return {key: i for i, key in enumerate(keys)}
