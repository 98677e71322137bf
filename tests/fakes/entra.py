"""An in-memory Entra tenant that enforces Microsoft Graph's rules, shared by every fake in the tests.

The Pulumi mock runtime (infra tests) and the local Graph emulator (audit/adopt tests) both sit on
this model, so a program or a client that would fail against Entra fails here too:
- one oauth2PermissionGrant per (clientId, resourceId, consentType, principalId);
- a grant's scope string is stored as given, even a value the resource does not publish: Graph does not
  check it (azure-cli#20974 shows a grant on Microsoft Graph carrying "user_impersonation");
- a grant's principal must be an existing user; AllPrincipals grants have no principal;
- one service principal per appId (Microsoft Graph's exists already and cannot be created again);
- an app role assignment's appRoleId must be one of the resource's app roles (or the default role), and the
  same (principal, resource, role) twice is a 400 Request_BadRequest, not a conflict.
Errors carry Graph's status code, error code and message as Graph sends them.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID, graph_catalog

DEFAULT_ROLE_ID = "00000000-0000-0000-0000-000000000000"


class GraphError(Exception):
    """A Graph error response: HTTP status, Graph error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class User:
    id: str
    user_principal_name: str
    display_name: str
    mail: str | None = None
    account_enabled: bool = True


UNIFIED = "Unified"
"""groupTypes value of a Microsoft 365 group (https://learn.microsoft.com/graph/api/resources/group)."""

INTEGRATED_APP_TAG = "WindowsAzureActiveDirectoryIntegratedApp"
"""The service principal tag that lists an app under Enterprise applications (Azure/azure-powershell#7646);
Entra sets it on service principals created by consent."""


@dataclass
class Group:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)
    """Object ids of members: users, groups (nested) or service principals."""
    group_types: list[str] = field(default_factory=list)
    """["Unified"] for a Microsoft 365 group, [] for a security group."""

    @property
    def unified(self) -> bool:
        return UNIFIED in self.group_types


@dataclass
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str
    account_enabled: bool = True
    app_role_assignment_required: bool = False
    oauth2_permission_scopes: dict[str, str] = field(default_factory=dict)
    """scope name -> scope id"""
    app_roles: dict[str, str] = field(default_factory=dict)
    """role value -> role id"""
    description: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    """Object ids of owners (directory objects)."""
    app_owner_organization_id: str | None = None
    """The tenant the application is registered in."""
    sign_in_audience: str | None = None
    # What an administrator sets on an enterprise application in the admin centre (Properties, Single sign-on,
    # SAML certificates): https://learn.microsoft.com/graph/api/resources/serviceprincipal, each writable by
    # PATCH. pulumi-azuread's update writes every one of them (service_principal_resource.go).
    alternative_names: list[str] = field(default_factory=list)
    login_url: str | None = None
    notification_email_addresses: list[str] = field(default_factory=list)
    preferred_single_sign_on_mode: str | None = None
    saml_single_sign_on_settings: dict[str, Any] | None = None
    """``{"relayState": ...}``; null until single sign-on is set up."""


@dataclass
class Application:
    id: str
    app_id: str
    display_name: str
    sign_in_audience: str
    redirect_uris: list[str] = field(default_factory=list)
    """``publicClient.redirectUris``"""
    required_resource_access: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass
class OAuth2PermissionGrant:
    id: str
    client_id: str
    consent_type: Literal["AllPrincipals", "Principal"]
    principal_id: str | None
    resource_id: str
    scope: str

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


@dataclass
class AppRoleAssignment:
    id: str
    principal_id: str
    principal_type: Literal["User", "Group", "ServicePrincipal"]
    resource_id: str
    app_role_id: str


@dataclass
class AuthorizationPolicy:
    permission_grant_policies_assigned: list[str] = field(
        default_factory=lambda: [
            "ManagePermissionGrantsForSelf.microsoft-user-default-legacy",
            "ManagePermissionGrantsForOwnedResource.DeveloperConsent",
        ]
    )
    allowed_to_create_apps: bool = True
    allowed_to_create_security_groups: bool = True
    allowed_to_read_other_users: bool = True


@dataclass
class AdminConsentRequestPolicy:
    """A tenant's admin consent workflow, as GET /policies/adminConsentRequestPolicy shows it. The values of a
    tenant that never turned it on are the emulator's (Graph documents none); mondoohq/mql#5722 shows a real
    tenant's policy with every property present, reviewers ``[]`` and version 0."""

    is_enabled: bool = False
    notify_reviewers: bool = False
    reminders_enabled: bool = False
    request_duration_in_days: int = 30
    reviewers: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0


