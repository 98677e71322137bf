from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.options import BackendOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg, ShardOpt, YesOpt


def apply(
    ctx: typer.Context,
    paths: PathsArg,
    yes: YesOpt = False,
    parallel: ParallelOpt = 4,
    shard: ShardOpt = None,
    backend: BackendOpt = None,
    json_output: JsonOpt = False,
    out: OutOpt = None,
    reviewed_plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            dir_okay=False,
            help=(
                "Apply exactly what was reviewed: the review@1 document `plan --out FILE` wrote. Each tenant is "
                "previewed again and refused, before any write, if anything differs (its file, _defaults.yaml, "
                "the tool's version, the stack, or the changes)."
            ),
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="FILE",
            dir_okay=False,
            help="Go on from the report (--out) of an apply that stopped or was cut: tenants it applied are skipped.",
        ),
    ] = None,
    ring: Annotated[
        str | None,
        typer.Option(
            "--ring",
            metavar="NAME",
            help="Only this ring of the tenants' _rollout.yaml (a CI job per ring); without it, every ring in order.",
        ),
    ] = None,
) -> ExitCode:
    """Preview every tenant's stack, then (after --yes or your confirmation) make Entra match the files, ring by
    ring when the tenant files have a _rollout.yaml beside them."""
    from taxcalc_consent.cli.fleet.fleet import FleetOptions, run_fleet

    options = FleetOptions(
        parallel=parallel,
        shard=shard,
        json_output=json_output,
        report=out,
        backend=backend,
        yes=yes,
        reviewed_plan=reviewed_plan,
        resume=resume,
        ring=ring,
    )
    return run_fleet("apply", paths, options)
