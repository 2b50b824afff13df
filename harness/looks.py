"""A sequential study's looks as records: what the store keeps of each claim at each look.

Light (no scipy), so that the store and the CLI read looks without the statistics;
``harness.analysis.sequential`` makes them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from harness.schema import Alternative


class LookDecision(StrEnum):
    """Where a claim stands after a look."""

    OPEN = "open"
    EFFECT = "effect"
    NO_EFFECT = "no effect >= min-effect"


@dataclass(frozen=True)
class ClaimLook:
    """One claim at one look: its test, the boundary it faced at its level, and the decision."""

    claim: str
    look: int  # 0-based index into Design.looks
    seeds: int
    alternative: Alternative
    alpha: float  # the claim's level at the decision (after reallocation)
    p: float
    effect: float
    ci_low: float
    ci_high: float
    sd: float
    boundary_z: float
    boundary_p: float
    decision: LookDecision
    shown_by: str = (
        ""  # the claim whose showing showed this one by closed testing (IMPLIES), its own p short of its boundary
    )

    def to_dict(self) -> dict:
        return {**asdict(self), "decision": str(self.decision)}
