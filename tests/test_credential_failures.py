"""A credential failure is one line per tenant, in the files' order, saying what failed and what to do next;
azure-identity's own log shows only with --debug."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from tests.fakes import azure_cli

# Named so that the files' order (a, b, c) is not the order of their ids, nor of their completion.
TENANTS = {
    "a-first": "9d3c2b1a-8e7f-4a6b-9c5d-1e2f3a4b5c6d",
    "b-second": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "c-third": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
}


@pytest.fixture
def fleet(tenants_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith(("ARM_", "ACTIONS_ID_TOKEN", "SYSTEM_OIDC", "AZURE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("TAXCALC_CONSENT_GRAPH_TOKEN", raising=False)
    for name, tenant_id in TENANTS.items():
        (tenants_dir / f"{name}.yaml").write_text(
            f"tenant:\n  id: {tenant_id}\nconsent:\n  mode: organization\n", encoding="utf-8"
        )
    return tenants_dir


def _lines(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if needle in line]


def test_no_way_to_sign_in_is_one_located_line_for_every_tenant_in_file_order(fleet: Path) -> None:
    # It used to name the first tenant only, so a fleet took a run per tenant to set up.
    result = CliRunner().invoke(app, ["audit", "--parallel", "3", str(fleet)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == len(TENANTS), result.stderr
    for line, name in zip(errors, TENANTS, strict=True):
        assert line.startswith(f"error: {fleet / name}.yaml: "), line
        assert "set auth.method in the tenant file's auth: block" in line


@pytest.mark.parametrize("json_output", [False, True])
def test_a_refused_sign_in_is_one_line_a_tenant_with_the_next_step(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_output: bool
) -> None:
    # The Azure CLI is there but signed in to nothing (tests/fakes/azure_cli.py fails as az does).
    (fleet / "_defaults.yaml").write_text(
        (fleet / "_defaults.yaml").read_text("utf-8") + "auth:\n  method: cli\n", encoding="utf-8"
    )
    azure_cli.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az"))
    args = ["audit", "--parallel", "3", *(["--json"] if json_output else []), str(fleet)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    # azure-identity's own log ("AzureCliCredential.get_token failed: ...") is not repeated beside it.
    assert "AzureCliCredential" not in result.stderr, result.stderr
    failed = _lines(result.stderr, "could not get a token")
    assert len(failed) == len(TENANTS), result.stderr
    for line, tenant_id in zip(failed, TENANTS.values(), strict=True):
        assert f"for tenant {tenant_id}: " in line, (tenant_id, result.stderr)
        assert f"next: sign in with: az login --tenant {tenant_id}" in line, line


def test_the_azure_cli_missing_says_to_install_it(fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fleet / "_defaults.yaml").write_text(
        (fleet / "_defaults.yaml").read_text("utf-8") + "auth:\n  method: cli\n", encoding="utf-8"
    )
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["audit", str(fleet / "a-first.yaml")])
    assert result.exit_code == 1, result.output
    (line,) = _lines(result.stderr, "could not get a token")
    assert f"next: install the Azure CLI, then sign in with: az login --tenant {TENANTS['a-first']}" in line
