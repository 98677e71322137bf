from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taxcalc_consent.cli.commands.discover import PartnerTenantOpt
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import UsageError, say
from taxcalc_consent.cli.ui.options import CloudName, CloudOpt, GraphEndpointOpt
from taxcalc_consent.infra.model.profiles import AuthMethod, ConsentMode

if TYPE_CHECKING:
    from taxcalc_consent.infra.model.scaffold import TenantFileOptions


def init(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Tenant short name: the file stem and the stack name (dunmore or dunmore.yaml writes dunmore.yaml; "
            "default with --domain alone: from the domain).",
        ),
    ] = None,
    tenant_id: Annotated[
        str | None, typer.Option("--tenant-id", metavar="GUID", help="Entra tenant (directory) id.")
    ] = None,
    display_name: Annotated[
        str | None, typer.Option("--name", metavar="TEXT", help="The client's name, for people (tenant.name).")
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            metavar="DOMAIN",
            help="The client's primary domain (tenant.domain). Without --tenant-id, the tenant's id and name are read "
            "from Microsoft Graph (CrossTenantInformation.ReadBasic.All, signed in at --partner-tenant as "
            "DIR/_defaults.yaml says).",
        ),
    ] = None,
    from_list: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="CSV",
            help="A client list: a header row, then one client a row with name, and domain or tenant_id.",
        ),
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
        typer.Option(
            "--auth",
            metavar="METHOD",
            help="How the tool signs in: an engineer's cli, browser or device-code; the automation identity's "
            "client-secret, oidc or msi.",
        ),
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
    partner_tenant: PartnerTenantOpt = None,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Write a new tenant file, NAME.yaml, with short comments, and the schema editors check it by.

    The tenant is named by --tenant-id, or by --domain alone (its id and name then come from Microsoft Graph);
    --from CSV writes one file per client in a list. Each file is checked as `validate` would check it, beside the
    folder's _defaults.yaml and other tenant files, before it is written: nothing is written when it would not
    validate. Never overwrites a file.
    """
    from taxcalc_consent.infra.model.scaffold import TenantFileOptions, default_tenants_folder

    target_folder = default_tenants_folder(Path()) if folder is None else folder
    if from_list is not None:
        if tenant_id is not None or domain is not None:
            raise UsageError("--from CSV names each client in the list: drop --tenant-id and --domain")
        if name is not None or users or groups:
            raise UsageError("--from CSV names each client in the list: drop NAME, --user and --group")
        return _from_list(from_list, target_folder, mode, client_id, look_up(partner_tenant, cloud, graph_endpoint))
    if tenant_id is None and domain is None:
        raise UsageError("name the client by --tenant-id GUID, by --domain DOMAIN (looked up in Graph) or --from CSV")
    if tenant_id is None:
        assert domain is not None
        found = _look_up_domain(target_folder, domain, look_up(partner_tenant, cloud, graph_endpoint))
        tenant_id = found.tenant_id
        name = name or found.stem
        display_name = display_name or found.display_name
        domain = domain.lower()
    if name is None:
        raise UsageError("NAME is needed with --tenant-id: the tenant's short name (file stem and stack name)")
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
    return _one(target_folder, name, options)


def look_up(partner_tenant: str | None, cloud: CloudName | None, graph_endpoint: str | None) -> dict[str, str | None]:
    """Where Graph's tenant look-ups are made (--partner-tenant, --cloud, --graph-endpoint)."""
    return {"cloud": cloud.value if cloud else None, "endpoint": graph_endpoint, "partner": partner_tenant}


@dataclass(frozen=True)
class _FoundDomain:
    tenant_id: str
    stem: str
    display_name: str | None


def _look_up_domain(folder: Path, domain: str, where: dict[str, str | None]) -> _FoundDomain:
    from taxcalc_consent.cli.fleet.discovery import look_up_domains
    from taxcalc_consent.infra.model.relationships import stem_for
    from taxcalc_consent.infra.model.spec import domain_problem

    problem = domain_problem(domain)
    if problem is not None:
        raise UsageError(f"--domain {domain!r}: {problem}")
    info = look_up_domains(folder, where["partner"], where["cloud"], where["endpoint"], [domain.lower()])[
        domain.lower()
    ]
    if info is None:
        raise UsageError(f"--domain {domain}: Microsoft Graph knows no tenant with this domain; nothing was written")
    shown = info.display_name if info.display_name.isprintable() else None
    return _FoundDomain(info.tenant_id, stem_for(domain, set()), shown or None)


def _one(folder: Path, name: str, options: TenantFileOptions) -> ExitCode:
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.scaffold import prepare_tenant_file, write_new_tenant_file

    new = prepare_tenant_file(folder, name, options)
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


def _from_list(
    path: Path, folder: Path, mode: ConsentMode | None, client_id: str | None, lookup: dict[str, str | None]
) -> ExitCode:
    """Every row checked first, the domains without an id looked up, then each file prepared and checked; only
    then are the new files written (a row whose file exists is skipped and said)."""
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.client_list import read_client_list
    from taxcalc_consent.infra.model.scaffold import (
        NewTenantFile,
        ScaffoldError,
        TenantFileOptions,
        prepare_tenant_file,
        write_new_tenant_file,
    )

    rows = read_client_list(path)
    wanted = [row.domain for row in rows if row.tenant_id is None and row.domain is not None]
    found: dict[str, object] = {}
    if wanted:
        from taxcalc_consent.cli.fleet.discovery import look_up_domains

        found = dict(look_up_domains(folder, lookup["partner"], lookup["cloud"], lookup["endpoint"], wanted))
    ready: list[NewTenantFile] = []
    problems: list[str] = []
    for row in rows:
        info = found.get(row.domain or "")
        tenant_id = row.tenant_id or (getattr(info, "tenant_id", None) if info is not None else None)
        where = f"{path}:{row.line}"
        if tenant_id is None:
            problems.append(f"{where}: domain: Microsoft Graph knows no tenant with the domain {row.domain}")
            continue
        display = getattr(info, "display_name", None) if info is not None else None
        options = TenantFileOptions(
            tenant_id=tenant_id,
            mode=mode,
            client_id=client_id,
            display_name=display if isinstance(display, str) and display.isprintable() and display else None,
            domain=row.domain,
        )
        try:
            ready.append(prepare_tenant_file(folder, row.name, options))
        except ScaffoldError as exc:
            if "already exists" in str(exc):
                say(f"{where}: {exc}; skipped")
                continue
            problems.append(f"{where}: {exc}")
    if not problems:
        for checked in check_tenants([new.tenant for new in ready]):
            for lv in checked.located:
                if lv.violation.severity == "mandatory":
                    problems.append(f"{lv.where}")
    if problems:
        for problem in problems:
            say(problem)
        say(f"{len(problems)} problem(s): nothing was written")
        return ExitCode.INVALID
    for new in ready:
        say(f"wrote {write_new_tenant_file(new)}")
    say(f"{len(ready)} tenant file(s) written from {path}; check them with: taxcalc-consent validate {folder}")
    return ExitCode.OK
