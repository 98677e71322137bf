from __future__ import annotations

import typer

from taxcalc_consent.cli.commands.validate import PathsArg
from taxcalc_consent.cli.console import is_debug
from taxcalc_consent.cli.fleet import (
    BackendOpt,
    FleetOptions,
    JsonOpt,
    ParallelOpt,
    ReportOpt,
    ShardOpt,
    YesOpt,
    run_fleet,
)


def apply(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    report: ReportOpt = None,
) -> None:
    """Preview every tenant's stack, then (after --yes or your confirmation) make Entra match the files."""
    options = FleetOptions(
        parallel=parallel, shard=shard, json_output=json_output, report=report, backend=backend, yes=yes
    )
    run_fleet("apply", paths, options, is_debug(ctx))
