"""``--model SPEC``: the user's network, from a factory ``(image_size) -> keras.Model``.

A spec is ``package.module:function`` or ``path/to/file.py:function``. The model takes (S, S, 1)
images in [0, 1] and has one sigmoid output. A compiled model brings its optimizer and loss;
otherwise it trains with Adam at Keras's defaults and binary cross-entropy, as the original did.

``inspect_model`` checks everything before any training: first without allocating the weights
where Keras allows (the factory runs in a Keras stateless scope), so that a model too large for the
machine is refused with the numbers instead of being killed; then, allocated, with a real forward
pass of one zero image. ``build`` calls the factory under a seed's Keras random
state (``keras.utils.set_random_seed``) and a precision's dtype policy, one build at a time in a
process, so a seed's initial weights are a function of the seed alone.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import re
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from harness.backend import keras
from harness.choices import DEFAULT_MODEL, Precision
from harness.errors import HarnessError

MEASURED_PARAMETERS, MEASURED_BYTES = 123_101_173, 8.5e9
"""The original CNN at 512 px and the peak resident memory of training it (see choices.MAX_IMAGE_SIZE)."""
BYTES_PER_PARAMETER = MEASURED_BYTES / MEASURED_PARAMETERS
"""About 69: weights, gradients, optimizer moments, the seed's initial model, snapshots, TensorFlow."""

_building = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What config.json records of the model: it identifies the model a run directory was made with.

    ``sha256``: the factory's source file's, for a user's file; ``None`` for a factory inside the
    harness package, identified by its spec, parameter count and layers (the package's version is
    recorded anyway), so that an edit elsewhere in its module (``harness.model`` also holds the
    augmentation) does not make every run directory of the default model refuse to resume.
    """

    spec: str
    source: str
    sha256: str | None
    parameters: int
    layers: tuple[str, ...]
    optimizer: str
    loss: str

    def to_dict(self) -> dict:
        return asdict(self) | {"layers": list(self.layers)}


def normalise(spec: str) -> str:
    """The spec as recorded: a factory file's path made absolute (worker processes load it too)."""
    target, _, name = spec.rpartition(":")
    if target.endswith(".py"):
        return f"{Path(target).resolve()}:{name}"
    return spec


def _one_line(error: BaseException) -> str:
    """The exception's type and its first informative line (Keras opens with "Exception encountered
    when calling ..." and puts the cause, in ANSI bold, on a later line)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


@cache
def load_factory(spec: str) -> Callable:
    """The factory a spec names, imported once per process; one line saying what is wrong otherwise."""
    target, colon, name = spec.rpartition(":")
    if not colon or not target or not name:
        raise HarnessError(
            f"--model {spec}: expected package.module:function or path/to/file.py:function, e.g. {DEFAULT_MODEL}"
        )
    path = Path(target) if target.endswith(".py") else None
    if path is not None and not path.is_file():
        raise HarnessError(f"--model {spec}: no file {path}; give an existing path/to/file.py:function")
    try:
        if path is None:
            module = importlib.import_module(target)
        else:
            module_name = f"harness_factory_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
            location = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(location)
            sys.modules[module_name] = module  # as an import would (dataclasses look themselves up there)
            location.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any import failure (an exit too) is the user's to fix
        if path is not None:
            sys.modules.pop(module_name, None)
        raise HarnessError(f"--model {spec}: {target} does not import ({_one_line(error)})") from None
    factory = getattr(module, name, None)
    if factory is None:
        raise HarnessError(f"--model {spec}: {target} has no {name}; name a function it defines")
    if not callable(factory):
        raise HarnessError(f"--model {spec}: {name} in {target} is not callable ({type(factory).__name__})")
    return factory


def source_file(spec: str) -> Path:
    """The file the factory's code is in (its module's file)."""
    target = spec.rpartition(":")[0]
    if target.endswith(".py"):
        return Path(target)
    return Path(importlib.import_module(target).__file__)


def _in_harness(source: Path) -> bool:
    """Whether a factory's file is part of the harness package itself."""
    return source.resolve().is_relative_to(Path(__file__).resolve().parent)


