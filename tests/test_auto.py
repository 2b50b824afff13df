"""`harness permute --seeds auto`: option parsing at the edge, and real tiny sequential studies on LFW
(32 px, 1 epoch): looks recorded, SIGKILL after a look then resume gives the same looks and report,
a budget stop, and a changed design refused."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from test_permute import SMALL, harness_process, invoke, results

import harness.auto
from harness.analysis import primary_tests
from harness.config import parse_budget, parse_seeds
from harness.errors import HarnessError
from harness.report.sequential import HEADING

HARNESS = [str(Path(sys.executable).with_name("harness"))]
TINY = [*SMALL, "--max-positives", "30", "--negatives", "30"]  # the later values win
# Looks at 3 seeds (every claim) and at 6 (Q5 alone, on its own horizon): seeds 3-5 train only the fresh models.
AUTO = ["--seeds", "auto", "--look-every", "3", "--max-seeds", "3", "--q5-max-seeds", "6"]
FULL, PARTIAL = [0, 1, 2], [3, 4, 5]


def test_seeds_and_budget_are_parsed_at_the_edge():
    assert parse_seeds("12") == 12 and parse_seeds("auto") is None and parse_seeds(" AUTO ") is None
    for bad in ("0", "-3", "many", "2.5"):
        with pytest.raises(HarnessError, match="--seeds must be"):
            parse_seeds(bad)
    assert parse_budget("2h") == 7200 and parse_budget("90m") == 5400 and parse_budget("1h30m") == 5400
    assert parse_budget("600") == 600 and parse_budget("45s") == 45 and parse_budget(None) is None
    for bad in ("soon", "2d", "0", "h"):
        with pytest.raises(HarnessError, match="--budget must be"):
            parse_budget(bad)


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--seeds", "lots"], "--seeds"),
        (["--seeds", "auto", "--budget", "tomorrow"], "--budget"),
        (["--seeds", "auto", "--look-every", "8", "--max-seeds", "6"], "--look-every"),
        (["--seeds", "auto", "--look-every", "1", "--max-seeds", "200"], "--look-every"),  # 600 looks for Q5
        (["--seeds", "auto", "--max-seeds", "20", "--q5-max-seeds", "10"], "--q5-max-seeds"),
    ],
)
def test_bad_sequential_options_exit_2_with_one_line_before_any_work(extra, option, tmp_path):
    process = harness_process(["permute", *extra, "--out", str(tmp_path / "x"), "--data-home", str(tmp_path)])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and option in lines[0], stderr
    assert not (tmp_path / "x").exists()


def auto_args(lfw_home: Path, out: Path, *extra: str) -> list[str]:
    return ["permute", *AUTO, *TINY, "--data-home", str(lfw_home), "--out", str(out), *extra]


def looks(run_dir: Path) -> pd.DataFrame:
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        return pd.read_sql_query("SELECT * FROM looks ORDER BY look, claim", db).drop(columns="recorded")


def sequential_section(run_dir: Path) -> str:
    markdown = (run_dir / "report.md").read_text()
    start = markdown.index(HEADING)
    return markdown[start : markdown.index("\n## ", start + 1)]


def stored_trainings_of(run_dir: Path, seeds: list[int]) -> int:
    try:
        with sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True, timeout=5) as db:
            marks = ", ".join("?" * len(seeds))
            return db.execute(f"SELECT COUNT(*) FROM trainings WHERE seed IN ({marks})", seeds).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def trainings(run_dir: Path) -> pd.DataFrame:
    """Which nodes were trained (not how fast)."""
    return pd.read_csv(run_dir / "trainings.csv")[["seed", "path", "stage", "trained_actor", "n_train"]]


@pytest.fixture(scope="module")
def uninterrupted(lfw_home, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("auto")
    # A fresh process, as the resumed run it is compared with: once the test process has trained other
    # studies in-process, its results differed in the last bits of one value (the state behind it is not found).
    done = subprocess.run([*HARNESS, *auto_args(lfw_home, run_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    output = " ".join(done.stdout.split())  # the console wraps at 80 columns
    assert "look 1 of 2 at 3 seeds; open claims: Q1, Q2, Q3, Q4, Q5 (new seeds train every order)" in output
    assert "look 2 of 2 at 6 seeds; open claims: Q5 (new seeds train the fresh models only)" in output
    return run_dir


@pytest.mark.slow
def test_a_sequential_study_records_its_design_looks_and_stopping_reason(uninterrupted):
    config = json.loads((uninterrupted / "config.json").read_text())["config"]
    assert config["design"] == {
        "max_seeds": 3,
        "look_every": 3,
        "spending": "pocock",
        "alpha": 0.05,
        "min_effect": 0.05,
        "q5_max_seeds": 6,
    }
    recorded = looks(uninterrupted)
    assert set(recorded["look"]) == {0, 1} and (recorded.query("look == 0")["seeds"] == 3).all()
    assert set(recorded.query("look == 0")["claim"]) == {"Q1", "Q2", "Q3", "Q4", "Q5"}
    assert set(recorded.query("look == 1")["claim"]) == {"Q5"}, "Q1-Q4 are at their horizon; Q5 goes on"
    summary = json.loads((uninterrupted / "sequential.json").read_text())
    assert summary["stop"] in ("every claim decided", "max seeds reached")
    assert summary["seeds"] == results(uninterrupted)["seed"].nunique() == 6
    section = sequential_section(uninterrupted)
    assert f"Stopped after {summary['seeds']} seeds: {summary['stop']}" in section
    assert "repeated p-value" in section and "Jennison & Turnbull" in section


@pytest.mark.slow
def test_seeds_after_q1_to_q4_train_only_the_fresh_models_and_the_report_says_so(uninterrupted):
    trainings = pd.read_csv(uninterrupted / "trainings.csv")
    per_seed = trainings.groupby("seed").size()
    assert per_seed.loc[FULL].tolist() == [15] * 3 and per_seed.loc[PARTIAL].tolist() == [3] * 3
    assert set(trainings.query("seed in @PARTIAL")["stage"]) == {1}
    rows = results(uninterrupted)
    assert set(rows.query("seed in @PARTIAL")["condition"]) == {"untrained", "fresh"}  # which seeds are partial
    assert rows.groupby("seed")["plan"].agg(set).to_dict() == {s: {"tree" if s in FULL else "fresh"} for s in range(6)}
    with sqlite3.connect(uninterrupted / "results.sqlite") as db:
        assert dict(db.execute("SELECT seed, depth FROM plans").fetchall()) == {0: 3, 1: 3, 2: 3, 3: 1, 4: 1, 5: 1}
    summary = json.loads((uninterrupted / "sequential.json").read_text())
    assert summary["trainings"] == 3 * 15 + 3 * 3 and summary["partial_seeds"] == PARTIAL
    assert summary["claim_seeds"] == {"Q1": 3, "Q2": 3, "Q3": 3, "Q4": 3, "Q5": 6}
    section = sequential_section(uninterrupted)
    assert "54 trainings" in section and "seeds 3-5 trained only the fresh models" in section
    # The fixed-design section analyses each claim on the seeds that hold its nodes, and says how many.
    verdicts = pd.read_csv(uninterrupted / "verdicts.csv").query("family == 'primary'").set_index("question")
    assert verdicts.loc[["Q1", "Q2", "Q3", "Q4"], "n"].tolist() == [3] * 4 and verdicts.loc["Q5", "n"] == 6
    report = (uninterrupted / "report.md").read_text()
    assert "tested on the 3 seeds that trained the whole tree; 3 seeds trained only the fresh models, by plan" in report
    assert "missing data" not in report


@pytest.mark.slow
def test_a_study_with_every_claim_shown_at_its_first_look_stops_there_and_resumes(lfw_home, tmp_path, monkeypatch):
    """Every claim shown at one look (the real run's evidence, its p made 1e-9 by hand: no tiny run
    shows five claims): the study stops after that look, and the same command again, resuming at
    that look, trains nothing, re-tests nothing and writes the same report."""

    def shown(results: pd.DataFrame, metric: str) -> list:
        return [replace(e, p=1e-9) for e in primary_tests(results, metric)]

    monkeypatch.setattr(harness.auto, "primary_tests", shown)
    run_dir = tmp_path / "shown"
    args = ["permute", "--seeds", "auto", "--look-every", "2", "--max-seeds", "2", "--q5-max-seeds", "4", *TINY]
    args += ["--data-home", str(lfw_home), "--out", str(run_dir)]
    first = " ".join(invoke(args).output.split())
    recorded = looks(run_dir)
    assert set(recorded["look"]) == {0} and (recorded["decision"] == "effect").all() and len(recorded) == 5
    summary = json.loads((run_dir / "sequential.json").read_text())
    assert summary["stop"] == "every claim decided" and summary["seeds"] == 2 and "look 1 of" in first
    assert "at most 36 trainings (to the horizons)" in first  # 2 whole trees, then 2 fresh-only seeds for Q5
    report = sequential_section(run_dir)
    again = " ".join(invoke(args).output.split())
    assert "look 2 of" not in again and looks(run_dir).equals(recorded)
    assert len(pd.read_csv(run_dir / "trainings.csv")) == 2 * 15
    assert json.loads((run_dir / "sequential.json").read_text())["stop"] == "every claim decided"
    assert sequential_section(run_dir) == report


@pytest.mark.slow
def test_sigkill_among_partial_seeds_then_resume_gives_the_same_looks_and_report(uninterrupted, lfw_home, tmp_path):
    run_dir = tmp_path / "killed"
    process = harness_process(auto_args(lfw_home, run_dir))
    while stored_trainings_of(run_dir, PARTIAL) < 1:
        assert process.poll() is None, f"permute ended early: {process.stderr.read()}"
    process.send_signal(signal.SIGKILL)  # after the first look, while the seeds that only Q5 needs train
    process.wait()
    first_look = looks(run_dir)
    assert set(first_look["look"]) == {0}

    # A budget no look can fit (10 ms) stops the study at the recorded look (budget is not design).
    stopped = invoke(auto_args(lfw_home, run_dir, "--budget", "0.01s")).output
    assert "stopped after 3 seeds: the next look would exceed the budget" in stopped
    pd.testing.assert_frame_equal(looks(run_dir), first_look)  # the recorded look is not re-tested

    resumed = harness_process(auto_args(lfw_home, run_dir))  # a fresh process, as `uninterrupted`
    _, errors = resumed.communicate()
    assert resumed.returncode == 0, errors
    pd.testing.assert_frame_equal(looks(run_dir), looks(uninterrupted))
    pd.testing.assert_frame_equal(trainings(run_dir), trainings(uninterrupted))  # the same plan: 3 trainings a seed
    pd.testing.assert_frame_equal(results(run_dir), results(uninterrupted))
    assert sequential_section(run_dir) == sequential_section(uninterrupted)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "verdicts.csv"), pd.read_csv(uninterrupted / "verdicts.csv"))


@pytest.mark.slow
def test_another_design_on_the_same_run_directory_is_refused(uninterrupted, lfw_home):
    with pytest.raises(HarnessError, match="different study.*design"):
        invoke(auto_args(lfw_home, uninterrupted, "--spending", "obf"))
    with pytest.raises(HarnessError, match="different study"):
        invoke(["permute", "--seeds", "6", *TINY, "--data-home", str(lfw_home), "--out", str(uninterrupted)])
