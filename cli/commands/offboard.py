from __future__ import annotations

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.options import (
    BackendOpt,
    JsonOpt,
    OutOpt,
    ParallelOpt,
    PathsArg,
    RestoreConsentSettingsOpt,
    ShardOpt,
    YesOpt,
    fleet_options,
)


def offboard(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
    restore_consent_settings: RestoreConsentSettingsOpt = False,
) -> ExitCode:
    """Remove TaxCalc-Hub's grants and assignments from each tenant; its service principal is retained.

    Tenant-wide consent settings the file manages are left as they are, unless --restore-consent-settings
    puts back what each tenant had before the tool first set them. Without --yes (and no confirmation at a
    terminal) this only previews the removal and exits 3.
    """
    from taxcalc_consent.cli.ui.fleet_command import run_fleet

    options = fleet_options(
        parallel=parallel,
        shard=shard,
        backend=backend,
        json_output=json_output,
        out=out,
        yes=yes,
        restore_consent_settings=restore_consent_settings,
    )
    return run_fleet("offboard", paths, options)
