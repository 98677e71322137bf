"""The MSP's automation identity in a client tenant: its service principal and its Microsoft Graph application
permissions, read, compared with what the tenant's file needs, and written (``connect``).

The automation app is the MSP's own multi-tenant app (docs/ci.md, *The automation identity*); in a client's
tenant it is a service principal holding app role assignments on Microsoft Graph's service principal, exactly
what admin consent to its application permissions would create (https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent,
"Grant admin consent for application permissions using Microsoft Graph API"). Graph itself is the record: the
service principal (by application id) and its assignments on Microsoft Graph are read each time, so ``connect``
is idempotent and narrows what a file no longer needs. The calls, each with its page:
- ``GET /servicePrincipals?$filter=appId eq '…'`` (https://learn.microsoft.com/graph/api/serviceprincipal-list);
- ``GET /servicePrincipals/{id}/appRoleAssignments`` (https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments);
- ``POST /servicePrincipals`` with the application id (https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals);
- ``POST /servicePrincipals/{Microsoft Graph}/appRoleAssignedTo`` and ``DELETE .../appRoleAssignedTo/{id}``
  (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto,
  https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto);
- ``DELETE /servicePrincipals/{id}``, which takes its app role assignments with it
  (https://learn.microsoft.com/graph/api/serviceprincipal-delete).
Under an engineer's GDAP sign-in these need Cloud Application Administrator (the service principal) and
Privileged Role Administrator (Microsoft Graph app roles): the role table's rows ``service-principal`` and
``graph-app-roles``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph.client import GraphClient, GraphError, GraphRequest
from taxcalc_consent.infra.graph.policy_writer import PolicyWriter
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID

SERVICE_PRINCIPAL_WRITE = "Application.ReadWrite.All"
ASSIGNMENT_WRITE = "AppRoleAssignment.ReadWrite.All"


@dataclass(frozen=True)
class GraphServicePrincipal:
    """Microsoft Graph's service principal in the tenant: its id and application permissions (value -> id)."""

    id: str
    app_roles: dict[str, str]


@dataclass(frozen=True)
class AutomationState:
    """What the tenant holds of the automation identity now."""

    service_principal_id: str | None
    held: dict[str, str]
    """Microsoft Graph application permission -> its app role assignment id."""


@dataclass(frozen=True)
class ConnectChange:
    """What ``connect`` would do in one tenant."""

    create_service_principal: bool
    grant: tuple[str, ...]
    revoke: tuple[str, ...]
    remove_service_principal: bool = False

    @property
    def empty(self) -> bool:
        return not (self.create_service_principal or self.grant or self.revoke or self.remove_service_principal)


# https://learn.microsoft.com/graph/api/serviceprincipal-list (filter: appId eq), with Microsoft Graph's app roles.
def _graph_service_principal_request() -> GraphRequest:
    return GraphRequest(
        "/servicePrincipals",
        "collection",
        (("$filter", f"appId eq '{GRAPH_APP_ID}'"), ("$select", "id,appId,appRoles")),
        permission=graph.APPLICATION_READ,
    )


def graph_service_principal(reader: GraphClient) -> GraphServicePrincipal:
    found = reader.collection(_graph_service_principal_request())
    if not found:
        raise GraphError("the tenant has no Microsoft Graph service principal", request="GET /servicePrincipals")
    roles = {str(r.get("value")): str(r.get("id")) for r in found[0].get("appRoles") or [] if r.get("value")}
    return GraphServicePrincipal(str(found[0]["id"]), roles)


def read_state(writer: PolicyWriter, app_id: str, microsoft_graph: GraphServicePrincipal) -> AutomationState:
    found = writer.service_principal_by_app_id(app_id)
    if found is None:
        return AutomationState(None, {})
    sp_id = str(found["id"])
    request = replace(graph.service_principals_list_app_role_assignments(sp_id), permission=SERVICE_PRINCIPAL_WRITE)
    by_id = {role_id: value for value, role_id in microsoft_graph.app_roles.items()}
    held: dict[str, str] = {}
    for assignment in writer.reader.collection(request):
        if str(assignment.get("resourceId", "")).lower() != microsoft_graph.id.lower():
            continue
        value = by_id.get(str(assignment.get("appRoleId", "")))
        held[value or str(assignment.get("appRoleId"))] = str(assignment["id"])
    return AutomationState(sp_id, held)


def change_for(state: AutomationState, needed: tuple[str, ...], remove: bool = False) -> ConnectChange:
    """Exactly ``needed``, no more: what to grant and revoke (or, with ``remove``, the service principal to delete)."""
    if remove:
        return ConnectChange(False, (), tuple(sorted(state.held)), state.service_principal_id is not None)
    grant = tuple(p for p in needed if p not in state.held)
    revoke = tuple(sorted(p for p in state.held if p not in needed))
    return ConnectChange(state.service_principal_id is None, grant, revoke)


def apply_change(
    writer: PolicyWriter,
    app_id: str,
    state: AutomationState,
    change: ConnectChange,
    microsoft_graph: GraphServicePrincipal,
) -> None:
    if change.remove_service_principal:
        assert state.service_principal_id is not None
        writer._write("DELETE", f"/servicePrincipals/{state.service_principal_id}", None, SERVICE_PRINCIPAL_WRITE)
        return
    sp_id = state.service_principal_id
    if change.create_service_principal:
        created: dict[str, Any] = writer._write(
            "POST", "/servicePrincipals", {"appId": app_id}, SERVICE_PRINCIPAL_WRITE
        )
        sp_id = str(created["id"])
    assert sp_id is not None
    for permission in change.grant:
        role_id = microsoft_graph.app_roles.get(permission)
        if role_id is None:
            raise GraphError(f"Microsoft Graph has no application permission {permission} in this tenant")
        body = {"principalId": sp_id, "resourceId": microsoft_graph.id, "appRoleId": role_id}
        writer._write("POST", f"/servicePrincipals/{microsoft_graph.id}/appRoleAssignedTo", body, ASSIGNMENT_WRITE)
    for permission in change.revoke:
        assignment = state.held[permission]
        path = f"/servicePrincipals/{microsoft_graph.id}/appRoleAssignedTo/{assignment}"
        writer._write("DELETE", path, None, ASSIGNMENT_WRITE)
