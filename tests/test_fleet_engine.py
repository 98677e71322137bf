"""Against the real Pulumi CLI, where it is installed: stacks on a file backend, config as the driver writes it.

These stop short of a preview, which would need credentials for a real Entra tenant.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from taxcalc_consent.cli import automation, engine_setup
from taxcalc_consent.cli.pipeline import load_plans
from tests.conftest import EXAMPLES, ROOT

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="needs the Pulumi CLI (`pulumi`) on PATH"),
]


def test_a_tenant_stack_gets_its_config_and_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "stacks").mkdir()
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    environ = {"PULUMI_CONFIG_PASSPHRASE": "engine-test-passphrase"}
    settings = engine_setup.resolve_settings(None, environ, project_root=project)
    engine = automation.connect(settings)
    (plan,) = load_plans([EXAMPLES / "contoso.yaml"])
    engine.open_stack(plan)
    written = yaml.safe_load((project / "stacks" / "Pulumi.contoso.yaml").read_text(encoding="utf-8"))
    assert written["config"]["azuread:tenantId"] == plan.tenant_id
    assert written["config"]["taxcalc-consent:tenantFile"] == str((EXAMPLES / "contoso.yaml").resolve())
    assert (project / ".pulumi-state" / ".pulumi" / "stacks").is_dir()
    assert "engine-test-passphrase" not in (project / "stacks" / "Pulumi.contoso.yaml").read_text(encoding="utf-8")
