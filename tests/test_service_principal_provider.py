"""TaxCalc-Hub's service principal through the tool's own provider, over real HTTP against the Graph emulator.

Called as ``pulumi-resource-pulumi-python`` calls it (check, create, read, diff, update, delete), signed in
at an emulated cloud through the azuread provider's variables, as in the engine. What the tenant holds afterwards
is read from the emulator's tenant; what went over the wire from its request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.output import Unknown

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.program import service_principal_provider as sp_provider
from taxcalc_consent.infra.program.service_principal_provider import HubServicePrincipalProvider, Waits
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import INTEGRATED_APP_TAG, FakeTenant
from tests.fakes.entra_cloud import APPLY_ROLES, EmulatedCloud, serve_cloud
from tests.fakes.example_tenants import HUB_CLIENT_ID, PUBLISHED_APPS
from tests.fakes.graph_emulator import GraphEmulator

TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
OTHER_TENANT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def tenant() -> FakeTenant:
    tenant = FakeTenant(TENANT_ID)
    tenant.published_apps.update({k.lower(): v for k, v in PUBLISHED_APPS.items()})
    return tenant


@pytest.fixture
def cloud(tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCloud]:
    """The tenant in an emulated cloud, and the azuread provider's variables for it in the environment: the
    provider signs in there as the stack's azuread provider would (infra.signin)."""
    with serve_cloud([tenant], roles=APPLY_ROLES) as running:
        environment = {
            **running.certificates.trust_environment(),
            "ARM_METADATA_HOSTNAME": running.metadata_host,
            "ARM_CLIENT_ID": running.automation.client_id,
            "ARM_CLIENT_SECRET": running.automation.client_secret,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for name in (graph.GRAPH_ENDPOINT_ENV, graph.TOKEN_ENV):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(sp_provider, "WAITS", Waits(application_elsewhere=0.3, readable=3, interval=0.01))
        yield running


@pytest.fixture
def emulator(cloud: EmulatedCloud) -> GraphEmulator:
    return cloud.tenants[TENANT_ID]


def inputs(required: bool = False, client_id: str = HUB_CLIENT_ID, **extra: Any) -> dict[str, Any]:
    return {
        "tenantId": TENANT_ID,
        "clientId": client_id,
        "appRoleAssignmentRequired": required,
        "applicationRegisteredHere": False,
        "auth": {},
        **extra,
    }


def sp_writes(emulator: GraphEmulator) -> list[tuple[str, str, Any]]:
    return [(w.method, w.path, w.json) for w in emulator.writes() if w.path.startswith("/servicePrincipals")]


def test_check_refuses_what_is_not_a_tenant_id_or_an_application_id() -> None:
    provider = HubServicePrincipalProvider()
    checked = provider.check({}, {**inputs(), "tenantId": "contoso", "clientId": "taxcalc-hub"})
    assert {f.property for f in checked.failures} == {"tenantId", "clientId"}
    assert provider.check({}, {**inputs(), "appRoleAssignmentRequired": "yes"}).failures[0].property == (
        "appRoleAssignmentRequired"
    )
    assert provider.check({}, inputs()).failures == []
    # An application registered in the same run: its id is unknown at preview, and the plugin hands the check an
    # Output for it (pulumi/dynamic/__main__.py, Check); it is checked again with the value before create.
    assert provider.check({}, {**inputs(), "clientId": pulumi.Output.from_input("later")}).failures == []
    # ...or, through the plugin's rpc.deserialize_properties(keep_unknowns=True), as the plain unknown.
    assert provider.check({}, {**inputs(), "clientId": Unknown()}).failures == []


def test_a_found_enterprise_app_gets_one_patch_and_is_put_back_on_release(
    tenant: FakeTenant, emulator: GraphEmulator
) -> None:
    existing = scenarios.tended_enterprise_app(tenant)
    kept = scenarios.enterprise_app_fields(existing)
    provider = HubServicePrincipalProvider()

    created = provider.create(inputs(required=True))
    assert created.id == existing.id
    assert created.outs is not None
    assert created.outs["origin"] == "found"
    assert created.outs["before"] == {"appRoleAssignmentRequired": False}
    assert sp_writes(emulator) == [("PATCH", f"/servicePrincipals/{existing.id}", {"appRoleAssignmentRequired": True})]

    # An administrator turns assignment off again: refresh sees it, and the diff is a change.
    existing.app_role_assignment_required = False
    read = provider.read(existing.id, created.outs)
    assert read.outs is not None and read.outs["appRoleAssignmentRequired"] is False
    assert provider.diff(existing.id, read.outs, inputs(required=True)).changes is True
    updated = provider.update(existing.id, read.outs, inputs(required=True))
    assert updated.outs is not None and updated.outs["origin"] == "found"
    assert existing.app_role_assignment_required is True

    provider.delete(existing.id, updated.outs)
    assert existing.app_role_assignment_required is False, "put back as it was found"
    assert tenant.service_principals.get(existing.id) is existing, "never deleted"
    assert scenarios.enterprise_app_fields(existing) == kept
    writes = sp_writes(emulator)
    assert len(writes) == 3, "the first apply, the update, the release"
    assert all(body == {"appRoleAssignmentRequired": body["appRoleAssignmentRequired"]} for _, _, body in writes)


def test_a_created_service_principal_stays_as_it_is_on_release(tenant: FakeTenant, emulator: GraphEmulator) -> None:
    provider = HubServicePrincipalProvider()
    created = provider.create(inputs(required=True))
    assert created.outs is not None and created.outs["origin"] == "created" and created.outs["before"] is None
    hub = tenant.service_principals[created.id]
    assert (hub.tags, hub.app_role_assignment_required) == ([INTEGRATED_APP_TAG], True)
    writes = len(emulator.writes())
    provider.delete(created.id, created.outs)
    assert len(emulator.writes()) == writes
    assert hub.app_role_assignment_required is True and created.id in tenant.service_principals


def test_a_service_principal_deleted_by_hand_leaves_the_state_and_cannot_be_updated(
    tenant: FakeTenant, emulator: GraphEmulator
) -> None:
    provider = HubServicePrincipalProvider()
    created = provider.create(inputs())
    assert created.outs is not None
    tenant.delete_service_principal(created.id)
    read = provider.read(created.id, created.outs)
    assert read.id == "" and read.outs == {}
    with pytest.raises(sp_provider.ServicePrincipalError, match="no longer in tenant"):
        provider.update(created.id, created.outs, inputs(required=True))


def test_another_tenant_or_application_is_another_object(tenant: FakeTenant, emulator: GraphEmulator) -> None:
    provider = HubServicePrincipalProvider()
    outs = provider.create(inputs()).outs
    assert outs is not None
    moved = provider.diff("x", outs, {**inputs(), "tenantId": OTHER_TENANT_ID})
    assert moved.replaces == ["tenantId"] and moved.delete_before_replace is True
    same = provider.diff("x", outs, {**inputs(), "clientId": HUB_CLIENT_ID.upper()})
    assert same.changes is False and not same.replaces


def test_a_new_service_principal_is_waited_for_until_two_reads_in_a_row_find_it(
    tenant: FakeTenant, emulator: GraphEmulator
) -> None:
    emulator.replication_lag(requests=5)
    created = HubServicePrincipalProvider().create(inputs())
    reads = [r for r in emulator.requests if (r.method, r.path) == ("GET", f"/servicePrincipals/{created.id}")]
    assert emulator.replicated(created.id)
    assert len(reads) >= 3, "read until found, then once more"


def test_a_new_service_principal_that_never_reads_back_says_so(tenant: FakeTenant, emulator: GraphEmulator) -> None:
    emulator.replication_lag(requests=10_000)
    with pytest.raises(sp_provider.ServicePrincipalError, match=r"did not read back within 3 s .*run apply again"):
        HubServicePrincipalProvider().create(inputs())
    assert len(tenant.service_principals) == 3, "created once, never twice (beside Graph's and the automation app's)"


def test_an_application_registered_moments_ago_is_retried_until_graph_knows_it(
    tenant: FakeTenant, emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sp_provider, "WAITS", Waits(application_registered_here=5, readable=3, interval=0.01))
    emulator.replication_lag(requests=6)
    with emulator._tenant_lock:
        status, _, body = emulator.handle(
            "POST",
            "/v1.0/applications",
            b'{"displayName": "TaxCalc-Hub (lab)", "signInAudience": "AzureADMultipleOrgs"}',
        )
    assert status == 201
    created = HubServicePrincipalProvider().create(inputs(client_id=body["appId"], applicationRegisteredHere=True))
    refused = [w for w in emulator.requests if (w.method, w.path) == ("POST", "/servicePrincipals")]
    assert len(refused) >= 2, "the first create met Graph's 'does not reference a valid application object'"
    assert created.outs is not None and created.outs["origin"] == "created"


def test_an_unknown_application_fails_naming_it_after_a_short_retry(
    tenant: FakeTenant, emulator: GraphEmulator
) -> None:
    mistyped = "5a1e0000-7ac0-4c1c-9000-00000000c0df"
    with pytest.raises(sp_provider.ServicePrincipalError) as failure:
        HubServicePrincipalProvider().create(inputs(client_id=mistyped))
    assert f"Microsoft Graph knows no application {mistyped} in tenant {TENANT_ID}" in str(failure.value)
    assert "app.client_id" in str(failure.value)
    assert len(tenant.service_principals) == 2  # Graph's and the automation app's: nothing created


def test_a_refused_write_names_the_permission(tenant: FakeTenant, cloud: EmulatedCloud) -> None:
    scenarios.tended_enterprise_app(tenant)
    cloud.grant_only(TENANT_ID, "Application.Read.All")
    with pytest.raises(graph.GraphError) as failure:
        HubServicePrincipalProvider().create(inputs(required=True))
    assert failure.value.status == 403
    assert failure.value.missing_permission == "Application.ReadWrite.All"
