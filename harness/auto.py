"""``harness permute --seeds auto``: train seeds in batches and look at the primary claims after each.

Before each batch the new seeds are planned at the deepest tree a claim still open reads
(``Claim.depth``: the whole prefix tree while one of Q1-Q4 is open, the fresh models once Q5 is
alone), and the plans are recorded in the store before any of them is trained. After the batch
the primary family (``harness.analysis.primary_tests``) is tested, each claim on the seeds that
hold its nodes and against its own group-sequential boundaries (``harness.analysis.sequential``);
each look is recorded in the store in one transaction. The study stops when every claim is
decided or at its horizon, or when the next look would exceed the budget at the measured seconds
per training. A resumed run reads the recorded plans and looks, never re-tests a look, and
carries on with the same design and plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness import rundir
from harness.analysis import primary_tests
from harness.analysis.questions import Claim
from harness.analysis.sequential import (
    decide_look,
    equivalence_bounds,
    repeated_interval,
    repeated_p,
    still_open,
)
from harness.config import Design
from harness.files import atomic_write, strict_json
from harness.looks import ClaimLook, LookDecision
from harness.study import Node, plan, tree_trainings

if TYPE_CHECKING:
    from harness.config import PermuteSpec


class Stop(StrEnum):
    """Why a sequential study stopped."""

    DECIDED = "every claim decided"
    MAX_SEEDS = "max seeds reached"
    BUDGET = "the next look would exceed the budget"


CLAIM_NAMES = tuple(str(c) for c in Claim)


def open_claims(records: list[ClaimLook]) -> list[str]:
    """Claims not yet decided (all five before the first look)."""
    decided = {r.claim for r in records if r.decision != LookDecision.OPEN}
    return [c for c in CLAIM_NAMES if c not in decided]


def batch_depth(design: Design, records: list[ClaimLook], seeds: int, k: int) -> int | None:
    """How deep the seeds of a batch up to ``seeds`` are trained: the deepest tree any claim still
    open up to there reads (Q5 alone: the fresh models); None when no claim needs them."""
    needed = still_open(design, records, seeds, CLAIM_NAMES)
    return max((Claim(c).depth(k) for c in needed), default=None)


@dataclass(frozen=True)
class Batch:
    """What the progress display shows before a batch of seeds: the look it leads to."""

    look: int  # 0-based
    looks: int
    seeds: int  # seeds at this look
    open_claims: list[str]  # the claims this batch trains for
    depth: int  # of each new seed's tree: k (every order) or 1 (the fresh models, for Q5)
    eta_seconds: float  # NaN before anything was measured


@dataclass(frozen=True)
class Result:
    """How a sequential study ended."""

    stop: Stop
    seeds: int
    looks: list[ClaimLook]
    seconds_per_training: float  # wall seconds per training at the end (``wall_per_training``)
    plans: dict[int, int]  # seed -> the depth of its tree that was planned


def planned_nodes(actors: list[str], plans: dict[int, int]) -> list[Node]:
    """Every node the seeds' recorded plans hold."""
    return [node for seed, depth in sorted(plans.items()) for node in plan(actors, [seed], depth)]


def forecast(design: Design, records: list[ClaimLook], actors: list[str], first: int, plans: dict) -> list[Node]:
    """What the study trains at most from here: the planned seeds, and every later seed up to the
    horizons of the claims open now, at the depth they read (the estimate and the progress count this)."""
    k, more = len(actors), dict(plans)
    for n in range(max(plans, default=first - 1) - first + 2, max(design.looks) + 1):
        depth = batch_depth(design, records, n, k)
        if depth is not None:
            more[first + n - 1] = depth
    return planned_nodes(actors, more)


