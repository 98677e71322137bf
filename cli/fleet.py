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

from taxcalc_consent.cli import automation, engine_setup
from taxcalc_consent.cli.automation import Engine
from taxcalc_consent.cli.console import check_out, emit, err, literal_row, say
from taxcalc_consent.cli.events import ResourceChange, Step, StepOutcome
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.options import Shard
from taxcalc_consent.cli.pipeline import load_plans, select_shard
from taxcalc_consent.cli.render import client_words
from taxcalc_consent.infra.consent_settings import RESTORE_ENV
from taxcalc_consent.infra.documents import RUN_FORMAT, ChangeCounts, RunDocument
from taxcalc_consent.infra.errors import TaxcalcConsentError
from taxcalc_consent.infra.errors import redact as redact_shapes
from taxcalc_consent.infra.plan import ConsentPlan

Operation = Literal["plan", "apply", "drift", "offboard"]
Result = Literal["no-changes", "changes", "applied", "drift", "removed", "failed", "locked", "policy-violation"]


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


class FleetUsageError(TaxcalcConsentError):
    """Usage the fleet refuses before anything runs: apply without --yes and no terminal, a policy violation."""

    exit_code = ExitCode.INVALID


# ------------------------------------------------------------------------------------------ tenants


@dataclass
class TenantRun:
    plan: ConsentPlan
    state: str = "queued"
    result: Result | None = None
    changes: list[ResourceChange] = field(default_factory=list)
    error: str | None = None
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
) -> None:
    """Run one step on every tenant, ``parallel`` at a time; a failure stays with its own tenant."""

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
        _settle(run, step, outcome)
        progress.finished(run)

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
    check_out(options.report)  # again, now that the files are read: an --out naming one is refused before any change
    _refuse_mandatory_violations(plans)
    confirmable = operation in ("apply", "offboard")
    if operation == "apply" and not options.yes and not is_interactive():
        raise FleetUsageError(
            "apply changes tenants: pass --yes, or run it at a terminal to confirm; nothing was changed"
        )
    selected = select_shard(plans, options.shard)
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
    if operation == "offboard" and options.restore_consent_settings:
        # Read by the consent settings provider in the engine's process (infra/settings_provider.py).
        settings = replace(settings, env_vars={**settings.env_vars, RESTORE_ENV: "1"})
    known = engine_setup.secret_values(plans, os.environ, settings)

    def redact(text: str) -> str:
        """What the engine says, without a secret this run holds, nor one of any known shape (a token the
        engine echoes from a config or an environment the tool never saw)."""
        return redact_shapes(known(text))

    engine = automation.connect(settings) if selected else None

    runs = [TenantRun(plan) for plan in selected]
    if options.shard:
        say(f"shard {options.shard}: {len(runs)} of {len(plans)} tenant(s)")
    first = _FIRST_STEP[operation]
    if engine is not None:
        with Progress(runs, live=err.is_terminal) as progress:
            run_phase(engine, runs, first, redact, options.parallel, progress)
        render_changes(runs, operation)
        pending = [r for r in runs if r.result == "changes"]
        if confirmable and pending:
            total = sum(len(r.changes) for r in pending)
            question = (
                f"Apply {total} change(s) to {len(pending)} tenant(s)?"
                if operation == "apply"
                else f"Offboard {len(pending)} tenant(s), {total} removal(s)?"
            )
            if options.yes or _confirm(question):
                second: Step = "up" if operation == "apply" else "destroy"
                with Progress(pending, live=err.is_terminal) as progress:
                    run_phase(engine, pending, second, redact, options.parallel, progress)
                render_notes(pending)
            elif options.yes or is_interactive():
                say("nothing was changed")
            else:
                say("nothing was changed: run again with --yes to go ahead")
    code = exit_code(operation, runs, options)
    render_summary(runs, operation)
    document = report_document(operation, runs, settings.backend_display, options.shard, started_at, code)
    emit(document, json_output=options.json_output, out=options.report)
    return code


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
    if any(r.result in ("failed", "locked") for r in runs):
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


def report_document(
    operation: Operation,
    runs: Sequence[TenantRun],
    backend: str,
    shard: Shard | None,
    started_at: datetime,
    code: ExitCode,
) -> RunDocument:
    results: dict[str, int] = {}
    for run in runs:
        results[run.result or "failed"] = results.get(run.result or "failed", 0) + 1
    return {
        "format": RUN_FORMAT,
        "operation": operation,
        "started_at": started_at.isoformat(timespec="seconds"),
        "backend": backend,
        "shard": str(shard) if shard else None,
        "exit_code": int(code),
        "summary": {"tenants": len(runs), "results": results},
        "tenants": [
            {
                "tenant": run.tenant,
                "file": run.plan.file,
                "stack": run.tenant,
                "result": run.result,
                "changes": run.counts(),
                "resources": [c.to_dict() for c in run.changes],
                "error": run.error,
                "warnings": run.warnings,
                "attempts": run.attempts,
                "duration_seconds": round(run.duration, 3),
            }
            for run in runs
        ],
    }
