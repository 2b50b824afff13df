"""The study spec (harness.config): every option is validated once, and each boundary value is
fed to it: the last value refused and the first accepted, on both sides where there are two."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.config import (
    LARGEST_SEED,
    MAX_LOOKS,
    DataConfig,
    Design,
    Settings,
    StudyConfig,
    TrainConfig,
    parse_actors,
    parse_budget,
    parse_seeds,
)
from harness.errors import HarnessError
from harness.schema import LARGEST_LOG_LOSS, Metric


def refused(match: str):
    return pytest.raises(HarnessError, match=match)


@pytest.mark.parametrize("alpha", [1e-12, 0.05, 0.5])
def test_alpha_in_its_range_is_accepted(alpha):
    assert Settings(alpha=alpha).alpha == alpha


@pytest.mark.parametrize("alpha", [0.0, -0.01, math.nextafter(0.5, 1), 1.0, math.nan])
def test_alpha_out_of_its_range_is_refused_naming_the_option(alpha):
    with refused(r"--alpha .* is not in \(0, 0.5\]"):
        Settings(alpha=alpha)


@pytest.mark.parametrize(
    "metric, largest", [(Metric.ACCURACY, 1.0), (Metric.ROC_AUC, 1.0), (Metric.LOG_LOSS, LARGEST_LOG_LOSS)]
)
def test_min_effect_up_to_its_metrics_range_is_accepted_and_beyond_refused(metric, largest):
    assert Settings(metric, min_effect=largest).min_effect == largest
    assert Settings(metric, min_effect=1e-9).min_effect == 1e-9
    with refused("--min-effect .* is beyond the range of"):
        Settings(metric, min_effect=math.nextafter(largest, math.inf))


@pytest.mark.parametrize("min_effect", [0.0, -0.05, math.inf, math.nan])
def test_min_effect_not_positive_and_finite_is_refused(min_effect):
    with refused("--min-effect .* is not > 0"):
        Settings(min_effect=min_effect)


def test_a_metric_is_parsed_once_into_its_enum():
    assert Settings("roc_auc").metric is Metric.ROC_AUC
    with pytest.raises(ValueError):
        Settings("accuracy_typo")


def test_seeds_run_from_zero_to_the_largest_the_store_holds():
    study = lambda first, count: StudyConfig(DataConfig(), TrainConfig(), tuple(range(first, first + count)))  # noqa: E731
    assert study(0, 1).seeds == (0,)
    assert study(LARGEST_SEED - 4, 5).seeds[-1] == LARGEST_SEED
    with refused(f"--first-seed {LARGEST_SEED - 3} with 5 seeds reaches seed {LARGEST_SEED + 1}"):
        study(LARGEST_SEED - 3, 5)


def test_the_sequential_schedule_bounds():
    assert Design(max_seeds=4, look_every=4).looks == (4, 8, 12)  # look_every = max_seeds
    assert Design(max_seeds=4, look_every=1).looks[:2] == (1, 2)
    with refused(r"--look-every: look_every must be in \[1, max_seeds=4\], got 0"):
        Design(max_seeds=4, look_every=0)
    with refused(r"--look-every: look_every must be in \[1, max_seeds=4\], got 5"):
        Design(max_seeds=4, look_every=5)
    assert Design(max_seeds=4, look_every=1, q5_max_seeds=4).q5_max_seeds == 4  # Q5's horizon = max_seeds
    with refused("--q5-max-seeds: q5_max_seeds must be at least max_seeds=4, got 3"):
        Design(max_seeds=4, look_every=1, q5_max_seeds=3)
    assert len(Design(max_seeds=MAX_LOOKS, look_every=1, q5_max_seeds=MAX_LOOKS).claim_looks("Q5")) == MAX_LOOKS
    with refused(f"{MAX_LOOKS + 1} looks .* at most {MAX_LOOKS} looks per claim"):
        Design(max_seeds=MAX_LOOKS, look_every=1, q5_max_seeds=MAX_LOOKS + 1)


@pytest.mark.parametrize("text, seeds", [("1", 1), ("20", 20), ("auto", None), (" AUTO ", None)])
def test_seeds_text_accepted(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "", "many"])
def test_seeds_text_refused(text):
    with refused("--seeds must be a positive number of seeds or 'auto'"):
        parse_seeds(text)


@pytest.mark.parametrize("text, seconds", [("1", 1.0), ("0.5", 0.5), ("1s", 1.0), ("90m", 5400.0), ("1h30m", 5400.0)])
def test_budget_text_accepted(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize(
    "text, why", [("0", "positive"), ("0s", "positive"), ("2x", "a duration"), ("h", "a duration")]
)
def test_budget_text_refused(text, why):
    with refused(f"--budget must be {why}"):
        parse_budget(text)


def test_actor_lists():
    assert parse_actors("A", "--actors") == ("A",)
    assert parse_actors(" A , B ", "--order") == ("A", "B")
    with refused("--order 'A,,B' has an empty actor name"):
        parse_actors("A,,B", "--order")
    with refused("--actors 'A,B,A' names an actor twice"):
        parse_actors("A,B,A", "--actors")


RANGES = [  # (command, option, last refused, first accepted): typer enforces the ranges --help shows
    ("data", "--image-size", "21", "22"),
    ("data", "--image-size", "513", "512"),
    ("data", "--max-positives", "9", "10"),
    ("data", "--negatives", "9", "10"),
    ("data", "--data-seed", "-1", "0"),
    ("data", "--seed", "-1", "0"),
    ("permute", "--first-seed", "-1", "0"),
    ("permute", "--epochs", "0", "1"),
    ("permute", "--workers", "0", "1"),
    ("permute", "--threads", "0", "1"),
    ("permute", "--max-seeds", "0", "1"),
]


@pytest.mark.parametrize("command, option, bad, good", RANGES)
def test_each_range_refuses_its_last_bad_value_and_accepts_its_first_good_one(tmp_path, command, option, bad, good):
    """The data folder does not exist: a value accepted gets as far as loading it (the error names
    MISSING), a value refused stops before, with typer's usage error naming the option."""
    args = [command, "--data-dir", str(tmp_path / "MISSING"), "--image-size", "22"]
    if command == "permute":
        args += ["--out", str(tmp_path / "run"), "--seeds", "auto", "--max-seeds", "1", "--look-every", "1"]
    result = CliRunner().invoke(app, [*args, option, bad], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and option in result.output and "MISSING" not in result.output, result.output
    result = CliRunner().invoke(app, [*args, option, good], env={"COLUMNS": "200"})
    assert isinstance(result.exception, HarnessError) and "MISSING" in str(result.exception), result.output
