"""Each tenant's run, and one step run on many tenants at once: the fleet driver's thread pool.

What a person sees of it is the CLI's (``cli/ui/fleet_display.py``): the pool tells a :class:`PhaseProgress`
when each tenant starts and finishes, and the words for each state are data here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.fleet.events import ResourceChange, Step, StepOutcome
from taxcalc_consent.cli.fleet.review import Evidence
from taxcalc_consent.cli.fleet.run_report import ReportWriter
from taxcalc_consent.infra.model.documents import ChangeCounts, ResultName, RunDocument
from taxcalc_consent.infra.model.plan import ConsentPlan

Result = ResultName


@dataclass
class TenantRun:
    plan: ConsentPlan
    ring: str | None = None
    state: str = "queued"
    result: Result | None = None
    changes: list[ResourceChange] = field(default_factory=list)
    error: str | None = None
    differences: list[str] = field(default_factory=list)
    """What differs from the reviewed plan (apply --plan)."""
    note: str | None = None
    evidence: Evidence | None = None
    """plan: what the review of this tenant rests on (recorded in the review@1 document)."""
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    duration: float = 0.0
    started: float | None = None

    @property
    def tenant(self) -> str:
        return self.plan.tenant

    def counts(self) -> ChangeCounts:
        n = Counter(c.op for c in self.changes)
        return {
            "create": n["create"],
            "update": n["update"],
            "delete": n["delete"],
            "replace": n["replace"],
            "import": n["import"],
        }

    def elapsed(self) -> float:
        running = time.monotonic() - self.started if self.started is not None else 0.0
        return self.duration + running

    def settle_as(self, result: Result) -> None:
        """The tenant's result, and its state in the words for it."""
        self.result, self.state = result, RESULT_WORDS[result]


RESULT_WORDS: dict[Result, str] = {
    "no-changes": "no changes",
    "changes": "changes pending",
    "applied": "applied",
    "removed": "removed",
    "drift": "drift",
    "failed": "failed",
    "locked": "locked by another run",
    "policy-violation": "blocked by policy",
    "refused": "refused: differs from its review",
    "skipped": "skipped: already done",
    "not-reached": "not reached",
}
"""A tenant's state once its step is settled, in words (the CLI gives each its colour)."""

_STEP_STATE = {
    "preview": "previewing",
    "drift": "refreshing",
    "up": "applying",
    "preview-destroy": "previewing removal",
    "destroy": "removing",
}


class PhaseProgress(Protocol):
    """Told as each tenant starts and finishes a step, from the worker running it (the CLI's live display)."""

    def started(self, run: TenantRun) -> None: ...

    def finished(self, run: TenantRun) -> None: ...


def run_phase(
    engine: Engine,
    runs: Sequence[TenantRun],
    step: Step,
    redact: Callable[[str], str],
    parallel: int,
    progress: PhaseProgress,
    report: ReportWriter | None = None,
    after: Callable[[TenantRun], None] | None = None,
) -> None:
    """Run one step on every tenant, ``parallel`` at a time; a failure stays with its own tenant. ``after``
    runs in the same worker once the step is settled (the reviewed-plan check); each tenant's outcome is in
    the report before the worker takes the next tenant."""
    writer = report or ReportWriter(None, _no_document)

    def work(run: TenantRun) -> None:
        run.state = _STEP_STATE[step]
        run.changes = []
        run.started = time.monotonic()
        progress.started(run)

        def on_change(change: ResourceChange) -> None:
            run.changes.append(change)

        try:
            outcome = engine.run(run.plan, step, redact, on_change)
        except Exception as exc:  # one tenant's surprise must not stop the others
            outcome = StepOutcome(error=redact(f"{type(exc).__name__}: {exc}"))
        run.duration += time.monotonic() - run.started
        run.started = None
        with writer.recording():
            _settle(run, step, outcome)
        if after is not None:
            after(run)
        progress.finished(run)
        writer.write()

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="tenant") as pool:
        list(pool.map(work, runs))


def _settle(run: TenantRun, step: Step, outcome: StepOutcome) -> None:
    run.changes = list(outcome.changes)
    run.warnings.extend(w for w in outcome.warnings if w not in run.warnings)
    run.attempts += outcome.attempts
    if outcome.locked:
        run.result, run.error = "locked", outcome.error
    elif outcome.policy_blocked:
        run.result, run.error = "policy-violation", outcome.error
    elif outcome.failed:
        run.result, run.error = "failed", outcome.error
    elif not run.changes:
        run.result = "no-changes"
    elif step == "drift":
        run.result = "drift"
    elif step == "up":
        run.result = "applied"
    elif step == "destroy":
        run.result = "removed"
    else:
        run.result = "changes"
    run.settle_as(run.result)


def _no_document() -> RunDocument:
    raise AssertionError("a ReportWriter without a path never builds its document")
