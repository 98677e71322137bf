"""The four resources, each as terraform-provider-azuread 3.x creates, reads, updates and deletes it.

Every function takes the provider's ``GraphClient`` and a deadline (``time.monotonic()`` seconds) and
returns ``(resource id, outputs)``; outputs use pulumi-azuread's camelCase names. Ids are the provider's:
``/servicePrincipals/{id}``, ``/applications/{id}``, ``/oauth2PermissionGrants/{id}`` and
``/servicePrincipals/{resourceId}/appRoleAssignedTo/{id}`` (go-azure-sdk ``stable.New...ID(...).ID()``),
which are also the ids ``import`` takes.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.azuread_provider.graph import GraphClient, GraphRequestError, ODataError, ProviderError
from tests.fakes.azuread_provider.schema import SERVICE_PRINCIPAL, normalise

Outputs = dict[str, Any]
Result = tuple[str, Outputs]

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def escape(value: str) -> str:
    """go-azure-sdk odata.EscapeSingleQuote."""
    return value.replace("'", "''")


def parse_id(resource_id: str, pattern: str, example: str) -> re.Match[str]:
    """The provider's id parsers (stable.Parse...ID) refuse anything but their own format."""
    match = re.fullmatch(pattern, resource_id)
    if match is None:
        raise ProviderError(f'parsing "{resource_id}": expected an ID in the format "{example}"')
    return match


