"""The ``harness`` command line: options, the spec they make, one step, and what it prints.

Each command parses its options into a spec (``harness.config``: validated there, once), calls
one step of ``harness.session`` (or ``harness.report``) and prints its outcome; the rich console
is the session's ``Display``. Single-number ranges are declared on the options (typer refuses a
bad value, naming it, before any data is loaded, and ``--help`` shows them). Heavy modules
(TensorFlow above all) are imported inside the commands, so ``harness report`` and ``--help``
stay fast and work without them.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import typing
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__
from harness.choices import (
    DEFAULT_MODEL,
    MAX_IMAGE_SIZE,
    MAX_IMAGE_SIZE_MEMORY,
    MIN_IMAGE_SIZE,
    MIN_IMAGES,
    DatasetName,
    Precision,
    Protocol,
)
from harness.config import (
    ALPHA_RANGE,
    CompareSpec,
    DataConfig,
    Design,
    Execution,
    PermuteSpec,
    ReplicateSpec,
    Settings,
    StudyConfig,
    TrainConfig,
    alpha_problem,
    min_effect_problem,
    parse_actors,
    parse_budget,
    parse_seeds,
)
from harness.errors import HarnessError
from harness.schema import Metric, Spending

if TYPE_CHECKING:
    from harness.estimate import Estimate
    from harness.session import Permutation, Replication, Stage

HELP = """Test whether the order in which one face classifier learns several actors matters.

`harness replicate` reruns the original notebook once (one model trained on actor A, then B, then C);
`harness permute` trains every order over many seeds, with fresh models and controls, and writes a
report whose significance tests say which of the original claims hold; `harness report` redoes that
report from a run's results.csv; `harness compare` says how two studies differ (another --model,
precision, epochs...); `harness data` shows what would be loaded. Images come from LFW
(downloaded by scikit-learn) or from your own folder of actor folders (--data-dir).
"""

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()
err = Console(stderr=True)

# Options shared by every command that loads images.
DatasetOpt = Annotated[
    DatasetName | None,
    typer.Option(
        "--dataset",
        help="lfw: scikit-learn's LFW (the default); folder: --data-dir (the default with --data-dir).",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option(help="Folder with one folder per actor and a negatives folder; means --dataset folder.")
]
DataHomeOpt = Annotated[
    Path | None,
    typer.Option(
        exists=True, file_okay=False, help="scikit-learn data home holding lfw_home/ (else SCIKIT_LEARN_DATA)."
    ),
]
NegativesDirOpt = Annotated[str, typer.Option(help="Name of the negatives folder inside --data-dir.")]
ActorsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated actors, e.g. A,B,C (default: all folders / LFW's top 3).")
]
MaxPositivesOpt = Annotated[
    int,
    typer.Option(min=MIN_IMAGES, help=f"At most this many images per actor; every actor needs {MIN_IMAGES} usable."),
]
NegativesOpt = Annotated[
    int, typer.Option(min=MIN_IMAGES, help=f"Size of the negative pool; it needs {MIN_IMAGES} usable images.")
]
ImageSizeOpt = Annotated[
    int,
    typer.Option(
        min=MIN_IMAGE_SIZE,
        max=MAX_IMAGE_SIZE,
        help=f"Images are resized to S x S gray. The network needs {MIN_IMAGE_SIZE} px; its dense layer grows "
        f"with S squared ({MAX_IMAGE_SIZE} px: 123 million weights, {MAX_IMAGE_SIZE_MEMORY} of memory to train).",
    ),
]
DataSeedOpt = Annotated[int, typer.Option(min=0, help="Seed that draws which files are used.")]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(help="Decoded-image cache (default $HARNESS_CACHE_DIR or ~/.cache/harness); see `harness cache`."),
]
EpochsOpt = Annotated[int, typer.Option(min=1, help="Epochs per stage.")]
PrecisionOpt = Annotated[Precision, typer.Option(help="Training precision (bfloat16: Keras mixed precision).")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="A line per finished training.")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="The network: a factory package.module:function or path/to/file.py:function, called as "
        "f(image_size) -> keras.Model for (S, S, 1) inputs in [0, 1] and one sigmoid output; a compiled "
        "model brings its optimizer and loss (default: the original CNN).",
    ),
]


def show_version(value: bool) -> None:
    if value:
        console.print(f"harness {__version__}", highlight=False)
        raise typer.Exit()


@app.callback(help=HELP)
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options before the command."""


