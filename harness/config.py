"""The study spec: what a command was asked to do, as frozen dataclasses validated once, here.

The CLI builds these from its options and nothing below re-validates them. Ranges of single
numbers are declared in ``harness.choices`` and enforced by the options themselves (typer shows
them in ``--help``); every rule that parses text or relates two options is one function here,
called when the spec is built, and raises one ``HarnessError`` line naming the option. config.json
is their serialisation (``to_dict``). No heavy imports: ``--help`` and the checks need neither
TensorFlow nor OpenCV.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.choices import DEFAULT_MODEL, DatasetName, Precision, Protocol
from harness.errors import HarnessError
from harness.schema import LARGEST_LOG_LOSS, UNBOUNDED_ABOVE, Metric, Spending

# ---- data, training, study ---------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Everything that decides which pixels the study sees."""

    dataset: DatasetName = DatasetName.LFW
    data_dir: str | None = None
    data_home: str | None = None
    negatives_dir: str = "otherActors"
    actors: tuple[str, ...] | None = None
    max_positives: int = 150
    negatives: int = 150
    image_size: int = 100
    data_seed: int = 0
    protocol: Protocol = Protocol.DISJOINT
    cache_dir: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """The options that identify a dataset (cache location left out)."""
        options = asdict(self)
        options.pop("cache_dir")
        options["actors"] = list(self.actors) if self.actors else None
        return options


@dataclass(frozen=True)
class TrainConfig:
    """How each stage trains: the original CNN, batch 32 and 60 epochs by default (``model``: a
    ``harness.factory`` spec)."""

    epochs: int = 60
    batch_size: int = 32
    precision: Precision = Precision.FLOAT32
    model: str = DEFAULT_MODEL


LARGEST_SEED = 2**63 - 1
"""SQLite stores integers in 64 bits."""


@dataclass(frozen=True)
class StudyConfig:
    """Everything that determines the study's numbers (not where or how fast it runs)."""

    data: DataConfig
    train: TrainConfig
    seeds: tuple[int, ...]

    def to_dict(self) -> dict:
        return {**self.data.to_dict(), **asdict(self.train), "seeds": list(self.seeds)}


def check_seeds(seeds: tuple[int, ...]) -> None:
    """Seeds up to the largest the results store holds (``--first-seed``'s option refuses < 0):
    ``--first-seed`` with the number of seeds, for a study that stores them."""
    if seeds and max(seeds) > LARGEST_SEED:
        raise HarnessError(
            f"--first-seed {min(seeds)} with {len(seeds)} seeds reaches seed {max(seeds)}, beyond {LARGEST_SEED}, "
            "the largest the results store holds; pass a smaller --first-seed"
        )


# ---- the analysis ------------------------------------------------------------------------------

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_EFFECT = 0.05
ALPHA_RANGE = "(0, 0.5]"


@dataclass(frozen=True)
class Settings:
    """What the primary analysis is run with: the metric, the family-wise alpha, the min effect
    (recorded in config.json by ``harness permute``; see :func:`recorded`)."""

    metric: Metric = Metric.ACCURACY
    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric(self.metric))  # the one parse of a metric's name

    def to_dict(self) -> dict:
        return {**asdict(self), "metric": str(self.metric)}


def alpha_problem(alpha: float) -> str | None:
    """What is wrong with ``--alpha``: a family-wise error rate in (0, 0.5] (NaN fails too); None if nothing."""
    return None if 0 < alpha <= 0.5 else f"{alpha:g} is not in {ALPHA_RANGE}; e.g. 0.05 for 5 %"


def min_effect_problem(min_effect: float) -> str | None:
    """What is wrong with ``--min-effect`` on its own: it must be > 0 and finite; None if nothing."""
    return None if 0 < min_effect < math.inf else f"{min_effect:g} is not > 0; e.g. 0.05 for 5 accuracy points"


def check_min_effect_range(settings: Settings) -> None:
    """A min effect that a difference of two values of the metric can reach: at most 1 for the
    metrics in [0, 1], about 36 for log loss (``LARGEST_LOG_LOSS``). The one rule relating the two
    options, checked where the analysis' settings are final (permute's spec, the report's)."""
    largest = LARGEST_LOG_LOSS if settings.metric in UNBOUNDED_ABOVE else 1.0
    if settings.min_effect > largest:
        raise HarnessError(
            f"--min-effect {settings.min_effect:g} is beyond the range of {settings.metric} (no difference "
            f"exceeds {largest:.4g}); give the smallest effect worth detecting, e.g. 0.05"
        )


