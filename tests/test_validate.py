"""`validate`: every bad input gets its located error and exit 2, never a traceback, never a secret."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.errors import SpecError
from taxcalc_consent.infra.model.loader import load_tenants
from taxcalc_consent.infra.model.profiles import EXAMPLES_CLIENT_ID
from taxcalc_consent.infra.model.yaml_reader import MAX_FILE_BYTES
from tests.conftest import CLIENT_ID, EXAMPLES, ROOT, TENANT_ID
from tests.documents import parse_document
from tests.fakes.example_tenants import copy_examples

runner = CliRunner()

GOOD_HEAD = f"tenant:\n  id: {TENANT_ID}\n"
ORG = "consent:\n  mode: organization\n"

# (case id, file body, expected "line:col: key.path" of the first problem, a phrase its message must hold)
BAD_INPUTS = [
    ("yaml-syntax", "tenant: [\n", "2:1: ", "invalid YAML"),
    ("yaml-tab-indent", "tenant:\n\tid: x\n", "2:1: ", "YAML does not allow tabs for indentation"),
    ("not-a-mapping", "- a\n- b\n", "1:1: ", "expected a mapping"),
    ("unknown-top-key", GOOD_HEAD + ORG + "consnet: {}\n", "5:1: consnet: ", "did you mean 'consent'?"),
    (
        "unknown-nested-key",
        GOOD_HEAD + "consent:\n  mode: organization\n  scoeps: [User.Read]\n",
        "5:3: consent.scoeps: ",
        "did you mean 'scopes'?",
    ),
    ("missing-tenant", ORG, "1:1: tenant: ", "missing required key 'tenant'"),
    (
        "section-not-a-mapping",
        GOOD_HEAD + "consent:\n  - mode: users\n",
        "3:1: consent: ",
        "expected a mapping of keys",
    ),
    (
        "missing-mode",
        GOOD_HEAD + "consent:\n  scopes: [User.Read]\n",
        "3:1: consent.mode: ",
        "missing required key 'mode'",
    ),
    ("wrong-mode", GOOD_HEAD + "consent:\n  mode: everyone\n", "4:3: consent.mode: ", "'organization' or 'users'"),
    ("tenant-id-not-guid", "tenant:\n  id: contoso\n" + ORG, "2:3: tenant.id: ", "expected a GUID"),
    (
        "client-id-not-guid",
        GOOD_HEAD + "app:\n  client_id: taxcalc-hub\n" + ORG,
        "4:3: app.client_id: ",
        "expected a GUID",
    ),
    ("register-not-bool", GOOD_HEAD + "app:\n  register: 'yes'\n" + ORG, "4:3: app.register: ", "valid boolean"),
    ("name-not-text", "tenant:\n  id: " + TENANT_ID + "\n  name: 42\n" + ORG, "3:3: tenant.name: ", "valid string"),
    (
        "scopes-not-list",
        GOOD_HEAD + "consent:\n  mode: organization\n  scopes: Mail.Send\n",
        "5:3: consent.scopes: ",
        "valid list",
    ),
    (
        "bad-upn",
        GOOD_HEAD + "consent:\n  mode: users\n  users:\n    - alice\n",
        "6:7: consent.users[0]: ",
        "user principal name",
    ),
    (
        "bad-domain",
        "tenant:\n  id: " + TENANT_ID + "\n  domain: not a domain\n" + ORG,
        "3:3: tenant.domain: ",
        "domain name",
    ),
    (
        "bad-date",
        GOOD_HEAD + ORG + "exceptions:\n  - {rule: r, permission: Mail.Send, reason: x, expires: 2027-02-30}\n",
        "6:49: exceptions[0].expires: ",
        "YYYY-MM-DD",
    ),
    (
        "date-as-text",
        GOOD_HEAD + ORG + "exceptions:\n  - {rule: r, permission: Mail.Send, reason: x, expires: soon}\n",
        "6:49: exceptions[0].expires: ",
        "YYYY-MM-DD",
    ),
    (
        "unknown-scope",
        GOOD_HEAD + "consent:\n  mode: organization\n  scopes: [User.Read, Mail.Sned]\n",
        "5:23: consent.scopes[1]: ",
        "did you mean 'Mail.Send'?",
    ),
    (
        "scope-wrong-case",
        GOOD_HEAD + "consent:\n  mode: organization\n  scopes: [mail.send]\n",
        "5:12: consent.scopes[0]: ",
        "case-sensitive; did you mean 'Mail.Send'?",
    ),
    (
        "app-permission-as-scope",
        GOOD_HEAD + "consent:\n  mode: organization\n  scopes: [Mail.ReadBasic.All]\n",
        "5:12: consent.scopes[0]: ",
        "application permission, not a delegated scope",
    ),
    (
        "scope-as-app-role",
        GOOD_HEAD + "consent:\n  mode: organization\n  app_roles: [User.Read]\n",
        "5:15: consent.app_roles[0]: ",
        "delegated scope, not an application permission",
    ),
    (
        "unknown-app-role",
        GOOD_HEAD + "consent:\n  mode: organization\n  app_roles: [Mail.Sendd]\n",
        "5:15: consent.app_roles[0]: ",
        "did you mean 'Mail.Send'?",
    ),
    (
        "empty-scopes",
        GOOD_HEAD + "consent:\n  mode: organization\n  scopes: []\n",
        "5:3: consent.scopes: ",
        "empty list grants nothing",
    ),
    (
        "users-mode-empty",
        GOOD_HEAD + "consent:\n  mode: users\n",
        "4:3: consent.mode: ",
        "needs consent.users or consent.groups",
    ),
    (
        "org-mode-with-users",
        GOOD_HEAD + "consent:\n  mode: organization\n  users: [a@contoso.com]\n",
        "5:3: consent.users: ",
        "only applies in users mode",
    ),
    (
        "org-mode-with-groups",
        GOOD_HEAD + "consent:\n  mode: organization\n  groups: [Finance]\n",
        "5:3: consent.groups: ",
        "only applies in users mode",
    ),
    (
        "duplicate-user",
        GOOD_HEAD + "consent:\n  mode: users\n  users: [a@contoso.com, A@Contoso.com]\n",
        "5:26: consent.users[1]: ",
        "listed twice (first at line 5)",
    ),
    (
        "duplicate-key",
        GOOD_HEAD + ORG + "consent:\n  mode: users\n",
        "5:1: consent: ",
        "duplicate key (first written at line 3)",
    ),
    ("merge-key", GOOD_HEAD + "consent: &c {mode: organization}\naccess:\n  <<: *c\n", "5:3: access: ", "merge keys"),
    (
        "unknown-profile",
        GOOD_HEAD + "app:\n  profile: taxcalc-hb\n" + ORG,
        "4:3: app.profile: ",
        "did you mean 'taxcalc-hub'?",
    ),
    (
        "redirects-without-register",
        GOOD_HEAD + "app:\n  redirect_uris: [https://example.com/cb]\n" + ORG,
        "4:3: app.redirect_uris: ",
        "only apply with register: true",
    ),
    (
        "redirect-not-https",
        GOOD_HEAD + "app:\n  register: true\n  redirect_uris: [http://example.com/cb]\n" + ORG,
        "5:19: app.redirect_uris[0]: ",
        "https://",
    ),
    (
        "policy-in-tenant-file",
        GOOD_HEAD + ORG + "policy:\n  allowed_scopes: [Mail.ReadWrite]\n",
        "5:1: policy: ",
        "belong in _defaults.yaml",
    ),
    (
        "auth-method",
        GOOD_HEAD + ORG + "auth:\n  method: password\n",
        "6:3: auth.method: ",
        "'cli', 'browser', 'device-code', 'client-secret'",
    ),
    (
        "secret-env-not-a-name",
        GOOD_HEAD + ORG + "auth:\n  client_secret_env: my secret value\n",
        "6:3: auth.client_secret_env: ",
        "NAME of an environment variable",
    ),
]


def _write(folder: Path, name: str, body: str | bytes) -> Path:
    path = folder / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "where", "phrase"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_located(tenants_dir: Path, body: str, where: str, phrase: str) -> None:
    path = _write(tenants_dir, "acme.yaml", body)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert lines, result.stderr
    first = lines[0]
    assert first.startswith(f"{path}:{where}"), first
    assert phrase in first, first


def test_every_problem_in_every_file_in_one_run(tenants_dir: Path) -> None:
    _write(tenants_dir, "a.yaml", "tenant:\n  id: nope\nconsent:\n  mode: organization\n  scopes: [Mail.Sned]\n")
    _write(tenants_dir, "b.yaml", "")
    _write(tenants_dir, "c.yaml", GOOD_HEAD.replace(TENANT_ID, "0f8fad5b-d9cb-469f-a165-70867728950e") + ORG)
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(tenants_dir))]
    assert [p.split(":")[0].rsplit("/", 1)[1] for p in problems] == ["a.yaml", "a.yaml", "b.yaml"]
    assert "tenant.id" in problems[0] and "consent.scopes[0]" in problems[1] and "file is empty" in problems[2]
    assert "3 problem(s) in 2 file(s)" in result.stderr


def test_duplicate_tenant_id_names_both_files(tenants_dir: Path, tmp_path: Path) -> None:
    _write(tenants_dir, "a.yaml", GOOD_HEAD + ORG)
    _write(tenants_dir, "b.yaml", GOOD_HEAD.upper().replace("TENANT:\n  ID", "tenant:\n  id") + ORG)
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    assert f"{tenants_dir}/b.yaml:2:3: tenant.id: tenant id is also used by {tenants_dir}/a.yaml:2" in result.stderr


def test_duplicate_short_name_across_folders(tenants_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "more"
    other.mkdir()
    _write(other, "_defaults.yaml", f"app:\n  client_id: {CLIENT_ID}\n")
    _write(tenants_dir, "acme.yaml", GOOD_HEAD + ORG)
    _write(other, "acme.yaml", "tenant:\n  id: 0f8fad5b-d9cb-469f-a165-70867728950e\n" + ORG)
    result = runner.invoke(app, ["validate", str(tenants_dir), str(other)])
    assert result.exit_code == 2
    assert f"{other}/acme.yaml:1:1: short name 'acme' is also used by {tenants_dir}/acme.yaml" in result.stderr


def test_missing_client_id_says_where_to_find_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "acme.yaml", GOOD_HEAD + ORG)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1:1: app.client_id: missing application id." in result.stderr
    assert "Enterprise applications > TaxCalc-Hub > Application ID" in result.stderr


def test_problem_from_defaults_points_at_defaults_file_once(tenants_dir: Path) -> None:
    _write(tenants_dir, "_defaults.yaml", "app:\n  client_id: nope\n")
    _write(tenants_dir, "a.yaml", GOOD_HEAD + ORG)
    _write(tenants_dir, "b.yaml", GOOD_HEAD.replace(TENANT_ID, "0f8fad5b-d9cb-469f-a165-70867728950e") + ORG)
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    located = f"{tenants_dir}/_defaults.yaml:2:3: app.client_id: expected a GUID"
    assert result.stderr.count(located) == 1, result.stderr


@pytest.mark.parametrize("misnamed", ["_defaults.yml", "_Defaults.yaml", "_default.yaml", "_DEFAULTS.YML"])
def test_a_misnamed_defaults_file_is_refused_not_silently_ignored(tmp_path: Path, misnamed: str) -> None:
    """Tenant files may end in .yml, so a folder's policy written to _defaults.yml looks right and would
    never apply: here it forbids Mail.Send, and the tenant file asks for it."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    _write(folder, misnamed, "policy:\n  allowed_scopes: [openid, profile, email, offline_access, User.Read]\n")
    _write(folder, "a.yaml", GOOD_HEAD + f"app:\n  client_id: {CLIENT_ID}\n" + ORG)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"{folder}/{misnamed}:1:1: not read: a folder's defaults are read only from _defaults.yaml; rename this file"
    ), result.stderr


