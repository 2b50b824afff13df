"""harness.report: files, sections, JSON, CSV, errors, degenerate runs, claims, imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from simulate import simulate_results

from harness import report, stats

ROOT = Path(__file__).resolve().parents[1]
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def write_run(run_dir: Path, df: pd.DataFrame, optional: bool = False) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(run_dir / "results.csv", index=False)
    if optional:
        (run_dir / "config.json").write_text(
            json.dumps(
                {
                    "config": {"epochs": 60, "precision": "float32", "actors": ["A", "B"]},
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
                "stage": [1, 1, 2],
                "trained_actor": ["A", "A", "B"],
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
    df = simulate_results(10, rng=2, discrete=True, learn=0.2, forgetting=0.12)
    run_dir = write_run(tmp_path_factory.mktemp("full"), df, optional=True)
    report.write_report(run_dir)
    return run_dir


def sections_in_order(md: str) -> bool:
    positions = [md.find(s + "\n") for s in report.SECTIONS]
    return all(p >= 0 for p in positions) and positions == sorted(positions)


def verdict_table(md: str) -> list[list[str]]:
    """Rows of the first Markdown table of section 1."""
    part = md.split(report.SECTIONS[0], 1)[1].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()[2:]]


def assert_valid_json(path: Path) -> dict:
    def reject(token: str):
        raise AssertionError(f"{path} holds {token}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_full_report_files(full_run):
    for name in ["report.md", "report.json", "verdicts.csv", *report.PLOTS.values()]:
        assert (full_run / name).is_file() and (full_run / name).stat().st_size > 0, name
    md = (full_run / "report.md").read_text()
    assert sections_in_order(md)
    assert not NAN.search(md)
    for png in report.PLOTS.values():
        assert f"]({png})" in md  # relative links
        assert (full_run / png).read_bytes()[:4] == b"\x89PNG"
    verdicts = pd.read_csv(full_run / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == list(stats.VERDICT_COLUMNS)
    assert len(verdicts) == 13
    assert verdicts.loc[verdicts["question"] == "Q5", "actor"].tolist() == [""]
    assert (verdicts.loc[verdicts["question"] == "Q3", "verdict"] == "real").all()
    rows = verdict_table(md)
    assert len(rows) == 13 and all(len(r) == 8 for r in rows)
    assert all(r[5] != "" and r[7] != "" for r in rows)


def test_full_report_json(full_run):
    data = assert_valid_json(full_run / "report.json")
    assert data["n_seeds"] == 10 and data["k"] == 3 and len(data["orders"]) == 6
    assert len(data["verdicts"]) == 13
    assert set(stats.VERDICT_COLUMNS) <= set(data["verdicts"][0])
    assert {"effect_size", "reason", "seeds_for_80_power_observed", "seeds_for_80_power_min_effect"} <= set(
        data["verdicts"][0]
    )
    assert [c["question"] for c in data["claims"]] == ["Q1", "Q5", "Q3", "Q4", "Q2"]
    assert data["provenance"]["sessions"]["total_wall_seconds"] == 3600.0
    assert data["provenance"]["config"]["machine"]["cores"] == 2
    assert len(data["accuracy_matrices"]) == 6 and data["cl_metrics"][-1]["order"] == "all orders"
    assert data["power"]["wilson"][0]["n_test"] == 100
    csv = pd.read_csv(full_run / "verdicts.csv")
    js = pd.DataFrame(data["verdicts"])
    np.testing.assert_allclose(csv["p_holm"], js["p_holm"].astype(float))


def test_full_report_content(full_run):
    md = (full_run / "report.md").read_text()
    claims = md.split(report.SECTIONS[1])[1].split(report.SECTIONS[2])[0]
    for claim, *_ in report.CLAIMS:
        assert f'"{claim}"' in claims
    assert '**"the shared model forgets"** (Q3): Supported' in claims
    power = md.split(report.SECTIONS[2])[1].split(report.SECTIONS[3])[0]
    assert "Wilson" in power and "| 100 |" in power and "Seeds (effect 0.05)" in power
    matrices = md.split(report.SECTIONS[3])[1].split(report.SECTIONS[4])[0]
    assert matrices.count("### ") == 7 and " ± " in matrices and "BWT" in matrices
    provenance = md.split(report.SECTIONS[5])[1]
    assert "test cpu" in provenance and "tensorflow" in provenance
    assert "total_wall_seconds = 3600.0" in provenance and "median_images_per_second" in provenance
    assert "not recorded" not in provenance


def test_report_without_optional_files(tmp_path):
    run_dir = write_run(tmp_path / "run", simulate_results(6, rng=1))
    path = report.write_report(run_dir, metric="f1", alpha=0.1, min_effect=0.1)
    assert path == run_dir / "report.md"
    md = path.read_text()
    assert sections_in_order(md) and not NAN.search(md)
    provenance = md.split(report.SECTIONS[5])[1]
    assert "config.json: not recorded" in provenance
    assert "sessions.csv (wall time): not recorded" in provenance
    assert "trainings.csv (throughput): not recorded" in provenance
    assert assert_valid_json(run_dir / "report.json")["metric"] == "f1"


@pytest.mark.parametrize("case", ["two_seeds", "two_actors", "no_fresh", "all_zero", "five_seeds"])
def test_degenerate_reports(tmp_path, case):
    df = {
        "two_seeds": lambda: simulate_results(2, rng=0, forgetting=0.1),
        "two_actors": lambda: simulate_results(6, ("A_a", "B_b"), rng=0, forgetting=0.1),
        "no_fresh": lambda: simulate_results(6, rng=0).query("condition != 'fresh'"),
        "all_zero": lambda: simulate_results(4, rng=0, seed_sd=0, seed_actor_sd=0, noise_sd=0),
        "five_seeds": lambda: simulate_results(5, rng=0, forgetting=0.3),
    }[case]()
    run_dir = write_run(tmp_path / case, df)
    md = report.write_report(run_dir).read_text()
    assert sections_in_order(md)
    assert not NAN.search(md)
    rows = verdict_table(md)
    assert rows and all(r[5] and r[6] and r[7] for r in rows)
    verdicts = pd.read_csv(run_dir / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == list(stats.VERDICT_COLUMNS)
    assert_valid_json(run_dir / "report.json")
    if case == "five_seeds":
        assert set(verdicts["verdict"]) == {"cannot be shown with 5 seeds"}
        assert "Cannot tell with 5 seeds" in md
    else:
        assert "n/a" in set(verdicts["verdict"])
        assert all(r[7].startswith("n/a: ") for r in rows if r[7].startswith("n/a"))


def test_missing_results_raises(tmp_path):
    with pytest.raises(ValueError) as err:
        report.write_report(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "results.csv") in message and "\n" not in message
    assert "harness permute" in message


def test_bad_results_raise(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        report.write_report(tmp_path)
    df = simulate_results(3, rng=0)
    df.iloc[:0].to_csv(path, index=False)
    with pytest.raises(ValueError, match="no rows"):
        report.write_report(tmp_path)
    df.drop(columns=["condition"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"results\.csv lacks column\(s\) condition"):
        report.write_report(tmp_path)
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match="no metric column 'auc'") as err:
        report.write_report(tmp_path, metric="auc")
    assert str(path) in str(err.value)


def verdict_rows(*rows: dict) -> pd.DataFrame:
    base = {"actor": "X", "n": 10, "effect": 0.1, "p_holm": 0.01, "reason": "", "seeds_for_80_power_min_effect": 8.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_claims_statuses():
    def status(question: str, **row) -> str:
        table = verdict_rows({"question": question, **row})
        return next(c for c in report.claims(table, 10) if c["question"] == question)["status"]

    assert status("Q3", verdict="real") == report.SUPPORTED
    assert status("Q3", verdict="not shown") == report.AGAINST  # powered for min_effect
    assert status("Q3", verdict="not shown", seeds_for_80_power_min_effect=40.0) == "cannot tell"
    assert status("Q3", verdict="cannot be shown with 10 seeds") == "cannot tell"
    assert status("Q3", verdict="n/a", reason="too few seeds") == "cannot tell"
    assert status("Q1", verdict="real") == report.AGAINST  # order does matter
    assert status("Q1", verdict="not shown") == report.SUPPORTED
    assert status("Q2", verdict="real", effect=-0.1) == report.SUPPORTED  # fresh beats shared
    assert status("Q2", verdict="real", effect=0.1) == report.AGAINST
    assert status("Q5", verdict="real", actor="") == report.SUPPORTED
    table = verdict_rows(
        {"question": "Q3", "verdict": "real"},
        {"question": "Q4", "verdict": "not shown", "seeds_for_80_power_min_effect": 30.0},
    )
    q4 = next(c for c in report.claims(table, 10) if c["question"] == "Q4")
    assert q4["status"] == "cannot tell"
    assert "may be transfer rather than memory" in q4["sentence"]
    assert q4["sentence"].startswith("Cannot tell with 10 seeds (underpowered):")
    table.loc[1, "seeds_for_80_power_min_effect"] = 6.0  # powered: retention would show
    q4 = next(c for c in report.claims(table, 10) if c["question"] == "Q4")
    assert q4["status"] == report.AGAINST
    assert "is explained by transfer, not memory" in q4["sentence"]


def test_summary_lines(full_run):
    lines = report.summary_lines(pd.read_csv(full_run / "verdicts.csv", keep_default_na=False))
    assert len(lines) == 13
    assert lines[0].startswith("Q1 order effect on learning X [")
    assert lines[-1].startswith("Q5 actor effect (fresh models) [(all actors)]: ")
    table = stats.run_tests(simulate_results(2, rng=0), bootstrap=False)
    assert report.summary_lines(table)[0].endswith("(too few seeds with complete data (2 < 3))")


def test_jsonable():
    out = report.jsonable({"a": np.float64("nan"), "b": [np.int64(2), np.inf], 3: np.bool_(True)})
    assert out == {"a": None, "b": [2, None], "3": True}


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, harness.report; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')"
        " or (m.startswith('harness.') and m not in ('harness.report', 'harness.stats'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_report_regenerates_everything_from_results_csv(full_run, tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    run_dir = write_run(tmp_path / "copy", pd.read_csv(full_run / "results.csv"))
    result = CliRunner().invoke(app, ["report", str(run_dir), "--alpha", "0.05"])
    assert result.exit_code == 0, result.output
    assert "Q3" in result.output and f"wrote {run_dir / 'report.md'}" in result.output.replace("\n", "")
    for name in ("report.md", "report.json", "verdicts.csv", "plot_matrices.png"):
        assert (run_dir / name).exists()
    assert (run_dir / "verdicts.csv").read_text() == (full_run / "verdicts.csv").read_text()


def test_cli_report_without_results_exits_2_with_one_line(tmp_path):
    harness = Path(sys.executable).with_name("harness")
    done = subprocess.run([str(harness), "report", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "results.csv" in done.stderr
