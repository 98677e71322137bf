"""The role table: who may do what a tenant file asks, each row citing Microsoft's pages, and what a plan needs."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model import role_table
from taxcalc_consent.infra.model.consent_settings import DIRECTORY_ROLES
from taxcalc_consent.infra.model.plan import AppRoleAssignment, ConsentPlan, ConsentSettingsPlan
from taxcalc_consent.infra.model.role_table import (
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    REQUIREMENTS,
    missing_roles,
    needs,
)
from tests.conftest import EXAMPLES, no_notices

ROOT = Path(__file__).resolve().parents[1]
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.mark.parametrize("row", REQUIREMENTS, ids=lambda r: r.key)
def test_every_row_cites_microsofts_page_for_its_call(row: role_table.Requirement) -> None:
    graph_pages = [s for s in row.sources if s.startswith("https://learn.microsoft.com/graph/api/")]
    assert graph_pages, f"{row.key}: no Graph API page (its Permissions section lists roles and permissions)"
    assert all(s.startswith("https://learn.microsoft.com/") for s in row.sources)
    assert row.application_permissions, f"{row.key}: the automation identity's permissions are part of the row"
    if row.least_role is not None:
        assert row.least_role in row.roles
        assert row.note or len(row.sources) >= 2 or row.roles, row.key


def test_role_template_ids_are_the_built_in_roles_pages() -> None:
    for role in role_table.BUILT_IN_ROLES:
        assert GUID.match(role.template_id), role
    # The ids the consent settings already use (reviewers of the admin consent workflow) are the same roles.
    for name, template_id in DIRECTORY_ROLES.items():
        assert role_table.ROLE_BY_ID[template_id].name == name


def test_the_keys_are_unique_and_kebab_case() -> None:
    keys = [row.key for row in REQUIREMENTS]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", key) for key in keys)


def _plans() -> dict[str, ConsentPlan]:
    from taxcalc_consent.cli.fleet.pipeline import load_plans

    return {plan.tenant: plan for plan in load_plans([EXAMPLES], notify=no_notices)}


def test_a_tenant_wide_file_needs_cloud_application_administrator_only() -> None:
    contoso = needs(_plans()["contoso"])
    assert [r.key for r in contoso.requirements] == ["service-principal", "tenant-wide-consent"]
    assert contoso.roles == (CLOUD_APPLICATION_ADMINISTRATOR,)
    assert contoso.application_permissions == ("Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All")


def test_the_user_consent_setting_needs_privileged_role_administrator() -> None:
    northwind = needs(_plans()["northwind"])
    assert "user-consent-setting" in [r.key for r in northwind.requirements]
    assert northwind.roles == (CLOUD_APPLICATION_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR)
    assert "Policy.ReadWrite.Authorization" in northwind.application_permissions


def test_graph_app_roles_need_privileged_role_administrator_which_cloud_application_administrator_lacks() -> None:
    plan = replace(
        _plans()["contoso"],
        app_role_assignments=(AppRoleAssignment("00000003-0000-0000-c000-000000000000", "Mail.Send"),),
    )
    needed = needs(plan)
    assert PRIVILEGED_ROLE_ADMINISTRATOR in needed.roles
    missing = missing_roles(needed, [CLOUD_APPLICATION_ADMINISTRATOR.template_id])
    assert [(row.key, role.name) for row, role in missing] == [("graph-app-roles", "Privileged Role Administrator")]
    assert (
        missing_roles(needed, [CLOUD_APPLICATION_ADMINISTRATOR.template_id, PRIVILEGED_ROLE_ADMINISTRATOR.template_id])
        == []
    )
    assert missing_roles(needed, [GLOBAL_ADMINISTRATOR.template_id]) == []
    # Privileged Role Administrator alone may not create the service principal (the Graph page's roles).
    alone = missing_roles(needed, [PRIVILEGED_ROLE_ADMINISTRATOR.template_id])
    assert [(row.key, role.name) for row, role in alone] == [("service-principal", "Cloud Application Administrator")]


def test_rows_microsoft_names_no_role_for_are_not_judged() -> None:
    fabrikam = needs(_plans()["fabrikam"])
    keys = [r.key for r in fabrikam.requirements]
    assert "resolve-users" in keys and "resolve-groups" in keys
    judged = missing_roles(fabrikam, [])
    assert {row.key for row, _ in judged} == {r.key for r in fabrikam.requirements if r.least_role is not None}


def test_no_consent_settings_no_policy_permissions() -> None:
    plan = replace(_plans()["northwind"], consent_settings=ConsentSettingsPlan())
    assert not [p for p in needs(plan).application_permissions if p.startswith("Policy.")]


def test_every_application_permission_is_one_docs_ci_lists() -> None:
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    for row in REQUIREMENTS:
        for permission in row.application_permissions:
            assert f"`{permission}`" in ci, f"{row.key}: {permission} is not in docs/ci.md"


def test_plan_offline_says_who_may_apply_each_tenant() -> None:
    result = CliRunner().invoke(app, ["plan", "--offline", str(ROOT / "examples" / "tenants" / "northwind.yaml")])
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stderr.split())
    assert (
        "GDAP sign-in, with the directory roles: Cloud Application Administrator, Privileged Role Administrator" in text
    )
    assert "Policy.ReadWrite.Authorization" in text
