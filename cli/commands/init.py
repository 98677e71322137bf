from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.console import say
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.infra.profiles import ConsentMode


def init(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Tenant short name: the file stem and the stack name.")],
    tenant_id: Annotated[str, typer.Option("--tenant-id", metavar="GUID", help="Entra tenant (directory) id.")],
    mode: Annotated[ConsentMode, typer.Option("--mode", help="organization or users.")] = "organization",
    users: Annotated[
        list[str] | None, typer.Option("--user", metavar="UPN", help="A mailbox user (UPN or object id); repeat.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="GUID", help="TaxCalc-Hub's application id.")
    ] = None,
    folder: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Folder of tenant files.")] = Path("tenants"),
) -> ExitCode:
    """Write a new tenant file, NAME.yaml, with short comments, and the schema editors check it by.

    Never overwrites a tenant file.
    """
    from taxcalc_consent.infra.scaffold import write_tenant_file

    target = write_tenant_file(folder, name, tenant_id, mode, users or [], client_id)
    say(f"wrote {target}; check it with: taxcalc-consent validate {target}")
    return ExitCode.OK
