from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taxcalc_consent.cli.commands.discover import PartnerTenantOpt
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import UsageError, say
from taxcalc_consent.cli.ui.options import CloudOpt, GraphEndpointOpt
from taxcalc_consent.infra.model.profiles import ConsentMode

if TYPE_CHECKING:
    from taxcalc_consent.infra.model.scaffold import KnownTenant


def init(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME", help="Tenant short name: the file stem and the stack name (default with --domain: from it)."
        ),
    ] = None,
    tenant_id: Annotated[
        str | None, typer.Option("--tenant-id", metavar="GUID", help="Entra tenant (directory) id.")
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            metavar="DOMAIN",
            help="A domain of the client's tenant: its tenant id and name are read from Microsoft Graph "
            "(CrossTenantInformation.ReadBasic.All, signed in at --partner-tenant as DIR/_defaults.yaml says).",
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
    mode: Annotated[ConsentMode, typer.Option("--mode", help="organization or users.")] = "organization",
    users: Annotated[
        list[str] | None, typer.Option("--user", metavar="UPN", help="A mailbox user (UPN or object id); repeat.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="GUID", help="TaxCalc-Hub's application id.")
    ] = None,
    folder: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Folder of tenant files.")] = Path("tenants"),
    partner_tenant: PartnerTenantOpt = None,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Write a new tenant file, NAME.yaml, with short comments, and the schema editors check it by.

    The tenant is named by --tenant-id, or by --domain (its id and name then come from Microsoft Graph); --from
    CSV writes one file per client in a list. Each file is checked as `validate` would check it, beside the
    folder's _defaults.yaml and other tenant files, before it is written: nothing is written when it would not
    validate. Never overwrites a file.
    """
    from taxcalc_consent.infra.model.scaffold import KnownTenant as Known

    given = [o for o, v in (("--tenant-id", tenant_id), ("--domain", domain), ("--from", from_list)) if v is not None]
    if len(given) != 1:
        raise UsageError("name the client by one of --tenant-id GUID, --domain DOMAIN or --from CSV")
    look_up = {"cloud": cloud.value if cloud else None, "endpoint": graph_endpoint, "partner": partner_tenant}
    if from_list is not None:
        if name is not None or users:
            raise UsageError("--from CSV names each client in the list: drop NAME and --user")
        return _from_list(from_list, folder, mode, client_id, look_up)
    if domain is not None:
        from taxcalc_consent.cli.fleet.discovery import look_up_domains
        from taxcalc_consent.infra.model.relationships import stem_for
        from taxcalc_consent.infra.model.spec import domain_problem

        problem = domain_problem(domain)
        if problem is not None:
            raise UsageError(f"--domain {domain!r}: {problem}")
        found = look_up_domains(folder, partner_tenant, look_up["cloud"], graph_endpoint, [domain.lower()])
        info = found[domain.lower()]
        if info is None:
            raise UsageError(
                f"--domain {domain}: Microsoft Graph knows no tenant with this domain; nothing was written"
            )
        tenant_id = info.tenant_id
        name = name or stem_for(domain, set())
        known = Known(info.display_name if info.display_name.isprintable() else None, domain.lower())
        return _one(folder, name, tenant_id, mode, users or [], client_id, known)
    if name is None:
        raise UsageError("NAME is needed with --tenant-id: the tenant's short name (file stem and stack name)")
    assert tenant_id is not None
    return _one(folder, name, tenant_id, mode, users or [], client_id, None)


def _one(
    folder: Path,
    name: str,
    tenant_id: str,
    mode: ConsentMode,
    users: list[str],
    client_id: str | None,
    known: KnownTenant | None,
) -> ExitCode:
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.scaffold import prepare_tenant_file, write_new_tenant_file

    new = prepare_tenant_file(folder, name, tenant_id, mode, users, client_id, known)
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
    path: Path, folder: Path, mode: ConsentMode, client_id: str | None, look_up: dict[str, str | None]
) -> ExitCode:
    """Every row checked first, the domains without an id looked up, then each file prepared and checked; only
    then are the new files written (a row whose file exists is skipped and said)."""
    from taxcalc_consent.cli.fleet.pipeline import check_tenants
    from taxcalc_consent.infra.model.client_list import read_client_list
    from taxcalc_consent.infra.model.scaffold import KnownTenant as Known
    from taxcalc_consent.infra.model.scaffold import (
        NewTenantFile,
        ScaffoldError,
        prepare_tenant_file,
        write_new_tenant_file,
    )

    rows = read_client_list(path)
    wanted = [row.domain for row in rows if row.tenant_id is None and row.domain is not None]
    found: dict[str, object] = {}
    if wanted:
        from taxcalc_consent.cli.fleet.discovery import look_up_domains

        found = dict(look_up_domains(folder, look_up["partner"], look_up["cloud"], look_up["endpoint"], wanted))
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
        known = Known(display if isinstance(display, str) and display.isprintable() else None, row.domain)
        try:
            ready.append(prepare_tenant_file(folder, row.name, tenant_id, mode, [], client_id, known))
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
