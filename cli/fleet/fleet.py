"""Many tenants, one command: read the inputs, shard, run each tenant's stack in parallel, ring by ring.

The commands ``plan`` (without --offline), ``apply``, ``drift`` and ``offboard`` hand their options to
:func:`read_inputs` and :func:`run`, which return a :class:`FleetRun`: the tenants' results and the
documents made of them. This module renders nothing: what a person sees and answers goes through a
:class:`FleetDisplay` the CLI gives it (``cli/ui/fleet_display.py``), and the CLI decides the exit code
(``cli/ui/exit_policy.py``). Pulumi itself is reached only through :mod:`cli.fleet.automation`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from taxcalc_consent.cli.fleet import automation, engine_setup
from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.fleet.events import Step
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.fleet.gdap_access import check_access
from taxcalc_consent.cli.fleet.pipeline import Notify, load_plans, select_shard
from taxcalc_consent.cli.fleet.review import (
    Review,
    differences,
    evidence,
    read_review,
    review_entry,
    tool_version,
)
from taxcalc_consent.cli.fleet.rings import Wave, waves
from taxcalc_consent.cli.fleet.run_options import FleetOptions, Operation
from taxcalc_consent.cli.fleet.run_report import PreviousRun, ReportWriter, read_previous_run
from taxcalc_consent.cli.fleet.tenant_run import PhaseProgress, TenantRun, run_phase
from taxcalc_consent.infra.model.consent_settings import RESTORE_ENV
from taxcalc_consent.infra.model.documents import (
    REVIEW_FORMAT,
    RUN_FORMAT,
    ReviewDocument,
    ReviewTenant,
    RunDocument,
    RunTenant,
)
from taxcalc_consent.infra.model.errors import TaxcalcConsentError, did_you_mean
from taxcalc_consent.infra.model.errors import redact as redact_shapes
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.rollout import ROLLOUT_FILE, Rollout, read_rollout, rollout_file_for
from taxcalc_consent.policies.rules import utc_today


class FleetUsageError(TaxcalcConsentError):
    """Usage the fleet refuses before anything runs: apply without --yes and no terminal, a policy violation."""

    exit_code = ExitCode.INVALID


class FleetDisplay(Protocol):
    """What the driver tells the person running it and asks them, at the moment it happens; the CLI implements
    it (``cli/ui/fleet_display.py``)."""

    def say(self, line: str) -> None:
        """One line for people."""

    def violations(self, plans: Sequence[ConsentPlan]) -> None:
        """Every tenant's policy violations, before anything runs."""

    def phase(self, runs: Sequence[TenantRun]) -> AbstractContextManager[PhaseProgress]:
        """Shows one step run on ``runs`` while the block lasts."""

    def previewed(self, runs: Sequence[TenantRun], operation: Operation) -> None:
        """Each tenant's changes, warnings and error once the first step is done."""

    def settled(self, runs: Sequence[TenantRun]) -> None:
        """Each tenant's warnings not said yet and its error once the second step is done."""

    def interactive(self) -> bool:
        """A person at a terminal who can answer :meth:`confirm`."""

    def confirm(self, question: str) -> bool:
        """Their answer to ``question`` (no: when nobody can answer)."""


@dataclass(frozen=True)
class FleetInputs:
    """Everything a run reads before it runs: the tenants' plans, the review, the report resumed, the rollout."""

    operation: Operation
    options: FleetOptions
    started_at: datetime
    plans: list[ConsentPlan]
    review: Review | None
    previous: PreviousRun | None
    rollout: Rollout | None
    ring_of: dict[str, str]


def read_inputs(operation: Operation, paths: Sequence[Path], options: FleetOptions, notify: Notify) -> FleetInputs:
    """Read every input of the run (``notify``: what is worth a notice); raises a user-facing error for the first
    that cannot be used."""
    started_at = datetime.now(UTC)
    plans = load_plans(paths, notify=notify)
    review = read_review(options.reviewed_plan) if options.reviewed_plan else None
    previous = read_previous_run(options.resume) if options.resume else None
    rollout, ring_of = _rollout(operation, plans, options.ring)
    return FleetInputs(operation, options, started_at, plans, review, previous, rollout, ring_of)


