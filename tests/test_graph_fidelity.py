"""The Graph emulator and the in-memory tenant fail (and succeed) where Graph does, and the client copes.

Each test names the rule's source; the rule itself is implemented, with the same source, in
tests/fakes/graph_emulator.py or tests/fakes/entra.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph.client import GraphClient, GraphError
from tests.fakes.consent_tenants import add_taxcalc_hub
from tests.fakes.entra import FakeTenant
from tests.fakes.graph_emulator import Caller, GraphEmulator, serve

TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def tenant() -> FakeTenant:
    tenant = FakeTenant(TENANT_ID)
    alice = tenant.add_user("alice@contoso.com", object_id="11111111-1111-4111-8111-111111111111")
    dave = tenant.add_user("dave@contoso.com", object_id="44444444-4444-4444-8444-444444444444")
    partners = tenant.add_group("Partners", [dave.id], object_id="22222222-2222-4222-8222-222222222222")
    tenant.add_group("Mailboxes", [alice.id, partners.id], object_id="33333333-3333-4333-8333-333333333333")
    tenant.add_group("O'Brien's Mailboxes", [alice.id], object_id="55555555-5555-4555-8555-555555555555")
    tenant.add_group("Staff", [alice.id], object_id="66666666-6666-4666-8666-666666666666", microsoft_365=True)
    return tenant


@pytest.fixture
def emulator(tenant: FakeTenant) -> Iterator[GraphEmulator]:
    with serve(tenant, page_size=1) as running:
        yield running


@pytest.fixture
def client(emulator: GraphEmulator) -> Iterator[GraphClient]:
    with GraphClient(emulator.base_url, lambda: "test-token", sleep=lambda _: None) as running:
        yield running


MAILBOXES = "33333333-3333-4333-8333-333333333333"


# ------------------------------------------------------------------ advanced queries (aad-advanced-queries)


def test_an_odata_cast_on_transitive_members_without_advanced_query_parameters_is_refused(
    emulator: GraphEmulator,
) -> None:
    # https://learn.microsoft.com/graph/aad-advanced-queries: "Use of OData cast with transitive members
    # list" is supported only in advanced queries, which need ConsistencyLevel: eventual AND $count=true.
    url = f"{emulator.base_url}/v1.0/groups/{MAILBOXES}/transitiveMembers/microsoft.graph.user"
    for headers, query in (({}, ""), ({"ConsistencyLevel": "eventual"}, ""), ({}, "?$count=true")):
        answer = httpx.get(url + query, headers={**AUTH, **headers})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "Request_UnsupportedQuery"
    answer = httpx.get(url + "?$count=true", headers={**AUTH, "ConsistencyLevel": "eventual"})
    assert answer.status_code == 200
    assert answer.json()["@odata.count"] == 2


def test_the_client_sends_transitive_member_reads_as_advanced_queries_alone_and_in_a_batch(
    client: GraphClient, emulator: GraphEmulator
) -> None:
    request = graph.groups_list_transitive_user_members(MAILBOXES)
    direct = [u["userPrincipalName"] for u in client.collection(request)]
    (batched,) = client.batch([request])
    assert sorted(direct) == ["alice@contoso.com", "dave@contoso.com"]  # two pages of one: nextLink followed
    assert isinstance(batched, list) and sorted(u["userPrincipalName"] for u in batched) == sorted(direct)
    sent = [r for r in emulator.requests if r.path.endswith("/transitiveMembers/microsoft.graph.user")]
    assert len(sent) == 4 and any(r.in_batch for r in sent)
    assert all(r.headers.get("consistencylevel") == "eventual" and r.query.get("$count") == "true" for r in sent)


def test_a_cast_on_direct_members_is_not_an_advanced_query(client: GraphClient, emulator: GraphEmulator) -> None:
    # https://learn.microsoft.com/graph/api/group-list-members: OData cast is enabled on /members; the
    # advanced-query table lists the cast only for transitive member lists.
    members = client.collection(graph.groups_list_user_members(MAILBOXES))
    assert [m["userPrincipalName"] for m in members] == ["alice@contoso.com"]  # Partners' Dave is nested
    sent = [r for r in emulator.requests if r.path.endswith("/members/microsoft.graph.user")]
    assert sent and all("consistencylevel" not in r.headers for r in sent)


# ------------------------------------------------------------------------------- OData string literals


def test_a_display_name_with_an_apostrophe_needs_the_quote_doubled(
    client: GraphClient, emulator: GraphEmulator
) -> None:
    # Unescaped, as terraform-provider-azuread's group data source sends it (group_data_source.go:
    # fmt.Sprintf("displayName eq '%s'", displayName)), Graph answers 400 "Invalid filter clause"
    # (Microsoft365DSC/Microsoft365DSC#4358).
    unescaped = httpx.get(
        f"{emulator.base_url}/v1.0/groups", params={"$filter": "displayName eq 'O'Brien's Mailboxes'"}, headers=AUTH
    )
    assert unescaped.status_code == 400
    assert unescaped.json()["error"]["code"] == "BadRequest"
    assert "Invalid filter clause" in unescaped.json()["error"]["message"]
    found = client.collection(graph.groups_list_by_display_name("O'Brien's Mailboxes"))
    assert [g["id"] for g in found] == ["55555555-5555-4555-8555-555555555555"]


# ---------------------------------------------------------------------- Microsoft 365 groups, app-only


@pytest.mark.parametrize("app_only", [True, False])
def test_exchange_backed_properties_of_a_microsoft_365_group_are_refused_to_app_only_callers(
    tenant: FakeTenant, app_only: bool
) -> None:
    # terraform-provider-azuread#1929 and #1866: GET /groups/{id}?$select=allowExternalSenders,... answers
    # 403 ErrorAccessDenied to any app-only caller for a Microsoft 365 group; a signed-in user reads them.
    staff = "66666666-6666-4666-8666-666666666666"
    select = "allowExternalSenders,autoSubscribeNewMembers,hideFromAddressLists,hideFromOutlookClients"
    with serve(tenant, caller=Caller(app_only=app_only)) as running:
        extra = httpx.get(f"{running.base_url}/v1.0/groups/{staff}", params={"$select": select}, headers=AUTH)
        basic = httpx.get(f"{running.base_url}/v1.0/groups/{staff}", params={"$select": "id,displayName"}, headers=AUTH)
        security = httpx.get(f"{running.base_url}/v1.0/groups/{MAILBOXES}", params={"$select": select}, headers=AUTH)
    if app_only:
        assert extra.status_code == 403
        assert extra.json()["error"] | {"innerError": None} == {
            "code": "ErrorAccessDenied",
            "message": "Access is denied. Check credentials and try again.",
            "innerError": None,
        }
    else:
        assert extra.status_code == 200
    assert basic.status_code == 200 and basic.json()["displayName"] == "Staff"
    assert security.status_code == 200  # the provider asks only for Microsoft 365 groups


# -------------------------------------------------------------------------------------- permissions


def test_a_read_the_caller_holds_no_permission_for_is_403_with_graphs_body(
    client: GraphClient, emulator: GraphEmulator
) -> None:
    # https://learn.microsoft.com/graph/api/authorizationpolicy-get: application permission Policy.Read.All
    # (or Policy.ReadWrite.Authorization); anything else is 403 Authorization_RequestDenied.
    emulator.grant_only("Directory.Read.All")
    raw = httpx.get(f"{emulator.base_url}/v1.0/policies/authorizationPolicy", headers=AUTH)
    assert raw.status_code == 403
    assert raw.json()["error"]["code"] == "Authorization_RequestDenied"
    assert raw.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    assert set(raw.json()["error"]["innerError"]) >= {"request-id", "date"}
    with pytest.raises(GraphError) as caught:
        client.entity(graph.policies_get_authorization_policy())
    assert caught.value.status == 403 and caught.value.missing_permission == "Policy.Read.All"
    assert "lacks the Microsoft Graph application permission Policy.Read.All" in str(caught.value)
    with pytest.raises(GraphError, match=r"in \$batch.*permission Policy\.Read\.All"):
        client.batch([graph.users_get("alice@contoso.com"), graph.policies_get_authorization_policy()])
    # Directory.Read.All reads users and (adminconsentrequestpolicy-get lists it) the admin consent workflow.
    assert client.entity(graph.users_get("alice@contoso.com")) is not None
    assert client.entity(graph.policies_get_admin_consent_request_policy()) is not None


def test_members_come_back_with_limited_information_without_a_user_read_permission(
    client: GraphClient, emulator: GraphEmulator
) -> None:
    # https://learn.microsoft.com/graph/permissions-overview (limited information returned for inaccessible
    # member objects): only the id (and type) of a member the caller may not read.
    emulator.grant_only("GroupMember.Read.All")
    (alice,) = client.collection(graph.groups_list_user_members(MAILBOXES))
    assert alice["id"] == "11111111-1111-4111-8111-111111111111"
    assert alice["userPrincipalName"] is None


def test_every_read_the_client_makes_names_a_permission_the_emulator_accepts_for_it(tenant: FakeTenant) -> None:
    """The permission a 403 message names really is enough for that request (docs/ci.md lists the same)."""
    sp = add_taxcalc_hub(tenant)
    requests = [
        graph.service_principals_list_by_app_id(sp.app_id),
        graph.oauth2_permission_grants_list_by_client(sp.id),
        graph.service_principals_list_app_role_assignments(sp.id),
        graph.service_principals_list_app_role_assigned_to(sp.id),
        graph.users_get("alice@contoso.com"),
        graph.groups_get(MAILBOXES),
        graph.groups_list_by_display_name("Mailboxes"),
        graph.groups_list_user_members(MAILBOXES),
        graph.groups_list_transitive_user_members(MAILBOXES),
        graph.policies_get_authorization_policy(),
        graph.policies_get_admin_consent_request_policy(),
    ]
    with serve(tenant) as running, GraphClient(running.base_url, lambda: "t") as client:
        for request in requests:
            assert request.permission, request.path
            running.grant_only(request.permission)
            client.batch([request])  # raises on a 403
            running.grant_only("Calendars.Read")
            with pytest.raises(GraphError) as caught:
                client.batch([request])
            assert caught.value.status == 403 and caught.value.missing_permission == request.permission


# ------------------------------------------------------------------------- grants Graph does not check


def test_graph_accepts_a_grant_scope_the_resource_does_not_publish(tenant: FakeTenant) -> None:
    # azure-cli#20974 lists a grant on Microsoft Graph whose scope is "user_impersonation User.Read":
    # Graph stores scope values without checking them against oauth2PermissionScopes.
    sp = add_taxcalc_hub(tenant)
    assert "user_impersonation" not in tenant.graph.oauth2_permission_scopes
    grant = tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, "user_impersonation User.Read")
    assert grant.scopes == ["user_impersonation", "User.Read"]
    assert tenant.update_grant(grant.id, "User.Read not.a.scope").scopes == ["User.Read", "not.a.scope"]


# ------------------------------------------------------------------------- write bodies as Graph takes them


def test_an_odata_type_naming_the_entity_is_accepted_on_every_write_and_another_is_refused(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    # go-azure-sdk's models add "@odata.type" to every POST/PATCH body (stable model_*.go MarshalJSON), and
    # Graph takes it; a type it cannot resolve is 400 Request_BadRequest (msgraph-beta-sdk-dotnet#87).
    hub = add_taxcalc_hub(tenant)
    alice = tenant.user("alice@contoso.com")
    with httpx.Client(base_url=f"{emulator.base_url}/v1.0", headers=AUTH) as http:
        grant = http.post(
            "/oauth2PermissionGrants",
            json={
                "@odata.type": "#microsoft.graph.oAuth2PermissionGrant",
                "clientId": hub.id,
                "consentType": "AllPrincipals",
                "resourceId": tenant.graph.id,
                "scope": "openid",
            },
        )
        assert grant.status_code == 201, grant.text
        patched = http.patch(
            f"/oauth2PermissionGrants/{grant.json()['id']}",
            json={"@odata.type": "#microsoft.graph.oAuth2PermissionGrant", "scope": "openid profile"},
        )
        assert patched.status_code == 204, patched.text
        assigned = http.post(
            f"/servicePrincipals/{hub.id}/appRoleAssignedTo",
            json={
                "@odata.type": "#microsoft.graph.appRoleAssignment",
                "appRoleId": "00000000-0000-0000-0000-000000000000",
                "principalId": alice.id,
                "resourceId": hub.id,
            },
        )
        assert assigned.status_code == 201, assigned.text
        app = http.post(
            "/applications",
            json={
                "@odata.type": "#microsoft.graph.application",
                "displayName": "Lab",
                "signInAudience": "AzureADMyOrg",
            },
        )
        assert app.status_code == 201, app.text
        wrong = http.patch(
            f"/applications/{app.json()['id']}", json={"@odata.type": "#microsoft.graph.user", "displayName": "Lab 2"}
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"]["code"] == "Request_BadRequest"
        assert "A type named 'microsoft.graph.user' could not be resolved" in wrong.json()["error"]["message"]
    assert tenant.grants[grant.json()["id"]].scope == "openid profile"
    assert next(iter(tenant.applications.values())).display_name == "Lab"


def test_a_second_identical_app_role_assignment_is_graphs_400_not_a_conflict(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    # Graph answers 400 Request_BadRequest "Permission being assigned already exists on the object." (issue 18,
    # "Shapes"); the emulator used to answer 409, which no client would meet.
    hub = add_taxcalc_hub(tenant)
    alice = tenant.user("alice@contoso.com")
    body = {"appRoleId": "00000000-0000-0000-0000-000000000000", "principalId": alice.id, "resourceId": hub.id}
    with httpx.Client(base_url=f"{emulator.base_url}/v1.0", headers=AUTH) as http:
        assert http.post(f"/servicePrincipals/{hub.id}/appRoleAssignedTo", json=body).status_code == 201
        again = http.post(f"/servicePrincipals/{hub.id}/appRoleAssignedTo", json=body)
    assert again.status_code == 400
    error = again.json()["error"]
    assert (error["code"], error["message"]) == (
        "Request_BadRequest",
        "Permission being assigned already exists on the object.",
    )
    assert len([a for a in tenant.app_role_assignments.values() if a.resource_id == hub.id]) == 1
