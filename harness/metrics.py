"""Scores of one evaluation, from scikit-learn, with the zero-division cases defined."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics

THRESHOLD = 0.5


def score(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Threshold metrics (accuracy ... F1), ROC AUC, the continuous metrics and the confusion counts.

    Precision, recall and F1 are 0 when undefined (no predicted or no true positives); ROC AUC is
    NaN when the test set holds a single class, where it is undefined. The continuous metrics use
    the probabilities themselves, not a 0/1 cut: log-loss (labels fixed to [0, 1], so a one-class
    test set is scored too), the Brier score, and p_true, the mean probability of the true class.
    """
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=np.float64)
    y_pred = (probability >= THRESHOLD).astype(int)
    tn, fp, fn, tp = metrics.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    two_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred) if two_classes else math.nan,
        "precision": metrics.precision_score(y_true, y_pred, zero_division=0),
        "recall": metrics.recall_score(y_true, y_pred, zero_division=0),
        "f1": metrics.f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": metrics.roc_auc_score(y_true, probability) if two_classes else math.nan,
        "log_loss": metrics.log_loss(y_true, probability, labels=[0, 1]),
        "brier": metrics.brier_score_loss(y_true, probability, pos_label=1),
        "p_true": float(np.mean(np.where(y_true == 1, probability, 1 - probability))),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
        "n_test": int(y_true.size),
    }
