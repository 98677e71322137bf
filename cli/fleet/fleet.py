"""Many tenants, one command: validate, shard, run each tenant's stack in parallel, summarise, report.

The commands ``plan`` (without --offline), ``apply``, ``drift`` and ``offboard`` are thin wrappers
over :func:`run_fleet`. Pulumi itself is reached only through :mod:`cli.automation`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Literal

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from taxcalc_consent.cli.fleet import automation, engine_setup
from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.fleet.events import ResourceChange, Step, StepOutcome
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.fleet.pipeline import load_plans, select_shard
from taxcalc_consent.cli.fleet.review import (
    Evidence,
    Review,
    differences,
    evidence,
    read_review,
    review_entry,
    tool_version,
)
from taxcalc_consent.cli.fleet.rings import Wave, waves
from taxcalc_consent.cli.fleet.run_report import PreviousRun, ReportWriter, read_previous_run
from taxcalc_consent.cli.ui.console import OutputError, check_out, emit, err, literal_row, print_json, say
from taxcalc_consent.cli.ui.options import Shard
from taxcalc_consent.cli.ui.render import client_words
from taxcalc_consent.infra.model.consent_settings import RESTORE_ENV
from taxcalc_consent.infra.model.documents import (
    REVIEW_FORMAT,
    RUN_FORMAT,
    ChangeCounts,
    ResultName,
    ReviewDocument,
    ReviewTenant,
    RunDocument,
    RunTenant,
)
from taxcalc_consent.infra.model.errors import TaxcalcConsentError, did_you_mean
from taxcalc_consent.infra.model.errors import redact as redact_shapes
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.rollout import ROLLOUT_FILE, Rollout, read_rollout, rollout_file_for

Operation = Literal["plan", "apply", "drift", "offboard"]
Result = ResultName


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


class FleetUsageError(TaxcalcConsentError):
    """Usage the fleet refuses before anything runs: apply without --yes and no terminal, a policy violation."""

    exit_code = ExitCode.INVALID


# ------------------------------------------------------------------------------------------ tenants


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
    warnings_shown: int = 0
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


_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "+-", "import": "="}
_STEP_STATE = {
    "preview": "previewing",
    "drift": "refreshing",
    "up": "applying",
    "preview-destroy": "previewing removal",
    "destroy": "removing",
}


class Progress:
    """What a run is doing, said at a cost that does not grow with the fleet.

    On a terminal: a live display of one summary line (how many tenants are done, running and queued, and
    the results so far) above a row per *running* tenant, at most ``--parallel`` rows however many
    tenants there are. Otherwise (a CI log, a file): one plain line on stderr per tenant state change.
    Either way each tenant's changes, warnings and error are printed once, when the phase ends
    (render_changes, render_notes). The summary is kept up to date as tenants start and finish, never
    recounted, so one redraw costs the same at 10 tenants and at 5,000.
    """

    REFRESH_PER_SECOND = 4

    def __init__(self, runs: Sequence[TenantRun], live: bool) -> None:
        self._total = len(runs)
        self._lock = Lock()
        self._running: dict[int, TenantRun] = {}
        """Running tenants by id(run), in the order they started (dicts keep insertion order)."""
        self._finished = 0
        self._results: Counter[str] = Counter()
        self._live = (
            Live(
                console=err,
                get_renderable=self.renderable,
                refresh_per_second=self.REFRESH_PER_SECOND,
                transient=True,
            )
            if live
            else None
        )

    def __enter__(self) -> Progress:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def started(self, run: TenantRun) -> None:
        with self._lock:
            self._running[id(run)] = run
            if self._live is None:
                self._say(run, run.state)

    def finished(self, run: TenantRun) -> None:
        with self._lock:
            self._running.pop(id(run), None)
            self._finished += 1
            self._results[run.state] += 1
            if self._live is None:
                self._say(run, _state_line(run))

    @staticmethod
    def _say(run: TenantRun, line: str) -> None:
        err.print(f"{run.tenant}: {line}", markup=False, highlight=False)

    def renderable(self) -> Group:
        """One frame of the live display: the summary line and the running tenants' rows."""
        with self._lock:
            running = list(self._running.values())
            finished = self._finished
            results = ", ".join(f"{n} {state}" for state, n in sorted(self._results.items()))
        queued = self._total - finished - len(running)
        summary = f"{finished}/{self._total} done, {len(running)} running, {queued} queued"
        table = tenants_table(running, "state", lambda run: run.state, TenantRun.elapsed)
        table.show_edge = table.pad_edge = False
        return Group(Text(f"{summary}{': ' + results if results else ''}"), table)


