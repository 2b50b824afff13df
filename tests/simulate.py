"""Simulated ``results.csv`` tables with the structure of real runs, without training anything.

The noise model is image-level, like a real study's:

* every seed draws its own test images: ``n_pos`` positives per actor and ``n_neg`` negatives
  shared by every actor's test set (as ``harness permute`` does within a seed); each image has a
  latent difficulty shared by every model of that seed;
* a model of the prefix tree has a true accuracy per actor that it inherits from its parent plus
  an innovation (so abilities are correlated along the tree); the fresh model of X IS the
  depth-1 node X (one training, two kinds of rows); the untrained root scores ``untrained``;
* a model answers image i correctly when rho * z_i + sqrt(1 - rho^2) * e < Phi^-1(accuracy)
  (z_i the image's difficulty, e the model's own noise), so its expected accuracy is exactly
  its true accuracy and accuracies lie on the 1/n_test grid, with ties, like real ones;
* planted effects, in accuracy units: ``learn`` (gain on the trained actor), ``transfer`` (on
  actors not trained yet), ``order_effect`` (position k minus position 1, linear),
  ``forgetting`` (drop once another actor is trained after X; per seed drawn with sd
  ``forgetting_sd``), ``actor_effects``; ``seed_sd`` / ``seed_actor_sd`` / ``step_sd`` set the
  seed, seed x actor and tree-innovation noise;
* optionally (:func:`simulate`; defaults unchanged): more fresh models per actor and seed from
  independent initialisations, and each image's probability of its true class (p_true).

Everything is vectorised over studies, so calibration tests can simulate thousands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import permutations

import numpy as np
import pandas as pd
from scipy import stats as sps

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


def node_index(actors: tuple[str, ...]) -> dict[NodeKey, int]:
    """Node key -> column of the ``values`` array of :func:`frame_from_nodes`."""
    _, keys, _ = template(tuple(actors))
    return {key: i for i, key in enumerate(keys)}


def frame_from_nodes(actors: tuple[str, ...], values: np.ndarray, seeds=None, n_test: int = 90) -> pd.DataFrame:
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


@lru_cache(maxsize=16)
def _tree(actors: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], np.ndarray, np.ndarray]:
    """Prefixes of the tree (root first, parents before children), each one's parent, and for
    every node key of :func:`template` the prefix whose model it is (fresh X = prefix (X,))."""
    prefixes: list[tuple[str, ...]] = [()]
    for order in permutations(actors):
        for t in range(1, len(order) + 1):
            if order[:t] not in prefixes:
                prefixes.append(order[:t])
    parent = np.array([prefixes.index(p[:-1]) if p else -1 for p in prefixes])
    _, keys, _ = template(actors)
    model = np.array(
        [
            prefixes.index(() if kind == "untrained" else (trained,) if kind == "fresh" else tuple(trained.split(">")))
            for kind, trained, _ in keys
        ]
    )
    return tuple(prefixes), parent, model


def _target(
    actors: tuple[str, ...], prefix: tuple[str, ...], j: str, effects: dict, actor_effect: dict
) -> tuple[float, float]:
    """Mean accuracy of the model trained on ``prefix`` on actor ``j``, and how many units of
    the (per-seed) forgetting it carries (1 once an actor was trained after j)."""
    k = len(actors)
    if not prefix:
        return effects["untrained"], 0.0
    a = effects["base"] + actor_effect[j]
    if j not in prefix:
        return a + effects["transfer"], 0.0
    p, t = prefix.index(j) + 1, len(prefix)
    return a + effects["learn"] + effects["order_effect"] * (p - 1) / max(k - 1, 1), float(t > p)


DEFAULTS = {
    "untrained": 0.5,
    "base": 0.72,
    "learn": 0.0,
    "transfer": 0.0,
    "order_effect": 0.0,
    "forgetting": 0.0,
}


def expected_p_true(accuracy: float | np.ndarray, sharpness: float | np.ndarray) -> float | np.ndarray:
    """The mean p_true of a model of true ``accuracy`` (:func:`simulate`'s probit of the margin):
    E Phi(s (c - L)) = Phi(c s / sqrt(1 + s^2)) for L ~ N(0, 1), c = Phi^-1(accuracy)."""
    return sps.norm.cdf(sps.norm.ppf(accuracy) * sharpness / np.sqrt(1 + np.square(sharpness)))


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` draws. ``fresh``: the fresh model of X scored on X, for each of its
    ``fresh_inits`` independent initialisations (studies x seeds x inits x actors; init 0 is the
    tree's depth-1 node X); the ``p_true`` arrays are None without a ``sharpness``."""

    accuracy: np.ndarray  # studies x seeds x nodes, as simulate_accuracies
    fresh_accuracy: np.ndarray
    p_true: np.ndarray | None = None
    fresh_p_true: np.ndarray | None = None


def simulate_accuracies(n_studies: int, n_seeds: int, actors: tuple[str, ...] = ACTORS, **options) -> np.ndarray:
    """studies x seeds x nodes accuracies on the 1/(n_pos + n_neg) grid (nodes as in template;
    options: see :func:`simulate`)."""
    return simulate(n_studies, n_seeds, actors, **options).accuracy


def simulate(
    n_studies: int,
    n_seeds: int,
    actors: tuple[str, ...] = ACTORS,
    *,
    rng: np.random.Generator | int | None = None,
    n_pos: int = 45,
    n_neg: int = 45,
    image_corr: float = 0.5,
    seed_sd: float = 0.03,
    seed_actor_sd: float = 0.02,
    step_sd: float = 0.02,
    forgetting_sd: float = 0.0,
    actor_effects: tuple[float, ...] | None = None,
    fresh_inits: int = 1,
    inits_share_seed_effects: bool = False,
    sharpness: float | None = None,
    sharpness_sd: float = 0.0,
    **effects: float,
) -> Simulation:
    """Every node's accuracy, and optionally more fresh models and per-image probabilities.

    ``fresh_inits`` > 1: each seed also trains that many - 1 more fresh models of every actor from
    independent initial weights. They share the seed's test images (the latent z) and the seed's
    split; each draws its own innovation (``step_sd``) and per-image noise, and its own seed and
    seed x actor effects unless ``inits_share_seed_effects`` (those effects then stand for the
    seed's training images rather than its initial weights). ``sharpness`` s: each model also
    gives every image a probability of its true class, Phi(s x margin) with margin =
    Phi^-1(accuracy) - latent, so it is above 0.5 exactly when the 0/1 answer is right (large s:
    p_true tends to accuracy; small s: probabilities near 0.5); see :func:`expected_p_true`.
    ``sharpness_sd``: each model's own confidence, s x exp(N(0, sharpness_sd)) (one draw per model,
    for all its images: p_true then varies between models of equal accuracy). No option changes a
    draw of the default: what they draw comes from a child generator (``rng.spawn``), after
    everything else."""
    unknown = set(effects) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown effects {unknown}")
    effects = {**DEFAULTS, **effects}
    rng = np.random.default_rng(rng)
    actors = tuple(actors)
    k = len(actors)
    prefixes, parent, model = _tree(actors)
    actor_effect = dict(zip(actors, actor_effects or (0.0,) * k, strict=True))
    targets = np.array([[_target(actors, p, j, effects, actor_effect) for j in actors] for p in prefixes])
    mean, forgets = targets[..., 0], targets[..., 1]  # prefixes x actors
    shape = (n_studies, n_seeds)
    # abilities: inherited along the tree, plus seed and seed x actor effects on trained models
    step = rng.normal(0.0, step_sd, (*shape, len(prefixes), k))
    step[..., 0, :] = 0.0
    drift = np.zeros_like(step)
    for i in range(1, len(prefixes)):
        drift[..., i, :] = drift[..., parent[i], :] + step[..., i, :]
    trained = (np.arange(len(prefixes)) > 0)[:, None]
    seed_effect = rng.normal(0.0, seed_sd, (*shape, 1, 1)) + rng.normal(0.0, seed_actor_sd, (*shape, 1, k))
    forgetting = rng.normal(effects["forgetting"], forgetting_sd, (*shape, 1, 1))
    truth = np.clip(mean + trained * (seed_effect + drift) - forgetting * forgets, 0.005, 0.995)
    # images: per seed, positives per actor and negatives shared by every actor's test set
    z = np.concatenate(
        [
            rng.standard_normal((*shape, 1, k, n_pos)),
            np.broadcast_to(rng.standard_normal((*shape, 1, 1, n_neg)), (*shape, 1, k, n_neg)),
        ],
        axis=-1,
    )
    noise = rng.standard_normal((*shape, len(prefixes), k, n_pos + n_neg))
    margin = sps.norm.ppf(truth)[..., None] - (image_corr * z + np.sqrt(1 - image_corr**2) * noise)
    _, keys, _ = template(actors)
    eval_index = np.array([actors.index(j) for _, _, j in keys])
    fresh = np.array([prefixes.index((x,)) for x in actors])  # depth-1 nodes
    margins = [margin[..., fresh, :, :]]  # studies x seeds x trained x eval x images, one per init
    extra = rng.spawn(1)[0] if fresh_inits > 1 or sharpness_sd else None
    if fresh_inits > 1:
        for _ in range(fresh_inits - 1):
            effect = (
                seed_effect
                if inits_share_seed_effects
                else (extra.normal(0.0, seed_sd, (*shape, 1, 1)) + extra.normal(0.0, seed_actor_sd, (*shape, 1, k)))
            )
            own = np.clip(mean[fresh] + effect + extra.normal(0.0, step_sd, (*shape, k, k)), 0.005, 0.995)
            own_noise = extra.standard_normal((*shape, k, k, n_pos + n_neg))
            margins.append(sps.norm.ppf(own)[..., None] - (image_corr * z + np.sqrt(1 - image_corr**2) * own_noise))
    diagonal = np.arange(k)
    fresh_margin = np.stack([m[..., diagonal, diagonal, :] for m in margins], axis=2)  # X's model on X
    accuracy = (margin > 0).mean(axis=-1)  # studies x seeds x prefixes x actors
    out = Simulation(accuracy[..., model, eval_index], (fresh_margin > 0).mean(axis=-1))
    if sharpness is None:
        return out
    sharp = np.full((*shape, len(prefixes), 1, 1), float(sharpness))  # per model
    fresh_sharp = np.full((*shape, fresh_inits, k, 1), float(sharpness))
    if sharpness_sd:
        sharp *= np.exp(extra.normal(0.0, sharpness_sd, sharp.shape))
        fresh_sharp[:, :, 1:] *= np.exp(extra.normal(0.0, sharpness_sd, (*shape, fresh_inits - 1, k, 1)))
    fresh_sharp[:, :, 0] = sharp[..., fresh, 0, :]  # init 0 is the tree's depth-1 node
    p_true = sps.norm.cdf(sharp * margin).mean(axis=-1)
    fresh_p_true = sps.norm.cdf(fresh_sharp * fresh_margin).mean(axis=-1)
    return replace(out, p_true=p_true[..., model, eval_index], fresh_p_true=fresh_p_true)


def simulate_results(n_seeds: int, actors: tuple[str, ...] = ACTORS, *, rng=None, **options) -> pd.DataFrame:
    """One simulated study as results.csv rows (options: see :func:`simulate_accuracies`)."""
    values = simulate_accuracies(1, n_seeds, actors, rng=rng, **options)[0]
    n_test = options.get("n_pos", 45) + options.get("n_neg", 45)
    return frame_from_nodes(tuple(actors), values, n_test=n_test)


def simulate_studies(
    n_studies: int, n_seeds: int, actors: tuple[str, ...] = ACTORS, *, rng=None, chunk: int = 100, **options
):
    """Yield ``n_studies`` simulated studies as results.csv rows, drawn ``chunk`` at a time."""
    rng = np.random.default_rng(rng)
    n_test = options.get("n_pos", 45) + options.get("n_neg", 45)
    for start in range(0, n_studies, chunk):
        for values in simulate_accuracies(min(chunk, n_studies - start), n_seeds, actors, rng=rng, **options):
            yield frame_from_nodes(tuple(actors), values, n_test=n_test)


@dataclass(frozen=True)
class ClaimEvidence:
    """What ``decide_look`` needs of one claim's test (``harness.analysis.sequential.LookEvidence``), made by hand."""

    claim: str
    alternative: str
    p: float
    effect: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    sd: float = math.nan
    n: int = 5
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
