"""harness.report: files, sections, JSON, CSV, the first table, metric recording, errors, imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from simulate import simulate_results
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from harness.analysis import Claim
from harness.cli import app
from harness.errors import HarnessError
from harness.report import PLOTS, SECTIONS, VERDICT_COLUMNS, write_report

ROOT = Path(__file__).resolve().parents[1]
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def write_run(run_dir: Path, df: pd.DataFrame, optional: bool = False, metric: str | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(run_dir / "results.csv", index=False)
    if optional:
        config = {"epochs": 60, "precision": "float32", "actors": ["A", "B"]}
        if metric:
            config["metric"] = metric
        (run_dir / "config.json").write_text(
            json.dumps(
                {
                    "config": config,
                    "dataset": {"name": "lfw", "images": 1234},
                    "versions": {"python": "3.11.7", "tensorflow": "2.16.1"},
                    "machine": {"cpu": "test cpu", "cores": 2},
                    "seeds": [0, 1, 2],
                }
            )
        )
        pd.DataFrame(
            {
                "seed": [0, 0, 1],
                "path": ["shared", "fresh", "shared"],
                "n_train": [100, 100, 100],
                "seconds": [10.0, 12.0, 11.0],
                "images_per_second": [600.0, 500.0, 545.0],
            }
        ).to_csv(run_dir / "trainings.csv", index=False)
        pd.DataFrame(
            {
                "started": ["2024-06-01T10:00:00"],
                "finished": ["2024-06-01T11:00:00"],
                "wall_seconds": [3600.0],
                "trainings_run": [42],
                "trainings_skipped": [0],
            }
        ).to_csv(run_dir / "sessions.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    df = simulate_results(10, rng=2, learn=0.2, base=0.55, forgetting=0.12)
    run_dir = write_run(tmp_path_factory.mktemp("full"), df, optional=True, metric="accuracy")
    write_report(run_dir)
    return run_dir


def sections_in_order(md: str) -> bool:
    positions = [md.find(s + "\n") for s in SECTIONS]
    return all(p >= 0 for p in positions) and positions == sorted(positions)


def first_table(md: str) -> list[list[str]]:
    """Rows of the table that opens section 1."""
    part = md.split(SECTIONS[0], 1)[1].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()[2:]]


def assert_valid_json(path: Path) -> dict:
    def reject(token: str):
        raise AssertionError(f"{path} holds {token}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_full_report_files(full_run):
    for name in ["report.md", "report.json", "verdicts.csv", *PLOTS.values()]:
        assert (full_run / name).is_file() and (full_run / name).stat().st_size > 0, name
    assert not list(full_run.glob(".*.tmp"))  # atomic writes leave no temporary files
    md = (full_run / "report.md").read_text()
    assert sections_in_order(md) and not NAN.search(md)
    for png in PLOTS.values():
        assert f"]({png})" in md and (full_run / png).read_bytes()[:4] == b"\x89PNG"
    verdicts = pd.read_csv(full_run / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == list(VERDICT_COLUMNS)
    assert verdicts["family"].tolist() == ["primary"] * 5 + ["exploratory"] * 13
    assert verdicts.loc[verdicts["family"] == "primary", "question"].tolist() == list(Claim)
    q3 = verdicts[(verdicts["family"] == "primary") & (verdicts["question"] == "Q3")].iloc[0]
    assert q3["verdict"] == "real" and float(q3["ci_low"]) > 0


def test_report_opens_with_the_five_claims(full_run):
    md = (full_run / "report.md").read_text()
    assert md.splitlines()[0].endswith("Primary analysis of accuracy (the primary metric, recorded in config.json).")
    assert md.index(SECTIONS[0]) < md.index("![")  # the answer before the plots
    rows = first_table(md)
    assert [r[0] for r in rows] == [f'"{c.words}"' for c in Claim]
    assert all(len(r) == 9 and all(r) for r in rows)
    forgets = rows[2]
    assert forgets[2].startswith("real") and forgets[3] == "supports the claim"
    assert re.fullmatch(r"0\.\d+ \[0\.\d+, 0\.\d+\]", forgets[4])  # effect with its 95 % t-interval
    assert forgets[5] != "-" and forgets[6] != "-" and len(forgets[8].split(", ")) == 10  # per-seed values
    assert rows[0][5] == "-" and "later - first position" in rows[0][4]  # Q1: exact p only, contrast


def test_full_report_json(full_run):
    data = assert_valid_json(full_run / "report.json")
    assert data["n_seeds"] == 10 and data["k"] == 3 and len(data["orders"]) == 6
    assert [d["question"] for d in data["primary"]] == list(Claim) and len(data["exploratory"]) == 13
    q3 = data["primary"][2]
    assert q3["claim"] == "the shared model forgets" and q3["verdict"] == "real" and len(q3["per_seed"]) == 10
    assert {"p", "p_exact", "p_adjusted", "ci_low", "ci_high", "fragile", "sign_flip_disagrees", "test"} <= set(q3)
    assert data["primary"][0]["contrast_later_minus_first"]["ci_low"] is not None
    assert data["provenance"]["sessions"]["total_wall_seconds"] == 3600.0
    assert len(data["accuracy_matrices"]) == 6 and data["cl_metrics"][-1]["order"] == "all orders"
    assert data["wilson"][0]["n_test"] == 90 and data["exploratory_metric"] is False
    csv = pd.read_csv(full_run / "verdicts.csv")
    js = pd.DataFrame(data["primary"] + data["exploratory"])
    np.testing.assert_allclose(csv["p_adjusted"], js["p_adjusted"].astype(float))


def test_full_report_content(full_run):
    md = (full_run / "report.md").read_text()
    exploratory = md.split(SECTIONS[2])[1].split(SECTIONS[3])[0]
    assert exploratory.count("\n| Q") == 13 + 1 and "sign-flip, exact, 1024 permutations" in exploratory
    power = md.split(SECTIONS[3])[1].split(SECTIONS[4])[0]
    assert "Wilson" in power and "| 90 |" in power and "Seeds for 80 % power" in power
    matrices = md.split(SECTIONS[4])[1].split(SECTIONS[5])[0]
    assert matrices.count("### ") == 7 and " ± " in matrices and "BWT" in matrices
    provenance = md.split(SECTIONS[5])[1]
    assert "test cpu" in provenance and "tensorflow" in provenance
    assert "total_wall_seconds = 3600.0" in provenance and "not recorded" not in provenance


def test_report_on_another_metric_says_so_first(tmp_path):
    run_dir = write_run(tmp_path / "run", simulate_results(6, rng=1), optional=True, metric="accuracy")
    written = write_report(run_dir, metric="f1", alpha=0.1, min_effect=0.1)
    first = "EXPLORATORY: f1 is not the primary metric (accuracy, recorded in config.json)"
    assert written.lines[0].startswith(first)
    assert written.report_md.read_text().splitlines()[0].startswith(f"# Report: run. {first}")
    assert assert_valid_json(run_dir / "report.json")["exploratory_metric"] is True


def test_report_defaults_to_the_recorded_metric(tmp_path):
    df = simulate_results(6, rng=1)
    df["f1"] = 1 - df["accuracy"]  # a different column: which one was analysed shows in the effects
    run_dir = write_run(tmp_path / "run", df, optional=True, metric="f1")
    written = write_report(run_dir)
    assert written.analysis.metric == "f1" and written.lines[0].startswith("Primary analysis of f1")


def test_q2_real_makes_q1_real_in_the_report(tmp_path):
    """Closed testing: Q2's contrast is Q1's planned contrast, so a report never says Q2 is real while
    "order does not matter" is undecided. In this simulated study (order effect 0.05, 5 seeds) Q1's
    own Holm-adjusted Friedman p is above alpha; Q1 is real as Q2 is, and the report says so."""
    from harness.analysis import Verdict
    from harness.report.primary import AGAINST

    run_dir = write_run(tmp_path / "run", simulate_results(5, rng=36, order_effect=0.05))
    written = write_report(run_dir)
    q1, q2 = written.analysis.primary[:2]
    own = multipletests([d.p for d in written.analysis.primary], method="holm")[1]
    assert own[0] >= 0.05 > own[1] and q1.p_adjusted == pytest.approx(own[1])
    assert q2.verdict is Verdict.REAL and q1.verdict is Verdict.REAL and q1.shown_by == "Q2"
    md = written.report_md.read_text()
    row = first_table(md)[0]
    assert row[2].startswith("real, as Q2 is") and row[3] == AGAINST
    assert "**Q1 is real as Q2 is** (closed testing)" in md and "One piece of evidence, not two." in md
    assert written.lines[1].startswith('Q1 "order does not matter": real, as Q2 is;') and AGAINST in written.lines[1]
    verdicts = pd.read_csv(run_dir / "verdicts.csv")
    assert verdicts.loc[0, "verdict"] == "real, as Q2 is" and verdicts.loc[0, "question"] == "Q1"


def test_q2_real_implies_q1_real_in_simulated_studies():
    from harness.analysis import Verdict, primary_tests
    from harness.analysis.families import decide_primary

    studies = [simulate_results(5, rng=rng, order_effect=0.08) for rng in range(40)]
    pairs = [decide_primary(primary_tests(df, "accuracy"), 0.05, 0.05)[:2] for df in studies]
    assert all(q2.verdict is not Verdict.REAL or q1.verdict is Verdict.REAL for q1, q2 in pairs)
    assert sum(q2.verdict is Verdict.REAL for _, q2 in pairs) >= 20  # the implication was put to the test
    assert any(q1.shown_by == "Q2" for q1, _ in pairs)  # and needed: Q1's own test did not reach alpha


def test_a_run_without_recorded_alpha_reads_as_what_it_did(tmp_path):
    """Run directories from before alpha and min effect were recorded: a sequential one's design
    says what the study used; otherwise the defaults, and an option departing from them says so."""
    run_dir = write_run(tmp_path / "run", simulate_results(6, rng=1), optional=True, metric="accuracy")
    record = json.loads((run_dir / "config.json").read_text())
    record["config"]["design"] = {
        "max_seeds": 20,
        "look_every": 5,
        "spending": "pocock",
        "alpha": 0.01,
        "min_effect": 0.1,
    }
    (run_dir / "config.json").write_text(json.dumps(record))
    written = write_report(run_dir)
    assert (written.analysis.alpha, written.analysis.min_effect) == (0.01, 0.1)
    assert written.lines[0] == "Primary analysis of accuracy (the primary metric, recorded in config.json)."
    del record["config"]["design"]
    (run_dir / "config.json").write_text(json.dumps(record))
    written = write_report(run_dir, min_effect=0.1)
    assert written.analysis.alpha == 0.05 and written.lines[0] == (
        "EXPLORATORY: min effect 0.1 departs from the recorded settings (min effect 0.05, assumed: config.json "
        "records none); the verdicts below are not the study's pre-specified answer."
    )


def test_report_without_optional_files(tmp_path):
    run_dir = write_run(tmp_path / "run", simulate_results(6, rng=1))
    written = write_report(run_dir)
    md = written.report_md.read_text()
    assert "assumed: config.json records none" in md.splitlines()[0]
    assert sections_in_order(md) and not NAN.search(md)
    provenance = md.split(SECTIONS[5])[1]
    assert "config.json: not recorded" in provenance and "sessions.csv (wall time): not recorded" in provenance


@pytest.mark.parametrize("case", ["two_seeds", "two_actors", "no_fresh", "five_seeds"])
def test_degenerate_reports(tmp_path, case):
    df = {
        "two_seeds": lambda: simulate_results(2, rng=0, forgetting=0.1),
        "two_actors": lambda: simulate_results(6, ("A_a", "B_b"), rng=0, forgetting=0.1),
        "no_fresh": lambda: simulate_results(6, rng=0).query("condition != 'fresh'"),
        "five_seeds": lambda: simulate_results(5, rng=0, forgetting=0.1, forgetting_sd=0.02),
    }[case]()
    run_dir = write_run(tmp_path / case, df)
    md = write_report(run_dir).report_md.read_text()
    assert sections_in_order(md) and not NAN.search(md)
    rows = first_table(md)
    assert len(rows) == 5 and all(r[2] for r in rows)
    verdicts = pd.read_csv(run_dir / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == list(VERDICT_COLUMNS)
    assert_valid_json(run_dir / "report.json")
    if case == "five_seeds":
        assert rows[2][2].startswith("real")
        assert set(verdicts.loc[verdicts["family"] == "exploratory", "verdict"]) <= {
            "cannot be shown with 5 seeds",
            "not shown",
        }
    if case == "two_seeds":
        assert all(r[2].startswith("n/a: too few seeds") for r in rows)


def test_missing_and_bad_results_raise_one_line(tmp_path):
    with pytest.raises(HarnessError) as err:
        write_report(tmp_path)
    assert str(tmp_path / "results.csv") in str(err.value) and "harness permute" in str(err.value)
    path = tmp_path / "results.csv"
    path.write_text("")
    with pytest.raises(HarnessError, match="is empty"):
        write_report(tmp_path)
    df = simulate_results(3, rng=0)
    df.loc[5, "accuracy"] = 1.5
    df.to_csv(path, index=False)
    with pytest.raises(HarnessError, match=r"results\.csv line 7 .*accuracy 1\.5 is outside \[0, 1\]"):
        write_report(tmp_path)
    assert not (tmp_path / "report.md").exists()  # refused before anything is written


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, harness.report, harness.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_report_prints_the_five_claims_and_regenerates_everything(full_run, tmp_path):
    run_dir = write_run(tmp_path / "copy", pd.read_csv(full_run / "results.csv"), optional=True, metric="accuracy")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--alpha", "0.05"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Primary analysis of accuracy")
    assert [line.split(" ", 1)[0] for line in lines[1:6]] == list(Claim)
    assert lines[3].startswith('Q3 "the shared model forgets": real')
    assert lines[-1] == f"wrote {run_dir / 'report.md'}"
    assert (run_dir / "verdicts.csv").read_text() == (full_run / "verdicts.csv").read_text()


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--alpha", "5", "not in (0, 0.5]"),
        ("--alpha", "0", "not in (0, 0.5]"),
        ("--alpha", "-0.5", "not in (0, 0.5]"),
        ("--alpha", "nan", "not in (0, 0.5]"),
        ("--min-effect", "-0.05", "is not > 0"),
        ("--min-effect", "0", "is not > 0"),
        ("--metric", "seed", "'seed' is not one of"),
    ],
)
def test_cli_report_refuses_bad_options(full_run, option, value, expected):
    """typer refuses a choice; the spec (harness.config.Settings) a value: one HarnessError line, exit 2."""
    result = CliRunner().invoke(app, ["report", str(full_run), option, value], env={"COLUMNS": "200"})
    refusal = result.exception if isinstance(result.exception, HarnessError) else None
    code, text = (refusal.exit_code, str(refusal)) if refusal else (result.exit_code, result.output)
    assert code == 2 and expected in text, result.output


@pytest.mark.parametrize("metric, largest", [("accuracy", "1"), ("log_loss", "36.04")])
def test_a_min_effect_beyond_the_metric_range_is_one_line_before_anything_is_written(tmp_path, metric, largest):
    df = simulate_results(6, rng=1)
    run_dir = write_run(tmp_path / "run", df.assign(log_loss=1 - df["accuracy"]))
    result = CliRunner().invoke(app, ["report", str(run_dir), "--metric", metric, "--min-effect", "1e308"])
    message = str(result.exception)
    assert isinstance(result.exception, HarnessError) and "\n" not in message
    assert message.startswith(f"--min-effect 1e+308 is beyond the range of {metric} (no difference exceeds {largest})")
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.csv"]


def test_cli_help_states_the_ranges():
    result = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "in (0, 0.5]" in text and "(> 0, in metric units)" in text and "accuracy" in text


def test_cli_report_without_results_exits_2_with_one_line(tmp_path):
    harness = Path(sys.executable).with_name("harness")
    done = subprocess.run([str(harness), "report", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "results.csv" in done.stderr


def test_reading_of_each_verdict():
    from harness.analysis.families import Family, decide_primary, difference_evidence
    from harness.report.primary import AGAINST, CANNOT_TELL, SUPPORTS, reading

    def decided(claim: Claim, values: list[float]):
        series = pd.Series(values, index=pd.Index(range(len(values)), name="seed"))
        return decide_primary((difference_evidence(Family.PRIMARY, claim, "", series),), 0.05, 0.05)[0]

    assert reading(decided(Claim.Q3, [0.1, 0.12, 0.09, 0.11, 0.1])) == SUPPORTS
    assert reading(decided(Claim.Q3, [0.004, -0.003, 0.001, 0.002, -0.001, 0.0, 0.003, -0.002])) == AGAINST
    assert reading(decided(Claim.Q2, [-0.1, -0.12, -0.09, -0.11, -0.1])) == SUPPORTS  # fresh beats shared
    assert reading(decided(Claim.Q2, [0.1, 0.12, 0.09, 0.11, 0.1])) == AGAINST
    # a retention clearly below 0 rules out one of 0.05 or more (one-sided equivalence): against "memory"
    assert reading(decided(Claim.Q4, [-0.1, -0.12, -0.09, -0.11, -0.1])) == AGAINST
    assert reading(decided(Claim.Q4, [-0.03, 0.09, 0.0, 0.07, 0.02])) == CANNOT_TELL


def test_a_one_sided_real_claim_whose_95_interval_reaches_below_zero_is_explained():
    """At Holm's last step a one-sided test rejects at alpha, where the two-sided 95 % interval can
    still reach below 0: the report must not leave "real" beside that interval unexplained."""
    from types import SimpleNamespace

    from harness.analysis.families import Family, decide_primary, difference_evidence
    from harness.report.primary import section

    def evidence(claim: Claim, values: list[float]):
        series = pd.Series(values, index=pd.Index(range(len(values)), name="seed"))
        return difference_evidence(Family.PRIMARY, claim, "", series)

    q3 = [0.05, -0.01, 0.04, 0.0, 0.03, 0.02]  # one-sided p 0.035, 95 % CI [-0.003, 0.046]
    family = (
        evidence(Claim.Q2, [0.1, 0.11, 0.12, 0.1, 0.13, 0.1]),
        evidence(Claim.Q3, q3),
        evidence(Claim.Q4, [0.2, 0.21, 0.2, 0.22, 0.2, 0.23]),
    )
    decisions = decide_primary(family, 0.05, 0.05)
    d = decisions[1]
    assert d.verdict == "real" and d.ci_low < 0
    a = SimpleNamespace(primary=decisions, alpha=0.05, min_effect=0.05, seeds=range(6), metric="accuracy")
    text = "\n".join(section(a))
    lower = sps.t.ppf(0.05, 5) * np.std(q3, ddof=1) / np.sqrt(6) + np.mean(q3)  # one-sided 95 % bound
    assert lower > 0
    note = next(line for line in text.splitlines() if line.startswith("- **Q3 is real by its one-sided"))
    assert "one-sided" in note and f"{lower:.3f}" in note
    assert text.count("is real by its one-sided test") == 1  # Q4's interval excludes 0; Q2 is two-sided


# Hand-made, in 90ths, every actor alike: (F[X], the position-2 models on X, the position-3 models on X).
# Seed 0 ties: 2 x 40 = 30 + 50, so Q1's later-minus-first contrast and Q2 are exactly 0 there.
CONTRAST_SEEDS = ((40, 30, 50), (60, 65, 50), (55, 61, 66), (58, 52, 70))


def contrast_results(metric: str) -> pd.DataFrame:
    from itertools import permutations

    from simulate import frame_from_nodes, node_index

    actors = ("A", "B", "C")
    index = node_index(actors)
    values = np.full((len(CONTRAST_SEEDS), len(index)), 0.5)
    for s, (fresh, second, third) in enumerate(CONTRAST_SEEDS):
        for x in actors:
            others = [a for a in actors if a != x]
            values[s, index[("fresh", x, x)]] = values[s, index[("shared", x, x)]] = fresh / 90
            for a in others:
                values[s, index[("shared", f"{a}>{x}", x)]] = second / 90
            for order in permutations(others):
                values[s, index[("shared", ">".join((*order, x)), x)]] = third / 90
    df = frame_from_nodes(actors, values)
    df[metric] = df["accuracy"]
    return df


@pytest.mark.parametrize("metric", ["accuracy", "brier"])
def test_q1_per_seed_values_are_the_analysis_contrast_and_read_as_q2s(metric):
    """Q1's per-seed column shows the analysis's planned contrast, oriented like every effect: here it
    is Q2's per-seed value (a complete tree, one model per prefix), so both columns read alike; the
    text used to recompute it from the rounded levels, unoriented, printing 5.00e-10 for the tie
    where Q2 printed 0.000 (and the opposite sign for a lower-is-better metric)."""
    from harness.analysis import analyse
    from harness.report.formatting import per_seed_text

    q1, q2 = analyse(contrast_results(metric), metric, 0.05, 0.05).primary[:2]
    sign = 1 if metric == "accuracy" else -1
    expected = [f"{sign * ((second + third) / 2 - fresh) / 90:.3f}" for fresh, second, third in CONTRAST_SEEDS]
    assert per_seed_text(q2).split(", ") == expected
    assert per_seed_text(q1) == per_seed_text(q2)
    assert float(per_seed_text(q1).split(", ")[0]) == 0  # the tie: 0.000 (-0.000 for brier, oriented -0)
