"""GDAP in the emulated cloud: the MSP's tenant, its relationships with clients, and its engineers' sign-in.

An MSP (a Microsoft partner) holds granular delegated admin privileges (GDAP) relationships with its clients:
each names the client (``customer``), the directory roles the client approved (``accessDetails``), a status and
an end, and access assignments that give some of those roles to security groups in the MSP's own tenant
(https://learn.microsoft.com/graph/api/resources/delegatedadminrelationship,
https://learn.microsoft.com/graph/api/resources/delegatedadminaccessassignment). An engineer in those groups
signs in once at home and gets tokens for a client's tenant carrying the roles (Azure CLI: ``az account
get-access-token --tenant``).

What this module emulates, each with its source:
- the MSP tenant's Graph routes ``GET /tenantRelationships/delegatedAdminRelationships`` (paged, ``$filter``
  on ``status``, ``$top`` up to 300) and ``.../{id}/accessAssignments``
  (https://learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadminrelationships,
  https://learn.microsoft.com/graph/api/delegatedadminrelationship-list-accessassignments), permission
  ``DelegatedAdminRelationship.Read.All`` (or ``.ReadWrite.All``), app-only or delegated;
- ``GET /tenantRelationships/findTenantInformationByTenantId(tenantId='…')`` and
  ``findTenantInformationByDomainName(domainName='…')`` in every tenant's Graph
  (https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbytenantid), permission
  ``CrossTenantInformation.ReadBasic.All``; an unknown tenant or domain is 404 ``Request_ResourceNotFound``
  (the pages document no error: Graph's generic not-found, https://learn.microsoft.com/graph/errors; unverified);
- an engineer's token for a tenant (the refresh-token grant the Azure CLI makes, public client
  ``AZURE_CLI_CLIENT_ID``): ``idtyp: user``, ``scp`` the CLI's scopes, ``wids`` the role template ids the
  engineer holds there (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference:
  "Denotes the tenant-wide roles assigned to this user"). In a client's tenant those are the roles of the
  ``active`` access assignments, of ``active`` relationships with that client not past their end, whose group
  has the engineer as a member; none: no token (AADSTS50020, the error Entra gives a user with no access to a
  tenant; that GDAP users get exactly it is unverified). That GDAP roles reach ``wids`` is not documented either:
  it is how the emulator carries them;
- how Graph judges an engineer's (delegated) call: the roles each call's page names (``ROLES_BY_HANDLER``),
  Global Administrator always; 403 ``Authorization_RequestDenied`` naming the roles that would do. The token's
  ``scp`` must hold one of the route's permissions, with ``Directory.AccessAsUser.All`` ("same access to
  information in the directory as the signed-in user", Graph permissions reference) standing in for them on
  directory objects but not on ``/policies`` or ``/tenantRelationships`` (Azure/azure-cli#23906: a Global
  Administrator's CLI token refused a policy read, "required scopes are missing in the token").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.fakes.entra import FakeTenant

if TYPE_CHECKING:
    from tests.fakes.graph_emulator import Caller, GraphEmulator, Request

AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""The Azure CLI's public client (azure-cli src/azure-cli-core/azure/cli/core/auth/identity.py, ``AZURE_CLI_CLIENT_ID``;
named in AADSTS65001 answers, Azure/azure-sdk-for-net#21281)."""
AZURE_CLI_GRAPH_SCOPES = ("Directory.AccessAsUser.All",)
"""The ``scp`` of the CLI's Microsoft Graph token, as far as it is known: Azure/azure-powershell#24334 reports
``Directory.AccessAsUser.All`` in the same first-party token family; Azure/azure-cli#33778 and #23906 show that
scopes outside the CLI's preauthorized set are refused. The full set is not published."""

