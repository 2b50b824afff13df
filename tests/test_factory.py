"""`--model`: the factory contract, every refusal before any training, seeded weights, compiled models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.backend import keras
from harness.cli import app
from harness.config import TrainConfig
from harness.errors import HarnessError
from harness.factory import inspect_model, load_factory
from harness.train import Learner, initial_weights, stage_seed

FACTORIES = Path(__file__).with_name("factories.py")
SIZE = 32


def spec(name: str) -> str:
    return f"{FACTORIES}:{name}"


def refuse(tmp_path: Path, model: str, *extra: str) -> str:
    """``harness permute --model MODEL`` refused: the one-line message; the run directory never created."""
    out = tmp_path / "run"
    args = ["permute", "--seeds", "1", "--epochs", "1", "--image-size", str(SIZE), "--threads", "1"]
    result = CliRunner().invoke(app, [*args, "--model", model, "--out", str(out), *extra])
    assert isinstance(result.exception, HarnessError), result.output
    assert not out.exists(), "a refused --model creates nothing"
    message = str(result.exception)
    assert "\n" not in message and message.startswith(f"--model {model}"), message
    return message


@pytest.fixture
def broken_files(tmp_path: Path) -> Path:
    (tmp_path / "syntax.py").write_text("def f(image_size):\n    return (\n")
    (tmp_path / "imports.py").write_text("import no_such_package_17\n")
    (tmp_path / "exits.py").write_text("import sys\n\nsys.exit(0)\n")
    return tmp_path


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("original_cnn", "expected package.module:function or path/to/file.py:function"),
        ("no_such_module_17:f", r"no_such_module_17 does not import \(ModuleNotFoundError: No module named"),
        ("harness.model:no_such_factory", "harness.model has no no_such_factory"),
        (spec("NOT_CALLABLE"), r"NOT_CALLABLE in .* is not callable \(int\)"),
        (spec("raises"), "the factory raised RuntimeError: this factory needs a GPU"),
        (spec("not_a_model"), "the factory returned a str, not a keras.Model"),
        (spec("two_outputs"), r"the model's output is \(None, 2\), not \(None, 1\)"),
        (spec("fixed_size"), r"does not accept \(None, 32, 32, 1\) images at --image-size 32 \(ValueError: Input 0"),
        (spec("frozen"), "the model has no trainable weights"),
        (spec("huge"), r"1,00\d(,\d{3}){3} parameters need about \d+\.\d GB to train .* more than this machine"),
        (spec("huge_compiled"), r"1,00\d(,\d{3}){3} parameters need about \d+\.\d GB to train .* more than this"),
        ("/no/such/dir/models.py:f", "no file /no/such/dir/models.py"),
        (
            spec("three_channels"),
            r"does not accept a \(1, 32, 32, 1\) batch at --image-size 32 \(.*keras.Input\(\(32, 32, 1\)\)$",
        ),
        (spec("exits"), r"the factory raised SystemExit: 0$"),
        (spec("cached"), "the factory returned the same model object twice; it must build a new model on every call"),
        (
            spec("linear_output"),
            r"gives 5 for a zero image, not a probability in \[0, 1\]: end it with one sigmoid unit",
        ),
    ],
)
def test_every_bad_model_is_refused_before_anything_is_created(tmp_path, model, expected):
    import re

    assert re.search(expected, refuse(tmp_path, model)), refuse(tmp_path, model)


@pytest.mark.parametrize(
    ("file", "error"), [("syntax.py", "SyntaxError"), ("imports.py", "ModuleNotFoundError"), ("exits.py", "SystemExit")]
)
def test_a_file_that_does_not_import_is_refused_with_its_exceptions_line(broken_files, tmp_path, file, error):
    message = refuse(tmp_path, f"{broken_files / file}:f")
    assert f"does not import ({error}: " in message


def test_memory_refusal_counts_every_worker_process(tmp_path):
    # small enough for one process here, but not for a million of them
    with pytest.raises(HarnessError, match="in each of 1000000 processes"):
        inspect_model(spec("small_cnn"), SIZE, "float32", processes=1_000_000)


def test_without_keras_internal_global_state_the_model_is_inspected_allocated(monkeypatch):
    """A Keras whose internal layout moved: the stateless inspection is skipped, not every command broken."""
    monkeypatch.setitem(sys.modules, "keras.src.backend.common", None)
    info = inspect_model(spec("small_cnn"), SIZE, "float32")
    assert info.parameters == 473 and info.layers[0] == "Conv2D 80"


@pytest.mark.parametrize(
    ("factory", "expected"),
    [("two_outputs", "the model's output is (None, 2)"), ("exits", "the factory raised SystemExit: 0")],
)
def test_refusal_is_one_line_with_exit_code_2_from_the_command(tmp_path, factory, expected):
    executable = Path(sys.executable).with_name("harness")
    out = tmp_path / "run"
    command = [str(executable), "replicate", "--image-size", "32", "--model", spec(factory), "--out", str(out)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], process.stderr
    assert not out.exists()


def test_the_default_factory_draws_the_weights_every_earlier_harness_drew():
    """The original CNN built independently, kernels seeded with the seed + 0..4 as build_model did."""
    sequence = np.random.SeedSequence(7)
    seed = stage_seed(sequence) % 2**31

    def glorot(i: int):
        return keras.initializers.GlorotUniform(seed=seed + i)

    layers = keras.layers
    expected = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer=glorot(0)),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu", kernel_initializer=glorot(1)),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu", kernel_initializer=glorot(2)),
            layers.MaxPooling2D(2),
            layers.Dropout(0.5),
            layers.Flatten(),
            layers.Dense(250, activation="relu", kernel_initializer=glorot(3)),
            layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(4)),
        ]
    ).get_weights()
    drawn = initial_weights(SIZE, "float32", sequence)
    assert len(drawn) == len(expected) == 10
    assert all(np.array_equal(a, b) for a, b in zip(drawn, expected, strict=True))


def test_a_factory_is_called_under_the_seeds_keras_random_state():
    first, again = (initial_weights(SIZE, "float32", np.random.SeedSequence(3), spec("small_cnn")) for _ in range(2))
    other = initial_weights(SIZE, "float32", np.random.SeedSequence(4), spec("small_cnn"))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert [w.shape for w in first] == [(3, 3, 1, 8), (8,), (7 * 7 * 8, 1), (1,)]


def test_a_compiled_models_optimizer_and_loss_are_used_with_a_fresh_state_per_root():
    rng = np.random.default_rng(0)
    x = rng.random((40, SIZE, SIZE, 1)).astype(np.float32)
    y = (np.arange(40) % 2).astype(np.float32)
    learner = Learner(SIZE, "float32", spec("compiled_sgd"))
    assert isinstance(learner.optimizer, keras.optimizers.SGD) and learner.optimizer.momentum == 0.9
    assert learner.model.loss.get_config()["label_smoothing"] == 0.1
    weights = initial_weights(SIZE, "float32", np.random.SeedSequence(1), spec("compiled_sgd"))
    runs = []
    for _ in range(2):  # a root loads the seed's weights and the optimizer's state as built
        learner.load(weights)
        learner.train(x, y, TrainConfig(epochs=1, model=spec("compiled_sgd")), np.random.SeedSequence(2))
        runs.append(learner.snapshot())
    assert all(np.array_equal(a, b) for a, b in zip(runs[0].weights, runs[1].weights, strict=True))
    assert any(np.any(v != 0) for v in runs[0].optimizer[1:]), "SGD's momentum is carried in the snapshot"
    info = inspect_model(spec("compiled_sgd"), SIZE, "float32")
    assert (info.optimizer, info.loss, info.parameters) == ("SGD", "binary_crossentropy", 8 * 9 + 8 + 7 * 7 * 8 + 1)


def test_the_record_names_the_factorys_source_and_its_hash():
    import hashlib

    info = inspect_model(spec("small_cnn"), SIZE, "float32")
    assert info.source == str(FACTORIES) and info.sha256 == hashlib.sha256(FACTORIES.read_bytes()).hexdigest()
    assert info.layers == ("Conv2D 80", "MaxPooling2D 0", "Flatten 0", "Dense 393")
    assert load_factory(spec("small_cnn")).__name__ == "small_cnn"


def test_the_default_model_keeps_the_default_run_directorys_name_and_older_run_directories_resume(tmp_path):
    import json

    from harness.choices import DEFAULT_MODEL
    from harness.store import check_config, default_run_dir

    before = {"dataset": "lfw", "actors": None, "seeds": [0, 1], "epochs": 60}
    assert default_run_dir(before | {"model": DEFAULT_MODEL}) == default_run_dir(before)
    assert default_run_dir(before | {"model": spec("small_cnn")}) != default_run_dir(before)
    older = {"config": before, "dataset": {"fingerprint": "f"}, "execution": {"threads_per_worker": 1}}
    (tmp_path / "config.json").write_text(json.dumps(older))  # made before --model existed
    now = {"config": before | {"model": DEFAULT_MODEL}, "dataset": {"fingerprint": "f"}}
    check_config(tmp_path, now | {"execution": {"threads_per_worker": 1}})
    with pytest.raises(HarnessError, match=f"model: '{DEFAULT_MODEL}' there, '.*small_cnn' now"):
        check_config(tmp_path, {**now, "config": before | {"model": spec("small_cnn")}, "execution": {}})


def test_a_changed_factory_file_is_another_model(tmp_path):
    import json

    from harness.store import check_config

    factory = tmp_path / "net.py"
    factory.write_text(FACTORIES.read_text())
    info = inspect_model(f"{factory}:small_cnn", SIZE, "float32").to_dict()
    record = {"config": {"model": info["spec"]}, "dataset": {"fingerprint": "f"}, "execution": {}}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(record | {"model": info}))
    factory.write_text(FACTORIES.read_text() + "\n# a changed file\n")
    changed = inspect_model(f"{factory}:small_cnn", SIZE, "float32").to_dict()
    with pytest.raises(HarnessError, match=rf"the model's sha256 differs \({factory} changed\)"):
        check_config(run_dir, record | {"model": changed})


def test_the_estimate_calibrates_by_training_the_users_model(tmp_path):
    from images import make_folder_dataset

    from harness.config import DataConfig, StudyConfig
    from harness.data import load_dataset
    from harness.estimate import calibrate
    from harness.train import learner

    faces = make_folder_dataset(tmp_path / "faces", {"Alice": 12, "Bob": 12}, 16)
    data = DataConfig(dataset="folder", data_dir=str(faces), image_size=SIZE, cache_dir=str(tmp_path / "cache"))
    config = StudyConfig(data, TrainConfig(epochs=2, model=spec("compiled_sgd")), (0,))
    assert calibrate(load_dataset(data), config, 1) > 0
    trained = learner(SIZE, "float32", spec("compiled_sgd"))
    assert trained.model.count_params() == 473 and isinstance(trained.optimizer, keras.optimizers.SGD)
    assert int(trained.optimizer.iterations.numpy()) > 0, "the calibration trained the --model network"


def test_an_edit_to_the_harness_packages_model_file_keeps_default_model_run_directories_resuming(tmp_path):
    import json

    from harness.choices import DEFAULT_MODEL
    from harness.store import check_config

    info = inspect_model(DEFAULT_MODEL, SIZE, "float32").to_dict()
    before_the_edit = info | {"sha256": "0" * 64}  # what a run recorded before harness/model.py was edited
    record = {
        "config": {"model": DEFAULT_MODEL},
        "dataset": {"fingerprint": "f"},
        "execution": {"threads_per_worker": 1},
    }
    (tmp_path / "config.json").write_text(json.dumps(record | {"model": before_the_edit}))
    check_config(tmp_path, record | {"model": info})
    other_layers = info | {"layers": [*info["layers"][:-1], "Dense 2"]}
    with pytest.raises(HarnessError, match="the model's layers differs"):
        check_config(tmp_path, record | {"model": other_layers})