# https://learn.microsoft.com/graph/api/resources/authorizationpolicy and .../defaultuserrolepermissions:
# the declared properties a PATCH may name; any other is refused as Graph refuses an undeclared property.
AUTHORIZATION_POLICY_PROPERTIES = frozenset(
    {
        "allowEmailVerifiedUsersToJoinOrganization",
        "allowInvitesFrom",
        "allowUserConsentForRiskyApps",
        "allowedToSignUpEmailBasedSubscriptions",
        "allowedToUseSSPR",
        "blockMsolPowerShell",
        "defaultUserRolePermissions",
        "description",
        "displayName",
        "guestUserRoleId",
    }
)
DEFAULT_USER_ROLE_PERMISSIONS = frozenset(
    {
        "allowedToCreateApps",
        "allowedToCreateSecurityGroups",
        "allowedToCreateTenants",
        "allowedToReadBitlockerKeysForOwnedDevice",
        "allowedToReadOtherUsers",
        "permissionGrantPoliciesAssigned",
    }
)
# https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update: "the properties that are required
# when you update"; version is read-only (resources/adminconsentrequestpolicy).
ADMIN_CONSENT_REQUEST_POLICY_REQUIRED = (
    "isEnabled",
    "notifyReviewers",
    "remindersEnabled",
    "requestDurationInDays",
    "reviewers",
)
ADMIN_CONSENT_REQUEST_POLICY_PROPERTIES = frozenset({*ADMIN_CONSENT_REQUEST_POLICY_REQUIRED, "version", "@odata.type"})
# https://learn.microsoft.com/graph/api/resources/accessreviewreviewerscope
REVIEWER_SCOPE_PROPERTIES = frozenset({"query", "queryRoot", "queryType", "@odata.type"})


def _undeclared(name: str) -> GraphError:
    # Graph's answer to a property its type does not declare (https://learn.microsoft.com/graph/errors).
    return GraphError(
        400, "BadRequest", f"Property '{name}' does not exist as a declared property or extension property."
    )


def _not_of_type(name: str, edm_type: str) -> GraphError:
    # OData's answer to a value of the wrong JSON type for a declared property (the text is OData's
    # deserializer's; unverified against Graph for these two policies).
    return GraphError(
        400, "BadRequest", f"Cannot convert the literal value of property '{name}' to the expected type '{edm_type}'."
    )


def _not_found(ref: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.",
    )


def _invalid_reference(ref: str) -> GraphError:
    # An owners@odata.bind naming no directory object (https://learn.microsoft.com/graph/api/serviceprincipal-post-owners).
    return GraphError(
        400,
        "Request_BadRequest",
        f"Invalid object identifier '{ref}'.",
    )


def _new_id() -> str:
    return str(uuid.uuid4())


