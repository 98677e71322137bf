"""Pulumi's mock runtime over the in-memory Entra tenant: the azuread provider as a real tenant would answer.

``EntraMocks`` answers pulumi-azuread's invokes with the provider's camelCase wire names and turns each
``new_resource`` into the Graph write the provider would make on ``FakeTenant``, so Graph's rules hold:
a second grant for the same (client, resource, consent type, principal) is "Permission entry already
exists", an unknown scope or principal is refused, Microsoft Graph's service principal cannot be created
again. Beyond Graph, it enforces what the provider itself does:
- a service principal for an app id that already has one fails unless ``useExisting`` adopts it, and
  one for an app id that no application (here or published multi-tenant elsewhere) has is refused;
- ``import_`` reads the existing object instead of creating one (a missing one fails the import), then
  updates what differs, as Pulumi does since pulumi/pulumi#19339;
- every read and write must come through an explicit azuread provider bound to this tenant's id:
  anything else fails, the way credentials for another tenant would.
The tool's own consent settings resources (infra/program/settings_provider.py) are created as the engine creates
them: the dynamic provider is unpickled from the resource's ``__provider`` input, checked, then asked to
create, and it writes over HTTP to the Graph emulator that serves this same tenant (the program's reads go
there too), with Graph's shapes and rules.
It records every resource and invoke for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import itertools
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dill
import pulumi
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.runtime import MockCallArgs, MockResourceArgs
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _ensure_event_loop

from taxcalc_consent.infra.graph.client import GRAPH_ENDPOINT_ENV
from taxcalc_consent.infra.model.kinds import (
    admin_consent_workflow,
    app_registration,
    app_role_assignment,
    delegated_grant,
    service_principal,
    user_consent_setting,
)
from tests.fakes.entra import AppRoleAssignment, FakeTenant, GraphError, ServicePrincipal
from tests.fakes.entra_cloud import APPLY_ROLES, AUTOMATION_APP_ID, EmulatedCloud, serve_cloud
from tests.fakes.graph_emulator import GraphEmulator

PROVIDER_TYPE = "pulumi:providers:azuread"
# The program's type tokens, from the one module per kind; what each import id must look like is the
# provider's rule, written out below from its source, so a wrong id from the program is refused here.
SERVICE_PRINCIPAL = service_principal.TYPE
LEGACY_SERVICE_PRINCIPAL = service_principal.LEGACY_TYPE
APPLICATION = app_registration.TYPE
GRANT = delegated_grant.TYPE
APP_ROLE_ASSIGNMENT = app_role_assignment.TYPE
USER_CONSENT_SETTING = user_consent_setting.TYPE
ADMIN_CONSENT_WORKFLOW = admin_consent_workflow.TYPE
GET_USER = "azuread:index/getUser:getUser"
GET_USERS = "azuread:index/getUsers:getUsers"
GET_GROUP = "azuread:index/getGroup:getGroup"
GET_SERVICE_PRINCIPAL = "azuread:index/getServicePrincipal:getServicePrincipal"


class InvokeFailure(Exception):
    """A data source error, reported to the SDK as the provider reports it (a failed invoke)."""

    def __init__(self, prop: str, reason: str) -> None:
        super().__init__(reason)
        self.prop = prop
        self.reason = reason


@dataclass(frozen=True)
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    import_id: str
    id: str


@dataclass(frozen=True)
class RecordedOptions:
    """Resource options the engine sees but ``MockResourceArgs`` does not carry."""

    parent: str
    retain_on_delete: bool
    create_timeout: str = ""
    """``custom_timeouts.create`` ("30s"), or "" for the provider's own default."""


@dataclass(frozen=True)
class RecordedInvoke:
    token: str
    args: dict[str, Any]
    provider: str