def data_config(
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    data_home: DataHomeOpt = None,
    negatives_dir: NegativesDirOpt = "otherActors",
    actors: ActorsOpt = None,
    max_positives: MaxPositivesOpt = 150,
    negatives: NegativesOpt = 150,
    image_size: ImageSizeOpt = 100,
    data_seed: DataSeedOpt = 0,
    cache_dir: CacheDirOpt = None,
    protocol: Protocol = Protocol.DISJOINT,
) -> DataConfig:
    """The data options of a command as a ``DataConfig`` (paths made absolute for the record)."""
    return DataConfig(
        dataset=dataset or (DatasetName.FOLDER if data_dir else DatasetName.LFW),
        data_dir=str(data_dir.resolve()) if data_dir else None,
        data_home=str(data_home.resolve()) if data_home else None,
        negatives_dir=negatives_dir,
        actors=parse_actors(actors, "--actors"),
        max_positives=max_positives,
        negatives=negatives,
        image_size=image_size,
        data_seed=data_seed,
        protocol=protocol,
        cache_dir=str(cache_dir) if cache_dir else None,
    )


def with_data_options(protocol: Protocol, protocol_help: str):
    """Give a command every data option of ``data_config`` plus ``--protocol`` (with this default);
    the command receives them as one ``DataConfig`` argument named ``data``."""
    shared = inspect.signature(data_config, eval_str=True).parameters
    protocol_option = inspect.Parameter(
        "protocol",
        inspect.Parameter.KEYWORD_ONLY,
        default=protocol,
        annotation=Annotated[Protocol, typer.Option(help=protocol_help)],
    )

    def decorate(command):
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(annotation=hints[name]) for name, p in inspect.signature(command).parameters.items()]
        own = [p for p in own if p.name != "data"]
        added = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in shared.items() if name != "protocol"]
        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added + [protocol_option]

        @functools.wraps(command)
        def wrapper(**options):
            data = data_config(**{name: options.pop(name) for name in shared})
            return command(data=data, **options)

        wrapper.__signature__ = inspect.Signature(parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def warn(message: str) -> None:
    """One ``warning:`` line; the message is shown as it is (a ``[...]`` in a path or a library's
    warning is not markup)."""
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


class TrainingBar:
    """The per-node callback of a rich progress bar; ``batch`` points it at a new batch of seeds."""

    def __init__(self, bar, task, verbose: bool):
        self.bar, self.task, self.verbose = bar, task, verbose

    def __call__(self, result) -> None:
        trained = self.bar.tasks[self.task].fields["trained"] + bool(result.node.path)  # the ETA column reads it
        self.bar.update(self.task, advance=1, trained=trained)
        if self.verbose:
            node = result.node
            accuracy = {e["eval_actor"]: round(e["accuracy"], 3) for e in result.evaluations}
            self.bar.console.print(
                f"seed {node.seed} {node.name or '(untrained)'}: {result.seconds:.1f} s, accuracy {accuracy}",
                highlight=False,
            )

    def batch(self, batch, total: int, completed: int) -> TrainingBar:
        """A line for the look a batch of seeds leads to, and the bar reset to the batch."""
        eta = "unknown" if math.isnan(batch.eta_seconds) else f"about {batch.eta_seconds / 60:.1f} min"
        trains = "every order" if batch.depth > 1 else "the fresh models only"
        self.bar.console.print(
            f"look {batch.look + 1} of {batch.looks} at {batch.seeds} seeds; open claims: "
            f"{', '.join(batch.open_claims)} (new seeds train {trains}); ETA to this look: {eta}",
            highlight=False,
        )
        self.bar.reset(self.task, total=total, completed=completed, description=f"look {batch.look + 1}/{batch.looks}")
        return self


class ConsoleDisplay:
    """The session's ``Display`` on this terminal: rich bars and lines, warnings on stderr."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose

    def note(self, line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    def estimate(self, estimate: Estimate) -> None:
        console.print(estimate.line(), highlight=False)

    def studied(self, outcome: Permutation) -> None:
        """The study's account as soon as it is stored, before the report is written."""
        print_permutation(outcome)

    def warn(self, line: str) -> None:
        warn(line)

    def decoding(self, items, description: str, total: int):
        from rich.progress import track

        # not on a terminal (a log, a pipe) a transient bar would leave only blank lines behind
        return track(
            items, description=description, total=total, console=err, transient=True, disable=not err.is_terminal
        )

    @contextmanager
    def trainings(self, total: int, skipped: int, estimate: Estimate):
        """A rich bar over trainings (done/total, elapsed, ETA from ``estimate``); yields the per-node callback."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from harness.estimate import EtaColumn

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            EtaColumn(estimate),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("trainings", total=total, completed=skipped, trained=0)
            yield TrainingBar(bar, task, self.verbose)

    def stage(self, depth: int, actor: str, epochs: int):
        return console.status(f"stage {depth}: training on {actor} ({epochs} epochs)")

    def stage_done(self, stage: Stage) -> None:
        on_actor = stage.on(stage.actor)
        console.rule(f"Stage {stage.depth}: {stage.actor}")
        console.print(
            f"accuracy {on_actor['accuracy']:.3f}   F1 {on_actor['f1']:.3f}   "
            f"({on_actor['n_test']} test images, {stage.seconds:.0f} s training)"
        )
        console.print(confusion(on_actor))


def confusion(counts: dict) -> Table:
    table = Table("", "predicted other", "predicted actor", box=None)
    table.add_row("true other", str(int(counts["tn"])), str(int(counts["fp"])))
    table.add_row("true actor", str(int(counts["fn"])), str(int(counts["tp"])))
    return table


@app.command()
@with_data_options(Protocol.DISJOINT, "disjoint (leak-free) or original (the notebook's split).")
def data(
    data: DataConfig,
    seed: Annotated[int, typer.Option(min=0, help="Split seed to show counts for.")] = 0,
) -> None:
    """Show what would be loaded: per-actor train/test counts, skipped files, the fingerprint."""
    from harness.session import inspect_data

    shown = inspect_data(data, seed, ConsoleDisplay())
    loaded = shown.dataset
    table = Table(title=f"{data.dataset} from {loaded.source} ({data.protocol} split, seed {seed})")
    for column in ("actor", "images", "train +", "train -", "test +", "test -"):
        table.add_column(column, justify="left" if column == "actor" else "right")
    for actor in loaded.actors:
        s = shown.split[actor]
        counts = (loaded.positives[actor].paths, s.train_pos, s.train_neg, s.test_pos, s.test_neg)
        table.add_row(actor, *(str(len(c)) for c in counts))
    console.print(table)
    console.print(f"negatives: {len(loaded.negatives.paths)} images")
    console.print(f"skipped files: {len(loaded.skipped)}")
    console.print(f"exact duplicates across classes: {len(loaded.duplicates)}")
    console.print(f"images trained with one actor and tested with another: {shown.leaks}")
    console.print(f"dataset fingerprint: {loaded.fingerprint}")


@app.command()
@with_data_options(Protocol.ORIGINAL, "original (the notebook's split) or disjoint.")
def replicate(
    data: DataConfig,
    order: Annotated[str | None, typer.Option(help="Training order, e.g. A,B,C (default: the actors' order).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for initialisation, augmentation and batch order.")] = 0,
    epochs: EpochsOpt = 60,
    precision: PrecisionOpt = Precision.FLOAT32,
    model: ModelOpt = DEFAULT_MODEL,
    out: Annotated[Path | None, typer.Option(help="Also write the numbers as JSON to this file.")] = None,
) -> None:
    """Rerun the original notebook once: ONE model trained on each actor in turn."""
    from dataclasses import replace

    from harness.session import replicate as run_replicate

    ordered = replace(data, actors=parse_actors(order, "--order") or data.actors)
    spec = ReplicateSpec(ordered, TrainConfig(epochs=epochs, precision=precision, model=model), seed, out)
    print_replication(run_replicate(spec, ConsoleDisplay()))


def print_replication(outcome: Replication) -> None:
    console.rule("After the last stage: every actor re-evaluated")
    final = Table("actor", "trained at stage", "accuracy then", "accuracy now", "F1 now")
    for actor, depth, then, now in outcome.revisited():
        final.add_row(actor, str(depth), f"{then['accuracy']:.3f}", f"{now['accuracy']:.3f}", f"{now['f1']:.3f}")
    console.print(final)
    console.print(f"wall time {outcome.wall_seconds:.0f} s")
    if outcome.out:
        console.print(f"wrote {outcome.out}")


def alpha_option(value: float | None) -> float | None:
    """``--alpha``'s rule (``harness.config.alpha_problem``), applied as the option is parsed."""
    if value is not None and (problem := alpha_problem(value)):
        raise typer.BadParameter(problem)
    return value


def min_effect_option(value: float | None) -> float | None:
    """``--min-effect``'s own rule (``harness.config.min_effect_problem``; its metric's range is the spec's)."""
    if value is not None and (problem := min_effect_problem(value)):
        raise typer.BadParameter(problem)
    return value


MetricOpt = Annotated[
    Metric | None,
    typer.Option(help="Metric to analyse (default: the primary metric recorded by `harness permute --metric`)."),
]
ALPHA_HELP = f"Family-wise error rate of each Holm family, in {ALPHA_RANGE}"
MIN_EFFECT_HELP = "Smallest effect worth detecting (> 0, in metric units): equivalence bound and power target"
RECORDED = " (default: the run's, recorded in config.json by `harness permute`; else 0.05)."
AlphaOpt = Annotated[float, typer.Option(callback=alpha_option, help=f"{ALPHA_HELP}; recorded in config.json.")]
MinEffectOpt = Annotated[
    float, typer.Option(callback=min_effect_option, help=f"{MIN_EFFECT_HELP}; recorded in config.json.")
]
RecordedAlphaOpt = Annotated[
    float | None, typer.Option(callback=alpha_option, help=ALPHA_HELP + RECORDED, show_default=False)
]
RecordedMinEffectOpt = Annotated[
    float | None, typer.Option(callback=min_effect_option, help=MIN_EFFECT_HELP + RECORDED, show_default=False)
]


@app.command()
@with_data_options(Protocol.DISJOINT, "disjoint (leak-free) or original.")
def permute(
    data: DataConfig,
    seeds: Annotated[
        str, typer.Option(help="Number of seeds (a fixed design), or 'auto': look every --look-every seeds.")
    ] = "5",
    first_seed: Annotated[int, typer.Option(min=0, help="Seeds run from this one.")] = 0,
    epochs: EpochsOpt = 60,
    precision: PrecisionOpt = Precision.FLOAT32,
    model: ModelOpt = DEFAULT_MODEL,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: reports/<derived from the config>).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local processes training in parallel.")] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="TensorFlow threads per worker (default cores/workers).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a Dask scheduler to run on instead.")] = None,
    metric: Annotated[
        Metric, typer.Option(help="The primary metric, recorded in config.json before any result.")
    ] = Metric.ACCURACY,
    max_seeds: Annotated[
        int, typer.Option(min=1, help="--seeds auto: Q1-Q4's horizon: at most this many seeds train every order.")
    ] = 20,
    look_every: Annotated[
        int, typer.Option(min=1, help="--seeds auto: test the claims after every N seeds (at most --max-seeds).")
    ] = 5,
    q5_max_seeds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="--seeds auto: Q5's own horizon (>= --max-seeds; default 3 x --max-seeds): its looks go on, "
            "on the fresh models only.",
        ),
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="--seeds auto: stop before a look that would end after this (e.g. 2h, 90m).")
    ] = None,
    spending: Annotated[
        Spending, typer.Option(help="--seeds auto: Pocock or O'Brien-Fleming boundaries.")
    ] = Spending.POCOCK,
    alpha: AlphaOpt = 0.05,
    min_effect: MinEffectOpt = 0.05,
    verbose: VerboseOpt = False,
) -> None:
    """Every order of the actors over N seeds, with fresh models and controls; resumable.

    With --seeds auto, seeds are trained in batches and the five claims tested after each batch
    against group-sequential boundaries, until every claim is decided, --max-seeds, or --budget.
    """
    from harness.session import permute as run_permute

    fixed = parse_seeds(seeds)
    settings = Settings(metric, alpha, min_effect)
    design = None if fixed else Design(max_seeds, look_every, spending, alpha, min_effect, q5_max_seeds)
    count = fixed or max(design.looks)
    study = StudyConfig(
        data, TrainConfig(epochs=epochs, precision=precision, model=model), tuple(range(first_seed, first_seed + count))
    )
    execution = Execution(workers, threads, scheduler)
    spec = PermuteSpec(study, design, settings, execution, parse_budget(budget), out)
    print_report(run_permute(spec, ConsoleDisplay(verbose)).report)