@dataclass
class FleetRun:
    """One command's run, as its report and review say it; ``code`` is the exit code the CLI chose."""

    operation: Operation
    options: FleetOptions
    backend: str
    started_at: datetime
    waves: list[Wave[TenantRun]]
    runs: list[TenantRun]
    review: Review | None
    previous: PreviousRun | None
    code: ExitCode | None = None
    report: ReportWriter = field(init=False)

    def __post_init__(self) -> None:
        self.report = ReportWriter(self.options.report if self.operation != "plan" else None, self.document)

    def document(self) -> RunDocument:
        return report_document(self)

    def review_document(self) -> ReviewDocument:
        return review_document(self)

    def write_report(self) -> str | None:
        """Write the report once more, complete; what went wrong writing it on the way, if anything."""
        self.report.write()
        return self.report.failure


def run(inputs: FleetInputs, display: FleetDisplay) -> FleetRun:
    """Everything a fleet command does with the engine, ring by ring; the results, for the CLI to say."""
    operation, options, plans, previous = inputs.operation, inputs.options, inputs.plans, inputs.previous
    display.violations(plans)
    mandatory = sum(v.severity == "mandatory" for p in plans for v in p.violations)
    if mandatory:
        raise FleetUsageError(f"{mandatory} mandatory policy violation(s); nothing was run or changed")
    if operation == "apply" and not options.yes and not display.interactive():
        raise FleetUsageError(
            "apply changes tenants: pass --yes, or run it at a terminal to confirm; nothing was changed"
        )
    selected = select_shard(plans, options.shard)
    if options.ring is not None:
        selected = [p for p in selected if inputs.ring_of[p.tenant] == options.ring]
    settings, problems = engine_setup.prerequisites(options.backend, selected, os.environ)
    if problems or settings is None:
        # Every missing prerequisite in one run: the Pulumi CLI too, though alone it would fail later (exit 1).
        missing_engine = automation.engine_problem() if selected else None
        problems += [missing_engine] if missing_engine else []
        for problem in problems:
            display.say(problem)
        raise engine_setup.EngineSetupError(
            f"{len(problems)} problem(s) to fix before any tenant can run; nothing was changed"
        )
    if previous is not None and previous.backend != settings.backend_display:
        raise FleetUsageError(
            f"--resume {previous.path}: that run used the backend {previous.backend}, this one "
            f"{settings.backend_display}: resume with the same --backend; nothing was changed"
        )
    if operation == "offboard" and options.restore_consent_settings:
        # Read by the consent settings provider in the engine's process (infra/program/settings_provider.py).
        settings = replace(settings, env_vars={**settings.env_vars, RESTORE_ENV: "1"})
    known = engine_setup.secret_values(plans, os.environ, settings)

    def redact(text: str) -> str:
        """What the engine says, without a secret this run holds, nor one of any known shape (a token the
        engine echoes from a config or an environment the tool never saw)."""
        return redact_shapes(known(text))

    engine = automation.connect(settings) if selected else None
    # Where this run writes stack settings and state (once it can run), and a warning when that root looks wrong.
    for notice in settings.workspace.notices(plan.file for plan in selected):
        display.say(notice)

    runs = [TenantRun(plan, ring=inputs.ring_of.get(plan.tenant)) for plan in selected]
    if options.shard:
        display.say(f"shard {options.shard}: {len(runs)} of {len(plans)} tenant(s)")
    if previous is not None:
        _skip_done(runs, previous, display)
    if operation in ("plan", "apply"):
        _refuse_without_access(runs, display)
    rollout = inputs.rollout
    plan_waves = waves(runs, rollout if operation == "apply" else None, inputs.ring_of, options.ring)
    fleet_run = FleetRun(
        operation, options, settings.backend_display, inputs.started_at, plan_waves, runs, inputs.review, previous
    )
    fleet_run.report.write()
    if engine is not None:
        for index, wave in enumerate(plan_waves):
            _run_wave(engine, fleet_run, wave, redact, display)
            fleet_run.report.write()
            if wave.result == "stopped":
                _not_reached(plan_waves[index + 1 :], wave, display)
                break
            if rollout is not None and index + 1 < len(plan_waves) and options.ring is None:
                _pause(rollout.pause_seconds, wave, plan_waves[index + 1], display)
    return fleet_run


def _rollout(
    operation: Operation, plans: Sequence[ConsentPlan], ring: str | None
) -> tuple[Rollout | None, dict[str, str]]:
    """The rollout beside the tenant files (for apply, and for plan to show each tenant's ring) and each tenant's
    ring; ``--ring`` must name one of its rings."""
    path = rollout_file_for([p.file for p in plans]) if operation in ("apply", "plan") else None
    if path is None:
        if ring is not None:
            raise FleetUsageError(
                f"--ring {ring}: the tenant files have no {ROLLOUT_FILE} beside them naming rings; nothing was changed"
            )
        return None, {}
    rollout = read_rollout(path)
    ring_of = rollout.assign((p.tenant, p.file) for p in plans)
    if ring is not None and rollout.ring(ring) is None:
        names = [r.name for r in rollout.rings]
        raise FleetUsageError(
            f"--ring {ring}: {path} has no such ring{did_you_mean(ring, names, known='its rings')}; nothing was changed"
        )
    return rollout, ring_of