class EntraMocks(pulumi.runtime.Mocks):
    """``pulumi.runtime.Mocks`` backed by one ``FakeTenant``."""

    def __init__(self, tenant: FakeTenant, published_apps: Mapping[str, str] | None = None) -> None:
        self.tenant = tenant
        self.published_apps = {app_id.lower(): name for app_id, name in (published_apps or {}).items()}
        """Multi-tenant applications registered in other tenants (app id -> name): a service principal
        can be created for these, as Graph does when a tenant first consents to a third-party app."""
        tenant.published_apps.update(self.published_apps)
        self.resources: list[RecordedResource] = []
        self.invokes: list[RecordedInvoke] = []
        self.providers: dict[str, dict[str, Any]] = {}
        self.options: dict[str, RecordedOptions] = {}
        """By logical name, filled by ``EntraMonitor``."""
        self.graph: GraphEmulator | None = None
        """The same tenant's Microsoft Graph, which the program reads groups from (``mocked_stack`` serves it)."""
        self.cloud: EmulatedCloud | None = None
        """The emulated cloud serving that Graph, where the program's own calls sign in (``mocked_stack``)."""
        self.retried: dict[str, float] = {}
        """Logical name -> seconds the provider would have spent retrying a create before giving up."""
        self._registering = ""
        self._ids = itertools.count(1)

    # -------------------------------------------------------------------------------------- queries

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"{len(found)} resources named {name!r}"
        return found[0]

    # -------------------------------------------------------------------------------------- invokes

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.invokes.append(RecordedInvoke(args.token, dict(args.args), args.provider))
        self._require_tenant_provider(args.provider, args.token)
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            GET_USER: self._get_user,
            GET_USERS: self._get_users,
            GET_GROUP: self._get_group,
            GET_SERVICE_PRINCIPAL: self._get_service_principal,
        }
        handler = handlers.get(args.token)
        if handler is None:
            raise NotImplementedError(f"the fake tenant does not answer {args.token}; add it to EntraMocks")
        try:
            return handler(dict(args.args)), []
        except InvokeFailure as failure:
            return {}, [(failure.prop, failure.reason)]

    def _get_user(self, a: dict[str, Any]) -> dict[str, Any]:
        if a.get("objectId"):
            user = self.tenant.users.get(str(a["objectId"]).lower())
            if user is None:
                raise InvokeFailure("objectId", f"User not found with object ID: {a['objectId']!r}")
        elif a.get("userPrincipalName"):
            try:
                user = self.tenant.user(str(a["userPrincipalName"]))
            except GraphError:
                raise InvokeFailure(
                    "userPrincipalName", f"User not found with UPN: {a['userPrincipalName']!r}"
                ) from None
        else:
            raise InvokeFailure("", "one of `object_id`, `user_principal_name`, ... must be specified")
        return _user_wire(user)

    def _get_users(self, a: dict[str, Any]) -> dict[str, Any]:
        found = []
        for oid in a.get("objectIds") or []:
            user = self.tenant.users.get(str(oid).lower())
            if user is None:
                # Graph answers 404 for an id that is not a user (a group, a service principal, a device).
                if not a.get("ignoreMissing"):
                    raise InvokeFailure("objectIds", f"User not found with object ID: {oid!r}")
                continue
            found.append(user)
        for upn in a.get("userPrincipalNames") or []:
            try:
                found.append(self.tenant.user(str(upn)))
            except GraphError:
                if not a.get("ignoreMissing"):
                    raise InvokeFailure("userPrincipalNames", f"User not found with UPN: {upn!r}") from None
        return {
            "id": "users#" + ",".join(u.id for u in found),
            "objectIds": [u.id for u in found],
            "userPrincipalNames": [u.user_principal_name for u in found],
            "users": [_user_wire(u) for u in found],
        }

    def _get_group(self, a: dict[str, Any]) -> dict[str, Any]:
        """terraform-provider-azuread's group data source (internal/services/groups/group_data_source.go)."""
        if a.get("objectId"):
            group = self.tenant.groups.get(str(a["objectId"]).lower())
            if group is None:
                raise InvokeFailure("objectId", f"No group found with object ID: {a['objectId']!r}")
        elif a.get("displayName"):
            # The filter is built with fmt.Sprintf("displayName eq '%s'", displayName): a quote in the name is
            # not doubled, and Graph refuses the filter (Microsoft365DSC/Microsoft365DSC#4358).
            query = f"displayName eq '{a['displayName']}'"
            if "'" in str(a["displayName"]):
                raise InvokeFailure(
                    "",
                    f"Retrieving groups for filter ({query}): unexpected status 400 (400 Bad Request) with error: "
                    f"BadRequest: Invalid filter clause: Syntax error at position {len(query) + 1} in '{query}'.",
                )
            wanted = str(a["displayName"]).lower()  # Graph's eq on displayName ignores case
            matches = [g for g in self.tenant.groups.values() if g.display_name.lower() == wanted]
            if not matches:
                raise InvokeFailure("displayName", f"No group found matching specified filter ({query})")
            if len(matches) > 1:
                raise InvokeFailure("displayName", f"More than one group found matching specified filter ({query})")
            group = matches[0]
        else:
            raise InvokeFailure("", "one of `display_name`, `mail_nickname` or `object_id` must be specified")
        if group.unified and self._app_only():
            # groupGetAdditional (groups.go) selects allowExternalSenders, ... for every Microsoft 365 group, and
            # Graph refuses those to app-only callers: terraform-provider-azuread#1866 and #1929 (both open).
            raise InvokeFailure(
                "",
                f'Could not retrieve group with object ID "/groups/{group.id}": retrieving additional fields: '
                "unexpected status 403 (403 Forbidden) with error: ErrorAccessDenied: Access is denied. "
                "Check credentials and try again.",
            )
        if a.get("includeTransitiveMembers"):
            raise NotImplementedError("transitive membership is not modelled; the program reads direct members")
        return {
            "id": f"/groups/{group.id}",
            "objectId": group.id,
            "displayName": group.display_name,
            "members": list(group.members),
            "types": list(group.group_types),
            "securityEnabled": not group.unified,
            "mailEnabled": group.unified,
        }

    def _app_only(self) -> bool:
        """Whether the provider signs in as an application (client secret, OIDC, managed identity: every CI
        setup) rather than as a user through the Azure CLI."""
        return not any(inputs.get("useCli") in (True, "true") for inputs in self.providers.values())

    def _get_service_principal(self, a: dict[str, Any]) -> dict[str, Any]:
        sp: ServicePrincipal | None
        if a.get("clientId"):
            sp = self.tenant.service_principal_by_app_id(str(a["clientId"]))
        elif a.get("objectId"):
            sp = self.tenant.service_principals.get(str(a["objectId"]).lower())
        else:
            matches = [s for s in self.tenant.service_principals.values() if s.display_name == a.get("displayName")]
            sp = matches[0] if len(matches) == 1 else None
        if sp is None:
            raise InvokeFailure("", f"Service principal not found: {a!r}")
        return _service_principal_wire(sp)

    # ------------------------------------------------------------------------------------ resources

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == PROVIDER_TYPE:
            provider_id = f"provider-{next(self._ids)}"
            self.providers[provider_id] = inputs
            self._record(args, inputs, provider_id)
            return provider_id, inputs
        if args.typ.startswith("azuread:"):
            self._require_tenant_provider(args.provider or "", args.typ)
        writers: dict[str, Callable[[dict[str, Any], str], tuple[str, dict[str, Any]]]] = {
            SERVICE_PRINCIPAL: self._dynamic,
            LEGACY_SERVICE_PRINCIPAL: self._service_principal,
            APPLICATION: self._application,
            GRANT: self._grant,
            APP_ROLE_ASSIGNMENT: self._app_role_assignment,
            USER_CONSENT_SETTING: self._dynamic,
            ADMIN_CONSENT_WORKFLOW: self._dynamic,
        }
        writer = writers.get(args.typ)
        if writer is None:
            if args.custom:
                raise NotImplementedError(f"the fake tenant does not create {args.typ}; add it to EntraMocks")
            resource_id, state = "", inputs  # a component: nothing to create
        else:
            self._registering = args.name
            resource_id, state = writer(inputs, args.resource_id or "")
        self._record(args, inputs, resource_id)
        return resource_id, state

    def _record(self, args: MockResourceArgs, inputs: dict[str, Any], resource_id: str) -> None:
        self.resources.append(
            RecordedResource(args.typ, args.name, inputs, args.provider or "", args.resource_id or "", resource_id)
        )

    def _require_tenant_provider(self, provider_ref: str, what: str) -> None:
        """Reads and writes must come through an explicit azuread provider for this tenant, like credentials."""
        urn, _, provider_id = provider_ref.rpartition("::")
        parts = urn.split("::")
        inputs = self.providers.get(provider_id)
        if inputs is None or len(parts) < 4 or parts[2].split("$")[-1] != PROVIDER_TYPE:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                f"{what} was not sent through an explicit azuread provider for tenant {self.tenant.tenant_id} "
                f"(provider {provider_ref!r})",
            )
        if str(inputs.get("tenantId", "")).lower() != self.tenant.tenant_id.lower():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                f"{what}: the provider's token is for tenant {inputs.get('tenantId')!r}, not {self.tenant.tenant_id}",
            )

    def _service_principal(self, inputs: dict[str, Any], import_id: str) -> tuple[str, dict[str, Any]]:
        app_id = str(inputs["clientId"]).lower()
        if import_id:
            # terraform-provider-azuread internal/services/serviceprincipals/service_principal_resource.go,
            # Importer: stable.ValidateServicePrincipalID, not the bare object id the SDK docstring shows.
            object_id = _imported("/servicePrincipals/", import_id)
            sp = self.tenant.service_principals.get(object_id.lower())
            if sp is None or sp.app_id != app_id:
                raise GraphError(404, "Request_ResourceNotFound", f"service principal {import_id!r} does not exist")
        else:
            sp = self.tenant.service_principal_by_app_id(app_id)
            if sp is not None and not inputs.get("useExisting"):
                # What pulumi-azuread says when use_existing is off and the tenant already has one.
                raise GraphError(
                    409,
                    "ImportAsExists",
                    f"A resource with the ID {sp.id!r} already exists - to be managed via Pulumi this resource "
                    "needs to be imported into the State",
                )
        tags = _expanded_tags(inputs)
        if sp is None:
            local = next((a for a in self.tenant.applications.values() if a.app_id == app_id), None)
            name = local.display_name if local is not None else self.published_apps.get(app_id)
            if name is None:
                # service_principal_resource.go: the create's RetryFunc retries this 400 until the create
                # timeout (10 minutes by default); the SDK fits its backoff into that deadline. Time is not
                # spent here: how long the provider would retry is recorded for the tests.
                timeout = _seconds(self.options[self._registering].create_timeout) if self._registering else 0.0
                self.retried[self._registering] = _sdk_retry_seconds(timeout or SERVICE_PRINCIPAL_CREATE_TIMEOUT)
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Could not create service principal: The appId '{app_id}' of the service principal does not "
                    "reference a valid application object.",
                )
            sp = self.tenant.add_service_principal(app_id, name, tags=tags)
        else:
            # With use_existing the provider's create calls its update, which PATCHes every property it manages,
            # unset ones included (service_principal_resource.go, servicePrincipalResourceCreate ->
            # servicePrincipalResourceUpdate): tags as the program set them (feature_tags, else tags, else none),
            # accountEnabled true unless configured, strings null (nullable.NoZero), sets and SAML settings empty.
            sp.tags = tags
            sp.account_enabled = inputs.get("accountEnabled", True) is not False
            sp.description = inputs.get("description") or None
            sp.notes = inputs.get("notes") or None
            sp.login_url = None
            sp.preferred_single_sign_on_mode = None
            sp.alternative_names = []
            sp.notification_email_addresses = []
            sp.saml_single_sign_on_settings = None
        sp.app_role_assignment_required = bool(inputs.get("appRoleAssignmentRequired", False))
        return sp.id, {**inputs, **_service_principal_wire(sp)}

    def _application(self, inputs: dict[str, Any], import_id: str) -> tuple[str, dict[str, Any]]:
        accesses = list(inputs.get("requiredResourceAccesses") or [])
        for block in accesses:
            resource = self.tenant.service_principal_by_app_id(str(block["resourceAppId"]))
            if resource is None:
                continue  # an API from another tenant: Graph takes its word for the ids
            for access in block.get("resourceAccesses") or []:
                table = resource.oauth2_permission_scopes if access["type"] == "Scope" else resource.app_roles
                if access["id"] not in table.values():
                    raise GraphError(
                        400,
                        "Request_BadRequest",
                        f"Invalid value specified for property 'resourceAccess' of resource 'Application': "
                        f"{access['type']} {access['id']} is not published by {block['resourceAppId']}",
                    )
        redirect_uris = list((inputs.get("publicClient") or {}).get("redirectUris") or [])
        if import_id:
            # internal/services/applications/application_resource.go, Importer: stable.ValidateApplicationID.
            object_id = _imported("/applications/", import_id)
            application = self.tenant.applications.get(object_id)
            if application is None:
                raise GraphError(404, "Request_ResourceNotFound", f"application {import_id!r} does not exist")
            application.display_name = str(inputs["displayName"])
            application.sign_in_audience = str(inputs.get("signInAudience", "AzureADMyOrg"))
            application.redirect_uris = redirect_uris
            application.required_resource_access = accesses
        else:
            application = self.tenant.create_application(
                str(inputs["displayName"]), str(inputs.get("signInAudience", "AzureADMyOrg")), redirect_uris, accesses
            )
        return f"/applications/{application.id}", {
            **inputs,
            "objectId": application.id,
            "clientId": application.app_id,
        }

    def _grant(self, inputs: dict[str, Any], import_id: str) -> tuple[str, dict[str, Any]]:
        client = str(inputs["servicePrincipalObjectId"])
        resource = str(inputs["resourceServicePrincipalObjectId"])
        principal = inputs.get("userObjectId") or None
        scope = " ".join(inputs.get("claimValues") or [])
        consent_type = "Principal" if principal else "AllPrincipals"
        if import_id:
            # internal/services/serviceprincipals/service_principal_delegated_permission_grant_resource.go,
            # Importer: stable.ValidateOAuth2PermissionGrantID.
            grant_id = _imported("/oauth2PermissionGrants/", import_id)
            existing = self.tenant.grants.get(grant_id)
            if existing is None:
                raise GraphError(404, "Request_ResourceNotFound", f"oauth2PermissionGrant {grant_id!r} does not exist")
            if (existing.client_id, existing.resource_id, existing.consent_type, existing.principal_id) != (
                client,
                resource,
                consent_type,
                principal,
            ):
                # These properties force replacement in pulumi-azuread: adopting the wrong grant would
                # delete a hand-made grant for somebody else. The adopt map is wrong; refuse loudly.
                raise GraphError(
                    409,
                    "ImportMismatch",
                    f"adopted grant {grant_id} is ({existing.consent_type}, principal {existing.principal_id}), "
                    f"but the program declares ({consent_type}, principal {principal})",
                )
            grant = self.tenant.update_grant(grant_id, scope) if existing.scope != scope else existing
        else:
            grant = self.tenant.create_grant(client, consent_type, principal, resource, scope)
        return f"/oauth2PermissionGrants/{grant.id}", {**inputs, "claimValues": grant.scopes}

    def _app_role_assignment(self, inputs: dict[str, Any], import_id: str) -> tuple[str, dict[str, Any]]:
        principal = str(inputs["principalObjectId"])
        resource = str(inputs["resourceObjectId"])
        role = str(inputs["appRoleId"])
        if import_id:
            prefix = f"/servicePrincipals/{resource}/appRoleAssignedTo/"
            existing = self.tenant.app_role_assignments.get(import_id.removeprefix(prefix))
            if not import_id.startswith(prefix) or existing is None:
                raise GraphError(404, "Request_ResourceNotFound", f"app role assignment {import_id!r} does not exist")
            if (existing.principal_id, existing.app_role_id) != (principal, role):
                raise GraphError(
                    409, "ImportMismatch", f"adopted app role assignment {existing.id} is for another principal or role"
                )
            assignment = existing
        else:
            assignment = self.tenant.create_app_role_assignment(principal, resource, role)
        sp = self.tenant.service_principals[resource]
        return f"/servicePrincipals/{resource}/appRoleAssignedTo/{assignment.id}", {
            **inputs,
            "principalType": assignment.principal_type,
            "resourceDisplayName": sp.display_name,
        }

    def _dynamic(self, inputs: dict[str, Any], import_id: str) -> tuple[str, dict[str, Any]]:
        """A ``pulumi.dynamic.Resource``, created as the engine's ``pulumi-resource-pulumi-python`` plugin does
        (pulumi/dynamic/__main__.py): unpickle the provider from ``__provider``, ``check``, then ``create``."""
        if import_id:
            raise GraphError(400, "ImportNotSupported", "the tool's own resources are never imported")
        if str(inputs.get("tenantId", "")).lower() != self.tenant.tenant_id.lower():
            # The provider signs in to the tenant its inputs name: another tenant's token, refused here.
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                f"the provider's token is for tenant {inputs.get('tenantId')!r}, not {self.tenant.tenant_id}",
            )
        provider = dill.loads(base64.b64decode(inputs[PROVIDER_KEY]))
        checked = provider.check({}, inputs)
        if checked.failures:
            raise ValueError("; ".join(f"{f.property}: {f.reason}" for f in checked.failures))
        created = provider.create(checked.inputs)
        return str(created.id), {**checked.inputs, **(created.outs or {})}


