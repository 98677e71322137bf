"""The one module per Entra resource kind: names read back, import ids in the provider's form, and
every resource the real program declares belongs to exactly one kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxcalc_consent.infra.model.kinds import (
    KINDS,
    Step,
    access_assignment,
    admin_consent_workflow,
    app_registration,
    app_role_assignment,
    delegated_grant,
    kind_of,
    logical_name,
    service_principal,
    stack_name,
    type_token,
    user_consent_setting,
)
from taxcalc_consent.infra.program.service_principal_provider import HubServicePrincipal
from taxcalc_consent.infra.program.settings_provider import AdminConsentWorkflow, UserConsentSetting
from tests.conftest import TENANT_ID
from tests.fakes.example_tenants import EXAMPLE_TENANTS, HUB_CLIENT_ID, fabrikam
from tests.test_infra_program import deploy_file, write_tenant

USER = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"


def test_logical_names_read_back() -> None:
    assert delegated_grant.user_from_name(delegated_grant.user_name(USER)) == USER.lower()
    assert delegated_grant.user_from_name(delegated_grant.ORGANIZATION_NAME) is None
    assert app_role_assignment.role_from_name(app_role_assignment.name("Mail.Send")) == "Mail.Send"
    assert access_assignment.parse_name(access_assignment.name("Group", USER)) == ("Group", USER.lower())
    assert access_assignment.parse_name(app_role_assignment.name("Mail.Send")) is None


def test_import_ids_are_the_forms_the_provider_validates() -> None:
    # terraform-provider-azuread: each resource's Importer validates with go-azure-sdk's stable.Validate*ID.
    assert service_principal.import_id("abc") == "/servicePrincipals/abc"
    assert service_principal.object_id("/servicePrincipals/abc") == "abc"
    assert service_principal.object_id("abc") == "abc"  # an adopt map written before the fix
    assert delegated_grant.import_id("g1") == "/oauth2PermissionGrants/g1"
    assert app_role_assignment.import_id("r", "a") == "/servicePrincipals/r/appRoleAssignedTo/a"
    assert access_assignment.import_id("hub", "a") == "/servicePrincipals/hub/appRoleAssignedTo/a"
    assert app_registration.import_id("o") == "/applications/o"


def test_urns_read_back() -> None:
    urn = (
        "urn:pulumi:contoso::taxcalc-consent::taxcalc-consent:index:TenantConsent$"
        f"{delegated_grant.TYPE}::graph-grant-all-principals"
    )
    assert (stack_name(urn), type_token(urn), logical_name(urn)) == (
        "contoso",
        delegated_grant.TYPE,
        "graph-grant-all-principals",
    )
    assert stack_name("not-a-urn") is None


def test_two_kinds_share_the_app_role_assignment_token_and_names_tell_them_apart() -> None:
    assert access_assignment.TYPE == app_role_assignment.TYPE
    assert kind_of(app_role_assignment.TYPE, "graph-app-role-Mail.Send") is app_role_assignment.KIND
    assert kind_of(app_role_assignment.TYPE, f"access-user-{USER}") is access_assignment.KIND
    assert kind_of(app_role_assignment.TYPE, "taxcalc-hub-sp") is None
    assert kind_of("pulumi:pulumi:Stack", "taxcalc-consent-contoso") is None


@pytest.mark.parametrize("example", sorted(EXAMPLE_TENANTS))
def test_every_resource_the_program_declares_has_exactly_one_kind(example: str, hub_examples: Path) -> None:
    mocks, _ = deploy_file(EXAMPLE_TENANTS[example](), hub_examples / f"{example}.yaml")
    declared = [
        r
        for r in mocks.resources
        if r.type.startswith(("azuread:index/", "pulumi-python:dynamic/")) and r.type != "pulumi:providers:azuread"
    ]
    assert declared
    for resource in declared:
        owners = [k for k in KINDS if k.type_token == resource.type and k.claims(resource.name)]
        assert len(owners) == 1, (resource.type, resource.name, [k.label for k in owners])


def test_every_kind_describes_every_change_op_in_words() -> None:
    names = {
        service_principal.KIND: service_principal.NAME,
        service_principal.LEGACY_KIND: service_principal.NAME,
        delegated_grant.KIND: delegated_grant.user_name(USER),
        app_role_assignment.KIND: app_role_assignment.name("Mail.Send"),
        access_assignment.KIND: access_assignment.name("User", USER),
        app_registration.KIND: app_registration.NAME,
        user_consent_setting.KIND: user_consent_setting.NAME,
        admin_consent_workflow.KIND: admin_consent_workflow.NAME,
    }
    assert set(names) == set(KINDS)
    for kind, name in names.items():
        for op in ("create", "update", "delete", "replace", "import"):
            for drift in (False, True):
                for restore in (False, True):
                    step = Step(op, name, old={"x": 1}, new={"x": 2}, drift=drift, restore=restore)  # type: ignore[arg-type]
                    text = kind.describe(step)
                    assert text and "None" not in text, (kind.label, op, drift, text)


def test_the_tools_own_kinds_are_the_dynamic_resources_type_tokens() -> None:
    # pulumi.dynamic.Resource builds its token as pulumi-python:dynamic/<module>:<name> (dynamic.py).
    assert f"pulumi-python:{UserConsentSetting._resource_type_name}" == user_consent_setting.TYPE
    assert f"pulumi-python:{AdminConsentWorkflow._resource_type_name}" == admin_consent_workflow.TYPE
    assert f"pulumi-python:{HubServicePrincipal._resource_type_name}" == service_principal.TYPE


def test_adopting_the_service_principal_by_its_import_id_builds_the_assignment_import(tenants_dir: Path) -> None:
    """adopt records `/servicePrincipals/{id}`; the program reads the object id back for access assignments."""
    tenant = fabrikam(TENANT_ID)
    alice = tenant.user("alice.smith@fabrikam.com")
    hub = tenant.add_service_principal(HUB_CLIENT_ID, "TaxCalc-Hub")
    assignment = tenant.create_app_role_assignment(alice.id, hub.id, access_assignment.DEFAULT_ROLE_ID)
    path = write_tenant(
        tenants_dir,
        "f",
        "consent:\n  mode: organization\naccess:\n  assignment_required: true\n  users: [alice.smith@fabrikam.com]\n",
    )
    adopt = {
        service_principal.NAME: f"/servicePrincipals/{hub.id}",
        access_assignment.name("User", alice.id): assignment.id,
    }
    mocks, _ = deploy_file(tenant, path, adopt=adopt)
    assert (
        mocks.named(access_assignment.name("User", alice.id)).import_id
        == f"/servicePrincipals/{hub.id}/appRoleAssignedTo/{assignment.id}"
    )


def test_the_kinds_import_no_engine_and_no_console() -> None:
    code = (
        "import sys, taxcalc_consent.infra.model.kinds; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_azuread', 'typer', 'rich')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
