"""The tool's only Microsoft Graph writes: a tenant's two consent policies, and TaxCalc-Hub's service principal
(and, through ``infra.graph.automation_identity``, the MSP's automation identity, for ``connect``).

Used by the tool's own providers (``infra.settings_provider``, ``infra.service_principal_provider``) and nothing
else: ``audit`` and ``adopt`` read through ``infra.graph.client.GraphClient``, which refuses every write, and an
import-linter contract keeps this module out of their reach. Reads go through that same read-only client; the
writes are here, sent through the reader's transport rules (``infra.graph.transport``):
- ``PATCH /policies/authorizationPolicy`` with ``defaultUserRolePermissions.permissionGrantPoliciesAssigned``
  (https://learn.microsoft.com/graph/api/authorizationpolicy-update; least privilege
  ``Policy.ReadWrite.Authorization``, the only application permission its table lists);
- ``PUT /policies/adminConsentRequestPolicy`` with every property the update requires
  (https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update; least privilege
  ``Policy.ReadWrite.ConsentRequest``).
- ``POST /servicePrincipals`` with the application id, ``appRoleAssignmentRequired`` and the enterprise
  application tag (https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals; least
  privilege ``Application.ReadWrite.All`` for an application registered elsewhere);
- ``PATCH /servicePrincipals/{id}`` with ``appRoleAssignmentRequired`` alone
  (https://learn.microsoft.com/graph/api/serviceprincipal-update; ``Application.ReadWrite.All``): a PATCH
  changes only the properties it names.
The policy writes and the PATCH answer 204 with no body, the POST 201 with the new object. A 403 names the
permission the call needs, as the read client's errors do.

Which Graph, and who signs in: exactly as the stack's azuread provider, as for the program's group reads
(``graph.program_client``): the provider's cloud (``ARM_METADATA_HOSTNAME``, else ``ARM_ENVIRONMENT``;
``TAXCALC_CONSENT_GRAPH_ENDPOINT`` overrides the Graph root) and the provider's sign-in (``infra.graph.signin``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph.client import GraphClient
from taxcalc_consent.infra.graph.transport import GraphTransport
from taxcalc_consent.infra.model.spec import AuthSection

AUTHORIZATION_POLICY_WRITE = "Policy.ReadWrite.Authorization"
CONSENT_REQUEST_POLICY_WRITE = "Policy.ReadWrite.ConsentRequest"
SERVICE_PRINCIPAL_WRITE = "Application.ReadWrite.All"
ENTERPRISE_APPLICATION_TAG = "WindowsAzureActiveDirectoryIntegratedApp"
"""The tag that lists a service principal under Enterprise applications, as the portal's consent sets it
(terraform-provider-azuread internal/helpers/applications/applications.go, ExpandFeatures ``enterprise``)."""


@dataclass
class PolicyWriter:
    """One tenant's two consent policies: read through the read-only client, written here."""

    reader: GraphClient
    sleep: Callable[[float], None] | None = None
    """Waits between retries; default the reader's."""
    _writes: GraphTransport | None = field(default=None, init=False, repr=False)
    """The writes' own transport (and connections): the reader's refuses anything but reads."""

    # https://learn.microsoft.com/graph/api/authorizationpolicy-get
    def permission_grant_policies_assigned(self) -> list[str]:
        request = replace(graph.policies_get_authorization_policy(), permission=AUTHORIZATION_POLICY_WRITE)
        policy = self.reader.entity(request) or {}
        assigned = (policy.get("defaultUserRolePermissions") or {}).get("permissionGrantPoliciesAssigned") or []
        return [str(entry) for entry in assigned]

    # https://learn.microsoft.com/graph/api/authorizationpolicy-update: a collection in a PATCH replaces the
    # whole collection, so the list sent carries every entry the tenant keeps.
    def set_permission_grant_policies_assigned(self, assigned: list[str]) -> None:
        body = {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": list(assigned)}}
        self._write("PATCH", "/policies/authorizationPolicy", body, AUTHORIZATION_POLICY_WRITE)

    # https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-get
    def admin_consent_request_policy(self) -> dict[str, Any]:
        request = replace(graph.policies_get_admin_consent_request_policy(), permission=CONSENT_REQUEST_POLICY_WRITE)
        policy = self.reader.entity(request) or {}
        return {key: policy.get(key) for key in graph.ADMIN_CONSENT_REQUEST_POLICY_FIELDS}

    # https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update: PUT, with every required property.
    def set_admin_consent_request_policy(self, policy: Mapping[str, Any]) -> None:
        body = {key: policy[key] for key in graph.ADMIN_CONSENT_REQUEST_POLICY_FIELDS}
        self._write("PUT", "/policies/adminConsentRequestPolicy", body, CONSENT_REQUEST_POLICY_WRITE)

    # https://learn.microsoft.com/graph/api/serviceprincipal-list (filter: appId eq)
    def service_principal_by_app_id(self, app_id: str) -> dict[str, Any] | None:
        request = replace(graph.service_principals_list_by_app_id(app_id), permission=SERVICE_PRINCIPAL_WRITE)
        found = self.reader.collection(request)
        return found[0] if found else None

    # https://learn.microsoft.com/graph/api/serviceprincipal-get: None when Graph answers 404 (deleted, or a new
    # object not yet replicated to the replica that answered).
    def service_principal(self, object_id: str) -> dict[str, Any] | None:
        request = replace(graph.service_principals_get(object_id), permission=SERVICE_PRINCIPAL_WRITE)
        return self.reader.entity(request)

    # https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals
    def create_service_principal(self, app_id: str, assignment_required: bool) -> dict[str, Any]:
        body = {
            "appId": app_id,
            "appRoleAssignmentRequired": assignment_required,
            "tags": [ENTERPRISE_APPLICATION_TAG],
        }
        return self._write("POST", "/servicePrincipals", body, SERVICE_PRINCIPAL_WRITE)

    # https://learn.microsoft.com/graph/api/serviceprincipal-update: only the property named changes.
    def set_assignment_required(self, object_id: str, required: bool) -> None:
        body = {"appRoleAssignmentRequired": required}
        self._write("PATCH", f"/servicePrincipals/{object_id}", body, SERVICE_PRINCIPAL_WRITE)

    def close(self) -> None:
        self.reader.close()
        if self._writes is not None:
            self._writes.close()

    def __enter__(self) -> PolicyWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _write(
        self, method: Literal["PATCH", "POST", "PUT", "DELETE"], path: str, body: dict[str, Any] | None, permission: str
    ) -> dict[str, Any]:
        """Send one write; the created object for a POST, else an empty mapping (Graph answers 204). (DELETE: the
        automation identity's service principal and app role assignments, infra/graph/automation_identity.py.)"""
        if self._writes is None:
            reader = self.reader
            self._writes = GraphTransport(
                reader.base_url, reader.token, self.sleep or reader.sleep, reader.timeout, reader.transport
            )
        return self._writes.send(method, f"{self._writes.root}{path}", path, json_body=body, permission=permission)


def policy_writer(
    tenant_id: str, auth: AuthSection, environ: Mapping[str, str], transport: httpx.BaseTransport | None = None
) -> PolicyWriter:
    """A writer for one tenant: the Graph and the credentials the program's own reads use."""
    return PolicyWriter(graph.program_client(tenant_id, auth, environ, transport))