def _imported(prefix: str, import_id: str) -> str:
    """The object id in a provider import id of the form ``<prefix>{id}``; any other form fails the import,
    as the provider's ``ImporterValidatingResourceId`` does before any Graph request."""
    object_id = import_id.removeprefix(prefix)
    if object_id == import_id or not object_id or "/" in object_id:
        raise GraphError(400, "InvalidImportId", f"parsing {import_id!r}: expected an ID of the form {prefix}{{id}}")
    return object_id


SERVICE_PRINCIPAL_CREATE_TIMEOUT = 600.0
"""service_principal_resource.go: Timeouts.Create is 10 minutes."""

FEATURE_TAGS = {
    # internal/helpers/applications/applications.go, ExpandFeatures: each feature is a tag.
    "customSingleSignOn": "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
    "enterprise": "WindowsAzureActiveDirectoryIntegratedApp",
    "gallery": "WindowsAzureActiveDirectoryGalleryApplicationNonPrimaryV1",
    "hide": "HideApp",
}


def _expanded_tags(inputs: dict[str, Any]) -> list[str]:
    """The tags the provider sends: feature_tags expanded, else tags, else none."""
    features = inputs.get("featureTags") or []
    if features:
        block = features[0] or {}
        return [tag for feature, tag in FEATURE_TAGS.items() if block.get(feature)]
    return list(inputs.get("tags") or [])


