"""``harness permute --seeds auto``: train seeds in batches and look at the primary claims after each.

After every ``look_every`` complete seeds the primary family (``harness.analysis.primary_tests``)
is tested against group-sequential boundaries (``harness.analysis.sequential``); each look is
recorded in the store in one transaction. The study stops when every claim is decided, at
``max_seeds``, or when the next look would exceed the budget at the measured seconds per seed.
A resumed run reads the recorded looks, never re-tests them, and carries on with the same design.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis import primary_tests
from harness.analysis.sequential import (
    ClaimLook,
    Design,
    Outcome,
    decide_look,
    equivalence_bounds,
    repeated_interval,
    repeated_p,
)
from harness.study import plan

if TYPE_CHECKING:
    from harness.execute import StudyConfig

CLAIMS = 5  # the primary family: Q1..Q5
SUMMARY = "sequential.json"
FLOAT_FIELDS = ("alpha", "p", "effect", "ci_low", "ci_high", "sd", "boundary_z", "boundary_p")


class Stop(StrEnum):
    """Why a sequential study stopped."""

    DECIDED = "every claim decided"
    MAX_SEEDS = "max seeds reached"
    BUDGET = "the next look would exceed the budget"


def stored_looks(looks: pd.DataFrame) -> list[ClaimLook]:
    """The store's looks table as records (SQLite keeps NaN as NULL)."""

    def record(row: dict) -> ClaimLook:
        numbers = {k: math.nan if v is None else float(v) for k, v in row.items() if k in FLOAT_FIELDS}
        return ClaimLook(
            **{
                **row,
                **numbers,
                "look": int(row["look"]),
                "seeds": int(row["seeds"]),
                "decision": Outcome(row["decision"]),
            }
        )

    return [record(row) for row in looks.to_dict(orient="records")]


def open_claims(records: list[ClaimLook]) -> list[str]:
    """Claims not yet decided (all five before the first look)."""
    decided = {r.claim for r in records if r.decision != Outcome.OPEN}
    return [f"Q{i}" for i in range(1, CLAIMS + 1) if f"Q{i}" not in decided]


@dataclass(frozen=True)
class Batch:
    """What the progress display shows before a batch of seeds: the look it leads to."""

    look: int  # 0-based
    looks: int
    seeds: int  # seeds at this look
    open_claims: list[str]
    eta_seconds: float  # NaN before anything was measured


@dataclass(frozen=True)
class Result:
    """How a sequential study ended."""

    stop: Stop
    seeds: int
    looks: list[ClaimLook]
    seconds_per_seed: float


def run_auto(
    design: Design,
    metric: str,
    study: StudyConfig,
    actors: list[str],
    store,
    executor,
    budget: float | None,
    spent_before: float,
    on_batch: Callable[[Batch], Callable],
    on_warning: Callable[[str], None] = print,
) -> Result:
    """Run batches of seeds and their looks until the study stops (see the module docstring).

    ``study.seeds`` holds the planned maximum; ``spent_before``: wall seconds of earlier sessions;
    ``on_batch`` is called before each batch and returns the per-node progress callback.
    """
    from harness.execute import run_study  # TensorFlow: only when training (the CLI imports this module)

    started = time.monotonic()
    first = study.seeds[0]
    nodes_per_seed = len(plan(actors, [first]))
    records = stored_looks(store.looks())
    done = {r.look for r in records}
    per_seed = stored_seconds_per_seed(store.table("trainings"), nodes_per_seed)
    seeds = max((design.looks[i] for i in done), default=0)
    for look, n in enumerate(design.looks):
        if look in done:
            continue
        if not open_claims(records):
            return Result(Stop.DECIDED, seeds, records, per_seed)
        finished = store.finished()
        missing = sum(node not in finished for node in plan(actors, list(range(first, first + n))))
        eta = missing / nodes_per_seed * per_seed
        spent = spent_before + time.monotonic() - started
        if budget is not None and math.isfinite(eta) and spent + eta > budget:
            return Result(Stop.BUDGET, seeds, records, per_seed)
        batch = replace(study, seeds=tuple(range(first, first + n)))
        on_node = on_batch(Batch(look, len(design.looks), n, open_claims(records), eta))
        batch_started = time.monotonic()
        ran = run_study(batch, actors, store, executor, on_node, on_warning)
        if ran:
            per_seed = (time.monotonic() - batch_started) / ran * nodes_per_seed
        results = pd.read_csv(store.export(actors))
        evidence = primary_tests(results[results["seed"].between(first, first + n - 1)], metric)
        new = list(decide_look(design, look, evidence, records))
        store.record_look([r.to_dict() for r in new])
        records += new
        seeds = n
    stop = Stop.MAX_SEEDS if open_claims(records) else Stop.DECIDED
    return Result(stop, seeds, records, per_seed)


def stored_seconds_per_seed(trainings: pd.DataFrame, nodes_per_seed: int) -> float:
    """Training seconds per node of earlier sessions times nodes per seed (NaN if none)."""
    if trainings.empty:
        return math.nan
    return float(trainings["seconds"].mean()) * nodes_per_seed


def summary(design: Design, result: Result, metric: str, budget: float | None) -> dict:
    """What the report shows: the design, each look with its boundaries, the stopping reason, and
    per claim the repeated p-value and repeated CI at its last look (Jennison & Turnbull ch. 9), and
    for Q2-Q4 the repeated bounds at alpha that futility compares with min-effect."""
    looks = []
    for r in result.looks:
        p_rep = repeated_p(r.p, r.look, design.fractions, design.spending, r.alternative)
        low, high = repeated_interval(
            r.effect, r.sd, r.seeds, r.look, design.fractions, design.spending, r.alpha, r.alternative
        )
        equivalence = equivalence_bounds(r.effect, r.sd, r.seeds, design, r.look, r.alternative)
        looks.append(
            {
                **r.to_dict(),
                "repeated_p": p_rep,
                "repeated_ci_low": low,
                "repeated_ci_high": high,
                "equivalence_low": equivalence[0],
                "equivalence_high": equivalence[1],
            }
        )
    return {
        "design": design.to_dict() | {"looks": list(design.looks), "fractions": list(design.fractions)},
        "metric": metric,
        "budget_seconds": budget,
        "stop": str(result.stop),
        "seeds": result.seeds,
        "seconds_per_seed": result.seconds_per_seed,
        "looks": looks,
    }


def finite(value):
    """NaN and infinities as null, recursively, for strict JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary(run_dir: Path, content: dict) -> Path:
    """sequential.json, atomically."""
    file = run_dir / SUMMARY
    partial = file.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(finite(content), indent=1, allow_nan=False))
    os.replace(partial, file)
    return file
