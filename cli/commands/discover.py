from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import say
from taxcalc_consent.cli.ui.options import CloudOpt, GraphEndpointOpt
from taxcalc_consent.infra.model.profiles import ConsentMode

PartnerTenantOpt = Annotated[
    str | None,
    typer.Option(
        "--partner-tenant",
        metavar="GUID",
        envvar="TAXCALC_CONSENT_PARTNER_TENANT",
        help="The MSP's own tenant id, where its GDAP relationships are. Default: the tenant "
        "TAXCALC_CONSENT_GRAPH_TOKEN was issued for.",
    ),
]


def discover(
    ctx: typer.Context,
    partner_tenant: PartnerTenantOpt = None,
    folder: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Folder of tenant files.")] = Path("tenants"),
    mode: Annotated[ConsentMode, typer.Option("--mode", help="consent.mode of the files written.")] = "organization",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be written; write nothing.")] = False,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Write a tenant file for each client the MSP reaches through an active GDAP relationship.

    Reads the MSP tenant's relationships (DelegatedAdminRelationship.Read.All) and each new client's name and
    default domain (CrossTenantInformation.ReadBasic.All), signed in as DIR/_defaults.yaml's auth says (or with
    TAXCALC_CONSENT_GRAPH_TOKEN). A client already in DIR (same tenant.id) is left as it is; a new file is named
    after the client's default domain, checked as validate would check it, and never overwrites a file.
    Relationships that give no access (not active, ended) and ones ending within 30 days are listed with why.
    Exit 0 when done, 1 when Graph failed, 2 on invalid input (nothing written).
    """
    from taxcalc_consent.cli.fleet.discovery import discover_clients

    found = discover_clients(
        folder, partner_tenant, cloud.value if cloud else None, graph_endpoint, mode=mode, dry_run=dry_run
    )
    for client in found.clients:
        r = client.relationship
        who = f"{r.customer_name or r.customer_tenant_id} ({r.customer_tenant_id})"
        via = f"relationship {r.display_name!r} ({r.id})"
        if client.action == "written":
            say(f"wrote {client.file}: {who}, {via}")
        elif client.action == "would-write":
            say(f"would write {client.file}: {who}, {via}")
        elif client.action == "exists":
            say(f"already in {client.file}: {who}")
        elif client.action == "no-access":
            say(f"not written: {who}: {via}: {client.standing.note}")
        elif client.action == "other-relationship":
            say(f"also: {who}: {via} ({client.detail})")
        elif client.action == "unknown-tenant":
            say(f"not written: {who}: Microsoft Graph knows no such tenant (findTenantInformationByTenantId)")
        else:
            say(f"not written: {client.file}: {who}: the folder's policy refuses it: {client.detail}")
        if client.standing.usable and client.standing.note:
            say(f"  warning: {who}: {client.standing.note}")
    written = len(found.written)
    verb = "would write" if dry_run else "wrote"
    say(f"{len(found.clients)} relationship(s) in tenant {found.partner_tenant}: {verb} {written} tenant file(s)")
    return ExitCode.INVALID if any(c.action == "policy" for c in found.clients) else ExitCode.OK
