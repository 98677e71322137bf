"""The consent settings provider over real HTTP against the Graph emulator, called as the engine calls it.

``pulumi-resource-pulumi-python`` unpickles the provider from the resource's state and calls check, create,
read (refresh), diff, update and delete; these tests do the same, with the provider signing in at an emulated
cloud through the azuread provider's variables, as in the engine. What the tenant holds afterwards is read from the
emulator's tenant; what went over the wire from its request log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import httpx
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from typer.testing import CliRunner

from taxcalc_consent.cli.fleet.events import without_traceback
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph.client import GraphError
from taxcalc_consent.infra.graph.signin import CredentialError
from taxcalc_consent.infra.model.consent_settings import DIRECTORY_ROLES, RESTORE_ENV, reviewer_query
from taxcalc_consent.infra.model.kinds import admin_consent_workflow, user_consent_setting
from taxcalc_consent.infra.program.settings_provider import (
    AdminConsentWorkflowProvider,
    UserConsentSettingProvider,
    WorkflowRefused,
)
from tests.documents import parse_document
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import APPLY_ROLES, EmulatedCloud, serve_cloud
from tests.fakes.example_tenants import contoso, northwind
from tests.fakes.graph_emulator import GraphEmulator, serve
from tests.fakes.ids import HUB_CLIENT_ID
from tests.test_infra_program import deploy_file, write_tenant

TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
LEGACY = "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"
DEVELOPER = "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
GLOBAL_ADMINISTRATOR = DIRECTORY_ROLES["Global Administrator"]


@pytest.fixture
def tenant() -> FakeTenant:
    tenant = FakeTenant(TENANT_ID)
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY, DEVELOPER]
    return tenant


@pytest.fixture
def cloud(tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCloud]:
    """The tenant in an emulated cloud, and the azuread provider's variables for it in the environment: the
    settings provider signs in there as the stack's provider would (infra.signin)."""
    with serve_cloud([tenant], roles=APPLY_ROLES) as running:
        environment = {
            **running.certificates.trust_environment(),
            "ARM_METADATA_HOSTNAME": running.metadata_host,
            "ARM_CLIENT_ID": running.automation.client_id,
            "ARM_CLIENT_SECRET": running.automation.client_secret,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for name in (graph.GRAPH_ENDPOINT_ENV, graph.TOKEN_ENV, RESTORE_ENV):
            monkeypatch.delenv(name, raising=False)
        yield running


@pytest.fixture
def emulator(cloud: EmulatedCloud) -> GraphEmulator:
    return cloud.tenants[TENANT_ID]


def writes(emulator: GraphEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emulator.writes()]


def user_consent(setting: str) -> dict[str, Any]:
    return {"tenantId": TENANT_ID, "setting": setting, "auth": {}}


def workflow(enabled: bool = True, reviewers: tuple[str, ...] = (), days: float = 14.0) -> dict[str, Any]:
    return {
        "tenantId": TENANT_ID,
        "isEnabled": enabled,
        "reviewers": [{"query": q, "queryType": "MicrosoftGraph"} for q in reviewers],
        "reviewerNames": [f"reviewer {n}" for n in range(len(reviewers))],
        "notifyReviewers": True,
        "remindersEnabled": False,
        "requestDurationInDays": days,  # the engine hands every number over as a double
        "auth": {},
    }


# ---------------------------------------------------------------------------------- user consent setting


def test_create_changes_only_the_self_consent_entry_and_records_what_was_there(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    created = UserConsentSettingProvider().create(user_consent("disabled"))
    assert created.id == "authorizationPolicy"
    assert tenant.authorization_policy.permission_grant_policies_assigned == [DEVELOPER]
    assert writes(emulator) == [("PATCH", "/policies/authorizationPolicy")]
    outs = created.outs or {}
    assert outs["setting"] == "disabled"
    assert outs["before"] == {"setting": "all", "permissionGrantPoliciesAssigned": [LEGACY, DEVELOPER]}


def test_a_setting_already_in_place_in_grahps_own_spelling_is_not_written(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY.replace("Manage", "manage"), DEVELOPER]
    created = UserConsentSettingProvider().create(user_consent("all"))
    assert writes(emulator) == []
    assert (created.outs or {})["setting"] == "all"


def test_a_change_by_hand_is_read_back_as_drift_and_update_puts_the_files_setting_back(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    provider = UserConsentSettingProvider()
    state = provider.create(user_consent("verified-publishers-low-impact")).outs or {}
    # An administrator picks "Allow user consent for apps" in the admin centre, and adds a policy of their own.
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY, DEVELOPER, "Custom.Policy"]
    refreshed = provider.read("authorizationPolicy", state)
    outs = refreshed.outs or {}
    assert outs["setting"] == "all" and outs["before"] == state["before"]
    assert provider.diff("authorizationPolicy", outs, user_consent("verified-publishers-low-impact")).changes
    updated = provider.update("authorizationPolicy", outs, user_consent("verified-publishers-low-impact")).outs or {}
    assert tenant.authorization_policy.permission_grant_policies_assigned == [
        "ManagePermissionGrantsForSelf.microsoft-user-default-low",
        DEVELOPER,
        "Custom.Policy",
    ]
    assert updated["before"] == state["before"]  # still what the tenant had before the first apply
    assert not provider.diff("authorizationPolicy", updated, user_consent("verified-publishers-low-impact")).changes


def test_a_refresh_signs_in_as_the_tool_says_now_not_as_the_state_recorded(
    emulator: GraphEmulator, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine hands read and delete the state of the last update, whose ``auth`` may be a way of signing in
    the tenant file has since left (here a secret variable that is gone). The tool's runs give the tenant's
    engine the block as it is now (``TAXCALC_CONSENT_AUTH``), and the provider signs in that way."""
    provider = UserConsentSettingProvider()
    state = {**(provider.create(user_consent("disabled")).outs or {}), "auth": {"clientSecretEnv": "GONE_SECRET"}}
    with pytest.raises(CredentialError, match="GONE_SECRET, which is not set"):
        provider.read("authorizationPolicy", state)
    monkeypatch.setenv("TAXCALC_CONSENT_AUTH", json.dumps({"tenantId": TENANT_ID.upper()}))
    assert (provider.read("authorizationPolicy", state).outs or {})["setting"] == "disabled"
    # Another tenant's block is not this one's: the state's is used, and refused as before.
    monkeypatch.setenv("TAXCALC_CONSENT_AUTH", json.dumps({"tenantId": "0" * 8 + TENANT_ID[8:]}))
    with pytest.raises(CredentialError, match="GONE_SECRET, which is not set"):
        provider.read("authorizationPolicy", state)


def test_delete_leaves_the_setting_unless_asked_to_restore_the_recorded_one(
    emulator: GraphEmulator, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = UserConsentSettingProvider()
    state = provider.create(user_consent("disabled")).outs or {}
    tenant.authorization_policy.permission_grant_policies_assigned = [
        DEVELOPER,
        "ManagePermissionGrantsForOwnedResource.Y",
    ]
    before = len(emulator.writes())
    provider.delete("authorizationPolicy", state)
    assert len(emulator.writes()) == before
    monkeypatch.setenv(RESTORE_ENV, "1")
    provider.delete("authorizationPolicy", state)
    # The recorded self-consent entry comes back; today's other entries stay as they are now.
    assert tenant.authorization_policy.permission_grant_policies_assigned == [
        LEGACY,
        DEVELOPER,
        "ManagePermissionGrantsForOwnedResource.Y",
    ]


def test_without_the_write_permission_the_error_names_it(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    cloud.grant_only(TENANT_ID, "Policy.Read.All")
    with pytest.raises(GraphError) as caught:
        UserConsentSettingProvider().create(user_consent("disabled"))
    assert caught.value.status == 403
    assert "PATCH /policies/authorizationPolicy" in str(caught.value)
    assert "Microsoft Graph application permission Policy.ReadWrite.Authorization" in str(caught.value)
    assert tenant.authorization_policy.permission_grant_policies_assigned == [LEGACY, DEVELOPER]


def test_check_refuses_what_the_program_would_never_send(emulator: GraphEmulator) -> None:
    checked = UserConsentSettingProvider().check({}, {"tenantId": "contoso", "setting": "allow"})
    assert {f.property for f in checked.failures} == {"tenantId", "setting"}


# ----------------------------------------------------------------------------- admin consent workflow


def test_the_workflow_is_put_whole_and_what_was_there_is_recorded(emulator: GraphEmulator, tenant: FakeTenant) -> None:
    user = tenant.add_user("it.admin@contoso.com")
    queries = (reviewer_query("user", user.id), reviewer_query("role", GLOBAL_ADMINISTRATOR))
    created = AdminConsentWorkflowProvider().create(workflow(reviewers=queries))
    policy = tenant.admin_consent_request_policy
    assert (policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled, policy.request_duration_in_days) == (
        True,
        True,
        False,
        14,
    )
    assert [r["query"] for r in policy.reviewers] == list(queries)
    assert policy.version == 1  # Graph moves the version on with each update
    assert writes(emulator) == [("PUT", "/policies/adminConsentRequestPolicy")]
    outs = created.outs or {}
    assert outs["before"]["isEnabled"] is False and outs["before"]["reviewers"] == []
    assert outs["reviewerNames"] == ["reviewer 0", "reviewer 1"]


def test_workflow_drift_update_and_restore(
    emulator: GraphEmulator, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = AdminConsentWorkflowProvider()
    role = reviewer_query("role", GLOBAL_ADMINISTRATOR)
    wanted = workflow(reviewers=(role,))
    state = provider.create(wanted).outs or {}
    # Turned off by hand, reviewers cleared.
    tenant.admin_consent_request_policy.is_enabled = False
    tenant.admin_consent_request_policy.reviewers = []
    outs = provider.read("adminConsentRequestPolicy", state).outs or {}
    assert outs["isEnabled"] is False
    assert provider.diff("adminConsentRequestPolicy", outs, wanted).changes
    provider.update("adminConsentRequestPolicy", outs, wanted)
    assert tenant.admin_consent_request_policy.is_enabled is True
    # Reviewers compare as a set of queries, whatever their order and case.
    reordered = provider.read("adminConsentRequestPolicy", state).outs or {}
    assert not provider.diff("adminConsentRequestPolicy", reordered, workflow(reviewers=(role.upper(),))).changes
    monkeypatch.setenv(RESTORE_ENV, "1")
    provider.delete("adminConsentRequestPolicy", state)
    assert tenant.admin_consent_request_policy.is_enabled is False
    assert tenant.admin_consent_request_policy.reviewers == []


def an_administrators_workflow(tenant: FakeTenant) -> list[dict[str, Any]]:
    """The policy as an administrator set it in the admin centre: on, a user and a role reviewing, emails off,
    reminders on, requests expiring after 7 days. Returns its reviewers."""
    admin = tenant.add_user("it.admin@contoso.com")
    reviewers = [
        {"query": reviewer_query("user", admin.id), "queryType": "MicrosoftGraph", "queryRoot": None},
        {"query": reviewer_query("role", GLOBAL_ADMINISTRATOR), "queryType": "MicrosoftGraph", "queryRoot": None},
    ]
    policy = tenant.admin_consent_request_policy
    policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled = True, False, True
    policy.request_duration_in_days, policy.reviewers, policy.version = 7, list(reviewers), 3
    return reviewers


def only(**named: Any) -> dict[str, Any]:
    """Inputs as the program sends them for a file that names only ``named`` (the rest is left out)."""
    return {"tenantId": TENANT_ID, "auth": {}, **named}


def test_a_file_that_names_only_enabled_keeps_everything_an_administrator_set(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    reviewers = an_administrators_workflow(tenant)
    provider = AdminConsentWorkflowProvider()
    inputs = only(isEnabled=False)
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    policy = tenant.admin_consent_request_policy
    # Graph's PUT replaced the whole policy with what the provider merged: the file's isEnabled, the rest found.
    assert writes(emulator) == [("PUT", "/policies/adminConsentRequestPolicy")]
    assert policy.version == 4
    assert policy.is_enabled is False
    assert (policy.notify_reviewers, policy.reminders_enabled, policy.request_duration_in_days) == (False, True, 7)
    assert [r["query"] for r in policy.reviewers] == [r["query"] for r in reviewers]
    outs = created.outs or {}
    assert outs[admin_consent_workflow.MANAGED_FIELDS] == ["isEnabled"]
    assert outs["before"]["isEnabled"] is True and len(outs["before"]["reviewers"]) == 2
    # A file whose named keys already hold writes nothing at all.
    assert AdminConsentWorkflowProvider().create(only(isEnabled=False, requestDurationInDays=7.0)).outs
    assert policy.version == 4


def test_a_hand_change_to_a_kept_property_is_not_drift_and_update_keeps_it(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    an_administrators_workflow(tenant)
    provider = AdminConsentWorkflowProvider()
    inputs = only(isEnabled=True, requestDurationInDays=14.0)
    state = provider.create(inputs).outs or {}
    assert tenant.admin_consent_request_policy.request_duration_in_days == 14
    # The administrator turns reminders off and adds a reviewer: the file says nothing of either.
    tenant.admin_consent_request_policy.reminders_enabled = False
    tenant.admin_consent_request_policy.reviewers.append(
        {"query": reviewer_query("role", DIRECTORY_ROLES["Application Administrator"])}
    )
    refreshed = provider.read("adminConsentRequestPolicy", state).outs or {}
    assert not provider.diff("adminConsentRequestPolicy", refreshed, inputs).changes
    # ... and shortens the expiry, which the file names: that is drift, and the update keeps their other changes.
    tenant.admin_consent_request_policy.request_duration_in_days = 3
    refreshed = provider.read("adminConsentRequestPolicy", state).outs or {}
    assert provider.diff("adminConsentRequestPolicy", refreshed, inputs).changes
    assert admin_consent_workflow.changed_fields(refreshed, {**refreshed, "requestDurationInDays": 14}) == [
        "requestDurationInDays"
    ]
    updated = provider.update("adminConsentRequestPolicy", refreshed, inputs).outs
    policy = tenant.admin_consent_request_policy
    assert policy.request_duration_in_days == 14 and policy.reminders_enabled is False and len(policy.reviewers) == 3
    assert updated[admin_consent_workflow.MANAGED_FIELDS] == ["isEnabled", "requestDurationInDays"]


def test_restore_puts_back_only_what_the_file_owned(
    emulator: GraphEmulator, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    an_administrators_workflow(tenant)
    provider = AdminConsentWorkflowProvider()
    state = provider.create(only(isEnabled=False)).outs or {}
    # After the first apply an administrator changes a property the file never named.
    tenant.admin_consent_request_policy.request_duration_in_days = 21
    monkeypatch.setenv(RESTORE_ENV, "1")
    provider.delete("adminConsentRequestPolicy", state)
    policy = tenant.admin_consent_request_policy
    assert policy.is_enabled is True  # what was found, put back
    assert policy.request_duration_in_days == 21  # never the tool's: left as it is today
    # A state from before the tool kept the rest (no managedFields): that version wrote every property.
    provider.create(only(isEnabled=False))
    legacy = {k: v for k, v in state.items() if k != admin_consent_workflow.MANAGED_FIELDS}
    provider.delete("adminConsentRequestPolicy", legacy)
    assert tenant.admin_consent_request_policy.request_duration_in_days == 7


def test_turning_the_workflow_on_keeping_a_tenants_empty_reviewers_is_refused_unwritten(
    emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    with pytest.raises(WorkflowRefused) as refused:
        AdminConsentWorkflowProvider().create(only(isEnabled=True))
    assert "would reach nobody" in str(refused.value) and "consent_settings.admin_consent_workflow.reviewers" in str(
        refused.value
    )
    assert writes(emulator) == []
    # Named as none, the file decided it (the admin-consent-reviewers rule judges that): written.
    AdminConsentWorkflowProvider().create(only(isEnabled=True, reviewers=[]))
    assert tenant.admin_consent_request_policy.is_enabled is True


def test_workflow_check_judges_only_what_the_file_names(emulator: GraphEmulator) -> None:
    provider = AdminConsentWorkflowProvider()
    assert provider.check({}, only(isEnabled=True)).failures == []
    refused = provider.check({}, only(notifyReviewers="yes", requestDurationInDays=0.0))
    assert {f.property for f in refused.failures} == {"isEnabled", "notifyReviewers", "requestDurationInDays"}


def test_workflow_without_its_write_permission_names_it(cloud: EmulatedCloud) -> None:
    cloud.grant_only(TENANT_ID, "Policy.Read.All")
    with pytest.raises(GraphError) as caught:
        AdminConsentWorkflowProvider().create(workflow(reviewers=(reviewer_query("role", GLOBAL_ADMINISTRATOR),)))
    assert "Microsoft Graph application permission Policy.ReadWrite.ConsentRequest" in str(caught.value)


def test_workflow_check_refuses_reviewers_in_no_form_the_admin_centre_writes(emulator: GraphEmulator) -> None:
    checked = AdminConsentWorkflowProvider().check({}, workflow(reviewers=("./manager",), days=31.0))
    assert {f.property for f in checked.failures} == {"reviewers[0]", "requestDurationInDays"}


# ---------------------------------------------------------------------------- the emulator's Graph rules


def test_graph_refuses_what_these_policies_do_not_declare(cloud: EmulatedCloud, tenant: FakeTenant) -> None:
    headers = {"Authorization": f"Bearer {cloud.token_for(TENANT_ID)}"}
    with httpx.Client(base_url=f"{cloud.base_url}/v1.0", headers=headers) as http:
        patch = http.patch("/policies/authorizationPolicy", json={"defaultUserRolePermissions": {"consent": []}})
        assert patch.status_code == 400 and "'consent' does not exist as a declared property" in patch.text
        not_strings = {
            "defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": "ManagePermissionGrantsForSelf.x"}
        }
        assert http.patch("/policies/authorizationPolicy", json=not_strings).status_code == 400
        # A PATCH that names one property leaves the others as they are.
        ok = http.patch(
            "/policies/authorizationPolicy", json={"defaultUserRolePermissions": {"allowedToCreateApps": False}}
        )
        assert ok.status_code == 204 and not ok.content
        assert tenant.authorization_policy.permission_grant_policies_assigned == [LEGACY, DEVELOPER]
        missing = http.put("/policies/adminConsentRequestPolicy", json={"isEnabled": True})
        assert missing.status_code == 400 and "'notifyReviewers' is required" in missing.text
        body = {
            "isEnabled": "yes",
            "notifyReviewers": True,
            "remindersEnabled": True,
            "requestDurationInDays": 30,
            "reviewers": [],
        }
        assert http.put("/policies/adminConsentRequestPolicy", json=body).status_code == 400
        # Enabled with no reviewer is a state real tenants hold (mondoohq/mql#5722): Graph takes it; the
        # tool's admin-consent-reviewers rule is what refuses it.
        assert http.put("/policies/adminConsentRequestPolicy", json={**body, "isEnabled": True}).status_code == 204
        cloud.grant_only(TENANT_ID, "Policy.Read.All")
        http.headers["Authorization"] = f"Bearer {cloud.token_for(TENANT_ID)}"  # a token with the roles left
        denied = http.put("/policies/adminConsentRequestPolicy", json={**body, "isEnabled": False})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"
        assert http.get("/policies/adminConsentRequestPolicy").json()["isEnabled"] is True


# ------------------------------------------------------------------------------------ what state holds


def test_state_holds_a_reference_to_the_provider_not_its_code_nor_any_secret() -> None:
    pickled = serialize_provider(UserConsentSettingProvider())
    raw = base64.b64decode(pickled)
    assert b"taxcalc_consent.infra.program.settings_provider" in raw and b"UserConsentSettingProvider" in raw
    assert len(raw) < 400  # a reference by name: the code comes from the installed package
    assert type(dill.loads(raw)) is UserConsentSettingProvider
    assert UserConsentSettingProvider.serialize_as_secret_always is False


# ------------------------------------------------------------- the program under Pulumi's mock runtime


def test_the_program_sets_both_settings_in_the_tenant_the_file_names(hub_examples: Path) -> None:

    tenant = northwind()
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY, DEVELOPER]
    mocks, outputs = deploy_file(tenant, hub_examples / "northwind.yaml")
    assert tenant.authorization_policy.permission_grant_policies_assigned == [DEVELOPER]
    policy = tenant.admin_consent_request_policy
    admin = tenant.user("it.admin@northwind.co.uk")
    assert policy.is_enabled and policy.request_duration_in_days == 14
    assert {r["query"] for r in policy.reviewers} == {
        reviewer_query("user", admin.id),
        reviewer_query("role", GLOBAL_ADMINISTRATOR),
    }
    setting = mocks.named(user_consent_setting.NAME)
    workflow_resource = mocks.named(admin_consent_workflow.NAME)
    assert setting.type == user_consent_setting.TYPE and workflow_resource.type == admin_consent_workflow.TYPE
    # Children of the component, and not on the azuread provider: they sign in as the file's auth says.
    assert mocks.options[user_consent_setting.NAME].parent.endswith("::tenant-consent")
    assert setting.provider == "" and workflow_resource.provider == ""
    assert workflow_resource.inputs["reviewerNames"] == ["user it.admin@northwind.co.uk", "role Global Administrator"]
    assert outputs["summary"]["user_consent"] == "disabled"


def test_a_file_without_the_section_declares_neither_and_leaves_the_tenant_alone(hub_examples: Path) -> None:

    tenant = contoso()
    mocks, _ = deploy_file(tenant, hub_examples / "contoso.yaml")
    assert not mocks.of_type(user_consent_setting.TYPE) and not mocks.of_type(admin_consent_workflow.TYPE)
    assert tenant.authorization_policy.permission_grant_policies_assigned == [LEGACY, DEVELOPER]
    assert tenant.admin_consent_request_policy.version == 0


def test_a_reviewer_missing_from_the_directory_stops_the_run_naming_the_file(tenants_dir: Path) -> None:
    (tenants_dir / "_defaults.yaml").write_text(
        f"app:\n  client_id: {HUB_CLIENT_ID}\npolicy:\n  consent_settings_in_tenant_files: [admin_consent_workflow]\n",
        encoding="utf-8",
    )
    path = write_tenant(
        tenants_dir,
        "acme",
        "consent:\n  mode: organization\nconsent_settings:\n  admin_consent_workflow:\n    enabled: true\n"
        "    reviewers: {users: [nobody@contoso.com]}\n",
    )
    tenant = FakeTenant(TENANT_ID)
    with pytest.raises(pulumi.RunError) as failure:
        deploy_file(tenant, path)
    assert "consent_settings.admin_consent_workflow.reviewers.users" in str(failure.value)
    assert "nobody@contoso.com" in str(failure.value)
    assert tenant.admin_consent_request_policy.version == 0


def test_a_provider_failure_reaches_the_report_as_its_message_not_its_traceback() -> None:
    # What pulumi.dynamic's _abort_with_traceback hands the engine: traceback.format_exc() of the failure.
    try:
        raise GraphError(
            "Insufficient privileges to complete the operation.",
            status=403,
            request="PATCH /policies/authorizationPolicy",
            missing_permission="Policy.ReadWrite.Authorization",
        )
    except GraphError:
        import traceback

        text = "Exception calling application: " + traceback.format_exc()
    shown = without_traceback(text)
    assert "Traceback" not in shown and "File " not in shown
    assert shown.startswith("Exception calling application: Microsoft Graph PATCH /policies/authorizationPolicy: 403")
    assert "Policy.ReadWrite.Authorization" in shown
    assert without_traceback("a plain engine error") == "a plain engine error"


# ------------------------------------------------------------------------------ audit: read, compare, predict


def audit_northwind(tenant: FakeTenant, examples: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any, Any]:
    """``audit --json`` of ``examples``/northwind.yaml (a copy of the examples) against ``tenant``; (exit code, its
    report, result)."""
    monkeypatch.setenv(graph.TOKEN_ENV, "audit-token")
    with serve(tenant) as running:
        result = CliRunner().invoke(
            app, ["audit", str(examples / "northwind.yaml"), "--json", "--graph-endpoint", running.base_url]
        )
        assert running.writes() == []  # audit never writes, settings or not
    (report,) = parse_document(result.stdout)["tenants"]
    return result.exit_code, report, result


def test_audit_names_each_setting_that_differs_in_the_admin_centres_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_examples: Path
) -> None:
    tenant = northwind()
    code, report, _ = audit_northwind(tenant, hub_examples, monkeypatch)
    assert code == 3
    settings = {d["subject"]: d["message"] for d in report["differences"] if d["subject"].startswith("tenant-wide")}
    assert settings["tenant-wide: User consent for applications"] == (
        "is 'Allow user consent for apps'; the file says 'Do not allow user consent'; apply sets it"
    )
    workflow = "tenant-wide: Users can request admin consent to apps they are unable to consent to"
    assert settings[workflow] == "is No; the file says Yes; apply sets it"
    assert (
        "user it.admin@northwind.co.uk, role Global Administrator"
        in (settings["tenant-wide: Who can review admin consent requests"])
    )
    assert settings["tenant-wide: Consent request expires after (days)"] == "is 30; the file says 14; apply sets it"
    # Today anyone without a grant may consent; once applied, they meet the wall and can ask for approval.
    assert report["user_experience"]["experience"] == "consent prompt"
    after = report["after_apply"]
    assert after["experience"] == "admin approval required" and "can request approval" in after["reason"]
    assert {u["principal"]: u["experience"] for u in after["users"]} == {
        "dana.lee@northwind.co.uk": "no prompt",
        "front.desk@northwind.co.uk": "no prompt",
    }


def test_audit_confirms_settings_the_program_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_examples: Path
) -> None:
    tenant = northwind()
    deploy_file(tenant, hub_examples / "northwind.yaml")
    _, report, _ = audit_northwind(tenant, hub_examples, monkeypatch)
    assert not [d for d in report["differences"] if d["subject"].startswith("tenant-wide")]
    assert report["user_consent"]["setting"] == "disabled" and report["admin_consent_workflow"] is True
    assert report["user_experience"]["experience"] == report["after_apply"]["experience"]
    # northwind.yaml leaves the workflow's notifications and reminders out: audit says they are the tenant's.
    assert report["admin_consent_workflow_kept"] == [
        {"setting": admin_consent_workflow.FIELDS["notifyReviewers"], "value": "No"},
        {"setting": admin_consent_workflow.FIELDS["remindersEnabled"], "value": "No"},
    ]
    monkeypatch.setenv(graph.TOKEN_ENV, "audit-token")
    with serve(tenant) as running:
        markdown = CliRunner().invoke(
            app,
            ["audit", str(hub_examples / "northwind.yaml"), "--format", "md", "--graph-endpoint", running.base_url],
        )
    assert (
        "Admin consent workflow, kept as the tenant has it: Selected users will receive email notifications for "
        "requests: No" in markdown.stdout
    )
    with serve(tenant) as running:
        html = CliRunner().invoke(
            app,
            [
                "audit",
                str(hub_examples / "northwind.yaml"),
                *("--format", "html", "--out", str(tmp_path / "html")),
                *("--graph-endpoint", running.base_url),
            ],
        )
    assert html.exit_code == 0, html.output
    pages = " ".join(p.read_text(encoding="utf-8") for p in (tmp_path / "html").rglob("*.html"))
    assert "Selected users will receive request expiration reminders: No (the consent file leaves it" in pages


def test_audit_reports_a_reviewer_the_directory_does_not_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_examples: Path
) -> None:
    tenant = northwind()
    tenant.users = {k: u for k, u in tenant.users.items() if u.user_principal_name != "it.admin@northwind.co.uk"}
    _, report, _ = audit_northwind(tenant, hub_examples, monkeypatch)
    assert {"kind": "reviewer-not-found", "subject": "it.admin@northwind.co.uk"}.items() <= next(
        d for d in report["differences"] if d["kind"] == "reviewer-not-found"
    ).items()
