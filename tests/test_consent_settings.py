"""The tenant-wide consent settings section, offline: the file's rules, the plan, the rules, the prediction.

``consent_settings`` lives in ``_defaults.yaml`` (the reviewed place) and a tenant file may set a key of it
only where its folder's ``policy.consent_settings_in_tenant_files`` lists that key. Every bad value is a
located error; the plan carries the settings and what each listed user will see once they apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.consent_settings import (
    DIRECTORY_ROLES,
    classify_user_consent,
    parse_reviewer_query,
    reviewer_query,
    with_self_consent_entries,
    with_user_consent,
)
from taxcalc_consent.infra.model.errors import SpecError
from taxcalc_consent.infra.model.loader import load_tenants
from taxcalc_consent.infra.model.plan import build_plan, predict_users
from taxcalc_consent.infra.model.schema import tenant_file_schema
from taxcalc_consent.policies.rules import evaluate
from tests.conftest import CLIENT_ID, TENANT_ID
from tests.documents import parse_document

runner = CliRunner()

HEAD = f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: users\n  users: [alice@contoso.com]\n"
WORKFLOW_FOR_ALL = """consent_settings:
  user_consent: disabled
  admin_consent_workflow:
    enabled: true
    reviewers:
      groups: [Consent Reviewers]
      roles: [global administrator]
    request_expires_in_days: 14