def recorded(config: object) -> tuple[Settings, frozenset[str]]:
    """The settings of a run from its config (config.json's ``config``; anything else reads as none),
    and the names of those it records (the others are what runs made before them did: accuracy, and
    the sequential design's alpha and min effect, else the defaults). A recorded metric that is not
    one is an error naming config.json."""
    config = config if isinstance(config, dict) else {}
    design = config.get("design") if isinstance(config.get("design"), dict) else {}
    names = [f.name for f in fields(Settings)]
    found = {n: config[n] for n in names if _valid(n, config.get(n))}
    implied = {n: design[n] for n in ("alpha", "min_effect") if n not in found and _valid(n, design.get(n))}
    try:
        settings = Settings(**implied, **found)
    except ValueError:  # a metric's name that is not one
        raise HarnessError(
            f"config.json records the primary metric {found['metric']!r}, which is not one of {', '.join(Metric)}; "
            "correct it in config.json, or move config.json aside and choose one with --metric"
        ) from None
    for name, problem in (
        ("alpha", alpha_problem(settings.alpha)),
        ("min_effect", min_effect_problem(settings.min_effect)),
    ):
        if problem:
            raise HarnessError(
                f"config.json records a bad {name}: {problem}; correct it in config.json, or move config.json aside"
            )
    return settings, frozenset(found) | frozenset(implied)


def _valid(name: str, value: object) -> bool:
    if name == "metric":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---- the sequential design ---------------------------------------------------------------------

ACTOR_CLAIM = "Q5"  # the claim that reads only the fresh models and may have a horizon of its own
MAX_LOOKS = 60
"""Looks per claim at most: one set of boundaries then solves in about a second (recursive integration)."""
Q5_HORIZON = 3
"""Q5's horizon by default, in multiples of ``max_seeds`` (60 seeds for the default 20)."""


def look_seeds(look_every: int, horizon: int) -> tuple[int, ...]:
    """Seeds at each look of a claim: every ``look_every`` up to ``horizon``, and at ``horizon``."""
    seeds = list(range(look_every, horizon + 1, look_every))
    return tuple(seeds if seeds and seeds[-1] == horizon else [*seeds, horizon])


@dataclass(frozen=True)
class Design:
    """A sequential design: looks after every ``look_every`` seeds up to ``max_seeds`` (the last look
    at ``max_seeds`` even when it is not a multiple), family-wise ``alpha``, futility ``min_effect``.

    ``q5_max_seeds`` (default ``Q5_HORIZON`` x ``max_seeds``) is Q5's own horizon: its looks go on,
    on the fresh models only, once Q1-Q4 are decided or at their horizon (Q5 compares one fresh model
    per actor and seed, and ruling out an actor difference of min-effect takes more seeds than the
    other claims need: README, "Where the seeds go"). Each claim has its own looks and information
    fractions (:meth:`claim_looks`, :meth:`claim_fractions`); the study's looks are their union.
    ``alpha`` and ``min_effect`` are the analysis ``Settings``' (validated there)."""

    max_seeds: int = 20
    look_every: int = 5
    spending: Spending = Spending.POCOCK
    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT
    q5_max_seeds: int | None = None

    def __post_init__(self) -> None:
        if self.q5_max_seeds is None:
            object.__setattr__(self, "q5_max_seeds", Q5_HORIZON * self.max_seeds)
        check_schedule(self)

    def horizon(self, claim: str) -> int:
        """The most seeds the claim is tested on."""
        return self.q5_max_seeds if str(claim) == ACTOR_CLAIM else self.max_seeds

    def claim_looks(self, claim: str) -> tuple[int, ...]:
        """Seeds at each of the claim's looks."""
        return look_seeds(self.look_every, self.horizon(claim))

    def claim_fractions(self, claim: str) -> tuple[float, ...]:
        """The claim's information fractions: its seeds at each look over its horizon."""
        return tuple(n / self.horizon(claim) for n in self.claim_looks(claim))

    def claim_look(self, claim: str, seeds: int) -> int | None:
        """The claim's own (0-based) look at this many seeds; None when it has no look there."""
        looks = self.claim_looks(claim)
        return looks.index(seeds) if seeds in looks else None

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds at each look of the study: every claim's looks."""
        return tuple(sorted(set(self.claim_looks("Q1")) | set(self.claim_looks(ACTOR_CLAIM))))

    @property
    def fractions(self) -> tuple[float, ...]:
        """Q1-Q4's information fractions."""
        return self.claim_fractions("Q1")

    def to_dict(self) -> dict:
        return {**asdict(self), "spending": str(self.spending)}