def print_permutation(outcome: Permutation) -> None:
    """The looks, the session's account and each order's mean accuracy matrix."""
    run, sequential = outcome.run, outcome.sequential
    for record in sequential.looks if sequential else ():
        console.print(
            f"look {record.look + 1} ({record.seeds} seeds) {record.claim}: p = {record.p:.4g}, "
            f"boundary p = {record.boundary_p:.4g} (z = {record.boundary_z:.3f}, alpha {record.alpha:.4g}): "
            f"{record.decision}",
            highlight=False,
        )
    rate = f"{run.images_per_second:.0f} images/s while training" if run.images_per_second else "no training"
    console.print(
        f"{run.ran} nodes run (trainings and the untrained models' evaluations), {run.skipped} already stored; "
        f"wall time {outcome.wall_seconds:.0f} s; {rate}; results in {run.results}"
    )
    if sequential is not None:
        console.print(f"sequential design stopped after {sequential.seeds} seeds: {sequential.stop}", highlight=False)
    for order, matrix in outcome.matrices.items():
        table = Table("stage", *matrix.mean.columns, title=f"{order}: mean accuracy over seeds")
        for stage, values in matrix.mean.iterrows():
            table.add_row(str(stage), *(f"{v:.3f}" for v in values))
        console.print(table)