def test_tenant_values_win_and_lists_replace(tenants_dir: Path) -> None:
    _write(
        tenants_dir,
        "_defaults.yaml",
        f"app:\n  client_id: {CLIENT_ID}\nconsent:\n  mode: users\n  scopes: [User.Read, Mail.Send]\n"
        "  groups: [TaxCalc Mailboxes]\n",
    )
    _write(tenants_dir, "a.yaml", GOOD_HEAD + "consent:\n  groups: [Finance]\n  scopes: [openid]\n")
    (tenant,) = load_tenants([tenants_dir])
    assert tenant.spec.consent.mode == "users"
    assert tenant.spec.consent.groups == ["Finance"]
    assert tenant.spec.consent.scopes == ["openid"]
    assert tenant.spec.app.client_id == CLIENT_ID
    assert tenant.defaults_file == f"{tenants_dir}/_defaults.yaml"


def test_not_utf8(tenants_dir: Path) -> None:
    path = _write(tenants_dir, "acme.yaml", GOOD_HEAD.encode() + b"  name: Caf\xe9\n" + ORG.encode())
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:12: file is not UTF-8 text (byte 0xe9)" in result.stderr


def test_file_over_one_mib_is_refused_unread(tenants_dir: Path) -> None:
    path = _write(tenants_dir, "acme.yaml", GOOD_HEAD + ORG + "#" * MAX_FILE_BYTES + "\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1:1: file is" in result.stderr and "limited to 1 MiB" in result.stderr


def test_billion_laughs_refused_quickly(tenants_dir: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    path = _write(tenants_dir, "acme.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load_tenants([path])
    # A generous bound that only a real expansion (10^9 nodes) could break; speed targets live in benchmarks/.
    assert time.perf_counter() - started < 5
    (problem,) = caught.value.problems
    assert "aliases expand to more than" in problem.message


SECRET = "Xy7" + "8Q~" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"


@pytest.mark.parametrize(
    "body",
    [
        GOOD_HEAD + ORG + f"auth:\n  client_secret: {SECRET}\n",
        GOOD_HEAD + ORG + f"auth:\n  password: {SECRET}\n",
        GOOD_HEAD + ORG + f"auth:\n  client_secret_env: {SECRET}\n",
        GOOD_HEAD + f"  name: {SECRET}\n" + ORG,
        GOOD_HEAD + ORG + f"notes:\n  token: {SECRET}\n",
    ],
    ids=["client_secret", "password", "secret-in-env-name", "secret-as-name", "token-in-unknown-key"],
)
def test_secret_refused_without_echo(tenants_dir: Path, body: str) -> None:
    path = _write(tenants_dir, "acme.yaml", body)
    for args in (["validate", str(path)], ["validate", "--json", str(path)], ["plan", "--offline", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert SECRET not in result.output
        assert SECRET[3:20] not in result.stderr + result.stdout
    assert "secret" in result.stderr.lower()


def test_yaml_error_does_not_quote_the_line(tenants_dir: Path) -> None:
    path = _write(tenants_dir, "acme.yaml", f"auth:\n  client_secret: [{SECRET}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert SECRET not in result.output


def test_validate_json_reports_problems(tenants_dir: Path) -> None:
    path = _write(tenants_dir, "acme.yaml", "tenant:\n  id: nope\n" + ORG)
    result = runner.invoke(app, ["validate", "--json", str(path)])
    assert result.exit_code == 2
    document = parse_document(result.stdout)
    assert document == {
        "format": "taxcalc-consent/validate@1",
        "valid": False,
        "problems": [
            {
                "file": str(path),
                "line": 2,
                "col": 3,
                "key": "tenant.id",
                "message": (
                    "expected a GUID: 32 hexadecimal digits as 8-4-4-4-12, such as 0f8fad5b-d9cb-469f-a165-70867728950e"
                ),
            }
        ],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "no/such/dir"], "no/such/dir: no such file or folder"),
        (["validate"], "Missing argument"),
        (["plan", "--offline", "no/such.yaml"], "no/such.yaml: no such file or folder"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no tenant files (*.yaml) in this folder" in result.stderr


def test_examples_are_valid_and_underscore_files_are_not_tenants() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES), str(EXAMPLES / "_defaults.yaml")])
    assert result.exit_code == 0, result.output
    assert "4 tenant file(s) valid" in result.stderr


def test_upns_and_guids_normalised(tenants_dir: Path) -> None:
    _write(
        tenants_dir,
        "acme.yaml",
        "tenant:\n  id: 6E2B1A3C-4D5E-4F60-8A7B-9C0D1E2F3A4B\nconsent:\n  mode: users\n"
        "  users: [Alice@Contoso.COM, 7C9E6679-7425-40DE-944B-E07FC1F90AE7]\n  groups: [Finance Team]\n",
    )
    (tenant,) = load_tenants([tenants_dir])
    assert tenant.spec.tenant.id == TENANT_ID
    assert tenant.spec.consent.users == ["alice@contoso.com", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    assert tenant.spec.consent.groups == ["Finance Team"]


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("tenant:\n\tid: 6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b\n", 2, 1),
        ("tenant:\n  id: 6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b\nconsent:\n  mode: users\n  users:\n\t- a@b.com\n", 6, 1),
        ("tenant:\n  \tid: 6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b\n", 2, 3),
    ],
)
def test_a_tab_in_the_indentation_is_named_as_a_tab(tmp_path: Path, text: str, line: int, col: int) -> None:
    # PyYAML says "found character that cannot start any token", which names neither the tab nor the fix.
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{col}: a tab indents this line"), first
    assert "indent with spaces" in first and "cannot start any token" not in result.stderr


# ------------------------------------------------------------------ the examples' placeholder application id

PLACEHOLDER_REFUSED = (
    f"app.client_id: {EXAMPLES_CLIENT_ID} is the bundled examples' placeholder, not TaxCalc-Hub's application id "
    "(which is not published): copy the real one from Entra admin centre > Enterprise applications > TaxCalc-Hub > "
    "Application ID, in any tenant that uses it"
)


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["plan", "--offline"],
        ["plan", "--offline", "--json"],
        ["plan"],
        ["apply", "--yes"],
        ["drift"],
        ["audit"],
        ["adopt"],
        ["offboard", "--yes"],
        ["connect"],
    ],
    ids=" ".join,
)
def test_a_copy_of_the_examples_is_refused_their_placeholder_application_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # examples/tenants copied into an MSP's repository as they ship: the placeholder would validate and plan, and
    # apply would fail only at the first tenant, after the provider's retries, about an application nobody meant.
    shutil.copytree(EXAMPLES, tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))

    result = runner.invoke(app, [*command, "tenants"])

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == f"tenants{os.sep}_defaults.yaml:7:3: {PLACEHOLDER_REFUSED}"
    assert "Traceback" not in result.output
    if "--json" in command:
        (problem,) = parse_document(result.stdout)["problems"]
        assert (problem["file"], problem["line"], problem["col"], problem["key"]) == (
            f"tenants{os.sep}_defaults.yaml",
            7,
            3,
            "app.client_id",
        )
    else:
        assert result.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before  # no stack settings, no state, no report: nothing touched