def _seconds(duration: str) -> float:
    """A Pulumi custom timeout ("30s", "5m", "1h") in seconds."""
    if not duration:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def _sdk_retry_seconds(deadline: float) -> float:
    """go-azure-sdk sdk/client/client.go: with a deadline the retry count is safeRetryNumber(deadline), and
    n retries of the default backoff (1s doubling, at most 61s) take T(n) seconds in all."""
    if deadline <= 63:
        retries = max(math.floor(math.log2(deadline + 1)) - 1, 0)
        return float(2 ** (retries + 1) - 1)
    retries = (int(deadline) - 63) // 61 + 6
    return float(63 + 61 * (retries - 6))


def _user_wire(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "objectId": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "mail": user.mail or "",
        "accountEnabled": user.account_enabled,
    }


def _service_principal_wire(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id,
        "objectId": sp.id,
        "clientId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": sp.account_enabled,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "tags": list(sp.tags),
        "appRoleIds": dict(sp.app_roles),
        "oauth2PermissionScopeIds": dict(sp.oauth2_permission_scopes),
    }


class EntraMonitor(MockMonitor):
    """The mock engine, also recording each registration's parent and retain_on_delete."""

    def __init__(self, mocks: EntraMocks) -> None:
        super().__init__(mocks)
        self.entra = mocks

    def RegisterResource(self, request: Any) -> Any:  # the engine gRPC method name
        timeouts = request.customTimeouts
        self.entra.options[request.name] = RecordedOptions(
            request.parent, bool(request.retainOnDelete), timeouts.create if timeouts is not None else ""
        )
        return super().RegisterResource(request)