def print_report(written) -> None:
    for line in written.lines:
        console.print(line, highlight=False)
    console.print(f"wrote {written.report_md}", highlight=False)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding results.csv.")],
    metric: MetricOpt = None,
    alpha: RecordedAlphaOpt = None,
    min_effect: RecordedMinEffectOpt = None,
) -> None:
    """The five claims decided, the per-actor tests, plots and report.md, from results.csv alone, with
    the run's recorded analysis settings unless an option departs from them (the first line says so)."""
    from harness.report import write_report

    print_report(write_report(run_dir, metric=metric, alpha=alpha, min_effect=min_effect))


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Run directory A (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="Run directory B: the report says B minus A.")],
    alpha: AlphaOpt = 0.05,
    min_effect: MinEffectOpt = 0.05,
    out: Annotated[
        Path | None, typer.Option(help="Where compare.md, compare.csv and the plot go (default RUN_B/compare-vs-A).")
    ] = None,
) -> None:
    """Compare two studies, B minus A: the claims' quantities (Q1/Q2 once) and the fresh and final models' scores,
    paired by seed when both runs tested the same images."""
    from harness.session import compare as run_compare

    written = run_compare(CompareSpec(run_a, run_b, alpha, min_effect, out))
    for line in written.lines:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {written.compare_md}", highlight=False)


