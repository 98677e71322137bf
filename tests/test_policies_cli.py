"""Policy through the command line: violations in the output, mandatory ones exit 2, advisory never does."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from tests.conftest import CLIENT_ID, TENANT_ID
from tests.documents import parse_document

runner = CliRunner()

USERS = """consent:
  mode: users
  users:
    - alice@contoso.com
"""


def write_tenant(folder: Path, body: str, defaults_extra: str = "") -> Path:
    if defaults_extra:
        (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n{defaults_extra}", encoding="utf-8")
    target = folder / "contoso.yaml"
    target.write_text(f"tenant:\n  id: {TENANT_ID}\n{body}", encoding="utf-8")
    return target


HIGH_RISK = USERS + "  app_roles: [Mail.ReadWrite]\n"


@pytest.mark.parametrize("command", [["validate", "--json"], ["plan", "--offline", "--json"]])
def test_mandatory_violation_exits_2_with_the_violation_in_json(tenants_dir: Path, command: list[str]) -> None:
    write_tenant(tenants_dir, HIGH_RISK)
    result = runner.invoke(app, [*command, str(tenants_dir)])
    assert result.exit_code == 2, result.output
    document = parse_document(result.stdout)
    violations = document["violations"] if command[0] == "validate" else document["tenants"][0]["violations"]
    (violation,) = violations
    assert violation["rule"] == "high-risk-app-roles"
    assert violation["severity"] == "mandatory"
    assert "'Mail.ReadWrite'" in violation["message"]
    if command[0] == "validate":
        assert document["valid"] is False
        assert violation["tenant"] == "contoso"


@pytest.mark.parametrize("command", [["validate", "--json"], ["plan", "--offline", "--json"]])
def test_advisory_violation_keeps_exit_0(tenants_dir: Path, command: list[str]) -> None:
    write_tenant(tenants_dir, "consent:\n  mode: organization\n")
    result = runner.invoke(app, [*command, str(tenants_dir)])
    assert result.exit_code == 0, result.output
    document = parse_document(result.stdout)
    violations = document["violations"] if command[0] == "validate" else document["tenants"][0]["violations"]
    assert [(v["rule"], v["severity"]) for v in violations] == [("tenant-wide-consent", "advisory")]


def test_validate_human_output_locates_each_violation(tenants_dir: Path) -> None:
    write_tenant(tenants_dir, HIGH_RISK)
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert "FAIL  contoso" in result.stderr
    # app_roles is on line 7 of the file; its list value starts at column 15.
    assert (
        f"{tenants_dir / 'contoso.yaml'}:7:15: consent.app_roles[0]: mandatory: high-risk-app-roles:" in result.stderr
    )
    assert "1 mandatory policy violation(s)" in result.stderr


def test_an_expired_exception_is_located_at_its_date(tenants_dir: Path) -> None:
    target = write_tenant(
        tenants_dir,
        HIGH_RISK
        + "exceptions:\n  - rule: high-risk-app-roles\n    permission: Mail.ReadWrite\n"
        + "    reason: Archive migration (CHG-77)\n    expires: 2020-01-31\n",
    )
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert f"{target}:12:5: exceptions[0].expires: mandatory: expired-exception:" in result.stderr
    assert f"{target}:7:15: consent.app_roles[0]: mandatory: high-risk-app-roles:" in result.stderr


def test_validate_shows_advisory_violations_as_warnings(tenants_dir: Path) -> None:
    write_tenant(tenants_dir, "consent:\n  mode: organization\n")
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 0
    assert "consent.mode: advisory: tenant-wide-consent: organization mode grants every user" in result.stderr
    assert "1 tenant file(s) valid, 1 advisory warning(s)" in result.stderr


def test_a_live_exception_lets_a_high_risk_role_through(tenants_dir: Path) -> None:
    write_tenant(
        tenants_dir,
        HIGH_RISK
        + "exceptions:\n  - rule: high-risk-app-roles\n    permission: Mail.ReadWrite\n"
        + "    reason: Archive migration (CHG-77)\n    expires: 2099-12-31\n",
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(tenants_dir)])
    assert result.exit_code == 0, result.output
    assert parse_document(result.stdout)["tenants"][0]["violations"] == []


def test_defaults_can_make_an_advisory_rule_mandatory(tenants_dir: Path) -> None:
    write_tenant(
        tenants_dir, "consent:\n  mode: organization\n", "policy:\n  enforcement:\n    tenant-wide-consent: mandatory\n"
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(tenants_dir)])
    assert result.exit_code == 2
    assert parse_document(result.stdout)["tenants"][0]["violations"][0]["severity"] == "mandatory"


def test_defaults_can_disable_a_rule(tenants_dir: Path) -> None:
    write_tenant(tenants_dir, HIGH_RISK, "policy:\n  enforcement:\n    high-risk-app-roles: disabled\n")
    result = runner.invoke(app, ["validate", "--json", str(tenants_dir)])
    assert result.exit_code == 0, result.output
    assert parse_document(result.stdout)["violations"] == []


# ------------------------------------------------------------------------ policy input errors


def test_unknown_rule_in_an_exception_is_a_located_input_error(tenants_dir: Path) -> None:
    target = write_tenant(
        tenants_dir,
        HIGH_RISK
        + "exceptions:\n  - rule: high-risk-app-role\n    permission: Mail.ReadWrite\n"
        + "    reason: Archive migration\n    expires: 2099-12-31\n",
    )
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert (
        f"{target}:9:5: exceptions[0].rule: unknown policy rule 'high-risk-app-role'; "
        "did you mean 'high-risk-app-roles'?"
    ) in result.stderr


def test_exception_for_a_rule_that_cannot_be_excepted_is_refused(tenants_dir: Path) -> None:
    target = write_tenant(
        tenants_dir,
        USERS + "exceptions:\n  - rule: allowed-scopes\n    permission: Mail.Read\n"
        "    reason: wanted\n    expires: 2099-12-31\n",
    )
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert (
        f"{target}:8:5: exceptions[0].rule: rule 'allowed-scopes' cannot be excepted in a tenant file" in result.stderr
    )


def test_exception_for_an_unknown_permission_is_refused(tenants_dir: Path) -> None:
    target = write_tenant(
        tenants_dir,
        HIGH_RISK + "exceptions:\n  - rule: high-risk-app-roles\n    permission: Mail.ReadWrit\n"
        "    reason: typo\n    expires: 2099-12-31\n",
    )
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert f"{target}:10:5: exceptions[0].permission: unknown application permission 'Mail.ReadWrit'" in result.stderr


def test_unknown_rule_and_scope_in_defaults_policy_are_located_in_defaults(tenants_dir: Path) -> None:
    write_tenant(
        tenants_dir,
        USERS,
        "policy:\n  allowed_scopes: [openid, profile, email, offline_access, User.Read, Mail.send]\n"
        "  enforcement:\n    tenant-wide-consents: mandatory\n",
    )
    result = runner.invoke(app, ["plan", "--offline", "--json", str(tenants_dir)])
    assert result.exit_code == 2
    defaults = tenants_dir / "_defaults.yaml"
    # Invalid input under --json still gives stdout one document: validate@1, not valid, every problem.
    document = parse_document(result.stdout)
    assert document["format"] == "taxcalc-consent/validate@1" and document["valid"] is False
    assert {(p["file"], p["line"], p["col"]) for p in document["problems"]} >= {
        (str(defaults), 4, 71),
        (str(defaults), 6, 5),
    }
    assert (
        f"{defaults}:4:71: policy.allowed_scopes[5]: unknown delegated scope 'Mail.send': names are case-sensitive; "
        "did you mean 'Mail.Send'?"
    ) in result.stderr
    assert (
        f"{defaults}:6:5: policy.enforcement.tenant-wide-consents: unknown policy rule 'tenant-wide-consents'; "
        "did you mean 'tenant-wide-consent'?"
    ) in result.stderr


def test_a_tenant_file_cannot_carry_policy(tenants_dir: Path) -> None:
    target = write_tenant(tenants_dir, HIGH_RISK + "policy:\n  enforcement:\n    high-risk-app-roles: disabled\n")
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert f"{target}:8:1: policy: policy settings belong in _defaults.yaml" in result.stderr


ORGANIZATION = "consent:\n  mode: organization\n"


def acknowledged(expires: str, rule: str = "tenant-wide-consent", reason: str = "CHG-42 every user sends") -> str:
    return f"acknowledged:\n  - rule: {rule}\n    reason: {reason}\n    expires: {expires}\n"


@pytest.mark.parametrize("command", [["validate"], ["plan", "--offline"]])
def test_an_acknowledged_advisory_stops_repeating_for_that_tenant_only(tenants_dir: Path, command: list[str]) -> None:
    # The only way to quiet tenant-wide-consent for one client used to be disabling it for the whole folder.
    write_tenant(tenants_dir, ORGANIZATION + acknowledged("2099-12-31"))
    (tenants_dir / "other.yaml").write_text(
        "tenant:\n  id: 7e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b\n" + ORGANIZATION, encoding="utf-8"
    )
    result = runner.invoke(app, [*command, str(tenants_dir)])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "tenant-wide-consent" in line]
    assert len(warned) == 1, result.stderr
    assert command[0] != "validate" or "other.yaml" in warned[0], result.stderr
    document = parse_document(runner.invoke(app, [*command, "--json", str(tenants_dir)]).stdout)
    if command[0] == "validate":
        assert [v["tenant"] for v in document["violations"]] == ["other"]
    else:
        assert [len(t["violations"]) for t in document["tenants"]] == [0, 1]


def test_an_expired_acknowledgement_brings_the_warning_back_saying_so(tenants_dir: Path) -> None:
    write_tenant(tenants_dir, ORGANIZATION + acknowledged("2020-01-01"))
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 0, result.output
    assert "advisory: tenant-wide-consent" in result.stderr
    assert "its acknowledgement expired on 2020-01-01" in result.stderr


@pytest.mark.parametrize(
    ("defaults_extra", "body", "message"),
    [
        ("policy:\n  acknowledgeable: []\n", acknowledged("2099-12-31"), "is not in policy.acknowledgeable"),
        (
            "policy:\n  enforcement:\n    tenant-wide-consent: mandatory\n",
            acknowledged("2099-12-31"),
            "is mandatory here",
        ),
        ("", acknowledged("2099-12-31", rule="high-risk-app-roles"), "is mandatory here"),
        ("", acknowledged("2099-12-31", rule="tenant-wide-consnet"), "did you mean 'tenant-wide-consent'?"),
        ("", acknowledged("2099-12-31", reason="' '"), "expected why the warning is accepted"),
        ("", acknowledged("1798675200"), "expected a date as YYYY-MM-DD"),
        (acknowledged("2099-12-31"), "", "an acknowledgement quiets a warning for one tenant"),
    ],
)
def test_an_acknowledgement_outside_the_folders_policy_is_a_located_error(
    tenants_dir: Path, defaults_extra: str, body: str, message: str
) -> None:
    write_tenant(tenants_dir, ORGANIZATION + body, defaults_extra=defaults_extra or "\n")
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert "acknowledged" in result.stderr.splitlines()[0]
