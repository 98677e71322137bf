from __future__ import annotations

from typing import Annotated

import typer

from taxcalc_consent.cli.commands.validate import PathsArg
from taxcalc_consent.cli.console import err, is_debug, print_json, user_errors
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.fleet import BackendOpt, FleetOptions, ParallelOpt, ReportOpt, ShardOpt, run_fleet
from taxcalc_consent.cli.pipeline import load_plans
from taxcalc_consent.cli.render import render_plan
from taxcalc_consent.infra.plan import plans_document


def plan(
    ctx: typer.Context,
    paths: PathsArg,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Show the ConsentPlan from the files alone: no Pulumi, no credentials."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when any tenant would change (not with --offline).")
    ] = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    report: ReportOpt = None,
) -> None:
    """Show what each tenant should hold (--offline), or preview each tenant's stack: what would change in Entra."""
    if not offline:
        options = FleetOptions(
            parallel=parallel,
            shard=shard,
            json_output=json_output,
            report=report,
            backend=backend,
            detailed_exitcode=detailed_exitcode,
        )
        run_fleet("plan", paths, options, is_debug(ctx))
    with user_errors(is_debug(ctx)):
        plans = load_plans(paths)
    if json_output:
        print_json(plans_document(plans))
    else:
        for tenant_plan in plans:
            render_plan(tenant_plan)
    mandatory = [v for p in plans for v in p.violations if v.severity == "mandatory"]
    if mandatory:
        err.print(f"{len(mandatory)} mandatory policy violation(s); nothing would be applied", markup=False)
        raise typer.Exit(int(ExitCode.INVALID))