def run_phase(
    engine: Engine,
    runs: Sequence[TenantRun],
    step: Step,
    redact: Callable[[str], str],
    parallel: int,
    progress: Progress,
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
    run.state = _RESULT_TEXT[run.result][0]


def _state_line(run: TenantRun) -> str:
    # A failure's error is said once, by render_notes after the phase (where the live display leaves it
    # too), not here as well: a CI log read top to bottom then finds it beside the tenant's warnings.
    counts = run.counts()
    if not run.changes:
        return f"{run.state} ({run.duration:.1f}s)"
    summary = ", ".join(f"{n} {op}" for op, n in counts.items() if n)
    return f"{run.state}: {summary} ({run.duration:.1f}s)"


# ----------------------------------------------------------------------------------------- commands


def is_interactive() -> bool:
    """A person at a terminal who can answer a confirmation prompt."""
    return sys.stdin.isatty() and err.is_terminal


def run_fleet(operation: Operation, paths: Sequence[Path], options: FleetOptions) -> ExitCode:
    """Everything a fleet command does; returns the documented exit code."""
    started_at = datetime.now(UTC)
    check_out(options.report)
    plans = load_plans(paths)
    review = read_review(options.reviewed_plan) if options.reviewed_plan else None
    previous = read_previous_run(options.resume) if options.resume else None
    rollout, ring_of = _rollout(operation, plans, options.ring)
    # Again, now that every input is read (the review, the report resumed and _rollout.yaml too): an --out naming
    # one is refused before any change.
    check_out(options.report)
    _refuse_mandatory_violations(plans)
    if operation == "apply" and not options.yes and not is_interactive():
        raise FleetUsageError(
            "apply changes tenants: pass --yes, or run it at a terminal to confirm; nothing was changed"
        )
    selected = select_shard(plans, options.shard)
    if options.ring is not None:
        selected = [p for p in selected if ring_of[p.tenant] == options.ring]
    settings, problems = engine_setup.prerequisites(options.backend, selected, os.environ)
    if problems or settings is None:
        # Every missing prerequisite in one run: the Pulumi CLI too, though alone it would fail later (exit 1).
        missing_engine = automation.engine_problem() if selected else None
        problems += [missing_engine] if missing_engine else []
        for problem in problems:
            say(problem)
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

    runs = [TenantRun(plan, ring=ring_of.get(plan.tenant)) for plan in selected]
    if options.shard:
        say(f"shard {options.shard}: {len(runs)} of {len(plans)} tenant(s)")
    if previous is not None:
        _skip_done(runs, previous)
    plan_waves = waves(runs, rollout if operation == "apply" else None, ring_of, options.ring)
    context = _RunContext(operation, options, settings.backend_display, started_at, plan_waves, runs, review, previous)
    report = ReportWriter(options.report if operation != "plan" else None, context.document)
    context.report = report
    report.write()
    if engine is not None:
        for index, wave in enumerate(plan_waves):
            _run_wave(engine, context, wave, redact)
            report.write()
            if wave.result == "stopped":
                _not_reached(plan_waves[index + 1 :], wave)
                break
            if rollout is not None and index + 1 < len(plan_waves) and options.ring is None:
                _pause(rollout.pause_seconds, wave, plan_waves[index + 1])
    code = exit_code(operation, runs, options)
    context.code = code
    render_summary(runs, operation)
    if operation == "plan":
        if options.json_output or options.report is not None:
            emit(review_document(context), json_output=options.json_output, out=options.report)
    else:
        if options.report is not None:
            report.write()
            if report.failure:
                raise OutputError(report.failure)
            say(f"wrote {options.report}")
        if options.json_output:
            print_json(context.document())
    return code


@dataclass
class _RunContext:
    """One command's run as the report says it."""

    operation: Operation
    options: FleetOptions
    backend: str
    started_at: datetime
    waves: list[Wave[TenantRun]]
    runs: list[TenantRun]
    review: Review | None
    previous: PreviousRun | None
    code: ExitCode | None = None
    report: ReportWriter | None = None

    def document(self) -> RunDocument:
        return report_document(self)


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


def _skip_done(runs: Sequence[TenantRun], previous: PreviousRun) -> None:
    skipped = []
    for run in runs:
        if previous.done(run.tenant):
            run.result, run.state = "skipped", _RESULT_TEXT["skipped"][0]
            run.note = (
                f"{previous.results[run.tenant]} in the run started {previous.started_at} ({previous.path}): "
                "not run again"
            )
            skipped.append(run.tenant)
    if skipped:
        say(f"resuming {previous.path}: {len(skipped)} tenant(s) already done there, skipped: {', '.join(skipped)}")


def _run_wave(engine: Engine, context: _RunContext, wave: Wave[TenantRun], redact: Callable[[str], str]) -> None:
    operation, options = context.operation, context.options
    assert context.report is not None
    todo = [r for r in wave.runs if r.result != "skipped"]
    wave.result = "running"
    if wave.ring is not None:
        say(f"ring {wave.ring.name}: {len(todo)} tenant(s) to run, {wave.ring.max_failures} failure(s) allowed")
    if todo:
        after = _after_preview(engine, context, redact)
        with Progress(todo, live=err.is_terminal) as progress:
            run_phase(engine, todo, _FIRST_STEP[operation], redact, options.parallel, progress, context.report, after)
        render_changes(todo, operation)
        pending = [r for r in todo if r.result == "changes"]
        if operation in ("apply", "offboard") and pending:
            total = sum(len(r.changes) for r in pending)
            where = f" in ring {wave.ring.name}" if wave.ring is not None else ""
            question = (
                f"Apply {total} change(s) to {len(pending)} tenant(s){where}?"
                if operation == "apply"
                else f"Offboard {len(pending)} tenant(s), {total} removal(s)?"
            )
            if options.yes or _confirm(question):
                second: Step = "up" if operation == "apply" else "destroy"
                with Progress(pending, live=err.is_terminal) as progress:
                    run_phase(engine, pending, second, redact, options.parallel, progress, context.report)
                render_notes(pending)
            elif options.yes or is_interactive():
                say("nothing was changed")
                wave.declined = True
            else:
                say("nothing was changed: run again with --yes to go ahead")
                wave.declined = True
    wave.result = "stopped" if wave.past_its_rule() or wave.declined else "passed"
    if wave.ring is not None:
        say(f"ring {wave.ring.name}: {wave.failures()} failure(s), {wave.ring.max_failures} allowed: {wave.result}")


def _after_preview(
    engine: Engine, context: _RunContext, redact: Callable[[str], str]
) -> Callable[[TenantRun], None] | None:
    """What each tenant's worker does once its preview is settled: for ``plan`` with a document, record what
    the review rests on; for ``apply --plan``, compare with the review and refuse a tenant that differs."""
    review, report = context.review, context.report
    assert report is not None
    options = context.options
    if context.operation == "plan" and (options.json_output or options.report is not None):

        def record(run: TenantRun) -> None:
            update, error = engine.last_update(run.plan, redact) if run.result in _PREVIEWED else (None, None)
            if error is not None:
                run.warnings.append(f"the stack's last update could not be read for the review: {error}")
            run.evidence = evidence(run.plan.file, update, run.changes)

        return record
    if context.operation != "apply" or review is None:
        return None
    version = tool_version()

    def check(run: TenantRun) -> None:
        if run.result not in _PREVIEWED:
            return  # failed, locked or blocked already: nothing will be written
        update, error = engine.last_update(run.plan, redact)
        with report.recording():
            if error is not None:
                run.result, run.state = "failed", _RESULT_TEXT["failed"][0]
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


def _not_reached(later: Sequence[Wave[TenantRun]], stopped: Wave[TenantRun]) -> None:
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
                run.result, run.state, run.note = "not-reached", _RESULT_TEXT["not-reached"][0], f"not reached: {why}"
                names.append(run.tenant)
    say(f"{why}; not reached: {', '.join(names) if names else 'no tenant'}")


def _pause(seconds: int, done: Wave[TenantRun], following: Wave[TenantRun]) -> None:
    if seconds and any(r.result != "skipped" for r in done.runs):
        say(f"pausing {seconds}s before ring {following.name}")
        sleep(seconds)


sleep = time.sleep
"""Between rings (a module attribute, so a test can make the pause instant)."""


_FIRST_STEP: dict[Operation, Step] = {
    "plan": "preview",
    "apply": "preview",
    "drift": "drift",
    "offboard": "preview-destroy",
}


def _confirm(question: str) -> bool:
    if not is_interactive():
        return False
    return typer.confirm(question, default=False, err=True)


def _refuse_mandatory_violations(plans: Sequence[ConsentPlan]) -> None:
    for plan in plans:
        for advisory in (v for v in plan.violations if v.severity == "advisory"):
            err.print(
                Text.assemble(
                    (f"{plan.file}: ", "bold"), ("advisory ", "yellow"), f"{advisory.rule}: {advisory.message}"
                )
            )
    mandatory = [(p, v) for p in plans for v in p.violations if v.severity == "mandatory"]
    if not mandatory:
        return
    for plan, violation in mandatory:
        err.print(f"{plan.file}: {violation.rule}: {violation.message}", markup=False, highlight=False)
    raise FleetUsageError(f"{len(mandatory)} mandatory policy violation(s); nothing was run or changed")


def exit_code(operation: Operation, runs: Sequence[TenantRun], options: FleetOptions) -> ExitCode:
    # Tenants not reached are not counted here: a ring stopped the run for failures counted already, or its
    # changes were declined (changes pending, 3).
    if any(r.result in ("failed", "locked", "refused") for r in runs):
        return ExitCode.FAILED
    if any(r.result == "policy-violation" for r in runs):
        return ExitCode.INVALID
    if any(r.result == "drift" for r in runs):
        return ExitCode.CHANGES
    pending = any(r.result == "changes" for r in runs)
    # apply/offboard with changes left pending (declined, or offboard without --yes) report them as such.
    if pending and (options.detailed_exitcode or operation in ("apply", "offboard")):
        return ExitCode.CHANGES
    return ExitCode.OK


# ------------------------------------------------------------------------------------------- output

_RESULT_TEXT = {
    "no-changes": ("no changes", "green"),
    "changes": ("changes pending", "yellow"),
    "applied": ("applied", "green"),
    "removed": ("removed", "green"),
    "drift": ("drift", "yellow"),
    "failed": ("failed", "red"),
    "locked": ("locked by another run", "red"),
    "policy-violation": ("blocked by policy", "red"),
    "refused": ("refused: differs from its review", "red"),
    "skipped": ("skipped: already done", "green"),
    "not-reached": ("not reached", "yellow"),
}


def render_changes(runs: Sequence[TenantRun], operation: Operation) -> None:
    for run in runs:
        if run.changes:
            heading = {"drift": "differs from its file", "offboard": "would remove"}.get(operation, "would change")
            client = client_words(run.plan.tenant_name, run.plan.tenant_domain)
            err.print(Text.assemble((run.tenant, "bold"), f"{client}  {run.plan.file}  {heading}:"))
            for change in run.changes:
                err.print(f"  {_SYMBOL[change.op]:>2} {change.description}", markup=False, highlight=False)
    render_notes(runs)
    if operation == "offboard" and any(r.changes for r in runs):
        err.print(
            "TaxCalc-Hub's service principal is retained in each tenant (never deleted; one that was there before "
            "the tool gets assignment-required back as it was found); "
            "grants and assignments are removed; tenant-wide consent settings stay as they are unless "
            "--restore-consent-settings puts back what the tenant had before the first apply.",
            markup=False,
        )


def render_notes(runs: Sequence[TenantRun]) -> None:
    """Warnings not shown yet, then each tenant's error: the one place a failure is said on stderr."""
    for run in runs:
        for warning in run.warnings[run.warnings_shown :]:
            err.print(Text.assemble((f"{run.tenant}: ", "bold"), ("warning: ", "yellow"), warning))
        run.warnings_shown = len(run.warnings)
    for run in runs:
        if run.error:
            err.print(Text.assemble((f"{run.tenant}: ", "bold"), (f"{run.state}: ", "red"), run.error))
        for difference in run.differences:
            err.print(Text.assemble((f"{run.tenant}: ", "bold"), "  ", difference))
        if run.note and run.result not in ("skipped", "not-reached"):  # those are said once, for all of them
            err.print(Text.assemble((f"{run.tenant}: ", "bold"), run.note))


def render_summary(runs: Sequence[TenantRun], operation: Operation) -> None:
    if not runs:
        err.print("no tenants to run", markup=False)
        return

    def result(run: TenantRun) -> Text:
        text, style = _RESULT_TEXT[run.result or "failed"]
        return Text(text, style=style)

    table = tenants_table(runs, "result", result, lambda run: run.duration)
    table.title, table.title_justify = f"{operation}: {len(runs)} tenant(s)", "left"
    err.print(table)


def tenants_table(
    runs: Sequence[TenantRun],
    status_header: str,
    status: Callable[[TenantRun], str | Text],
    seconds: Callable[[TenantRun], float],
) -> Table:
    """A row a tenant: its name, its status, creates (and imports), updates (and replacements), deletes,
    and its time. The live display and the closing summary say a run's counts this one way."""
    table = Table()
    for column in ("tenant", status_header, "+", "~", "-", "time"):
        table.add_column(column, justify="right" if column in "+~-time" else "left")
    for run in runs:
        counts = run.counts()
        literal_row(
            table,
            run.tenant,
            status(run),
            str(counts["create"] + counts["import"]),
            str(counts["update"] + counts["replace"]),
            str(counts["delete"]),
            f"{seconds(run):.1f}s",
        )
    return table


def report_document(context: _RunContext) -> RunDocument:
    runs = context.runs
    results: dict[str, int] = {}
    for run in runs:
        if run.result is not None:
            results[run.result] = results.get(run.result, 0) + 1
    code = context.code
    return {
        "format": RUN_FORMAT,
        "operation": context.operation,
        "started_at": context.started_at.isoformat(timespec="seconds"),
        "backend": context.backend,
        "shard": str(context.options.shard) if context.options.shard else None,
        "complete": code is not None,
        "exit_code": int(code) if code is not None else None,
        "reviewed_plan": context.review.path if context.review else None,
        "resumed_from": context.previous.path if context.previous else None,
        "rings": [wave.entry() for wave in context.waves if wave.ring is not None],
        "summary": {"tenants": len(runs), "results": results},
        "tenants": [_tenant_entry(run) for run in runs],
    }


def _tenant_entry(run: TenantRun) -> RunTenant:
    return {
        "tenant": run.tenant,
        "file": run.plan.file,
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


def review_document(context: _RunContext) -> ReviewDocument:
    """plan's document: each tenant's preview and what its review rests on, for apply --plan."""
    run_document = report_document(context)
    tenants: list[ReviewTenant] = []
    for run, entry in zip(context.runs, run_document["tenants"], strict=True):
        found = run.evidence or evidence(run.plan.file, None, run.changes)
        tenants.append(review_entry(entry, found))
    return {
        "format": REVIEW_FORMAT,
        "tool_version": tool_version(),
        "started_at": run_document["started_at"],
        "backend": run_document["backend"],
        "shard": run_document["shard"],
        "exit_code": int(context.code) if context.code is not None else 0,
        "summary": run_document["summary"],
        "tenants": tenants,
    }


def _no_document() -> RunDocument:
    raise AssertionError("a ReportWriter without a path never builds its document")
