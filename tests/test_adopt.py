"""`taxcalc-consent adopt` over real HTTP against the local Graph emulator, writing stack config files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from taxcalc_consent.cli.fleet import engine_setup
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph.adopt import read_adoption, write_adoption
from taxcalc_consent.infra.model.kinds import access_assignment, app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.infra.model.workspace import ROOT_ENV
from tests.conftest import CLIENT_ID
from tests.documents import parse_document
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import FakeTenant
from tests.fakes.graph_emulator import GraphEmulator, serve

EXISTING_STACK = """secretsprovider: passphrase
encryptionsalt: v1:c2FsdHNhbHQ=:v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB==
config:
  azuread:tenantId: 6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
  taxcalc-consent:tenantFile: tenants/contoso.yaml
  taxcalc-consent:webhookKey:
    secure: v1:AAAAAAAAAAAAAAAA:CCCCCCCCCCCCCCCCCCCCCCCCCCCC
"""


@pytest.fixture(autouse=True)
def graph_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "emulator-token")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Pulumi project like the repository's: Pulumi.yaml with stackConfigDir: stacks, and tenants/."""
    (tmp_path / "Pulumi.yaml").write_text(
        "name: taxcalc-consent\nruntime: python\nmain: infra/\nstackConfigDir: stacks\n", encoding="utf-8"
    )
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def contoso(project: Path) -> Iterator[tuple[GraphEmulator, FakeTenant]]:
    tenant = scenarios.contoso_hand_consented()
    scenarios.write_tenant_file(project / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        yield emulator, tenant


def run_adopt(emulator: GraphEmulator, *args: str) -> Result:
    return CliRunner().invoke(app, ["adopt", "tenants", *args, "--graph-endpoint", emulator.base_url])


def test_adopt_records_hand_granted_consent_and_keeps_the_rest_of_the_stack_config(
    contoso: tuple[GraphEmulator, FakeTenant], project: Path
) -> None:
    emulator, tenant = contoso
    stack = project / "stacks" / "Pulumi.contoso.yaml"
    stack.parent.mkdir()
    stack.write_text(EXISTING_STACK, encoding="utf-8")
    before = yaml.safe_load(EXISTING_STACK)

    result = run_adopt(emulator)
    assert result.exit_code == 0, result.output

    sp = tenant.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None
    tenant_wide = next(g for g in tenant.grants.values() if g.consent_type == "AllPrincipals")
    after = yaml.safe_load(stack.read_text(encoding="utf-8"))
    assert after["config"]["taxcalc-consent:adopt"] == {
        delegated_grant.ORGANIZATION_NAME: f"/oauth2PermissionGrants/{tenant_wide.id}",
        service_principal.NAME: f"/servicePrincipals/{sp.id}",
    }
    # Everything else survives untouched, secure values and salt included.
    for key in ("secretsprovider", "encryptionsalt"):
        assert after[key] == before[key]
    for key, value in before["config"].items():
        assert after["config"][key] == value
    # What it adopted, what apply will change, and what it left alone.
    assert f"adopted   {delegated_grant.ORGANIZATION_NAME}" in result.stderr
    assert "update grant for every user (AllPrincipals): remove Mail.ReadWrite" in result.stderr
    assert "grant for carol@contoso.co.uk (User.Read openid profile) is not in the file" in result.stderr
    assert emulator.writes() == []


def test_adopt_is_idempotent(contoso: tuple[GraphEmulator, FakeTenant], project: Path) -> None:
    emulator, _ = contoso
    first = run_adopt(emulator)
    assert first.exit_code == 0, first.output
    assert "updated stacks" in first.stderr or "updated " in first.stderr
    stack = project / "stacks" / "Pulumi.contoso.yaml"
    written = stack.read_bytes()
    mtime = stack.stat().st_mtime_ns

    second = run_adopt(emulator, "--json")
    assert second.exit_code == 0
    assert "already up to date: nothing changed" in second.stderr
    assert parse_document(second.stdout)["tenants"][0]["changed"] is False
    assert stack.read_bytes() == written
    assert stack.stat().st_mtime_ns == mtime


def test_adopt_per_user_grants_and_assignments_by_object_id(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    scenarios.write_tenant_file(project / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        result = run_adopt(emulator, "--json")
    assert result.exit_code == 0, result.output
    report = parse_document(result.stdout)
    assert report["format"] == "taxcalc-consent/adopt@1"
    (entry,) = report["tenants"]

    sp = tenant.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None
    users = {u.user_principal_name: u for u in tenant.users.values()}
    grant_of = {g.principal_id: g for g in tenant.grants.values()}
    group = tenant.group("TaxCalc Mailboxes")
    assigned = {a.principal_id: a for a in tenant.app_role_assignments.values()}
    alice, erin, shared = users["alice.smith@fabrikam.com"], users["erin@fabrikam.com"], users["mailbox@fabrikam.com"]
    expected = {
        service_principal.NAME: f"/servicePrincipals/{sp.id}",
        delegated_grant.user_name(alice.id): f"/oauth2PermissionGrants/{grant_of[alice.id].id}",
        delegated_grant.user_name(erin.id): f"/oauth2PermissionGrants/{grant_of[erin.id].id}",  # through the group
        delegated_grant.user_name(shared.id): f"/oauth2PermissionGrants/{grant_of[shared.id].id}",
        access_assignment.name(
            "User", alice.id
        ): f"/servicePrincipals/{sp.id}/appRoleAssignedTo/{assigned[alice.id].id}",
        access_assignment.name(
            "Group", group.id
        ): f"/servicePrincipals/{sp.id}/appRoleAssignedTo/{assigned[group.id].id}",
    }
    assert {a["name"]: a["import_id"] for a in entry["adopted"]} == expected
    stack = project / "stacks" / "Pulumi.fabrikam.yaml"
    assert read_adoption(stack, "taxcalc-consent:adopt") == expected
    changes = entry["apply_changes"]
    assert "update grant for alice.smith@fabrikam.com: add Mail.Send email offline_access" in changes
    assert any(c.startswith("create grant for bob.jones@fabrikam.com") for c in changes)
    assert "assign user bob.jones@fabrikam.com to TaxCalc-Hub" in changes
    left = " ".join(entry["not_adopted"])
    assert "dave@fabrikam.com" in left  # consented outside the file: reported, never adopted
    assert delegated_grant.user_name(users["dave@fabrikam.com"].id) not in expected


def test_application_permissions_are_imported_by_resource_and_assignment_id(project: Path) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    sp = scenarios.add_taxcalc_hub(tenant)
    tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, scenarios.PROFILE_SCOPE)
    role = tenant.create_app_role_assignment(sp.id, tenant.graph.id, tenant.graph.app_roles["User.Read.All"])
    text = scenarios.CONTOSO_FILE.replace("mode: organization", "mode: organization\n  app_roles: [User.Read.All]")
    scenarios.write_tenant_file(project / "tenants", "contoso", text)
    with serve(tenant) as emulator:
        result = run_adopt(emulator)
    assert result.exit_code == 0, result.output
    adopted = read_adoption(project / "stacks" / "Pulumi.contoso.yaml", "taxcalc-consent:adopt")
    assert (
        adopted[app_role_assignment.name("User.Read.All")]
        == f"/servicePrincipals/{tenant.graph.id}/appRoleAssignedTo/{role.id}"
    )


def test_adopting_a_disabled_service_principal_says_apply_leaves_it_disabled(project: Path) -> None:
    """The tool's service principal resource changes only assignment-required, so a disabled app stays disabled;
    adopt says so, and that it is why nobody can connect a mailbox, before anyone applies."""
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    sp = scenarios.add_taxcalc_hub(tenant)
    sp.account_enabled = False
    tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, scenarios.PROFILE_SCOPE)
    scenarios.write_tenant_file(project / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        result = run_adopt(emulator, "--json")
    assert result.exit_code == 0, result.output
    (adopted,) = parse_document(result.stdout)["tenants"]
    assert not any("enable" in change for change in adopted["apply_changes"])
    assert any(left.startswith("the service principal is disabled") for left in adopted["not_adopted"])
    assert "apply leaves it as it is" in result.stderr
    sp_entry = next(a for a in adopted["adopted"] if a["name"] == "taxcalc-hub-sp")
    assert "the tool changes only whether it requires assignment" in sp_entry["what"]


def test_missing_service_principal_adopts_nothing_and_writes_nothing(project: Path) -> None:
    scenarios.write_tenant_file(project / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(FakeTenant(scenarios.CONTOSO_ID)) as emulator:
        result = run_adopt(emulator)
    assert result.exit_code == 0, result.output
    assert "create the service principal of TaxCalc-Hub" in result.stderr
    assert "nothing to adopt" in result.stderr
    assert not (project / "stacks").exists()


@pytest.mark.parametrize("layout", ["pulumi-project", "tenant-files-only"])
def test_adopt_writes_the_stack_settings_apply_reads(
    contoso: tuple[GraphEmulator, FakeTenant],
    project: Path,
    layout: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """This repository (its own Pulumi.yaml) or an MSP's repository holding only tenants/: either way adopt
    writes R/stacks/Pulumi.<tenant>.yaml, R being $TAXCALC_CONSENT_ROOT, and the fleet commands use that file."""
    emulator, _ = contoso
    if layout == "tenant-files-only":
        (project / "Pulumi.yaml").unlink()
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    monkeypatch.setenv(ROOT_ENV, str(project))
    result = CliRunner().invoke(
        app, ["adopt", str(project / "tenants"), "--graph-endpoint", emulator.base_url, "--json"]
    )
    assert result.exit_code == 0, result.output
    written = project / "stacks" / "Pulumi.contoso.yaml"
    assert read_adoption(written, "taxcalc-consent:adopt")
    assert parse_document(result.stdout)["tenants"][0]["stack_config"] == str(written)
    settings = engine_setup.resolve_settings(None, {ROOT_ENV: str(project), "PULUMI_CONFIG_PASSPHRASE": "p"})
    assert settings.workspace.stack_settings_file("contoso") == written
    assert settings.project_dir == (project if layout == "pulumi-project" else project / "stacks")
    assert not (project / "stacks" / "Pulumi.yaml").exists()  # the project is written when the engine first runs


def test_graph_failure_leaves_the_stack_config_alone(contoso: tuple[GraphEmulator, FakeTenant], project: Path) -> None:
    emulator, _ = contoso
    emulator.throttle("/servicePrincipals", times=100, retry_after=0)
    result = run_adopt(emulator)
    assert result.exit_code == 1
    assert "TooManyRequests" in result.stderr
    assert not (project / "stacks").exists()


def test_write_adoption_removes_the_key_when_nothing_is_left(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.t.yaml"
    stack.write_text(EXISTING_STACK, encoding="utf-8")
    assert write_adoption(stack, "taxcalc-consent:adopt", {"taxcalc-hub-sp": "x"}) is True
    assert write_adoption(stack, "taxcalc-consent:adopt", {}) is True
    assert yaml.safe_load(stack.read_text(encoding="utf-8")) == yaml.safe_load(EXISTING_STACK)
    assert write_adoption(stack, "taxcalc-consent:adopt", {}) is False
    assert list(tmp_path.iterdir()) == [stack]  # no temporary file left behind


def test_a_user_or_group_the_tenant_lacks_fails_adopt_naming_the_tenants_near_name(project: Path) -> None:
    """Before, adopt exited 0 and the only sign was one line among many; apply then failed on the name. Now adopt
    exits 1, and the tenant's own spelling is offered (read with startswith, one page: never the directory)."""
    tenant = scenarios.fabrikam_partly_consented()
    text = scenarios.FABRIKAM_FILE.replace("bob.jones@fabrikam.com", "bob.jone@fabrikam.com").replace(
        "TaxCalc Mailboxes", "TaxCalc Mailbox"
    )
    scenarios.write_tenant_file(project / "tenants", "fabrikam", text)
    with serve(tenant) as emulator:
        result = run_adopt(emulator, "--json")
    assert result.exit_code == 1, result.output
    (adopted,) = parse_document(result.stdout)["tenants"]
    missing = adopted["missing"]
    assert any(
        m.startswith("bob.jone@fabrikam.com:") and "did you mean 'bob.jones@fabrikam.com'?" in m for m in missing
    )
    assert any(m.startswith("TaxCalc Mailbox:") and "did you mean 'TaxCalc Mailboxes'?" in m for m in missing)
    assert "name users or groups their tenant does not have" in result.stderr
    assert "missing   TaxCalc Mailbox:" in result.stderr


def test_adopt_says_where_it_writes_and_warns_when_run_inside_the_tenants_folder(project: Path) -> None:
    """Run inside tenants/, adopt wrote tenants/stacks/..., which apply from the root never reads, silently."""
    tenant = scenarios.contoso_hand_consented()
    scenarios.write_tenant_file(project / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        from_root = run_adopt(emulator)
        os.chdir(project / "tenants")
        inside = CliRunner().invoke(app, ["adopt", ".", "--graph-endpoint", emulator.base_url])
    assert from_root.exit_code == 0
    assert f"workspace root: {project.resolve()}" in from_root.stderr and "warning" not in from_root.stderr
    assert f"workspace root: {(project / 'tenants').resolve()}" in inside.stderr
    assert "is itself a tenants folder" in inside.stderr and "set $TAXCALC_CONSENT_ROOT" in inside.stderr
