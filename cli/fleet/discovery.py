"""``discover``: the MSP's clients, read from its GDAP relationships, as new tenant files.

Reads the relationships of the MSP's own tenant and, for each client reached through a usable one (``active``
and not past its end) and not yet in the folder (matched by tenant id, whatever the file is called), its
name and default domain; then writes a tenant file named after that domain, checked as ``init`` checks the
one it writes, never over another file. Returns what it found and did (and, from that, the discover@1 document:
``discovery_document``); the command says it.

Who signs in: the identity the folder's ``_defaults.yaml`` names (``auth``; usually the MSP's automation app,
which holds ``DelegatedAdminRelationship.Read.All`` and ``CrossTenantInformation.ReadBasic.All`` in the MSP's
own tenant), in the MSP's tenant (``--partner-tenant``), or ``TAXCALC_CONSENT_GRAPH_TOKEN`` (audit's rule).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from taxcalc_consent.cli.fleet.pipeline import Notify, check_tenants, load_plans
from taxcalc_consent.infra.graph import gdap
from taxcalc_consent.infra.graph.client import (
    CLOUDS,
    TOKEN_ENV,
    CredentialError,
    GraphClient,
    GraphError,
    client_for_tenant,
    provider_endpoints,
)
from taxcalc_consent.infra.graph.transport import token_claims
from taxcalc_consent.infra.model.defaults import folder_defaults
from taxcalc_consent.infra.model.discover_document import (
    DISCOVER_FORMAT,
    DiscoverActionName,
    DiscoverDocument,
    DiscoveredRelationship,
)
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.guid import guid_problem
from taxcalc_consent.infra.model.profiles import ConsentMode
from taxcalc_consent.infra.model.relationships import Relationship, Standing, TenantInformation, standing, stem_for
from taxcalc_consent.infra.model.scaffold import TenantFileOptions, prepare_tenant_file, write_new_tenant_file
from taxcalc_consent.infra.model.spec import AuthSection
from taxcalc_consent.infra.model.tenant_files import collect_tenant_files

Action = DiscoverActionName


class DiscoverError(TaxcalcConsentError):
    """Bad input to discover (exit 2): nothing was read or written."""


UNKNOWN_TENANT = "Microsoft Graph knows no such tenant (findTenantInformationByTenantId)"


@dataclass(frozen=True)
class FoundClient:
    """One relationship of the MSP's tenant, and what discover made of it."""

    relationship: Relationship
    standing: Standing
    action: Action
    information: TenantInformation | None = None
    file: str | None = None
    """The tenant file written (or that would be), or the one already holding this client."""
    reason: str | None = None
    """Why no file was written (None for written, would-write and exists)."""


@dataclass(frozen=True)
class Discovery:
    partner_tenant: str
    clients: list[FoundClient]
    error: GraphError | None = None
    """Graph failed before any relationship was read (sign-in, the relationship list): nothing was written."""

    @property
    def written(self) -> list[FoundClient]:
        return [c for c in self.clients if c.action in ("written", "would-write")]


def discover_clients(
    folder: Path,
    partner_tenant: str | None,
    cloud: str | None,
    endpoint: str | None,
    *,
    mode: ConsentMode = "organization",
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    notify: Notify,
) -> Discovery:
    """What the MSP's relationships give, and the tenant files written for them. Bad input raises DiscoverError
    (or the sign-in's CredentialError) before anything is read; Graph failing is in the result, for the whole run
    (``error``) or for one client (``failed``: the others still ran)."""
    env = os.environ if environ is None else environ
    existing = existing_tenants(folder, notify)
    tenant_id = partner_tenant_id(partner_tenant, env)
    with partner_client(folder, tenant_id, cloud, endpoint, env) as client:
        try:
            relationships = gdap.relationships(client)
        except GraphError as exc:
            return Discovery(tenant_id, [], exc)
        moment = now or datetime.now(UTC)
        taken = {Path(file).stem for file in existing.values()}
        found: list[FoundClient] = []
        chosen = _chosen(relationships, moment)
        for relationship in relationships:
            standing_now = standing(relationship, moment)
            customer = relationship.customer_tenant_id
            if not standing_now.usable:
                found.append(FoundClient(relationship, standing_now, "no-access", reason=standing_now.note))
            elif chosen.get(customer) is not relationship:
                other = chosen[customer]
                reason = f"discover uses the client's relationship that ends last: {other.display_name!r} ({other.id})"
                found.append(FoundClient(relationship, standing_now, "other-relationship", reason=reason))
            elif customer in existing:
                found.append(FoundClient(relationship, standing_now, "exists", file=existing[customer]))
            else:
                try:
                    found.append(_new_file(client, folder, relationship, standing_now, taken, mode, dry_run))
                except GraphError as exc:
                    found.append(FoundClient(relationship, standing_now, "failed", reason=str(exc)))
    return Discovery(tenant_id, found)


def _chosen(relationships: list[Relationship], now: datetime) -> dict[str, Relationship]:
    """Per client, the usable relationship a file records: the one that ends last (one without an end first)."""
    chosen: dict[str, Relationship] = {}
    for relationship in relationships:
        if not standing(relationship, now).usable:
            continue
        current = chosen.get(relationship.customer_tenant_id)
        if current is None or _ends(relationship) > _ends(current):
            chosen[relationship.customer_tenant_id] = relationship
    return chosen


def _ends(relationship: Relationship) -> datetime:
    return relationship.end or datetime.max.replace(tzinfo=UTC)


