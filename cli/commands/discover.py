from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import UsageError, check_out, emit, say
from taxcalc_consent.cli.ui.options import CloudOpt, GraphEndpointOpt, JsonOpt, OutOpt
from taxcalc_consent.infra.model.discover_document import DiscoveredRelationship
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
    json_output: JsonOpt = False,
    out: OutOpt = None,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Write a tenant file for each client the MSP reaches through an active GDAP relationship.

    Reads the MSP tenant's relationships (DelegatedAdminRelationship.Read.All) and each new client's name and
    default domain (CrossTenantInformation.ReadBasic.All), signed in as DIR/_defaults.yaml's auth says (or with
    TAXCALC_CONSENT_GRAPH_TOKEN). A client already in DIR (same tenant.id) is left as it is; a new file is named
    after the client's default domain, checked as validate would check it, and never overwrites a file.
    Relationships that give no access (not active, ended) and ones ending within 30 days are listed with why.
    --json prints the discover@1 document (each relationship, what was done with it and why).
    Exit 0 when done, 1 when Graph failed (for a client: the others still ran), 2 on invalid input or when the
    folder's policy refuses a file.
    """
    from taxcalc_consent.cli.fleet.discovery import discover_clients, discovery_document

    check_out(out)
    _check_out_is_no_tenant_file(out, folder)
    found = discover_clients(
        folder,
        partner_tenant,
        cloud.value if cloud else None,
        graph_endpoint,
        mode=mode,
        dry_run=dry_run,
        notify=say,
    )
    document = discovery_document(found, folder, dry_run)
    emit(document, json_output=json_output, out=out)
    if document["error"] is not None:
        for line in document["error"].splitlines():
            say(f"error: {line}")
        return ExitCode.FAILED
    for entry in document["relationships"]:
        _render(entry)
    summary = document["summary"]
    written = summary["would_write"] if dry_run else summary["written"]
    verb = "would write" if dry_run else "wrote"
    failed = f", {summary['failed']} failed" if summary["failed"] else ""
    say(
        f"{summary['relationships']} relationship(s) in tenant {document['partner_tenant']}: {verb} {written} "
        f"tenant file(s){failed}"
    )
    if summary["failed"]:
        return ExitCode.FAILED
    return ExitCode.INVALID if summary["policy"] else ExitCode.OK


def _render(entry: DiscoveredRelationship) -> None:
    who = f"{entry['name'] or entry['tenant_id']} ({entry['tenant_id']})"
    via = f"relationship {entry['display_name']!r} ({entry['relationship_id']})"
    action = entry["action"]
    if action == "written":
        say(f"wrote {entry['file']}: {who}, {via}")
    elif action == "would-write":
        say(f"would write {entry['file']}: {who}, {via}")
    elif action == "exists":
        say(f"already in {entry['file']}: {who}")
    elif action == "no-access":
        say(f"not written: {who}: {via}: {entry['reason']}")
    elif action == "other-relationship":
        say(f"also: {who}: {via}: {entry['reason']}")
    elif action == "unknown-tenant":
        say(f"not written: {who}: {entry['reason']}")
    elif action == "policy":
        say(f"not written: {entry['file']}: {who}: {entry['reason']}")
    else:
        say(f"failed: {who}: {via}: {entry['reason']}")
    if entry["warning"] is not None:
        say(f"  warning: {who}: {entry['warning']}")


def _check_out_is_no_tenant_file(out: Path | None, folder: Path) -> None:
    """--out may not name a YAML file in DIR: discover reads those as tenant files and writes new ones there, so
    the document would replace a tenant file, or be read as one by the next command. Refused before any read."""
    if out is None or out.suffix.lower() not in (".yaml", ".yml"):
        return
    if out.resolve().parent == folder.resolve():
        raise UsageError(
            f"--out {out}: a YAML file in {folder}, where discover reads and writes tenant files: name a file "
            "outside it, e.g. discover.json (nothing was read or written)"
        )
