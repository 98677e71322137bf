"""discover: the MSP's clients from its GDAP relationships, as tenant files, over the emulated cloud.

The MSP's automation app signs in at its own tenant with a client secret (the folder's _defaults.yaml says so),
holding the two partner permissions there; nothing is handed a token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import client as graph
from tests.conftest import CLIENT_ID
from tests.documents import parse_document
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, AUTOMATION_NAME, EmulatedCloud, serve_cloud
from tests.fakes.gdap import (
    APP_ADMINS,
    CLOUD_APPLICATION_ADMINISTRATOR,
    MSP_TENANT_ID,
    PARTNER_PERMISSIONS,
    StandardMsp,
    add_relationship,
    standard_msp,
)

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


def test_a_near_miss_file_in_the_folder_is_named_not_silently_skipped(cloud: EmulatedCloud, folder: Path) -> None:
    """discover reads the folder's tenant files (to leave clients already there alone) as every command does,
    and says what it did not read (pipeline.load_plans' notify, required of every caller)."""
    (folder / "local.yaml").write_text(
        "tenant:\n  id: 0f8fad5b-d9cb-469f-a165-70867728950e\nconsent:\n  mode: organization\n", encoding="utf-8"
    )
    (folder / "contoso.yaml.bak").write_text("tenant:\n  id: not-read\n", encoding="utf-8")
    code, said = discover(folder, "--dry-run")
    assert code == 0, said
    assert "contoso.yaml.bak:1:1: warning: not read: named like a copy of a tenant file" in said


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


# ------------------------------------------------------------------------------- discover --json


def discover_json(folder: Path, *extra: str) -> tuple[int, Any, str]:
    """Exit code, the document on stdout (which must be that document alone, valid against discover@1's schema),
    and what was said on stderr."""
    result = runner.invoke(app, ["discover", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID, "--json", *extra])
    return result.exit_code, parse_document(result.stdout), " ".join(result.stderr.split())


def summary(**counts: int) -> dict[str, int]:
    zero = ("written", "would_write", "exists", "no_access", "other_relationship", "unknown_tenant", "policy")
    return {"relationships": 5, **dict.fromkeys(zero, 0), "failed": 0, "warnings": 0, **counts}


def test_json_says_each_relationship_what_discover_did_and_why(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    code, document, said = discover_json(folder)
    assert code == 0, said
    assert document["format"] == "taxcalc-consent/discover@1"
    assert document["partner_tenant"] == MSP_TENANT_ID and document["folder"] == str(folder)
    assert document["dry_run"] is False and document["error"] is None
    assert document["summary"] == summary(written=3, no_access=2, warnings=1)
    entries = document["relationships"]
    # The relationship as Graph lists it, for every entry.
    for relationship, entry in zip(msp.partner.relationships, entries, strict=True):
        assert entry["tenant_id"] == relationship.customer_tenant_id
        assert entry["name"] == relationship.customer_name
        assert entry["relationship_id"] == relationship.id
        assert entry["display_name"] == relationship.display_name
        assert entry["status"] == relationship.status
        assert entry["end_date_time"].endswith("Z")
        assert datetime.fromisoformat(entry["end_date_time"]) == relationship.end
        assert entry["auto_extend_duration"] == relationship.auto_extend
    contoso, fabrikam, oldco, goneco, soonco = entries
    oldco_end, goneco_end, soonco_end = (msp.partner.relationships[i].end for i in (2, 3, 4))
    assert oldco_end is not None and goneco_end is not None and soonco_end is not None
    assert contoso | {"end_date_time": None} == {
        "tenant_id": msp.clients["contoso"].tenant_id,
        "name": "Contoso Ltd",
        "domain": "contoso.onmicrosoft.com",
        "relationship_id": msp.partner.relationships[0].id,
        "display_name": "Contoso apps",
        "status": "active",
        "end_date_time": None,
        "auto_extend_duration": "P180D",
        "extends_itself": True,
        "usable": True,
        "action": "written",
        "file": str(folder / "contoso.yaml"),
        "reason": None,
        "warning": None,
    }
    assert (fabrikam["action"], fabrikam["file"], fabrikam["domain"]) == (
        "written",
        str(folder / "fabrikam.co.uk.yaml"),
        "fabrikam.co.uk",
    )
    assert fabrikam["extends_itself"] is False and fabrikam["usable"] is True
    assert fabrikam["reason"] is None and fabrikam["warning"] is None
    for entry, status, end in ((oldco, "expired", oldco_end), (goneco, "terminated", goneco_end)):
        assert (entry["action"], entry["usable"], entry["file"], entry["domain"]) == ("no-access", False, None, None)
        assert entry["reason"] == f"relationship {status} (ended {end.date().isoformat()}): it gives no access"
        assert entry["warning"] is None
    assert (soonco["action"], soonco["file"], soonco["usable"], soonco["reason"]) == (
        "written",
        str(folder / "soonco.yaml"),
        True,
        None,
    )
    assert soonco["warning"].startswith(f"relationship ends {soonco_end.date().isoformat()} (in ")
    assert "does not extend itself: renew it" in soonco["warning"]
    # What the document says was written is what is on disk; people's lines still go to stderr.
    on_disk = sorted(str(p) for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    assert on_disk == sorted(e["file"] for e in entries if e["action"] == "written")
    assert "wrote 3 tenant file(s)" in said and "warning: Soon Co" in said
    assert cloud.automation.client_secret not in json.dumps(document) + said


def test_json_dry_run_says_what_would_be_written(cloud: EmulatedCloud, msp: StandardMsp, folder: Path) -> None:
    code, document, said = discover_json(folder, "--dry-run")
    assert code == 0, said
    assert document["dry_run"] is True
    assert document["summary"] == summary(would_write=3, no_access=2, warnings=1)
    actions = [(e["action"], e["file"]) for e in document["relationships"]]
    assert actions == [
        ("would-write", str(folder / "contoso.yaml")),
        ("would-write", str(folder / "fabrikam.co.uk.yaml")),
        ("no-access", None),
        ("no-access", None),
        ("would-write", str(folder / "soonco.yaml")),
    ]
    assert document["relationships"][4]["warning"] is not None
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]
    assert "would write 3 tenant file(s)" in said


def test_json_names_the_file_a_client_is_already_in_and_the_relationship_discover_passed_over(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path, tmp_path: Path
) -> None:
    mine = folder / "fab.yaml"
    mine.write_text(
        f"tenant:\n  id: {msp.clients['fabrikam'].tenant_id}\nconsent:\n  mode: organization\n", encoding="utf-8"
    )
    older = add_relationship(
        msp.partner,
        msp.clients["contoso"],
        status="active",
        end=datetime.now(UTC) + timedelta(days=100),
        assignments={APP_ADMINS: (CLOUD_APPLICATION_ADMINISTRATOR,)},
        display_name="Contoso first",
    )
    del msp.partner.directory[msp.clients["soonco"].tenant_id.lower()]  # Graph no longer knows the tenant
    report = tmp_path / "discover.json"
    result = runner.invoke(
        app,
        ["discover", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID, "--json", "--out", str(report)],
    )
    assert result.exit_code == 0, result.stderr
    document = parse_document(result.stdout)
    assert report.read_text("utf-8") == result.stdout
    by_id = {e["relationship_id"]: e for e in document["relationships"]}
    fabrikam = by_id[msp.partner.relationships[1].id]
    assert (fabrikam["action"], fabrikam["file"], fabrikam["reason"], fabrikam["domain"]) == (
        "exists",
        str(mine),
        None,
        None,
    )
    passed_over = by_id[older.id]
    assert (passed_over["action"], passed_over["file"], passed_over["usable"]) == ("other-relationship", None, True)
    assert passed_over["reason"] == (
        f"discover uses the client's relationship that ends last: 'Contoso apps' ({msp.partner.relationships[0].id})"
    )
    assert by_id[msp.partner.relationships[0].id]["action"] == "written"
    soonco = by_id[msp.partner.relationships[4].id]
    assert (soonco["action"], soonco["file"], soonco["domain"]) == ("unknown-tenant", None, None)
    assert soonco["reason"] == "Microsoft Graph knows no such tenant (findTenantInformationByTenantId)"
    assert document["summary"] == summary(
        relationships=6, written=1, exists=1, no_access=2, other_relationship=1, unknown_tenant=1, warnings=1
    )


def test_json_lists_the_files_the_folder_policy_refuses_and_exits_2(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    with (folder / "_defaults.yaml").open("a", encoding="utf-8") as defaults:
        defaults.write("policy:\n  enforcement:\n    tenant-wide-consent: mandatory\n")
    code, document, said = discover_json(folder)
    assert code == 2, said
    assert document["summary"] == summary(policy=3, no_access=2, warnings=1)
    refused = [e for e in document["relationships"] if e["action"] == "policy"]
    assert [e["file"] for e in refused] == [
        str(folder / n) for n in ("contoso.yaml", "fabrikam.co.uk.yaml", "soonco.yaml")
    ]
    for entry in refused:
        assert entry["reason"].startswith("the folder's policy refuses it: ") and "consent.mode" in entry["reason"]
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]


def test_json_when_graph_refuses_the_relationship_list(cloud: EmulatedCloud, folder: Path) -> None:
    cloud.grant_only(MSP_TENANT_ID, "CrossTenantInformation.ReadBasic.All")
    code, document, said = discover_json(folder)
    assert code == 1
    assert document["partner_tenant"] == MSP_TENANT_ID and document["relationships"] == []
    assert "403" in document["error"] and "DelegatedAdminRelationship.Read.All" in document["error"]
    assert document["summary"] == summary(relationships=0)
    assert said.startswith("error: Microsoft Graph")
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]


def test_json_when_graph_refuses_the_clients_names_the_others_still_listed(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    cloud.grant_only(MSP_TENANT_ID, "DelegatedAdminRelationship.Read.All")
    code, document, said = discover_json(folder)
    assert code == 1
    assert document["error"] is None
    assert document["summary"] == summary(failed=3, no_access=2, warnings=1)
    failed = [e for e in document["relationships"] if e["action"] == "failed"]
    assert [e["tenant_id"] for e in failed] == [msp.clients[n].tenant_id for n in ("contoso", "fabrikam", "soonco")]
    for entry in failed:
        assert entry["file"] is None
        assert "403" in entry["reason"] and "CrossTenantInformation.ReadBasic.All" in entry["reason"]
    assert "failed: Contoso Ltd" in said and "wrote 0 tenant file(s), 3 failed" in said
    assert [p.name for p in folder.iterdir()] == ["_defaults.yaml"]


def test_json_with_a_tenant_file_of_the_folder_that_does_not_validate_gives_validate_1(
    cloud: EmulatedCloud, folder: Path
) -> None:
    (folder / "broken.yaml").write_text("tenant:\n  id: not-a-guid\nconsent:\n  mode: organization\n", "utf-8")
    code, document, said = discover_json(folder)
    assert code == 2, said
    assert document["format"] == "taxcalc-consent/validate@1" and document["valid"] is False
    assert [(p["file"], p["key"]) for p in document["problems"]] == [(str(folder / "broken.yaml"), "tenant.id")]
    assert sorted(p.name for p in folder.iterdir()) == ["_defaults.yaml", "broken.yaml"]


def test_out_may_not_name_a_tenant_file_of_the_folder(cloud: EmulatedCloud, folder: Path) -> None:
    for name in ("contoso.yaml", "_defaults.yaml", "new.YML"):
        result = runner.invoke(
            app,
            ["discover", "--dir", str(folder), "--partner-tenant", MSP_TENANT_ID, "--out", str(folder / name)],
        )
        assert result.exit_code == 2, result.stderr
        assert f"--out {folder / name}: a YAML file in {folder}" in result.stderr and result.stdout == ""
        assert sorted(p.name for p in folder.iterdir()) == ["_defaults.yaml"]


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
