"""The plan crosses into the engine as data: the driver's plan, written by ``plan_to_data`` and read back by
``plan_from_data``, is what the policy pack judges (tests/engine/test_one_read.py counts the reads end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taxcalc_consent.cli.fleet.pipeline import load_plans
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.kinds import app_role_assignment
from taxcalc_consent.infra.model.plan import plan_from_data, plan_to_data, read_plan
from taxcalc_consent.policies.pack import base_plan, build_policies
from taxcalc_consent.policies.rules import PLAN_PROPERTY, pack_config
from tests.conftest import CLIENT_ID, ROOT, TENANT_ID, no_notices
from tests.fakes.preview import PreviewResource, resource_args

URN = "urn:pulumi:fabrikam::taxcalc-consent::azuread:index/servicePrincipal:ServicePrincipal::taxcalc-hub-sp"
MAIL_SEND_ROLE = "b633e1c5-b582-4048-a93e-9f11b44c7e96"
"""Microsoft Graph's Mail.Send application permission (app role id)."""


def every_tenant_file() -> list[Path]:
    files = sorted((ROOT / "examples" / "tenants").glob("[!_]*.yaml"))
    files += sorted((ROOT / "tests" / "fixtures" / "policies").glob("*/*/tenant.yaml"))
    return files


@pytest.mark.parametrize("path", every_tenant_file(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_plan_reads_back_equal_from_its_data_through_json(path: Path) -> None:
    (plan,) = load_plans([path], notify=no_notices)  # as the driver makes it: violations included
    assert plan_from_data(json.loads(json.dumps(plan_to_data(plan)))) == plan


def test_the_sign_in_block_reads_back_equal(tmp_path: Path) -> None:
    target = tmp_path / "fabrikam.yaml"
    target.write_text(
        f"tenant:\n  id: {TENANT_ID}\napp:\n  client_id: {CLIENT_ID}\nconsent:\n  mode: organization\n"
        f"auth:\n  method: client-secret\n  client_id: {CLIENT_ID}\n  client_secret_env: FABRIKAM_SECRET\n",
        "utf-8",
    )
    plan = read_plan(target)
    assert plan.auth.method == "client-secret" and plan.auth.client_secret_env == "FABRIKAM_SECRET"
    assert plan_from_data(json.loads(json.dumps(plan_to_data(plan)))) == plan


def test_the_examples_cover_what_the_data_must_carry() -> None:
    # The round trip above proves something only if the plans carry each part: exceptions, policy, sign-in,
    # consent settings, violations, groups and assignments.
    plans = [plan for path in every_tenant_file() for plan in load_plans([path], notify=no_notices)]
    assert any(p.exceptions for p in plans) and any(p.policy.enforcement for p in plans)
    assert any(p.violations for p in plans)
    assert any(
        p.consent_settings.admin_consent_workflow and p.consent_settings.admin_consent_workflow.reviewers for p in plans
    )
    assert any(p.group_grants for p in plans) and any(p.assignments for p in plans)


def high_risk_exception_plan(tmp_path: Path) -> dict[str, object]:
    """The data of a plan whose exception allows Mail.Send, from a tenant file that is then removed."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    target = folder / "fabrikam.yaml"
    target.write_text(
        f"tenant:\n  id: {TENANT_ID}\napp:\n  client_id: {CLIENT_ID}\nconsent:\n  mode: organization\n"
        "  app_roles: [Mail.Send]\nexceptions:\n  - rule: high-risk-app-roles\n    permission: Mail.Send\n"
        "    reason: the firm's scanner sends as a shared mailbox\n    expires: 2099-01-01\n",
        "utf-8",
    )
    data = plan_to_data(read_plan(target))
    target.unlink()  # whatever the pack judges now, it did not read it from the file
    return data


def test_the_pack_judges_the_plan_it_is_handed_and_reads_no_file(tmp_path: Path) -> None:
    data = high_risk_exception_plan(tmp_path)
    (high_risk,) = [p for p in build_policies() if p.name == "high-risk-app-roles"]
    role = PreviewResource(
        app_role_assignment.TYPE,
        app_role_assignment.name("Mail.Send"),
        {"appRoleId": MAIL_SEND_ROLE, "principalObjectId": "x", "resourceObjectId": "y"},
    )
    reports: list[str] = []
    # The document the driver writes: the handed plan's exception applies, the (gone) file is never looked for.
    config = pack_config(plan_from_data(data).policy, plan=data)["high-risk-app-roles"]
    high_risk.validate(resource_args(role, config), lambda message, urn=None: reports.append(message))
    assert reports == []
    # Without it, the strictest reading (no tenant file found for this URN's stack): the role is reported.
    high_risk.validate(resource_args(role, {}), lambda message, urn=None: reports.append(message))
    assert len(reports) == 1 and "'Mail.Send' is high risk" in reports[0]


def test_a_handed_plan_the_tool_did_not_write_is_refused_in_words(tmp_path: Path) -> None:
    data = high_risk_exception_plan(tmp_path)
    del data["policy"]
    with pytest.raises(TaxcalcConsentError, match="the policy config's 'plan' is not a plan the tool wrote"):
        base_plan({PLAN_PROPERTY: data}, URN, tmp_path)