# Role template ids, "Microsoft Entra built-in roles" (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
APPLICATION_DEVELOPER = "cf1c38e5-3621-4004-a7cb-879624dced7c"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
DIRECTORY_WRITERS = "9360feb5-f418-4baa-8175-e2a00bac4301"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
DIRECTORY_SYNCHRONIZATION_ACCOUNTS = "d29b2b05-8046-44ba-8758-1e26182fcf32"
HYBRID_IDENTITY_ADMINISTRATOR = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
IDENTITY_GOVERNANCE_ADMINISTRATOR = "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e"
SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d"
ROLE_NAMES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
    CLOUD_APPLICATION_ADMINISTRATOR: "Cloud Application Administrator",
    APPLICATION_ADMINISTRATOR: "Application Administrator",
    APPLICATION_DEVELOPER: "Application Developer",
    USER_ADMINISTRATOR: "User Administrator",
    DIRECTORY_WRITERS: "Directory Writers",
    DIRECTORY_READERS: "Directory Readers",
    DIRECTORY_SYNCHRONIZATION_ACCOUNTS: "Directory Synchronization Accounts",
    HYBRID_IDENTITY_ADMINISTRATOR: "Hybrid Identity Administrator",
    IDENTITY_GOVERNANCE_ADMINISTRATOR: "Identity Governance Administrator",
    SECURITY_ADMINISTRATOR: "Security Administrator",
}

# Per write the emulator serves, the roles its Graph page's "least privileged roles" note lists (the includes
# under microsoft-graph-docs-contrib api-reference/v1.0/includes/rbac-for-apis/ that each page renders).
_SERVICE_PRINCIPAL_WRITERS = frozenset(
    # rbac-serviceprincipal-apis-write.md (serviceprincipal-post-serviceprincipals, -update): Application
    # Developer, Hybrid Identity Administrator (basic properties), Security Administrator, Cloud Application
    # Administrator, Application Administrator; "a nonadmin member ... with default user permissions" does not
    # apply to an engineer from another tenant.
    {
        APPLICATION_DEVELOPER,
        HYBRID_IDENTITY_ADMINISTRATOR,
        SECURITY_ADMINISTRATOR,
        CLOUD_APPLICATION_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
    }
)
_GRANT_WRITERS = frozenset(
    # rbac-oauth2permissiongrant-apis-write.md (oauth2permissiongrant-post, -update, -delete).
    {
        APPLICATION_ADMINISTRATOR,
        APPLICATION_DEVELOPER,
        CLOUD_APPLICATION_ADMINISTRATOR,
        DIRECTORY_WRITERS,
        PRIVILEGED_ROLE_ADMINISTRATOR,
        USER_ADMINISTRATOR,
    }
)
_ASSIGNMENT_WRITERS = frozenset(
    # rbac-approleassignments-apis-write.md (serviceprincipal-post-approleassignedto, -delete-approleassignedto).
    {
        DIRECTORY_SYNCHRONIZATION_ACCOUNTS,
        DIRECTORY_WRITERS,
        HYBRID_IDENTITY_ADMINISTRATOR,
        IDENTITY_GOVERNANCE_ADMINISTRATOR,
        PRIVILEGED_ROLE_ADMINISTRATOR,
        USER_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
        CLOUD_APPLICATION_ADMINISTRATOR,
    }
)
_GRAPH_APP_ROLE_WRITERS = frozenset(
    # The same include: "Privileged Role Administrator - the least privileged role supported for Microsoft Graph
    # and Azure AD Graph app roles".
    {PRIVILEGED_ROLE_ADMINISTRATOR}
)
_APPLICATION_WRITERS = frozenset(
    # rbac-application-apis-write.md (application-post-applications, -update, -delete).
    {
        APPLICATION_DEVELOPER,
        DIRECTORY_WRITERS,
        HYBRID_IDENTITY_ADMINISTRATOR,
        SECURITY_ADMINISTRATOR,
        CLOUD_APPLICATION_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
    }
)
ROLES_BY_HANDLER: dict[str, frozenset[str]] = {
    "service_principals_create": _SERVICE_PRINCIPAL_WRITERS,
    "service_principals_update": _SERVICE_PRINCIPAL_WRITERS,
    "service_principals_delete": _SERVICE_PRINCIPAL_WRITERS,
    "service_principals_add_owner": _SERVICE_PRINCIPAL_WRITERS,
    "service_principals_remove_owner": _SERVICE_PRINCIPAL_WRITERS,
    "oauth2_permission_grants_create": _GRANT_WRITERS,
    "oauth2_permission_grants_update": _GRANT_WRITERS,
    "oauth2_permission_grants_delete": _GRANT_WRITERS,
    "service_principals_create_app_role_assigned_to": _ASSIGNMENT_WRITERS,
    "service_principals_delete_app_role_assigned_to": _ASSIGNMENT_WRITERS,
    "applications_create": _APPLICATION_WRITERS,
    "applications_update": _APPLICATION_WRITERS,
    "applications_delete": _APPLICATION_WRITERS,
    "applications_remove_owner": _APPLICATION_WRITERS,
    # rbac-authorization-policy-apis-update.md: "The following least privileged role is supported".
    "policies_update_authorization_policy": frozenset({PRIVILEGED_ROLE_ADMINISTRATOR}),
    # rbac-adminconsentrequestpolicy-apis-update.md.
    "policies_update_admin_consent_request_policy": frozenset(
        {CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR}
    ),
}
"""Reads are not judged by role: every read page the emulator serves lets a user with any directory role read
(an engineer reaching a client through GDAP always holds one, or gets no token)."""