def _refuse_without_access(runs: Sequence[TenantRun], display: FleetDisplay) -> None:
    """Under an engineer's GDAP sign-in, a tenant the sign-in may not run fails before its engine starts."""
    todo = [run for run in runs if run.result is None]
    for refusal in check_access([run.plan for run in todo], os.environ, utc_today()):
        run = next(r for r in todo if r.tenant == refusal.tenant)
        run.settle_as("failed")
        run.error = refusal.reason
    refused = [run for run in todo if run.result == "failed"]
    if refused:
        display.settled(refused)


def _skip_done(runs: Sequence[TenantRun], previous: PreviousRun, display: FleetDisplay) -> None:
    skipped = []
    for run in runs:
        if previous.done(run.tenant):
            run.settle_as("skipped")
            run.note = (
                f"{previous.results[run.tenant]} in the run started {previous.started_at} ({previous.path}): "
                "not run again"
            )
            skipped.append(run.tenant)
    if skipped:
        display.say(
            f"resuming {previous.path}: {len(skipped)} tenant(s) already done there, skipped: {', '.join(skipped)}"
        )


def _run_wave(
    engine: Engine, fleet_run: FleetRun, wave: Wave[TenantRun], redact: Callable[[str], str], display: FleetDisplay
) -> None:
    operation, options = fleet_run.operation, fleet_run.options
    say = display.say
    todo = [r for r in wave.runs if r.result is None]  # not skipped (--resume), not refused before the engine
    wave.result = "running"
    if wave.ring is not None:
        say(f"ring {wave.ring.name}: {len(todo)} tenant(s) to run, {wave.ring.max_failures} failure(s) allowed")
    if todo:
        after = _after_preview(engine, fleet_run, redact)
        with display.phase(todo) as progress:
            run_phase(engine, todo, _FIRST_STEP[operation], redact, options.parallel, progress, fleet_run.report, after)
        display.previewed(todo, operation)
        pending = [r for r in todo if r.result == "changes"]
        if operation in ("apply", "offboard") and pending:
            total = sum(len(r.changes) for r in pending)
            where = f" in ring {wave.ring.name}" if wave.ring is not None else ""
            question = (
                f"Apply {total} change(s) to {len(pending)} tenant(s){where}?"
                if operation == "apply"
                else f"Offboard {len(pending)} tenant(s), {total} removal(s)?"
            )
            if options.yes or display.confirm(question):
                second: Step = "up" if operation == "apply" else "destroy"
                with display.phase(pending) as progress:
                    run_phase(engine, pending, second, redact, options.parallel, progress, fleet_run.report)
                display.settled(pending)
            elif options.yes or display.interactive():
                say("nothing was changed")
                wave.declined = True
            else:
                say("nothing was changed: run again with --yes to go ahead")
                wave.declined = True
    wave.result = "stopped" if wave.past_its_rule() or wave.declined else "passed"
    if wave.ring is not None:
        say(f"ring {wave.ring.name}: {wave.failures()} failure(s), {wave.ring.max_failures} allowed: {wave.result}")


def _after_preview(
    engine: Engine, fleet_run: FleetRun, redact: Callable[[str], str]
) -> Callable[[TenantRun], None] | None:
    """What each tenant's worker does once its preview is settled: for ``plan`` with a document, record what
    the review rests on; for ``apply --plan``, compare with the review and refuse a tenant that differs."""
    review, report = fleet_run.review, fleet_run.report
    options = fleet_run.options
    if fleet_run.operation == "plan" and (options.json_output or options.report is not None):

        def record(run: TenantRun) -> None:
            update, error = engine.last_update(run.plan, redact) if run.result in _PREVIEWED else (None, None)
            if error is not None:
                run.warnings.append(f"the stack's last update could not be read for the review: {error}")
            run.evidence = evidence(run.plan.file, update, run.changes)

        return record
    if fleet_run.operation != "apply" or review is None:
        return None
    version = tool_version()

    def check(run: TenantRun) -> None:
        if run.result not in _PREVIEWED:
            return  # failed, locked or blocked already: nothing will be written
        update, error = engine.last_update(run.plan, redact)
        with report.recording():
            if error is not None:
                run.settle_as("failed")
                run.error = f"the stack's last update could not be read to compare with the review: {error}"
                return
            found = differences(
                review, run.tenant, run.plan.file, evidence(run.plan.file, update, run.changes), version
            )
            if found:
                run.result, run.state, run.differences = "refused", "refused", found
                run.error = (
                    f"differs from its review in {review.path} ({len(found)} difference(s)); nothing was written"
                )
            elif not run.changes and review.tenants[run.tenant]["resources"]:
                run.note = "its reviewed changes are in place already: nothing to write"

    return check


