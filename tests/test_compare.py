"""`harness compare RUN_A RUN_B` on simulated studies: the paired p against scipy, pairing, refusals, files,
and (slow) its power and error rate over many simulated pairs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from simulate import ACTORS, simulate_results, simulate_studies
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from harness.analysis import Verdict
from harness.analysis.compare import Quantity, Study, compare, per_seed
from harness.analysis.index import build_index
from harness.analysis.validate import validate
from harness.cli import app
from harness.errors import HarnessError
from harness.report.compare import answer, markdown, read_study, sentence

ALPHA, MIN_EFFECT = 0.05, 0.05


def forgetting_per_seed(rows: pd.DataFrame) -> pd.Series:
    """Q3 computed here from the rows: per seed, the mean over actors of the mean over orders with
    pos(X) < k of (accuracy on X right after training X) - (accuracy on X at the end)."""
    shared = rows[rows["condition"] == "shared"]
    k = shared["stage"].max()
    key = ["seed", "order", "eval_actor"]
    trained = shared[shared["stage"] == shared["position"]].set_index(key)
    final = shared[shared["stage"] == k].set_index(key)["accuracy"]
    drop = (trained["accuracy"] - final)[trained["position"] < k]
    return drop.groupby(["seed", "eval_actor"]).mean().groupby("seed").mean()


def write_run(
    run_dir: Path, rows: pd.DataFrame, fingerprint: str = "same", metric: str = "accuracy", actors=ACTORS
) -> Path:
    run_dir.mkdir(parents=True)
    rows.to_csv(run_dir / "results.csv", index=False)
    dataset = {"fingerprint": fingerprint, "actors": list(actors), "images": dict.fromkeys(actors, 40), "negatives": 40}
    record = {"config": {"metric": metric, "protocol": "disjoint", "data_seed": 0}, "dataset": dataset}
    (run_dir / "config.json").write_text(json.dumps(record))
    return run_dir


def study(name: str, rows: pd.DataFrame, fingerprint: str = "same") -> Study:
    return Study(name, rows, "accuracy", fingerprint, "disjoint")


def test_paired_p_equals_scipys_ttest_rel_on_the_per_seed_forgetting():
    a, b = simulate_results(6, rng=1), simulate_results(6, rng=2, forgetting=0.08)
    c = compare(study("A", a), study("B", b), ALPHA, MIN_EFFECT)
    q3 = next(d for d in c.differences if d.quantity is Quantity.Q3)
    expected = stats.ttest_rel(forgetting_per_seed(b), forgetting_per_seed(a))
    assert c.pairing.paired and q3.test == "paired t" and q3.n == 6
    assert q3.p == pytest.approx(expected.pvalue, rel=1e-9)
    assert q3.statistic == pytest.approx(expected.statistic, rel=1e-9)
    d = forgetting_per_seed(b) - forgetting_per_seed(a)
    assert q3.effect == pytest.approx(d.mean(), abs=1e-12)
    interval = expected.confidence_interval(0.95)
    assert (q3.ci_low, q3.ci_high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    flip = stats.permutation_test((d.to_numpy(),), np.mean, permutation_type="samples", n_resamples=math.inf)
    assert q3.p_exact == pytest.approx(flip.pvalue)


def test_q1s_contrast_and_q2_are_one_row_and_holm_runs_over_the_four_distinct_claims():
    a, b = simulate_results(4, rng=11), simulate_results(4, rng=12, order_effect=0.05)
    ix = build_index(validate(a, "accuracy", "a"), "accuracy")
    shared_minus_fresh = per_seed(ix, 1.0)["Q1/Q2"]
    # Q1's contrast: per seed, each position's mean over orders of the actor trained there, later minus first
    levels = pd.DataFrame({p: np.mean([ix.r(o[:p], o[p - 1]) for o in ix.orders], axis=0) for p in range(1, ix.k + 1)})
    assert np.allclose(shared_minus_fresh.to_numpy(), levels.iloc[:, 1:].mean(axis=1) - levels[1])
    c = compare(study("A", a), study("B", b), ALPHA, MIN_EFFECT)
    claims = [d for d in c.differences if d.quantity.in_family]
    assert [str(d.quantity) for d in claims] == ["Q1/Q2", "Q3", "Q4", "Q5"]
    expected = multipletests([d.p for d in claims], method="holm")[1]
    assert [d.p_adjusted for d in claims] == pytest.approx(list(expected))
    text = "\n".join(markdown(c))
    assert "Q3 is forgetting (positive: " in text and "Q1-Q4" not in text


def test_an_answer_resting_on_a_score_outside_the_holm_family_says_so():
    a, b = simulate_results(6, rng=13), simulate_results(6, rng=14, learn=0.25)
    c = compare(study("A", a), study("B", b), ALPHA, MIN_EFFECT)
    fresh = next(d for d in c.differences if d.quantity is Quantity.FRESH)
    assert fresh.verdict is Verdict.REAL
    told = sentence(fresh, c)
    assert told.startswith("B (B)'s fresh models score higher") and "(a score outside the Holm family" in told
    assert told in answer(c)
    q4 = next(d for d in c.differences if d.quantity is Quantity.Q4)
    assert q4.verdict is Verdict.REAL and "Holm" not in sentence(q4, c)


def test_runs_of_other_images_are_compared_with_welch_and_say_why():
    a, b = simulate_results(5, rng=3), simulate_results(7, rng=4, forgetting=0.1)
    c = compare(study("A", a, "f1"), study("B", b, "f2"), ALPHA, MIN_EFFECT)
    assert not c.pairing.paired and "the dataset fingerprint differs (f1 in A, f2 in B)" in c.pairing.reason
    q3 = next(d for d in c.differences if d.quantity is Quantity.Q3)
    expected = stats.ttest_ind(forgetting_per_seed(b), forgetting_per_seed(a), equal_var=False)
    assert (q3.test, q3.n_a, q3.n_b) == ("Welch t", 5, 7)
    assert q3.p == pytest.approx(expected.pvalue, rel=1e-9) and math.isnan(q3.p_exact)


def test_runs_that_loaded_the_actors_in_another_order_are_not_paired_and_say_why(tmp_path):
    """The fingerprint sorts the classes, but disjoint_split draws actor by actor: another split per seed."""
    a = write_run(tmp_path / "a", simulate_results(5, rng=15))
    b = write_run(tmp_path / "b", simulate_results(5, rng=16), actors=ACTORS[::-1])
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    expected = f"the actor order (the split is drawn actor by actor) differs ({', '.join(ACTORS)} in a, "
    assert f"Not paired: {expected}" in result.output.replace("\n", " ")
    assert set(pd.read_csv(tmp_path / "cmp" / "compare.csv")["test"]) == {"Welch t"}
    same = write_run(tmp_path / "same", simulate_results(5, rng=16))
    assert compare(*(read_study(run) for run in (a, same)), ALPHA, MIN_EFFECT).pairing.paired


def test_paired_on_the_common_seeds_naming_those_left_out():
    a, b = simulate_results(5, rng=5), simulate_results(7, rng=6)
    c = compare(study("A", a), study("B", b), ALPHA, MIN_EFFECT)
    assert c.pairing.paired and c.pairing.seeds == (0, 1, 2, 3, 4) and c.pairing.left_out == "seeds 5, 6 of B"
    assert all(d.n == 5 for d in c.differences)


def test_compare_writes_the_answer_first_the_csv_and_the_plot(tmp_path):
    a = write_run(tmp_path / "base", simulate_results(5, rng=7))
    b = write_run(tmp_path / "change", simulate_results(5, rng=8, forgetting=-0.1))  # B recovers: forgets less
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "cmp" / "compare.md").read_text().splitlines()
    assert markdown[0] == "# Comparison: B (change) minus A (base)"
    assert markdown[2].startswith("**B (change) forgets less than A (base) by 0.1"), markdown[2]
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table["quantity"]) == [str(q) for q in Quantity]
    assert table.set_index("quantity").loc["Q3", "verdict"] == "real"
    assert (tmp_path / "cmp" / "plot_compare.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("metric", r"have different primary metrics \(accuracy and f1\)"),
        ("actors", "studied different actors"),
        ("seeds", r"have no seed in common \(seeds 0-4 and 10-14\)"),
    ],
)
def test_runs_that_cannot_be_compared_are_refused_with_one_line(tmp_path, change, message):
    rows = simulate_results(5, rng=9)
    other = simulate_results(5, ("Ann", "Bob", "Cy") if change == "actors" else ACTORS, rng=10)
    if change == "seeds":
        other["seed"] += 10
    a = write_run(tmp_path / "a", rows)
    b = write_run(tmp_path / "b", other, metric="f1" if change == "metric" else "accuracy")
    result = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert isinstance(result.exception, HarnessError)
    assert "\n" not in str(result.exception) and re.search(message, str(result.exception)), str(result.exception)
    assert not (b / "compare-vs-a").exists(), "nothing is written for a refused comparison"


def _verdicts(n_pairs: int, seed: int, forgetting: float) -> list[dict]:
    first = simulate_studies(n_pairs, 5, rng=seed)
    second = simulate_studies(n_pairs, 5, rng=seed + 1, forgetting=forgetting)
    return [
        {d.quantity: d.verdict for d in compare(study("A", a), study("B", b), ALPHA, MIN_EFFECT).differences}
        for a, b in zip(first, second, strict=True)
    ]


@pytest.mark.heavy
def test_a_planted_difference_in_forgetting_of_010_is_found_in_90_percent_of_pairs():
    verdicts = _verdicts(300, 17, forgetting=0.10)
    found = np.mean([v[Quantity.Q3] is Verdict.REAL for v in verdicts])
    assert found >= 0.90, found


@pytest.mark.heavy
def test_without_a_difference_any_claim_is_called_real_at_most_alpha_plus_the_monte_carlo_margin():
    verdicts = _verdicts(200, 29, forgetting=0.0)
    false = np.mean([any(v[q] is Verdict.REAL for q in Quantity if q.in_family) for v in verdicts])
    margin = 2.58 * math.sqrt(ALPHA * (1 - ALPHA) / 200)  # 99 % binomial margin around alpha
    assert false <= ALPHA + margin, false


def test_no_harness_module_imports_another_modules_private_names():
    """compare's plot used plots._figure/_save: a module's underscore names are its own."""
    import ast

    import harness

    private = [
        f"{path.name}: {node.module}.{alias.name}"
        for path in Path(harness.__file__).parent.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.endswith("__")
    ]
    assert not private, private