GRAPH_APP_IDS = frozenset({"00000003-0000-0000-c000-000000000000", "00000002-0000-0000-c000-000000000000"})
"""Microsoft Graph and Azure AD Graph: app roles on these need Privileged Role Administrator."""

_SCOPE_STRICT_PREFIXES = ("/policies", "/tenantRelationships")


def delegated_refusal(
    emulator: GraphEmulator, caller: Caller, handler: str, request: Request, permissions: frozenset[str]
) -> str | None:
    """Why Graph refuses a signed-in user's (delegated) call, or None. ``permissions``: the route's."""
    scopes = caller.permissions or frozenset()
    stands_in = "Directory.AccessAsUser.All" in scopes and not request.path.startswith(_SCOPE_STRICT_PREFIXES)
    if not (scopes & permissions) and not stands_in:
        wanted = " or ".join(sorted(permissions))
        return f"the token's scopes (scp) hold none of {wanted}"
    roles = ROLES_BY_HANDLER.get(handler)
    if roles is None:
        return None
    if handler == "service_principals_create_app_role_assigned_to" or handler == (
        "service_principals_delete_app_role_assigned_to"
    ):
        resource = emulator.tenant.service_principals.get(request.params.get("id", "").lower())
        if resource is not None and resource.app_id.lower() in GRAPH_APP_IDS:
            roles = _GRAPH_APP_ROLE_WRITERS
    held = caller.roles or frozenset()
    if GLOBAL_ADMINISTRATOR in held or held & roles:
        return None
    names = " or ".join(sorted(ROLE_NAMES.get(r, r) for r in roles))
    return f"the signed-in user holds none of the directory roles this call needs: {names}"


# ------------------------------------------------------------------------------------- the MSP tenant


@dataclass
class AccessAssignment:
    """A delegatedAdminAccessAssignment: some of the relationship's roles for one security group."""

    group_id: str
    roles: tuple[str, ...]
    status: str = "active"
    id: str = ""


@dataclass
class Relationship:
    """A delegatedAdminRelationship, as the MSP's tenant lists it."""

    id: str
    display_name: str
    customer_tenant_id: str
    customer_name: str
    roles: tuple[str, ...]
    status: str
    end: datetime | None
    activated: datetime | None
    auto_extend: str = "PT0S"
    assignments: list[AccessAssignment] = field(default_factory=list)

    def usable(self, now: datetime) -> bool:
        """Grants access now: ``active`` and not past its end (``expiring`` has "passed its expiration date")."""
        return self.status == "active" and (self.end is None or self.end > now)


@dataclass(frozen=True)
class TenantInformation:
    """What findTenantInformationBy* answers (https://learn.microsoft.com/graph/api/resources/tenantinformation)."""

    tenant_id: str
    display_name: str
    default_domain: str
    domains: tuple[str, ...] = ()
    federation_brand_name: str | None = None


@dataclass
class Engineer:
    """A user of the MSP's tenant who signs in with the Azure CLI."""

    upn: str
    object_id: str
    home_roles: tuple[str, ...] = ()
    """Directory roles in the MSP's own tenant."""


