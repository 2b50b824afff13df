"""The ``harness`` command line: a thin shell over data, study, execute, store and report.

Heavy modules (TensorFlow above all) are imported inside the commands, so ``harness report``
and ``--help`` stay fast and work without them.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
import typing
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.data import DataConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
err = Console(stderr=True)

# Options shared by every command that loads images.
DatasetOpt = Annotated[str, typer.Option("--dataset", help="'lfw' (scikit-learn's LFW cache) or 'folder'.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Folder with one folder per actor (--dataset folder).")]
DataHomeOpt = Annotated[
    Path | None, typer.Option(help="scikit-learn data home holding lfw_home/ (else SCIKIT_LEARN_DATA).")
]
NegativesDirOpt = Annotated[str, typer.Option(help="Name of the negatives folder inside --data-dir.")]
ActorsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated actors, e.g. A,B,C (default: all folders / LFW's top 3).")
]
MaxPositivesOpt = Annotated[int, typer.Option(min=1, help="At most this many images per actor.")]
NegativesOpt = Annotated[int, typer.Option(min=1, help="Size of the negative pool.")]
ImageSizeOpt = Annotated[int, typer.Option(help="Images are resized to S x S gray.")]
DataSeedOpt = Annotated[int, typer.Option(help="Seed that draws which files are used.")]
CacheDirOpt = Annotated[Path | None, typer.Option(help="Decoded-image cache (default ~/.cache/harness).")]
EpochsOpt = Annotated[int, typer.Option(min=1, help="Epochs per stage.")]
PrecisionOpt = Annotated[str, typer.Option(help="float32 or bfloat16 (Keras mixed precision).")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="A line per finished training.")]


def data_config(
    dataset: DatasetOpt = "lfw",
    data_dir: DataDirOpt = None,
    data_home: DataHomeOpt = None,
    negatives_dir: NegativesDirOpt = "otherActors",
    actors: ActorsOpt = None,
    max_positives: MaxPositivesOpt = 150,
    negatives: NegativesOpt = 150,
    image_size: ImageSizeOpt = 100,
    data_seed: DataSeedOpt = 0,
    cache_dir: CacheDirOpt = None,
    protocol: str = "disjoint",
):
    """The data options of a command as a ``DataConfig`` (paths made absolute for the record)."""
    from harness.data import PROTOCOLS, DataConfig

    if protocol not in PROTOCOLS:
        raise HarnessError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol}'")
    return DataConfig(
        dataset=dataset,
        data_dir=str(data_dir.resolve()) if data_dir else None,
        data_home=str(data_home.resolve()) if data_home else None,
        negatives_dir=negatives_dir,
        actors=parse_actors(actors),
        max_positives=max_positives,
        negatives=negatives,
        image_size=image_size,
        data_seed=data_seed,
        protocol=protocol,
        cache_dir=str(cache_dir) if cache_dir else None,
    )


def parse_actors(actors: str | None) -> tuple[str, ...] | None:
    return tuple(a.strip() for a in actors.split(",") if a.strip()) if actors else None


def with_data_options(protocol: str, protocol_help: str):
    """Give a command every data option of ``data_config`` plus ``--protocol`` (with this default);
    the command receives them as one ``DataConfig`` argument named ``data``."""
    shared = inspect.signature(data_config, eval_str=True).parameters
    protocol_option = inspect.Parameter(
        "protocol",
        inspect.Parameter.KEYWORD_ONLY,
        default=protocol,
        annotation=Annotated[str, typer.Option(help=protocol_help)],
    )

    def decorate(command):
        hints = typing.get_type_hints(command, localns={"DataConfig": object}, include_extras=True)
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


def decoding_progress(items, description: str, total: int):
    from rich.progress import track

    return track(items, description=description, total=total, console=err, transient=True)


def load(config):
    """Load the dataset, warning once per skipped file and per exact duplicate."""
    from harness.data import load_dataset

    dataset = load_dataset(config, progress=decoding_progress)
    for path, reason in dataset.skipped:
        err.print(f"[yellow]warning:[/] skipped {path}: {reason}", highlight=False)
    for label_a, path_a, label_b, path_b in dataset.duplicates:
        err.print(
            f"[yellow]warning:[/] identical pixels in {label_a} and {label_b}: {path_a} = {path_b}", highlight=False
        )
    return dataset


def check_training_options(precision: str, image_size: int) -> None:
    from harness.model import MIN_IMAGE_SIZE, PRECISIONS

    if precision not in PRECISIONS:
        raise HarnessError(f"--precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    if image_size < MIN_IMAGE_SIZE:
        raise HarnessError(f"--image-size {image_size} is too small for the network; use {MIN_IMAGE_SIZE} or more")


@app.command()
@with_data_options("disjoint", "disjoint (leak-free) or original (the notebook's split).")
def data(
    data: DataConfig,
    seed: Annotated[int, typer.Option(help="Split seed to show counts for.")] = 0,
) -> None:
    """Show what would be loaded: per-actor train/test counts, skipped files, the fingerprint."""
    from harness.data import make_split
    from harness.data.splits import leaks
    from harness.study import split_sequence

    loaded = load(data)
    split = make_split(loaded, data.protocol, split_sequence(seed))
    table = Table(title=f"{data.dataset} from {loaded.source} ({data.protocol} split, seed {seed})")
    for column in ("actor", "images", "train +", "train -", "test +", "test -"):
        table.add_column(column, justify="left" if column == "actor" else "right")
    for actor in loaded.actors:
        s = split[actor]
        table.add_row(
            actor,
            str(len(loaded.positives[actor].paths)),
            str(len(s.train_pos)),
            str(len(s.train_neg)),
            str(len(s.test_pos)),
            str(len(s.test_neg)),
        )
    console.print(table)
    console.print(f"negatives: {len(loaded.negatives.paths)} images")
    console.print(f"skipped files: {len(loaded.skipped)}")
    console.print(f"exact duplicates across classes: {len(loaded.duplicates)}")
    console.print(f"images trained with one actor and tested with another: {len(leaks(loaded, split))}")
    console.print(f"dataset fingerprint: {loaded.fingerprint}")


@contextmanager
def training_progress(total: int, skipped: int, verbose: bool, estimate):
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

        def on_node(result) -> None:
            bar.update(task, advance=1, trained=bar.tasks[task].fields["trained"] + bool(result.node.path))
            if verbose:
                node = result.node
                accuracy = {e["eval_actor"]: round(e["accuracy"], 3) for e in result.evaluations}
                bar.console.print(
                    f"seed {node.seed} {node.name or '(untrained)'}: {result.seconds:.1f} s, accuracy {accuracy}",
                    highlight=False,
                )

        yield on_node


def print_matrices(results: Path) -> None:
    """Each order's accuracy matrix R[stage][actor], averaged over seeds."""
    import pandas as pd

    rows = pd.read_csv(results).query("condition == 'shared'")
    for order, frame in rows.groupby("order", sort=True):
        means = frame.pivot_table(index="stage", columns="eval_actor", values="accuracy", aggfunc="mean")
        table = Table("stage", *means.columns, title=f"{order}: mean accuracy over seeds")
        for stage, values in means.iterrows():
            table.add_row(str(stage), *(f"{v:.3f}" for v in values))
        console.print(table)


