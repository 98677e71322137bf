"""Apply ring by ring: the tenants of each ring of ``_rollout.yaml``, in order, and its stop rule.

No rich, no typer: the fleet driver asks which waves to run and whether a ring passed; the CLI says it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from taxcalc_consent.infra.model.documents import RingResultName, RunRing
from taxcalc_consent.infra.model.rollout import Ring, Rollout

FAILURE_RESULTS = frozenset({"failed", "locked", "policy-violation", "refused"})
"""What a ring's stop rule counts: a tenant that could not be brought to its file, for whatever reason."""


class HasResult(Protocol):
    @property
    def tenant(self) -> str: ...

    @property
    def result(self) -> str | None: ...


R = TypeVar("R", bound=HasResult)


@dataclass
class Wave(Generic[R]):
    """The tenants run together: one ring's, or the whole selection when there is no rollout."""

    ring: Ring | None
    runs: list[R] = field(default_factory=list)
    result: RingResultName = "queued"
    declined: bool = False
    """Its changes were not confirmed (at a terminal, or no --yes): the run stops after it too."""

    @property
    def name(self) -> str | None:
        return self.ring.name if self.ring else None

    def failures(self) -> int:
        return sum(r.result in FAILURE_RESULTS for r in self.runs)

    def past_its_rule(self) -> bool:
        """More failed tenants than the ring allows: the run stops after this ring."""
        return self.ring is not None and self.failures() > self.ring.max_failures

    def entry(self) -> RunRing:
        assert self.ring is not None
        return {
            "name": self.ring.name,
            "tenants": len(self.runs),
            "failures": self.failures(),
            "max_failures": self.ring.max_failures,
            "result": self.result,
        }


def waves(
    runs: Sequence[R], rollout: Rollout | None, ring_of: dict[str, str], only: str | None = None
) -> list[Wave[R]]:
    """The waves to run, in order: one per ring of ``rollout`` (only ``only`` if given), each holding the
    tenants ``ring_of`` puts in it, or a single wave of every tenant without a rollout. A ring with none
    of the selected tenants (another shard's, say) is still a wave, so the report says it held none."""
    if rollout is None:
        return [Wave(None, list(runs))]
    chosen = [r for r in rollout.rings if only is None or r.name == only]
    by_name: dict[str, Wave[R]] = {ring.name: Wave(ring) for ring in chosen}
    for run in runs:
        wave = by_name.get(ring_of[run.tenant])
        if wave is not None:
            wave.runs.append(run)
    return [by_name[ring.name] for ring in chosen]