def test_the_placeholder_is_refused_in_a_tenant_file_too_in_any_case(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        f"{GOOD_HEAD}{ORG}app:\n  client_id: {EXAMPLES_CLIENT_ID.upper()}\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == f"{tmp_path / 'acme.yaml'}:6:3: {PLACEHOLDER_REFUSED}"


def test_the_bundled_examples_keep_their_placeholder_by_any_path_that_resolves_to_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's main job, from the repository root; and the same folder through a link, which resolves to it.
    (tmp_path / "linked").symlink_to(EXAMPLES, target_is_directory=True)
    monkeypatch.chdir(ROOT)
    for folder in ("examples/tenants", str(EXAMPLES), str(tmp_path / "linked")):
        for command in (["validate"], ["plan", "--offline"]):
            result = runner.invoke(app, [*command, folder])
            assert result.exit_code == 0, (command, folder, result.output)
    planned = parse_document(runner.invoke(app, ["plan", "--offline", "--json", "examples/tenants"]).stdout)
    assert {t["app"]["client_id"] for t in planned["tenants"]} >= {EXAMPLES_CLIENT_ID}


def test_a_copy_given_taxcalc_hubs_id_is_valid(tmp_path: Path) -> None:
    # What the error asks for, done: the copy's _defaults.yaml given TaxCalc-Hub's id, and it validates.
    copy = copy_examples(tmp_path / "tenants")
    result = runner.invoke(app, ["validate", str(copy)])
    assert result.exit_code == 0, result.output
    assert CLIENT_ID in (copy / "_defaults.yaml").read_text("utf-8")
