"""The CrossGuard pack's plumbing: finding the tenant file, reading preview inputs, what it registers."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from taxcalc_consent.infra.model.errors import SpecError
from taxcalc_consent.infra.model.kinds import delegated_grant, service_principal
from taxcalc_consent.infra.model.plan import ServicePrincipalPlan
from taxcalc_consent.policies.pack import (
    ResourceView,
    build_policies,
    find_tenant_file,
    plan_from_resources,
    stack_name_from_urn,
    tenant_file_from_stack,
    tenant_plan,
)
from taxcalc_consent.policies.rules import RULES
from tests.conftest import CLIENT_ID, ROOT, TENANT_ID
from tests.fakes.preview import PreviewResource, resource_args, stack_resources

URN = "urn:pulumi:fabrikam::taxcalc-consent::azuread:index/servicePrincipal:ServicePrincipal::taxcalc-hub-sp"


def test_one_policy_per_rule_with_the_rules_id_and_default_level() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == [r.id for r in RULES]
    for policy, rule in zip(policies, RULES, strict=True):
        assert policy.enforcement_level == EnforcementLevel(rule.severity)
        assert isinstance(policy, StackValidationPolicy) == (rule.scope == "stack")


def test_stack_name_comes_from_the_urn() -> None:
    assert stack_name_from_urn(URN) == "fabrikam"
    assert stack_name_from_urn("not-a-urn") is None


def make_project(root: Path, tenant_file: str | None) -> None:
    (root / "Pulumi.yaml").write_text("name: taxcalc-consent\nruntime: python\nstackConfigDir: stacks\n", "utf-8")
    (root / "stacks").mkdir()
    if tenant_file is not None:
        (root / "stacks" / "Pulumi.fabrikam.yaml").write_text(
            f"config:\n  taxcalc-consent:tenantFile: {tenant_file}\n", "utf-8"
        )


def test_tenant_file_is_read_from_the_stack_config(tmp_path: Path) -> None:
    make_project(tmp_path, "tenants/fabrikam.yaml")
    assert tenant_file_from_stack("fabrikam", tmp_path) == tmp_path / "tenants" / "fabrikam.yaml"
    assert find_tenant_file({}, URN, tmp_path) == tmp_path / "tenants" / "fabrikam.yaml"
    assert tenant_file_from_stack("contoso", tmp_path) is None


def test_in_an_engine_process_paths_are_relative_to_the_root_the_tool_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pack runs in its own folder (wherever the package is installed); R comes from the environment.
    (tmp_path / "stacks").mkdir()  # an MSP's folder: no Pulumi.yaml of its own, settings in R/stacks
    (tmp_path / "stacks" / "Pulumi.fabrikam.yaml").write_text(
        "config:\n  taxcalc-consent:tenantFile: tenants/fabrikam.yaml\n", "utf-8"
    )
    monkeypatch.chdir(Path(find_tenant_file.__code__.co_filename).parent)
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(tmp_path))
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    assert find_tenant_file({}, URN) == tmp_path / "tenants" / "fabrikam.yaml"
    monkeypatch.setenv("PULUMI_CONFIG", '{"taxcalc-consent:tenantFile": "tenants/from-engine.yaml"}')
    assert find_tenant_file({}, URN) == tmp_path / "tenants" / "from-engine.yaml"


def test_the_engine_passed_stack_config_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(tmp_path, "tenants/fabrikam.yaml")
    monkeypatch.setenv(
        "PULUMI_CONFIG", '{"taxcalc-consent:tenantFile": "tenants/from-engine.yaml", "azuread:tenantId": "x"}'
    )
    assert find_tenant_file({}, URN, tmp_path) == tmp_path / "tenants" / "from-engine.yaml"
    monkeypatch.setenv("PULUMI_CONFIG", "not json")
    assert find_tenant_file({}, URN, tmp_path) == tmp_path / "tenants" / "fabrikam.yaml"


def test_pack_config_names_the_tenant_file_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_project(tmp_path, "tenants/fabrikam.yaml")
    monkeypatch.setenv("PULUMI_CONFIG", '{"taxcalc-consent:tenantFile": "tenants/from-engine.yaml"}')
    assert find_tenant_file({"tenantFile": "/elsewhere/x.yaml"}, URN, tmp_path) == Path("/elsewhere/x.yaml")


def test_no_tenant_file_means_the_strictest_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    plan = tenant_plan(None)
    assert plan.exceptions == () and plan.policy.allowed_scopes is None and plan.policy.enforcement == {}
    (high_risk,) = [p for p in build_policies() if p.name == "high-risk-app-roles"]
    reports: list[str] = []
    role = PreviewResource(
        "azuread:index/appRoleAssignment:AppRoleAssignment",
        "graph-app-role-Mail.Send",
        {"appRoleId": "b633e1c5-b582-4048-a93e-9f11b44c7e96", "principalObjectId": "x", "resourceObjectId": "y"},
    )
    # No config and a URN whose stack has no config file here: no exception can apply.
    high_risk.validate(resource_args(role, {}), lambda message, urn=None: reports.append(message))
    assert len(reports) == 1 and "'Mail.Send' is high risk" in reports[0]


def test_an_invalid_tenant_file_stops_the_pack_with_located_errors(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    target = folder / "bad.yaml"
    target.write_text(
        f"tenant:\n  id: {TENANT_ID}\napp:\n  client_id: {CLIENT_ID}\nconsent:\n  mode: organization\n"
        "exceptions:\n  - rule: no-such-rule\n    permission: Mail.Send\n    reason: x\n    expires: 2099-01-01\n",
        "utf-8",
    )
    with pytest.raises(SpecError) as caught:
        tenant_plan(target)
    assert "exceptions[0].rule: unknown policy rule 'no-such-rule'" in str(caught.value)


def test_unknown_preview_values_are_read_as_absent() -> None:
    view = ResourceView(
        service_principal.TYPE,
        "taxcalc-hub-sp",
        unknown_checking_proxy({"appRoleAssignmentRequired": UNKNOWN_BOOLEAN_VALUE}),
    )
    assert view.get("appRoleAssignmentRequired") is None
    base = tenant_plan(None)
    assert plan_from_resources([view], base).service_principal.assignment_required is False
    strict = dataclasses.replace(base, service_principal=ServicePrincipalPlan(assignment_required=True))
    assert plan_from_resources([view], strict).service_principal.assignment_required is True


def test_stack_policy_runs_when_service_principal_ids_are_unknown(tmp_path: Path) -> None:
    # Access assignments point at TaxCalc-Hub's new service principal, whose object id a preview cannot know.
    (coverage,) = [p for p in build_policies() if p.name == "assignment-coverage"]
    fixture = ROOT / "tests" / "fixtures" / "policies" / "assignment-coverage" / "fail" / "tenant.yaml"
    resources = [
        PreviewResource(
            service_principal.TYPE, "taxcalc-hub-sp", {"clientId": CLIENT_ID, "appRoleAssignmentRequired": True}
        ),
        PreviewResource(
            delegated_grant.TYPE,
            "graph-grant-user-11111111-1111-4111-8111-111111111111",
            {"claimValues": ["openid"], "userObjectId": "11111111-1111-4111-8111-111111111111"},
        ),
    ]
    reports: list[tuple[str, str | None]] = []
    assert isinstance(coverage, StackValidationPolicy)
    coverage.validate(
        StackValidationArgs(stack_resources(resources), {"tenantFile": str(fixture)}),
        lambda message, urn=None: reports.append((message, urn)),
    )
    ((message, urn),) = reports
    assert "user 11111111-1111-4111-8111-111111111111" in message
    assert urn == resources[1].urn  # attached to the grant of the user who could not sign in


def test_importing_the_pack_does_not_start_an_analyzer() -> None:
    # PolicyPack() blocks serving the engine; only policies/__main__.py may construct it.
    code = "import policies.pack, policies.rules, cli.main; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "PolicyPack(" in (ROOT / "policies" / "__main__.py").read_text("utf-8")
    assert "PolicyPack(" not in (ROOT / "policies" / "pack.py").read_text("utf-8")


def test_cli_does_not_import_pulumi_policy() -> None:
    code = (
        "import sys, taxcalc_consent.cli.main; "
        "print(any(m.startswith(('pulumi_policy', 'pulumi')) for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "False", result.stderr


def test_a_grant_whose_user_is_unknown_is_still_a_principal_grant() -> None:
    view = ResourceView(
        delegated_grant.TYPE,
        "graph-grant-user-x",
        unknown_checking_proxy({"claimValues": ["openid"], "userObjectId": UNKNOWN_STRING_VALUE}),
    )
    assert view.is_unknown("userObjectId") and not view.is_unknown("claimValues")
    (grant,) = plan_from_resources([view], tenant_plan(None)).grants
    assert grant.consent_type == "Principal"
