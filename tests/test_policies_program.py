"""Offline and pack agree on what the real Pulumi program registers, not only on a hand-made preview.

The program (infra/program/stack.py) runs under Pulumi's mock runtime over the in-memory Entra tenant
(tests/fakes/pulumi_mocks.py); the resources it registers, with the camelCase inputs the engine would
hand a policy pack, go through every pack policy. The verdict must equal `validate`'s for the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from taxcalc_consent.infra.program.stack import deploy, load_plan
from taxcalc_consent.policies.pack import build_policies, pack_config
from taxcalc_consent.policies.rules import evaluate
from tests.fakes.entra import FakeTenant
from tests.fakes.example_tenants import EXAMPLE_TENANTS, PUBLISHED_APPS
from tests.fakes.pulumi_mocks import PROVIDER_TYPE, EntraMocks, RecordedResource, mocked_stack, run
from tests.test_policies import FIXTURES, TODAY, Verdict

FIXTURE_USERS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")


def fixture_tenant() -> FakeTenant:
    tenant = FakeTenant("0f8fad5b-d9cb-469f-a165-70867728950e")
    for index, object_id in enumerate(FIXTURE_USERS):
        tenant.add_user(f"user{index}@fabrikam.com", object_id=object_id)
    return tenant


def registered(tenant: FakeTenant, tenant_file: Path) -> list[RecordedResource]:
    plan = load_plan(str(tenant_file))
    mocks = EntraMocks(tenant, PUBLISHED_APPS)
    with mocked_stack(mocks, stack=plan.tenant):
        run(lambda: deploy(plan, None))
    return [r for r in mocks.resources if r.type != PROVIDER_TYPE]


def pack_verdict_over(resources: list[RecordedResource], tenant_file: Path) -> Verdict:
    plan = load_plan(str(tenant_file))
    levels = pack_config(plan.policy)
    config = {"tenantFile": str(tenant_file)}
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])

    def urn(r: RecordedResource) -> str:
        return f"urn:pulumi:{plan.tenant}::taxcalc-consent::{r.type}::{r.name}"

    found: Verdict = set()
    for policy in build_policies(today=TODAY):
        level = levels[policy.name]["enforcementLevel"]
        if level == "disabled":
            continue
        reports: list[str] = []

        def report(message: str, _urn: str | None = None, sink: list[str] = reports) -> None:
            sink.append(message)

        if isinstance(policy, StackValidationPolicy):
            stack = [
                PolicyResource(r.type, dict(r.inputs), urn(r), r.name, options, None, None, [], {}) for r in resources
            ]
            policy.validate(StackValidationArgs(stack, config), report)
        else:
            for r in resources:
                policy.validate(
                    ResourceValidationArgs(r.type, dict(r.inputs), urn(r), r.name, options, None, config), report
                )
        found |= {(policy.name, level, message) for message in reports}
    return found


def offline(tenant_file: Path) -> Verdict:
    return {(v.rule, v.severity, v.message) for v in evaluate(load_plan(str(tenant_file)), today=TODAY)}


@pytest.mark.parametrize("example", sorted(EXAMPLE_TENANTS))
def test_examples(example: str, hub_examples: Path) -> None:
    tenant_file = hub_examples / f"{example}.yaml"
    resources = registered(EXAMPLE_TENANTS[example](), tenant_file)
    assert resources, "the program registered nothing"
    assert pack_verdict_over(resources, tenant_file) == offline(tenant_file)


CASES = sorted(
    (folder.parent.name, folder.name)
    for folder in FIXTURES.glob("*/*")
    # The program refuses what known-permissions/fail describes before registering anything.
    if not (folder / "_plan_overrides.yaml").exists()
)


@pytest.mark.parametrize(("rule_id", "verdict"), CASES)
def test_fixtures(rule_id: str, verdict: str) -> None:
    tenant_file = FIXTURES / rule_id / verdict / "tenant.yaml"
    expected = offline(tenant_file)
    assert any(rule == rule_id for rule, _, _ in expected) == (verdict == "fail")
    resources = registered(fixture_tenant(), tenant_file)
    assert pack_verdict_over(resources, tenant_file) == expected


def test_recorded_inputs_are_the_names_the_pack_reads(hub_examples: Path) -> None:
    resources = registered(EXAMPLE_TENANTS["fabrikam"](), hub_examples / "fabrikam.yaml")
    inputs: dict[str, set[str]] = {}
    for r in resources:
        inputs.setdefault(r.type, set()).update(r.inputs)
    read: dict[str, Any] = {
        "azuread:index/servicePrincipalDelegatedPermissionGrant:ServicePrincipalDelegatedPermissionGrant": {
            "claimValues",
            "userObjectId",
        },
        "azuread:index/appRoleAssignment:AppRoleAssignment": {"appRoleId", "principalObjectId"},
        "pulumi-python:dynamic/taxcalc-consent:HubServicePrincipal": {"appRoleAssignmentRequired"},
    }
    for resource_type, names in read.items():
        assert names <= inputs[resource_type], (
            f"{resource_type}: the program does not set {names - inputs[resource_type]}"
        )


def test_an_acknowledged_advisory_is_quiet_in_the_pack_too(tmp_path: Path) -> None:
    # The pack reads the tenant file's acknowledgements as validate does: the same rule, quiet until it expires.
    source = FIXTURES / "tenant-wide-consent" / "fail"
    (tmp_path / "_defaults.yaml").write_text((source / "_defaults.yaml").read_text("utf-8"), "utf-8")
    tenant_file = tmp_path / "tenant.yaml"
    tenant_file.write_text(
        (source / "tenant.yaml").read_text("utf-8")
        + "acknowledged:\n  - {rule: tenant-wide-consent, reason: CHG-42, expires: 2099-12-31}\n",
        "utf-8",
    )
    resources = registered(fixture_tenant(), tenant_file)
    verdict = pack_verdict_over(resources, tenant_file)
    assert not any(rule == "tenant-wide-consent" for rule, _, _ in verdict), verdict
    assert verdict == offline(tenant_file)
