"""Who may do what a tenant file asks: the one table of directory roles and Graph application permissions.

Each row is one thing a tenant file can ask of a client tenant, the Microsoft Graph call that does it, the
Microsoft Entra directory roles that may make that call in a delegated sign-in (an MSP engineer reaching the
tenant through GDAP), the least of them, and the Graph application permissions the MSP's automation identity
needs for it (an app-only sign-in, CI). Every row cites the Graph page whose "Permissions" section lists both
(the roles are that page's "least privileged roles" note) and, where Microsoft says more elsewhere, that page.
Role template ids come from "Microsoft Entra built-in roles" (``BUILT_IN_ROLES``).

``needs(plan)`` says which rows a ConsentPlan uses; ``missing_roles`` what a set of granted roles lacks.
Pure data and functions: the relationship check, ``plan --offline``, ``connect`` and the docs all read it.
The table as people read it, with the places where Microsoft's pages disagree: docs/onboarding.md,
*The role table*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plan.py reads this table for plan@1; the table reads plans only as data
    from taxcalc_consent.infra.model.plan import ConsentPlan

BUILT_IN_ROLES_PAGE = "https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference"


@dataclass(frozen=True)
class DirectoryRole:
    """A Microsoft Entra built-in role, by its name and template id (the id a GDAP relationship and a token's
    ``wids`` claim carry)."""

    name: str
    template_id: str


GLOBAL_ADMINISTRATOR = DirectoryRole("Global Administrator", "62e90394-69f5-4237-9190-012177145e10")
PRIVILEGED_ROLE_ADMINISTRATOR = DirectoryRole("Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814")
CLOUD_APPLICATION_ADMINISTRATOR = DirectoryRole(
    "Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7"
)
APPLICATION_ADMINISTRATOR = DirectoryRole("Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3")
APPLICATION_DEVELOPER = DirectoryRole("Application Developer", "cf1c38e5-3621-4004-a7cb-879624dced7c")
USER_ADMINISTRATOR = DirectoryRole("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1")
DIRECTORY_WRITERS = DirectoryRole("Directory Writers", "9360feb5-f418-4baa-8175-e2a00bac4301")
DIRECTORY_READERS = DirectoryRole("Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b")

BUILT_IN_ROLES: tuple[DirectoryRole, ...] = (
    # The "All roles" table of BUILT_IN_ROLES_PAGE: name and template id, for the roles this table names.
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    APPLICATION_ADMINISTRATOR,
    APPLICATION_DEVELOPER,
    USER_ADMINISTRATOR,
    DIRECTORY_WRITERS,
    DIRECTORY_READERS,
)
ROLE_BY_ID = {role.template_id: role for role in BUILT_IN_ROLES}


def role_name(template_id: str) -> str:
    """A role's name, or its id when it is not one this table knows."""
    role = ROLE_BY_ID.get(template_id.lower())
    return role.name if role else template_id


@dataclass(frozen=True)
class Requirement:
    """One thing a tenant file can ask, and who may do it."""

    key: str
    """Stable kebab-case id (in plan@1 JSON and messages)."""
    what: str
    """In Entra words, for people."""
    graph_call: str
    least_role: DirectoryRole | None
    """The least privileged role Microsoft names for it (asked of a GDAP relationship); None where Microsoft
    names none, and the table does not judge the row."""
    roles: tuple[DirectoryRole, ...]
    """Every role that may do it (Global Administrator may do everything and is always accepted)."""
    application_permissions: tuple[str, ...]
    """What the automation identity needs for it (all of them)."""
    sources: tuple[str, ...]
    note: str = ""
    """Where Microsoft's pages disagree or are silent, and what the table chose."""

    def allowed(self, granted: Iterable[str]) -> bool:
        """Whether a sign-in holding the roles ``granted`` (template ids) may do it."""
        if self.least_role is None:
            return True
        held = {role.lower() for role in granted}
        return GLOBAL_ADMINISTRATOR.template_id in held or any(r.template_id in held for r in self.roles)


