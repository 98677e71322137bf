from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import say
from taxcalc_consent.infra.model.profiles import ConsentMode


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

    The file is checked as `validate` would check it, beside the folder's _defaults.yaml and other tenant
    files, before it is written: nothing is written when it would not validate. Never overwrites a file.
    """
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.scaffold import prepare_tenant_file, write_new_tenant_file

    new = prepare_tenant_file(folder, name, tenant_id, mode, users or [], client_id)
    (checked,) = check_tenants([new.tenant])
    located = checked.located
    mandatory = [lv for lv in located if lv.violation.severity == "mandatory"]
    if mandatory:
        for lv in mandatory:
            say(f"  {lv.where}")
        say(
            f"{len(mandatory)} mandatory policy violation(s), so validate would refuse this file; nothing was "
            "written: change the options, or the policy in _defaults.yaml"
        )
        return ExitCode.INVALID
    target = write_new_tenant_file(new)
    say(f"wrote {target}; check it with: taxcalc-consent validate {target}")
    for lv in located:
        say(f"  {lv.where}")
    return ExitCode.OK
