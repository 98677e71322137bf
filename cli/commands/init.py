from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.console import err, is_debug, user_errors
from taxcalc_consent.infra.scaffold import write_tenant_file
from taxcalc_consent.infra.spec import ConsentMode


def init(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tenant short name: the file stem and the stack name.")],
    tenant_id: Annotated[str, typer.Option("--tenant-id", help="Entra tenant (directory) id.")],
    mode: Annotated[ConsentMode, typer.Option("--mode", help="organization or users.")] = "organization",
    users: Annotated[
        list[str] | None, typer.Option("--user", help="A mailbox user (UPN or object id); repeat.")
    ] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="TaxCalc-Hub's application id.")] = None,
    folder: Annotated[Path, typer.Option("--dir", help="Folder of tenant files.")] = Path("tenants"),
) -> None:
    """Write a new tenant file, NAME.yaml, with short comments. Never overwrites."""
    with user_errors(is_debug(ctx)):
        target = write_tenant_file(folder, name, tenant_id, mode, users or [], client_id)
    err.print(f"wrote {target}; check it with: taxcalc-consent validate {target}", markup=False, highlight=False)
