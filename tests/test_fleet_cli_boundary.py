"""The real Automation API code against a fake `pulumi` executable on PATH that records its arguments.

This covers what the fake stack factory cannot: that the driver finds the CLI, opens LocalWorkspaces on
the project directory, passes backend and passphrase through the environment, attaches the policy pack,
refreshes for drift, and reads engine events back from the event log the Automation API sets up.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxcalc_consent import policies
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.kinds import delegated_grant
from tests.conftest import ROOT
from tests.documents import parse_document
from tests.fakes import pulumi_cli

PASSPHRASE = "fake-cli-passphrase-123"
SECRET = "Ab1Q~fake-client-secret-value-0123456789"
CONTOSO = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
TAILSPIN = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
GRANT_URN = f"urn:pulumi:contoso::taxcalc-consent::{delegated_grant.TYPE}::graph-grant-all-principals"


@pytest.fixture
def fake_cli(tmp_path: Path, tenants_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "fake-pulumi"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "pulumi"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{pulumi_cli.__file__}" "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(project))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_PULUMI_HOME", str(home))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TENANT_SECRET", SECRET)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    (tenants_dir / "contoso.yaml").write_text(
        f"tenant:\n  id: {CONTOSO}\nconsent:\n  mode: organization\n"
        "auth:\n  method: client-secret\n  client_secret_env: TENANT_SECRET\n",
        encoding="utf-8",
    )
    (tenants_dir / "tailspin.yaml").write_text(
        f"tenant:\n  id: {TAILSPIN}\nconsent:\n  mode: organization\n", encoding="utf-8"
    )
    grant = {
        "resourcePreEvent": {
            "metadata": {
                "op": "update",
                "urn": GRANT_URN,
                "type": delegated_grant.TYPE,
                "provider": "",
                "old": {
                    "type": delegated_grant.TYPE,
                    "urn": GRANT_URN,
                    "inputs": {"claimValues": ["User.Read", "openid"]},
                },
                "new": {
                    "type": delegated_grant.TYPE,
                    "urn": GRANT_URN,
                    "inputs": {"claimValues": ["Mail.Send", "openid"]},
                },
                "diffs": ["claimValues"],
            },
            "planning": True,
        }
    }
    scenario = {"preview": {"contoso": [{"preludeEvent": {"config": {}}}, grant]}, "locked": ["tailspin"]}
    (home / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    return home


def calls(home: Path) -> list[dict[str, Any]]:
    """Every invocation, with the --non-interactive flag the Automation API puts first left out."""
    recorded = [json.loads(line) for line in (home / "calls.jsonl").read_text(encoding="utf-8").splitlines()]
    for call in recorded:
        call["argv"] = [arg for arg in call["argv"] if arg != "--non-interactive"]
    return recorded


def test_plan_through_the_real_automation_api(fake_cli: Path, tenants_dir: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--json", "--parallel", "2", str(tenants_dir)])
    assert result.exit_code == 1, result.output  # tailspin is locked by another run
    document = parse_document(result.stdout)
    tenants = {t["tenant"]: t for t in document["tenants"]}
    assert tenants["contoso"]["result"] == "changes"
    assert [r["description"] for r in tenants["contoso"]["resources"]] == [
        "add Mail.Send to the tenant-wide grant; remove User.Read from the tenant-wide grant"
    ]
    assert tenants["tailspin"]["result"] == "locked"
    project = Path(os.environ["TAXCALC_CONSENT_ROOT"])
    recorded = calls(fake_cli)
    previews = [c for c in recorded if c["argv"][0] == "preview"]
    assert len(previews) == 1
    argv = previews[0]["argv"]
    # The installed package's pack, wherever the package is; not a folder of the user's workspace.
    pack = Path(argv[argv.index("--policy-pack") + 1])
    assert pack == Path(policies.__file__).parent and (pack / "PulumiPolicy.yaml").is_file()
    assert argv[argv.index("--policy-pack-config") + 1].endswith(".json")
    assert "--event-log" in argv and argv[argv.index("--stack") + 1] == "contoso"
    engine_calls = [c for c in recorded if c["argv"][0] != "version"]
    assert {c["backend"] for c in engine_calls} == {f"file://{project / '.pulumi-state'}"}
    assert all(c["env"]["PULUMI_CONFIG_PASSPHRASE"] for c in engine_calls)
    assert all(c["cwd"] == str(project) for c in engine_calls)
    # The engine runs the program and the pack with this interpreter, and tells them where R is.
    assert {c["plain"]["PULUMI_PYTHON_CMD"] for c in engine_calls} == {sys.executable}
    assert {c["plain"]["TAXCALC_CONSENT_ROOT"] for c in engine_calls} == {str(project)}
    contoso_calls = [c for c in engine_calls if "contoso" in c["argv"]]
    assert contoso_calls and all(c["env"]["ARM_CLIENT_SECRET"] for c in contoso_calls)
    assert not any(c["env"]["ARM_CLIENT_SECRET"] for c in engine_calls if "tailspin" in c["argv"])
    set_all = next(c["argv"] for c in recorded if c["argv"][:2] == ["config", "set-all"])
    assert "--secret" not in set_all
    assert f"azuread:tenantId={CONTOSO}" in set_all
    assert all(SECRET not in " ".join(c["argv"]) and PASSPHRASE not in " ".join(c["argv"]) for c in recorded)
    assert SECRET not in result.output and PASSPHRASE not in result.output
    assert (project / ".pulumi-state").is_dir()
    config = json.loads((fake_cli / "config-contoso.json").read_text(encoding="utf-8"))
    assert config["taxcalc-consent:tenantFile"]["value"] == str((tenants_dir / "contoso.yaml").resolve())


def test_drift_asks_the_engine_to_refresh_first(fake_cli: Path, tenants_dir: Path) -> None:
    result = CliRunner().invoke(app, ["drift", str(tenants_dir / "contoso.yaml")])
    assert result.exit_code == 3, result.output
    assert "the tenant-wide grant holds User.Read, not in the file (added outside the file)" in result.stderr
    (preview,) = [c["argv"] for c in calls(fake_cli) if c["argv"][0] == "preview"]
    assert "--refresh" in preview