def confusion(counts: dict) -> Table:
    table = Table("", "predicted other", "predicted actor", box=None)
    table.add_row("true other", str(int(counts["tn"])), str(int(counts["fp"])))
    table.add_row("true actor", str(int(counts["fn"])), str(int(counts["tp"])))
    return table


@app.command()
@with_data_options("original", "original (the notebook's split) or disjoint.")
def replicate(
    data: DataConfig,
    order: Annotated[str | None, typer.Option(help="Training order, e.g. A,B,C (default: the actors' order).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, augmentation and batch order.")] = 0,
    epochs: EpochsOpt = 60,
    precision: PrecisionOpt = "float32",
    out: Annotated[Path | None, typer.Option(help="Also write the numbers as JSON here.")] = None,
) -> None:
    """Rerun the original notebook once: ONE model trained on each actor in turn."""
    check_training_options(precision, data.image_size)
    config = replace(data, actors=parse_actors(order) or data.actors)
    loaded = load(config)
    from harness.execute import StudyConfig, run_node
    from harness.study import Node
    from harness.train import TrainConfig

    study = StudyConfig(config, TrainConfig(epochs=epochs, precision=precision), (seed,))
    path = tuple(loaded.actors)
    stages, parent, started = [], None, time.perf_counter()
    for depth in range(1, len(path) + 1):
        node = Node(seed, path[:depth])
        with console.status(f"stage {depth}: training on {path[depth - 1]} ({epochs} epochs)"):
            result = run_node(loaded, study, node, parent)
        parent = result.snapshot
        on_actor = next(e for e in result.evaluations if e["eval_actor"] == path[depth - 1])
        console.rule(f"Stage {depth}: {path[depth - 1]}")
        console.print(
            f"accuracy {on_actor['accuracy']:.3f}   F1 {on_actor['f1']:.3f}   "
            f"({on_actor['n_test']} test images, {result.seconds:.0f} s training)"
        )
        console.print(confusion(on_actor))
        stages.append(
            {
                "stage": depth,
                "trained_actor": path[depth - 1],
                "seconds": result.seconds,
                "evaluations": result.evaluations,
            }
        )
    console.rule("After the last stage: every actor re-evaluated")
    final = Table("actor", "trained at stage", "accuracy then", "accuracy now", "F1 now")
    for depth, actor in enumerate(path, start=1):
        then = next(e for e in stages[depth - 1]["evaluations"] if e["eval_actor"] == actor)
        now = next(e for e in stages[-1]["evaluations"] if e["eval_actor"] == actor)
        final.add_row(actor, str(depth), f"{then['accuracy']:.3f}", f"{now['accuracy']:.3f}", f"{now['f1']:.3f}")
    console.print(final)
    wall = time.perf_counter() - started
    console.print(f"wall time {wall:.0f} s")
    if out:
        record = {
            "order": list(path),
            "seed": seed,
            "config": study.to_dict(),
            "fingerprint": loaded.fingerprint,
            "wall_seconds": wall,
            "stages": stages,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, default=float))
        console.print(f"wrote {out}")