@dataclass
class Partner:
    """The MSP: its tenant, relationships, engineers, and what every tenant says about itself publicly."""

    tenant: FakeTenant
    relationships: list[Relationship] = field(default_factory=list)
    engineers: dict[str, Engineer] = field(default_factory=dict)
    directory: dict[str, TenantInformation] = field(default_factory=dict)
    """tenant id (lower-case) -> its public information, for findTenantInformationBy*."""

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id

    def add_engineer(self, upn: str, groups: list[str], home_roles: tuple[str, ...] = ()) -> Engineer:
        user = self.tenant.add_user(upn)
        for name in groups:
            self.tenant.group(name).members.append(user.id)
        engineer = Engineer(upn, user.id, home_roles)
        self.engineers[user.id] = engineer
        return engineer

    def roles_in(self, engineer: Engineer, tenant_id: str, now: datetime | None = None) -> list[str] | None:
        """The role template ids ``engineer`` holds in ``tenant_id``; None when they cannot sign in there."""
        if tenant_id.lower() == self.tenant_id.lower():
            return list(engineer.home_roles)
        moment = now or datetime.now(UTC)
        held: set[str] = set()
        reachable = False
        for relationship in self.relationships:
            if relationship.customer_tenant_id.lower() != tenant_id.lower() or not relationship.usable(moment):
                continue
            for assignment in relationship.assignments:
                group = self.tenant.groups.get(assignment.group_id)
                if assignment.status == "active" and group is not None and engineer.object_id in group.members:
                    reachable = True
                    held.update(r for r in assignment.roles if r in relationship.roles)
        return sorted(held) if reachable else None

    def information(self, tenant_id: str | None = None, domain: str | None = None) -> TenantInformation | None:
        for info in self.directory.values():
            if tenant_id is not None and info.tenant_id.lower() == tenant_id.lower():
                return info
            names = {info.default_domain.lower(), *(d.lower() for d in info.domains)}
            if domain is not None and domain.lower() in names:
                return info
        return None


def relationship_json(r: Relationship) -> dict[str, Any]:
    """The resource's JSON (https://learn.microsoft.com/graph/api/resources/delegatedadminrelationship)."""

    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    created = (r.activated or datetime(2025, 1, 6, tzinfo=UTC)) - timedelta(minutes=3)
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "@odata.etag": f'W/"{r.id[:12]}"',
        "id": r.id,
        "displayName": r.display_name,
        "duration": "P730D",
        "customer": {"tenantId": r.customer_tenant_id, "displayName": r.customer_name},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in r.roles]},
        "status": r.status,
        "autoExtendDuration": r.auto_extend,
        "createdDateTime": stamp(created),
        "lastModifiedDateTime": stamp(r.activated or created),
        "activatedDateTime": stamp(r.activated),
        "endDateTime": stamp(r.end),
    }


def assignment_json(a: AccessAssignment) -> dict[str, Any]:
    """https://learn.microsoft.com/graph/api/resources/delegatedadminaccessassignment"""
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
        "id": a.id,
        "status": a.status,
        "accessContainer": {"accessContainerId": a.group_id, "accessContainerType": "securityGroup"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in a.roles]},
        "createdDateTime": "2025-01-06T10:00:00Z",
        "lastModifiedDateTime": "2025-01-06T10:00:00Z",
    }


_FIND_BY_TENANT = re.compile(r"^findTenantInformationByTenantId\(tenantId='([^']*)'\)$")
_FIND_BY_DOMAIN = re.compile(r"^findTenantInformationByDomainName\(domainName='([^']*)'\)$")


# ------------------------------------------------------------------------------------------ routes


def _partner(emulator: GraphEmulator) -> Partner | None:
    partner = emulator.partner
    if isinstance(partner, Partner) and partner.tenant_id.lower() == emulator.tenant.tenant_id.lower():
        return partner
    return None


# https://learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadminrelationships: "$top supports up
# to 300 objects"; a tenant with no relationships lists none.
def list_relationships(emulator: GraphEmulator, r: Request) -> dict[str, Any]:
    from tests.fakes.graph_emulator import ODataError

    _check_top(r, ODataError)
    partner = _partner(emulator)
    items = [relationship_json(x) for x in partner.relationships] if partner else []
    return emulator._collection("delegatedAdminRelationships", items, r, {"status", "id", "displayName"})


# https://learn.microsoft.com/graph/api/delegatedadminrelationship-list-accessassignments
def list_access_assignments(emulator: GraphEmulator, r: Request) -> dict[str, Any]:
    from tests.fakes.graph_emulator import ODataError, _missing

    _check_top(r, ODataError)
    partner = _partner(emulator)
    wanted = r.params["id"]
    found = next((x for x in (partner.relationships if partner else []) if x.id == wanted), None)
    if found is None:
        raise _missing(wanted)
    items = [assignment_json(a) for a in found.assignments]
    return emulator._collection("accessAssignments", items, r, {"status"})