cache_app = typer.Typer(no_args_is_help=True, help="The decoded-image cache: its size, and emptying it.")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(cache_dir: CacheDirOpt = None) -> None:
    """Where the cache is, how many entries it holds, their size and the limit."""
    from harness.data.cache import cache_limit_bytes, default_cache_dir, entries

    directory = cache_dir or default_cache_dir()
    present = entries(directory)
    size = sum(status.st_size for _, status in present)
    console.print(
        f"{directory}: {len(present)} entries, {size / 2**20:.1f} MB; limit {cache_limit_bytes() / 2**20:.0f} MB "
        "(HARNESS_CACHE_LIMIT_MB), least recently used entries removed first",
        highlight=False,
    )


@cache_app.command("clear")
def cache_clear(cache_dir: CacheDirOpt = None) -> None:
    """Remove every entry (images are decoded afresh next time)."""
    from harness.data.cache import clear, default_cache_dir

    directory = cache_dir or default_cache_dir()
    removed, freed = clear(directory)
    console.print(f"removed {removed} entries ({freed / 2**20:.1f} MB) from {directory}", highlight=False)


def plain_output() -> None:
    """Characters the terminal's encoding lacks (``PYTHONIOENCODING=ascii``, a C locale) print as
    escapes instead of ending in a traceback, and a library's Python warning is one ``warning:`` line
    without the source file and line."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, ValueError):  # not a text stream that can be reconfigured
            stream.reconfigure(errors="backslashreplace")
    warnings.showwarning = lambda message, *details, **options: warn(str(message))


def main() -> None:
    """Entry point: a ``HarnessError`` (or a full disk) becomes one line on stderr and its exit code
    (2; 130 for Ctrl-C, 143 for SIGTERM)."""
    from harness.files import disk_full

    plain_output()
    try:
        try:
            app()
        except OSError as error:  # a full disk anywhere (e.g. the report's files) is one line too
            full = disk_full(error)
            if full is None:
                raise
            raise full from None
    except HarnessError as error:
        err.print(f"{error.prefix}{error}", highlight=False, soft_wrap=True)
        raise SystemExit(error.exit_code) from None