@contextmanager
def mocked_stack(
    mocks: EntraMocks, stack: str = "test", config: Mapping[str, str] | None = None
) -> Iterator[EntraMocks]:
    """Point Pulumi's runtime at ``mocks`` with a fresh root stack and ``config``; restore a clean runtime after.

    The program reads groups (and the consent settings provider writes) through the tool's own Graph client,
    signed in as the stack's azuread provider would be: the block also serves the same tenant in an emulated
    cloud (``mocks.cloud``; ``mocks.graph`` is its Graph), and gives the process the provider's variables for
    it (``ARM_METADATA_HOSTNAME``, the automation app's ``ARM_CLIENT_ID`` and ``ARM_CLIENT_SECRET``), so the
    program signs in there for real. Permissions are the automation app's roles in the tenant
    (``mocks.cloud.grant_only``).
    """
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(dict(config or {}))
    pulumi.runtime.set_mocks(mocks, project="taxcalc-consent", stack=stack, preview=False, monitor=EntraMonitor(mocks))
    saved = {name: os.environ.get(name) for name in (GRAPH_ENDPOINT_ENV, *_SIGN_IN_ENVIRONMENT)}
    try:
        with (
            serve_cloud([mocks.tenant], dict(mocks.published_apps), roles=APPLY_ROLES) as cloud,
            _short_replication_waits(),
        ):
            mocks.cloud = cloud
            mocks.graph = cloud.tenants[mocks.tenant.tenant_id.lower()]
            os.environ.pop(GRAPH_ENDPOINT_ENV, None)
            os.environ.update(
                {
                    **cloud.certificates.trust_environment(),
                    "ARM_METADATA_HOSTNAME": cloud.metadata_host,
                    "ARM_CLIENT_ID": cloud.automation.client_id,
                    "ARM_CLIENT_SECRET": cloud.automation.client_secret,
                }
            )
            yield mocks
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pulumi.runtime.set_all_config({})
        pulumi_settings.reset_options()
        settle_event_loop()


