"""Simulated ``--seeds auto`` studies: the sequential procedure on the image-level simulator, and what
each allocation of seeds costs in trainings.

The accuracies come from the realistic simulator of ``tests/simulate.py`` (image-level: each
seed's test images shared by all its models, negatives shared across actors, image difficulty,
abilities inherited along the prefix tree). The five pooled per-seed claim values are then
computed as ``harness.analysis.questions`` defines them, vectorised over studies and seeds; at
each look every claim still tested gets its test (Q2-Q4 scipy's t-test, Q1/Q5 the harness's
permutation Friedman test: exact up to 6 seeds, Monte Carlo beyond with at least the harness's
9,999 permutations, more where a boundary needs them: :func:`resamples`) and the same
``decide_look`` as a real study. A seed costs the trainings its plan holds
(``harness.auto.batch_depth``): the whole tree (15 for 3 actors) while Q1-Q4 are open, the 3 fresh
models once only Q5 is.

Alternatives for Q5 (:class:`Q5Option`, the README's paragraph after the table): more than one
fresh model per actor and seed (independent initialisations, Q5's values their mean), a min-effect
of Q5's own, Q5 on ``p_true`` (per-image probabilities from the simulator's ``sharpness``).

Print the table of allocations and alternatives (README, "Where the seeds go"):

    PYTHONPATH=$PWD python tests/sequential_studies.py --studies 300
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np
from scipy import stats
from simulate import DEFAULTS, ClaimEvidence, expected_p_true, node_index, simulate
from simulate import simulate_accuracies as simulate_nodes

from harness.analysis.procedures import MAX_EXACT, RESAMPLES, PermutationFriedman
from harness.analysis.sequential import boundaries, decide_look, nominal_p, still_open
from harness.auto import CLAIM_NAMES, batch_depth
from harness.config import Design
from harness.looks import LookDecision
from harness.schema import Alternative
from harness.study import tree_trainings

ACTORS = ("A", "B", "C")
K = len(ACTORS)
ORDERS = list(permutations(range(K)))
PATHS = [p for depth in range(K + 1) for p in permutations(range(K), depth)]
ALTERNATIVES = {
    "Q1": Alternative.TWO_SIDED,
    "Q2": Alternative.TWO_SIDED,
    "Q3": Alternative.GREATER,
    "Q4": Alternative.GREATER,
    "Q5": Alternative.TWO_SIDED,
}
CHUNK = 100  # studies simulated at once (memory)
SCREEN = 3  # a Friedman p from 9,999 draws above SCREEN x the largest boundary (about 99 hits) is not redrawn
FLOOR_COUNTS = 10  # a Monte Carlo look's boundary p is at least this many times the smallest p, 1/(resamples+1)


def node_key(path: tuple[int, ...], j: int) -> tuple[str, str, str]:
    if not path:
        return ("untrained", "", ACTORS[j])
    if len(path) == 1:
        return ("fresh", ACTORS[path[0]], ACTORS[j])
    return ("shared", ">".join(ACTORS[a] for a in path), ACTORS[j])


def by_path(values: np.ndarray) -> dict:
    """Studies x seeds x nodes (the simulator's node columns) as path -> (studies, seeds, actors)."""
    index = node_index(ACTORS)
    return {path: np.stack([values[..., index[node_key(path, j)]] for j in range(K)], axis=-1) for path in PATHS}


def simulate_accuracies(rng: np.random.Generator, studies: int, n_seeds: int, **effects) -> dict:
    """Accuracy of every node of every seed of every study on every actor: path -> (studies, seeds, actors)."""
    return by_path(simulate_nodes(studies, n_seeds, ACTORS, rng=rng, **effects))


@dataclass(frozen=True)
class Q5Option:
    """How Q5 is measured and decided; the default is the harness's (one fresh model per actor and
    seed, its accuracy, the design's min-effect). Q1-Q4 are never changed.

    ``fresh_inits`` m: m independent initialisations of every fresh model, Q5's value per seed and
    actor their mean (m x k fresh trainings a seed while Q5 is open; the tree's depth-1 node is the
    first); ``inits_share_seed_effects``: they share the seed's seed and seed x actor effects (see
    ``simulate.simulate``). ``min_effect``: Q5's own, in accuracy units (None: the design's).
    ``sharpness``: Q5 on p_true, the per-image probabilities of the simulator's probit, its
    min-effect the same accuracy difference carried to p_true's scale (:meth:`q5_min_effect`);
    ``sharpness_sd``: every model's own confidence (``simulate.simulate``)."""

    fresh_inits: int = 1
    inits_share_seed_effects: bool = False
    min_effect: float | None = None
    sharpness: float | None = None
    sharpness_sd: float = 0.0

    def accuracy_min_effect(self, design: Design) -> float:
        """Q5's min-effect as an actor difference in accuracy."""
        return design.min_effect if self.min_effect is None else self.min_effect

    def q5_min_effect(self, design: Design) -> float:
        """Q5's min-effect on its metric's scale: with p_true, the difference in mean p_true of fresh
        models whose accuracies differ by the accuracy min-effect at the simulator's base accuracy
        (averaged over the models' sharpness, Gauss-Hermite, when it varies)."""
        effect = self.accuracy_min_effect(design)
        if self.sharpness is None:
            return effect
        nodes, weights = np.polynomial.hermite_e.hermegauss(40)
        sharpness = self.sharpness * np.exp(self.sharpness_sd * nodes)
        base = DEFAULTS["base"]
        gain = expected_p_true(base + effect, sharpness) - expected_p_true(base, sharpness)
        return float(np.sum(weights * gain) / np.sum(weights))

    def simulate(
        self, rng: np.random.Generator, studies: int, n_seeds: int, **effects
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every node's accuracy (studies x seeds x nodes), and what Q5 reads of each seed's fresh
        models: studies x seeds x initialisations x actors, on Q5's metric."""
        simulated = simulate(
            studies,
            n_seeds,
            ACTORS,
            rng=rng,
            fresh_inits=self.fresh_inits,
            inits_share_seed_effects=self.inits_share_seed_effects,
            sharpness=self.sharpness,
            sharpness_sd=self.sharpness_sd,
            **effects,
        )
        return simulated.accuracy, simulated.fresh_accuracy if self.sharpness is None else simulated.fresh_p_true

    def values(self, rng: np.random.Generator, studies: int, n_seeds: int, **effects) -> dict[str, np.ndarray]:
        """Per study and seed, the claim values (:func:`claim_values`) with Q5 measured this way."""
        accuracy, fresh = self.simulate(rng, studies, n_seeds, **effects)
        return claim_values(by_path(accuracy)) | {"Q5": fresh.mean(axis=2)}


def claim_values(acc: dict[tuple, np.ndarray]) -> dict[str, np.ndarray]:
    """Per study and seed, the pooled claim values (mean over actors) as harness.analysis.questions
    defines them: Q2-Q4 (studies, seeds), Q1 (by position) and Q5 (by actor) (studies, seeds, levels)."""

    def r(path, x):
        return acc[tuple(path)][..., x]

    def without(order, x):
        return tuple(a for a in order if a != x)

    q1, q2, q3, q4 = [], [], [], []
    for x in range(K):
        by_position = [np.mean([r(o[: p + 1], x) for o in ORDERS if o.index(x) == p], axis=0) for p in range(K)]
        q1.append(np.stack(by_position, axis=-1))
        q2.append(np.mean([r(o[: o.index(x) + 1], x) - r((x,), x) for o in ORDERS if o.index(x) > 0], axis=0))
        q3.append(np.mean([r(o[: o.index(x) + 1], x) - r(o, x) for o in ORDERS if o.index(x) < K - 1], axis=0))
        q4.append(np.mean([r(o, x) - r(without(o, x), x) for o in ORDERS if o.index(x) < K - 1], axis=0))
    return {
        "Q1": np.mean(q1, axis=0),
        "Q2": np.mean(q2, axis=0),
        "Q3": np.mean(q3, axis=0),
        "Q4": np.mean(q4, axis=0),
        "Q5": np.stack([r((x,), x) for x in range(K)], axis=-1),
    }


def friedman_boundaries(design: Design) -> list[float]:
    """The nominal p of Q1's and Q5's boundaries at their smallest level (alpha / 5) at every look where
    the Friedman p is Monte Carlo (more than MAX_EXACT permutations) and the harness's own 9,999
    permutations could reach it (a boundary below 1/10,000 the harness cannot cross either)."""
    out = []
    for claim in ("Q1", "Q5"):
        ps = nominal_p(boundaries(design.claim_fractions(claim), design.alpha / len(CLAIM_NAMES), design.spending))
        out += [
            float(p)
            for n, p in zip(design.claim_looks(claim), ps, strict=True)
            if math.factorial(K) ** n > MAX_EXACT and p >= 1 / (RESAMPLES + 1)
        ]
    return out


def resamples(design: Design) -> int:
    """Monte Carlo permutations for the Friedman p: the harness's 9,999, or more where a boundary of
    :func:`friedman_boundaries` lies within FLOOR_COUNTS x the smallest p (9,999 permutations would
    understate how often Q1/Q5 cross it: Q5's Pocock boundary at alpha 0.01 is 2.95e-4)."""
    needed = FLOOR_COUNTS / min(friedman_boundaries(design), default=1.0) - 1
    return max(RESAMPLES, 10 ** math.ceil(math.log10(needed + 1)) - 1)


def friedman_p(table: np.ndarray, draws: int, screen: float) -> float:
    """The harness's permutation Friedman p (1 where every seed ties all levels: no test), with the
    harness's 9,999 draws, and with ``draws`` where that p is below ``screen`` (SCREEN x the largest
    boundary: only there can it cross one; ties make each table's null distribution its own, and
    99,999 draws for every table would take 20 times as long)."""
    if np.all(np.ptp(table, axis=1) == 0):
        return 1.0
    p = PermutationFriedman(RESAMPLES).run(table).p
    return p if p >= screen or draws == RESAMPLES else PermutationFriedman(draws).run(table).p


def largest_boundary(design: Design) -> float:
    """The largest nominal p of Q1's and Q5's boundaries at any look, at the largest level (alpha)."""
    return max(
        float(np.max(nominal_p(boundaries(design.claim_fractions(c), design.alpha, design.spending))))
        for c in ("Q1", "Q5")
    )


def claim_evidence(claim: str, v: np.ndarray, draws: int = RESAMPLES, screen: float = 1.0) -> ClaimEvidence:
    """One claim's test on one study's per-seed values ``v`` (seeds, or seeds x levels); ``draws``
    and ``screen``: the Friedman test's Monte Carlo permutations (:func:`friedman_p`)."""
    n, alternative = len(v), ALTERNATIVES[claim]
    if v.ndim == 2:
        return ClaimEvidence(claim, alternative, friedman_p(v, draws, screen), n=n, values=v)
    test = stats.ttest_1samp(v, 0.0, alternative=alternative)
    low, high = stats.ttest_1samp(v, 0.0).confidence_interval(0.95)
    return ClaimEvidence(claim, alternative, float(test.pvalue), float(v.mean()), low, high, float(v.std(ddof=1)), n, v)


@dataclass(frozen=True)
class Study:
    """How one simulated sequential study ended."""

    final: dict[str, LookDecision]  # each claim's last decision
    decided_at: dict[str, int]  # seeds at which each decided claim was decided
    seeds: int  # seeds trained (the last look's)
    trainings: int  # as the plans of harness.auto count them


def run_study(
    design: Design, values: dict[str, np.ndarray], study: int, whole_tree: bool, option: Q5Option = Q5Option()
) -> Study:
    """One study looks after each batch until no claim is left to test; each look tests (and each
    batch trains for) only the claims still open; ``whole_tree``: every seed trains every order (the
    allocation before claim-aware seeds). ``option``: how Q5 is measured (its fresh models, its
    extra initialisations while it is open) and decided (its min-effect: Q5's record comes from
    ``decide_look`` with the design at that min-effect; efficacy and the reallocation of alpha do not
    depend on min-effect, so Q1-Q4's records are the same either way)."""
    records: list = []
    decided_at: dict[str, int] = {}
    seeds, trainings, draws, screen = 0, 0, resamples(design), SCREEN * largest_boundary(design)
    q5_design = replace(design, min_effect=option.q5_min_effect(design))
    for look, n in enumerate(design.looks):
        depth = batch_depth(design, records, n, K)
        if depth is None:
            break
        extra = (option.fresh_inits - 1) * K if still_open(design, records, n, ["Q5"]) else 0
        trainings += (n - seeds) * (tree_trainings(K, K if whole_tree else depth) + extra)
        seeds = n
        tested = [c for c in CLAIM_NAMES if c not in decided_at and design.claim_look(c, n) is not None]
        skipped = ClaimEvidence  # a claim not tested at this look: decide_look leaves it alone
        evidence = [
            claim_evidence(c, values[c][study, :n], draws, screen)
            if c in tested
            else skipped(c, ALTERNATIVES[c], np.nan)
            for c in CLAIM_NAMES
        ]
        new = decide_look(design, look, evidence, records)
        if q5_design != design:
            q5 = {r.claim: r for r in decide_look(q5_design, look, evidence, records)}
            new = tuple(q5[r.claim] if r.claim == "Q5" else r for r in new)
        records += new
        decided_at |= {r.claim: n for r in new if r.decision != LookDecision.OPEN}
    return Study({r.claim: r.decision for r in records}, decided_at, seeds, trainings)


def studies(
    design: Design,
    rng: np.random.Generator,
    count: int,
    whole_tree: bool = False,
    option: Q5Option = Q5Option(),
    **effects,
) -> list[Study]:
    """``count`` simulated sequential studies, simulated in chunks to bound memory."""
    out = []
    for chunk in range(0, count, CHUNK):
        size = min(CHUNK, count - chunk)
        values = option.values(rng, size, max(design.looks), **effects)
        out += [run_study(design, values, study, whole_tree, option) for study in range(size)]
    return out


ALLOCATIONS: dict[str, tuple[Design, bool]] = {
    "before: every seed trains the whole tree, Q5 stops at 20": (Design(q5_max_seeds=20), True),
    "claim-aware seeds, Q5 stops at 20": (Design(q5_max_seeds=20), False),
    "claim-aware seeds, Q5 horizon 40": (Design(q5_max_seeds=40), False),
    "claim-aware seeds, Q5 horizon 60 (the default)": (Design(), False),
    "every seed trains the whole tree, Q5 horizon 60": (Design(), True),
}
"""The design's other settings at their defaults: Q1-Q4 up to 20 seeds, looks every 5, Pocock, alpha 0.05,
min-effect 0.05."""
SCENARIOS = {
    "no effect": {},
    "forgetting 0.10": {"forgetting": 0.10},
    "actors 0.05 apart": {"actor_effects": (0.0, 0.0, 0.05)},  # Q5's effect = min-effect: "no effect" is wrong
}


Q5_OPTIONS: dict[str, Q5Option] = {
    "default + 2 fresh models per actor and seed": Q5Option(fresh_inits=2),
    "default + 3 fresh models per actor and seed": Q5Option(fresh_inits=3),
    "default + 2 fresh models, seed effects shared": Q5Option(fresh_inits=2, inits_share_seed_effects=True),
    "default + 3 fresh models, seed effects shared": Q5Option(fresh_inits=3, inits_share_seed_effects=True),
    "default + Q5 min-effect 0.075": Q5Option(min_effect=0.075),
    "default + Q5 min-effect 0.10": Q5Option(min_effect=0.10),
    "default + Q5 on p_true, sharpness 0.5": Q5Option(sharpness=0.5),
    "default + Q5 on p_true, sharpness 1": Q5Option(sharpness=1.0),
    "default + Q5 on p_true, sharpness 3": Q5Option(sharpness=3.0),
    "default + Q5 on p_true, sharpness 1, its log-sd 0.2 between models": Q5Option(sharpness=1.0, sharpness_sd=0.2),
    "default + Q5 on p_true, sharpness 1, its log-sd 0.5 between models": Q5Option(sharpness=1.0, sharpness_sd=0.5),
}
"""Alternatives for Q5 on the default design (claim-aware seeds, Q5's horizon 60); Q1-Q4 unchanged."""
OPTION_SCENARIOS = ("no effect", "forgetting 0.10", "actors at Q5's min-effect")


def option_effects(scenario: str, option: Q5Option, design: Design) -> tuple[str, dict]:
    """The planted effects of an alternative's scenario, and its label: "actors at Q5's min-effect"
    plants an actor difference of exactly the alternative's min-effect (in accuracy units)."""
    if scenario != OPTION_SCENARIOS[-1]:
        return scenario, SCENARIOS[scenario]
    effect = option.accuracy_min_effect(design)
    label = f"{effect:.2f}" if effect == round(effect, 2) else f"{effect:g}"
    return f"actors {label} apart", {"actor_effects": (0.0, 0.0, effect)}


def pairwise(fresh: np.ndarray) -> np.ndarray:
    """Every pairwise actor difference of per-actor values (last axis), stacked on the last axis."""
    return np.stack([fresh[..., i] - fresh[..., j] for i in range(K) for j in range(i + 1, K)], axis=-1)


@dataclass(frozen=True)
class Q5Variance:
    """Q5's per-seed variance of a pairwise actor difference, split into the model's part (between
    independent initialisations of one seed) and the seed's (the test set, and what else the
    initialisations share); ``of_mean``: measured variance of the mean of m initialisations."""

    model: float
    seed: float
    of_mean: dict[int, float]

    def line(self, name: str, min_effect: float, reference: float) -> str:
        """What the README quotes: the parts, the mean of m against model / m + seed, the trainings
        m models need relative to one (m x variance; seeds scale with the variance), and the seeds
        relative to ``reference`` at the same planted effect ((variance / min-effect^2) ratio)."""
        fits = "; ".join(
            f"m={m}: {v:.2e} (model/m + seed {self.model / m + self.seed:.2e}, m x var / var(m=1) "
            f"{m * v / self.of_mean[1]:.2f})"
            for m, v in self.of_mean.items()
        )
        seeds = self.of_mean[1] / min_effect**2 / reference
        return f"{name}: model {self.model:.2e}, seed {self.seed:.2e}; {fits}; seeds vs accuracy's {seeds:.2f}"


def q5_variance(rng: np.random.Generator, option: Q5Option, inits: int = 10, seeds: int = 2000) -> Q5Variance:
    """:class:`Q5Variance` of Q5 measured as ``option`` says (its fresh_inits replaced by ``inits``),
    no planted effect, ``seeds`` seeds."""
    _, values = replace(option, fresh_inits=inits).simulate(rng, seeds // 50, 50)
    d = pairwise(values).reshape(-1, inits, K * (K - 1) // 2)
    model = float(d.var(axis=1, ddof=1).mean())
    seed = float(d.mean(axis=1).var(axis=0, ddof=1).mean()) - model / inits
    return Q5Variance(model, seed, {m: float(d[:, :m].mean(axis=1).var(axis=0, ddof=1).mean()) for m in (1, 2, 3)})


def row(name: str, scenario: str, results: list[Study]) -> str:
    """One line of the README's table."""
    trainings = np.mean([s.trainings for s in results])
    seeds = np.mean([s.seeds for s in results])
    q5 = np.mean([s.final.get("Q5", LookDecision.OPEN) != LookDecision.OPEN for s in results])
    any_effect = np.mean([any(d == LookDecision.EFFECT for d in s.final.values()) for s in results])
    q5_no_effect = np.mean([s.final.get("Q5") == LookDecision.NO_EFFECT for s in results])
    return f"| {name} | {scenario} | {trainings:.0f} | {seeds:.1f} | {q5:.0%} | {any_effect:.3f} | {q5_no_effect:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=300, help="Simulated studies per row.")
    args = parser.parse_args()
    print(
        "| Allocation | Planted effects | Trainings | Seeds | Q5 decided | Any claim shown | Q5 'no effect' |\n"
        "|---|---|---|---|---|---|---|"
    )
    started = time.monotonic()
    for scenario, effects in SCENARIOS.items():
        for name, (design, whole_tree) in ALLOCATIONS.items():
            results = studies(design, np.random.default_rng(7), args.studies, whole_tree, **effects)
            print(row(name, scenario, results), flush=True)
    allocations = time.monotonic() - started
    design = Design()
    for scenario in OPTION_SCENARIOS:
        for name, option in Q5_OPTIONS.items():
            label, effects = option_effects(scenario, option, design)
            results = studies(design, np.random.default_rng(7), args.studies, option=option, **effects)
            print(row(name, label, results), flush=True)
    print(
        f"\n{args.studies} studies a row, alpha 0.05, min-effect 0.05 (Q5's own where named), Pocock; "
        f"allocations {allocations:.0f} s, alternatives {time.monotonic() - started - allocations:.0f} s"
    )
    for name, option in Q5_OPTIONS.items():
        if option.sharpness is not None:
            _, fresh = option.simulate(np.random.default_rng(5), 40, 50, actor_effects=(0.0, 0.0, design.min_effect))
            planted = (fresh[..., 0, 2] - fresh[..., 0, :2].mean(axis=-1)).ravel()
            print(
                f"{name}: Q5's min-effect on p_true {option.q5_min_effect(design):.4f} (accuracy 0.05); the simulated "
                f"p_true difference of actors 0.05 apart {planted.mean():.4f} +- {stats.sem(planted):.4f} (2,000 seeds)"
            )
    print("Q5's per-seed variance of a pairwise actor difference (2,000 seeds, 10 initialisations each):")
    reference = q5_variance(np.random.default_rng(5), Q5Option()).of_mean[1] / design.min_effect**2
    variances = {
        "accuracy, own seed effects": Q5Option(),
        "accuracy, seed effects shared": Q5_OPTIONS["default + 2 fresh models, seed effects shared"],
    } | {name.removeprefix("default + "): option for name, option in Q5_OPTIONS.items() if option.sharpness is not None}
    for name, option in variances.items():
        variance = q5_variance(np.random.default_rng(5), option)
        print("  " + variance.line(name, option.q5_min_effect(design), reference))


if __name__ == "__main__":
    main()
