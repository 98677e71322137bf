"""A fleet run's exit code, from its tenants' results (the codes themselves: ``cli/fleet/exit_codes.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.fleet.run_options import FleetOptions, Operation
from taxcalc_consent.cli.fleet.tenant_run import TenantRun


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