@contextmanager
def _building_under(precision: Precision | str, seed: int):
    """``precision``'s dtype policy and ``seed``'s Keras random state, one build at a time in a process
    (the random state is global)."""
    with _building:
        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16" if precision == Precision.BFLOAT16 else "float32")
        keras.utils.set_random_seed(seed)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(before)


def build(spec: str, image_size: int, precision: Precision | str, seed: int = 0) -> keras.Model:
    """The factory's model under ``precision``'s dtype policy and ``seed``'s Keras random state (a
    learner's model, whose weights are loaded afterwards, takes seed 0)."""
    factory = load_factory(spec)
    with _building_under(precision, seed):
        return factory(image_size)


def training_parts(model: keras.Model) -> tuple[keras.optimizers.Optimizer, object]:
    """A compiled model's optimizer and loss; else Adam with Keras defaults and binary cross-entropy."""
    if getattr(model, "compiled", False):
        return model.optimizer, model.loss
    return keras.optimizers.Adam(), "binary_crossentropy"


@contextmanager
def _unallocated():
    """A Keras stateless scope whose variables are never initialised: shapes and counts without memory.

    Yields a function giving the variables created in the scope so far (a factory that fails inside
    it, e.g. by compiling, has created its model's by then: they are counted before anything is
    allocated). Keras keeps such variables in a global list for a later scope to initialise; it is
    restored, so the inspected model's variables are dropped with it. Yields ``None``, and no scope,
    where that list is not where this Keras version keeps it (an internal module): the model is then
    inspected allocated.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:
        yield None
        return
    pending = list(global_state.get_global_attribute("uninitialized_variables", []) or [])

    def created() -> list:
        return (global_state.get_global_attribute("uninitialized_variables", []) or [])[len(pending) :]

    try:
        with keras.StatelessScope(initialize_variables=False):
            yield created
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


def _name(thing: object) -> str:
    if isinstance(thing, str):
        return thing
    return getattr(thing, "name", None) or type(thing).__name__


class _NeedsVariables(Exception):
    """The factory creates variables of its own (an optimizer, by compiling): no stateless scope for it."""


def _call(spec: str, factory: Callable, image_size: int, precision: Precision | str, stateless: bool) -> keras.Model:
    try:
        with _building_under(precision, 0):
            model = factory(image_size)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code: any exception, or an exit, is a refusal
        if stateless:
            raise _NeedsVariables from error
        raise HarnessError(f"--model {spec}: the factory raised {_one_line(error)}") from None
    if not isinstance(model, keras.Model):
        raise HarnessError(f"--model {spec}: the factory returned a {type(model).__name__}, not a keras.Model")
    return model


def _refuse_too_large(spec: str, parameters: int, processes: int) -> None:
    """One line with the numbers when training ``parameters`` in ``processes`` processes needs more
    memory than this machine has."""
    from harness.store import physical_memory

    needed, memory = parameters * BYTES_PER_PARAMETER * processes, physical_memory()
    if needed > memory:
        per = f" in each of {processes} processes" if processes > 1 else ""
        raise HarnessError(
            f"--model {spec}: {parameters:,} parameters need about {needed / 1e9:.1f} GB to train{per} "
            f"({BYTES_PER_PARAMETER:.0f} bytes per parameter, as measured for the original CNN), "
            f"more than this machine's {memory / 1e9:.1f} GB; use a smaller model, --image-size or --workers"
        )


def _checked(spec: str, model: keras.Model, image_size: int, processes: int) -> ModelInfo:
    try:
        output = model(keras.KerasTensor((None, image_size, image_size, 1)))
    except Exception as error:  # noqa: BLE001
        raise HarnessError(
            f"--model {spec}: the model does not accept (None, {image_size}, {image_size}, 1) images "
            f"at --image-size {image_size} ({_one_line(error)})"
        ) from None
    output_shape = tuple(getattr(output, "shape", ()))
    if output_shape != (None, 1):
        raise HarnessError(
            f"--model {spec}: the model's output is {output_shape}, not (None, 1): "
            "end it with one sigmoid unit, e.g. keras.layers.Dense(1, activation='sigmoid')"
        )
    if not model.trainable_weights:
        raise HarnessError(f"--model {spec}: the model has no trainable weights; it would learn nothing")
    parameters = int(model.count_params())
    _refuse_too_large(spec, parameters, processes)
    compiled = getattr(model, "compiled", False)
    source = source_file(spec)
    return ModelInfo(
        spec=spec,
        source=str(source),
        sha256=None if _in_harness(source) else hashlib.sha256(source.read_bytes()).hexdigest(),
        parameters=parameters,
        layers=tuple(f"{type(layer).__name__} {layer.count_params()}" for layer in model.layers),
        optimizer=type(model.optimizer).__name__ if compiled else "Adam",
        loss=_name(model.loss) if compiled else "binary_crossentropy",
    )


def inspect_model(spec: str, image_size: int, precision: Precision | str, processes: int = 1) -> ModelInfo:
    """Check the factory's model before any training; one line saying what is wrong otherwise.

    Refused: a factory that raises or returns the same object twice (a cached model), a model that
    does not accept (S, S, 1) batches or whose output is not (None, 1) or not in [0, 1] for a zero
    image, one without trainable weights, and one whose parameters would need more memory
    to train in ``processes`` processes than this machine has. The stateless build is checked first,
    memory included, so nothing is allocated for a model that is refused; a factory that creates
    variables itself (compiling an optimizer does) fails in the stateless scope after creating its
    model's weights, which are counted. Only then is the model built allocated, for the forward pass.
    """
    factory = load_factory(spec)
    first = None
    with _unallocated() as created:
        if created is not None:
            try:
                first = _call(spec, factory, image_size, precision, stateless=True)
            except _NeedsVariables:
                _refuse_too_large(spec, sum(math.prod(v.shape) for v in created()), processes)
            else:
                _checked(spec, first, image_size, processes)
    model = _call(spec, factory, image_size, precision, stateless=False)
    if model is (first if first is not None else _call(spec, factory, image_size, precision, stateless=False)):
        raise HarnessError(
            f"--model {spec}: the factory returned the same model object twice; it must build a new model on "
            "every call (every seed and root trains its own; no functools.cache)"
        )
    info = _checked(spec, model, image_size, processes)
    _forward(spec, model, image_size)
    return info


def _forward(spec: str, model: keras.Model, image_size: int) -> None:
    """A real forward pass of one zero image: the symbolic call lets a model built for other inputs
    (e.g. ``keras.Input((S, S, 3))``) through, and only real values show the output is a probability."""
    shape = (1, image_size, image_size, 1)
    try:
        output = keras.ops.convert_to_numpy(model(np.zeros(shape, np.float32), training=False))
    except Exception as error:  # noqa: BLE001 - the user's model
        raise HarnessError(
            f"--model {spec}: the model does not accept a {shape} batch at --image-size {image_size} "
            f"({_one_line(error)}); its input must be keras.Input(({image_size}, {image_size}, 1))"
        ) from None
    if output.shape != (1, 1):
        raise HarnessError(f"--model {spec}: the model's output for a {shape} batch is {output.shape}, not (1, 1)")
    value = float(output[0, 0])
    if not 0 <= value <= 1:  # NaN fails too
        raise HarnessError(
            f"--model {spec}: the model gives {value:g} for a zero image, not a probability in [0, 1]: "
            "end it with one sigmoid unit, e.g. keras.layers.Dense(1, activation='sigmoid')"
        )
