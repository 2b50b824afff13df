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
    PermuteSpec,
    Settings,
    StudyConfig,
    TrainConfig,
    alpha_problem,
    check_min_effect_range,
    min_effect_problem,
    parse_actors,
    parse_budget,
    parse_seeds,
    recorded,
)
from harness.errors import HarnessError
from harness.schema import LARGEST_LOG_LOSS, Metric


def refused(match: str):
    return pytest.raises(HarnessError, match=match)


@pytest.mark.parametrize("alpha", [1e-12, 0.05, 0.5])
def test_alpha_in_its_range_has_no_problem(alpha):
    assert alpha_problem(alpha) is None


@pytest.mark.parametrize("alpha", [0.0, -0.01, math.nextafter(0.5, 1), 1.0, math.nan])
def test_alpha_out_of_its_range_is_a_problem(alpha):
    assert "is not in (0, 0.5]" in alpha_problem(alpha)


@pytest.mark.parametrize(
    "min_effect, problem",
    [(1e-9, False), (40.0, False), (0.0, True), (-0.05, True), (math.inf, True), (math.nan, True)],
)
def test_min_effect_must_be_positive_and_finite(min_effect, problem):
    assert (min_effect_problem(min_effect) is not None) == problem


@pytest.mark.parametrize(
    "metric, largest", [(Metric.ACCURACY, 1.0), (Metric.ROC_AUC, 1.0), (Metric.LOG_LOSS, LARGEST_LOG_LOSS)]
)
def test_min_effect_up_to_its_metrics_range_is_accepted_and_beyond_refused(metric, largest):
    check_min_effect_range(Settings(metric, min_effect=largest))
    with refused("--min-effect .* is beyond the range of"):
        check_min_effect_range(Settings(metric, min_effect=math.nextafter(largest, math.inf)))


def test_a_metric_is_parsed_once_into_its_enum():
    assert Settings("roc_auc").metric is Metric.ROC_AUC
    with pytest.raises(ValueError):
        Settings("accuracy_typo")


def test_seeds_run_up_to_the_largest_the_store_holds():
    def spec(first: int, count: int) -> PermuteSpec:
        study = StudyConfig(DataConfig(), TrainConfig(), tuple(range(first, first + count)))
        return PermuteSpec(study, None, Settings())

    assert spec(LARGEST_SEED - 4, 5).study.seeds[-1] == LARGEST_SEED
    with refused(f"--first-seed {LARGEST_SEED - 3} with 5 seeds reaches seed {LARGEST_SEED + 1}"):
        spec(LARGEST_SEED - 3, 5)
    assert StudyConfig(DataConfig(), TrainConfig(), (LARGEST_SEED + 1,)).seeds  # replicate stores nothing


def test_the_sequential_schedule_bounds():
    assert Design(max_seeds=4, look_every=4).looks == (4, 8, 12)  # look_every = max_seeds
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
    ("replicate", "--seed", "-1", "0"),
    ("permute", "--first-seed", "-1", "0"),
    ("permute", "--epochs", "0", "1"),
    ("permute", "--workers", "0", "1"),
    ("permute", "--threads", "0", "1"),
    ("permute", "--max-seeds", "0", "1"),
    ("permute", "--look-every", "0", "1"),
    ("permute", "--q5-max-seeds", "0", "1"),
    ("permute", "--alpha", "0", "1e-09"),
    ("permute", "--alpha", "0.5000001", "0.5"),
    ("permute", "--min-effect", "0", "1e-09"),
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


OUTSIDE_A_RUN = [  # report and compare: the option is refused before any file is read
    ("report", "--alpha", "0", "0.5"),
    ("report", "--min-effect", "-1", "1"),
    ("compare", "--alpha", "0.6", "0.5"),
    ("compare", "--min-effect", "0", "0.01"),
]


@pytest.mark.parametrize("command, option, bad, good", OUTSIDE_A_RUN)
def test_report_and_compare_refuse_a_bad_value_before_reading_and_accept_the_boundary(
    tmp_path, command, option, bad, good
):
    runs = [str(tmp_path / "MISSING")] * (2 if command == "compare" else 1)
    result = CliRunner().invoke(app, [command, *runs, option, bad], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    result = CliRunner().invoke(app, [command, *runs, option, good], env={"COLUMNS": "200"})
    assert isinstance(result.exception, HarnessError) and "MISSING" in str(result.exception), result.output


def test_recorded_settings_are_read_as_recorded_and_a_bad_one_names_config_json():
    """A recorded min effect beyond its metric's range (older harnesses accepted one) is read, so an
    override can still report the run; a recorded alpha out of range names config.json."""
    assert recorded({"min_effect": 2.0})[0].min_effect == 2.0
    with refused("config.json records a bad alpha: 0.7 is not in"):
        recorded({"alpha": 0.7})
