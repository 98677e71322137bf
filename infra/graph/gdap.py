"""The MSP's side of GDAP through Microsoft Graph: its relationships with clients, and what a tenant says about
itself. Read-only, through the one read client (``infra.graph.client.GraphClient``); one function per call,
the page above it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from taxcalc_consent.infra.graph.client import GraphClient, GraphError, GraphRequest
from taxcalc_consent.infra.model.relationships import Relationship, TenantInformation

RELATIONSHIP_READ = "DelegatedAdminRelationship.Read.All"
TENANT_INFORMATION_READ = "CrossTenantInformation.ReadBasic.All"
RELATIONSHIP_FIELDS = ("id", "displayName", "customer", "status", "endDateTime", "autoExtendDuration", "accessDetails")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})?")
PAGE = "300"
"""``$top supports up to 300 objects`` (both list pages below)."""


# https://learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadminrelationships
def delegated_admin_relationships_list() -> GraphRequest:
    return GraphRequest(
        "/tenantRelationships/delegatedAdminRelationships",
        "collection",
        (("$select", ",".join(RELATIONSHIP_FIELDS)), ("$top", PAGE)),
        permission=RELATIONSHIP_READ,
    )


# https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbytenantid
def find_tenant_information_by_tenant_id(tenant_id: str) -> GraphRequest:
    return GraphRequest(
        f"/tenantRelationships/findTenantInformationByTenantId(tenantId='{tenant_id}')",
        "entity",
        missing_ok=True,
        permission=TENANT_INFORMATION_READ,
    )


# https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbydomainname
def find_tenant_information_by_domain_name(domain: str) -> GraphRequest:
    return GraphRequest(
        f"/tenantRelationships/findTenantInformationByDomainName(domainName='{domain}')",
        "entity",
        missing_ok=True,
        permission=TENANT_INFORMATION_READ,
    )


def relationships(client: GraphClient) -> list[Relationship]:
    """Every relationship of the MSP's tenant (whatever its status: the ones that give no access are reported)."""
    return [_relationship(item) for item in client.collection(delegated_admin_relationships_list())]


def tenant_information(
    client: GraphClient, *, tenant_id: str | None = None, domain: str | None = None
) -> TenantInformation | None:
    """A tenant's name and default domain by its id or one of its domains; None when Graph knows no such tenant
    (the pages document no error for it: a 404 is taken as "none")."""
    request = (
        find_tenant_information_by_tenant_id(tenant_id)
        if tenant_id is not None
        else find_tenant_information_by_domain_name(str(domain))
    )
    found = client.entity(request)
    if found is None:
        return None
    try:
        return TenantInformation(
            str(found["tenantId"]).lower(), str(found.get("displayName") or ""), str(found["defaultDomainName"])
        )
    except KeyError as exc:
        raise GraphError(f"the tenant information has no {exc.args[0]}", request=f"GET {request.path}") from None


def _relationship(item: dict[str, Any]) -> Relationship:
    customer = item.get("customer") or {}
    roles = ((item.get("accessDetails") or {}).get("unifiedRoles")) or []
    return Relationship(
        id=str(item.get("id", "")),
        display_name=str(item.get("displayName") or ""),
        customer_tenant_id=str(customer.get("tenantId") or "").lower(),
        customer_name=str(customer.get("displayName") or ""),
        status=str(item.get("status") or ""),
        end=_timestamp(item.get("endDateTime")),
        auto_extend=str(item.get("autoExtendDuration") or ""),
        roles=tuple(str(r.get("roleDefinitionId", "")).lower() for r in roles if isinstance(r, dict)),
    )


def _timestamp(value: Any) -> datetime | None:
    """Graph's DateTimeOffset: ISO 8601 in UTC, with up to seven fractional digits ("2024-02-10T11:24:42.3148266Z"),
    which ``fromisoformat`` takes only up to six of."""
    if not isinstance(value, str) or not value:
        return None
    found = _TIMESTAMP.fullmatch(value.strip())
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    text = f"{whole}.{(fraction or '0')[:6]}{'+00:00' if zone in (None, 'Z', 'z') else zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
