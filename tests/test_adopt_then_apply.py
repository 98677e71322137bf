"""`adopt` and the Pulumi program agree: what adopt records over Graph, the program imports without colliding.

One FakeTenant is served over real HTTP to `adopt` (the Graph emulator) and then answers the program's
engine calls (Pulumi's mock runtime). Either half could pass its own tests with a name or an import id
format the other does not expect; this test fails if they drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph.adopt import read_adoption
from taxcalc_consent.infra.model.kinds import delegated_grant
from taxcalc_consent.infra.program.stack import load_plan
from tests.conftest import CLIENT_ID
from tests.fakes import consent_tenants as scenarios
from tests.fakes.graph_emulator import serve
from tests.fakes.pulumi_mocks import deploy_file

ADOPT_KEY = "taxcalc-consent:adopt"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: taxcalc-consent\nruntime: python\nmain: infra/\nstackConfigDir: stacks\n", encoding="utf-8"
    )
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "emulator-token")
    return tmp_path


def adopt_then_deploy(project: Path, name: str, tenant_text: str, tenant: scenarios.FakeTenant) -> dict[str, str]:
    tenant_file = scenarios.write_tenant_file(project / "tenants", name, tenant_text)
    with serve(tenant) as emulator:
        result = CliRunner().invoke(app, ["adopt", "tenants", "--graph-endpoint", emulator.base_url])
        assert result.exit_code == 0, result.output
        assert emulator.writes() == []
    adopted = read_adoption(project / "stacks" / f"Pulumi.{name}.yaml", ADOPT_KEY)
    assert adopted, "adopt recorded nothing"
    deploy_file(tenant, tenant_file, adopt=adopted)
    return adopted


def test_hand_granted_tenant_wide_consent_is_adopted_and_brought_to_the_file(project: Path) -> None:
    tenant = scenarios.contoso_hand_consented()
    by_hand = next(g for g in tenant.grants.values() if g.consent_type == "AllPrincipals")
    carol_grant = next(g for g in tenant.grants.values() if g.consent_type == "Principal")

    adopted = adopt_then_deploy(project, "contoso", scenarios.CONTOSO_FILE, tenant)

    assert delegated_grant.ORGANIZATION_NAME in adopted
    # No second AllPrincipals grant ("Permission entry already exists" would have failed the run):
    tenant_wide = [g for g in tenant.grants.values() if g.consent_type == "AllPrincipals"]
    assert [g.id for g in tenant_wide] == [by_hand.id]
    # The extra scope ticked by hand is gone; the file's scopes are what the grant carries now.
    plan = load_plan(str(project / "tenants" / "contoso.yaml"), root=project)
    assert sorted(by_hand.scopes) == list(plan.scopes)
    # Consent the file does not list (Carol's own) is reported by adopt, never adopted or touched.
    assert carol_grant.id in tenant.grants and carol_grant.scope == "openid profile User.Read"


def test_hand_granted_per_user_consent_is_adopted_by_object_id(project: Path) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    alice = tenant.user("alice.smith@fabrikam.com")
    alice_grant = next(g for g in tenant.grants.values() if g.principal_id == alice.id)
    before = {g.principal_id for g in tenant.grants.values()}

    adopted = adopt_then_deploy(project, "fabrikam", scenarios.FABRIKAM_FILE, tenant)

    assert delegated_grant.user_name(alice.id) in adopted
    per_user = [g for g in tenant.grants.values() if g.consent_type == "Principal"]
    # Exactly one grant per user: adopted ones kept their ids, only Bob's is new.
    assert len({g.principal_id for g in per_user}) == len(per_user)
    bob = tenant.user("bob.jones@fabrikam.com")
    assert {g.principal_id for g in per_user} == before | {bob.id}
    # Alice consented by hand with too few scopes; adopted, her grant now carries the file's.
    assert set(tenant.grants[alice_grant.id].scopes) == set(scenarios.PROFILE_SCOPE.split())
