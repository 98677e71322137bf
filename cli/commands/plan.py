from __future__ import annotations

from typing import Annotated

import typer

from cli.commands.validate import PathsArg
from cli.console import err, fail, is_debug, print_json, user_errors
from cli.exit_codes import ExitCode
from cli.pipeline import load_plans
from cli.render import render_plan
from infra.plan import plans_document


def plan(
    ctx: typer.Context,
    paths: PathsArg,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Show the ConsentPlan from the files alone: no Pulumi, no credentials."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Show what each tenant should hold: service principal, grants, app roles, assignments."""
    if not offline:
        fail(
            "plan without --offline needs the Pulumi engine driver, which this version lacks; use --offline",
            ExitCode.FAILED,
        )
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
