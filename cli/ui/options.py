"""Every option and argument that more than one command takes, and every option of the fleet commands, declared once.

A command's signature says which of these it takes; what each means, its help text and its metavar
live here, so ``--json`` or ``--parallel`` cannot mean one thing in ``plan`` and another in ``audit``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.run_options import FleetOptions, Shard

PathsArg = Annotated[
    list[Path],
    typer.Argument(
        metavar="PATH...",
        help=(
            "Tenant files or folders of tenant files (a folder means its *.yaml and *.yml files; "
            "_* files are not tenants)."
        ),
        show_default=False,
    ),
]

DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show a traceback for an error (before or after the command name)."),
]
"""Taken by the app itself and, through ``console.exits``, by every command: ``validate --debug x`` and
``--debug validate x`` mean the same."""

# ------------------------------------------------------------------------------- output documents
# Every command that emits a document (validate@1, plan@1, run@1, audit@1, adopt@1, discover@1) takes the same two
# flags for it. --report is today's spelling of --out on the fleet commands, kept as an alias.

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the command's JSON document on stdout, and nothing else there.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "--report",
        metavar="FILE",
        help="Also write the document to FILE (JSON; audit: the --format chosen). --report is an alias.",
        dir_okay=False,
    ),
]

# -------------------------------------------------------------------------------------- the fleet

ParallelOpt = Annotated[
    int,
    typer.Option("--parallel", min=1, max=64, metavar="N", help="Tenants worked on at once."),
]


def parse_shard(text: str) -> Shard:
    parts = text.split("/")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        k, n = int(parts[0]), int(parts[1])
        if 1 <= k <= n:
            return Shard(k, n)
    raise typer.BadParameter(f"{text!r}: expected K/N with 1 <= K <= N, for example --shard 2/4")


ShardOpt = Annotated[
    Shard | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        parser=parse_shard,
        help="Only shard K of N: tenants sorted by name, dealt round robin (CI matrix jobs).",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        metavar="URL",
        help="Pulumi state backend URL (default: $PULUMI_BACKEND_URL, else file://<root>/.pulumi-state).",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Go ahead without asking (required without a terminal).")]
DetailedExitcodeOpt = Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 3 when any tenant would change.")]
ReviewedPlanOpt = Annotated[
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
]
ResumeOpt = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        metavar="FILE",
        dir_okay=False,
        help="Go on from the report (--out) of an apply that stopped or was cut: tenants it applied are skipped.",
    ),
]
RingOpt = Annotated[
    str | None,
    typer.Option(
        "--ring",
        metavar="NAME",
        help="Only this ring of the tenants' _rollout.yaml (a CI job per ring); without it, every ring in order.",
    ),
]
RestoreConsentSettingsOpt = Annotated[
    bool,
    typer.Option(
        "--restore-consent-settings",
        help="Also put each tenant's user consent setting and admin consent workflow back as they were "
        "before the first apply (default: leave them as they are).",
    ),
]


def fleet_options(
    *,
    parallel: int,
    shard: Shard | None,
    backend: str | None,
    json_output: bool,
    out: Path | None,
    yes: bool = False,
    detailed_exitcode: bool = False,
    reviewed_plan: Path | None = None,
    resume: Path | None = None,
    ring: str | None = None,
    restore_consent_settings: bool = False,
) -> FleetOptions:
    """The driver's options from a fleet command's arguments, named as the options above are: the first five
    every fleet command takes, the others only the commands that declare them."""
    return FleetOptions(
        parallel=parallel,
        shard=shard,
        json_output=json_output,
        report=out,
        backend=backend,
        yes=yes,
        detailed_exitcode=detailed_exitcode,
        restore_consent_settings=restore_consent_settings,
        reviewed_plan=reviewed_plan,
        resume=resume,
        ring=ring,
    )


# ---------------------------------------------------------------------------------------- Graph


class CloudName(StrEnum):
    public = "public"
    usgov = "usgov"
    china = "china"


CloudOpt = Annotated[
    CloudName | None,
    typer.Option(
        "--cloud",
        help="Microsoft cloud (Graph and sign-in endpoints). Default: the azuread provider's "
        "(ARM_METADATA_HOSTNAME, else ARM_ENVIRONMENT, else public).",
    ),
]
GraphEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--graph-endpoint",
        metavar="URL",
        help="Microsoft Graph root to use instead of the cloud's (sovereign clouds, or a local emulator).",
    ),
]
