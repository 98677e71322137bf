"""Before any engine launch under an engineer's GDAP sign-in, each tenant's access is checked against what its file
asks (the role table): the engineer signs in with the stand-in ``az``, at the emulated cloud, and the cloud gives
their tokens the roles the MSP's relationships give (tests/fakes/gdap.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from taxcalc_consent.cli.fleet.gdap_access import check_access
from taxcalc_consent.cli.fleet.pipeline import load_plans
from tests.conftest import CLIENT_ID, no_notices
from tests.fakes.entra_cloud import EmulatedCloud
from tests.fakes.gdap import StandardMsp, standard_msp
from tests.fakes.gdap_cloud import engineer_signed_in


@pytest.fixture
def msp() -> StandardMsp:
    return standard_msp()


@pytest.fixture
def cloud(msp: StandardMsp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EmulatedCloud]:
    with engineer_signed_in(msp, monkeypatch, tmp_path) as running:
        yield running


def tenant_file(
    folder: Path, name: str, tenant_id: str, relationship: str | None, ends: date | None, extra: str = ""
) -> None:
    lines = [f"tenant:\n  id: {tenant_id}\n"]
    if relationship:
        lines.append(f"  relationship:\n    id: {relationship}\n")
        if ends:
            lines.append(f"    ends: {ends.isoformat()}\n")
    lines.append("consent:\n  mode: organization\n" + extra)
    (folder / f"{name}.yaml").write_text("".join(lines), encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, msp: StandardMsp) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: cli\n", encoding="utf-8")
    app_role = "  app_roles: [User.ReadBasic.All]\n"
    for index, name in enumerate(("contoso", "fabrikam", "oldco", "goneco", "soonco")):
        relationship = msp.partner.relationships[index]
        ends = relationship.end.date() if relationship.end else None
        tenant_file(folder, name, msp.clients[name].tenant_id, relationship.id, ends, app_role if index < 2 else "")
    return folder


def refusals(folder: Path) -> dict[str, str]:
    plans = load_plans([folder], notify=no_notices)
    return {r.tenant: " ".join(r.reason.split()) for r in check_access(plans, os.environ, date.today())}


def test_a_relationship_without_privileged_role_administrator_refuses_graph_app_roles(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    found = refusals(folder)
    assert set(found) == {"fabrikam", "oldco", "goneco"}, found
    fabrikam = found["fabrikam"]
    assert "lacks Privileged Role Administrator (to grant Microsoft Graph application permissions" in fabrikam
    assert f"GDAP relationship {msp.partner.relationships[1].id}" in fabrikam
    assert "ended" in found["oldco"] and "ended" in found["goneco"]
    assert cloud.writes() == [], "the check only asks for tokens"


def test_a_relationship_that_ended_after_discover_wrote_its_file_gives_no_token(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    """The file says the relationship runs another year; Entra says otherwise (it was terminated since)."""
    contoso = msp.partner.relationships[0]
    contoso.status = "terminated"
    tenant_file(folder, "contoso", msp.clients["contoso"].tenant_id, contoso.id, date.today() + timedelta(days=365))
    found = refusals(folder)
    assert "the Azure CLI gives no token for this tenant" in found["contoso"]
    assert "AADSTS50020" in found["contoso"]


def test_other_sign_ins_are_not_checked(cloud: EmulatedCloud, folder: Path) -> None:
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: oidc\n", encoding="utf-8")
    assert refusals(folder) == {}