def typed(entity_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """An entity body as go-azure-sdk marshals it: each model's MarshalJSON adds ``@odata.type`` unless
    ``OmitDiscriminatedValue`` is set, which none of these resources set (go-azure-sdk
    microsoft-graph/common-types/stable/model_{serviceprincipal,application,oauth2permissiongrant,
    approleassignment}.go). Owner references (stable.ReferenceCreate) carry none."""
    return {"@odata.type": f"#microsoft.graph.{entity_type}", **body}


def _fail(summary: str, exc: Exception) -> ProviderError:
    # A Terraform diagnostic's summary and detail, as the bridge reports them.
    return ProviderError(f"{summary}: {exc}")


async def wait_for_deletion(graph: GraphClient, path: str, deadline: float) -> None:
    """internal/helpers/consistency: poll until the object reads as gone."""
    while True:
        try:
            await graph.request("GET", path, deadline=deadline)
        except GraphRequestError as exc:
            if exc.not_found:
                return
            raise
        if time.monotonic() >= deadline:
            raise ProviderError(f"waiting for deletion of {path}: timeout while waiting for state to become 'Deleted'")
        await _sleep(1.0)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


# --------------------------------------------------------------------------- service principal
# internal/services/serviceprincipals/service_principal_resource.go

SP_ID = rf"/servicePrincipals/(?P<id>{GUID})"


def _sp_retry(status: int, error: ODataError | None) -> bool:
    # CreateServicePrincipalOperationOptions.RetryFunc: a wrong (or not yet replicated) application id is
    # retried until the create timeout, as is a misleading 403 for a not yet replicated local application.
    if error is None:
        return False
    if status == 400:
        return error.matches(r"The appId '.+' of the service principal does not reference a valid application object")
    if status == 403:
        return error.matches(
            "When using this permission, the backing application of the service principal being created must in "
            "the local tenant"
        )
    return False


# internal/helpers/applications/applications.go ExpandFeatures / FlattenFeatures
FEATURE_TAGS = {
    "customSingleSignOn": "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
    "enterprise": "WindowsAzureActiveDirectoryIntegratedApp",
    "gallery": "WindowsAzureActiveDirectoryGalleryApplicationNonPrimaryV1",
    "hide": "HideApp",
}


def expand_features(blocks: Any) -> list[str]:
    block = blocks[0] if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else {}
    return [tag for name, tag in FEATURE_TAGS.items() if block.get(name)]


def flatten_features(tags: list[str]) -> list[dict[str, bool]]:
    lowered = {t.lower() for t in tags}
    return [{name: tag.lower() in lowered for name, tag in FEATURE_TAGS.items()}]


def _sp_tags(inputs: dict[str, Any], olds: dict[str, Any]) -> list[str]:
    """The tags servicePrincipalResourceUpdate sends: feature_tags expanded when set and changed, else the
    ``tags`` set (from the program, or from the state: it is Optional+Computed). So an adopted service
    principal loses every tag the program does not ask for, unless the program asks for some."""
    features = inputs.get("featureTags")
    prop = SERVICE_PRINCIPAL.prop("featureTags")
    assert prop is not None
    if features and normalise(prop, features) != normalise(prop, olds.get("featureTags")):
        return expand_features(features)
    return list(inputs.get("tags") if inputs.get("tags") is not None else olds.get("tags") or [])


def _sp_properties(inputs: dict[str, Any], olds: dict[str, Any]) -> dict[str, Any]:
    """The body servicePrincipalResourceUpdate PATCHes: every property it manages, whether the program set it or
    not (service_principal_resource.go, ``properties`` in servicePrincipalResourceUpdate):
    - ``accountEnabled`` as configured, default true (``nullable.Value``): a disabled app is enabled again;
    - ``description``, ``notes``, ``loginUrl``, ``preferredSingleSignOnMode`` as null when unset (``nullable.NoZero``):
      what an administrator wrote is cleared;
    - ``alternativeNames`` and ``notificationEmailAddresses`` as the configured sets, ``[]`` when unset;
    - ``samlSingleSignOnSettings`` as ``{}`` when unset (serviceprincipals.go ``expandSamlSingleSignOn``);
    - tags (``_sp_tags``)."""
    saml = inputs.get("samlSingleSignOn") or []
    relay = saml[0].get("relayState") if saml and isinstance(saml[0], dict) else None
    return {
        "accountEnabled": inputs.get("accountEnabled", True) is not False,
        "alternativeNames": list(inputs.get("alternativeNames") or []),
        "appRoleAssignmentRequired": bool(inputs.get("appRoleAssignmentRequired", False)),
        "description": inputs.get("description") or None,
        "loginUrl": inputs.get("loginUrl") or None,
        "notes": inputs.get("notes") or None,
        "notificationEmailAddresses": list(inputs.get("notificationEmailAddresses") or []),
        "preferredSingleSignOnMode": inputs.get("preferredSingleSignOnMode") or None,
        "samlSingleSignOnSettings": {"relayState": relay} if relay is not None else {},
        "tags": _sp_tags(inputs, olds),
    }


async def service_principal_create(graph: GraphClient, inputs: dict[str, Any], deadline: float) -> Result:
    client_id = str(inputs["clientId"])
    try:
        existing = await graph.list(
            "/servicePrincipals", deadline=deadline, params={"$filter": f"appId eq '{escape(client_id)}'"}
        )
    except GraphRequestError as exc:
        raise _fail("Could not list existing service principals", exc) from None
    if len(existing) > 1:
        raise ProviderError(
            "Could not list existing service principals: unexpected number of service principals returned "
            f"(expected: 1, received: {len(existing)}"
        )
    if existing:
        object_id = str(existing[0].get("id") or "")
        if not object_id:
            raise ProviderError("API error: service principal returned with nil or empty object ID")
        resource_id = f"/servicePrincipals/{object_id}"
        if inputs.get("useExisting"):
            # use_existing: adopt it, then run the update, which PATCHes every managed property (tags too).
            return await service_principal_update(graph, resource_id, inputs, {}, deadline)
        # tf.ImportAsExistsDiag (internal/helpers/tf/errors.go): summary and detail.
        raise ProviderError(
            f'A resource with the ID "{resource_id}" already exists: To be managed via Terraform, this resource '
            "needs to be imported into the State. Please see the resource documentation for "
            '"azuread_service_principal" for more information.'
        )

    owners = [str(o) for o in inputs.get("owners") or []]
    caller = graph.caller_object_id
    bind = [graph.directory_object_url(caller)] + [graph.directory_object_url(o) for o in owners if o.lower() != caller]
    # Create: feature_tags when set (GetOk), else tags (service_principal_resource.go create).
    body = {
        **_sp_properties(inputs, {}),
        "appId": client_id,
        # A temporary description: patching it afterwards shows whether the new object is readable yet.
        "description": f"TERRAFORM_UPDATE_{uuid.uuid4()}",
        "owners@odata.bind": bind,
    }
    try:
        created = await graph.request(
            "POST", "/servicePrincipals", deadline=deadline, body=typed("servicePrincipal", body), retry=_sp_retry
        )
    except GraphRequestError as exc:
        raise _fail("Could not create service principal", exc) from None
    object_id = str(created.get("id") or "")
    if not object_id:
        raise ProviderError("Bad API response: object ID returned for service principal is nil")
    resource_id = f"/servicePrincipals/{object_id}"
    try:
        # DefaultUpdateServicePrincipalOperationOptions: no retry function, so go-azure-sdk does not retry a 404
        # (sdk/client/client.go retries 404 only where the operation gives one; terraform-provider-azuread#1811):
        # a service principal not yet replicated fails the create here, whatever the comment above it says.
        await graph.request(
            "PATCH",
            f"/servicePrincipals/{object_id}",
            deadline=deadline,
            body=typed("servicePrincipal", {"description": inputs.get("description") or None}),
        )
    except GraphRequestError as exc:
        if exc.not_found:
            raise _fail(
                "Timed out whilst waiting for new service principal to be replicated in Azure AD", exc
            ) from None
        raise _fail("Failed to patch service principal after creating", exc) from None
    if caller.lower() not in {o.lower() for o in owners}:
        try:
            await graph.request("DELETE", f"/servicePrincipals/{object_id}/owners/{caller}/$ref", deadline=deadline)
        except GraphRequestError as exc:
            raise _fail(f"Could not remove initial owner from {resource_id}", exc) from None
    return await service_principal_read(graph, resource_id, {"useExisting": inputs.get("useExisting")}, deadline)


async def service_principal_update(
    graph: GraphClient, resource_id: str, inputs: dict[str, Any], olds: dict[str, Any], deadline: float
) -> Result:
    object_id = parse_id(resource_id, SP_ID, "/servicePrincipals/{servicePrincipalId}")["id"]
    try:
        await graph.request(
            "PATCH",
            f"/servicePrincipals/{object_id}",
            deadline=deadline,
            body=typed("servicePrincipal", _sp_properties(inputs, olds)),
        )
    except GraphRequestError as exc:
        raise _fail(f"Updating {resource_id}", exc) from None
    # d.HasChange("owners"): owners is Optional and not Computed, so config without owners is the empty set, and
    # after the read put the tenant's owners into state, every later update removes them all.
    if {str(o).lower() for o in inputs.get("owners") or []} != {str(o).lower() for o in olds.get("owners") or []}:
        current = await graph.list(f"/servicePrincipals/{object_id}/owners", deadline=deadline)
        have = {str(o["id"]) for o in current}
        want = {str(o) for o in inputs.get("owners") or []}
        for owner in sorted(want - have):
            await graph.request(
                "POST",
                f"/servicePrincipals/{object_id}/owners/$ref",
                deadline=deadline,
                body={"@odata.id": graph.directory_object_url(owner)},
            )
        for owner in sorted(have - want):
            await graph.request("DELETE", f"/servicePrincipals/{object_id}/owners/{owner}/$ref", deadline=deadline)
    return await service_principal_read(graph, resource_id, {"useExisting": inputs.get("useExisting")}, deadline)


async def service_principal_read(
    graph: GraphClient, resource_id: str, carried: dict[str, Any], deadline: float
) -> Result:
    """("", {}) when the service principal is gone: the engine then drops it from the state."""
    object_id = parse_id(resource_id, SP_ID, "/servicePrincipals/{servicePrincipalId}")["id"]
    try:
        sp = await graph.request("GET", f"/servicePrincipals/{object_id}", deadline=deadline)
    except GraphRequestError as exc:
        if exc.not_found:
            return "", {}
        raise _fail(f"Retrieving {resource_id}", exc) from None
    try:
        beta = await graph.request(
            "GET",
            f"/servicePrincipals/{object_id}",
            version="beta",
            deadline=deadline,
            params={"$select": "samlMetadataUrl"},
        )
        owners = await graph.list(f"/servicePrincipals/{object_id}/owners", deadline=deadline)
    except GraphRequestError as exc:
        raise _fail(f"Retrieving {resource_id} (beta API)", exc) from None
    app_id = str(sp.get("appId") or "")
    outputs = {
        **service_principal_outputs(sp),
        "samlMetadataUrl": beta.get("samlMetadataUrl") or "",
        "owners": [str(o.get("id")) for o in owners],
        "servicePrincipalNames": [n for n in sp.get("servicePrincipalNames") or [] if n.lower() != app_id.lower()],
    }
    if carried.get("useExisting") is not None:
        outputs["useExisting"] = carried["useExisting"]
    return f"/servicePrincipals/{object_id}", outputs


def service_principal_outputs(sp: dict[str, Any]) -> Outputs:
    """The attributes the resource and the data source set from a service principal (tf.Set calls).

    Disabled roles and scopes are kept, in the id maps too: internal/helpers/applications/applications.go
    ``FlattenAppRoleIDs``/``FlattenOAuth2PermissionScopeIDs`` map every value to its id whatever ``isEnabled``
    says, and ``FlattenAppRoles``/``FlattenOAuth2PermissionScopes`` set ``enabled`` from it (absent: false)."""
    roles = list(sp.get("appRoles") or [])
    scopes = list(sp.get("oauth2PermissionScopes") or [])
    return {
        "accountEnabled": bool(sp.get("accountEnabled")),
        "alternativeNames": list(sp.get("alternativeNames") or []),
        "appRoleAssignmentRequired": bool(sp.get("appRoleAssignmentRequired")),
        "appRoleIds": {str(r.get("value")): str(r.get("id")) for r in roles if r.get("value") and r.get("id")},
        "appRoles": [
            {
                "allowedMemberTypes": list(r.get("allowedMemberTypes") or []),
                "description": r.get("description") or "",
                "displayName": r.get("displayName") or "",
                "enabled": r.get("isEnabled") is True,
                "id": str(r.get("id")),
                "value": r.get("value") or "",
            }
            for r in roles
        ],
        "applicationTenantId": sp.get("appOwnerOrganizationId") or "",
        "clientId": sp.get("appId") or "",
        "description": sp.get("description") or "",
        "displayName": sp.get("displayName") or "",
        "notes": sp.get("notes") or "",
        "oauth2PermissionScopeIds": {
            str(s.get("value")): str(s.get("id")) for s in scopes if s.get("value") and s.get("id")
        },
        "oauth2PermissionScopes": [
            {
                "adminConsentDescription": s.get("adminConsentDescription") or "",
                "adminConsentDisplayName": s.get("adminConsentDisplayName") or "",
                "enabled": s.get("isEnabled") is True,
                "id": str(s.get("id")),
                "type": s.get("type") or "",
                "userConsentDescription": s.get("userConsentDescription") or "",
                "userConsentDisplayName": s.get("userConsentDisplayName") or "",
                "value": s.get("value") or "",
            }
            for s in scopes
        ],
        "objectId": sp.get("id") or "",
        "signInAudience": sp.get("signInAudience") or "",
        "tags": list(sp.get("tags") or []),
        "featureTags": flatten_features(list(sp.get("tags") or [])),
        "type": sp.get("servicePrincipalType") or "",
    }


async def service_principal_delete(graph: GraphClient, resource_id: str, olds: dict[str, Any], deadline: float) -> None:
    object_id = parse_id(resource_id, SP_ID, "/servicePrincipals/{servicePrincipalId}")["id"]
    use_existing = bool(olds.get("useExisting"))
    try:
        await graph.request("DELETE", f"/servicePrincipals/{object_id}", deadline=deadline)
    except GraphRequestError as exc:
        # With use_existing the delete is still sent, but its failure is ignored (servicePrincipalResourceDelete).
        if not use_existing:
            raise _fail(f"Deleting {resource_id}", exc) from None
        return
    if not use_existing:
        await wait_for_deletion(graph, f"/servicePrincipals/{object_id}", deadline)


# ---------------------------------------------------------------- delegated permission grant
# internal/services/serviceprincipals/service_principal_delegated_permission_grant_resource.go

GRANT_ID = r"/oauth2PermissionGrants/(?P<id>[A-Za-z0-9_-]+)"


def _grant_retry(status: int, error: ODataError | None) -> bool:
    if status == 404:
        return True
    return (
        status == 400
        and error is not None
        and error.matches("does not exist or one of its queried reference-property objects are not present")
    )


async def grant_create(graph: GraphClient, inputs: dict[str, Any], deadline: float) -> Result:
    client = str(inputs["servicePrincipalObjectId"])
    resource = str(inputs["resourceServicePrincipalObjectId"])
    for object_id, what in ((client, ""), (resource, " for resource")):
        try:
            await graph.request("GET", f"/servicePrincipals/{object_id}", deadline=deadline)
        except GraphRequestError as exc:
            if exc.not_found:
                raise _fail(f"/servicePrincipals/{object_id} not found{what}", exc) from None
            raise _fail(f"Could not retrieve /servicePrincipals/{object_id}{what}", exc) from None
    body: dict[str, Any] = {
        "clientId": client,
        "resourceId": resource,
        "scope": " ".join(inputs.get("claimValues") or []) or None,
    }
    if inputs.get("userObjectId"):
        body["principalId"] = str(inputs["userObjectId"])
        body["consentType"] = "Principal"
    else:
        body["consentType"] = "AllPrincipals"
    try:
        created = await graph.request(
            "POST",
            "/oauth2PermissionGrants",
            deadline=deadline,
            body=typed("oAuth2PermissionGrant", body),
            retry=_grant_retry,
        )
    except GraphRequestError as exc:
        # A grant that already exists (consented by hand) is Graph's 409, never retried: "adopt" exists for it.
        raise _fail("Could not create delegated permission grant", exc) from None
    grant_id = str(created.get("id") or "")
    if not grant_id:
        raise ProviderError("Bad API response: ID returned for delegated permission grant is nil")
    return await grant_read(graph, f"/oauth2PermissionGrants/{grant_id}", deadline)


async def grant_update(graph: GraphClient, resource_id: str, inputs: dict[str, Any], deadline: float) -> Result:
    grant_id = parse_id(resource_id, GRANT_ID, "/oauth2PermissionGrants/{oAuth2PermissionGrantId}")["id"]
    body = typed("oAuth2PermissionGrant", {"scope": " ".join(inputs.get("claimValues") or []) or None})
    try:
        await graph.request("PATCH", f"/oauth2PermissionGrants/{grant_id}", deadline=deadline, body=body)
    except GraphRequestError as exc:
        raise _fail(f"Updating {resource_id}", exc) from None
    return await grant_read(graph, resource_id, deadline)


async def grant_read(graph: GraphClient, resource_id: str, deadline: float) -> Result:
    grant_id = parse_id(resource_id, GRANT_ID, "/oauth2PermissionGrants/{oAuth2PermissionGrantId}")["id"]
    try:
        grant = await graph.request("GET", f"/oauth2PermissionGrants/{grant_id}", deadline=deadline)
    except GraphRequestError as exc:
        if exc.not_found:
            return "", {}
        raise _fail(f'Retrieving Delegated Permission Grant with ID "{resource_id}"', exc) from None
    return resource_id, {
        "claimValues": str(grant.get("scope") or "").split(),
        "resourceServicePrincipalObjectId": grant.get("resourceId") or "",
        "servicePrincipalObjectId": grant.get("clientId") or "",
        "userObjectId": grant.get("principalId") or "",
    }


async def grant_delete(graph: GraphClient, resource_id: str, deadline: float) -> None:
    grant_id = parse_id(resource_id, GRANT_ID, "/oauth2PermissionGrants/{oAuth2PermissionGrantId}")["id"]
    try:
        await graph.request("DELETE", f"/oauth2PermissionGrants/{grant_id}", deadline=deadline)
    except GraphRequestError as exc:
        raise _fail(f"Deleting {resource_id}", exc) from None


# ------------------------------------------------------------------------ app role assignment
# internal/services/approleassignments/app_role_assignment_resource.go

ASSIGNMENT_ID = rf"/servicePrincipals/(?P<resource>{GUID})/appRoleAssignedTo/(?P<id>[A-Za-z0-9_-]+)"


def _assignment_retry(status: int, error: ODataError | None) -> bool:
    if status == 404:
        return True
    return status == 400 and error is not None and error.matches("Not a valid reference update")


async def assignment_create(graph: GraphClient, inputs: dict[str, Any], deadline: float) -> Result:
    resource = str(inputs["resourceObjectId"])
    try:
        await graph.request("GET", f"/servicePrincipals/{resource}", deadline=deadline)
    except GraphRequestError as exc:
        if exc.not_found:
            raise _fail(f'Service principal not found for resource (Object ID: "{resource}")', exc) from None
        raise _fail(f'Could not retrieve service principal for resource (Object ID: "{resource}")', exc) from None
    body = {"appRoleId": inputs["appRoleId"], "principalId": inputs["principalObjectId"], "resourceId": resource}
    try:
        created = await graph.request(
            "POST",
            f"/servicePrincipals/{resource}/appRoleAssignedTo",
            deadline=deadline,
            body=typed("appRoleAssignment", body),
            retry=_assignment_retry,
        )
    except GraphRequestError as exc:
        raise _fail("Could not create app role assignment", exc) from None
    if not created.get("id") or not created.get("resourceId"):
        raise ProviderError("Bad API response: the ID returned for app role assignment is nil")
    return await assignment_read(
        graph, f"/servicePrincipals/{created['resourceId']}/appRoleAssignedTo/{created['id']}", deadline
    )


async def assignment_read(graph: GraphClient, resource_id: str, deadline: float) -> Result:
    parts = parse_id(
        resource_id, ASSIGNMENT_ID, "/servicePrincipals/{servicePrincipalId}/appRoleAssignedTo/{appRoleAssignmentId}"
    )
    try:
        found = await graph.request(
            "GET", f"/servicePrincipals/{parts['resource']}/appRoleAssignedTo/{parts['id']}", deadline=deadline
        )
    except GraphRequestError as exc:
        if exc.not_found:
            return "", {}
        raise _fail(f"retrieving {resource_id}", exc) from None
    return resource_id, {
        "appRoleId": found.get("appRoleId") or "",
        "principalDisplayName": found.get("principalDisplayName") or "",
        "principalObjectId": found.get("principalId") or "",
        "principalType": found.get("principalType") or "",
        "resourceDisplayName": found.get("resourceDisplayName") or "",
        "resourceObjectId": found.get("resourceId") or "",
    }


async def assignment_delete(graph: GraphClient, resource_id: str, deadline: float) -> None:
    parts = parse_id(
        resource_id, ASSIGNMENT_ID, "/servicePrincipals/{servicePrincipalId}/appRoleAssignedTo/{appRoleAssignmentId}"
    )
    try:
        await graph.request(
            "DELETE", f"/servicePrincipals/{parts['resource']}/appRoleAssignedTo/{parts['id']}", deadline=deadline
        )
    except GraphRequestError as exc:
        raise _fail(f"Deleting {resource_id}: {exc}", exc) from None


# -------------------------------------------------------------------------------- application
# internal/services/applications/application_resource.go (the properties the program sets)

APP_ID = rf"/applications/(?P<id>{GUID})"


def _app_update_retry(status: int, error: ODataError | None) -> bool:
    # applicationUpdateRetryFunc (applications.go): 404 and 409 while the new object replicates.
    if status in (404, 409):
        return True
    return (
        status == 400
        and error is not None
        and error.matches("Permission \\(scope or role\\) cannot be deleted or updated unless disabled first")
    )


def _app_properties(inputs: dict[str, Any]) -> dict[str, Any]:
    public_client = inputs.get("publicClient") or {}
    return {
        "description": inputs.get("description") or None,
        "displayName": inputs["displayName"],
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": False,
        "isFallbackPublicClient": False,
        "notes": inputs.get("notes") or None,
        "publicClient": {"redirectUris": list(public_client.get("redirectUris") or [])},
        "requiredResourceAccess": [
            {
                "resourceAppId": block.get("resourceAppId"),
                "resourceAccess": [
                    {"id": access.get("id"), "type": access.get("type")}
                    for access in block.get("resourceAccesses") or []
                ],
            }
            for block in inputs.get("requiredResourceAccesses") or []
        ],
        "signInAudience": inputs.get("signInAudience") or "AzureADMyOrg",
        "tags": list(inputs.get("tags") or []),
    }


async def application_create(graph: GraphClient, inputs: dict[str, Any], deadline: float) -> Result:
    caller = graph.caller_object_id
    owners = [str(o) for o in inputs.get("owners") or []]
    body = {
        **_app_properties(inputs),
        "appRoles": [],
        "owners@odata.bind": [graph.directory_object_url(caller)]
        + [graph.directory_object_url(o) for o in owners if o.lower() != caller],
    }
    try:
        created = await graph.request("POST", "/applications", deadline=deadline, body=typed("application", body))
    except GraphRequestError as exc:
        raise _fail("Could not create application", exc) from None
    object_id = str(created.get("id") or "")
    if not object_id:
        raise ProviderError("Object ID returned for application is nil/empty: bad API response")
    # Patch the display name to a temporary value and back: it shows whether the new object is readable yet.
    for display_name in (f"TERRAFORM_UPDATE_{uuid.uuid4()}", str(inputs["displayName"])):
        try:
            await graph.request(
                "PATCH",
                f"/applications/{object_id}",
                deadline=deadline,
                body=typed("application", {"displayName": display_name}),
                retry=_app_update_retry,
            )
        except GraphRequestError as exc:
            if exc.not_found:
                raise _fail("Timed out whilst waiting for new application to be replicated in Azure AD", exc) from None
            raise _fail(f'Failed to patch application with object ID "{object_id}" after creating', exc) from None
    if caller.lower() not in {o.lower() for o in owners}:
        try:
            await graph.request("DELETE", f"/applications/{object_id}/owners/{caller}/$ref", deadline=deadline)
        except GraphRequestError as exc:
            raise _fail(f'Could not remove initial owner from application with object ID: "{object_id}"', exc) from None
    return await application_read(graph, f"/applications/{object_id}", deadline)


async def application_update(graph: GraphClient, resource_id: str, inputs: dict[str, Any], deadline: float) -> Result:
    object_id = parse_id(resource_id, APP_ID, "/applications/{applicationId}")["id"]
    try:
        await graph.request(
            "PATCH",
            f"/applications/{object_id}",
            deadline=deadline,
            body=typed("application", _app_properties(inputs)),
            retry=_app_update_retry,
        )
    except GraphRequestError as exc:
        raise _fail(f"Could not update application with object ID: {object_id!r}", exc) from None
    return await application_read(graph, resource_id, deadline)


async def application_read(graph: GraphClient, resource_id: str, deadline: float) -> Result:
    object_id = parse_id(resource_id, APP_ID, "/applications/{applicationId}")["id"]
    try:
        app = await graph.request("GET", f"/applications/{object_id}", deadline=deadline)
    except GraphRequestError as exc:
        if exc.not_found:
            return "", {}
        raise _fail(f"retrieving {resource_id}", exc) from None
    try:
        await graph.request(
            "GET",
            f"/applications/{object_id}",
            version="beta",
            deadline=deadline,
            params={"$select": "oauth2RequirePostResponse"},
        )
        owners = await graph.list(f"/applications/{object_id}/owners", deadline=deadline)
    except GraphRequestError as exc:
        raise _fail(f"Retrieving additional properties for {resource_id}", exc) from None
    public_client = app.get("publicClient") or {}
    return resource_id, {
        "appRoleIds": {},
        "clientId": app.get("appId") or "",
        "description": app.get("description") or "",
        "disabledByMicrosoft": "<nil>",
        "displayName": app.get("displayName") or "",
        "notes": app.get("notes") or "",
        "oauth2PermissionScopeIds": {},
        "objectId": app.get("id") or "",
        "owners": [str(o.get("id")) for o in owners],
        "publicClient": {"redirectUris": list(public_client.get("redirectUris") or [])},
        "publisherDomain": app.get("publisherDomain") or "",
        "requiredResourceAccesses": [
            {
                "resourceAppId": block.get("resourceAppId") or "",
                "resourceAccesses": [
                    {"id": access.get("id") or "", "type": access.get("type") or ""}
                    for access in block.get("resourceAccess") or []
                ],
            }
            for block in app.get("requiredResourceAccess") or []
        ],
        "signInAudience": app.get("signInAudience") or "",
        "tags": list(app.get("tags") or []),
    }


async def application_delete(graph: GraphClient, resource_id: str, deadline: float) -> None:
    object_id = parse_id(resource_id, APP_ID, "/applications/{applicationId}")["id"]
    try:
        await graph.request("DELETE", f"/applications/{object_id}", deadline=deadline)
    except GraphRequestError as exc:
        raise _fail(f"deleting {resource_id}: {exc}", exc) from None
    await wait_for_deletion(graph, f"/applications/{object_id}", deadline)


Reader = Callable[[GraphClient, str, dict[str, Any], float], Awaitable[Result]]
