"""What a person sees of a fleet run: the live display, each tenant's changes and notes, the closing summary.

:class:`ConsoleDisplay` is the driver's ``FleetDisplay`` (``cli/fleet/fleet.py``) on the console: the driver
tells it what happens as it happens, and asks it for a confirmation.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from threading import Lock

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from taxcalc_consent.cli.fleet.run_options import Operation
from taxcalc_consent.cli.fleet.tenant_run import RESULT_WORDS, TenantRun
from taxcalc_consent.cli.ui.console import err, literal_row, say
from taxcalc_consent.cli.ui.render import client_words
from taxcalc_consent.infra.model.plan import ConsentPlan

_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "+-", "import": "="}

_RESULT_STYLE = {
    "no-changes": "green",
    "changes": "yellow",
    "applied": "green",
    "removed": "green",
    "drift": "yellow",
    "failed": "red",
    "locked": "red",
    "policy-violation": "red",
    "refused": "red",
    "skipped": "green",
    "not-reached": "yellow",
}


def is_interactive() -> bool:
    """A person at a terminal who can answer a confirmation prompt."""
    return sys.stdin.isatty() and err.is_terminal


class ConsoleDisplay:
    """The fleet driver's display on the console (the ``FleetDisplay`` protocol)."""

    def __init__(self) -> None:
        self._warnings_shown: dict[str, int] = {}
        """How many of each tenant's warnings were said already (a tenant's second step says only new ones)."""

    def say(self, line: str) -> None:
        say(line)

    def violations(self, plans: Sequence[ConsentPlan]) -> None:
        for plan in plans:
            for advisory in (v for v in plan.violations if v.severity == "advisory"):
                err.print(
                    Text.assemble(
                        (f"{plan.file}: ", "bold"), ("advisory ", "yellow"), f"{advisory.rule}: {advisory.message}"
                    )
                )
        for plan in plans:
            for violation in (v for v in plan.violations if v.severity == "mandatory"):
                err.print(f"{plan.file}: {violation.rule}: {violation.message}", markup=False, highlight=False)

    def phase(self, runs: Sequence[TenantRun]) -> Progress:
        return Progress(runs, live=err.is_terminal)

    def previewed(self, runs: Sequence[TenantRun], operation: Operation) -> None:
        render_changes(runs, operation)
        self.settled(runs)
        if operation == "offboard" and any(r.changes for r in runs):
            err.print(
                "TaxCalc-Hub's service principal is retained in each tenant (never deleted; one that was there "
                "before the tool gets assignment-required back as it was found); "
                "grants and assignments are removed; tenant-wide consent settings stay as they are unless "
                "--restore-consent-settings puts back what the tenant had before the first apply.",
                markup=False,
            )

    def settled(self, runs: Sequence[TenantRun]) -> None:
        """Warnings not shown yet, then each tenant's error: the one place a failure is said on stderr."""
        for run in runs:
            shown = self._warnings_shown.get(run.tenant, 0)
            for warning in run.warnings[shown:]:
                err.print(Text.assemble((f"{run.tenant}: ", "bold"), ("warning: ", "yellow"), warning))
            self._warnings_shown[run.tenant] = len(run.warnings)
        for run in runs:
            if run.error:
                err.print(Text.assemble((f"{run.tenant}: ", "bold"), (f"{run.state}: ", "red"), run.error))
            for difference in run.differences:
                err.print(Text.assemble((f"{run.tenant}: ", "bold"), "  ", difference))
            if run.note and run.result not in ("skipped", "not-reached"):  # those are said once, for all of them
                err.print(Text.assemble((f"{run.tenant}: ", "bold"), run.note))

    def interactive(self) -> bool:
        return is_interactive()

    def confirm(self, question: str) -> bool:
        if not is_interactive():
            return False
        return typer.confirm(question, default=False, err=True)


class Progress:
    """What a run is doing, said at a cost that does not grow with the fleet.

    On a terminal: a live display of one summary line (how many tenants are done, running and queued, and
    the results so far) above a row per *running* tenant, at most ``--parallel`` rows however many
    tenants there are. Otherwise (a CI log, a file): one plain line on stderr per tenant state change.
    Either way each tenant's changes, warnings and error are printed once, when the phase ends
    (``ConsoleDisplay.previewed`` and ``settled``). The summary is kept up to date as tenants start and
    finish, never recounted, so one redraw costs the same at 10 tenants and at 5,000.
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


def _state_line(run: TenantRun) -> str:
    # A failure's error is said once, by ConsoleDisplay.settled after the phase (where the live display leaves
    # it too), not here as well: a CI log read top to bottom then finds it beside the tenant's warnings.
    counts = run.counts()
    if not run.changes:
        return f"{run.state} ({run.duration:.1f}s)"
    summary = ", ".join(f"{n} {op}" for op, n in counts.items() if n)
    return f"{run.state}: {summary} ({run.duration:.1f}s)"


def render_changes(runs: Sequence[TenantRun], operation: Operation) -> None:
    for run in runs:
        if run.changes:
            heading = {"drift": "differs from its file", "offboard": "would remove"}.get(operation, "would change")
            client = client_words(run.plan.tenant_name, run.plan.tenant_domain)
            err.print(Text.assemble((run.tenant, "bold"), f"{client}  {run.plan.file}  {heading}:"))
            for change in run.changes:
                err.print(f"  {_SYMBOL[change.op]:>2} {change.description}", markup=False, highlight=False)


def render_summary(runs: Sequence[TenantRun], operation: Operation) -> None:
    if not runs:
        err.print("no tenants to run", markup=False)
        return

    def result(run: TenantRun) -> Text:
        shown = run.result or "failed"
        return Text(RESULT_WORDS[shown], style=_RESULT_STYLE[shown])

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
