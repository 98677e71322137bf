from __future__ import annotations

from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import UsageError, check_out, emit_plans, given, say
from taxcalc_consent.cli.ui.options import (
    BackendOpt,
    DetailedExitcodeOpt,
    JsonOpt,
    OutOpt,
    ParallelOpt,
    PathsArg,
    ShardOpt,
    fleet_options,
)


def plan(
    ctx: typer.Context,
    paths: PathsArg,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Show the ConsentPlan from the files alone: no Pulumi, no credentials."),
    ] = False,
    json_output: JsonOpt = False,
    out: OutOpt = None,
    detailed_exitcode: DetailedExitcodeOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
) -> ExitCode:
    """Show what each tenant should hold (--offline), or preview each tenant's stack: what would change in Entra
    (--out FILE then records what was reviewed, for apply --plan FILE)."""
    if not offline:
        from taxcalc_consent.cli.ui.fleet_command import run_fleet

        options = fleet_options(
            parallel=parallel,
            shard=shard,
            backend=backend,
            json_output=json_output,
            out=out,
            detailed_exitcode=detailed_exitcode,
        )
        return run_fleet("plan", paths, options)
    engine_only = [f"--{n.replace('_', '-')}" for n in ("detailed_exitcode", "parallel", "backend") if given(ctx, n)]
    if engine_only:
        raise UsageError(f"{', '.join(engine_only)}: only with the engine, and --offline does not run it; drop one")
    from taxcalc_consent.cli.fleet.pipeline import load_encoded_plans, load_plans, select_shard

    check_out(out)
    if json_output:
        # The document alone: each tenant's entry is encoded as it is planned (in several processes for a
        # large fleet), and no plan is kept.
        encoded = select_shard(load_encoded_plans(paths, notify=say), shard)
        if shard is not None:
            say(f"shard {shard}: {len(encoded)} tenant(s)")
        emit_plans([e.body for e in encoded], json_output=json_output, out=out)
        mandatory = sum(e.mandatory for e in encoded)
    else:
        from taxcalc_consent.cli.ui.render import render_plan
        from taxcalc_consent.infra.model.document_json import encode_item
        from taxcalc_consent.infra.model.plan import plan_to_dict

        plans = select_shard(load_plans(paths, notify=say), shard)
        if shard is not None:
            say(f"shard {shard}: {len(plans)} tenant(s)")
        if out is not None:
            emit_plans([encode_item(plan_to_dict(p)) for p in plans], json_output=False, out=out)
        for tenant_plan in plans:
            render_plan(tenant_plan)
        mandatory = sum(v.severity == "mandatory" for p in plans for v in p.violations)
    if mandatory:
        say(f"{mandatory} mandatory policy violation(s); nothing would be applied")
        return ExitCode.INVALID
    return ExitCode.OK
