"""The resource schemas the test provider serves: input properties and how a change to each is planned.

A property's kind follows its terraform-provider-azuread schema (``Required``/``Optional``/``Computed``,
``ForceNew``, ``Default``), because pulumi-terraform-bridge plans a change the way Terraform would:
- a property the program sets is compared with the state; a ``ForceNew`` one that differs replaces;
- an ``Optional`` + ``Computed`` property the program leaves out is not compared (Graph decides it);
- an ``Optional`` one it leaves out is compared with its default (or its zero value), so a value set by
  hand in the tenant shows as a change back.
Sets (``TypeSet``) compare without order, a set inside a block too (``public_client.redirect_uris``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "bool", "set", "list", "object", "features"]


@dataclass(frozen=True)
class Prop:
    name: str
    kind: Kind = "string"
    required: bool = False
    force_new: bool = False
    computed: bool = False
    default: Any = None
    uuid: bool = False
    set_fields: tuple[str, ...] = ()
    """For an ``object`` (a MaxItems-1 block): its attributes that are ``TypeSet``s, compared without order."""
    empty_is_absent: bool = False
    """For an ``object``: a block whose attributes are all empty equals no block (the resource's DiffSuppressFunc)."""


@dataclass(frozen=True)
class ResourceSchema:
    token: str
    props: tuple[Prop, ...]
    import_id_format: str
    """How an import id looks, for the error the bridge gives a malformed one."""

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.props if p.name == name), None)


FEATURES = ("customSingleSignOn", "enterprise", "gallery", "hide")
"""feature_tags' attributes (a one-element block list): each an Optional bool, unset meaning false."""


def _zero(prop: Prop) -> Any:
    if prop.default is not None:
        return prop.default
    return {"string": "", "bool": False, "set": [], "list": [], "object": None, "features": []}[prop.kind]


def normalise(prop: Prop, value: Any) -> Any:
    if value is None:
        return _zero(prop)
    if prop.kind == "features":
        return [{name: bool(block.get(name)) for name in FEATURES} for block in value or [] if isinstance(block, dict)]
    if prop.kind == "set":
        return sorted(value, key=lambda v: repr(v))
    if prop.kind == "list":
        return list(value)
    if prop.kind == "object" and isinstance(value, dict):
        block = {k: sorted(v or [], key=repr) if k in prop.set_fields else v for k, v in value.items()}
        if prop.empty_is_absent and not any(block.values()):
            return _zero(prop)
        return block
    return value


def changed_properties(
    schema: ResourceSchema, olds: dict[str, Any], news: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """(properties that differ, those of them that force a replacement)."""
    diffs: list[str] = []
    replaces: list[str] = []
    for prop in schema.props:
        if prop.name not in news and prop.computed:
            continue
        old = normalise(prop, olds.get(prop.name))
        new = normalise(prop, news.get(prop.name))
        if old != new:
            diffs.append(prop.name)
            if prop.force_new:
                replaces.append(prop.name)
    return diffs, replaces


SERVICE_PRINCIPAL = ResourceSchema(
    "azuread:index/servicePrincipal:ServicePrincipal",
    (
        # internal/services/serviceprincipals/service_principal_resource.go
        Prop("clientId", required=True, force_new=True, uuid=True),
        Prop("accountEnabled", "bool", default=True),
        Prop("appRoleAssignmentRequired", "bool"),
        Prop("description"),
        Prop("notes"),
        Prop("owners", "set"),
        Prop("featureTags", "features", computed=True),
        Prop("tags", "set", computed=True),
        Prop("useExisting", "bool"),
    ),
    "/servicePrincipals/{objectId}",
)

APPLICATION = ResourceSchema(
    "azuread:index/application:Application",
    (
        # internal/services/applications/application_resource.go
        Prop("displayName", required=True),
        Prop("signInAudience", default="AzureADMyOrg"),
        Prop("description"),
        Prop("notes"),
        Prop("owners", "set"),
        Prop("tags", "set", computed=True),
        # public_client: a MaxItems-1 block whose redirect_uris is a TypeSet, with applicationDiffSuppress
        # treating a block with no redirect URIs as no block.
        Prop("publicClient", "object", set_fields=("redirectUris",), empty_is_absent=True),
        Prop("requiredResourceAccesses", "set"),
    ),
    "/applications/{objectId}",
)

DELEGATED_PERMISSION_GRANT = ResourceSchema(
    "azuread:index/servicePrincipalDelegatedPermissionGrant:ServicePrincipalDelegatedPermissionGrant",
    (
        # internal/services/serviceprincipals/service_principal_delegated_permission_grant_resource.go
        Prop("claimValues", "set", required=True),
        Prop("resourceServicePrincipalObjectId", required=True, force_new=True, uuid=True),
        Prop("servicePrincipalObjectId", required=True, force_new=True, uuid=True),
        Prop("userObjectId", force_new=True, uuid=True),
    ),
    "/oauth2PermissionGrants/{id}",
)

APP_ROLE_ASSIGNMENT = ResourceSchema(
    "azuread:index/appRoleAssignment:AppRoleAssignment",
    (
        # internal/services/approleassignments/app_role_assignment_resource.go
        Prop("appRoleId", required=True, force_new=True, uuid=True),
        Prop("principalObjectId", required=True, force_new=True, uuid=True),
        Prop("resourceObjectId", required=True, force_new=True, uuid=True),
    ),
    "/servicePrincipals/{resourceId}/appRoleAssignedTo/{id}",
)

SCHEMAS = {s.token: s for s in (SERVICE_PRINCIPAL, APPLICATION, DELEGATED_PERMISSION_GRANT, APP_ROLE_ASSIGNMENT)}