SERVICE_PRINCIPAL = Requirement(
    key="service-principal",
    what="create TaxCalc-Hub's service principal (the enterprise application of a multi-tenant app)",
    graph_call="POST /servicePrincipals",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR),
    application_permissions=("Application.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
    ),
    note="The Graph page also lists Application Developer and a member with default user permissions; an "
    "engineer reaching a client through GDAP is not a member there, and the task page names Cloud Application "
    "Administrator for 'Create enterprise application'. Application.ReadWrite.OwnedBy cannot create the service "
    "principal of an application registered in another tenant (docs/ci.md).",
)
ASSIGNMENT_REQUIRED = Requirement(
    key="assignment-required",
    what="set Assignment required on TaxCalc-Hub's service principal",
    graph_call="PATCH /servicePrincipals/{id}",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR),
    application_permissions=("Application.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/serviceprincipal-update",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
    ),
)
TENANT_WIDE_CONSENT = Requirement(
    key="tenant-wide-consent",
    what="consent to Microsoft Graph delegated permissions for every user (an AllPrincipals oauth2PermissionGrant)",
    graph_call="POST /oauth2PermissionGrants",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR),
    application_permissions=("DelegatedPermissionGrant.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/oauth2permissiongrant-post",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
        "https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent",
    ),
    note="The Graph page's role list also names Application Developer, Directory Writers and User "
    "Administrator; the task page ('Consent to any delegated permissions') and the admin-consent page name "
    "Cloud Application Administrator and Application Administrator (and Privileged Role Administrator). The "
    "table accepts only the roles both agree on.",
)
PER_USER_CONSENT = Requirement(
    key="per-user-consent",
    what="consent to Microsoft Graph delegated permissions for named users (Principal oauth2PermissionGrants)",
    graph_call="POST /oauth2PermissionGrants",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=TENANT_WIDE_CONSENT.roles,
    application_permissions=("DelegatedPermissionGrant.ReadWrite.All",),
    sources=TENANT_WIDE_CONSENT.sources,
    note=TENANT_WIDE_CONSENT.note,
)
RESOLVE_USERS = Requirement(
    key="resolve-users",
    what="look up the users a file names (user principal names to object ids)",
    graph_call="GET /users/{id | userPrincipalName}",
    least_role=None,
    roles=(),
    application_permissions=("User.Read.All",),
    sources=("https://learn.microsoft.com/graph/api/user-get",),
    note="Graph's page names no directory role for reading a user (members read users by default, and an "
    "engineer reaching a client through GDAP is not a member there); which roles read users is not said, so "
    "the relationship check does not judge this row. Directory Readers ('Can read basic directory "
    "information', the built-in roles page) is the role to add to a relationship if Graph refuses the reads.",
)
RESOLVE_GROUPS = Requirement(
    key="resolve-groups",
    what="look up the groups a file names and their direct members",
    graph_call="GET /groups/{id}/members",
    least_role=None,
    roles=(),
    application_permissions=("GroupMember.Read.All",),
    sources=("https://learn.microsoft.com/graph/api/group-list-members",),
    note=RESOLVE_USERS.note,
)
USER_ASSIGNMENT = Requirement(
    key="user-assignment",
    what="assign users and groups to TaxCalc-Hub (app role assignments on its service principal)",
    graph_call="POST /servicePrincipals/{id}/appRoleAssignedTo",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(
        CLOUD_APPLICATION_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
        USER_ADMINISTRATOR,
        PRIVILEGED_ROLE_ADMINISTRATOR,
    ),
    application_permissions=("AppRoleAssignment.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
    ),
)
GRAPH_APP_ROLES = Requirement(
    key="graph-app-roles",
    what="grant Microsoft Graph application permissions (app roles on Microsoft Graph's service principal)",
    graph_call="POST /servicePrincipals/{Microsoft Graph}/appRoleAssignedTo",
    least_role=PRIVILEGED_ROLE_ADMINISTRATOR,
    roles=(PRIVILEGED_ROLE_ADMINISTRATOR,),
    # The page's table asks for AppRoleAssignment.ReadWrite.All with Application.Read.All; the second is in
    # Application.ReadWrite.All, which every file needs for the service principal.
    application_permissions=("AppRoleAssignment.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
        "https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent",
        f"{BUILT_IN_ROLES_PAGE}#cloud-application-administrator",
    ),
    note="Privileged Role Administrator is 'the least privileged role supported for Microsoft Graph and Azure AD "
    "Graph app roles' (the Graph page); Cloud Application Administrator and Application Administrator may "
    "consent to application permissions 'with the exception of application permissions for Azure AD Graph and "
    "Microsoft Graph' (the built-in roles page).",
)
USER_CONSENT_SETTING = Requirement(
    key="user-consent-setting",
    what="change the tenant's user consent setting (authorizationPolicy)",
    graph_call="PATCH /policies/authorizationPolicy",
    least_role=PRIVILEGED_ROLE_ADMINISTRATOR,
    roles=(PRIVILEGED_ROLE_ADMINISTRATOR,),
    application_permissions=("Policy.ReadWrite.Authorization",),
    sources=(
        "https://learn.microsoft.com/graph/api/authorizationpolicy-update",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#enterprise-applications",
    ),
    note="The Graph page names Privileged Role Administrator as the least privileged role; the task page says "
    "'Manage user settings: Global Administrator'. The table follows the Graph page (the call the tool makes).",
)
ADMIN_CONSENT_WORKFLOW = Requirement(
    key="admin-consent-workflow",
    what="change the admin consent workflow (adminConsentRequestPolicy)",
    graph_call="PUT /policies/adminConsentRequestPolicy",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR),
    application_permissions=("Policy.ReadWrite.ConsentRequest",),
    sources=(
        "https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update",
        f"{BUILT_IN_ROLES_PAGE}#cloud-application-administrator",
    ),
)
APP_REGISTRATION = Requirement(
    key="app-registration",
    what="create the app registration itself (lab tenants, register: true)",
    graph_call="POST /applications",
    least_role=CLOUD_APPLICATION_ADMINISTRATOR,
    roles=(CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR, APPLICATION_DEVELOPER),
    application_permissions=("Application.ReadWrite.All",),
    sources=(
        "https://learn.microsoft.com/graph/api/application-post-applications",
        "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-by-task#application-proxy",
    ),
    note="Application Developer is the least role for creating a registration, but a registration alone is not "
    "enough: register mode also creates its service principal and grants, which need Cloud Application "
    "Administrator, so that is the role the table asks for.",
)

