"""Every option and argument that more than one command takes, declared once.

A command's signature says which of these it takes; what each means, its help text and its metavar
live here, so ``--json`` or ``--parallel`` cannot mean one thing in ``plan`` and another in ``audit``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

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
# Every command that emits a document (validate@1, plan@1, run@1, audit@1, adopt@1) takes the same two
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


class Shard(NamedTuple):
    """Shard K of N (1 <= K <= N): tenants sorted by name, dealt round robin."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


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
