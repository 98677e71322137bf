"""The request catalog: every Microsoft Graph read the tool makes, one function per call.

Each function is named ``<resource>_<verb>`` and describes its request (path, ``$filter``, minimal ``$select``,
the least-privileged application permission), with a link to Graph's documentation above it. Pure data:
``infra.graph.client`` sends them (one at a time, or many in one ``$batch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

ADVANCED_QUERY_HEADERS = {"ConsistencyLevel": "eventual"}
"""https://learn.microsoft.com/graph/aad-advanced-queries: an advanced query needs this header and
``$count=true``; inside ``$batch`` the header goes in each request's own ``headers``."""


@dataclass(frozen=True)
class GraphRequest:
    """One read: a path under the API version, query options, and whether it returns a collection."""

    path: str
    kind: Literal["collection", "entity"]
    params: tuple[tuple[str, str], ...] = ()
    missing_ok: bool = False
    """For entities: a 404 means "no such object" and yields None instead of an error."""
    permission: str | None = None
    """The least-privileged Microsoft Graph application permission this read needs (from the
    "Permissions" table of the doc linked above its function), named when Graph answers 403."""
    advanced: bool = False
    """An advanced query (aad-advanced-queries): sent with ``ConsistencyLevel: eventual`` and ``$count=true``."""

    @property
    def relative_url(self) -> str:
        params = (*self.params, ("$count", "true")) if self.advanced else self.params
        if not params:
            return self.path
        query = "&".join(f"{k}={quote(v, safe=',$')}" for k, v in params)
        return f"{self.path}?{query}"

    @property
    def headers(self) -> dict[str, str]:
        return dict(ADVANCED_QUERY_HEADERS) if self.advanced else {}


def _select(*fields: str) -> tuple[str, str]:
    return ("$select", ",".join(fields))


