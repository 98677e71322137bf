"""The fake engine behind the fleet tests declares what the real Pulumi program declares.

tests/fakes/pulumi_engine.py derives a tenant's desired resources itself (it cannot run a Pulumi
program), so it could drift from infra/: the fleet tests would then pass against a program that no
longer exists. Here both run on the same tenant file and the same in-memory tenant, and must agree
on every grant and assignment: type, logical name and the inputs that decide what Entra holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.automation import ConfigValue

from taxcalc_consent.infra.kinds import app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.infra.workspace import TENANT_FILE_KEY
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.example_tenants import EXAMPLE_TENANTS
from tests.fakes.pulumi_engine import FakeBackend
from tests.test_infra_program import deploy_file

DECIDING_INPUTS = ("claimValues", "userObjectId", "appRoleId", "appRoleAssignmentRequired", "clientId", "useExisting")


def essence(type_token: str, inputs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    picked = {k: inputs[k] for k in DECIDING_INPUTS if k in inputs}
    if "claimValues" in picked:
        picked["claimValues"] = sorted(picked["claimValues"])
    if type_token == app_role_assignment.TYPE and inputs.get("appRoleId") == "00000000-0000-0000-0000-000000000000":
        picked["principalObjectId"] = inputs["principalObjectId"]  # access assignments: who is assigned
    return tuple(sorted(picked.items()))


@pytest.mark.parametrize("example", ["contoso", "fabrikam"])  # lab registers an app: the fake has no Application
def test_fake_engine_declares_what_the_program_declares(example: str) -> None:
    tenant = EXAMPLE_TENANTS[example]()
    tenant_file = EXAMPLES / f"{example}.yaml"

    backend = FakeBackend(ROOT, {example: tenant})
    stack = backend.factory(example, {})
    stack.set_all_config({TENANT_FILE_KEY: ConfigValue(value=str(tenant_file))})
    fake = {
        (r.type, r.name): essence(r.type, r.inputs)
        for r in stack._program(lambda event: None).values()  # reads the tenant, writes nothing
    }

    mocks, _ = deploy_file(tenant, tenant_file)
    kinds = (service_principal.TYPE, delegated_grant.TYPE, app_role_assignment.TYPE)
    real = {(r.type, r.name): essence(r.type, r.inputs) for r in mocks.resources if r.type in kinds}

    assert fake == real