class FakeTenant:
    """One Entra tenant in memory. Ids are lower-case GUIDs, as Graph returns them."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.service_principals: dict[str, ServicePrincipal] = {}
        self.applications: dict[str, Application] = {}
        self.grants: dict[str, OAuth2PermissionGrant] = {}
        self.app_role_assignments: dict[str, AppRoleAssignment] = {}
        self.authorization_policy = AuthorizationPolicy()
        self.admin_consent_request_policy = AdminConsentRequestPolicy()
        self.published_apps: dict[str, str] = {}
        """Multi-tenant applications registered in other tenants (app id -> name): Graph creates a service
        principal for these when this tenant first consents to them."""
        self._counter = itertools.count(1)
        catalog = graph_catalog()
        self.graph = self.add_service_principal(
            GRAPH_APP_ID,
            "Microsoft Graph",
            scopes={p.name: p.id for p in catalog.delegated.values()},
            app_roles={p.name: p.id for p in catalog.application.values()},
        )

    @property
    def admin_consent_workflow_enabled(self) -> bool:
        return self.admin_consent_request_policy.is_enabled

    @admin_consent_workflow_enabled.setter
    def admin_consent_workflow_enabled(self, value: bool) -> None:
        self.admin_consent_request_policy.is_enabled = value

    # ----------------------------------------------------------------------------- directory setup

    def add_user(self, upn: str, display_name: str | None = None, object_id: str | None = None) -> User:
        user = User(object_id or _new_id(), upn, display_name or upn.split("@")[0], mail=upn)
        self.users[user.id] = user
        return user

    def add_group(
        self,
        display_name: str,
        members: list[str] | None = None,
        object_id: str | None = None,
        microsoft_365: bool = False,
    ) -> Group:
        group = Group(object_id or _new_id(), display_name, list(members or []), [UNIFIED] if microsoft_365 else [])
        self.groups[group.id] = group
        return group

    def add_service_principal(
        self,
        app_id: str,
        display_name: str,
        scopes: dict[str, str] | None = None,
        app_roles: dict[str, str] | None = None,
        app_role_assignment_required: bool = False,
        object_id: str | None = None,
        tags: list[str] | None = None,
    ) -> ServicePrincipal:
        """A service principal as consent (by a user or an admin) creates it: tagged as an integrated app."""
        if self.service_principal_by_app_id(app_id) is not None:
            raise GraphError(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property appId already exists.",
            )
        sp = ServicePrincipal(
            object_id or _new_id(),
            app_id.lower(),
            display_name,
            app_role_assignment_required=app_role_assignment_required,
            oauth2_permission_scopes=dict(scopes or {}),
            app_roles=dict(app_roles or {}),
            tags=list(tags if tags is not None else [INTEGRATED_APP_TAG]),
        )
        self.service_principals[sp.id] = sp
        return sp

    # ------------------------------------------------------------------------------------- lookups

    def service_principal_by_app_id(self, app_id: str) -> ServicePrincipal | None:
        return next((sp for sp in self.service_principals.values() if sp.app_id == app_id.lower()), None)

    def user(self, upn_or_id: str) -> User:
        key = upn_or_id.lower()
        found = self.users.get(key) or next(
            (u for u in self.users.values() if u.user_principal_name.lower() == key), None
        )
        if found is None:
            raise _not_found(upn_or_id)
        return found

    def group(self, name_or_id: str) -> Group:
        found = self.groups.get(name_or_id.lower()) or next(
            (g for g in self.groups.values() if g.display_name == name_or_id), None
        )
        if found is None:
            raise _not_found(name_or_id)
        return found

    def object_type(self, object_id: str) -> Literal["User", "Group", "ServicePrincipal"] | None:
        if object_id in self.users:
            return "User"
        if object_id in self.groups:
            return "Group"
        if object_id in self.service_principals:
            return "ServicePrincipal"
        return None

    # -------------------------------------------------------------------------------------- writes

    def create_grant(
        self, client_id: str, consent_type: str, principal_id: str | None, resource_id: str, scope: str
    ) -> OAuth2PermissionGrant:
        if client_id not in self.service_principals:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'clientId' of resource 'OAuth2PermissionGrant'.",
            )
        resource = self.service_principals.get(resource_id)
        if resource is None:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'resourceId' of resource 'OAuth2PermissionGrant'.",
            )
        if consent_type not in ("AllPrincipals", "Principal"):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.",
            )
        if consent_type == "AllPrincipals" and principal_id:
            raise GraphError(400, "Request_BadRequest", "principalId must be null when consentType is AllPrincipals.")
        if consent_type == "Principal" and (not principal_id or principal_id not in self.users):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'principalId' of resource 'OAuth2PermissionGrant'.",
            )
        for grant in self.grants.values():
            if (grant.client_id, grant.resource_id, grant.consent_type, grant.principal_id or None) == (
                client_id,
                resource_id,
                consent_type,
                principal_id or None,
            ):
                raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
        # The scope string is not checked against the resource's oauth2PermissionScopes: Graph accepts values
        # the resource does not publish (azure-cli#20974, a Microsoft Graph grant holding "user_impersonation").
        grant = OAuth2PermissionGrant(_new_id(), client_id, consent_type, principal_id or None, resource_id, scope)  # type: ignore[arg-type]
        self.grants[grant.id] = grant
        return grant

    def update_grant(self, grant_id: str, scope: str) -> OAuth2PermissionGrant:
        grant = self.grants.get(grant_id)
        if grant is None:
            raise _not_found(grant_id)
        grant.scope = scope  # unchecked, as on create (azure-cli#20974)
        return grant

    def delete_grant(self, grant_id: str) -> None:
        if self.grants.pop(grant_id, None) is None:
            raise _not_found(grant_id)

    def create_app_role_assignment(self, principal_id: str, resource_id: str, app_role_id: str) -> AppRoleAssignment:
        principal_type = self.object_type(principal_id)
        if principal_type is None:
            raise _not_found(principal_id)
        resource = self.service_principals.get(resource_id)
        if resource is None:
            raise _not_found(resource_id)
        if app_role_id != DEFAULT_ROLE_ID and app_role_id not in resource.app_roles.values():
            raise GraphError(400, "Request_BadRequest", "Permission being assigned was not found on application")
        for existing in self.app_role_assignments.values():
            if (existing.principal_id, existing.resource_id, existing.app_role_id) == (
                principal_id,
                resource_id,
                app_role_id,
            ):
                # A 400, not a 409: Graph's Request_BadRequest with this text (issue 18, "Shapes"; it is the
                # message scripts granting Graph app roles match to skip an existing assignment, e.g. callers of
                # New-MgServicePrincipalAppRoleAssignment). The create docs list no error for it
                # (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto).
                raise GraphError(400, "Request_BadRequest", "Permission being assigned already exists on the object.")
        assignment = AppRoleAssignment(_new_id(), principal_id, principal_type, resource_id, app_role_id)
        self.app_role_assignments[assignment.id] = assignment
        return assignment

    def delete_app_role_assignment(self, assignment_id: str) -> None:
        if self.app_role_assignments.pop(assignment_id, None) is None:
            raise _not_found(assignment_id)

    def create_application(
        self,
        display_name: str,
        sign_in_audience: str,
        redirect_uris: list[str],
        required_resource_access: list[dict[str, Any]],
        owners: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Application:
        application = Application(
            _new_id(),
            _new_id(),
            display_name,
            sign_in_audience,
            list(redirect_uris),
            required_resource_access,
            tags=list(tags or []),
            owners=list(owners or []),
        )
        self.applications[application.id] = application
        return application

    def delete_application(self, object_id: str) -> None:
        # https://learn.microsoft.com/graph/api/application-delete: the registration goes; the service
        # principals instantiated from it stay (deleting one is a separate request).
        if self.applications.pop(object_id, None) is None:
            raise _not_found(object_id)

    # ---------------------------------------------------------------------- service principal writes

    def instantiable_app(self, app_id: str) -> str | None:
        """The display name of the application ``app_id`` names, if this tenant may instantiate it."""
        local = next((a for a in self.applications.values() if a.app_id == app_id.lower()), None)
        if local is not None:
            return local.display_name
        return self.published_apps.get(app_id.lower())

    def create_service_principal(
        self,
        app_id: str,
        *,
        account_enabled: bool = True,
        app_role_assignment_required: bool = False,
        description: str | None = None,
        tags: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> ServicePrincipal:
        """POST /servicePrincipals (https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals)."""
        name = self.instantiable_app(app_id)
        if name is None:
            # The text terraform-provider-azuread retries on (service_principal_resource.go, RetryFunc).
            raise GraphError(
                400,
                "Request_BadRequest",
                f"The appId '{app_id}' of the service principal does not reference a valid application object.",
            )
        if self.service_principal_by_app_id(app_id) is not None:
            # As Graph answers (hashicorp/terraform-provider-azuread#315, Azure/reliable-web-app-pattern-java#185).
            raise GraphError(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the service principal name "
                f"{app_id} is already in use.",
            )
        for owner in owners or []:
            if self.object_type(owner) is None:
                raise _invalid_reference(owner)
        sp = self.add_service_principal(app_id, name, app_role_assignment_required=app_role_assignment_required)
        sp.account_enabled = account_enabled
        sp.description = description
        sp.tags = list(tags or [])
        sp.owners = list(dict.fromkeys(owners or []))
        local = next((a for a in self.applications.values() if a.app_id == app_id.lower()), None)
        sp.app_owner_organization_id = self.tenant_id if local is not None else None
        sp.sign_in_audience = local.sign_in_audience if local is not None else "AzureADMultipleOrgs"
        return sp

    def delete_service_principal(self, object_id: str) -> None:
        """DELETE /servicePrincipals/{id}: its grants and app role assignments go with it, as in Entra."""
        if self.service_principals.get(object_id) is None:
            raise _not_found(object_id)
        if object_id == self.graph.id:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        del self.service_principals[object_id]
        for grant_id in [g.id for g in self.grants.values() if object_id in (g.client_id, g.resource_id)]:
            del self.grants[grant_id]
        for assignment_id in [
            a.id for a in self.app_role_assignments.values() if object_id in (a.principal_id, a.resource_id)
        ]:
            del self.app_role_assignments[assignment_id]

    def remove_owner(self, owners: list[str], owner_id: str) -> None:
        """DELETE .../owners/{id}/$ref: 404 when the object is not an owner."""
        if owner_id not in owners:
            raise _not_found(owner_id)
        owners.remove(owner_id)

    # ---------------------------------------------------------------------------- consent policies

    def update_authorization_policy(self, body: dict[str, Any]) -> None:
        """PATCH /policies/authorizationPolicy (https://learn.microsoft.com/graph/api/authorizationpolicy-update):
        properties not in the body keep their values; a complex property merges; a collection is replaced."""
        for name in body:
            if name not in AUTHORIZATION_POLICY_PROPERTIES:
                raise _undeclared(name)
        permissions = body.get("defaultUserRolePermissions")
        if permissions is None:
            return
        if not isinstance(permissions, dict):
            raise _not_of_type("defaultUserRolePermissions", "microsoft.graph.defaultUserRolePermissions")
        for name in permissions:
            if name not in DEFAULT_USER_ROLE_PERMISSIONS:
                raise _undeclared(name)
        policy = self.authorization_policy
        if "permissionGrantPoliciesAssigned" in permissions:
            assigned = permissions["permissionGrantPoliciesAssigned"]
            if not isinstance(assigned, list) or not all(isinstance(entry, str) for entry in assigned):
                raise _not_of_type("permissionGrantPoliciesAssigned", "Collection(Edm.String)")
            policy.permission_grant_policies_assigned = list(assigned)
        for wire, attribute in (
            ("allowedToCreateApps", "allowed_to_create_apps"),
            ("allowedToCreateSecurityGroups", "allowed_to_create_security_groups"),
            ("allowedToReadOtherUsers", "allowed_to_read_other_users"),
        ):
            if wire in permissions:
                if not isinstance(permissions[wire], bool):
                    raise _not_of_type(wire, "Edm.Boolean")
                setattr(policy, attribute, permissions[wire])

    def replace_admin_consent_request_policy(self, body: dict[str, Any]) -> None:
        """PUT /policies/adminConsentRequestPolicy (https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update):
        every required property present and of its type; the version moves on with each update."""
        for name in body:
            if name not in ADMIN_CONSENT_REQUEST_POLICY_PROPERTIES:
                raise _undeclared(name)
        for name in ADMIN_CONSENT_REQUEST_POLICY_REQUIRED:
            if name not in body:
                raise GraphError(
                    400, "BadRequest", f"The property '{name}' is required to update the adminConsentRequestPolicy."
                )
        for name in ("isEnabled", "notifyReviewers", "remindersEnabled"):
            if not isinstance(body[name], bool):
                raise _not_of_type(name, "Edm.Boolean")
        days = body["requestDurationInDays"]
        if not isinstance(days, int) or isinstance(days, bool):
            raise _not_of_type("requestDurationInDays", "Edm.Int32")
        reviewers = body["reviewers"]
        if not isinstance(reviewers, list):
            raise _not_of_type("reviewers", "Collection(microsoft.graph.accessReviewReviewerScope)")
        stored = []
        for reviewer in reviewers:
            if not isinstance(reviewer, dict):
                raise _not_of_type("reviewers", "Collection(microsoft.graph.accessReviewReviewerScope)")
            for name in reviewer:
                if name not in REVIEWER_SCOPE_PROPERTIES:
                    raise _undeclared(name)
            if not isinstance(reviewer.get("query"), str):
                raise _not_of_type("query", "Edm.String")
            stored.append(
                {
                    "query": reviewer["query"],
                    "queryType": reviewer.get("queryType"),
                    "queryRoot": reviewer.get("queryRoot"),
                }
            )
        policy = self.admin_consent_request_policy
        policy.is_enabled = body["isEnabled"]
        policy.notify_reviewers = body["notifyReviewers"]
        policy.reminders_enabled = body["remindersEnabled"]
        policy.request_duration_in_days = days
        policy.reviewers = stored
        policy.version += 1

    def add_automation_identity(self, app_id: str, display_name: str, roles: list[str]) -> ServicePrincipal:
        """The MSP's automation identity: its service principal here, granted ``roles`` on Microsoft Graph by
        an administrator (app role assignments, as admin consent to application permissions makes)."""
        sp = self.add_service_principal(app_id, display_name)
        for role in roles:
            self.create_app_role_assignment(sp.id, self.graph.id, self.graph.app_roles[role])
        return sp

    def roles_of(self, sp_id: str) -> list[str]:
        """Application permissions (app role values) on Microsoft Graph held by service principal ``sp_id``."""
        by_id = {role_id: value for value, role_id in self.graph.app_roles.items()}
        return sorted(
            by_id[a.app_role_id]
            for a in self.app_role_assignments.values()
            if a.principal_id == sp_id and a.resource_id == self.graph.id and a.app_role_id in by_id
        )
