"""Engine events, as the Pulumi engine writes them to its event log, said in Entra terms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import CommandResult, EngineEvent
from pulumi.automation.errors import create_command_error

from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.fleet.engine_setup import EngineSettings, Redactor
from taxcalc_consent.cli.fleet.events import describe_step
from taxcalc_consent.cli.fleet.pipeline import load_plans
from taxcalc_consent.infra.model.kinds import app_registration, app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.infra.model.workspace import open_workspace
from tests.conftest import EXAMPLES, no_notices

COMPONENT = "taxcalc-consent:index:TenantConsent"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:contoso::taxcalc-consent::{COMPONENT}${type_}::{name}"


def step(
    op: str,
    type_: str,
    name: str,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    *,
    old_outputs: dict[str, Any] | None = None,
    retain: bool = False,
    diffs: list[str] | None = None,
) -> Any:
    def state(inputs: dict[str, Any] | None, outputs: dict[str, Any] | None) -> dict[str, Any] | None:
        if inputs is None:
            return None
        return {
            "type": type_,
            "urn": urn(type_, name),
            "id": "",
            "parent": "",
            "provider": "",
            "custom": True,
            "retainOnDelete": retain,
            "inputs": inputs,
            "outputs": outputs or inputs,
        }

    event = EngineEvent.from_json(
        {
            "sequence": 7,
            "timestamp": 1764290000,
            "resourcePreEvent": {
                "metadata": {
                    "op": op,
                    "urn": urn(type_, name),
                    "type": type_,
                    "provider": "urn:pulumi:contoso::taxcalc-consent::pulumi:providers:azuread::default_6_11_1",
                    "old": state(old, old_outputs),
                    "new": state(new, None),
                    "diffs": diffs,
                    "detailedDiff": None,
                },
                "planning": True,
            },
        }
    )
    assert event.resource_pre_event is not None
    return event.resource_pre_event.metadata


SP_ID = "5a1e0000-7ac0-4c1c-9000-0000000000aa"
GRAPH_SP = "5a1e0000-7ac0-4c1c-9000-0000000000bb"
GRANT = {"servicePrincipalObjectId": SP_ID, "resourceServicePrincipalObjectId": GRAPH_SP}


def test_a_scope_change_on_the_tenant_wide_grant() -> None:
    meta = step(
        "update",
        delegated_grant.TYPE,
        "graph-grant-all-principals",
        {**GRANT, "claimValues": ["Mail.Read", "User.Read", "openid"]},
        {**GRANT, "claimValues": ["Mail.Send", "User.Read", "openid"]},
        diffs=["claimValues"],
    )
    change = describe_step(meta)
    assert change is not None
    assert (change.op, change.kind) == ("update", "delegated permission grant")
    assert change.description == "add Mail.Send to the tenant-wide grant; remove Mail.Read from the tenant-wide grant"
    drift = describe_step(meta, drift=True)
    assert drift is not None
    assert drift.description == (
        "the tenant-wide grant holds Mail.Read, not in the file (added outside the file); "
        "the tenant-wide grant lacks Mail.Send (removed outside the file)"
    )


@pytest.mark.parametrize("op", ["same", "read", "refresh", "discard"])
def test_steps_that_change_nothing_are_not_changes(op: str) -> None:
    assert describe_step(step(op, delegated_grant.TYPE, "graph-grant-all-principals", GRANT, GRANT)) is None


def test_a_new_per_user_grant_and_a_revoked_one() -> None:
    user = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    created = describe_step(
        step(
            "create",
            delegated_grant.TYPE,
            f"graph-grant-user-{user}",
            None,
            {**GRANT, "userObjectId": user, "claimValues": ["openid", "Mail.Send"]},
        )
    )
    assert created is not None and created.description == f"grant user {user} (Principal): openid Mail.Send"
    deleted = describe_step(
        step(
            "delete",
            delegated_grant.TYPE,
            f"graph-grant-user-{user}",
            {**GRANT, "userObjectId": user, "claimValues": ["openid"]},
        )
    )
    assert deleted is not None and deleted.description == f"revoke the grant for user {user} (Principal): openid"


def test_assignment_required_and_a_removed_group_assignment() -> None:
    required = describe_step(
        step(
            "update",
            service_principal.TYPE,
            "taxcalc-hub-sp",
            {"clientId": "x", "appRoleAssignmentRequired": False},
            {"clientId": "x", "appRoleAssignmentRequired": True},
        )
    )
    assert required is not None
    assert required.description == "require assignment (only assigned users and groups may sign in)"
    group = "0b6e4c52-1f0a-4a9b-8a54-0d6c4a1b2c3d"
    removed = describe_step(
        step(
            "delete",
            app_role_assignment.TYPE,
            f"access-group-{group}",
            {
                "appRoleId": "00000000-0000-0000-0000-000000000000",
                "principalObjectId": group,
                "resourceObjectId": SP_ID,
            },
            old_outputs={"principalDisplayName": "TaxCalc Mailboxes", "principalType": "Group"},
        )
    )
    assert removed is not None
    assert (removed.kind, removed.description) == ("access assignment", "remove assignment of group TaxCalc Mailboxes")


def test_application_permission_registration_and_retained_service_principal() -> None:
    role = describe_step(
        step(
            "create",
            app_role_assignment.TYPE,
            "graph-app-role-Mail.Send",
            None,
            {"appRoleId": "b633e1c5", "principalObjectId": SP_ID},
        )
    )
    assert role is not None
    assert role.description == "grant application permission Mail.Send (app role on Microsoft Graph)"
    app = describe_step(step("create", app_registration.TYPE, "taxcalc-hub-app", None, {"displayName": "TaxCalc-Hub"}))
    assert app is not None and app.description == "register the multi-tenant app TaxCalc-Hub"
    legacy = describe_step(
        step("delete", service_principal.LEGACY_TYPE, "taxcalc-hub-sp", {"clientId": "x"}, retain=True)
    )
    assert legacy is not None and legacy.kind == "service principal"
    assert legacy.description.startswith("stop managing TaxCalc-Hub's service principal through pulumi-azuread")
    assert "it stays in the tenant as it is" in legacy.description
    found = {"origin": "found", "before": {"appRoleAssignmentRequired": False}}
    released = describe_step(
        step("delete", service_principal.TYPE, "taxcalc-hub-sp", {"clientId": "x"}, old_outputs=found)
    )
    assert released is not None
    assert released.description == (
        "release TaxCalc-Hub's service principal; it stays in the tenant, with assignment put back to not required "
        "as it was found"
    )
    adopted = describe_step(step("create", service_principal.TYPE, "taxcalc-hub-sp", None, {"clientId": "x"}))
    assert adopted is not None and adopted.op == "create"
    assert adopted.description.startswith(
        "adopt TaxCalc-Hub's service principal (enterprise application) if the tenant"
    )
    assert "owners, notes, SSO settings, tags and enabled state stay as they are" in adopted.description


def test_an_unknown_resource_type_is_still_named() -> None:
    change = describe_step(step("create", "random:index/randomUuid:RandomUuid", "salt", None, {}))
    assert change is not None and change.description == "create RandomUuid salt"


# ------------------------------------------------------------------------- replayed event streams


class ReplayStack:
    """Replays a recorded event stream for one operation, then fails the way the CLI failed."""

    def __init__(self, events: list[dict[str, Any]], failure: CommandResult | None) -> None:
        self.events = events
        self.failure = failure

    def _replay(self, on_event: Callable[[EngineEvent], Any] | None = None, **_: Any) -> object:
        for number, payload in enumerate(self.events, 1):
            assert on_event is not None
            on_event(EngineEvent.from_json({"sequence": number, "timestamp": 0, **payload}))
        if self.failure is not None:
            raise create_command_error(self.failure)
        return None

    preview = up = preview_destroy = destroy = _replay


def run_replay(events: list[dict[str, Any]], failure: CommandResult | None, tmp_path: Path) -> Any:
    (plan,) = load_plans([EXAMPLES / "contoso.yaml"], notify=no_notices)
    stack = ReplayStack(events, failure)
    settings = EngineSettings(open_workspace(tmp_path), "file://" + str(tmp_path), {}, tmp_path / "policies")
    engine = Engine(settings, lambda name, env: stack)
    return engine.run(plan, "preview", Redactor(["hunter2-passphrase"]))


def test_policy_violations_and_error_diagnostics_become_the_tenant_error(tmp_path: Path) -> None:
    events = [
        {
            "policyEvent": {
                "message": "Grant only scopes on the allow-list: remove Mail.ReadWrite",
                "color": "never",
                "policyName": "allowed-scopes",
                "policyPackName": "taxcalc-consent",
                "policyPackVersion": "0.1.0",
                "policyPackVersionTag": "0.1.0",
                "enforcementLevel": "mandatory",
            }
        },
        {
            "policyEvent": {
                "message": "Consider per-mailbox consent",
                "color": "never",
                "policyName": "prefer-principal-grants",
                "policyPackName": "taxcalc-consent",
                "policyPackVersion": "0.1.0",
                "policyPackVersionTag": "0.1.0",
                "enforcementLevel": "advisory",
            }
        },
        {"diagnosticEvent": {"message": "\x1b[31mpreview failed: hunter2-passphrase\x1b[0m\n", "severity": "error"}},
    ]
    failure = CommandResult(stdout="", stderr="error: preview failed\n", code=255)
    outcome = run_replay(events, failure, tmp_path)
    assert not outcome.locked
    assert outcome.error == (
        "policy allowed-scopes (mandatory): Grant only scopes on the allow-list: remove Mail.ReadWrite; "
        "preview failed: [secret]"
    )
    assert outcome.warnings == ["policy prefer-principal-grants (advisory): Consider per-mailbox consent"]


def test_a_cloud_backend_conflict_is_a_lock_and_a_bare_failure_keeps_its_stderr(tmp_path: Path) -> None:
    conflict = CommandResult(
        stdout="", stderr="error: [409] Conflict: Another update is currently in progress.\n", code=255
    )
    assert run_replay([], conflict, tmp_path).locked
    bare = CommandResult(stdout="", stderr="warning: A\nerror: could not load plugin azuread\n", code=255)
    outcome = run_replay([], bare, tmp_path)
    assert not outcome.locked and outcome.error == "warning: A; error: could not load plugin azuread"


def test_a_failure_with_only_stdout_keeps_the_tail_of_stdout(tmp_path: Path) -> None:
    crashed = CommandResult(
        stdout=(
            "Previewing update (contoso)\n\n"
            "error: an unhandled error occurred: Program exited with non-zero exit code: 1\n"
        ),
        stderr="",
        code=255,
    )
    outcome = run_replay([], crashed, tmp_path)
    assert outcome.error == (
        "Previewing update (contoso); error: an unhandled error occurred: Program exited with non-zero exit code: 1"
    )


# --------------------------------------------------------- whole operations: what counts as a change
# Event sequences in the shapes a real engine emits (pulumi/pulumi v3.274.1): a preview has steps for
# the Stack, the provider and the component too (custom is left out of a component's state:
# apitype.StepEventStateMetadata `json:"custom,omitempty"`); a replacement is create-replacement,
# replace and delete-replaced on one URN (pkg/resource/deploy/step_generator.go, NewCreateReplacementStep,
# NewReplaceStep, NewDeleteReplacementStep); an import whose inputs differ is an import step and then
# the ordinary step generation over the imported state, an update (step_generator.go, import continuation).
# Checked against the engine built here (engine/, v3.274.1) through the Automation API: a program of one
# component previews as Stack and component creates, both with provider "" and no `custom`; a resource
# of a Python dynamic provider whose key changed is create-replacement, replace, delete-replaced (the
# last with no new state), and its provider's step is a custom `pulumi:providers:` resource. Dynamic
# resources cannot be imported, so the import-then-update shape rests on the source above alone.

STACK_URN = "urn:pulumi:contoso::taxcalc-consent::pulumi:pulumi:Stack::taxcalc-consent-contoso"
PROVIDER_URN = f"urn:pulumi:contoso::taxcalc-consent::{COMPONENT}$pulumi:providers:azuread::entra-tenant"
COMPONENT_URN = f"urn:pulumi:contoso::taxcalc-consent::{COMPONENT}::tenant-consent"


def pre_and_outputs(
    op: str,
    urn_: str,
    type_: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    *,
    custom: bool = True,
    diffs: list[str] | None = None,
) -> list[dict[str, Any]]:
    def state(inputs: dict[str, Any] | None) -> dict[str, Any] | None:
        if inputs is None:
            return None
        document: dict[str, Any] = {"type": type_, "urn": urn_, "inputs": inputs, "outputs": inputs}
        if custom:
            document["custom"] = True
        return document

    metadata = {
        "op": op,
        "urn": urn_,
        "type": type_,
        "provider": "" if not custom else PROVIDER_URN + "::04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "old": state(old),
        "new": state(new),
        "diffs": diffs,
    }
    return [
        {"resourcePreEvent": {"metadata": metadata, "planning": True}},
        {"resOutputsEvent": {"metadata": metadata, "planning": True}},
    ]


def bookkeeping(op: str) -> list[dict[str, Any]]:
    """The Stack, the azuread provider and the TenantConsent component, none of them an Entra object."""
    prior = None if op == "create" else {}
    return [
        *pre_and_outputs(op, STACK_URN, "pulumi:pulumi:Stack", prior, {}, custom=False),
        *pre_and_outputs(op, PROVIDER_URN, "pulumi:providers:azuread", prior, {"tenantId": "t"}),
        *pre_and_outputs(op, COMPONENT_URN, COMPONENT, prior, {}, custom=False),
    ]


def test_a_first_preview_counts_entra_objects_only(tmp_path: Path) -> None:
    sp = {"clientId": "c", "useExisting": True, "appRoleAssignmentRequired": False}
    events = [
        *bookkeeping("create"),
        *pre_and_outputs(
            "create", urn(service_principal.TYPE, service_principal.NAME), service_principal.TYPE, None, sp
        ),
        *pre_and_outputs(
            "create",
            urn(delegated_grant.TYPE, delegated_grant.ORGANIZATION_NAME),
            delegated_grant.TYPE,
            None,
            {**GRANT, "claimValues": ["openid", "User.Read"]},
        ),
    ]
    outcome = run_replay(events, None, tmp_path)
    assert [(c.op, c.kind) for c in outcome.changes] == [
        ("create", "service principal"),
        ("create", "delegated permission grant"),
    ]


def test_a_replacement_counts_once(tmp_path: Path) -> None:
    user = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    grant_urn = urn(delegated_grant.TYPE, delegated_grant.user_name(user))
    old = {**GRANT, "userObjectId": user, "claimValues": ["openid"]}
    new = {**GRANT, "userObjectId": user, "resourceServicePrincipalObjectId": "other", "claimValues": ["openid"]}
    replacement = [
        *pre_and_outputs("create-replacement", grant_urn, delegated_grant.TYPE, old, new),
        *pre_and_outputs("replace", grant_urn, delegated_grant.TYPE, old, new),
        *pre_and_outputs("delete-replaced", grant_urn, delegated_grant.TYPE, old, None),
    ]
    delete_before_replace = [replacement[4], replacement[5], replacement[2], replacement[3], *replacement[:2]]
    for steps in (replacement, delete_before_replace):
        outcome = run_replay([*bookkeeping("same"), *steps], None, tmp_path)
        assert [(c.op, c.name) for c in outcome.changes] == [("replace", delegated_grant.user_name(user))]
        assert outcome.changes[0].description == f"the grant for user {user} (Principal) will be replaced"


def test_an_import_then_update_is_one_adoption_that_says_the_update_too(tmp_path: Path) -> None:
    grant_urn = urn(delegated_grant.TYPE, delegated_grant.ORGANIZATION_NAME)
    by_hand = {**GRANT, "claimValues": ["User.Read", "openid"]}
    planned = {**GRANT, "claimValues": ["Mail.Send", "User.Read", "openid"]}
    events = [
        *bookkeeping("same"),
        *pre_and_outputs("import", grant_urn, delegated_grant.TYPE, None, by_hand),
        *pre_and_outputs("update", grant_urn, delegated_grant.TYPE, by_hand, planned, diffs=["claimValues"]),
    ]
    outcome = run_replay(events, None, tmp_path)
    assert [(c.op, c.kind) for c in outcome.changes] == [("import", "delegated permission grant")]
    assert outcome.changes[0].description == (
        "adopt the existing tenant-wide grant (AllPrincipals); add Mail.Send to the tenant-wide grant"
    )


def test_a_later_update_run_marks_the_one_change_done(tmp_path: Path) -> None:
    grant_urn = urn(delegated_grant.TYPE, delegated_grant.ORGANIZATION_NAME)
    old = {**GRANT, "claimValues": ["openid"]}
    steps = [
        *pre_and_outputs("create-replacement", grant_urn, delegated_grant.TYPE, old, old),
        *pre_and_outputs("replace", grant_urn, delegated_grant.TYPE, old, old),
        *pre_and_outputs("delete-replaced", grant_urn, delegated_grant.TYPE, old, old),
    ]
    (plan,) = load_plans([EXAMPLES / "contoso.yaml"], notify=no_notices)
    stack = ReplayStack([*bookkeeping("same"), *steps], None)
    settings = EngineSettings(open_workspace(tmp_path), "file://" + str(tmp_path), {}, tmp_path / "policies")
    outcome = Engine(settings, lambda name, env: stack).run(plan, "up", Redactor([]))
    assert [(c.op, c.status) for c in outcome.changes] == [("replace", "done")]
