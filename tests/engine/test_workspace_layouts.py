"""Against the real Pulumi CLI: stacks on a file backend, config as the driver writes it, in both workspace
layouts (a folder with its own Pulumi.yaml, like this repository, and a folder of tenant files only).

These stop short of a preview; tests/engine/test_lifecycle.py and the others run the program.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from taxcalc_consent.cli.fleet import automation, engine_setup
from taxcalc_consent.cli.fleet.pipeline import load_plans
from taxcalc_consent.infra.model.workspace import open_workspace
from tests.conftest import ROOT, no_notices
from tests.engine.locate import Engine
from tests.fakes.example_tenants import copy_examples

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("layout", ["pulumi-project", "tenant-files-only"])
def test_a_tenant_stack_gets_its_config_and_no_secret(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    monkeypatch.setenv("PATH", f"{engine.bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    copy_examples(root / "tenants")
    if layout == "pulumi-project":
        shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    environ = {"PULUMI_CONFIG_PASSPHRASE": "engine-test-passphrase"}
    settings = engine_setup.resolve_settings(None, environ, open_workspace(root))
    engine = automation.connect(settings)
    (plan,) = load_plans([root / "tenants" / "contoso.yaml"], notify=no_notices)
    stack = engine.open_stack(plan)  # writes the settings; no engine launch, so no stack yet
    assert not (root / ".pulumi-state" / ".pulumi" / "stacks").exists()
    stack.create()  # `pulumi stack init`, as a tenant's first run does once the CLI says "no stack named"
    assert (root / ".pulumi-state" / ".pulumi" / "stacks").is_dir()
    settings_file = root / "stacks" / "Pulumi.contoso.yaml"
    written = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
    # `stack init` kept the config already in the file and added the passphrase provider's salt.
    assert written["config"]["azuread:tenantId"] == plan.tenant_id
    assert written["config"]["taxcalc-consent:tenantFile"] == "tenants/contoso.yaml"  # relative to R: portable
    assert written["encryptionsalt"].startswith("v1:")
    assert "engine-test-passphrase" not in settings_file.read_text(encoding="utf-8")
    generated = sorted(p.name for p in (root / "stacks").iterdir() if p.name != settings_file.name)
    assert generated == ([] if layout == "pulumi-project" else ["Pulumi.yaml", "__main__.py"])