# https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbytenantid and
# -findtenantinformationbydomainname: a function call in the path segment.
def find_tenant_information(emulator: GraphEmulator, r: Request) -> dict[str, Any]:
    from tests.fakes.graph_emulator import ODataError, _missing

    segment = r.params["function"]
    by_id, by_domain = _FIND_BY_TENANT.match(segment), _FIND_BY_DOMAIN.match(segment)
    if by_id is None and by_domain is None:
        raise ODataError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    directory = emulator.directory
    info = None
    if isinstance(directory, dict):
        key = (by_id or by_domain).group(1).lower()  # type: ignore[union-attr]
        for candidate in directory.values():
            names = {candidate.default_domain.lower(), *(d.lower() for d in candidate.domains)}
            if (by_id and candidate.tenant_id.lower() == key) or (by_domain and key in names):
                info = candidate
                break
    if info is None:
        raise _missing(segment)
    return {
        "@odata.context": f"{emulator.base_url}/v1.0/$metadata#microsoft.graph.tenantInformation",
        "tenantId": info.tenant_id,
        "federationBrandName": info.federation_brand_name,
        "displayName": info.display_name,
        "defaultDomainName": info.default_domain,
    }


def _check_top(r: Request, error: type[Exception]) -> None:
    top = r.query.get("$top")
    if top is not None and (not top.isdigit() or int(top) > 300):
        raise error(400, "BadRequest", "The value of $top must be between 1 and 300.")  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------- building an MSP

DELEGATED_ADMIN_RELATIONSHIP_READ = ("DelegatedAdminRelationship.Read.All", "f6e9e124-4586-492f-adc0-c6f96e4823fd")
CROSS_TENANT_INFORMATION_READ = ("CrossTenantInformation.ReadBasic.All", "cac88765-0581-4025-9725-5ebc13f729ee")
"""Application permissions (app roles) of Microsoft Graph that the tool's catalog does not carry, with their ids
(https://graphpermissions.merill.net/permission/DelegatedAdminRelationship.Read.All and
.../CrossTenantInformation.ReadBasic.All, which list Graph's service principal)."""
PARTNER_PERMISSIONS = (DELEGATED_ADMIN_RELATIONSHIP_READ[0], CROSS_TENANT_INFORMATION_READ[0])


def msp(tenant_id: str, name: str, domain: str) -> Partner:
    """The MSP's tenant: Microsoft Graph there knows the two partner permissions, and the tenant is public."""
    tenant = FakeTenant(tenant_id)
    for permission, role_id in (DELEGATED_ADMIN_RELATIONSHIP_READ, CROSS_TENANT_INFORMATION_READ):
        tenant.graph.app_roles[permission] = role_id
    partner = Partner(tenant)
    partner.directory[tenant_id.lower()] = TenantInformation(tenant_id, name, domain)
    return partner


def add_client(partner: Partner, tenant: FakeTenant, name: str, default_domain: str, *domains: str) -> FakeTenant:
    """A client tenant, as findTenantInformationBy* knows it."""
    partner.directory[tenant.tenant_id.lower()] = TenantInformation(
        tenant.tenant_id, name, default_domain, (default_domain, *domains)
    )
    return tenant


def add_relationship(
    partner: Partner,
    customer: FakeTenant,
    *,
    status: str,
    end: datetime | None,
    assignments: dict[str, tuple[str, ...]],
    display_name: str,
    auto_extend: str = "PT0S",
    relationship_id: str | None = None,
) -> Relationship:
    """A relationship with ``customer`` whose ``assignments`` give roles to the MSP's groups (by name); the
    relationship's roles are every role assigned."""
    info = partner.directory[customer.tenant_id.lower()]
    roles = tuple(dict.fromkeys(role for granted in assignments.values() for role in granted))
    number = len(partner.relationships) + 1
    relationship = Relationship(
        id=relationship_id or f"{number:08x}-aaaa-4bbb-8ccc-{number:012x}-{customer.tenant_id}",
        display_name=display_name,
        customer_tenant_id=customer.tenant_id,
        customer_name=info.display_name,
        roles=roles,
        status=status,
        end=end,
        activated=(end - timedelta(days=730)) if end is not None else None,
        auto_extend=auto_extend,
        assignments=[
            AccessAssignment(
                partner.tenant.group(group).id, granted, id=f"{number:04x}{i:04x}-0000-4000-8000-000000000000"
            )
            for i, (group, granted) in enumerate(assignments.items(), start=1)
        ],
    )
    partner.relationships.append(relationship)
    return relationship


