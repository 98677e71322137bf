from __future__ import annotations

import typer

from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.options import BackendOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg, ShardOpt, YesOpt


def apply(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
) -> ExitCode:
    """Preview every tenant's stack, then (after --yes or your confirmation) make Entra match the files."""
    from taxcalc_consent.cli.fleet import FleetOptions, run_fleet

    options = FleetOptions(
        parallel=parallel, shard=shard, json_output=json_output, report=out, backend=backend, yes=yes
    )
    return run_fleet("apply", paths, options)