@contextmanager
def _short_replication_waits() -> Iterator[None]:
    """The service principal provider's waits on Entra replication, in milliseconds: the emulator answers at once
    (or after a set number of requests, with replication lag on), and a refused application id is refused for
    good, so the unit tests need the same retries, not the same minutes."""
    from taxcalc_consent.infra.program import service_principal_provider as provider

    saved = provider.WAITS
    provider.WAITS = provider.Waits(
        application_registered_here=0.5, application_elsewhere=0.2, readable=2, interval=0.01
    )
    try:
        yield
    finally:
        provider.WAITS = saved


def program_assignments(tenant: FakeTenant) -> list[AppRoleAssignment]:
    """The tenant's app role assignments, less the automation app's own Graph permissions: those are there
    so the program's own calls can sign in (``mocked_stack``), not made by the program."""
    automation = tenant.service_principal_by_app_id(AUTOMATION_APP_ID)
    return [a for a in tenant.app_role_assignments.values() if automation is None or a.principal_id != automation.id]


_SIGN_IN_ENVIRONMENT = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "ARM_METADATA_HOSTNAME",
    "ARM_CLIENT_ID",
    "ARM_CLIENT_SECRET",
)


def settle_event_loop() -> None:
    """Finish what a failed program left pending, and collect it now.

    When a resource fails, Pulumi abandons the other registrations mid-flight. Left alone, their
    coroutines are finalised by some later garbage collection, possibly inside ``ast.parse`` (pytest's
    assertion rewriting), where CPython 3.11 before 3.11.9 raises "AST constructor recursion depth
    mismatch" (python/cpython#106905). Cancelling them and collecting here keeps that deterministic.
    """
    loop = _ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending and not loop.is_running():
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    gc.collect()