MSP_TENANT_ID = "a1b2c3d4-0000-4000-8000-00000000a5b1"
APP_ADMINS = "GDAP Cloud Application Administrators"
ROLE_ADMINS = "GDAP Privileged Role Administrators"


@dataclass
class StandardMsp:
    """An MSP with five clients, one relationship each (``standard_msp``)."""

    partner: Partner
    clients: dict[str, FakeTenant]
    """By short name: contoso, fabrikam, oldco, goneco, soonco."""
    engineer: Engineer


def standard_msp(now: datetime | None = None) -> StandardMsp:
    """Five GDAP relationships, the cases the tool must tell apart:
    - contoso: active, Cloud Application Administrator and Privileged Role Administrator (and Directory Readers);
    - fabrikam: active, without Privileged Role Administrator;
    - oldco: expired (its end has passed);
    - goneco: terminated;
    - soonco: active, ending in 20 days, not extending itself.
    The engineer is in both of the MSP's GDAP groups."""
    moment = now or datetime.now(UTC)
    partner = msp(MSP_TENANT_ID, "Northwind IT Partners", "northwindit.onmicrosoft.com")
    partner.tenant.add_group(APP_ADMINS)
    partner.tenant.add_group(ROLE_ADMINS)
    engineer = partner.add_engineer("engineer@northwindit.onmicrosoft.com", [APP_ADMINS, ROLE_ADMINS])
    specs = (
        ("contoso", "c0a10000-0000-4000-8000-00000000c001", "Contoso Ltd", "contoso.onmicrosoft.com", "contoso.com"),
        ("fabrikam", "fab00000-0000-4000-8000-00000000fab1", "Fabrikam Inc", "fabrikam.co.uk", ""),
        ("oldco", "01d00000-0000-4000-8000-0000000001dc", "Old Co", "oldco.onmicrosoft.com", ""),
        ("goneco", "90e00000-0000-4000-8000-0000000090ec", "Gone Co", "goneco.onmicrosoft.com", ""),
        ("soonco", "50000000-0000-4000-8000-0000000050c0", "Soon Co", "soonco.onmicrosoft.com", "soon.example"),
    )
    clients: dict[str, FakeTenant] = {}
    for short, tenant_id, name, default_domain, other in specs:
        tenant = FakeTenant(tenant_id)
        tenant.add_user(f"mailbox@{default_domain}")
        add_client(partner, tenant, name, default_domain, *([other] if other else []))
        clients[short] = tenant
    both = {
        APP_ADMINS: (CLOUD_APPLICATION_ADMINISTRATOR, DIRECTORY_READERS),
        ROLE_ADMINS: (PRIVILEGED_ROLE_ADMINISTRATOR,),
    }
    add_relationship(
        partner,
        clients["contoso"],
        status="active",
        end=moment + timedelta(days=400),
        assignments=both,
        display_name="Contoso apps",
        auto_extend="P180D",
    )
    add_relationship(
        partner,
        clients["fabrikam"],
        status="active",
        end=moment + timedelta(days=300),
        assignments={APP_ADMINS: (CLOUD_APPLICATION_ADMINISTRATOR, DIRECTORY_READERS)},
        display_name="Fabrikam apps",
    )
    add_relationship(
        partner,
        clients["oldco"],
        status="expired",
        end=moment - timedelta(days=10),
        assignments=both,
        display_name="Old Co apps",
    )
    add_relationship(
        partner,
        clients["goneco"],
        status="terminated",
        end=moment - timedelta(days=40),
        assignments=both,
        display_name="Gone Co apps",
    )
    add_relationship(
        partner,
        clients["soonco"],
        status="active",
        end=moment + timedelta(days=20),
        assignments=both,
        display_name="Soon Co apps",
    )
    return StandardMsp(partner, clients, engineer)
