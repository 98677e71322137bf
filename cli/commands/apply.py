from __future__ import annotations

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.options import (
    BackendOpt,
    JsonOpt,
    OutOpt,
    ParallelOpt,
    PathsArg,
    ResumeOpt,
    ReviewedPlanOpt,
    RingOpt,
    ShardOpt,
    YesOpt,
    fleet_options,
)


def apply(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
    reviewed_plan: ReviewedPlanOpt = None,
    resume: ResumeOpt = None,
    ring: RingOpt = None,
) -> ExitCode:
    """Preview every tenant's stack, then (after --yes or your confirmation) make Entra match the files, ring by
    ring when the tenant files have a _rollout.yaml beside them."""
    from taxcalc_consent.cli.ui.fleet_command import run_fleet

    options = fleet_options(
        parallel=parallel,
        shard=shard,
        backend=backend,
        json_output=json_output,
        out=out,
        yes=yes,
        reviewed_plan=reviewed_plan,
        resume=resume,
        ring=ring,
    )
    return run_fleet("apply", paths, options)
