"""The continuous metrics: log-loss, Brier score and the mean probability of the true class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from harness.metrics import score
from harness.schema import CSV_COLUMNS, HIGHER_IS_BETTER, METRICS

Y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.6, 0.2, 0.1, 0.7, 0.3, 0.4, 0.5])


def test_continuous_metrics_match_scikit_learn_and_the_definition():
    s = score(Y, P)
    p_true = np.where(Y == 1, P, 1 - P)  # 0.9 0.6 0.2 0.9 0.3 0.7 0.6 0.5
    assert s["p_true"] == pytest.approx(4.7 / 8)
    assert s["p_true"] == pytest.approx(p_true.mean())
    assert s["log_loss"] == pytest.approx(-np.log(p_true).mean())
    assert s["log_loss"] == pytest.approx(skm.log_loss(Y, P, labels=[0, 1]))
    assert s["brier"] == pytest.approx(((P - Y) ** 2).mean())
    assert s["brier"] == pytest.approx(skm.brier_score_loss(Y, P))


def test_continuous_metrics_are_defined_for_one_class_and_certain_predictions():
    one_class = score(np.array([0, 0, 0]), np.array([0.1, 0.9, 0.2]))
    assert one_class["log_loss"] == pytest.approx(-np.log([0.9, 0.1, 0.8]).mean())
    assert one_class["brier"] == pytest.approx((0.01 + 0.81 + 0.04) / 3)
    certain_and_wrong = score(np.array([1, 0]), np.array([0.0, 1.0]))
    assert math.isfinite(certain_and_wrong["log_loss"]) and certain_and_wrong["log_loss"] > 10
    assert certain_and_wrong["p_true"] == 0 and certain_and_wrong["brier"] == 1


def test_every_metric_is_a_stored_column_and_every_analysable_metric_has_a_direction():
    assert set(score(Y, P)) == set(METRICS)
    assert set(METRICS) <= set(CSV_COLUMNS)
    assert set(HIGHER_IS_BETTER) <= set(METRICS)
    assert not HIGHER_IS_BETTER["log_loss"] and not HIGHER_IS_BETTER["brier"] and HIGHER_IS_BETTER["p_true"]
