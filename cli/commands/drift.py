from __future__ import annotations

import typer

from taxcalc_consent.cli.commands.validate import PathsArg
from taxcalc_consent.cli.console import is_debug
from taxcalc_consent.cli.fleet import BackendOpt, FleetOptions, JsonOpt, ParallelOpt, ReportOpt, ShardOpt, run_fleet


def drift(
    ctx: typer.Context,
    paths: PathsArg,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    report: ReportOpt = None,
) -> None:
    """Refresh each tenant's stack from Entra and name every difference from its file (exit 3 on drift)."""
    options = FleetOptions(parallel=parallel, shard=shard, json_output=json_output, report=report, backend=backend)
    run_fleet("drift", paths, options, is_debug(ctx))
