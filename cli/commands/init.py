from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import say
from taxcalc_consent.infra.model.profiles import AuthMethod, ConsentMode


def init(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="Tenant short name: the file stem and the stack name (dunmore or dunmore.yaml writes dunmore.yaml).",
        ),
    ],
    tenant_id: Annotated[str, typer.Option("--tenant-id", metavar="GUID", help="Entra tenant (directory) id.")],
    display_name: Annotated[
        str | None, typer.Option("--name", metavar="TEXT", help="The client's name, for people (tenant.name).")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", metavar="DOMAIN", help="The client's primary domain (tenant.domain).")
    ] = None,
    mode: Annotated[
        ConsentMode | None,
        typer.Option("--mode", help="organization or users; default: users with --user or --group, else organization."),
    ] = None,
    users: Annotated[
        list[str] | None,
        typer.Option("--user", metavar="UPN", help="A mailbox user (UPN or object id) to consent for; repeat."),
    ] = None,
    groups: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="NAME",
            help="A group (display name or object id) whose direct user members get a grant; repeat.",
        ),
    ] = None,
    assignment_required: Annotated[
        bool,
        typer.Option(
            "--assignment-required",
            help="Only assigned users and groups may sign in; the --user and --group given are the ones assigned.",
        ),
    ] = False,
    auth_method: Annotated[
        AuthMethod | None,
        typer.Option("--auth", metavar="METHOD", help="How the automation signs in: cli, client-secret, oidc or msi."),
    ] = None,
    auth_client_id: Annotated[
        str | None, typer.Option("--auth-client-id", metavar="GUID", help="The automation app's application id.")
    ] = None,
    auth_secret_env: Annotated[
        str | None,
        typer.Option(
            "--auth-secret-env",
            metavar="VAR",
            help="The variable holding its client secret (its name, not the secret).",
        ),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="GUID", help="TaxCalc-Hub's application id.")
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Folder of tenant files; default: tenants/, or the current folder when it is a tenants folder.",
        ),
    ] = None,
) -> ExitCode:
    """Write a new tenant file, NAME.yaml, with short comments, and the schema editors check it by.

    The file is checked as `validate` would check it, beside the folder's _defaults.yaml and other tenant
    files, before it is written: nothing is written when it would not validate. Never overwrites a file.
    """
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.scaffold import (
        TenantFileOptions,
        default_tenants_folder,
        prepare_tenant_file,
        write_new_tenant_file,
    )

    options = TenantFileOptions(
        tenant_id=tenant_id,
        mode=mode,
        users=users or [],
        groups=groups or [],
        client_id=client_id,
        display_name=display_name,
        domain=domain,
        assignment_required=assignment_required,
        auth_method=auth_method,
        auth_client_id=auth_client_id,
        auth_secret_env=auth_secret_env,
    )
    new = prepare_tenant_file(default_tenants_folder(Path()) if folder is None else folder, name, options)
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
