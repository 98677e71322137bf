"""A fleet command from start to end: its options checked, the driver run with the console's display, then
the summary, the report or review document, and the exit code.

The commands ``plan`` (without --offline), ``apply``, ``drift`` and ``offboard`` are this one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from taxcalc_consent.cli.fleet import fleet
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.fleet.run_options import FleetOptions, Operation
from taxcalc_consent.cli.ui.console import OutputError, check_out, emit, print_json, say
from taxcalc_consent.cli.ui.exit_policy import exit_code
from taxcalc_consent.cli.ui.fleet_display import ConsoleDisplay, render_summary


def run_fleet(operation: Operation, paths: Sequence[Path], options: FleetOptions) -> ExitCode:
    """Everything a fleet command does; returns the documented exit code."""
    check_out(options.report)
    inputs = fleet.read_inputs(operation, paths, options, say)
    # Again, now that every input is read (the review, the report resumed and _rollout.yaml too): an --out naming
    # one is refused before any change.
    check_out(options.report)
    fleet_run = fleet.run(inputs, ConsoleDisplay())
    code = exit_code(operation, fleet_run.runs, options)
    fleet_run.code = code
    render_summary(fleet_run.runs, operation)
    if operation == "plan":
        if options.json_output or options.report is not None:
            emit(fleet_run.review_document(), json_output=options.json_output, out=options.report)
    else:
        if options.report is not None:
            failure = fleet_run.write_report()
            if failure:
                raise OutputError(failure)
            say(f"wrote {options.report}")
        if options.json_output:
            print_json(fleet_run.document())
    return code
