"""connect: the MSP's automation identity put into client tenants through an engineer's GDAP sign-in, with exactly
the Microsoft Graph application permissions each file needs; narrowed, idempotent, removable; direct customers get
their admin-consent URL. Over the emulated cloud, the engineer signed in with the stand-in ``az``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from tests.conftest import CLIENT_ID
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, EmulatedCloud
from tests.fakes.gdap import StandardMsp, standard_msp
from tests.fakes.gdap_cloud import engineer_signed_in

runner = CliRunner()


@pytest.fixture
def msp() -> StandardMsp:
    return standard_msp()


@pytest.fixture
def cloud(msp: StandardMsp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EmulatedCloud]:
    with engineer_signed_in(
        msp, monkeypatch, tmp_path, unconnected=[t.tenant_id for t in msp.clients.values()]
    ) as running:
        yield running


@pytest.fixture
def folder(tmp_path: Path, msp: StandardMsp) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: oidc\n  client_id: {AUTOMATION_APP_ID}\n", encoding="utf-8"
    )
    for index, name in ((0, "contoso"), (1, "fabrikam")):
        write(folder, name, msp.clients[name].tenant_id, msp.partner.relationships[index].id)
    return folder


def write(
    folder: Path, name: str, tenant_id: str, relationship: str | None, consent: str = "mode: organization"
) -> None:
    related = f"  relationship:\n    id: {relationship}\n" if relationship else ""
    (folder / f"{name}.yaml").write_text(
        f"tenant:\n  id: {tenant_id}\n{related}consent:\n  {consent}\n", encoding="utf-8"
    )


def connect(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["connect", *args])
    return result.exit_code, " ".join(result.stderr.split())


def held(cloud: EmulatedCloud, tenant_id: str) -> list[str] | None:
    tenant = cloud.tenant(tenant_id)
    sp = tenant.service_principal_by_app_id(AUTOMATION_APP_ID)
    return None if sp is None else tenant.roles_of(sp.id)


def test_connect_previews_then_grants_exactly_what_each_file_needs(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    contoso, fabrikam = msp.clients["contoso"].tenant_id, msp.clients["fabrikam"].tenant_id
    code, said = connect(str(folder / "contoso.yaml"))
    assert code == 3, said
    assert "+ create the automation identity's service principal" in said
    assert "+ grant the Microsoft Graph application permission DelegatedPermissionGrant.ReadWrite.All" in said
    assert held(cloud, contoso) is None and cloud.writes() == []
    code, said = connect(str(folder / "contoso.yaml"), "--yes")
    assert code == 0, said
    assert held(cloud, contoso) == ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"]
    again, said = connect(str(folder / "contoso.yaml"), "--yes")
    assert again == 0 and "nothing to change" in said
    # Fabrikam's relationship lacks Privileged Role Administrator: refused before anything is written.
    code, said = connect(str(folder / "fabrikam.yaml"), "--yes")
    assert code == 1
    assert "lacks Privileged Role Administrator" in said and msp.partner.relationships[1].id in said
    assert held(cloud, fabrikam) is None and not cloud.writes(fabrikam)


def test_connect_narrows_when_a_file_needs_less_and_remove_leaves_nothing(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    contoso = msp.clients["contoso"].tenant_id
    relationship = msp.partner.relationships[0].id
    write(folder, "contoso", contoso, relationship, "mode: users\n  users: [mailbox@contoso.onmicrosoft.com]")
    assert connect(str(folder / "contoso.yaml"), "--yes")[0] == 0
    assert "User.Read.All" in (held(cloud, contoso) or [])
    write(folder, "contoso", contoso, relationship)
    code, said = connect(str(folder / "contoso.yaml"), "--yes")
    assert code == 0 and "- revoke the Microsoft Graph application permission User.Read.All" in said
    assert held(cloud, contoso) == ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"]
    code, said = connect(str(folder / "contoso.yaml"), "--remove", "--yes")
    assert code == 0 and "removed" in said
    tenant = cloud.tenant(contoso)
    assert tenant.service_principal_by_app_id(AUTOMATION_APP_ID) is None
    assert not [a for a in tenant.app_role_assignments.values() if a.resource_id == tenant.graph.id]


def test_a_direct_customer_gets_its_admin_consent_url_and_nothing_is_written(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    write(folder, "direct", msp.clients["soonco"].tenant_id, None)
    code, said = connect(str(folder / "direct.yaml"))
    assert code == 0, said
    url = f"{cloud.base_url}/{msp.clients['soonco'].tenant_id}/adminconsent?client_id={AUTOMATION_APP_ID}"
    assert url in said
    assert "needs exactly: Application.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All" in said
    assert cloud.writes() == []


def test_audit_reports_the_automation_identity(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contoso = msp.clients["contoso"].tenant_id
    assert connect(str(folder / "contoso.yaml"), "--yes")[0] == 0
    # audit reads as the automation identity, which needs read permissions connect does not grant (docs/ci.md).
    connected = ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"]
    cloud.grant_only(contoso, *connected, "Directory.Read.All", "Policy.Read.All")
    monkeypatch.setenv("ARM_CLIENT_SECRET", cloud.automation.client_secret)
    result = runner.invoke(app, ["audit", "--json", str(folder / "contoso.yaml")])
    assert result.exit_code in (0, 3), result.stderr
    reported = json.loads(result.stdout)["tenants"][0]["automation_identity"]
    assert reported == {
        "client_id": AUTOMATION_APP_ID,
        "present": True,
        "application_permissions": sorted([*connected, "Directory.Read.All", "Policy.Read.All"]),
        "needed": connected,
        "missing": [],
        "beyond_needed": ["Directory.Read.All", "Policy.Read.All"],
    }
    code, said = connect(str(folder / "contoso.yaml"), "--yes")
    assert code == 0 and "- revoke the Microsoft Graph application permission Directory.Read.All" in said


def test_a_near_miss_file_in_the_folder_is_named_not_silently_skipped(cloud: EmulatedCloud, folder: Path) -> None:
    """connect loads its files as every command does and says what it did not read (pipeline.load_plans' notify,
    required of every caller: connect once dropped these notices)."""
    (folder / "contoso.yaml.bak").write_text("tenant:\n  id: not-read\n", encoding="utf-8")
    _, said = connect(str(folder))
    assert "contoso.yaml.bak:1:1: warning: not read: named like a copy of a tenant file" in said
