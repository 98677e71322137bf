"""Every rule against its SHOULD PASS and SHOULD FAIL fixtures, offline and through the CrossGuard pack.

Fixtures: tests/fixtures/policies/<rule-id>/{pass,fail}/ hold a tenants folder (``_defaults.yaml`` and
``tenant.yaml``); the comment at the top of each tenant file says why it passes or fails. The pack's
policies are called directly with ResourceValidationArgs / StackValidationArgs and a list-collecting
report, over the resources a preview of the same plan would show (tests/fakes/preview.py).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import StackValidationArgs, StackValidationPolicy

from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.model.loader import load_tenants
from taxcalc_consent.infra.model.plan import AppRoleAssignment, ConsentPlan, DelegatedGrant, build_plan
from taxcalc_consent.infra.model.spec import PolicyConfig
from taxcalc_consent.policies.pack import build_policies, pack_config
from taxcalc_consent.policies.rules import RULES, RULES_BY_ID, evaluate
from tests.fakes.ids import HUB_CLIENT_ID
from tests.fakes.preview import preview_resources, resource_args, stack_resources

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
TODAY = date(2026, 11, 28)
CASES = [(rule.id, verdict) for rule in RULES for verdict in ("pass", "fail")]

Verdict = set[tuple[str, str, str]]


def fixture_plan(rule_id: str, verdict: str) -> tuple[ConsentPlan, Path]:
    folder = FIXTURES / rule_id / verdict
    (tenant,) = load_tenants([folder])
    plan = build_plan(tenant)
    overrides_file = folder / "_plan_overrides.yaml"
    if overrides_file.is_file():
        # What a plan carries when it did not come from a checked tenant file (an edited profile or program).
        overrides: dict[str, Any] = yaml.safe_load(overrides_file.read_text(encoding="utf-8"))
        scopes = tuple(overrides.get("scopes", plan.scopes))
        plan = dataclasses.replace(
            plan,
            grants=tuple(dataclasses.replace(g, scopes=scopes) for g in plan.grants),
            app_role_assignments=tuple(AppRoleAssignment(GRAPH_APP_ID, r) for r in overrides.get("app_roles", ())),
        )
    return plan, folder / "tenant.yaml"


def offline_verdict(plan: ConsentPlan) -> Verdict:
    return {(v.rule, v.severity, v.message) for v in evaluate(plan, today=TODAY)}


def pack_verdict(plan: ConsentPlan, tenant_file: Path) -> Verdict:
    """Run every pack policy as the engine would, at the level the pack config gives it."""
    levels = pack_config(plan.policy)
    config = {"tenantFile": str(tenant_file)}
    resources = preview_resources(plan)
    found: Verdict = set()
    for policy in build_policies(today=TODAY):
        level = levels[policy.name]["enforcementLevel"]
        if level == "disabled":  # the engine skips a disabled policy altogether
            continue
        reports: list[str] = []

        def report(message: str, urn: str | None = None, sink: list[str] = reports) -> None:
            sink.append(message)

        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(stack_resources(resources), config), report)
        else:
            for resource in resources:
                policy.validate(resource_args(resource, config), report)
        found |= {(policy.name, level, message) for message in reports}
    return found


def test_every_rule_has_both_fixtures() -> None:
    for rule in RULES:
        for verdict in ("pass", "fail"):
            assert (FIXTURES / rule.id / verdict / "tenant.yaml").is_file(), f"{rule.id}/{verdict} fixture missing"


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "policy.md").read_text("utf-8")
    for rule in RULES:
        assert f"### `{rule.id}`" in doc, f"docs/policy.md has no section for {rule.id}"


def test_rule_ids_are_stable_kebab_case_and_unique() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert ids == [
        "known-permissions",
        "allowed-scopes",
        "high-risk-app-roles",
        "expired-exception",
        "assignment-coverage",
        "sign-in-scopes-covered",
        "admin-consent-reviewers",
        "tenant-wide-consent",
        "offline-access",
        "user-consent-all-apps",
    ]
    assert {r.id for r in RULES if r.severity == "advisory"} == {
        "tenant-wide-consent",
        "offline-access",
        "user-consent-all-apps",
    }


@pytest.mark.parametrize(("rule_id", "verdict"), CASES)
def test_offline_rule_on_fixture(rule_id: str, verdict: str) -> None:
    plan, _ = fixture_plan(rule_id, verdict)
    hits = [v for v in evaluate(plan, today=TODAY) if v.rule == rule_id]
    if verdict == "pass":
        assert hits == []
    else:
        assert hits, f"{rule_id} should fail on its fixture"
        assert all(v.severity == RULES_BY_ID[rule_id].severity for v in hits)


@pytest.mark.parametrize(("rule_id", "verdict"), CASES)
def test_pack_policy_on_fixture(rule_id: str, verdict: str) -> None:
    plan, tenant_file = fixture_plan(rule_id, verdict)
    hits = {message for rule, _, message in pack_verdict(plan, tenant_file) if rule == rule_id}
    assert bool(hits) == (verdict == "fail")


@pytest.mark.parametrize(("rule_id", "verdict"), CASES)
def test_offline_and_pack_agree(rule_id: str, verdict: str) -> None:
    plan, tenant_file = fixture_plan(rule_id, verdict)
    assert pack_verdict(plan, tenant_file) == offline_verdict(plan)


@pytest.mark.parametrize(
    ("tenant", "expected"), [("contoso", {"tenant-wide-consent"}), ("fabrikam", set()), ("lab", set())]
)
def test_examples_agree_offline_and_in_the_pack(tenant: str, expected: set[str]) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples" / "tenants"
    (loaded,) = load_tenants([examples / f"{tenant}.yaml"])
    plan = build_plan(loaded)
    offline = offline_verdict(plan)
    assert {rule for rule, _, _ in offline} == expected
    assert all(severity == "advisory" for _, severity, _ in offline)
    # fabrikam's group members are not in access.users, but its group is assigned: Entra resolves membership.
    assert pack_verdict(plan, examples / f"{tenant}.yaml") == offline


def test_a_workflow_keeping_the_tenants_reviewers_is_judged_alike_offline_and_in_the_pack(tmp_path: Path) -> None:
    # Reviewers the file leaves out are absent from the resource (kept as the tenant has them): neither side
    # can see them, so neither says "reach nobody"; named as none, both do.
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {HUB_CLIENT_ID}\nconsent_settings:\n  admin_consent_workflow:\n    enabled: true\n",
        encoding="utf-8",
    )
    tenant_file = folder / "acme.yaml"
    tenant_file.write_text(
        "tenant:\n  id: 0f8fad5b-d9cb-469f-a165-70867728950e\nconsent:\n  mode: users\n  users:\n"
        "    - 11111111-1111-4111-8111-111111111111\n",
        encoding="utf-8",
    )
    (loaded,) = load_tenants([folder])
    plan = build_plan(loaded)
    assert not [v for v in offline_verdict(plan) if v[0] == "admin-consent-reviewers"]
    assert pack_verdict(plan, tenant_file) == offline_verdict(plan)


# ------------------------------------------------------------------------------ rule details


def test_high_risk_messages_name_the_permission_and_the_way_out() -> None:
    plan, _ = fixture_plan("high-risk-app-roles", "fail")
    messages = [v.message for v in evaluate(plan, today=TODAY) if v.rule == "high-risk-app-roles"]
    assert len(messages) == 1  # User.Read.All is medium risk: not refused
    assert "'Mail.ReadWrite'" in messages[0]
    assert "rule: high-risk-app-roles, permission: Mail.ReadWrite" in messages[0]


def test_an_exception_holds_through_its_expiry_date_and_not_a_day_longer() -> None:
    plan, _ = fixture_plan("expired-exception", "fail")
    last_day = date(2020, 1, 31)
    assert [v.rule for v in evaluate(plan, today=last_day)] == []
    after = [v.rule for v in evaluate(plan, today=date(2020, 2, 1))]
    assert after == ["high-risk-app-roles", "expired-exception"]


def test_enforcement_can_raise_lower_or_disable_a_rule() -> None:
    plan, _ = fixture_plan("tenant-wide-consent", "fail")
    assert [(v.rule, v.severity) for v in evaluate(plan, today=TODAY)] == [("tenant-wide-consent", "advisory")]
    stricter = dataclasses.replace(plan, policy=PolicyConfig(enforcement={"tenant-wide-consent": "mandatory"}))
    assert [(v.rule, v.severity) for v in evaluate(stricter, today=TODAY)] == [("tenant-wide-consent", "mandatory")]
    off = dataclasses.replace(plan, policy=PolicyConfig(enforcement={"tenant-wide-consent": "disabled"}))
    assert evaluate(off, today=TODAY) == ()


def test_escalated_rule_agrees_with_the_pack_given_its_pack_config() -> None:
    plan, tenant_file = fixture_plan("tenant-wide-consent", "fail")
    stricter = dataclasses.replace(plan, policy=PolicyConfig(enforcement={"tenant-wide-consent": "mandatory"}))
    assert pack_config(stricter.policy)["tenant-wide-consent"] == {"enforcementLevel": "mandatory"}
    assert {(r, s) for r, s, _ in pack_verdict(stricter, tenant_file)} == {("tenant-wide-consent", "mandatory")}


def test_assignment_coverage_only_applies_with_assignment_required_in_users_mode() -> None:
    plan, _ = fixture_plan("assignment-coverage", "fail")
    open_app = dataclasses.replace(
        plan, service_principal=dataclasses.replace(plan.service_principal, assignment_required=False)
    )
    assert [v for v in evaluate(open_app, today=TODAY) if v.rule == "assignment-coverage"] == []


def test_assignment_coverage_names_an_unassigned_group() -> None:
    plan, _ = fixture_plan("assignment-coverage", "fail")
    from taxcalc_consent.infra.model.plan import GroupGrant

    with_group = dataclasses.replace(
        plan, grants=(), group_grants=(GroupGrant("TaxCalc Mailboxes", GRAPH_APP_ID, plan.scopes),), assignments=()
    )
    messages = [v.message for v in evaluate(with_group, today=TODAY) if v.rule == "assignment-coverage"]
    assert len(messages) == 1 and "add TaxCalc Mailboxes to access.groups" in messages[0]


def test_assignment_coverage_needs_the_granted_group_itself_assigned() -> None:
    """Grants go to a group's direct members and assignment to a group reaches its direct members only, so
    another assigned group does not cover them (before, any assigned group silenced the rule)."""
    from taxcalc_consent.infra.model.plan import AccessAssignment, GroupGrant

    plan, _ = fixture_plan("assignment-coverage", "fail")
    granted = GroupGrant("TaxCalc Mailboxes", GRAPH_APP_ID, plan.scopes)
    other = dataclasses.replace(
        plan, grants=(), group_grants=(granted,), assignments=(AccessAssignment("Group", "All Staff"),)
    )
    (violation,) = [v for v in evaluate(other, today=TODAY) if v.rule == "assignment-coverage"]
    assert "add TaxCalc Mailboxes to access.groups" in violation.message
    same = dataclasses.replace(other, assignments=(AccessAssignment("Group", "taxcalc mailboxes"),))
    assert [v for v in evaluate(same, today=TODAY) if v.rule == "assignment-coverage"] == []


def test_known_permissions_explains_a_scope_listed_as_the_wrong_kind() -> None:
    plan, _ = fixture_plan("known-permissions", "pass")
    wrong = dataclasses.replace(
        plan, grants=(DelegatedGrant("AllPrincipals", None, GRAPH_APP_ID, (*plan.scopes, "User.Read.All")),)
    )
    assert [v for v in evaluate(wrong, today=TODAY) if v.rule == "known-permissions"] == []  # it is both kinds
    wrong = dataclasses.replace(plan, app_role_assignments=(AppRoleAssignment(GRAPH_APP_ID, "User.Read"),))
    (violation,) = [v for v in evaluate(wrong, today=TODAY) if v.rule == "known-permissions"]
    assert "'User.Read' is a delegated scope, not an application permission" in violation.message