"""


def folder(tmp_path: Path, defaults: str, **tenants: str) -> Path:
    where = tmp_path / "tenants"
    where.mkdir()
    (where / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n{defaults}", encoding="utf-8")
    for name, body in tenants.items():
        (where / f"{name}.yaml").write_text(body, encoding="utf-8")
    return where


def problems(where: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_tenants([where])
    return [str(p) for p in caught.value.problems]


# ----------------------------------------------------------------------------------- where it may be set


def test_defaults_set_the_settings_for_every_tenant_in_the_folder(tmp_path: Path) -> None:
    where = folder(tmp_path, WORKFLOW_FOR_ALL, acme=HEAD)
    (tenant,) = load_tenants([where])
    plan = build_plan(tenant)
    settings = plan.consent_settings
    assert settings.user_consent == "disabled"
    assert settings.admin_consent_workflow is not None
    assert [(r.reviewer_type, r.reference) for r in settings.admin_consent_workflow.reviewers] == [
        ("group", "Consent Reviewers"),
        ("role", "Global Administrator"),  # a role name is matched case-insensitively and said as Entra says it
    ]
    assert settings.admin_consent_workflow.request_duration_in_days == 14
    # Keys the file leaves out are the tenant's: not set to a default, kept as found.
    workflow = settings.admin_consent_workflow
    assert workflow.notify_reviewers is None and workflow.reminders is None
    assert workflow.kept == ("notify_reviewers", "reminders")


def test_absent_means_left_as_it_is(tmp_path: Path) -> None:
    (tenant,) = load_tenants([folder(tmp_path, "", acme=HEAD)])
    settings = build_plan(tenant).consent_settings
    assert settings.user_consent is None and settings.admin_consent_workflow is None and not settings.managed


def test_a_tenant_file_may_not_set_them_unless_the_folder_policy_says_so(tmp_path: Path) -> None:
    body = HEAD + "consent_settings:\n  user_consent: all\n"
    found = problems(folder(tmp_path, "", acme=body))
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'tenants' / 'acme.yaml'}:7:3: consent_settings.user_consent: ")
    assert (
        "set in _defaults.yaml" in found[0]
        and "consent_settings_in_tenant_files does not list user_consent" in (found[0])
    )


def test_the_policy_lets_tenant_files_name_their_own_reviewers_and_nothing_more(tmp_path: Path) -> None:
    policy = "policy:\n  consent_settings_in_tenant_files: [admin_consent_workflow]\n"
    own_reviewers = (
        HEAD + "consent_settings:\n  admin_consent_workflow:\n    enabled: true\n"
        "    reviewers:\n      users: [it.admin@contoso.com]\n"
    )
    (tenant,) = load_tenants([folder(tmp_path, WORKFLOW_FOR_ALL + policy, acme=own_reviewers)])
    workflow = build_plan(tenant).consent_settings.admin_consent_workflow
    assert workflow is not None
    # Mappings merge: the folder's reviewers lists stay unless the tenant file replaces them.
    assert [(r.reviewer_type, r.reference) for r in workflow.reviewers] == [
        ("user", "it.admin@contoso.com"),
        ("group", "Consent Reviewers"),
        ("role", "Global Administrator"),
    ]
    (tmp_path / "again").mkdir()
    loosened = own_reviewers + "  user_consent: all\n"
    found = problems(folder(tmp_path / "again", WORKFLOW_FOR_ALL + policy, acme=loosened))
    assert [p.split(": ", 2)[1] for p in found] == ["consent_settings.user_consent"]


def test_leave_as_is_in_a_tenant_file_overrides_the_folders_setting_where_allowed(tmp_path: Path) -> None:
    policy = "policy:\n  consent_settings_in_tenant_files: [user_consent, admin_consent_workflow]\n"
    body = HEAD + "consent_settings:\n  user_consent: leave-as-is\n  admin_consent_workflow: leave-as-is\n"
    (tenant,) = load_tenants([folder(tmp_path, WORKFLOW_FOR_ALL + policy, acme=body)])
    assert not build_plan(tenant).consent_settings.managed


def test_defaults_cannot_name_one_clients_users_or_group_ids_as_reviewers(tmp_path: Path) -> None:
    defaults = (
        "consent_settings:\n  admin_consent_workflow:\n    enabled: true\n    reviewers:\n"
        "      users: [it.admin@contoso.com]\n"
        "      groups: [0f8fad5b-d9cb-469f-a165-70867728950e, Consent Reviewers]\n"
    )
    found = problems(folder(tmp_path, defaults, acme=HEAD))
    shown = str(tmp_path / "tenants" / "_defaults.yaml")
    assert any(
        p.startswith(f"{shown}:7:7: consent_settings.admin_consent_workflow.reviewers.users: ")
        and "belong to one client's directory" in p
        for p in found
    ), found
    assert any(
        p.startswith(f"{shown}:8:16: consent_settings.admin_consent_workflow.reviewers.groups[0]: ")
        and "exists in one client's directory only" in p
        for p in found
    ), found


# ------------------------------------------------------------------------------------------- bad values

ALLOWED = "policy:\n  consent_settings_in_tenant_files: [user_consent, admin_consent_workflow]\n"
BAD_VALUES = [
    ("user_consent: allow\n", "7:3: consent_settings.user_consent: ", "'disabled'"),
    ("admin_consent_workflow: off\n", "7:3: consent_settings.admin_consent_workflow: ", "expected leave-as-is, or a"),
    (
        "admin_consent_workflow:\n    reviewers: {roles: [Global Administrator]}\n",
        "7:3: consent_settings.admin_consent_workflow.enabled: ",
        "missing required key 'enabled'",
    ),
    (
        "admin_consent_workflow:\n    enabled: yes please\n",
        "8:5: consent_settings.admin_consent_workflow.enabled: ",
        "valid boolean",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    request_expires_in_days: 31\n",
        "9:5: consent_settings.admin_consent_workflow.request_expires_in_days: ",
        "less than or equal to 30",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    request_expires_in_days: 0\n",
        "9:5: consent_settings.admin_consent_workflow.request_expires_in_days: ",
        "greater than or equal to 1",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    reviewers: {roles: [Global Admin]}\n",
        "9:25: consent_settings.admin_consent_workflow.reviewers.roles[0]: ",
        "did you mean 'Global Administrator'?",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    reviewers: {users: [it admin]}\n",
        "9:25: consent_settings.admin_consent_workflow.reviewers.users[0]: ",
        "user principal name",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    reviewers:\n      users: [a@contoso.com, A@contoso.com]\n",
        "10:30: consent_settings.admin_consent_workflow.reviewers.users[1]: ",
        "listed twice",
    ),
    (
        "admin_consent_workflow:\n    enabled: true\n    reviewer: {roles: [Global Administrator]}\n",
        "9:5: consent_settings.admin_consent_workflow.reviewer: ",
        "did you mean 'reviewers'?",
    ),
    ("usr_consent: disabled\n", "7:3: consent_settings.usr_consent: ", "did you mean 'user_consent'?"),
]


@pytest.mark.parametrize(("value", "where", "phrase"), BAD_VALUES, ids=[b[1].split(": ")[1] for b in BAD_VALUES])
def test_every_bad_value_is_located_and_exits_2(tmp_path: Path, value: str, where: str, phrase: str) -> None:
    where_dir = folder(tmp_path, ALLOWED, acme=HEAD + "consent_settings:\n  " + value)
    result = runner.invoke(app, ["validate", str(where_dir)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if "acme.yaml:" in line]
    assert lines, result.stderr
    assert lines[0].split("acme.yaml:", 1)[1].startswith(where), lines[0]
    assert phrase in lines[0]
    assert "Traceback" not in result.output


def test_the_schema_offers_every_choice_and_leave_as_is(tmp_path: Path) -> None:
    schema = tenant_file_schema()
    good = yaml.safe_load(HEAD + WORKFLOW_FOR_ALL)
    jsonschema.validate(good, schema)
    jsonschema.validate({**good, "consent_settings": {"admin_consent_workflow": "leave-as-is"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "consent_settings": {"user_consent": "allow"}}, schema)


# ------------------------------------------------------------------------------------------------ rules


def test_a_workflow_turned_on_with_no_reviewer_is_refused_before_anything_runs(tmp_path: Path) -> None:
    where = folder(
        tmp_path, "consent_settings:\n  admin_consent_workflow:\n    enabled: true\n    reviewers: {}\n", acme=HEAD
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(where)])
    assert result.exit_code == 2
    (tenant,) = parse_document(result.stdout)["tenants"]
    (violation,) = [v for v in tenant["violations"] if v["rule"] == "admin-consent-reviewers"]
    assert violation["severity"] == "mandatory" and "reach nobody" in violation["message"]
    checked = runner.invoke(app, ["validate", str(where)])
    assert checked.exit_code == 2
    assert "_defaults.yaml:5:5: consent_settings.admin_consent_workflow.enabled: mandatory" in checked.stderr


def test_a_workflow_turned_on_keeping_the_tenants_reviewers_is_left_to_the_tenant(tmp_path: Path) -> None:
    # Reviewers the file does not name are the tenant's: offline they are not known, so no rule judges them
    # (the provider refuses at apply if the tenant turns out to have none; audit says so beforehand).
    where = folder(tmp_path, "consent_settings:\n  admin_consent_workflow:\n    enabled: true\n", acme=HEAD)
    (tenant,) = load_tenants([where])
    plan = build_plan(tenant)
    assert not [v for v in evaluate(plan) if v.rule == "admin-consent-reviewers"]
    assert plan.consent_settings.admin_consent_workflow is not None
    assert plan.consent_settings.admin_consent_workflow.reviewers is None


def test_a_workflow_turned_off_needs_no_reviewer(tmp_path: Path) -> None:
    where = folder(tmp_path, "consent_settings:\n  admin_consent_workflow:\n    enabled: false\n", acme=HEAD)
    (tenant,) = load_tenants([where])
    assert not [v for v in evaluate(build_plan(tenant)) if v.rule == "admin-consent-reviewers"]


def test_opening_user_consent_to_all_apps_is_flagged(tmp_path: Path) -> None:
    where = folder(tmp_path, "consent_settings:\n  user_consent: all\n", acme=HEAD)
    result = runner.invoke(app, ["validate", str(where)])
    assert result.exit_code == 0  # advisory by default
    assert "user-consent-all-apps" in result.stderr and "Allow user consent for apps" in result.stderr


# ------------------------------------------------------------------------------------------- prediction


def experiences(tmp_path: Path, defaults: str, body: str = HEAD) -> dict[str, tuple[str, bool, str]]:
    (tenant,) = load_tenants([folder(tmp_path, defaults, acme=body)])
    return {p.principal: (p.experience, p.refused, p.reason) for p in predict_users(build_plan(tenant))}


def test_the_plan_predicts_what_listed_users_and_everyone_else_will_see(tmp_path: Path) -> None:
    seen = experiences(tmp_path, WORKFLOW_FOR_ALL)
    assert seen["alice@contoso.com"][0] == "no prompt"
    experience, refused, reason = seen["any other user"]
    assert (experience, refused) == ("admin approval required", False)
    assert "user consent is disabled" in reason and "can request approval" in reason


def test_without_managed_settings_the_plan_says_what_the_prediction_depends_on(tmp_path: Path) -> None:
    experience, _, reason = experiences(tmp_path, "")["any other user"]
    assert experience == "unknown" and "leaves as it is" in reason


def test_all_apps_brings_a_consent_prompt_and_assignment_refuses_the_unassigned(tmp_path: Path) -> None:
    assert experiences(tmp_path, "consent_settings:\n  user_consent: all\n")["any other user"][0] == "consent prompt"
    (tmp_path / "b").mkdir()
    body = HEAD + "access:\n  assignment_required: true\n  users: [alice@contoso.com]\n"
    seen = experiences(tmp_path / "b", "consent_settings:\n  user_consent: all\n", body)
    assert seen["alice@contoso.com"][:2] == ("no prompt", False)
    assert seen["any other user"][:2] == ("admin approval required", True)
    assert "AADSTS50105" in seen["any other user"][2]


def test_plan_json_carries_the_settings_in_admin_centre_words(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(folder(tmp_path, WORKFLOW_FOR_ALL, acme=HEAD))])
    assert result.exit_code == 0, result.stderr
    (tenant,) = parse_document(result.stdout)["tenants"]
    assert tenant["consent_settings"] == {
        "user_consent": {"setting": "disabled", "label": "Do not allow user consent"},
        "admin_consent_workflow": {
            "enabled": True,
            "reviewers": [
                {"type": "group", "reviewer": "Consent Reviewers"},
                {"type": "role", "reviewer": "Global Administrator"},
            ],
            # Left out of the file: null, kept as the tenant has it.
            "notify_reviewers": None,
            "reminders": None,
            "request_expires_in_days": 14,
        },
    }
    assert [u["principal"] for u in tenant["user_experience"]] == ["alice@contoso.com", "any other user"]
    human = runner.invoke(app, ["plan", "--offline", str(tmp_path / "tenants")])
    assert "tenant-wide" in human.stderr and "Do not allow user consent" in human.stderr
    shown = " ".join(human.stderr.split())
    assert "notify reviewers: kept as the tenant has it; reminders: kept as the tenant has it" in shown
    assert json.dumps(tenant)  # plain JSON


# ------------------------------------------------------------------------------- Entra's values, as pure data


@pytest.mark.parametrize(
    ("assigned", "setting", "expected"),
    [
        # Only the self-consent entry changes; every other entry stays exactly as found, in its place.
        (
            ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy", "ManagePermissionGrantsForOwnedResource.x"],
            "disabled",
            ["ManagePermissionGrantsForOwnedResource.x"],
        ),
        (
            ["ManagePermissionGrantsForOwnedResource.DeveloperConsent"],
            "verified-publishers-low-impact",
            [
                "ManagePermissionGrantsForSelf.microsoft-user-default-low",
                "ManagePermissionGrantsForOwnedResource.DeveloperConsent",
            ],
        ),
        # Already the setting, in Graph's own lower-case spelling: left exactly as it is.
        (
            ["managePermissionGrantsForSelf.microsoft-user-default-legacy", "ManagePermissionGrantsForOwnedResource.y"],
            "all",
            ["managePermissionGrantsForSelf.microsoft-user-default-legacy", "ManagePermissionGrantsForOwnedResource.y"],
        ),
        (
            ["ManagePermissionGrantsForSelf.my-custom-policy"],
            "microsoft-managed",
            ["ManagePermissionGrantsForSelf.microsoft-user-default-recommended"],
        ),
    ],
)
def test_only_the_self_consent_entry_changes(assigned: list[str], setting: str, expected: list[str]) -> None:
    changed = with_user_consent(assigned, setting)  # type: ignore[arg-type]
    assert changed == expected
    assert classify_user_consent(changed)[0] == setting


def test_a_recorded_setting_is_put_back_beside_todays_other_entries() -> None:
    recorded = ["ManagePermissionGrantsForSelf.my-custom-policy"]
    today = ["ManagePermissionGrantsForOwnedResource.DeveloperConsent"]
    assert with_self_consent_entries(today, recorded) == [*recorded, *today]


def test_reviewer_queries_are_the_admin_centres_forms_and_read_back() -> None:
    user, group = "B6879BE8-FB87-4482-A72E-18445D2B5C54", "0f8fad5b-d9cb-469f-a165-70867728950e"
    role = DIRECTORY_ROLES["Global Administrator"]
    # https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update (users); Microsoft365DSC's
    # MSFT_AADAdminConsentRequestPolicy (groups and roles, as the admin centre writes them).
    assert reviewer_query("user", user) == f"/users/{user.lower()}"
    assert reviewer_query("group", group) == f"/groups/{group}/transitiveMembers/microsoft.graph.user"
    assert reviewer_query("role", role) == (
        f"/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{role}'"
    )
    for kind, object_id in (("user", user.lower()), ("group", group), ("role", role)):
        assert parse_reviewer_query(reviewer_query(kind, object_id)) == (kind, object_id)  # type: ignore[arg-type]
    # Written by other tools without /beta, and with any casing of the path: still a role reviewer.
    assert parse_reviewer_query(f"/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{role}'") == (
        "role",
        role,
    )
    assert parse_reviewer_query("./manager") is None
