"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s benchmark`."""

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def data_env() -> dict[str, str]:
    return {"SCIKIT_LEARN_DATA": str(SHARED_DATA)} if SHARED_DATA.is_dir() else {}


@nox.session
def tests(session: nox.Session) -> None:
    """The default test suite (real Keras training at tiny sizes, LFW from ../shared)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env=data_env())


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "benchmarks", "noxfile.py")


@nox.session
def benchmark(session: nox.Session) -> None:
    """Throughput benchmarks; saves JSON under .benchmarks/ and compares with the previous save.

    The original and the harness pipelines train in alternating rounds in one process
    (HARNESS_BENCH_ROUNDS each, default 3; HARNESS_BENCH_EPOCHS epochs, default 10); every
    round is stored in the JSON, and the pass/fail check uses the median of the per-round
    speed-ups (benchmarks/conftest.py), since absolute times drift on shared machines.
    """
    session.install("-e", ".[test]")
    previous = list(Path(".benchmarks").rglob("*.json"))
    compare = ["--benchmark-compare"] if previous else []
    session.run(
        "pytest",
        "benchmarks",
        "-p",
        "no:cacheprovider",
        "--benchmark-only",
        "--benchmark-autosave",
        "--benchmark-columns=mean,stddev,rounds",
        *compare,
        *session.posargs,
        env=data_env(),
    )
