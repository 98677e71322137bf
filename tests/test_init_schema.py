"""`init` writes a valid, commented tenant file and never overwrites; `schema` matches the model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.loader import load_tenants
from tests.conftest import CLIENT_ID, ROOT, TENANT_ID
from tests.documents import parse_document
from tests.fakes.example_tenants import copy_examples, examples_defaults

runner = CliRunner()
OTHER_TENANT = "7e2b5f3c-58e4-4d2b-9b3e-6f1d2c3b4a59"


def test_init_users_mode_writes_a_valid_file(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    result = runner.invoke(
        app,
        [
            "init",
            "acme",
            "--tenant-id",
            TENANT_ID.upper(),
            "--mode",
            "users",
            "--user",
            "Alice@Acme.com",
            "--user",
            "bob@acme.com",
            "--client-id",
            CLIENT_ID,
            "--dir",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (folder / "acme.yaml").read_text(encoding="utf-8")
    assert "# " in text  # commented for people
    (tenant,) = load_tenants([folder / "acme.yaml"])
    assert tenant.spec.tenant.id == TENANT_ID
    assert tenant.spec.consent.mode == "users"
    assert tenant.spec.consent.users == ["alice@acme.com", "bob@acme.com"]


def test_init_without_client_id_explains_where_to_find_it(tmp_path: Path) -> None:
    # Nowhere to take TaxCalc-Hub's application id from: the file would not validate, so nothing is written.
    result = runner.invoke(app, ["init", "acme", "--tenant-id", TENANT_ID, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "pass --client-id GUID, or set app.client_id once" in result.stderr
    assert "Enterprise applications > TaxCalc-Hub" in result.stderr
    assert list(tmp_path.iterdir()) == []
    # In a folder whose _defaults.yaml gives the client id, the new file validates as it stands.
    (tmp_path / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    result = runner.invoke(app, ["init", "acme", "--tenant-id", TENANT_ID, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "comes from _defaults.yaml" in (tmp_path / "acme.yaml").read_text(encoding="utf-8")
    (tenant,) = load_tenants([tmp_path])
    assert tenant.spec.consent.mode == "organization"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text("keep me\n", encoding="utf-8")
    result = runner.invoke(app, ["init", "acme", "--tenant-id", TENANT_ID, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "already exists; not overwriting it" in result.stderr
    assert (tmp_path / "acme.yaml").read_text(encoding="utf-8") == "keep me\n"


def test_init_bad_arguments_exit_2_and_write_nothing(tmp_path: Path) -> None:
    cases = [
        (["init", "Acme Corp", "--tenant-id", TENANT_ID], "is not allowed in a tenant name"),
        (["init", "acme", "--tenant-id", "contoso"], "--tenant-id 'contoso': expected a GUID"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--mode", "users"], "needs at least one --user"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--mode", "users", "--user", "alice"], "user principal name"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--mode", "organization", "--user", "a@b.com"], "leave out --mode"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--group", "A", "--group", "a"], "give each group once"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--auth", "password"], "Invalid value"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--auth-client-id", "x"], "--auth-client-id 'x': expected a GUID"),
        (["init", "acme", "--tenant-id", TENANT_ID, "--mode", "everyone"], "Invalid value"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--dir", str(tmp_path)])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert list(tmp_path.iterdir()) == []


def test_schema_is_generated_from_the_model_and_committed() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = parse_document(result.stdout)
    assert schema == json.loads((ROOT / "schema" / "tenant.schema.json").read_text(encoding="utf-8")), (
        "schema/tenant.schema.json is stale: regenerate it with `taxcalc-consent schema > schema/tenant.schema.json`"
    )
    assert schema["required"] == ["tenant", "consent"]
    assert schema["additionalProperties"] is False
    assert "register" in schema["$defs"]["AppSection"]["properties"]
    assert "Mail.Send" in schema["$defs"]["ConsentSection"]["properties"]["scopes"]["anyOf"][0]["items"]["enum"]


def test_examples_reference_the_schema_beside_them_so_a_copy_resolves_too(tmp_path: Path) -> None:
    # The examples used to point at ../../schema/tenant.schema.json, which a folder copied into an MSP's own
    # repository does not have: the schema lives beside them, as init writes it, and is the generated one.
    copy = tmp_path / "clients" / "tenants"
    copy_examples(copy)
    for path in sorted(copy.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        reference = first.removeprefix("# yaml-language-server: $schema=")
        assert reference != first, path
        assert (path.parent / reference).is_file(), path
    assert json.loads((copy / "tenant.schema.json").read_text("utf-8")) == json.loads(
        (ROOT / "schema" / "tenant.schema.json").read_text("utf-8")
    ), "examples/tenants/tenant.schema.json is stale: copy schema/tenant.schema.json over it"


def test_init_writes_a_schema_reference_that_resolves_beside_the_file(tmp_path: Path) -> None:
    # An installed tool has no checkout to point into: the schema goes beside the tenant files.
    folder = tmp_path / "client-repo" / "tenants"
    result = runner.invoke(
        app,
        [
            "init",
            "acme",
            "--tenant-id",
            "6e2b5f3c-58e4-4d2b-9b3e-6f1d2c3b4a59",
            "--client-id",
            CLIENT_ID,
            "--dir",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    first = (folder / "acme.yaml").read_text(encoding="utf-8").splitlines()[0]
    reference = first.removeprefix("# yaml-language-server: $schema=")
    assert reference != first
    schema_file = (folder / reference).resolve()
    assert schema_file.is_file() and schema_file.parent == folder.resolve()
    assert json.loads(schema_file.read_text("utf-8")) == json.loads(
        (ROOT / "schema" / "tenant.schema.json").read_text("utf-8")
    )
    again = runner.invoke(
        app,
        [
            "init",
            "beta",
            "--tenant-id",
            "7e2b5f3c-58e4-4d2b-9b3e-6f1d2c3b4a59",
            "--client-id",
            CLIENT_ID,
            "--dir",
            str(folder),
        ],
    )
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in folder.iterdir()) == ["acme.yaml", "beta.yaml", "tenant.schema.json"]


def test_init_comments_point_only_at_what_an_installed_user_has(tmp_path: Path) -> None:
    # docs/ is not in the wheel: a comment naming docs/tenant-file.md sent an installed user nowhere.
    folder = tmp_path / "client-repo" / "tenants"
    args = ["init", "acme", "--tenant-id", "6e2b5f3c-58e4-4d2b-9b3e-6f1d2c3b4a59", "--client-id", CLIENT_ID]
    result = runner.invoke(app, [*args, "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    comments = [line for line in (folder / "acme.yaml").read_text("utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(comments)
    named_files = re.findall(r"[\w./-]+\.(?:md|json|yaml)\b", text)
    assert named_files, text
    assert all((folder / name).is_file() for name in named_files), named_files
    assert "docs/" not in text
    # The key reference it names: the schema beside the file, and the command that prints it.
    assert "tenant.schema.json" in named_files and "`taxcalc-consent schema`" in text


def _spec_of(path: Path) -> dict[str, object]:
    (tenant,) = load_tenants([path])
    return tenant.spec.model_dump(include={"tenant", "app", "consent", "access", "auth"})


def test_init_writes_the_readmes_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_examples: Path) -> None:
    # The examples the README walks through, written by init from its options alone: names, domain, users,
    # groups, assignment; each file reads back as the example it was made from.
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(examples_defaults(), "utf-8")
    monkeypatch.chdir(tmp_path)
    fabrikam = [
        "init",
        "fabrikam",
        "--tenant-id",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "--name",
        "Fabrikam Tax Partners",
        "--domain",
        "fabrikam.com",
        "--user",
        "Alice.Smith@fabrikam.com",
        "--user",
        "bob.jones@fabrikam.com",
        "--user",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "--group",
        "TaxCalc Mailboxes",
        "--assignment-required",
    ]
    contoso = [
        "init",
        "contoso",
        "--tenant-id",
        "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "--name",
        "Contoso Accountants LLP",
        "--domain",
        "contoso.co.uk",
    ]
    for args in (fabrikam, contoso):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        stem = args[1]
        assert _spec_of(folder / f"{stem}.yaml") == _spec_of(hub_examples / f"{stem}.yaml")


def test_init_auth_block(tmp_path: Path) -> None:
    args = ["init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID, "--dir", str(tmp_path)]
    auth = ["--auth", "client-secret", "--auth-client-id", CLIENT_ID.upper(), "--auth-secret-env", "ACME_SECRET"]
    result = runner.invoke(app, [*args, *auth])
    assert result.exit_code == 0, result.output
    (tenant,) = load_tenants([tmp_path / "acme.yaml"])
    assert tenant.spec.auth.method == "client-secret"
    assert tenant.spec.auth.client_id == CLIENT_ID
    assert tenant.spec.auth.client_secret_env == "ACME_SECRET"
    assert "# How the tool signs in to this tenant: the automation identity" in (tmp_path / "acme.yaml").read_text()


def test_init_says_an_engineer_s_sign_in_is_the_engineer_s(tmp_path: Path) -> None:
    args = ["init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID, "--dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--auth", "device-code"])
    assert result.exit_code == 0, result.output
    (tenant,) = load_tenants([tmp_path / "acme.yaml"])
    assert tenant.spec.auth.method == "device-code"
    written = (tmp_path / "acme.yaml").read_text(encoding="utf-8")
    assert "# How the tool signs in to this tenant: an engineer's own sign-in" in written
    assert "automation identity" not in written


def test_init_user_or_group_implies_users_mode(tmp_path: Path) -> None:
    base = ["--client-id", CLIENT_ID, "--dir", str(tmp_path)]
    assert runner.invoke(app, ["init", "one", "--tenant-id", TENANT_ID, *base, "--user", "a@acme.com"]).exit_code == 0
    result = runner.invoke(app, ["init", "two", "--tenant-id", OTHER_TENANT, *base, "--group", "G"])
    assert result.exit_code == 0, result.output
    one, two = load_tenants([tmp_path / "one.yaml", tmp_path / "two.yaml"])
    assert (one.spec.consent.mode, one.spec.consent.users) == ("users", ["a@acme.com"])
    assert (two.spec.consent.mode, two.spec.consent.groups) == ("users", ["G"])


def test_init_name_ending_in_yaml_is_the_stem(tmp_path: Path) -> None:
    for name in ("dunmore.yaml", "kells.YML"):
        tenant_id = TENANT_ID if name.startswith("d") else OTHER_TENANT
        args = ["init", name, "--tenant-id", tenant_id, "--client-id", CLIENT_ID, "--dir", str(tmp_path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dunmore.yaml", "kells.yaml", "tenant.schema.json"]


@pytest.mark.parametrize("how", ["defaults", "named-tenants"])
def test_init_inside_a_tenants_folder_writes_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    # Run from inside tenants/, init used to write tenants/tenants/acme.yaml, which `validate .` then skipped.
    folder = tmp_path / ("tenants" if how == "named-tenants" else "clients")
    folder.mkdir()
    if how == "defaults":
        (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", "utf-8")
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["init", "acme", "--tenant-id", TENANT_ID, "--client-id", CLIENT_ID])
    assert result.exit_code == 0, result.output
    assert (folder / "acme.yaml").is_file()
    assert not (folder / "tenants").exists()
    assert "wrote acme.yaml" in result.stderr
    # From the repository's root (tenants/ beside it, or not yet there), tenants/ it is.
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "beta", "--tenant-id", OTHER_TENANT, "--client-id", CLIENT_ID])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tenants" / "beta.yaml").is_file()
