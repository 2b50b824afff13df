"""The analysis settings a run records: the primary metric, alpha and the min effect.

``harness permute`` records them in config.json (``config.metric``, ``config.alpha``,
``config.min_effect``) before any result exists, for a fixed number of seeds as for ``--seeds
auto``; ``harness report`` reads them back, so the report permute writes and a later ``harness
report RUN_DIR`` are one analysis. A run directory made before a key was recorded reads as what
that run did: accuracy, and its sequential design's alpha and min effect, else the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

DEFAULT_METRIC = "accuracy"
DEFAULT_ALPHA = 0.05
DEFAULT_MIN_EFFECT = 0.05


@dataclass(frozen=True)
class Settings:
    """What the primary analysis is run with."""

    metric: str = DEFAULT_METRIC
    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT

    def to_dict(self) -> dict:
        return asdict(self)


def recorded(config: object) -> tuple[Settings, frozenset[str]]:
    """The settings of a run from its config (config.json's ``config``; anything else reads as none),
    and the names of those it records (the others are what runs made before them did)."""
    config = config if isinstance(config, dict) else {}
    design = config.get("design") if isinstance(config.get("design"), dict) else {}
    names = [f.name for f in fields(Settings)]
    found = {n: config[n] for n in names if _valid(n, config.get(n))}
    implied = {n: design[n] for n in ("alpha", "min_effect") if n not in found and _valid(n, design.get(n))}
    return Settings(**implied, **found), frozenset(found) | frozenset(implied)


def _valid(name: str, value: object) -> bool:
    if name == "metric":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool)
