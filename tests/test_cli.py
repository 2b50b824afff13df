"""`harness data` and `harness replicate` end to end on LFW (32 px, 1 epoch)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.cli import app

pytestmark = pytest.mark.slow

SMALL = ["--image-size", "32", "--max-positives", "60", "--negatives", "60"]
ACTORS = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("protocol", ["disjoint", "original"])
def test_data_on_lfw_prints_counts_leaks_and_fingerprint(lfw_home, protocol):
    """At the default sizes Tony_Blair has 144 images, the others 150: the notebook's per-actor
    split then puts different negatives in training for different actors, and they leak."""
    output = invoke("data", "--data-home", str(lfw_home), "--protocol", protocol, "--image-size", "32")
    for actor in ACTORS:
        assert actor in output
    assert "negatives: 150 images" in output and "dataset fingerprint:" in output
    line = next(line for line in output.splitlines() if "trained with one actor and tested with another" in line)
    leaks = int(line.rsplit(":", 1)[1])
    assert leaks == 0 if protocol == "disjoint" else leaks > 0


def test_replicate_on_lfw_prints_the_original_tables_and_writes_json(lfw_home, tmp_path):
    out = tmp_path / "replicate.json"
    output = invoke("replicate", "--epochs", "1", "--data-home", str(lfw_home), "--out", str(out), *SMALL)
    for stage, actor in enumerate(ACTORS, start=1):
        assert f"Stage {stage}: {actor}" in output
    assert output.count("predicted actor") == 3 and "After the last stage" in output
    record = json.loads(out.read_text())
    assert record["order"] == ACTORS and record["config"]["protocol"] == "original"
    assert [s["trained_actor"] for s in record["stages"]] == ACTORS
    assert all(len(s["evaluations"]) == 3 for s in record["stages"])
    final = {e["eval_actor"]: e for e in record["stages"][-1]["evaluations"]}
    assert all(0 <= final[a]["accuracy"] <= 1 and final[a]["n_test"] > 0 for a in ACTORS)


def test_replicate_follows_the_given_order(lfw_home):
    order = "Tony_Blair,George_W_Bush,Colin_Powell"
    output = invoke("replicate", "--epochs", "1", "--order", order, "--data-home", str(lfw_home), *SMALL)
    assert (
        output.index("Stage 1: Tony_Blair")
        < output.index("Stage 2: George_W_Bush")
        < output.index("Stage 3: Colin_Powell")
    )
