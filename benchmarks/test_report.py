"""`harness report`'s analysis and writing on a simulated 30-seed, 3-actor study (target < 10 s)."""

from __future__ import annotations

from harness.report import write_report
from tests.simulate import simulate_results

SEEDS = 30


def test_report_30_seeds(benchmark, tmp_path):
    simulate_results(SEEDS, rng=0, forgetting=0.05).to_csv(tmp_path / "results.csv", index=False)
    written = benchmark.pedantic(write_report, args=(tmp_path,), rounds=3, iterations=1)
    benchmark.extra_info["seeds"] = SEEDS
    assert len(written.analysis.seeds) == SEEDS and len(written.lines) == 6