@app.command()
@with_data_options("disjoint", "disjoint (leak-free) or original.")
def permute(
    data: DataConfig,
    seeds: Annotated[int, typer.Option(min=1, help="Number of seeds.")] = 5,
    first_seed: Annotated[int, typer.Option(help="Seeds run from this one.")] = 0,
    epochs: EpochsOpt = 60,
    precision: PrecisionOpt = "float32",
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: reports/<derived from the config>).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local processes training in parallel.")] = 1,
    threads: Annotated[int | None, typer.Option(help="TensorFlow threads per worker (default cores/workers).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a Dask scheduler to run on instead.")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Every order of the actors over N seeds, with fresh models and controls; resumable."""
    check_training_options(precision, data.image_size)
    loaded = load(data)
    from harness.estimate import estimate_study
    from harness.execute import StudyConfig, make_executor, run_study
    from harness.store import Store, check_config, default_run_dir, locked, run_record
    from harness.study import plan
    from harness.train import TrainConfig

    study = StudyConfig(
        data, TrainConfig(epochs=epochs, precision=precision), tuple(range(first_seed, first_seed + seeds))
    )
    run_dir = out or default_run_dir(study.to_dict())
    started = time.time()
    with locked(run_dir):
        executor = make_executor(loaded, workers, scheduler, threads)
        record = run_record(study.to_dict(), loaded)
        record["execution"] = {
            "workers": executor.slots,
            "threads_per_worker": executor.threads,
            "scheduler": scheduler,
        }
        check_config(run_dir, record)
        store = Store(run_dir)
        total = len(plan(loaded.actors, list(study.seeds)))
        skipped = len(store.finished())
        try:
            estimate = estimate_study(store, loaded, study, executor)
            console.print(estimate.line(), highlight=False)
            with training_progress(total, skipped, verbose, estimate) as on_node:
                run_study(study, loaded.actors, store, executor, on_node)
        finally:
            executor.close()
            ran = len(store.finished()) - skipped
            store.record_session(started, ran, skipped)
            results = store.export(loaded.actors)
            trainings = store.table("trainings")
            store.close()
    wall = time.time() - started
    rate = trainings["n_train"].sum() / max(trainings["seconds"].sum(), 1e-9)
    console.print(
        f"{ran} nodes run (trainings and the untrained models' evaluations), {skipped} already stored; "
        f"wall time {wall:.0f} s; {rate:.0f} images/s while training; results in {results}"
    )
    print_matrices(results)
    report(run_dir)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding results.csv.")],
    metric: Annotated[str, typer.Option(help="Any metric column of results.csv.")] = "accuracy",
    alpha: Annotated[float, typer.Option(help="Family-wise error rate (Holm).")] = 0.05,
    min_effect: Annotated[float, typer.Option(help="Smallest effect worth detecting, for the power statement.")] = 0.05,
) -> None:
    """Significance tests and the Markdown report, from results.csv alone."""
    from harness.report import summary_lines, write_report

    try:
        written = write_report(run_dir, metric=metric, alpha=alpha, min_effect=min_effect)
    except ValueError as error:
        raise HarnessError(str(error)) from None
    import pandas as pd

    for line in summary_lines(pd.read_csv(written.parent / "verdicts.csv", keep_default_na=False)):
        console.print(line, highlight=False)
    console.print(f"wrote {written}")


def main() -> None:
    """Entry point: a ``HarnessError`` becomes one line on stderr and exit code 2."""
    try:
        app()
    except HarnessError as error:
        err.print(f"error: {error}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
