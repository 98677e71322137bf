"""Where the tool keeps its Pulumi project, stack settings and state: one rule for every command and the engine."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from taxcalc_consent.infra.model.kinds import delegated_grant
from taxcalc_consent.infra.model.workspace import (
    GENERATED_MARK,
    ROOT_ENV,
    engine_root,
    ensure_project,
    open_workspace,
    workspace_root,
)
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.example_tenants import PUBLISHED_APPS, contoso, copy_examples
from tests.fakes.pulumi_mocks import EntraMocks, mocked_stack, run


def test_the_root_is_the_variable_else_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert workspace_root({}) == tmp_path.resolve()
    assert workspace_root({ROOT_ENV: str(tmp_path / "r")}) == (tmp_path / "r").resolve()


def test_a_folder_with_its_own_pulumi_project_uses_it_as_it_is(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    found = open_workspace(tmp_path)
    assert (found.project_dir, found.generated) == (tmp_path, False)
    assert found.stack_settings_file("contoso") == tmp_path / "stacks" / "Pulumi.contoso.yaml"
    assert found.default_backend_url == f"file://{tmp_path / '.pulumi-state'}"
    assert ensure_project(found) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.yaml"]


def test_a_folder_of_tenant_files_gets_a_portable_project_in_stacks(tmp_path: Path) -> None:
    found = open_workspace(tmp_path)
    assert (found.project_dir, found.stack_settings_dir, found.generated) == (
        tmp_path / "stacks",
        tmp_path / "stacks",
        True,
    )
    written = ensure_project(found)
    assert sorted(p.name for p in written) == ["Pulumi.yaml", "__main__.py"]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"# {GENERATED_MARK}\n")
        assert str(tmp_path) not in text and "/work" not in text  # nothing tied to this machine
    main = (tmp_path / "stacks" / "__main__.py").read_text(encoding="utf-8")
    assert "from taxcalc_consent.infra.program.stack import main\n" in main
    assert ensure_project(found) == []  # unchanged: not rewritten
    (tmp_path / "stacks" / "__main__.py").write_text("print('edited')\n", encoding="utf-8")
    assert ensure_project(found) == [tmp_path / "stacks" / "__main__.py"]
    assert sorted(p.name for p in (tmp_path / "stacks").iterdir()) == ["Pulumi.yaml", "__main__.py"]  # no temp files
    # A second look at the same folder still sees the tool's own project, not a project of the user's.
    assert open_workspace(tmp_path).generated


def test_tenant_files_are_named_relative_to_the_root_when_inside_it(tmp_path: Path) -> None:
    found = open_workspace(tmp_path)
    assert found.tenant_file_setting(tmp_path / "tenants" / "contoso.yaml") == "tenants/contoso.yaml"
    assert found.tenant_file_setting(EXAMPLES / "contoso.yaml") == str((EXAMPLES / "contoso.yaml").resolve())
    assert found.tenant_file_path("tenants/contoso.yaml") == tmp_path.resolve() / "tenants" / "contoso.yaml"


def test_the_engine_side_finds_the_same_root(tmp_path: Path) -> None:
    ensure_project(open_workspace(tmp_path))  # R/stacks/Pulumi.yaml, generated
    assert engine_root({}, tmp_path / "stacks") == tmp_path.resolve()
    assert engine_root({ROOT_ENV: "/elsewhere"}, tmp_path / "stacks") == Path("/elsewhere")
    assert engine_root({}, ROOT / "infra") == ROOT  # this repository: `main: infra/`
    assert engine_root({}, ROOT / "policies") == ROOT  # a hand-run `pulumi preview --policy-pack policies`


def test_the_generated_project_runs_the_installed_program_on_a_relative_tenant_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `pulumi up` in R/stacks does: run __main__.py there, with the tenant file relative to R."""
    copy_examples(tmp_path / "tenants")
    ensure_project(open_workspace(tmp_path))
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.setattr(pulumi, "get_root_directory", lambda: str(tmp_path / "stacks"))
    tenant = contoso()
    mocks = EntraMocks(tenant, PUBLISHED_APPS)
    with mocked_stack(mocks, stack="contoso", config={"taxcalc-consent:tenantFile": "tenants/contoso.yaml"}):

        def program() -> Any:
            runpy.run_path(str(tmp_path / "stacks" / "__main__.py"), run_name="__main__")
            return pulumi_settings.get_root_resource()

        run(program)
    [grant] = tenant.grants.values()
    assert mocks.named(delegated_grant.ORGANIZATION_NAME).id == f"/oauth2PermissionGrants/{grant.id}"


@pytest.mark.parametrize("command", ["adopt", "plan"])
@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_root_that_is_not_a_folder_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, kind: str
) -> None:
    """A mistyped $TAXCALC_CONSENT_ROOT must not quietly become a new workspace: adopt would record what to
    import where apply never looks, and apply would start from empty state in a new .pulumi-state."""
    from typer.testing import CliRunner

    from taxcalc_consent.cli.main import app

    monkeypatch.chdir(tmp_path)
    copy_examples(tmp_path / "tenants")
    root = tmp_path / "typo-root"
    if kind == "a file":
        root.write_text("not a folder\n", encoding="utf-8")
    monkeypatch.setenv(ROOT_ENV, str(root))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "never-sent")
    graph = ["--graph-endpoint", "http://127.0.0.1:9"] if command == "adopt" else []
    args = [command, "tenants/contoso.yaml", *graph]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"error: ${ROOT_ENV} is {root}: not a folder" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert root.exists() == (kind == "a file") and not (tmp_path / "typo-root" / "stacks").exists()
    assert not (tmp_path / "stacks").exists()
