"""What a fleet run is asked to do: the operation and its options, as the CLI hands them to the driver.

Kept apart from the driver (``fleet.py``) so that the CLI's option declarations can name these types without
importing the driver and everything it imports: ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

Operation = Literal["plan", "apply", "drift", "offboard"]


class Shard(NamedTuple):
    """Shard K of N (1 <= K <= N): tenants sorted by name, dealt round robin."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


@dataclass(frozen=True)
class FleetOptions:
    parallel: int = 4
    shard: Shard | None = None
    json_output: bool = False
    report: Path | None = None
    backend: str | None = None
    yes: bool = False
    detailed_exitcode: bool = False
    restore_consent_settings: bool = False
    """offboard: put each tenant's consent settings back as they were before the first apply."""
    reviewed_plan: Path | None = None
    """apply --plan: a review@1 document; only tenants whose fresh preview is exactly as reviewed are applied."""
    resume: Path | None = None
    """apply --resume: an earlier apply's report; the tenants it applied are skipped."""
    ring: str | None = None
    """apply --ring: only this ring of _rollout.yaml."""
