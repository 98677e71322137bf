"""A tenant's own consent settings through the real engine: apply sets them, audit confirms, a change by hand
is drift in the admin centre's words, apply puts the file's values back, offboard restores only when asked.

The settings are the tool's own dynamic resources: the engine starts Pulumi's ``pulumi-resource-pulumi-python``
plugin (beside ``pulumi``), which unpickles the provider from state and writes to the emulated cloud's Graph.
The automation identity holds the two write permissions docs/ci.md lists, or, in the last test, lacks one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import World, WorldFactory
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, AUTOMATION_NAME, AUTOMATION_ROLES
from tests.fakes.example_tenants import examples_defaults, northwind

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants"
LEGACY = "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"
DEVELOPER = "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
SETTINGS_WRITERS = ["Policy.ReadWrite.Authorization", "Policy.ReadWrite.ConsentRequest"]


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


def northwind_world(world: WorldFactory, roles: list[str]) -> tuple[World, FakeTenant]:
    tenant = northwind()
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY, DEVELOPER]
    tenant.add_automation_identity(AUTOMATION_APP_ID, AUTOMATION_NAME, roles)
    w = world([tenant], {"northwind": example("northwind")}, defaults=examples_defaults())
    return w, tenant


def settings_changes(run: dict[str, object]) -> dict[str, str]:
    resources = run["resources"]
    assert isinstance(resources, list)
    return {
        r["kind"]: r["description"]
        for r in resources
        if r["kind"] in ("user consent setting", "admin consent workflow")
    }


def test_apply_sets_audit_confirms_drift_finds_a_hand_change_apply_restores_offboard_leaves_them(
    world: WorldFactory,
) -> None:
    w, tenant = northwind_world(world, [*AUTOMATION_ROLES, *SETTINGS_WRITERS])

    plan = w.cli("plan", "tenants", "--json")
    assert plan.code == 0, plan.output
    words = settings_changes(plan.tenant("northwind"))
    assert words["user consent setting"].startswith(
        "tenant-wide: set User consent for applications to 'Do not allow user consent'"
    )
    assert (
        "Users can request admin consent to apps they are unable to consent to: Yes" in words["admin consent workflow"]
    )
    assert "user it.admin@northwind.co.uk, role Global Administrator" in words["admin consent workflow"]
    assert tenant.authorization_policy.permission_grant_policies_assigned == [LEGACY, DEVELOPER]  # a preview

    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 0, applied.output
    assert tenant.authorization_policy.permission_grant_policies_assigned == [DEVELOPER]
    policy = tenant.admin_consent_request_policy
    admin = tenant.user("it.admin@northwind.co.uk")
    assert policy.is_enabled and policy.request_duration_in_days == 14
    assert {r["query"] for r in policy.reviewers} == {
        f"/users/{admin.id}",
        "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
        "'62e90394-69f5-4237-9190-012177145e10'",
    }

    audit = w.cli("audit", "tenants", "--json")
    assert audit.code == 0, audit.output
    (report,) = audit.document["tenants"]
    assert report["differences"] == []
    assert report["user_consent"]["setting"] == "disabled" and report["admin_consent_workflow"] is True

    # An administrator opens user consent again in the admin centre, shortens the workflow's request expiry
    # (the file names it) and turns its reminders off (the file does not: that stays theirs).
    tenant.authorization_policy.permission_grant_policies_assigned = [LEGACY, DEVELOPER]
    policy.request_duration_in_days = 3
    policy.reminders_enabled = False
    drift = w.cli("drift", "tenants", "--json")
    assert drift.code == 3, drift.output
    words = settings_changes(drift.tenant("northwind"))
    assert words["user consent setting"] == (
        "tenant-wide: User consent for applications is 'Allow user consent for apps' in the tenant (changed outside "
        "the file); the file says 'Do not allow user consent'"
    )
    assert "Consent request expires after (days): 3, the file says 14" in words["admin consent workflow"]
    assert "reminders" not in words["admin consent workflow"]

    again = w.cli("apply", "tenants", "--yes", "--json")
    assert again.code == 0, again.output
    assert tenant.authorization_policy.permission_grant_policies_assigned == [DEVELOPER]
    assert policy.request_duration_in_days == 14
    assert policy.reminders_enabled is False
    assert w.cli("drift", "tenants", "--json").code == 0

    # Offboarding leaves the settings as they are (the next test asks for them back).
    offboard = w.cli("offboard", "tenants", "--yes", "--json")
    assert offboard.code == 0, offboard.output
    words = settings_changes(offboard.tenant("northwind"))
    assert words["user consent setting"].startswith(
        "tenant-wide: stop managing User consent for applications; it stays 'Do not allow user consent'"
    )
    assert tenant.authorization_policy.permission_grant_policies_assigned == [DEVELOPER]
    assert policy.is_enabled


def test_restore_puts_back_what_the_tenant_had_before_the_tool(world: WorldFactory) -> None:
    w, tenant = northwind_world(world, [*AUTOMATION_ROLES, *SETTINGS_WRITERS])
    assert w.cli("apply", "tenants", "--yes", "--json").code == 0
    # Meanwhile somebody adds a policy for owned resources: restoring must keep it.
    tenant.authorization_policy.permission_grant_policies_assigned = [
        DEVELOPER,
        "ManagePermissionGrantsForOwnedResource.Y",
    ]
    done = w.cli("offboard", "tenants", "--yes", "--restore-consent-settings", "--json")
    assert done.code == 0, done.output
    words = settings_changes(done.tenant("northwind"))
    assert words["user consent setting"] == (
        "tenant-wide: restore User consent for applications to 'Allow user consent for apps', as it was before the "
        "first apply (now 'Do not allow user consent')"
    )
    assert tenant.authorization_policy.permission_grant_policies_assigned == [
        LEGACY,
        DEVELOPER,
        "ManagePermissionGrantsForOwnedResource.Y",
    ]
    assert tenant.admin_consent_request_policy.is_enabled is False
    assert tenant.admin_consent_request_policy.reviewers == []


def test_without_the_write_permission_apply_fails_naming_it_and_nothing_else_is_said(world: WorldFactory) -> None:
    w, tenant = northwind_world(world, [*AUTOMATION_ROLES, "Policy.ReadWrite.ConsentRequest"])
    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 1, applied.output
    error = applied.tenant("northwind")["error"]
    assert "Policy.ReadWrite.Authorization" in error and "403" in error
    assert "Traceback" not in error and 'File "' not in error
    assert tenant.authorization_policy.permission_grant_policies_assigned == [LEGACY, DEVELOPER]


def test_a_file_that_names_only_enabled_keeps_the_reviewers_an_administrator_set(world: WorldFactory) -> None:
    # Graph's update is a PUT of the whole policy (adminconsentrequestpolicy-update): the tool reads, merges, writes.
    tenant = northwind()
    tenant.add_automation_identity(AUTOMATION_APP_ID, AUTOMATION_NAME, [*AUTOMATION_ROLES, *SETTINGS_WRITERS])
    admin = tenant.user("it.admin@northwind.co.uk")
    reviewers = [
        {"query": f"/users/{admin.id}", "queryType": "MicrosoftGraph", "queryRoot": None},
        {
            "query": "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
            "'62e90394-69f5-4237-9190-012177145e10'",
            "queryType": "MicrosoftGraph",
            "queryRoot": None,
        },
    ]
    policy = tenant.admin_consent_request_policy
    policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled = True, False, True
    policy.request_duration_in_days, policy.reviewers = 7, [dict(r) for r in reviewers]
    text = example("northwind")
    text = (
        text[: text.index("consent_settings:")] + "consent_settings:\n  admin_consent_workflow:\n    enabled: false\n"
    )
    w = world([tenant], {"northwind": text}, defaults=examples_defaults())

    plan = w.cli("plan", "tenants", "--json")
    assert plan.code == 0, plan.output
    words = settings_changes(plan.tenant("northwind"))["admin consent workflow"]
    assert "Users can request admin consent to apps they are unable to consent to: No" in words
    assert "kept as the tenant has them: Who can review admin consent requests" in words

    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 0, applied.output
    assert policy.is_enabled is False
    assert policy.reviewers == reviewers
    assert (policy.notify_reviewers, policy.reminders_enabled, policy.request_duration_in_days) == (False, True, 7)

    audit = w.cli("audit", "tenants", "--json")
    (report,) = audit.document["tenants"]
    assert not [d for d in report["differences"] if d["subject"].startswith("tenant-wide")]
    kept = {k["setting"]: k["value"] for k in report["admin_consent_workflow_kept"]}
    # Audit reads the tenant's queries, not the file's names: a user reviewer is said by object id.
    assert kept["Who can review admin consent requests"] == f"user {admin.id}, role Global Administrator"
    assert kept["Consent request expires after (days)"] == "7"

    # The administrator adds a reviewer afterwards: not drift, and the next apply keeps it.
    policy.reviewers.append(
        {
            "query": "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
            "'158c047a-c907-4556-b7ef-446551a6b5f7'",
            "queryType": "MicrosoftGraph",
            "queryRoot": None,
        }
    )
    assert w.cli("drift", "tenants", "--json").code == 0
    assert w.cli("apply", "tenants", "--yes", "--json").code == 0
    assert len(policy.reviewers) == 3

    done = w.cli("offboard", "tenants", "--yes", "--restore-consent-settings", "--json")
    assert done.code == 0, done.output
    assert policy.is_enabled is True  # what the tool changed, put back
    assert len(policy.reviewers) == 3 and policy.request_duration_in_days == 7  # never the tool's: as they are
