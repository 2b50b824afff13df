"""The results.csv schema: one tidy row per evaluation, shared by the store and the statistics."""

import math
import sys
from enum import StrEnum


class Plan(StrEnum):
    """results.csv's ``plan`` column: what a seed trained by plan. Older results.csv have no ``plan``
    (every seed trained the whole tree)."""

    TREE = "tree"  # the whole prefix tree
    FRESH = "fresh"  # only the fresh models (``--seeds auto``, once only Q5 was open)


class Condition(StrEnum):
    """results.csv's ``condition`` column: which model of a seed's prefix tree a row evaluates, in
    the tree's order (root first)."""

    UNTRAINED = "untrained"  # the root: the initial weights, never trained
    FRESH = "fresh"  # a depth-1 node: one model per actor, trained on that actor alone
    SHARED = "shared"  # one model trained on the actors of an order in turn, after each stage


class Alternative(StrEnum):
    """The alternative hypothesis of a test, in scipy's words (``alternative=``). Effects are
    oriented so that positive means better, so no claim tests "less"."""

    TWO_SIDED = "two-sided"
    GREATER = "greater"


METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "tp",
    "fp",
    "tn",
    "fn",
    "n_test",
    "log_loss",
    "brier",
    "p_true",
)
CSV_COLUMNS = ("seed", "condition", "order", "stage", "trained_actor", "eval_actor", "position", *METRICS)

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "p_true": True,
    "log_loss": False,
    "brier": False,
}
"""Every analysable metric and its orientation: effects are signed so that positive means better."""

UNBOUNDED_ABOVE: frozenset[str] = frozenset({"log_loss"})
"""Metrics in [0, inf); every other analysable metric lies in [0, 1]."""
LARGEST_LOG_LOSS = -math.log(sys.float_info.epsilon)
"""scikit-learn clips probabilities at machine epsilon, so no image's log loss exceeds -ln(eps), about 36."""

Metric = StrEnum("Metric", {name.upper(): name for name in HIGHER_IS_BETTER})
"""The metrics ``--metric`` accepts (typer lists and enforces them)."""


class Spending(StrEnum):
    """The shape of group-sequential boundaries over the looks (``--spending``; used by
    ``harness.analysis.sequential``, declared here so the CLI needs no scipy to offer it)."""

    POCOCK = "pocock"  # the same nominal level at every look
    OBF = "obf"  # O'Brien-Fleming: very strict early, close to the fixed-sample level at the end