REQUIREMENTS: tuple[Requirement, ...] = (
    SERVICE_PRINCIPAL,
    ASSIGNMENT_REQUIRED,
    TENANT_WIDE_CONSENT,
    PER_USER_CONSENT,
    RESOLVE_USERS,
    RESOLVE_GROUPS,
    USER_ASSIGNMENT,
    GRAPH_APP_ROLES,
    USER_CONSENT_SETTING,
    ADMIN_CONSENT_WORKFLOW,
    APP_REGISTRATION,
)


@dataclass(frozen=True)
class Needs:
    """What one tenant file asks, by row; the roles and permissions follow."""

    requirements: tuple[Requirement, ...]

    @property
    def roles(self) -> tuple[DirectoryRole, ...]:
        """The least roles that together cover every row, in the table's order."""
        out: list[DirectoryRole] = []
        for requirement in self.requirements:
            least = requirement.least_role
            if least is not None and not any(requirement.allowed([role.template_id]) for role in out):
                out.append(least)
        return tuple(dict.fromkeys(out))

    @property
    def application_permissions(self) -> tuple[str, ...]:
        """Every application permission the automation identity needs, sorted."""
        return tuple(sorted({p for r in self.requirements for p in r.application_permissions}))


def needs(plan: ConsentPlan) -> Needs:
    """The rows ``plan`` uses."""
    rows: list[Requirement] = []
    if plan.app.register:
        rows.append(APP_REGISTRATION)
    rows.append(SERVICE_PRINCIPAL)
    if plan.service_principal.assignment_required:
        rows.append(ASSIGNMENT_REQUIRED)
    if any(g.consent_type == "AllPrincipals" for g in plan.grants):
        rows.append(TENANT_WIDE_CONSENT)
    if any(g.consent_type == "Principal" for g in plan.grants) or plan.group_grants:
        rows.append(PER_USER_CONSENT)
    if any(g.consent_type == "Principal" for g in plan.grants) or any(
        a.principal_type == "User" for a in plan.assignments
    ):
        rows.append(RESOLVE_USERS)
    if plan.group_grants or any(a.principal_type == "Group" for a in plan.assignments):
        rows.append(RESOLVE_GROUPS)
    if plan.assignments:
        rows.append(USER_ASSIGNMENT)
    if plan.app_role_assignments:
        rows.append(GRAPH_APP_ROLES)
    if plan.consent_settings.user_consent is not None:
        rows.append(USER_CONSENT_SETTING)
    if plan.consent_settings.admin_consent_workflow is not None:
        rows.append(ADMIN_CONSENT_WORKFLOW)
    return Needs(tuple(rows))


def missing_roles(needed: Needs, granted: Iterable[str]) -> list[tuple[Requirement, DirectoryRole]]:
    """Each row ``granted`` (role template ids) may not do, with the least role that would let it."""
    held = list(granted)
    return [
        (row, row.least_role) for row in needed.requirements if row.least_role is not None and not row.allowed(held)
    ]