def check_schedule(design: Design) -> None:
    """--look-every within --max-seeds, Q5's horizon at least --max-seeds, at most ``MAX_LOOKS`` looks a
    claim: the rules relating the design's options (each is >= 1 by its option)."""
    if design.look_every > design.max_seeds:  # the options refuse < 1
        raise HarnessError(
            f"--look-every: look_every must be in [1, max_seeds={design.max_seeds}], got {design.look_every}"
        )
    if design.q5_max_seeds < design.max_seeds:
        raise HarnessError(
            f"--q5-max-seeds: q5_max_seeds must be at least max_seeds={design.max_seeds}, got {design.q5_max_seeds}"
        )
    most = len(design.claim_looks(ACTOR_CLAIM))
    if most > MAX_LOOKS:
        raise HarnessError(
            f"--look-every: {most} looks (every {design.look_every} seeds up to Q5's horizon of "
            f"{design.q5_max_seeds}); at most {MAX_LOOKS} looks per claim: look every "
            f"{math.ceil(design.q5_max_seeds / MAX_LOOKS)} seeds or more, or lower --max-seeds / --q5-max-seeds"
        )


# ---- command-line text -------------------------------------------------------------------------


def parse_actors(actors: str | None, option: str) -> tuple[str, ...] | None:
    """A comma-separated list of actors (``--actors``, ``--order``): no empty name, none twice."""
    if actors is None:
        return None
    names = tuple(name.strip() for name in actors.split(","))
    if not all(names):
        raise HarnessError(f"{option} {actors!r} has an empty actor name; give names separated by commas, e.g. A,B,C")
    if len(set(names)) != len(names):
        raise HarnessError(f"{option} {actors!r} names an actor twice; name each actor once")
    return names


def parse_seeds(text: str) -> int | None:
    """``--seeds``: a positive number of seeds (a fixed design), or ``auto`` (None)."""
    if text.strip().lower() == "auto":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise HarnessError(f"--seeds must be a positive number of seeds or 'auto', not '{text}'")
    return int(text)


BUDGET_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_budget(text: str | None) -> float | None:
    """``--budget`` as seconds: e.g. ``2h``, ``90m``, ``1h30m``, ``600s`` or ``600``."""
    if text is None:
        return None
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", compact):
        seconds = float(compact)
    elif re.fullmatch(r"(\d+(\.\d+)?[hms])+", compact):
        seconds = sum(float(n) * BUDGET_UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([hms])", compact))
    else:
        raise HarnessError(f"--budget must be a duration such as 2h, 90m, 1h30m or 600s, not '{text}'")
    if seconds <= 0:
        raise HarnessError(f"--budget must be positive, not '{text}'")
    return seconds


# ---- what a command runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    """Where a study trains (not part of its numbers): local processes or a Dask scheduler, and the
    TensorFlow threads per worker (None: chosen by ``harness.execute.threads_per_worker``)."""

    workers: int = 1
    threads: int | None = None
    scheduler: str | None = None

    @property
    def processes(self) -> int:
        """Processes that hold a model at once on this machine (a Dask cluster's are elsewhere)."""
        return 1 if self.scheduler else self.workers


@dataclass(frozen=True)
class PermuteSpec:
    """``harness permute``: the study, its sequential design (None: a fixed number of seeds), the
    pre-specified analysis, where it runs, the budget and the run directory (None: derived)."""

    study: StudyConfig
    design: Design | None
    settings: Settings
    execution: Execution = Execution()
    budget_seconds: float | None = None
    out: Path | None = None

    def __post_init__(self) -> None:
        check_seeds(self.study.seeds)
        check_min_effect_range(self.settings)

    def config(self) -> dict:
        """config.json's ``config``: the study, the analysis settings and the design."""
        design = self.design.to_dict() if self.design else None
        return self.study.to_dict() | self.settings.to_dict() | {"design": design}

    def run_dir_key(self) -> dict:
        """What the default run directory's name is derived from (as it always was)."""
        return self.study.to_dict() | ({"design": self.design.to_dict()} if self.design else {})


@dataclass(frozen=True)
class ReplicateSpec:
    """``harness replicate``: the notebook once, one model through the actors in ``data.actors``
    order (None: the dataset's), from one seed; ``out``: a JSON file of the numbers."""

    data: DataConfig
    train: TrainConfig
    seed: int = 0
    out: Path | None = None


@dataclass(frozen=True)
class CompareSpec:
    """``harness compare``: B minus A at ``alpha`` and ``min_effect`` (on the runs' own metric,
    which they record), written to ``out`` (None: RUN_B/compare-vs-<RUN_A>)."""

    run_a: Path
    run_b: Path
    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT
    out: Path | None = None
