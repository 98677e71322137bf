"""discover: the MSP's clients from its GDAP relationships, as tenant files, over the emulated cloud.

The MSP's automation app signs in at its own tenant with a client secret (the folder's _defaults.yaml says so),
holding the two partner permissions there; nothing is handed a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import client as graph
from tests.conftest import CLIENT_ID
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, AUTOMATION_NAME, EmulatedCloud, serve_cloud
from tests.fakes.gdap import MSP_TENANT_ID, PARTNER_PERMISSIONS, StandardMsp, standard_msp

runner = CliRunner()


@pytest.fixture
def msp() -> StandardMsp:
    return standard_msp()


@pytest.fixture
def cloud(msp: StandardMsp, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCloud]:
    msp.partner.tenant.add_automation_identity(AUTOMATION_APP_ID, AUTOMATION_NAME, list(PARTNER_PERMISSIONS))
    tenants = [msp.partner.tenant, *msp.clients.values()]
    with serve_cloud(tenants, partner=msp.partner, unconnected=[t.tenant_id for t in msp.clients.values()]) as running:
        for name, value in running.certificates.trust_environment().items():
            monkeypatch.setenv(name, value)
        for name in ("ARM_ENVIRONMENT", graph.TOKEN_ENV, graph.GRAPH_ENDPOINT_ENV, "TAXCALC_CONSENT_PARTNER_TENANT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ARM_METADATA_HOSTNAME", running.metadata_host)
        monkeypatch.setenv("ARM_CLIENT_ID", running.automation.client_id)
        monkeypatch.setenv("ARM_CLIENT_SECRET", running.automation.client_secret)
        yield running


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: client-secret\n", encoding="utf-8"
    )
    return tenants


def discover(folder: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["discover", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID, *extra])
    return result.exit_code, " ".join(result.stderr.split())


def tenant_section(path: Path) -> dict[str, object]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["tenant"])


def test_three_files_for_the_usable_relationships_and_the_others_said(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    code, said = discover(folder)
    assert code == 0, said
    written = sorted(p.name for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    assert written == ["contoso.yaml", "fabrikam.co.uk.yaml", "soonco.yaml"]
    contoso = tenant_section(folder / "contoso.yaml")
    relationship = msp.partner.relationships[0]
    assert contoso["id"] == msp.clients["contoso"].tenant_id
    assert contoso["name"] == "Contoso Ltd" and contoso["domain"] == "contoso.onmicrosoft.com"
    assert contoso["relationship"] == {"id": relationship.id, "ends": relationship.end.date()}  # type: ignore[union-attr]
    assert "Old Co" in said and "relationship expired" in said
    assert "Gone Co" in said and "relationship terminated" in said
    assert "warning: Soon Co" in said and "does not extend itself" in said
    assert "wrote 3 tenant file(s)" in said
    validated = runner.invoke(app, ["validate", str(folder)])
    assert validated.exit_code == 0, validated.stderr


def test_a_second_run_writes_nothing_and_a_client_already_in_the_folder_is_kept(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    mine = folder / "fab.yaml"
    mine.write_text(
        f"tenant:\n  id: {msp.clients['fabrikam'].tenant_id}\nconsent:\n  mode: organization\n", encoding="utf-8"
    )
    before = mine.read_bytes()
    code, said = discover(folder)
    assert code == 0, said
    assert f"already in {mine}" in said
    assert not (folder / "fabrikam.co.uk.yaml").exists() and mine.read_bytes() == before
    again_code, again = discover(folder)
    assert again_code == 0 and "wrote 0 tenant file(s)" in again


def test_dry_run_writes_nothing(cloud: EmulatedCloud, folder: Path) -> None:
    code, said = discover(folder, "--dry-run")
    assert code == 0, said
    assert "would write" in said and "would write 3 tenant file(s)" in said
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]
    assert cloud.writes() == []


def test_without_the_partner_permission_it_fails_naming_it(cloud: EmulatedCloud, folder: Path) -> None:
    cloud.grant_only(MSP_TENANT_ID, "CrossTenantInformation.ReadBasic.All")
    code, said = discover(folder)
    assert code == 1
    assert "DelegatedAdminRelationship.Read.All" in said and "403" in said
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]


def test_the_partner_tenant_must_be_named(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(graph.TOKEN_ENV, raising=False)
    monkeypatch.delenv("TAXCALC_CONSENT_PARTNER_TENANT", raising=False)
    result = runner.invoke(app, ["discover", "--dir", str(folder)])
    assert result.exit_code == 2
    assert "--partner-tenant GUID" in result.stderr
    bad = runner.invoke(app, ["discover", "--dir", str(folder), "--partner-tenant", "not-a-guid"])
    assert bad.exit_code == 2 and "--partner-tenant 'not-a-guid'" in bad.stderr


# ----------------------------------------------------------------------- init --domain, init --from


def test_init_domain_fills_the_tenant_id_and_name_from_graph(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    result = runner.invoke(
        app, ["init", "--domain", "Contoso.com", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID]
    )
    assert result.exit_code == 0, result.stderr
    written = tenant_section(folder / "contoso.com.yaml")
    assert written == {"id": msp.clients["contoso"].tenant_id, "name": "Contoso Ltd", "domain": "contoso.com"}
    unknown = runner.invoke(
        app, ["init", "x", "--domain", "nobody.example", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID]
    )
    assert unknown.exit_code == 2 and "knows no tenant" in unknown.stderr
    assert not (folder / "x.yaml").exists()


def test_init_from_a_client_list(cloud: EmulatedCloud, msp: StandardMsp, folder: Path, tmp_path: Path) -> None:
    listing = tmp_path / "clients.csv"
    listing.write_text(
        f"name,domain,tenant_id\ncontoso,contoso.com,\nfabrikam,,{msp.clients['fabrikam'].tenant_id}\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["init", "--from", str(listing), "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID]
    )
    assert result.exit_code == 0, result.stderr
    assert tenant_section(folder / "contoso.yaml")["id"] == msp.clients["contoso"].tenant_id
    assert tenant_section(folder / "fabrikam.yaml") == {"id": msp.clients["fabrikam"].tenant_id}
    again = runner.invoke(
        app, ["init", "--from", str(listing), "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID]
    )
    assert again.exit_code == 0 and "already exists" in again.stderr


def test_a_client_list_with_mistakes_is_refused_located_and_nothing_written(folder: Path, tmp_path: Path) -> None:
    listing = tmp_path / "clients.csv"
    listing.write_text("name,domain,tenant_id\nbad name!,contoso.com,\nok,,not-a-guid\nok2,,\n", encoding="utf-8")
    result = runner.invoke(app, ["init", "--from", str(listing), "--dir", str(folder)])
    assert result.exit_code == 2
    said = result.stderr
    assert f"{listing}:2:1: name:" in said
    assert f"{listing}:3:3: tenant_id:" in said
    assert f"{listing}:4:2: domain: expected a domain or a tenant_id" in said
    assert "Traceback" not in said
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]