def run(program: Callable[[], Any]) -> None:
    """Run ``program`` as a Pulumi program under the current mocks, waiting for every resource and output.

    A resource the fake tenant refuses, or an error the program raises, is raised here.
    """

    @pulumi.runtime.test
    def body() -> Any:
        return program()

    body()


def deploy_file(
    tenant: FakeTenant,
    tenant_file: Path,
    adopt: Mapping[str, str] | None = None,
    published_apps: Mapping[str, str] | None = None,
) -> tuple[EntraMocks, dict[str, Any]]:
    """Run the real program for ``tenant_file`` against ``tenant``; return the mocks and the component's outputs."""
    from taxcalc_consent.infra.program.component import TenantConsent
    from taxcalc_consent.infra.program.stack import deploy, load_plan
    from tests.fakes.example_tenants import PUBLISHED_APPS

    plan = load_plan(str(tenant_file))
    mocks = EntraMocks(tenant, PUBLISHED_APPS if published_apps is None else published_apps)
    outputs: dict[str, Any] = {}
    with mocked_stack(mocks, stack=plan.tenant):

        def program() -> pulumi.Output[Any]:
            consent: TenantConsent = deploy(plan, adopt)
            outputs["component"] = consent
            outputs["summary"] = consent.summary
            return pulumi.Output.all(consent.service_principal_object_id, consent.grant_ids).apply(
                lambda values: outputs.update(service_principal_object_id=values[0], grant_ids=values[1])
            )

        run(program)
    return mocks, outputs


def run_inline(
    tenant: FakeTenant,
    program: Callable[[], Any],
    stack: str,
    config: Mapping[str, Any],
    published_apps: Mapping[str, str] | None = None,
) -> EntraMocks:
    """Run an inline program (what ``cli.automation`` hands the engine) against ``tenant``, with the stack's
    config as the engine hands it to a language runtime: each value a string, an object one as JSON
    (pulumi/pulumi sdk/go/auto ``ConfigMap``; ``pulumi.Config.get_object`` parses it back)."""
    from tests.fakes.example_tenants import PUBLISHED_APPS

    mocks = EntraMocks(tenant, PUBLISHED_APPS if published_apps is None else published_apps)
    engine_config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    with mocked_stack(mocks, stack=stack, config=engine_config):
        run(program)
    return mocks
