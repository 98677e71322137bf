from __future__ import annotations

import typer

from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.options import BackendOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg, ShardOpt, YesOpt


def offboard(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
) -> ExitCode:
    """Remove TaxCalc-Hub's grants and assignments from each tenant; its service principal is retained.

    Without --yes (and no confirmation at a terminal) this only previews the removal and exits 3.
    """
    from taxcalc_consent.cli.fleet import FleetOptions, run_fleet

    options = FleetOptions(
        parallel=parallel, shard=shard, json_output=json_output, report=out, backend=backend, yes=yes
    )
    return run_fleet("offboard", paths, options)
