"""`plan --offline`: the ConsentPlan as a table and as plan@1 JSON, reviewed as a golden file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.console import err
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.catalog import GRAPH_APP_ID
from tests.conftest import EXAMPLES, ROOT, TENANT_ID

runner = CliRunner()
GOLDEN = ROOT / "tests" / "golden" / "plan-examples.json"


def test_examples_match_golden_plan() -> None:
    # Paths as given: run from the project root with a relative folder, as the README does.
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = runner.invoke(app, ["plan", "--offline", "--json", "examples/tenants"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_json_has_exactly_the_documented_shape() -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES)])
    document = json.loads(result.stdout)
    assert set(document) == {"format", "tenants"}
    assert document["format"] == "taxcalc-consent/plan@1"
    for tenant in document["tenants"]:
        assert list(tenant) == [
            "tenant",
            "file",
            "tenant_id",
            "app",
            "service_principal",
            "grants",
            "group_grants",
            "app_role_assignments",
            "assignments",
            "violations",
        ]
        assert set(tenant["app"]) == {"client_id", "register"}
        assert set(tenant["service_principal"]) == {"assignment_required"}
        for grant in tenant["grants"]:
            assert set(grant) == {"consent_type", "principal", "resource_app_id", "scopes"}
            assert grant["scopes"] == sorted(grant["scopes"])
        for grant in tenant["group_grants"]:
            assert set(grant) == {"group", "resource_app_id", "scopes"}
        for assignment in tenant["assignments"]:
            assert set(assignment) == {"principal_type", "principal"}


def test_users_mode_plan(tenants_dir: Path) -> None:
    # This test is about the plan's shape; the consent policy has its own tests (tests/test_policies*.py).
    with (tenants_dir / "_defaults.yaml").open("a", encoding="utf-8") as defaults:
        defaults.write(
            "policy:\n  enforcement:\n    sign-in-scopes-covered: disabled\n    high-risk-app-roles: disabled\n"
        )
    (tenants_dir / "acme.yaml").write_text(
        f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: users\n"
        "  scopes: [offline_access, Mail.Send, User.Read, openid]\n"
        "  users: [Bob@Acme.com, alice@acme.com]\n  groups: [Finance]\n  app_roles: [Mail.Send]\n"
        "access:\n  assignment_required: true\n  users: [alice@acme.com]\n  groups: [Finance]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(tenants_dir)])
    assert result.exit_code == 0, result.stderr
    (tenant,) = json.loads(result.stdout)["tenants"]
    scopes = ["Mail.Send", "User.Read", "offline_access", "openid"]  # plain code-point order
    assert tenant["grants"] == [
        {"consent_type": "Principal", "principal": "bob@acme.com", "resource_app_id": GRAPH_APP_ID, "scopes": scopes},
        {"consent_type": "Principal", "principal": "alice@acme.com", "resource_app_id": GRAPH_APP_ID, "scopes": scopes},
    ]
    assert tenant["group_grants"] == [{"group": "Finance", "resource_app_id": GRAPH_APP_ID, "scopes": scopes}]
    assert tenant["app_role_assignments"] == [{"resource_app_id": GRAPH_APP_ID, "role": "Mail.Send"}]
    assert tenant["assignments"] == [
        {"principal_type": "User", "principal": "alice@acme.com"},
        {"principal_type": "Group", "principal": "Finance"},
    ]
    assert tenant["service_principal"] == {"assignment_required": True}


def test_tenants_in_path_order_folders_in_name_order() -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES / "lab.yaml"), str(EXAMPLES)])
    assert [t["tenant"] for t in json.loads(result.stdout)["tenants"]] == ["lab", "contoso", "fabrikam"]


def test_human_output_is_a_table_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(err, "width", 200)
    result = runner.invoke(app, ["plan", "--offline", str(EXAMPLES / "fabrikam.yaml")])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "fabrikam" in result.stderr
    assert "each user member of group TaxCalc Mailboxes" in result.stderr
    assert "assignment required" in result.stderr
    assert "7c9e6679-7425-40de-944b-e07fc1f90ae7" in result.stderr  # folded or whole, never clipped


def test_narrow_output_folds_instead_of_clipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(err, "width", 60)
    result = runner.invoke(app, ["plan", "--offline", str(EXAMPLES / "fabrikam.yaml")])
    assert "…" not in result.stderr


def test_json_stdout_is_one_document_only() -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES)])
    json.loads(result.stdout)  # raises if anything else is printed there


@pytest.mark.parametrize("argv", [["--help"], ["validate", str(EXAMPLES)]])
def test_help_and_validate_do_not_import_pulumi(argv: list[str]) -> None:
    code = (
        "import sys; from cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "leaked = sorted(m for m in sys.modules if m == 'pulumi' or m.startswith(('pulumi.', 'pulumi_')))\n"
        "print('LEAKED', leaked)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "LEAKED []" in completed.stdout, completed.stdout + completed.stderr