def run_auto(
    spec: PermuteSpec,
    actors: list[str],
    store,
    executor,
    on_batch: Callable[[Batch], Callable],
    on_warning: Callable[[str], None] = print,
) -> Result:
    """Run batches of seeds and their looks until the study stops (see the module docstring).

    ``spec.study.seeds`` holds the planned maximum, ``spec.design`` the looks; the budget counts
    the wall seconds of earlier sessions too. ``on_batch`` is called before each batch and returns
    the per-node progress callback. Each batch's seeds train only what the claims still open read
    (:func:`batch_depth`), recorded in the store's plans before any of them is trained, so a
    resumed run continues the same plan.
    """
    from harness.execute import run_study  # TensorFlow: only when training (the CLI imports this module)

    design, study, budget, metric = spec.design, spec.study, spec.budget_seconds, str(spec.settings.metric)
    started, spent_before = time.monotonic(), store.wall_seconds()
    first, k = study.seeds[0], len(actors)
    records = store.looks()
    plans = store.plans()
    done = {r.look for r in records}
    per_training = wall_per_training(store, executor)
    seeds = max((design.looks[i] for i in done), default=0)
    for look, n in enumerate(design.looks):
        if look in done:
            continue
        depth = batch_depth(design, records, n, k)
        if depth is None:
            break
        finished = store.finished()
        deepest = {node.seed: len(node.path) for node in sorted(finished, key=lambda node: len(node.path))}
        new = {s: max(depth, deepest.get(s, 0)) for s in range(first, first + n) if s not in plans}
        nodes = planned_nodes(actors, plans | new)
        eta = sum(bool(node.path) and node not in finished for node in nodes) * per_training
        spent = spent_before + time.monotonic() - started
        if budget is not None and math.isfinite(eta) and spent + eta > budget:
            return Result(Stop.BUDGET, seeds, records, per_training, plans)
        store.record_plans(new)
        plans |= new
        batch = replace(study, seeds=tuple(range(first, first + n)))
        claims = still_open(design, records, n, CLAIM_NAMES)
        on_node = on_batch(Batch(look, len(design.looks), n, claims, depth, eta))
        run_study(batch, actors, store, executor, on_node, on_warning, nodes)
        per_training = wall_per_training(store, executor)
        results = pd.read_csv(store.export(actors))
        evidence = primary_tests(results[results["seed"].between(first, first + n - 1)], metric)
        new_records = list(decide_look(design, look, evidence, records))
        store.record_look(new_records)
        records += new_records
        seeds = n
    stop = Stop.MAX_SEEDS if open_claims(records) else Stop.DECIDED
    return Result(stop, seeds, records, per_training, plans)


def wall_per_training(store, executor) -> float:
    """Wall seconds a training adds to the study: the store's seconds per training over the
    trainings run at once (NaN before any was stored)."""
    seconds = store.seconds_per_training()
    return math.nan if seconds is None else seconds / executor.slots


def claim_seeds(result: Result) -> dict[str, int]:
    """Per claim, the seeds it was tested on at its last look (0 if never)."""
    last = {r.claim: r.seeds for r in result.looks}
    return {c: last.get(c, 0) for c in CLAIM_NAMES}


def partial_seeds(plans: dict[int, int], k: int) -> list[int]:
    """Seeds whose plan holds less than the whole tree (only the fresh models, for Q5)."""
    return sorted(seed for seed, depth in plans.items() if depth < k)


def summary(design: Design, result: Result, metric: str, budget: float | None, k: int) -> dict:
    """What the report shows: the design with each claim's looks, each look with its boundaries,
    the stopping reason, the seeds each claim was tested on and the partial seeds, and per claim
    the repeated p-value and repeated CI at its last look (Jennison & Turnbull ch. 9), and for
    Q2-Q4 the repeated bounds at alpha that futility compares with min-effect."""
    looks = []
    for r in result.looks:
        own, fractions = design.claim_look(r.claim, r.seeds), design.claim_fractions(r.claim)
        p_rep = repeated_p(r.p, own, fractions, design.spending, r.alternative)
        low, high = repeated_interval(r.effect, r.sd, r.seeds, own, fractions, design.spending, r.alpha, r.alternative)
        equivalence = equivalence_bounds(r.effect, r.sd, design, r)
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
    schedules = {
        c: {"looks": list(design.claim_looks(c)), "fractions": list(design.claim_fractions(c))} for c in CLAIM_NAMES
    }
    trainings = sum(tree_trainings(k, depth) for depth in result.plans.values())
    return {
        "design": design.to_dict()
        | {"looks": list(design.looks), "fractions": list(design.fractions), "claims": schedules},
        "metric": metric,
        "budget_seconds": budget,
        "stop": str(result.stop),
        "seeds": result.seeds,
        "trainings": trainings,
        "claim_seeds": claim_seeds(result),
        "partial_seeds": partial_seeds(result.plans, k),
        "seconds_per_training": result.seconds_per_training,
        "looks": looks,
    }


def write_summary(run_dir: Path, content: dict) -> Path:
    """sequential.json, atomically, as strict JSON (NaN as null)."""
    file = run_dir / rundir.SEQUENTIAL
    atomic_write(file, strict_json(content, indent=1))
    return file