def _new_file(
    client: GraphClient,
    folder: Path,
    relationship: Relationship,
    standing_now: Standing,
    taken: set[str],
    mode: ConsentMode,
    dry_run: bool,
) -> FoundClient:
    information = gdap.tenant_information(client, tenant_id=relationship.customer_tenant_id)
    if information is None:
        return FoundClient(relationship, standing_now, "unknown-tenant", reason=UNKNOWN_TENANT)
    stem = stem_for(information.default_domain, taken)
    taken.add(stem)
    name = information.display_name if information.display_name.isprintable() else None
    options = TenantFileOptions(
        tenant_id=relationship.customer_tenant_id,
        mode=mode,
        display_name=name or None,
        domain=information.default_domain.lower(),
        relationship_id=relationship.id,
        relationship_ends=relationship.end.date() if relationship.end is not None else None,
    )
    new = prepare_tenant_file(folder, stem, options)
    (checked,) = check_tenants([new.tenant])
    mandatory = [lv for lv in checked.located if lv.violation.severity == "mandatory"]
    if mandatory:
        reasons = "; ".join(str(lv.where) for lv in mandatory)
        reason = f"the folder's policy refuses it: {reasons}"
        return FoundClient(relationship, standing_now, "policy", information, str(new.path), reason)
    if dry_run:
        return FoundClient(relationship, standing_now, "would-write", information, str(new.path))
    return FoundClient(relationship, standing_now, "written", information, str(write_new_tenant_file(new)))


def discovery_document(discovery: Discovery, folder: Path, dry_run: bool) -> DiscoverDocument:
    """The discover@1 document of a run."""
    entries = [_entry(found) for found in discovery.clients]
    counts = Counter(entry["action"] for entry in entries)
    return {
        "format": DISCOVER_FORMAT,
        "partner_tenant": discovery.partner_tenant,
        "folder": str(folder),
        "dry_run": dry_run,
        "error": str(discovery.error) if discovery.error is not None else None,
        "summary": {
            "relationships": len(entries),
            "written": counts["written"],
            "would_write": counts["would-write"],
            "exists": counts["exists"],
            "no_access": counts["no-access"],
            "other_relationship": counts["other-relationship"],
            "unknown_tenant": counts["unknown-tenant"],
            "policy": counts["policy"],
            "failed": counts["failed"],
            "warnings": sum(1 for entry in entries if entry["warning"] is not None),
        },
        "relationships": entries,
    }


def _entry(found: FoundClient) -> DiscoveredRelationship:
    r = found.relationship
    return {
        "tenant_id": r.customer_tenant_id,
        "name": r.customer_name or None,
        "domain": found.information.default_domain.lower() if found.information is not None else None,
        "relationship_id": r.id,
        "display_name": r.display_name,
        "status": r.status,
        "end_date_time": r.end.astimezone(UTC).isoformat().replace("+00:00", "Z") if r.end is not None else None,
        "auto_extend_duration": r.auto_extend or None,
        "extends_itself": r.extends_itself,
        "usable": found.standing.usable,
        "action": found.action,
        "file": found.file,
        "reason": found.reason,
        "warning": found.standing.note if found.standing.usable else None,
    }


def existing_tenants(folder: Path, notify: Notify) -> dict[str, str]:
    """Tenant id -> file, for the tenant files already in ``folder`` (read and validated as every command reads
    them); none when the folder does not exist yet or holds none."""
    if not folder.is_dir():
        return {}
    try:
        collect_tenant_files([folder])
    except TaxcalcConsentError:
        return {}  # no tenant files there yet
    return {plan.tenant_id.lower(): plan.file for plan in load_plans([folder], notify=notify)}


def partner_tenant_id(given: str | None, environ: Mapping[str, str]) -> str:
    """``--partner-tenant``, else the tenant of ``TAXCALC_CONSENT_GRAPH_TOKEN``."""
    if given is not None:
        problem = guid_problem(given, "tenant id")
        if problem is not None:
            raise DiscoverError(f"--partner-tenant {given!r}: {problem}")
        return given.lower()
    claims = token_claims(environ.get(TOKEN_ENV, "").strip())
    tid = claims.get("tid")
    if isinstance(tid, str) and guid_problem(tid, "tenant id") is None:
        return tid.lower()
    raise DiscoverError(
        "name the MSP's own tenant, where the GDAP relationships are: --partner-tenant GUID "
        f"(or TAXCALC_CONSENT_PARTNER_TENANT, or a {TOKEN_ENV} issued for it)"
    )


def partner_client(
    folder: Path, tenant_id: str, cloud: str | None, endpoint: str | None, environ: Mapping[str, str]
) -> GraphClient:
    """A read client for the MSP's tenant, signing in as the folder's _defaults.yaml says (or a ready token)."""
    defaults, _ = folder_defaults(folder)
    try:
        auth = AuthSection.model_validate(defaults.get("auth") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DiscoverError(f"{folder / '_defaults.yaml'}: auth.{where}: {first['msg']}") from None
    endpoints = CLOUDS[cloud] if cloud is not None else provider_endpoints(environ)
    try:
        return client_for_tenant(tenant_id, auth, endpoints, endpoint, environ)
    except CredentialError as exc:
        raise exc.located(str(folder / "_defaults.yaml")) from None


def look_up_domains(
    folder: Path,
    partner_tenant: str | None,
    cloud: str | None,
    endpoint: str | None,
    domains: list[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, TenantInformation | None]:
    """Each domain's tenant (findTenantInformationByDomainName), read in the MSP's tenant as ``discover`` signs in
    there; None for a domain Graph knows no tenant for."""
    env = os.environ if environ is None else environ
    tenant_id = partner_tenant_id(partner_tenant, env)
    with partner_client(folder, tenant_id, cloud, endpoint, env) as client:
        return {domain: gdap.tenant_information(client, domain=domain) for domain in domains}
