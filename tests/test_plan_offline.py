"""`plan --offline`: the ConsentPlan as a table and as plan@1 JSON, reviewed as a golden file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.cli.ui.console import err
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from tests.conftest import CLIENT_ID, EXAMPLES, ROOT, TENANT_ID
from tests.documents import parse_document

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
    assert parse_document(result.stdout) == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_json_has_exactly_the_documented_shape() -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES)])
    document = parse_document(result.stdout)
    assert set(document) == {"format", "tenants"}
    assert document["format"] == "taxcalc-consent/plan@1"
    for tenant in document["tenants"]:
        assert list(tenant) == [
            "tenant",
            "file",
            "tenant_id",
            "name",
            "domain",
            "app",
            "service_principal",
            "grants",
            "group_grants",
            "app_role_assignments",
            "assignments",
            "consent_settings",
            "user_experience",
            "access",
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
        assert set(tenant["consent_settings"]) == {"user_consent", "admin_consent_workflow"}
        for seen in tenant["user_experience"]:
            assert set(seen) == {"principal", "experience", "refused", "reason"}
        assert set(tenant["access"]) == {"directory_roles", "application_permissions", "needs"}
        for need in tenant["access"]["needs"]:
            assert set(need) == {"need", "what", "least_role", "application_permissions"}


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
    (tenant,) = parse_document(result.stdout)["tenants"]
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


def test_a_group_granted_and_assigned_in_two_spellings_is_one_group(tenants_dir: Path) -> None:
    """Graph matches group names ignoring case: its members are assigned, so no caveat about access.groups."""
    (tenants_dir / "acme.yaml").write_text(
        f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: users\n  groups: [TaxCalc Mailboxes]\n"
        "access:\n  assignment_required: true\n  groups: [taxcalc mailboxes]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(tenants_dir)])
    assert result.exit_code == 0, result.stderr
    (tenant,) = parse_document(result.stdout)["tenants"]
    members = next(u for u in tenant["user_experience"] if u["principal"].endswith("group TaxCalc Mailboxes"))
    assert members["refused"] is False
    assert "only through a group" not in members["reason"], members["reason"]


def test_tenants_in_path_order_folders_in_name_order() -> None:
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES / "lab.yaml"), str(EXAMPLES)])
    assert [t["tenant"] for t in parse_document(result.stdout)["tenants"]] == [
        "lab",
        "contoso",
        "fabrikam",
        "northwind",
    ]


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
    parse_document(result.stdout)  # raises if anything else is printed there


# What each command may load: start-up is most of a small run, so a command imports only what it uses.
# --help needs Typer alone; validate and plan --offline add the tenant-file model (pydantic, PyYAML) but
# neither the Graph client (httpx, azure-identity), nor Pulumi, nor rich (no terminal here).
NEVER_FOR_OFFLINE = ("pulumi", "pulumi_azuread", "pulumi_policy", "httpx", "azure", "rich")


@pytest.mark.parametrize(
    ("argv", "forbidden"),
    [
        (["--help"], (*NEVER_FOR_OFFLINE, "pydantic", "yaml")),
        (["validate", str(EXAMPLES)], NEVER_FOR_OFFLINE),
        (["plan", "--offline", "--json", str(EXAMPLES)], NEVER_FOR_OFFLINE),
    ],
)
def test_commands_import_only_what_they_use(argv: list[str], forbidden: tuple[str, ...]) -> None:
    code = (
        "import sys; from taxcalc_consent.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT.parent, check=False
    )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("LOADED"))
    loaded = set(eval(line.removeprefix("LOADED ")))  # a list literal this test printed itself
    assert not loaded & set(forbidden), (sorted(loaded & set(forbidden)), completed.stderr)


def test_golden_is_byte_identical_and_out_writes_the_same_bytes(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out = tmp_path / "plan.json"
        result = runner.invoke(app, ["plan", "--offline", "--json", "--out", str(out), "examples/tenants"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == GOLDEN.read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == result.stdout


def test_offline_shard_selects_its_tenants_and_report_is_an_alias_of_out(tmp_path: Path) -> None:
    report = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", "--offline", "--shard", "2/3", "--report", str(report), str(EXAMPLES)])
    assert result.exit_code == 0, result.stderr
    document = parse_document(report.read_text(encoding="utf-8"))
    # contoso, fabrikam, lab sorted by name and dealt round robin: shard 2 of 3 is fabrikam.
    assert [t["tenant"] for t in document["tenants"]] == ["fabrikam"]
    assert "shard 2/3: 1 tenant(s)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "3/2"], "--shard"),
        (["--detailed-exitcode"], "--detailed-exitcode: only with the engine"),
        (["--parallel", "2"], "--parallel: only with the engine"),
        (["--backend", "file:///tmp/x"], "--backend: only with the engine"),
        (["--out", "/no/such/folder/plan.json"], "folder /no/such/folder does not exist"),
    ],
)
def test_offline_refuses_options_it_cannot_honour(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["plan", "--offline", *args, str(EXAMPLES)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_tables_in_a_ci_log_never_fold_an_address_or_a_scope_list(tmp_path: Path) -> None:
    # A CI log is not a terminal: a folded UPN there reads as two people, a folded scope list as two grants.
    upn = "finance.department.shared.mailbox.for.client.correspondence@very-long-client-domain.example.com"
    (tmp_path / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", "utf-8")
    (tmp_path / "acme.yaml").write_text(
        f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: users\n  users:\n    - {upn}\n", encoding="utf-8"
    )
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    completed = subprocess.run(
        [sys.executable, "-m", "taxcalc_consent.cli", "plan", "--offline", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=environ,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    assert any(upn in line for line in lines), completed.stderr
    assert any("Mail.Send User.Read email offline_access openid profile" in line for line in lines)
    # $COLUMNS asks for a width (tests/test_terminal.py): the rows stack and wrap at spaces, the UPN still whole.
    narrow = subprocess.run(
        [sys.executable, "-m", "taxcalc_consent.cli", "plan", "--offline", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**environ, "COLUMNS": "60"},
    )
    assert any(line.strip() == f"who: {upn}" or line.strip() == upn for line in narrow.stderr.splitlines()), (
        narrow.stderr
    )
