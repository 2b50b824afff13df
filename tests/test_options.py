"""Options are checked at the edge, before any data is loaded, with their ranges in --help; the
top-level help, --version, replicate's --out, and a terminal free of TensorFlow's start-up logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from images import make_folder_dataset
from simulate import simulate_results
from typer.testing import CliRunner

from harness import __version__
from harness.cli import app

WIDE = {"COLUMNS": "200"}


@pytest.fixture
def faces(tmp_path) -> Path:
    return make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 16)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env=WIDE)


def harness(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("harness")
    env = {**os.environ, **WIDE, **(env or {})}
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "command, option, value",
    [
        ("data", "--seed", "-1"),
        ("data", "--data-seed", "-1"),
        ("replicate", "--seed", "-1"),
        ("permute", "--first-seed", "-1"),
        ("permute", "--threads", "-1"),
        ("permute", "--threads", "0"),
        ("data", "--image-size", "2000"),
        ("replicate", "--image-size", "21"),
        ("data", "--max-positives", "5"),
        ("permute", "--negatives", "9"),
        ("data", "--dataset", "imagenet"),
        ("data", "--protocol", "random"),
        ("permute", "--precision", "float16"),
    ],
)
def test_a_bad_option_is_refused_before_any_data_is_read(tmp_path, command, option, value):
    """The data folder does not exist: had the command started loading, that would be the error."""
    result = invoke(command, "--dataset", "folder", "--data-dir", str(tmp_path / "MISSING"), option, value)
    assert result.exit_code == 2, result.output
    assert option in result.output and "MISSING" not in result.output


def test_help_shows_every_range_and_choice():
    output = invoke("permute", "--help").output
    for shown in ("[x>=0]", "[x>=1]", "[x>=10]", "[22<=x<=512]", "lfw|folder", "disjoint|original", "float32|bfloat16"):
        assert shown in output, shown
    assert "8.5 GB of memory" in output  # why the image size stops at 512


def test_top_level_help_describes_the_tool_and_version_prints():
    output = invoke("--help").output
    assert "replicate" in output and "permute" in output and "cache" in output
    assert "thin shell" not in output and "module" not in output
    assert invoke("--version").output.strip() == f"harness {__version__}"


def test_data_dir_alone_means_folder_and_with_lfw_is_an_error(faces, tmp_path):
    result = harness("data", "--data-dir", str(faces), "--image-size", "32", env={"HARNESS_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Alice" in result.stdout and "Bob" in result.stdout and "George_W_Bush" not in result.stdout

    result = harness("data", "--dataset", "lfw", "--data-dir", str(faces))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --dataset lfw does not read --data-dir")


def test_a_missing_data_home_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "no_such_home"
    result = invoke("data", "--data-home", str(missing))
    assert result.exit_code == 2 and "--data-home" in result.output
    assert not missing.exists()


def test_skipped_files_are_printed_before_the_too_few_error(faces, tmp_path):
    broken = sorted((faces / "Bob").iterdir())[:3]
    for path in broken:
        path.write_bytes(b"broken")
    result = harness("data", "--data-dir", str(faces), "--image-size", "32", env={"HARNESS_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["warning"] * 3 + ["error"], result.stderr
    assert all(str(path) in line for path, line in zip(broken, lines, strict=False))
    assert lines[-1].startswith("error: Bob: only 9 usable images")


@pytest.mark.parametrize("out", ["directory", "below_a_file"])
def test_replicate_refuses_an_unwritable_out_before_training(faces, tmp_path, out):
    target = tmp_path if out == "directory" else tmp_path / "afile" / "x.json"
    (tmp_path / "afile").write_text("a file")
    result = CliRunner().invoke(
        app, ["replicate", "--data-dir", str(faces), "--image-size", "32", "--epochs", "1", "--out", str(target)]
    )
    assert result.exit_code != 0 and "--out" in str(result.exception)
    assert "Stage 1" not in result.output  # nothing trained


@pytest.mark.parametrize(
    "command, option, value", [("data", "--actors", ",,,"), ("replicate", "--order", "Alice,Alice")]
)
def test_list_options_are_refused_naming_themselves(faces, tmp_path, command, option, value):
    result = harness(command, "--data-dir", str(faces), option, value, env={"HARNESS_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {option} ")


def test_a_recorded_metric_that_is_not_one_names_config_json(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    simulate_results(3).to_csv(run_dir / "results.csv", index=False)
    (run_dir / "config.json").write_text(json.dumps({"config": {"metric": "tp"}}))
    result = invoke("report", str(run_dir))
    assert result.exit_code != 0
    message = str(result.exception)
    assert "config.json" in message and "'tp'" in message and "--metric" in message


def test_non_ascii_actor_names_print_on_an_ascii_terminal(tmp_path):
    root = make_folder_dataset(tmp_path / "faces", {"Zoë": 12, "日本": 12}, 12)
    result = harness(
        "data", "--data-dir", str(root), env={"PYTHONIOENCODING": "ascii", "HARNESS_CACHE_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "UnicodeEncodeError" not in result.stderr
    assert "dataset fingerprint" in result.stdout


def test_file_names_a_c_locale_cannot_decode_are_one_line_before_any_work(tmp_path):
    """Python's UTF-8 mode off in a C locale: file names keep their bytes as surrogates, which no record stores."""
    root = make_folder_dataset(tmp_path / "faces", {"Zoë": 12, "Bob": 12}, 12)
    c_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    result = harness("data", "--data-dir", str(root), env={**c_locale, "HARNESS_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot be decoded with this locale's encoding" in result.stderr and "PYTHONUTF8=1" in result.stderr


def test_cjk_actor_names_in_the_plots_give_no_glyph_warnings(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    simulate_results(3, ("日本", "中国", "Zoë")).to_csv(run_dir / "results.csv", index=False)
    result = harness("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "Glyph" not in result.stderr and ".py:" not in result.stderr, result.stderr


@pytest.mark.slow
def test_replicate_shows_no_tensorflow_start_up_lines_and_writes_its_json_whole(faces, tmp_path):
    """A real process, with TF_CPP_MIN_LOG_LEVEL unset as on a user's machine: stderr stays empty."""
    out = tmp_path / "out" / "replicate.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    script = Path(sys.executable).with_name("harness")
    args = ["replicate", "--data-dir", str(faces), "--image-size", "32", "--epochs", "1", "--out", str(out)]
    env.update(HARNESS_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="200")
    result = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Stage 2: Bob" in result.stdout
    assert json.loads(out.read_text())["order"] == ["Alice", "Bob"]
    assert [p.name for p in out.parent.iterdir()] == ["replicate.json"]  # no temporary file left
