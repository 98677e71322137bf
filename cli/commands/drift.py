from __future__ import annotations

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.options import BackendOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg, ShardOpt, fleet_options


def drift(
    ctx: typer.Context,
    paths: PathsArg,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
) -> ExitCode:
    """Refresh each tenant's stack from Entra and name every difference from its file (exit 3 on drift)."""
    from taxcalc_consent.cli.ui.fleet_command import run_fleet

    options = fleet_options(parallel=parallel, shard=shard, backend=backend, json_output=json_output, out=out)
    return run_fleet("drift", paths, options)
