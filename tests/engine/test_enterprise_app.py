"""An enterprise application that predates the tool, through the real engine: nothing but assignment-required
changes, offboarding puts that back; a new one under replication lag applies in one run; and a stack applied
with pulumi-azuread's service principal (before 0.2) moves to the tool's resource without touching the tenant."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests.conftest import CLIENT_ID
from tests.engine.conftest import World, WorldFactory
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import FakeTenant

pytestmark = pytest.mark.engine

REQUIRED_FILE = scenarios.CONTOSO_FILE + "access:\n  assignment_required: true\n"


def test_an_administrators_enterprise_app_keeps_everything_through_apply_drift_and_offboard(
    world: WorldFactory,
) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    existing = scenarios.tended_enterprise_app(tenant, assignment_required=False)
    kept = scenarios.enterprise_app_fields(existing)
    w = world([tenant], {"contoso": REQUIRED_FILE})

    first = w.cli("apply", "tenants", "--yes", "--json")
    assert first.code == 0, first.output
    assert tenant.service_principal_by_app_id(CLIENT_ID) is existing
    assert scenarios.enterprise_app_fields(existing) == kept
    assert existing.app_role_assignment_required is True
    (sp_change,) = [r for r in first.tenant("contoso")["resources"] if r["kind"] == "service principal"]
    assert "owners, notes, SSO settings, tags and enabled state stay as they are" in sp_change["description"]

    second = w.cli("apply", "tenants", "--yes", "--json")
    assert second.code == 0, second.output
    assert sum(second.tenant("contoso")["changes"].values()) == 0, second.output
    assert w.cli("drift", "tenants").code == 0
    assert scenarios.enterprise_app_fields(existing) == kept

    offboarded = w.cli("offboard", "tenants", "--yes", "--json")
    assert offboarded.code == 0, offboarded.output
    assert tenant.service_principals.get(existing.id) is existing, "never deleted"
    assert scenarios.enterprise_app_fields(existing) == kept
    assert existing.app_role_assignment_required is False, "put back as it was found"
    assert tenant.grants == {}
    sp_writes = [
        (r.method, r.json) for r in w.cloud.writes() if r.path == f"/servicePrincipals/{existing.id}" and r.json
    ]
    assert sp_writes == [
        ("PATCH", {"appRoleAssignmentRequired": True}),
        ("PATCH", {"appRoleAssignmentRequired": False}),
    ], "one property, set once and put back once"


def test_a_new_tenant_applies_in_one_run_under_replication_lag(world: WorldFactory) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    w = world([tenant], {"contoso": scenarios.CONTOSO_FILE})
    w.cloud.tenants[tenant.tenant_id].replication_lag(requests=8)

    applied = w.cli("apply", "tenants", "--yes", "--json")

    assert applied.code == 0, applied.output
    assert applied.tenant("contoso")["attempts"] == 2, "one preview, one update"
    hub = tenant.service_principal_by_app_id(CLIENT_ID)
    assert hub is not None and [g.client_id for g in tenant.grants.values()] == [hub.id]
    assert w.cli("plan", "tenants", "--detailed-exitcode").code == 0


LEGACY_PROGRAM = textwrap.dedent(
    '''
    """The program as it was before 0.2: TaxCalc-Hub's service principal as pulumi-azuread's resource."""
    import pulumi
    import pulumi_azuread as azuread

    from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
    from taxcalc_consent.infra.program.component import COMPONENT_TYPE
    from taxcalc_consent.infra.program.stack import COMPONENT_NAME, load_plan
    from taxcalc_consent.infra.program.provider import tenant_provider

    plan = load_plan(pulumi.Config("taxcalc-consent").require("tenantFile"))
    provider = tenant_provider(plan)


    class TenantConsent(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__(COMPONENT_TYPE, COMPONENT_NAME, None, None)
            sp = azuread.ServicePrincipal(
                "taxcalc-hub-sp",
                client_id=str(plan.app.client_id),
                use_existing=True,
                app_role_assignment_required=plan.service_principal.assignment_required,
                feature_tags=[azuread.ServicePrincipalFeatureTagArgs(enterprise=True)],
                opts=pulumi.ResourceOptions(parent=self, provider=provider, retain_on_delete=True),
            )
            graph = azuread.get_service_principal(
                client_id=GRAPH_APP_ID, opts=pulumi.InvokeOptions(provider=provider, parent=self)
            )
            azuread.ServicePrincipalDelegatedPermissionGrant(
                "graph-grant-all-principals",
                service_principal_object_id=sp.object_id,
                resource_service_principal_object_id=graph.object_id,
                claim_values=sorted(plan.scopes),
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            self.register_outputs({})


    TenantConsent()
    '''
)


def apply_as_before_0_2(w: World, tenant_name: str) -> None:
    """``pulumi up`` of the pre-0.2 program on the tenant's stack, in a project of its own beside the tool's."""
    project = w.root / "legacy"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: taxcalc-consent\nruntime: python\n",
        encoding="utf-8",
    )
    (project / "__main__.py").write_text(LEGACY_PROGRAM, encoding="utf-8")
    (project / f"Pulumi.{tenant_name}.yaml").write_text(
        f"config:\n  taxcalc-consent:tenantFile: {w.tenants_dir / (tenant_name + '.yaml')}\n", encoding="utf-8"
    )
    for args in (["stack", "init", tenant_name], ["up", "--yes", "--skip-preview", "-s", tenant_name]):
        done = subprocess.run(["pulumi", *args], cwd=project, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_stack_applied_before_0_2_moves_to_the_tools_resource_without_touching_the_tenant(
    world: WorldFactory,
) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    w = world([tenant], {"contoso": scenarios.CONTOSO_FILE})
    apply_as_before_0_2(w, "contoso")
    hub = tenant.service_principal_by_app_id(CLIENT_ID)
    assert hub is not None and len(tenant.grants) == 1
    writes = len(w.cloud.writes())

    plan = w.cli("plan", "tenants", "--json")
    assert plan.code == 0, plan.output
    changes = [(r["op"], r["kind"], r["description"]) for r in plan.tenant("contoso")["resources"]]
    assert [(op, kind) for op, kind, _ in changes] == [("create", "service principal"), ("delete", "service principal")]
    assert changes[1][2].startswith("stop managing TaxCalc-Hub's service principal through pulumi-azuread (it stays")

    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 0, applied.output
    assert len(w.cloud.writes()) == writes, "moving the stack wrote nothing to the tenant"
    assert tenant.service_principal_by_app_id(CLIENT_ID) is hub and len(tenant.grants) == 1
    assert w.cli("plan", "tenants", "--detailed-exitcode").code == 0