def _odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled (OData ABNF, SQUOTE-in-string)."""
    return "'" + value.replace("'", "''") + "'"


SERVICE_PRINCIPAL_FIELDS = ("id", "appId", "displayName", "accountEnabled", "appRoleAssignmentRequired")
GRANT_FIELDS = ("id", "clientId", "consentType", "principalId", "resourceId", "scope")
APP_ROLE_ASSIGNMENT_FIELDS = ("id", "appRoleId", "principalId", "principalType", "principalDisplayName", "resourceId")
USER_FIELDS = ("id", "userPrincipalName", "displayName")
GROUP_FIELDS = ("id", "displayName")
"""Basic properties only: Microsoft 365 groups' Exchange-backed properties (allowExternalSenders, ...)
answer 403 to app-only callers (terraform-provider-azuread#1866, #1929), so they are never selected."""

# Least-privileged application permissions, from the "Permissions" table of each linked page.
APPLICATION_READ = "Application.Read.All"
DIRECTORY_READ = "Directory.Read.All"
USER_READ = "User.Read.All"
GROUP_MEMBER_READ = "GroupMember.Read.All"
POLICY_READ = "Policy.Read.All"


# https://learn.microsoft.com/graph/api/serviceprincipal-list (filter: appId eq)
def service_principals_list_by_app_id(app_id: str) -> GraphRequest:
    return GraphRequest(
        "/servicePrincipals",
        "collection",
        (("$filter", f"appId eq {_odata_string(app_id)}"), _select(*SERVICE_PRINCIPAL_FIELDS)),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-get
def service_principals_get(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}",
        "entity",
        (_select(*SERVICE_PRINCIPAL_FIELDS),),
        missing_ok=True,
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/oauth2permissiongrant-list (filter: clientId eq)
# Least privileged for reading grants is Directory.Read.All (DelegatedPermissionGrant.ReadWrite.All also reads).
def oauth2_permission_grants_list_by_client(client_object_id: str) -> GraphRequest:
    return GraphRequest(
        "/oauth2PermissionGrants",
        "collection",
        (("$filter", f"clientId eq {_odata_string(client_object_id)}"), _select(*GRANT_FIELDS)),
        permission=DIRECTORY_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments
# App roles granted TO the service principal: its application permissions on other APIs.
def service_principals_list_app_role_assignments(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}/appRoleAssignments",
        "collection",
        (_select(*APP_ROLE_ASSIGNMENT_FIELDS),),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto
# Users, groups and apps assigned to the service principal (Enterprise applications > Users and groups).
def service_principals_list_app_role_assigned_to(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}/appRoleAssignedTo",
        "collection",
        (_select(*APP_ROLE_ASSIGNMENT_FIELDS),),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/user-get (by object id or userPrincipalName)
def users_get(id_or_user_principal_name: str) -> GraphRequest:
    return GraphRequest(
        f"/users/{quote(id_or_user_principal_name, safe='@')}",
        "entity",
        (_select(*USER_FIELDS),),
        missing_ok=True,
        permission=USER_READ,
    )


# https://learn.microsoft.com/graph/api/group-get
def groups_get(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}", "entity", (_select(*GROUP_FIELDS),), missing_ok=True, permission=GROUP_MEMBER_READ
    )


NEAR_NAMES_PAGE = 100
"""How many names a near-name lookup reads: one page, never the whole directory."""


def _prefix(name: str) -> str:
    """What a near-name lookup asks for: the first three characters, so a typo later in the name still finds it."""
    return name[:3]


# https://learn.microsoft.com/graph/api/user-list (filter: startswith on userPrincipalName, a default query);
# one page, as an entity: the suggestions for a name the file has and the tenant has not.
def users_list_near(user_principal_name: str) -> GraphRequest:
    return GraphRequest(
        "/users",
        "entity",
        (
            ("$filter", f"startswith(userPrincipalName,{_odata_string(_prefix(user_principal_name))})"),
            _select("userPrincipalName"),
            ("$top", str(NEAR_NAMES_PAGE)),
        ),
        permission=USER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list (filter: startswith on displayName, a default query)
def groups_list_near(display_name: str) -> GraphRequest:
    return GraphRequest(
        "/groups",
        "entity",
        (
            ("$filter", f"startswith(displayName,{_odata_string(_prefix(display_name))})"),
            _select("displayName"),
            ("$top", str(NEAR_NAMES_PAGE)),
        ),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list (filter: displayName eq, the name as an OData string literal)
def groups_list_by_display_name(display_name: str) -> GraphRequest:
    return GraphRequest(
        "/groups",
        "collection",
        (("$filter", f"displayName eq {_odata_string(display_name)}"), _select(*GROUP_FIELDS)),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list-members (OData cast to microsoft.graph.user)
# Direct members only: assignment to a group does not reach members of nested groups, and grants follow
# the same rule (docs/tenant-file.md). The cast on a direct-members list is not an advanced query.
def groups_list_user_members(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}/members/microsoft.graph.user",
        "collection",
        (_select(*USER_FIELDS),),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list-transitivemembers (OData cast to microsoft.graph.user)
# An OData cast on a transitive members list is an advanced query
# (https://learn.microsoft.com/graph/aad-advanced-queries): without ConsistencyLevel and $count Graph answers 400.
def groups_list_transitive_user_members(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}/transitiveMembers/microsoft.graph.user",
        "collection",
        (_select(*USER_FIELDS),),
        permission=GROUP_MEMBER_READ,
        advanced=True,
    )


# https://learn.microsoft.com/graph/api/authorizationpolicy-get
def policies_get_authorization_policy() -> GraphRequest:
    return GraphRequest("/policies/authorizationPolicy", "entity", permission=POLICY_READ)


ADMIN_CONSENT_REQUEST_POLICY_FIELDS = (
    "isEnabled",
    "notifyReviewers",
    "remindersEnabled",
    "requestDurationInDays",
    "reviewers",
)
"""What the admin consent workflow is: audit compares all of it with the file, the provider reads it back."""


# https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-get
def policies_get_admin_consent_request_policy() -> GraphRequest:
    return GraphRequest(
        "/policies/adminConsentRequestPolicy",
        "entity",
        (_select(*ADMIN_CONSENT_REQUEST_POLICY_FIELDS),),
        permission=POLICY_READ,
    )
