"""The test azuread provider, driven method by method (no engine), against the emulated cloud over HTTP.

Each test checks a behaviour of terraform-provider-azuread the provider reproduces, and the requests it
sent: the real engine tests (tests/engine/) rely on these being right.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pulumi.provider.experimental.provider import (
    CheckRequest,
    ConfigureRequest,
    CreateRequest,
    DeleteRequest,
    DiffRequest,
    InvokeRequest,
    ReadRequest,
    UpdateRequest,
)

from tests.conftest import CLIENT_ID
from tests.fakes import consent_tenants as scenarios
from tests.fakes.azuread_provider import graph as graph_module
from tests.fakes.azuread_provider import resources
from tests.fakes.azuread_provider.graph import Endpoints, GraphClient, ProviderError
from tests.fakes.azuread_provider.plugin import sdk_plugin_version, write_plugin_folder
from tests.fakes.azuread_provider.provider import TIMEOUT_ENV, AzureADProvider
from tests.fakes.azuread_provider.schema import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    DELEGATED_PERMISSION_GRANT,
    SERVICE_PRINCIPAL,
)
from tests.fakes.azuread_provider.values import UNKNOWN, plain_map, wrap_map
from tests.fakes.entra import DEFAULT_ROLE_ID, FakeTenant
from tests.fakes.entra_cloud import AutomationApp, EmulatedCloud, serve_cloud
from tests.fakes.example_tenants import PUBLISHED_APPS
from tests.fakes.graph_emulator import GraphEmulator, serve

TENANT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
SCOPES = ["openid", "profile", "User.Read"]


def urn(schema_token: str, name: str) -> str:
    return f"urn:pulumi:t::taxcalc-consent::taxcalc-consent:index:TenantConsent${schema_token}::{name}"


@pytest.fixture
def tenant() -> FakeTenant:
    tenant = FakeTenant(TENANT_ID)
    tenant.add_user("alice@fabrikam.com", "Alice")
    tenant.add_user("o'brien@fabrikam.com", "Pat O'Brien")
    return tenant


@pytest.fixture
def cloud(tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCloud]:
    with serve_cloud([tenant], PUBLISHED_APPS) as running:
        for name, value in running.certificates.trust_environment().items():
            monkeypatch.setenv(name, value)
        yield running


OPEN: list[AzureADProvider] = []


def run(coroutine: Any) -> Any:
    """Run a scenario, closing the providers it configured (their HTTP connections) in the same loop."""

    async def scenario() -> Any:
        try:
            return await coroutine
        finally:
            while OPEN:
                await OPEN.pop().close()

    # Not asyncio.run: it leaves the main thread with no current event loop, which Pulumi's mock runtime
    # (other tests in this session) expects to find.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


async def configured(cloud: EmulatedCloud, secret: str | None = None, tenant_id: str = TENANT_ID) -> AzureADProvider:
    provider = AzureADProvider()
    OPEN.append(provider)
    args = {
        "tenantId": tenant_id,
        "clientId": cloud.automation.client_id,
        "clientSecret": secret or cloud.automation.client_secret,
        "metadataHost": cloud.metadata_host,
        "useCli": False,
    }
    await provider.configure(ConfigureRequest({}, wrap_map(args, {"clientSecret"}), True, False))
    return provider


async def create(
    provider: AzureADProvider, token: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    response = await provider.create(CreateRequest(urn(token, name), wrap_map(inputs), 0, False))
    assert response.resource_id is not None
    return response.resource_id, plain_map(response.properties)


def requests(cloud: EmulatedCloud, since: int = 0) -> list[tuple[str, str]]:
    emulator = cloud.tenants[TENANT_ID]
    return [(r.method, f"/{r.version}{r.path}") for r in emulator.requests[since:]]


# ----------------------------------------------------------------------------------- sign-in


def test_configure_discovers_the_endpoints_and_signs_in_as_the_automation_identity(cloud: EmulatedCloud) -> None:
    async def scenario() -> dict[str, Any]:
        provider = await configured(cloud)
        return await provider.graph.request("GET", "/servicePrincipals", deadline=1e12)

    answer = run(scenario())
    assert any(sp["appId"] == cloud.automation.client_id for sp in answer["value"])
    assert [(r.tenant_id, r.credential, r.issued) for r in cloud.token_requests] == [(TENANT_ID, "client_secret", True)]


def test_a_wrong_secret_fails_with_entras_error_and_never_shows_the_secret(cloud: EmulatedCloud) -> None:
    with pytest.raises(ProviderError) as failure:
        run(configured(cloud, secret="not-the-secret-value-123"))
    assert "AADSTS7000215" in str(failure.value)
    assert "not-the-secret-value-123" not in str(failure.value)


def test_an_unknown_tenant_fails_at_sign_in(cloud: EmulatedCloud) -> None:
    with pytest.raises(ProviderError, match="AADSTS90002"):
        run(configured(cloud, tenant_id="11111111-2222-4333-8444-555555555555"))


# -------------------------------------------------------------------------- service principal


def test_a_new_service_principal_is_created_owned_then_released_by_the_caller(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        provider = await configured(cloud)
        return await create(
            provider,
            SERVICE_PRINCIPAL.token,
            "hub",
            {"clientId": CLIENT_ID, "useExisting": True, "appRoleAssignmentRequired": True},
        )

    start = len(cloud.tenants[TENANT_ID].requests)
    resource_id, outputs = run(scenario())
    sp = tenant.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None and resource_id == f"/servicePrincipals/{sp.id}"
    assert outputs["objectId"] == sp.id and outputs["displayName"] == "TaxCalc-Hub"
    assert outputs["useExisting"] is True and sp.app_role_assignment_required is True
    # service_principal_resource.go: list by appId, POST (caller as owner, temporary description), PATCH the
    # description, remove the caller as owner, then read (v1.0, beta samlMetadataUrl, owners).
    assert [m for m, _ in requests(cloud, start)] == ["GET", "POST", "PATCH", "DELETE", "GET", "GET", "GET"]
    caller = tenant.service_principal_by_app_id(cloud.automation.client_id)
    assert caller is not None
    assert requests(cloud, start)[3] == ("DELETE", f"/v1.0/servicePrincipals/{sp.id}/owners/{caller.id}/$ref")
    assert sp.owners == [] and sp.description is None


def test_use_existing_with_feature_tags_keeps_the_enterprise_application_tag(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    existing = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    existing.tags = ["WindowsAzureActiveDirectoryIntegratedApp", "HideApp"]

    async def scenario() -> tuple[str, dict[str, Any]]:
        provider = await configured(cloud)
        inputs = {"clientId": CLIENT_ID, "useExisting": True, "featureTags": [{"enterprise": True}]}
        return await create(provider, SERVICE_PRINCIPAL.token, "hub", inputs)

    _, outputs = run(scenario())
    # ExpandFeatures: only what feature_tags asks for is sent; HideApp, set by hand, goes.
    assert existing.tags == ["WindowsAzureActiveDirectoryIntegratedApp"]
    assert outputs["featureTags"] == [
        {"customSingleSignOn": False, "enterprise": True, "gallery": False, "hide": False}
    ]


def test_use_existing_adopts_the_service_principal_with_a_patch_that_drops_its_tags(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    existing = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    existing.tags = ["WindowsAzureActiveDirectoryIntegratedApp"]

    async def scenario() -> tuple[str, dict[str, Any]]:
        provider = await configured(cloud)
        return await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": CLIENT_ID, "useExisting": True})

    start = len(cloud.tenants[TENANT_ID].requests)
    resource_id, outputs = run(scenario())
    assert resource_id == f"/servicePrincipals/{existing.id}"
    assert ("POST", "/v1.0/servicePrincipals") not in requests(cloud, start)
    # The quirk: the update PATCH sends the configured tags, so the enterprise-app tag set by hand goes.
    assert existing.tags == [] and outputs["tags"] == []


def test_use_existing_rewrites_an_administrators_enterprise_app_and_the_next_update_removes_its_owners(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    """What the real provider does to an enterprise application it adopts (service_principal_resource.go): the
    update its create runs PATCHes every managed property, unset ones as null or empty, and turns the app back
    on; its read puts the owners into state, and owners (Optional, not Computed) then differs from the config's
    empty set, so the next update removes every one. The reason the program never uses this resource."""
    existing = scenarios.tended_enterprise_app(tenant)
    owners = list(existing.owners)
    inputs = {"clientId": CLIENT_ID, "useExisting": True, "featureTags": [{"enterprise": True}]}

    async def scenario() -> tuple[str, dict[str, Any], dict[str, Any]]:
        provider = await configured(cloud)
        resource_id, outputs = await create(provider, SERVICE_PRINCIPAL.token, "hub", inputs)
        name = urn(SERVICE_PRINCIPAL.token, "hub")
        diff = await provider.diff(DiffRequest(name, resource_id, wrap_map(outputs), wrap_map(inputs), []))
        assert "owners" in (diff.diffs or [])
        updated = await provider.update(
            UpdateRequest(name, resource_id, wrap_map(outputs), wrap_map(inputs), 0, [], False)
        )
        return resource_id, outputs, plain_map(updated.properties)

    _, adopted, _ = run(scenario())
    assert sorted(adopted["owners"]) == sorted(owners), "the create's read put the owners into state"
    assert existing.account_enabled is True, "a disabled app is enabled again"
    assert (existing.notes, existing.description, existing.login_url) == (None, None, None)
    assert existing.preferred_single_sign_on_mode is None and existing.saml_single_sign_on_settings is None
    assert existing.notification_email_addresses == [] and existing.alternative_names == []
    assert existing.tags == ["WindowsAzureActiveDirectoryIntegratedApp"]
    assert existing.owners == [], "the update after adoption removed every owner"
    removed = [r for r in cloud.tenants[TENANT_ID].requests if r.method == "DELETE" and "/owners/" in r.path]
    assert sorted(r.path.split("/")[-2] for r in removed) == sorted(owners)


def test_a_new_service_principal_not_yet_replicated_fails_the_create(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    """The PATCH right after the POST has no retry function, so a 404 from replication lag is not retried
    (go-azure-sdk sdk/client/client.go; hashicorp/terraform-provider-azuread#1811)."""
    cloud.tenants[TENANT_ID].replication_lag(requests=20)

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": CLIENT_ID, "useExisting": True})

    with pytest.raises(ProviderError, match="Timed out whilst waiting for new service principal to be replicated"):
        run(scenario())


def test_without_use_existing_an_existing_service_principal_must_be_imported(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    existing = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": CLIENT_ID})

    with pytest.raises(ProviderError, match=f'ID "/servicePrincipals/{existing.id}" already exists'):
        run(scenario())


def test_a_wrong_application_id_is_retried_until_the_create_timeout(
    cloud: EmulatedCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    unknown_app = "99999999-0000-4000-8000-000000000000"

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": unknown_app, "useExisting": True})

    with pytest.raises(ProviderError, match="does not reference a valid application object"):
        run(scenario())
    posts = [r for r in requests(cloud) if r == ("POST", "/v1.0/servicePrincipals")]
    assert len(posts) >= 2, "the provider retries this 400 (RetryFunc) until the create timeout"


def test_a_service_principal_deleted_by_hand_reads_as_gone(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        provider = await configured(cloud)
        resource_id, outputs = await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": CLIENT_ID})
        tenant.delete_service_principal(outputs["objectId"])
        gone = await provider.read(ReadRequest(urn(SERVICE_PRINCIPAL.token, "hub"), resource_id, {}, {}))
        return resource_id, gone.resource_id

    _, after = run(scenario())
    assert after == ""


def test_use_existing_delete_ignores_a_failure_but_a_plain_one_reports_it(cloud: EmulatedCloud) -> None:
    async def scenario(use_existing: bool) -> None:
        provider = await configured(cloud)
        state = wrap_map({"clientId": CLIENT_ID, "useExisting": use_existing})
        missing = "/servicePrincipals/22222222-0000-4000-8000-000000000000"
        await provider.delete(DeleteRequest(urn(SERVICE_PRINCIPAL.token, "hub"), missing, state, 0))

    run(scenario(True))
    with pytest.raises(ProviderError, match="Request_ResourceNotFound"):
        run(scenario(False))


# ------------------------------------------------------------------------------------- grants


def grant_inputs(
    tenant: FakeTenant, hub: str, user: str | None = None, scopes: list[str] | None = None
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "servicePrincipalObjectId": hub,
        "resourceServicePrincipalObjectId": tenant.graph.id,
        "claimValues": scopes or SCOPES,
    }
    if user:
        inputs["userObjectId"] = user
    return inputs


def test_a_grant_that_exists_already_fails_with_graphs_409_and_is_not_retried(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    tenant.create_grant(hub.id, "AllPrincipals", None, tenant.graph.id, "openid")

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, DELEGATED_PERMISSION_GRANT.token, "grant", grant_inputs(tenant, hub.id))

    with pytest.raises(ProviderError, match=r"409 \(409 Conflict\).*Permission entry already exists"):
        run(scenario())
    assert [r for r in requests(cloud) if r == ("POST", "/v1.0/oauth2PermissionGrants")] == [
        ("POST", "/v1.0/oauth2PermissionGrants")
    ]
    assert len(tenant.grants) == 1


def test_a_grant_is_created_updated_in_place_imported_and_deleted(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    alice = tenant.user("alice@fabrikam.com")
    name = urn(DELEGATED_PERMISSION_GRANT.token, "grant")

    async def scenario() -> dict[str, Any]:
        provider = await configured(cloud)
        resource_id, outputs = await create(
            provider, DELEGATED_PERMISSION_GRANT.token, "grant", grant_inputs(tenant, hub.id, alice.id)
        )
        more = grant_inputs(tenant, hub.id, alice.id, [*SCOPES, "Mail.Send"])
        diff = await provider.diff(DiffRequest(name, resource_id, wrap_map(outputs), wrap_map(more), []))
        moved = await provider.diff(
            DiffRequest(name, resource_id, wrap_map(outputs), wrap_map(grant_inputs(tenant, hub.id, hub.id)), [])
        )
        updated = await provider.update(
            UpdateRequest(name, resource_id, wrap_map(outputs), wrap_map(more), 0, [], False)
        )
        imported = await provider.read(ReadRequest(name, resource_id, {}, {}))
        await provider.delete(DeleteRequest(name, resource_id, updated.properties, 0))
        return {
            "id": resource_id,
            "diff": (diff.diffs, diff.replaces),
            "moved": moved.replaces,
            "updated": plain_map(updated.properties)["claimValues"],
            "imported": plain_map(imported.inputs),
        }

    result = run(scenario())
    assert result["diff"] == (["claimValues"], [])
    assert result["moved"] == ["userObjectId"]
    assert sorted(result["updated"]) == sorted([*SCOPES, "Mail.Send"])
    assert result["imported"]["userObjectId"] == alice.id
    assert sorted(result["imported"]["claimValues"]) == sorted([*SCOPES, "Mail.Send"])
    assert result["id"].startswith("/oauth2PermissionGrants/") and tenant.grants == {}


def test_a_scope_removed_by_hand_shows_in_a_refresh(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    name = urn(DELEGATED_PERMISSION_GRANT.token, "grant")

    async def scenario() -> dict[str, Any]:
        provider = await configured(cloud)
        inputs = grant_inputs(tenant, hub.id)
        resource_id, outputs = await create(provider, DELEGATED_PERMISSION_GRANT.token, "grant", inputs)
        grant = tenant.grants[resource_id.rsplit("/", 1)[-1]]
        tenant.update_grant(grant.id, "openid profile")
        refreshed = await provider.read(ReadRequest(name, resource_id, wrap_map(outputs), wrap_map(inputs)))
        return plain_map(refreshed.inputs)

    assert run(scenario())["claimValues"] == ["openid", "profile"]


# ------------------------------------------------------------------------- app role assignment


def test_an_assignment_is_created_and_read_back_by_the_providers_id(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    alice = tenant.user("alice@fabrikam.com")
    inputs = {"appRoleId": DEFAULT_ROLE_ID, "principalObjectId": alice.id, "resourceObjectId": hub.id}

    async def scenario() -> tuple[str, dict[str, Any]]:
        provider = await configured(cloud)
        return await create(provider, APP_ROLE_ASSIGNMENT.token, "access-user", inputs)

    resource_id, outputs = run(scenario())
    (assignment,) = [a for a in tenant.app_role_assignments.values() if a.resource_id == hub.id]
    assert resource_id == f"/servicePrincipals/{hub.id}/appRoleAssignedTo/{assignment.id}"
    assert outputs["principalType"] == "User" and outputs["principalDisplayName"] == "Alice"


def test_an_assignment_for_an_unknown_principal_is_retried_then_fails(
    cloud: EmulatedCloud, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "1.5")
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    inputs = {
        "appRoleId": DEFAULT_ROLE_ID,
        "principalObjectId": "33333333-0000-4000-8000-000000000000",
        "resourceObjectId": hub.id,
    }

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, APP_ROLE_ASSIGNMENT.token, "access-user", inputs)

    with pytest.raises(ProviderError, match="Not a valid reference update"):
        run(scenario())


def test_an_import_id_in_another_format_is_refused(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    async def scenario() -> None:
        provider = await configured(cloud)
        await provider.read(ReadRequest(urn(APP_ROLE_ASSIGNMENT.token, "a"), "not-a-provider-id", {}, {}))

    with pytest.raises(ProviderError, match="expected an ID in the format"):
        run(scenario())


# -------------------------------------------------------------------------------- application


def test_register_mode_creates_the_application_then_its_service_principal(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    scope_id = tenant.graph.oauth2_permission_scopes["User.Read"]
    inputs = {
        "displayName": "TaxCalc-Hub",
        "signInAudience": "AzureADMultipleOrgs",
        "publicClient": {"redirectUris": ["https://login.microsoftonline.com/common/oauth2/nativeclient"]},
        "requiredResourceAccesses": [
            {
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccesses": [{"id": scope_id, "type": "Scope"}],
            }
        ],
    }

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        provider = await configured(cloud)
        _, app = await create(provider, APPLICATION.token, "app", inputs)
        _, sp = await create(
            provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": app["clientId"], "useExisting": True}
        )
        return app, sp

    app, sp = run(scenario())
    (registered,) = tenant.applications.values()
    assert registered.display_name == "TaxCalc-Hub" and registered.owners == []
    assert app["clientId"] == registered.app_id and sp["clientId"] == registered.app_id
    assert app["publicClient"]["redirectUris"] == inputs["publicClient"]["redirectUris"]  # type: ignore[index]


def test_an_application_asking_for_a_scope_graph_does_not_publish_is_refused(cloud: EmulatedCloud) -> None:
    inputs = {
        "displayName": "TaxCalc-Hub",
        "requiredResourceAccesses": [
            {
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccesses": [{"id": "44444444-0000-4000-8000-000000000000", "type": "Scope"}],
            }
        ],
    }

    async def scenario() -> None:
        provider = await configured(cloud)
        await create(provider, APPLICATION.token, "app", inputs)

    with pytest.raises(ProviderError, match=r"Could not create application.*resourceAccess"):
        run(scenario())


# ------------------------------------------------------------------------------- data sources


def invoke(cloud: EmulatedCloud, token: str, args: dict[str, Any]) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        provider = await configured(cloud)
        response = await provider.invoke(InvokeRequest(f"azuread:index/{token}:{token}", wrap_map(args)))
        return plain_map(response.return_value or {})

    result: dict[str, Any] = run(scenario())
    return result


def test_get_user_escapes_a_quote_and_reports_a_missing_user(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    found = invoke(cloud, "getUser", {"userPrincipalName": "O'Brien@fabrikam.com"})
    assert found["objectId"] == tenant.user("o'brien@fabrikam.com").id
    with pytest.raises(ProviderError, match=r"User with UPN 'nobody@fabrikam\.com' was not found"):
        invoke(cloud, "getUser", {"userPrincipalName": "nobody@fabrikam.com"})


def test_get_users_with_ignore_missing_keeps_only_users(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    alice = tenant.user("alice@fabrikam.com")
    group = tenant.add_group("Mailboxes", [alice.id])
    found = invoke(cloud, "getUsers", {"objectIds": [alice.id, group.id], "ignoreMissing": True})
    assert found["objectIds"] == [alice.id]
    with pytest.raises(ProviderError, match="User not found with object ID"):
        invoke(cloud, "getUsers", {"objectIds": [alice.id, group.id]})


def test_get_group_sends_the_display_name_unescaped(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    alice = tenant.user("alice@fabrikam.com")
    tenant.add_group("TaxCalc Mailboxes", [alice.id])
    tenant.add_group("Partners' mailboxes", [alice.id])
    assert invoke(cloud, "getGroup", {"displayName": "TaxCalc Mailboxes"})["members"] == [alice.id]
    # group_data_source.go does not escape the quote: Graph refuses the malformed filter.
    with pytest.raises(ProviderError, match="Retrieving groups for filter"):
        invoke(cloud, "getGroup", {"displayName": "Partners' mailboxes"})


def test_get_service_principal_and_client_config(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    graph = invoke(cloud, "getServicePrincipal", {"clientId": "00000003-0000-0000-c000-000000000000"})
    assert graph["objectId"] == tenant.graph.id
    assert graph["oauth2PermissionScopeIds"]["User.Read"] == tenant.graph.oauth2_permission_scopes["User.Read"]
    config = invoke(cloud, "getClientConfig", {})
    assert config["tenantId"] == TENANT_ID and config["clientId"] == AutomationApp().client_id
    with pytest.raises(ProviderError, match="No service principal found"):
        invoke(cloud, "getServicePrincipal", {"clientId": CLIENT_ID})


# ------------------------------------------------------------- what go-azure-sdk sends and retries


def test_every_entity_body_carries_its_odata_type_as_go_azure_sdk_marshals_it(
    cloud: EmulatedCloud, tenant: FakeTenant
) -> None:
    # go-azure-sdk microsoft-graph/common-types/stable model_*.go MarshalJSON: "@odata.type" unless
    # OmitDiscriminatedValue, which these resources never set; owner references (ReferenceCreate) carry none.
    alice = tenant.user("alice@fabrikam.com")
    name = urn(DELEGATED_PERMISSION_GRANT.token, "grant")

    async def scenario() -> None:
        provider = await configured(cloud)
        _, app = await create(provider, APPLICATION.token, "app", {"displayName": "Lab"})
        _, sp = await create(provider, SERVICE_PRINCIPAL.token, "hub", {"clientId": app["clientId"]})
        grant_id, grant = await create(
            provider, DELEGATED_PERMISSION_GRANT.token, "grant", grant_inputs(tenant, sp["objectId"], alice.id)
        )
        more = grant_inputs(tenant, sp["objectId"], alice.id, [*SCOPES, "Mail.Send"])
        await provider.update(UpdateRequest(name, grant_id, wrap_map(grant), wrap_map(more), 0, [], False))
        await create(
            provider,
            APP_ROLE_ASSIGNMENT.token,
            "access-user",
            {"appRoleId": DEFAULT_ROLE_ID, "principalObjectId": alice.id, "resourceObjectId": sp["objectId"]},
        )

    run(scenario())
    expected = {
        "applications": "#microsoft.graph.application",
        "servicePrincipals": "#microsoft.graph.servicePrincipal",
        "oauth2PermissionGrants": "#microsoft.graph.oAuth2PermissionGrant",
        "appRoleAssignedTo": "#microsoft.graph.appRoleAssignment",
    }
    sent = [r for r in cloud.tenants[TENANT_ID].requests if r.method in ("POST", "PATCH")]
    kinds = set()
    for request in sent:
        segments = request.path.strip("/").split("/")
        if "owners" in segments:
            assert request.json is not None and "@odata.type" not in request.json, request.path
            continue
        kind = "appRoleAssignedTo" if "appRoleAssignedTo" in segments else segments[0]
        assert request.json is not None and request.json.get("@odata.type") == expected[kind], request.path
        kinds.add((request.method, kind))
    assert kinds == {
        ("POST", "applications"),
        ("PATCH", "applications"),
        ("POST", "servicePrincipals"),
        ("PATCH", "servicePrincipals"),
        ("POST", "oauth2PermissionGrants"),
        ("PATCH", "oauth2PermissionGrants"),
        ("POST", "appRoleAssignedTo"),
    }


def unsigned_token(claims: dict[str, Any]) -> str:
    """A JWT-shaped token the provider reads its caller from (it never verifies one: internal/clients)."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}."


def over_emulator(emulator: GraphEmulator, scenario: Callable[[GraphClient], Awaitable[Any]]) -> Any:
    """Run ``scenario`` with the provider's Graph client pointed straight at ``emulator`` (which can drop
    connections), signed in as the automation identity."""

    async def body() -> Any:
        async with httpx.AsyncClient(timeout=30.0) as http:
            token = unsigned_token({"oid": "77777777-0000-4000-8000-000000000000", "tid": TENANT_ID})
            return await scenario(GraphClient(Endpoints(emulator.base_url, emulator.base_url), token, http))

    return run(body())


def test_a_dropped_get_is_retried_but_the_grant_delete_offboard_sends_fails(tenant: FakeTenant) -> None:
    # go-azure-sdk sdk/client/client.go (Execute's CheckRetry): with no answer, only an IsIdempotent request
    # (GET, HEAD, OPTIONS) is retried; a DELETE fails with "HTTP response was nil; connection may have been
    # reset". So a reset during offboard's grant DELETE fails the step, and the grant stays.
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    grant = tenant.create_grant(hub.id, "AllPrincipals", None, tenant.graph.id, "openid profile")
    resource_id = f"/oauth2PermissionGrants/{grant.id}"
    with serve(tenant) as emulator:
        emulator.drop_connection("/oauth2PermissionGrants", times=1)
        read_id, outputs = over_emulator(
            emulator, lambda graph: resources.grant_read(graph, resource_id, time.monotonic() + 30)
        )
        assert read_id == resource_id and outputs["claimValues"] == ["openid", "profile"]
        gets = [r for r in emulator.requests if r.method == "GET"]
        assert [r.dropped for r in gets] == [True, False]

        emulator.drop_connection("/oauth2PermissionGrants", times=1)
        with pytest.raises(ProviderError) as failed:
            over_emulator(emulator, lambda graph: resources.grant_delete(graph, resource_id, time.monotonic() + 30))
        deletes = [r for r in emulator.requests if r.method == "DELETE"]
    assert f"Deleting {resource_id}" in str(failed.value)
    assert "HTTP response was nil; connection may have been reset" in str(failed.value)
    assert [r.dropped for r in deletes] == [True], "never sent again"
    assert grant.id in tenant.grants


@pytest.mark.parametrize(
    ("method", "error", "retried"),
    [
        # sdk/client/client.go: Request.IsIdempotent, then extendedRetryPolicy for a Graph host.
        ("GET", httpx.ReadError("[Errno 104] Connection reset by peer"), True),
        ("HEAD", httpx.ReadTimeout("timed out"), True),
        ("OPTIONS", httpx.WriteError("[Errno 32] Broken pipe"), True),
        ("GET", httpx.ConnectError("[Errno 111] Connection refused"), False),  # "dial tcp"
        ("GET", httpx.RemoteProtocolError("Server disconnected without sending a response."), False),  # "EOF"
        ("GET", httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."), False),
        ("DELETE", httpx.ReadError("[Errno 104] Connection reset by peer"), False),
        ("PUT", httpx.ReadTimeout("timed out"), False),
        ("PATCH", httpx.ReadError("[Errno 104] Connection reset by peer"), False),
        ("POST", httpx.ReadTimeout("timed out"), False),
    ],
)
def test_a_request_without_an_answer_is_retried_as_go_azure_sdk_decides(
    method: str, error: httpx.HTTPError, retried: bool
) -> None:
    detail, retryable = graph_module._no_answer(method, error)
    assert retryable is retried
    if method not in ("GET", "HEAD", "OPTIONS"):
        assert detail == "HTTP response was nil; connection may have been reset"


def test_disabled_scopes_and_roles_stay_in_the_id_maps_as_the_real_provider_flattens_them() -> None:
    # internal/helpers/applications/applications.go FlattenOAuth2PermissionScopeIDs / FlattenAppRoleIDs.
    outputs = resources.service_principal_outputs(
        {
            "id": "sp",
            "oauth2PermissionScopes": [
                {"id": "s1", "value": "User.Read", "isEnabled": True},
                {"id": "s2", "value": "Legacy.Read", "isEnabled": False},
            ],
            "appRoles": [{"id": "r1", "value": "Old.ReadWrite.All", "isEnabled": False}, {"id": "r2", "value": "x"}],
        }
    )
    assert outputs["oauth2PermissionScopeIds"] == {"User.Read": "s1", "Legacy.Read": "s2"}
    assert outputs["appRoleIds"] == {"Old.ReadWrite.All": "r1", "x": "r2"}
    assert [s["enabled"] for s in outputs["oauth2PermissionScopes"]] == [True, False]
    assert [r["enabled"] for r in outputs["appRoles"]] == [False, False]  # absent isEnabled: false


def test_redirect_uris_compare_as_a_set_and_an_empty_public_client_as_none(cloud: EmulatedCloud) -> None:
    # application_resource.go: public_client.redirect_uris is a TypeSet; applicationDiffSuppress treats a
    # public_client block with no redirect URIs as no block.
    provider = AzureADProvider()
    name = urn(APPLICATION.token, "app")
    a, b = "https://login.microsoftonline.com/common/oauth2/nativeclient", "http://localhost"
    state = wrap_map({"displayName": "Lab", "publicClient": {"redirectUris": [a, b]}})

    def diff(public_client: Any) -> list[str]:
        news = {"displayName": "Lab", **({"publicClient": public_client} if public_client is not None else {})}
        return list(run(provider.diff(DiffRequest(name, "/applications/x", state, wrap_map(news), []))).diffs or [])

    assert diff({"redirectUris": [b, a]}) == []
    assert diff({"redirectUris": [a]}) == ["publicClient"]
    empty = wrap_map({"displayName": "Lab", "publicClient": {"redirectUris": []}})
    assert not run(
        provider.diff(DiffRequest(name, "/applications/x", empty, wrap_map({"displayName": "Lab"}), []))
    ).changes


# ---------------------------------------------------------------------------- check and diff


def test_check_refuses_what_the_schema_does_not_have_and_diff_follows_terraform(cloud: EmulatedCloud) -> None:
    provider = AzureADProvider()
    name = urn(SERVICE_PRINCIPAL.token, "hub")
    bad = run(provider.check(CheckRequest(name, {}, wrap_map({"clientId": "nope", "homepageUrl": "x"}), b"")))
    assert {f.property for f in bad.failures or []} == {"clientId", "homepageUrl"}
    state = wrap_map(
        {"clientId": CLIENT_ID, "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "accountEnabled": True}
    )
    same = run(provider.diff(DiffRequest(name, "/servicePrincipals/x", state, wrap_map({"clientId": CLIENT_ID}), [])))
    assert same.changes is False, "tags are Optional+Computed: unset in the program, not compared"
    other = run(
        provider.diff(
            DiffRequest(name, "/servicePrincipals/x", state, wrap_map({"clientId": PUBLISHED_APPS_OTHER}), [])
        )
    )
    assert other.replaces == ["clientId"]
    preview = run(provider.create(CreateRequest(name, wrap_map({"clientId": CLIENT_ID}), 0, True)))
    assert preview.resource_id == "" and plain_map(preview.properties)["objectId"] is UNKNOWN


PUBLISHED_APPS_OTHER = "55555555-0000-4000-8000-000000000000"


# ------------------------------------------------------------------------------- the plugin


def test_the_plugin_is_the_sdks_version_and_runs_with_this_interpreter(tmp_path: Any) -> None:
    import json
    import sys
    from importlib import resources

    wanted = json.loads(resources.files("pulumi_azuread").joinpath("pulumi-plugin.json").read_text())["version"]
    assert sdk_plugin_version() == wanted
    folder = write_plugin_folder(tmp_path / "plugin")
    script = (folder / "pulumi-resource-azuread").read_text()
    assert script.startswith("#!/bin/sh") and sys.executable in script
    assert (folder / "pulumi-resource-azuread").stat().st_mode & 0o111
