"""Train/test splits: leak-free by default, or the original notebook's for replication.

``disjoint`` (default): each actor's positives are split 70/30, and the negative pool is split
70/30 once and shared by every actor, so no image tested at any stage is trained on at another.
``original``: each actor's positives + negatives are split together with ``random_state=42``,
as the notebook did; a negative trained with one actor can then sit in another actor's test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from harness.choices import Protocol
from harness.data.dataset import NEGATIVES, Dataset

TEST_SIZE = 0.3
ORIGINAL_RANDOM_STATE = 42


@dataclass(frozen=True)
class ActorSplit:
    """Indices into the actor's positives and into the negative pool."""

    train_pos: np.ndarray
    train_neg: np.ndarray
    test_pos: np.ndarray
    test_neg: np.ndarray


Split = dict[str, ActorSplit]


def disjoint_split(dataset: Dataset, seed_sequence: np.random.SeedSequence) -> Split:
    """Per-actor positive splits and ONE negative split shared by all actors."""
    rng = np.random.default_rng(seed_sequence)

    def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
        state = int(rng.integers(2**31 - 1))
        return tuple(train_test_split(np.arange(n), test_size=TEST_SIZE, random_state=state))

    train_neg, test_neg = halves(len(dataset.negatives.paths))
    split = {}
    for actor in dataset.actors:
        train_pos, test_pos = halves(len(dataset.positives[actor].paths))
        split[actor] = ActorSplit(train_pos, train_neg, test_pos, test_neg)
    return split


def original_split(dataset: Dataset) -> Split:
    """The notebook's split: positives + negatives of each actor shuffled together, seed 42."""
    n_neg = len(dataset.negatives.paths)
    split = {}
    for actor in dataset.actors:
        n_pos = len(dataset.positives[actor].paths)
        labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
        index = np.r_[np.arange(n_pos), np.arange(n_neg)]
        train, test = train_test_split(
            np.arange(n_pos + n_neg), test_size=TEST_SIZE, random_state=ORIGINAL_RANDOM_STATE
        )
        split[actor] = ActorSplit(
            train_pos=index[train][labels[train] == 1],
            train_neg=index[train][labels[train] == 0],
            test_pos=index[test][labels[test] == 1],
            test_neg=index[test][labels[test] == 0],
        )
    return split


def make_split(dataset: Dataset, protocol: Protocol, seed_sequence: np.random.SeedSequence) -> Split:
    if Protocol(protocol) == Protocol.ORIGINAL:
        return original_split(dataset)
    return disjoint_split(dataset, seed_sequence)


def part_indices(split: Split, actor: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the actor's positives and into the negatives of its ``train`` or ``test`` part."""
    indices = split[actor]
    return getattr(indices, f"{part}_pos"), getattr(indices, f"{part}_neg")


def stage_arrays(dataset: Dataset, split: Split, actor: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels (1 = this actor) of one actor's ``train`` or ``test`` part."""
    pos, neg = part_indices(split, actor, part)
    x = np.concatenate([dataset.positives[actor].pixels[pos], dataset.negatives.pixels[neg]])
    y = np.r_[np.ones(len(pos), np.float32), np.zeros(len(neg), np.float32)]
    return x, y


def stage_ids(dataset: Dataset, split: Split, actor: str, part: str) -> list[str]:
    """The image ids of ``stage_arrays``' rows, in the same order."""
    pos, neg = part_indices(split, actor, part)
    return [dataset.image_ids[actor][i] for i in pos] + [dataset.image_ids[NEGATIVES][i] for i in neg]


def leaks(dataset: Dataset, split: Split) -> list[tuple[str, str, str]]:
    """Files trained on with one actor and tested with another: (file, trained with, tested with)."""

    def files(actor: str, part: str) -> set[str]:
        pos, neg = part_indices(split, actor, part)
        return {str(dataset.positives[actor].paths[i]) for i in pos} | {str(dataset.negatives.paths[i]) for i in neg}

    found = []
    for trained in dataset.actors:
        train_files = files(trained, "train")
        for tested in dataset.actors:
            found += [(f, trained, tested) for f in sorted(train_files & files(tested, "test"))]
    return found
