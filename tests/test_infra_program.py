"""The Pulumi program under Pulumi's mock runtime, against an in-memory tenant that enforces Graph's rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_azuread as azuread
import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID, graph_catalog
from taxcalc_consent.infra.model.kinds import (
    access_assignment,
    app_registration,
    app_role_assignment,
    delegated_grant,
    service_principal,
)
from taxcalc_consent.infra.model.profiles import PROFILES
from taxcalc_consent.infra.program.stack import deploy, load_plan
from tests.conftest import EXAMPLES, TENANT_ID, no_notices
from tests.documents import parse_document
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import INTEGRATED_APP_TAG, FakeTenant
from tests.fakes.example_tenants import EXAMPLE_TENANTS, HUB_CLIENT_ID, PUBLISHED_APPS, SHARED_MAILBOX_ID, fabrikam
from tests.fakes.pulumi_mocks import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    GRANT,
    LEGACY_SERVICE_PRINCIPAL,
    PROVIDER_TYPE,
    SERVICE_PRINCIPAL,
    EntraMocks,
    deploy_file,
    mocked_stack,
    program_assignments,
    run,
    settle_event_loop,
)

PROFILE_SCOPES = sorted(PROFILES["taxcalc-hub"].scopes)


def write_tenant(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"tenant:\n  id: {TENANT_ID}\n{body}", encoding="utf-8")
    return path


def hub_sp(tenant: FakeTenant) -> str:
    sp = tenant.service_principal_by_app_id(HUB_CLIENT_ID)
    assert sp is not None
    return sp.id


def grants_in(tenant: FakeTenant) -> set[tuple[str, str | None, str, tuple[str, ...]]]:
    return {(g.consent_type, g.principal_id, g.resource_id, tuple(g.scopes)) for g in tenant.grants.values()}


# ------------------------------------------------------------------------------------------ consent modes


def test_organization_mode_is_one_all_principals_grant_with_the_profile_scopes(hub_examples: Path) -> None:
    tenant = EXAMPLE_TENANTS["contoso"]()
    mocks, outputs = deploy_file(tenant, hub_examples / "contoso.yaml")

    hub = hub_sp(tenant)
    assert grants_in(tenant) == {("AllPrincipals", None, tenant.graph.id, tuple(PROFILE_SCOPES))}
    grant = mocks.named(delegated_grant.ORGANIZATION_NAME)
    assert grant.type == GRANT
    assert grant.inputs["claimValues"] == PROFILE_SCOPES
    assert grant.inputs["servicePrincipalObjectId"] == hub
    assert grant.inputs["resourceServicePrincipalObjectId"] == tenant.graph.id
    assert "userObjectId" not in grant.inputs
    assert outputs["service_principal_object_id"] == hub
    assert outputs["grant_ids"] == {"AllPrincipals": grant.id}
    assert outputs["summary"]["mode"] == "organization"
    # Graph's service principal is read, never declared: the only service principal resource is TaxCalc-Hub's.
    assert [r.name for r in mocks.of_type(SERVICE_PRINCIPAL)] == [service_principal.NAME]


def test_an_enterprise_app_that_predates_the_tool_keeps_everything_but_assignment_required(tenants_dir: Path) -> None:
    """pulumi-azuread's update of an adopted service principal would re-enable it and clear its owners, notes,
    notification addresses and SSO settings (service_principal_resource.go); the tool's resource changes one
    property, with one PATCH, and records what it found."""
    tenant = FakeTenant(TENANT_ID)
    existing = scenarios.tended_enterprise_app(tenant)
    kept = scenarios.enterprise_app_fields(existing)
    path = write_tenant(tenants_dir, "t", "consent:\n  mode: organization\naccess:\n  assignment_required: true\n")

    mocks, outputs = deploy_file(tenant, path)

    assert tenant.service_principal_by_app_id(HUB_CLIENT_ID) is existing
    assert scenarios.enterprise_app_fields(existing) == kept
    assert existing.app_role_assignment_required is True
    assert mocks.graph is not None
    sp_writes = [(w.method, w.path, w.json) for w in mocks.graph.writes() if w.path.startswith("/servicePrincipals")]
    assert sp_writes == [("PATCH", f"/servicePrincipals/{existing.id}", {"appRoleAssignmentRequired": True})]
    sp = mocks.named(service_principal.NAME)
    assert sp.type == SERVICE_PRINCIPAL and sp.id == existing.id
    assert outputs["service_principal_object_id"] == existing.id
    assert mocks.of_type(LEGACY_SERVICE_PRINCIPAL) == [], "never pulumi-azuread's ServicePrincipal"


def test_a_found_service_principal_that_already_matches_is_not_written(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    scenarios.tended_enterprise_app(tenant)
    mocks, _ = deploy_file(tenant, write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n"))
    assert mocks.graph is not None
    assert [w for w in mocks.graph.writes() if w.path.startswith("/servicePrincipals")] == []


def test_a_new_service_principal_is_created_as_an_enterprise_application(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    mocks, outputs = deploy_file(tenant, write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n"))
    hub = tenant.service_principal_by_app_id(HUB_CLIENT_ID)
    assert hub is not None
    assert hub.tags == [INTEGRATED_APP_TAG], "listed under Enterprise applications, as the portal's consent lists it"
    assert hub.owners == [] and hub.account_enabled is True
    assert outputs["service_principal_object_id"] == hub.id
    assert mocks.graph is not None
    creates = [w.json for w in mocks.graph.writes() if (w.method, w.path) == ("POST", "/servicePrincipals")]
    assert creates == [{"appId": HUB_CLIENT_ID, "appRoleAssignmentRequired": False, "tags": [INTEGRATED_APP_TAG]}]


def test_a_new_service_principal_is_waited_for_until_it_reads_back(tenants_dir: Path) -> None:
    """With replication lag, the new object is not found for a while; pulumi-azuread reads it before creating a
    grant and does not retry a 404 there (terraform-provider-azuread#1811), so the create waits it out."""
    tenant = FakeTenant(TENANT_ID)
    path = write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n")
    plan = load_plan(str(path))
    mocks = EntraMocks(tenant, PUBLISHED_APPS)
    with mocked_stack(mocks, stack=plan.tenant):
        assert mocks.graph is not None
        mocks.graph.replication_lag(requests=6)
        run(lambda: deploy(plan))
        hub = hub_sp(tenant)
        assert mocks.graph.replicated(hub)
        reads = [r for r in mocks.graph.requests if (r.method, r.path) == ("GET", f"/servicePrincipals/{hub}")]
    assert len(reads) >= 3, "read until found, twice in a row"
    assert len(tenant.service_principals) == 3, "created once (beside Graph's and the automation app's)"


def test_a_mistyped_client_id_fails_naming_it(tenants_dir: Path) -> None:
    """Graph answers "does not reference a valid application object" for an application it does not know; the
    create retries that only briefly for an application registered elsewhere (nothing replicates here)."""
    mistyped = "5a1e0000-7ac0-4c1c-9000-00000000c0df"
    tenant = FakeTenant(TENANT_ID)
    (tenants_dir / "_defaults.yaml").unlink()  # the file's own id: no _defaults.yaml here sets one
    path = write_tenant(tenants_dir, "t", f"app:\n  client_id: {mistyped}\nconsent:\n  mode: organization\n")
    with pytest.raises(Exception, match=rf"Microsoft Graph knows no application {mistyped} .*check the application id"):
        deploy_file(tenant, path)
    assert len(tenant.service_principals) == 2, "only Graph's and the automation app's (mocked_stack)"


def test_a_registered_app_gets_its_service_principal_after_the_registration(tenants_dir: Path) -> None:
    tenant = EXAMPLE_TENANTS["lab"]()
    mocks, outputs = deploy_file(tenant, EXAMPLES / "lab.yaml")
    sp = mocks.named(service_principal.NAME)
    assert sp.inputs["applicationRegisteredHere"] is True, "given the longer wait for the new application"
    (registered,) = tenant.applications.values()
    hub = tenant.service_principal_by_app_id(registered.app_id)
    assert hub is not None and outputs["service_principal_object_id"] == hub.id


def test_users_mode_resolves_upns_object_ids_and_group_members_to_one_grant_each(tenants_dir: Path) -> None:
    tenant = fabrikam(TENANT_ID)
    alice = tenant.user("alice.smith@fabrikam.com")
    bob = tenant.user("bob.jones@fabrikam.com")
    carol = tenant.user("carol.white@fabrikam.com")
    path = write_tenant(
        tenants_dir,
        "fabrikam",
        "consent:\n  mode: users\n  users:\n    - ALICE.Smith@Fabrikam.com\n"
        f"    - {bob.id}\n    - {SHARED_MAILBOX_ID}\n  groups:\n    - TaxCalc Mailboxes\n",
    )
    mocks, outputs = deploy_file(tenant, path)

    # Alice is listed and in the group: one grant. Carol comes from the group. The group's nested group
    # (with Dave in it) and its service principal member get nothing; Eve is in neither.
    expected = {alice.id, bob.id, SHARED_MAILBOX_ID, carol.id}
    assert grants_in(tenant) == {("Principal", oid, tenant.graph.id, tuple(PROFILE_SCOPES)) for oid in expected}
    assert {r.name for r in mocks.of_type(GRANT)} == {delegated_grant.user_name(oid) for oid in expected}
    assert set(outputs["grant_ids"]) == expected


def test_a_group_with_no_user_members_grants_nothing(tenants_dir: Path) -> None:
    tenant = fabrikam(TENANT_ID)
    tenant.add_group("Only groups", [tenant.group("Partners").id])
    path = write_tenant(tenants_dir, "f", "consent:\n  mode: users\n  groups: [Only groups]\n")
    mocks, outputs = deploy_file(tenant, path)
    assert mocks.of_type(GRANT) == []
    assert tenant.grants == {}
    assert outputs["grant_ids"] == {}


@pytest.mark.parametrize(
    ("users", "groups", "missing"),
    [
        (["nobody@fabrikam.com"], [], "'nobody@fabrikam.com'"),
        (["00000000-1111-4222-8333-444444444444"], [], "'00000000-1111-4222-8333-444444444444'"),
        (["alice.smith@fabrikam.com"], ["No Such Group"], "'No Such Group'"),
    ],
)
def test_an_unknown_user_or_group_fails_naming_it_and_the_tenant_file(
    tenants_dir: Path, users: list[str], groups: list[str], missing: str
) -> None:
    tenant = fabrikam(TENANT_ID)
    body = "consent:\n  mode: users\n"
    body += "  users:\n" + "".join(f"    - {u}\n" for u in users) if users else ""
    body += "  groups:\n" + "".join(f"    - {g}\n" for g in groups) if groups else ""
    path = write_tenant(tenants_dir, "fabrikam", body)

    with pytest.raises(pulumi.RunError) as failure:
        deploy_file(tenant, path)
    message = str(failure.value)
    assert missing in message
    assert str(path) in message
    assert ("consent.groups" if groups else "consent.users") in message
    if groups:
        # Groups are read through the tool's Graph client: an empty answer is "no group"; a refused or failed
        # read says "could not read group" with Graph's error instead.
        assert "no group with display name" in message and "could not read" not in message
    else:
        # What the lookup itself said rides along, so a permission or network failure is not read as a typo.
        assert "lookup failed: " in message
    assert tenant.grants == {}


def test_two_groups_with_the_same_display_name_fail_and_suggest_the_object_id(tenants_dir: Path) -> None:
    tenant = fabrikam(TENANT_ID)
    tenant.add_group("TaxCalc Mailboxes", [])
    path = write_tenant(tenants_dir, "f", "consent:\n  mode: users\n  groups:\n    - TaxCalc Mailboxes\n")
    with pytest.raises(pulumi.RunError, match="object id"):
        deploy_file(tenant, path)


def test_a_group_name_in_another_case_is_the_same_group_everywhere(tenants_dir: Path) -> None:
    """Graph's ``displayName eq`` ignores case (terraform-provider-azuread#1345: a filter for 'Microsoft GrapH'
    found Microsoft Graph), so the names a file gives in any case name the one group Entra shows."""
    tenant = fabrikam(TENANT_ID)
    alice, carol = tenant.user("alice.smith@fabrikam.com"), tenant.user("carol.white@fabrikam.com")
    group = tenant.group("TaxCalc Mailboxes")
    path = write_tenant(
        tenants_dir,
        "f",
        "consent:\n  mode: users\n  groups: [taxcalc mailboxes]\n"
        "access:\n  assignment_required: true\n  groups: [TAXCALC MAILBOXES]\n",
    )
    mocks, outputs = deploy_file(tenant, path)
    assert set(outputs["grant_ids"]) == {alice.id, carol.id}
    assert [r.name for r in mocks.of_type(APP_ROLE_ASSIGNMENT)] == [access_assignment.name("Group", group.id)]


def test_two_groups_whose_names_differ_only_in_case_are_ambiguous(tenants_dir: Path) -> None:
    # Graph's eq answers both (terraform-provider-azuread#369: applications 'bot-dev' and 'BOT-dev' both match
    # "displayName eq 'bot-dev'"), so neither spelling picks one: the object id does.
    tenant = fabrikam(TENANT_ID)
    tenant.add_group("TAXCALC MAILBOXES", [])
    path = write_tenant(tenants_dir, "f", "consent:\n  mode: users\n  groups:\n    - TaxCalc Mailboxes\n")
    with pytest.raises(pulumi.RunError) as failure:
        deploy_file(tenant, path)
    message = str(failure.value)
    assert message.startswith(f"{path}: consent.groups: 2 groups have the display name 'TaxCalc Mailboxes'")
    assert "'TaxCalc Mailboxes', 'TAXCALC MAILBOXES'" in message and "ignoring case" in message
    assert message.endswith("use the group's object id")
    assert tenant.grants == {}


def test_a_microsoft_365_group_resolves_under_app_only_credentials(tenants_dir: Path) -> None:
    """The provider's group data source fails with 403 for every Microsoft 365 group when it signs in as an
    application (terraform-provider-azuread#1866, #1929): groups are read through the tool's Graph client."""
    tenant = fabrikam(TENANT_ID)
    alice, carol = tenant.user("alice.smith@fabrikam.com"), tenant.user("carol.white@fabrikam.com")
    staff = tenant.add_group("Fabrikam Staff", [alice.id, carol.id], microsoft_365=True)
    path = write_tenant(
        tenants_dir,
        "f",
        "consent:\n  mode: users\n  groups: [Fabrikam Staff]\n"
        "access:\n  assignment_required: true\n  groups: [Fabrikam Staff]\n",
    )
    mocks, outputs = deploy_file(tenant, path)  # no auth method: app-only, as in every CI setup
    assert set(outputs["grant_ids"]) == {alice.id, carol.id}
    assert mocks.named(access_assignment.name("Group", staff.id)).inputs["principalObjectId"] == staff.id
    assert not [i for i in mocks.invokes if i.token == "azuread:index/getGroup:getGroup"]
    assert mocks.graph is not None
    sent = {r.path for r in mocks.graph.requests}
    assert {"/groups", f"/groups/{staff.id}/members/microsoft.graph.user"} <= sent


def test_a_group_name_with_an_apostrophe_resolves(tenants_dir: Path) -> None:
    """The provider's display-name filter does not double the quote (group_data_source.go), so Graph refuses
    it; the tool's Graph client writes the name as an OData string literal."""
    tenant = fabrikam(TENANT_ID)
    carol = tenant.user("carol.white@fabrikam.com")
    tenant.add_group("O'Brien's Mailboxes", [carol.id])
    path = write_tenant(tenants_dir, "f", "consent:\n  mode: users\n  groups: [\"O'Brien's Mailboxes\"]\n")
    _, outputs = deploy_file(tenant, path)
    assert set(outputs["grant_ids"]) == {carol.id}


def test_a_group_read_graph_refuses_names_the_missing_permission(tenants_dir: Path) -> None:
    tenant = fabrikam(TENANT_ID)
    path = write_tenant(tenants_dir, "f", "consent:\n  mode: users\n  groups: [TaxCalc Mailboxes]\n")
    plan = load_plan(str(path))
    mocks = EntraMocks(tenant, PUBLISHED_APPS)
    with mocked_stack(mocks, stack=plan.tenant), pytest.raises(pulumi.RunError) as failure:
        assert mocks.cloud is not None
        # Everything the program needs but the group read's permission (the service principal's is the tool's own).
        mocks.cloud.grant_only(TENANT_ID, "User.Read.All", "Application.ReadWrite.All")
        run(lambda: deploy(plan))
    message = str(failure.value)
    assert "consent.groups" in message and "'TaxCalc Mailboxes'" in message
    assert "GroupMember.Read.All" in message
    assert tenant.grants == {}


# -------------------------------------------------------------------------------- app roles and access


def test_app_roles_are_assigned_to_the_hub_service_principal_on_graph(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    path = write_tenant(
        tenants_dir, "t", "consent:\n  mode: organization\n  app_roles:\n    - User.Read.All\n    - Mail.Send\n"
    )
    mocks, outputs = deploy_file(tenant, path)

    hub = hub_sp(tenant)
    catalog = graph_catalog()
    for role in ("Mail.Send", "User.Read.All"):
        assignment = mocks.named(app_role_assignment.name(role))
        assert assignment.type == APP_ROLE_ASSIGNMENT
        assert assignment.inputs == {
            "appRoleId": tenant.graph.app_roles[role],
            "principalObjectId": hub,
            "resourceObjectId": tenant.graph.id,
        }
        assert tenant.graph.app_roles[role] == catalog.application[role].id
    assert {(a.principal_id, a.resource_id, a.app_role_id) for a in program_assignments(tenant)} == {
        (hub, tenant.graph.id, tenant.graph.app_roles["Mail.Send"]),
        (hub, tenant.graph.id, tenant.graph.app_roles["User.Read.All"]),
    }
    assert outputs["summary"]["app_roles"] == ["Mail.Send", "User.Read.All"]


def test_an_app_role_graph_does_not_publish_fails_before_anything_is_written(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    del tenant.graph.app_roles["Mail.Send"]  # a tenant whose Graph service principal lags the catalog
    path = write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n  app_roles:\n    - Mail.Send\n")
    with pytest.raises(pulumi.RunError, match=r"publishes no application permission 'Mail\.Send'"):
        deploy_file(tenant, path)
    assert program_assignments(tenant) == []


def test_assignment_required_assigns_users_and_groups_the_default_role(hub_examples: Path) -> None:
    tenant = fabrikam()
    mocks, outputs = deploy_file(tenant, hub_examples / "fabrikam.yaml")

    hub = tenant.service_principals[hub_sp(tenant)]
    assert hub.app_role_assignment_required is True
    assert mocks.named(service_principal.NAME).inputs["appRoleAssignmentRequired"] is True
    group = tenant.group("TaxCalc Mailboxes")
    users = [tenant.user(u).id for u in ("alice.smith@fabrikam.com", "bob.jones@fabrikam.com", SHARED_MAILBOX_ID)]
    expected = {(u, "User") for u in users} | {(group.id, "Group")}
    assert {(a.principal_id, a.principal_type) for a in program_assignments(tenant)} == expected
    assignments = program_assignments(tenant)
    assert all(a.resource_id == hub.id and a.app_role_id == access_assignment.DEFAULT_ROLE_ID for a in assignments)
    names = {r.name for r in mocks.of_type(APP_ROLE_ASSIGNMENT)}
    assert names == {access_assignment.name("User", u) for u in users} | {access_assignment.name("Group", group.id)}
    assert outputs["summary"]["assignments"] == 4


def test_the_same_user_by_upn_and_by_object_id_is_assigned_once(tenants_dir: Path) -> None:
    tenant = fabrikam(TENANT_ID)
    alice = tenant.user("alice.smith@fabrikam.com")
    path = write_tenant(
        tenants_dir,
        "f",
        "consent:\n  mode: organization\naccess:\n  assignment_required: true\n  users:\n"
        f"    - alice.smith@fabrikam.com\n    - {alice.id}\n",
    )
    mocks, _ = deploy_file(tenant, path)
    assert [r.name for r in mocks.of_type(APP_ROLE_ASSIGNMENT)] == [access_assignment.name("User", alice.id)]
    assert len(program_assignments(tenant)) == 1


# ------------------------------------------------------------------------------------------ register


def test_register_mode_creates_the_multi_tenant_app_and_its_service_principal() -> None:
    tenant = EXAMPLE_TENANTS["lab"]()
    mocks, _ = deploy_file(tenant, EXAMPLES / "lab.yaml")

    registration = mocks.named(app_registration.NAME)
    assert registration.type == APPLICATION
    assert registration.inputs["signInAudience"] == "AzureADMultipleOrgs"
    assert registration.inputs["publicClient"] == {
        "redirectUris": ["https://login.microsoftonline.com/common/oauth2/nativeclient"]
    }
    [access] = registration.inputs["requiredResourceAccesses"]
    assert access["resourceAppId"] == GRAPH_APP_ID
    catalog = graph_catalog()
    assert sorted((a["type"], a["id"]) for a in access["resourceAccesses"]) == sorted(
        ("Scope", catalog.delegated[s].id) for s in PROFILE_SCOPES
    )
    [application] = tenant.applications.values()
    sp = mocks.named(service_principal.NAME)
    assert sp.inputs["clientId"] == application.app_id
    assert tenant.service_principals[sp.id].app_id == application.app_id
    tester = tenant.user("tester@msplab.onmicrosoft.com")
    assert grants_in(tenant) == {("Principal", tester.id, tenant.graph.id, tuple(PROFILE_SCOPES))}


def test_register_mode_asks_for_the_planned_app_roles_too(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    path = tenants_dir / "lab.yaml"
    path.write_text(
        f"tenant:\n  id: {TENANT_ID}\napp:\n  register: true\nconsent:\n  mode: organization\n"
        "  scopes: [User.Read]\n  app_roles: [Mail.Send]\n",
        encoding="utf-8",
    )
    mocks, _ = deploy_file(tenant, path)
    [access] = mocks.named(app_registration.NAME).inputs["requiredResourceAccesses"]
    assert sorted((a["type"], a["id"]) for a in access["resourceAccesses"]) == sorted(
        [("Scope", tenant.graph.oauth2_permission_scopes["User.Read"]), ("Role", tenant.graph.app_roles["Mail.Send"])]
    )


# ------------------------------------------------------------------------------------------- adoption


def test_consent_granted_by_hand_collides_unless_adopted(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    hub = tenant.add_service_principal(HUB_CLIENT_ID, "TaxCalc-Hub")
    by_hand = tenant.create_grant(hub.id, "AllPrincipals", None, tenant.graph.id, "User.Read Mail.Send")
    path = write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n")

    with pytest.raises(Exception, match="Permission entry already exists"):
        deploy_file(tenant, path)

    mocks, outputs = deploy_file(tenant, path, adopt={delegated_grant.ORGANIZATION_NAME: by_hand.id})
    grant = mocks.named(delegated_grant.ORGANIZATION_NAME)
    assert grant.import_id == f"/oauth2PermissionGrants/{by_hand.id}"
    assert list(tenant.grants) == [by_hand.id]
    # Imported, then brought to the planned scopes (Pulumi updates an import whose inputs differ).
    assert by_hand.scopes == PROFILE_SCOPES
    assert outputs["grant_ids"] == {"AllPrincipals": f"/oauth2PermissionGrants/{by_hand.id}"}


def test_adopting_user_grants_and_assignments(tenants_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    tenant = fabrikam(TENANT_ID)
    alice = tenant.user("alice.smith@fabrikam.com")
    hub = tenant.add_service_principal(HUB_CLIENT_ID, "TaxCalc-Hub")
    grant = tenant.create_grant(hub.id, "Principal", alice.id, tenant.graph.id, " ".join(PROFILE_SCOPES))
    assignment = tenant.create_app_role_assignment(alice.id, hub.id, access_assignment.DEFAULT_ROLE_ID)
    path = write_tenant(
        tenants_dir,
        "f",
        "consent:\n  mode: users\n  users: [alice.smith@fabrikam.com, bob.jones@fabrikam.com]\n"
        "access:\n  assignment_required: true\n  users: [alice.smith@fabrikam.com]\n",
    )
    adopt = {
        delegated_grant.user_name(alice.id): grant.id,
        access_assignment.name("User", alice.id): assignment.id,
        "graph-grant-user-somebody-who-left": "0",
    }
    mocks, _ = deploy_file(tenant, path, adopt=adopt)

    assert mocks.named(delegated_grant.user_name(alice.id)).import_id == f"/oauth2PermissionGrants/{grant.id}"
    assert (
        mocks.named(access_assignment.name("User", alice.id)).import_id
        == f"/servicePrincipals/{hub.id}/appRoleAssignedTo/{assignment.id}"
    )
    assert len(tenant.grants) == 2  # Alice's adopted, Bob's created
    assert [a.id for a in program_assignments(tenant)] == [assignment.id]
    assert "'graph-grant-user-somebody-who-left', which this tenant file does not declare" in caplog.text


def test_adopting_an_id_that_does_not_exist_fails_the_import(tenants_dir: Path) -> None:
    tenant = FakeTenant(TENANT_ID)
    path = write_tenant(tenants_dir, "t", "consent:\n  mode: organization\n")
    with pytest.raises(Exception, match="does not exist"):
        deploy_file(tenant, path, adopt={delegated_grant.ORGANIZATION_NAME: "no-such-grant"})


# ------------------------------------------------------------------------------------- logical names


def test_reordering_lists_keeps_every_logical_name_and_input(tenants_dir: Path) -> None:
    first = write_tenant(
        tenants_dir,
        "a",
        "consent:\n  mode: users\n  users: [alice.smith@fabrikam.com, bob.jones@fabrikam.com, "
        f"{SHARED_MAILBOX_ID}]\n  groups: [TaxCalc Mailboxes]\n  app_roles: [Mail.Send, User.Read.All]\n"
        "access:\n  assignment_required: true\n  users: [alice.smith@fabrikam.com, bob.jones@fabrikam.com]\n"
        "  groups: [TaxCalc Mailboxes]\n",
    )
    second = write_tenant(
        tenants_dir,
        "b",
        f"consent:\n  mode: users\n  users: [{SHARED_MAILBOX_ID}, Bob.Jones@fabrikam.com, "
        "alice.smith@fabrikam.com]\n  groups: [TaxCalc Mailboxes]\n  app_roles: [User.Read.All, Mail.Send]\n"
        "access:\n  assignment_required: true\n  groups: [TaxCalc Mailboxes]\n"
        "  users: [bob.jones@fabrikam.com, alice.smith@fabrikam.com]\n",
    )
    tenant = fabrikam(TENANT_ID)
    mocks_a, _ = deploy_file(tenant, first)
    for oid in list(tenant.grants):  # the same directory, emptied of what the first run wrote
        tenant.delete_grant(oid)
    for made in program_assignments(tenant):
        tenant.delete_app_role_assignment(made.id)
    mocks_b, _ = deploy_file(tenant, second)

    def shape(mocks: EntraMocks) -> dict[tuple[str, str], dict[str, Any]]:
        declared = [r for r in mocks.resources if r.type.startswith("azuread:") or r.type == SERVICE_PRINCIPAL]
        # What the program saw of the service principal (none on the first run, then the one it made) is not a
        # declared input of the file's.
        return {(r.type, r.name): {k: v for k, v in r.inputs.items() if k != "foundInTenant"} for r in declared}

    assert shape(mocks_a) == shape(mocks_b)
    assert len(shape(mocks_a)) == 1 + 4 + 2 + 3  # service principal, grants, app roles, access assignments


# -------------------------------------------------------------------------------------------- provider


@pytest.mark.parametrize("example", sorted(EXAMPLE_TENANTS))
def test_every_resource_and_lookup_goes_through_the_tenants_provider(example: str, hub_examples: Path) -> None:
    tenant = EXAMPLE_TENANTS[example]()
    mocks, _ = deploy_file(tenant, hub_examples / f"{example}.yaml")

    [provider] = mocks.of_type(PROVIDER_TYPE)
    assert provider.inputs["tenantId"] == tenant.tenant_id
    assert provider.inputs["useCli"] == "false"
    azuread_resources = [r for r in mocks.resources if r.type.startswith("azuread:")]
    assert azuread_resources
    provider_ref = azuread_resources[0].provider
    assert provider_ref.endswith(f"::{provider.id}")
    # The service principal is the tool's own resource: it signs in as the file's auth says, under the component.
    assert mocks.options[service_principal.NAME].parent.endswith("::tenant-consent")
    assert {r.provider for r in azuread_resources} == {provider_ref}
    assert mocks.invokes
    assert {i.provider for i in mocks.invokes} == {provider_ref}
    component = mocks.named("tenant-consent")
    assert all(mocks.options[r.name].parent.endswith("::tenant-consent") for r in azuread_resources)
    assert component.type == "taxcalc-consent:index:TenantConsent"


def test_the_fake_refuses_writes_that_bypass_the_tenants_provider() -> None:
    """The provider check above means something: the fake tenant rejects the default provider."""
    mocks = EntraMocks(FakeTenant(TENANT_ID), PUBLISHED_APPS)
    with mocked_stack(mocks), pytest.raises(Exception, match="not sent through an explicit azuread provider"):
        run(lambda: azuread.ServicePrincipal("sp", client_id=HUB_CLIENT_ID, use_existing=True).object_id)


def test_the_fake_refuses_a_provider_bound_to_another_tenant() -> None:
    mocks = EntraMocks(FakeTenant(TENANT_ID), PUBLISHED_APPS)

    def program() -> Any:
        other = azuread.Provider("other", tenant_id="0f8fad5b-d9cb-469f-a165-70867728950e", use_cli=False)
        return azuread.get_user(user_principal_name="a@b.com", opts=pulumi.InvokeOptions(provider=other))

    with mocked_stack(mocks), pytest.raises(Exception, match="not 6e2b1a3c"):
        run(program)


# ------------------------------------------------------------------------------- examples vs plan --offline


def test_for_every_example_the_grants_registered_equal_the_grants_plan_offline_prints(hub_examples: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--offline", "--json", str(hub_examples)])
    assert result.exit_code == 0, result.output
    document = parse_document(result.stdout)
    assert sorted(t["tenant"] for t in document["tenants"]) == sorted(EXAMPLE_TENANTS)

    for planned in document["tenants"]:
        tenant = EXAMPLE_TENANTS[planned["tenant"]]()
        graph = tenant.service_principal_by_app_id(GRAPH_APP_ID)
        assert graph is not None
        # What plan --offline promises, resolved in the directory by hand (not by the program's code).
        expected: set[tuple[str, str | None, str, tuple[str, ...]]] = set()
        for grant in planned["grants"]:
            principal = None if grant["principal"] is None else tenant.user(grant["principal"]).id
            expected.add((grant["consent_type"], principal, grant["resource_app_id"], tuple(grant["scopes"])))
        for group_grant in planned["group_grants"]:
            for member in tenant.group(group_grant["group"]).members:
                if tenant.object_type(member) == "User":
                    expected.add(("Principal", member, group_grant["resource_app_id"], tuple(group_grant["scopes"])))

        mocks, _ = deploy_file(tenant, hub_examples / f"{planned['tenant']}.yaml")
        registered = {
            (
                "Principal" if r.inputs.get("userObjectId") else "AllPrincipals",
                r.inputs.get("userObjectId"),
                GRAPH_APP_ID if r.inputs["resourceServicePrincipalObjectId"] == graph.id else "?",
                tuple(r.inputs["claimValues"]),
            )
            for r in mocks.of_type(GRANT)
        }
        assert registered == expected, planned["tenant"]
        in_tenant = {(c, p, GRAPH_APP_ID if r == graph.id else "?", s) for c, p, r, s in grants_in(tenant)}
        assert in_tenant == expected, planned["tenant"]


@pytest.fixture(autouse=True)
def _collect_abandoned_pulumi_work() -> Iterator[None]:
    """See ``tests.fakes.pulumi_mocks.settle_event_loop``: collect what a failed run left, now."""
    yield
    settle_event_loop()


def test_the_programs_graph_calls_never_fall_back_to_another_identity() -> None:
    """No method in the file and none from ARM_*: the provider has no credential (infra.provider never
    enables the Azure CLI implicitly), so the program's group reads and consent-settings writes refuse
    too, rather than signing in as whoever is logged in to the Azure CLI. A ready token
    (TAXCALC_CONSENT_GRAPH_TOKEN, for audit and adopt) does not serve them either: they act as the provider."""
    from taxcalc_consent.infra.graph import client as graph
    from taxcalc_consent.infra.graph.policy_writer import policy_writer
    from taxcalc_consent.infra.model.spec import AuthSection

    for environ in ({}, {graph.TOKEN_ENV: "ready"}, {"ARM_USE_CLI": "true"}):
        with pytest.raises(graph.CredentialError, match=r"names no auth\.method and the azuread provider's ARM_"):
            graph.program_client(TENANT_ID, AuthSection(), environ)
        with pytest.raises(graph.CredentialError, match=r"names no auth\.method and the azuread provider's ARM_"):
            policy_writer(TENANT_ID, AuthSection(), environ)


@pytest.mark.parametrize(
    ("environment", "graph_root", "login"),
    [
        (None, "https://graph.microsoft.com", "https://login.microsoftonline.com"),
        ("global", "https://graph.microsoft.com", "https://login.microsoftonline.com"),
        ("public", "https://graph.microsoft.com", "https://login.microsoftonline.com"),
        ("canary", "https://canary.graph.microsoft.com", "https://login.microsoftonline.com"),
        ("USGovernment", "https://graph.microsoft.us", "https://login.microsoftonline.us"),
        ("usgovernmentl4", "https://graph.microsoft.us", "https://login.microsoftonline.us"),
        ("usgovernmentl5", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
        ("dod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
        ("china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    ],
)
def test_the_programs_graph_calls_go_to_the_cloud_the_provider_uses(
    environment: str | None, graph_root: str, login: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pulumi-azuread takes its cloud from ARM_ENVIRONMENT (go-azure-sdk environments.FromName and each
    environment's file: azure_public.go, azure_public_canary.go, azure_gov.go, azure_china.go); the group reads
    and the consent-settings writes go to that cloud's Graph and sign in at its authority."""
    from taxcalc_consent.infra.graph import client as graph
    from taxcalc_consent.infra.graph import credentials, policy_writer
    from taxcalc_consent.infra.model.spec import AuthSection
    from taxcalc_consent.infra.program import directory

    authorities: list[str] = []
    monkeypatch.setattr(credentials, "_credential", lambda signin, endpoints: authorities.append(endpoints.login))
    environ = {"ARM_USE_MSI": "true", **({"ARM_ENVIRONMENT": environment} if environment else {})}
    from taxcalc_consent.cli.fleet.pipeline import load_plans

    (plan,) = load_plans([EXAMPLES / "contoso.yaml"], notify=no_notices)
    reader = directory.program_graph_client(plan, environ)
    writer = policy_writer.policy_writer(plan.tenant_id, AuthSection(), environ)
    assert reader.base_url == writer.reader.base_url == graph_root
    assert authorities == [login] * 2
    # TAXCALC_CONSENT_GRAPH_ENDPOINT moves the Graph root only; sign-in stays at the provider's cloud.
    moved = directory.program_graph_client(plan, {**environ, graph.GRAPH_ENDPOINT_ENV: "https://graph.example.net/"})
    assert moved.base_url == "https://graph.example.net" and authorities[-1] == login


def test_a_cloud_the_provider_does_not_know_is_refused() -> None:
    from taxcalc_consent.infra.graph import client as graph

    with pytest.raises(graph.CredentialError, match="ARM_ENVIRONMENT is 'mars': not a cloud the azuread provider"):
        graph.provider_endpoints({"ARM_ENVIRONMENT": "mars"})