_PREVIEWED = ("changes", "no-changes")


def _not_reached(later: Sequence[Wave[TenantRun]], stopped: Wave[TenantRun], display: FleetDisplay) -> None:
    if stopped.ring is None:  # no rollout: one wave, nothing after it
        return
    why = (
        f"ring {stopped.ring.name}'s changes were not confirmed"
        if stopped.declined
        else f"ring {stopped.ring.name} stopped the run: {stopped.failures()} failure(s), "
        f"{stopped.ring.max_failures} allowed"
    )
    names: list[str] = []
    for wave in later:
        wave.result = "not-reached"
        for run in wave.runs:
            if run.result is None:
                run.settle_as("not-reached")
                run.note = f"not reached: {why}"
                names.append(run.tenant)
    display.say(f"{why}; not reached: {', '.join(names) if names else 'no tenant'}")


def _pause(seconds: int, done: Wave[TenantRun], following: Wave[TenantRun], display: FleetDisplay) -> None:
    if seconds and any(r.result != "skipped" for r in done.runs):
        display.say(f"pausing {seconds}s before ring {following.name}")
        sleep(seconds)


sleep = time.sleep
"""Between rings (a module attribute, so a test can make the pause instant)."""


_FIRST_STEP: dict[Operation, Step] = {
    "plan": "preview",
    "apply": "preview",
    "drift": "drift",
    "offboard": "preview-destroy",
}


# ----------------------------------------------------------------------------------------- documents


def report_document(fleet_run: FleetRun) -> RunDocument:
    runs = fleet_run.runs
    results: dict[str, int] = {}
    for run in runs:
        if run.result is not None:
            results[run.result] = results.get(run.result, 0) + 1
    code = fleet_run.code
    return {
        "format": RUN_FORMAT,
        "operation": fleet_run.operation,
        "started_at": fleet_run.started_at.isoformat(timespec="seconds"),
        "backend": fleet_run.backend,
        "shard": str(fleet_run.options.shard) if fleet_run.options.shard else None,
        "complete": code is not None,
        "exit_code": int(code) if code is not None else None,
        "reviewed_plan": fleet_run.review.path if fleet_run.review else None,
        "resumed_from": fleet_run.previous.path if fleet_run.previous else None,
        "rings": [wave.entry() for wave in fleet_run.waves if wave.ring is not None],
        "summary": {"tenants": len(runs), "results": results},
        "tenants": [_tenant_entry(run) for run in runs],
    }


def _tenant_entry(run: TenantRun) -> RunTenant:
    return {
        "tenant": run.tenant,
        "file": run.plan.file,
        "tenant_id": run.plan.tenant_id,
        "name": run.plan.tenant_name,
        "domain": run.plan.tenant_domain,
        "stack": run.tenant,
        "ring": run.ring,
        "result": run.result,
        "changes": run.counts(),
        "resources": [c.to_dict() for c in list(run.changes)],
        "error": run.error,
        "differences": list(run.differences),
        "note": run.note,
        "warnings": list(run.warnings),
        "attempts": run.attempts,
        "duration_seconds": round(run.duration, 3),
    }


def review_document(fleet_run: FleetRun) -> ReviewDocument:
    """plan's document: each tenant's preview and what its review rests on, for apply --plan."""
    run_document = report_document(fleet_run)
    tenants: list[ReviewTenant] = []
    for run, entry in zip(fleet_run.runs, run_document["tenants"], strict=True):
        found = run.evidence or evidence(run.plan.file, None, run.changes)
        tenants.append(review_entry(entry, found))
    return {
        "format": REVIEW_FORMAT,
        "tool_version": tool_version(),
        "started_at": run_document["started_at"],
        "backend": run_document["backend"],
        "shard": run_document["shard"],
        "exit_code": int(fleet_run.code) if fleet_run.code is not None else 0,
        "summary": run_document["summary"],
        "tenants": tenants,
    }
