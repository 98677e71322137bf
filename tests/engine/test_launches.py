"""What a fleet command costs in engine processes: counted with a shim named ``pulumi`` first on PATH."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.engine.conftest import WorldFactory
from tests.fakes.entra import FakeTenant

pytestmark = pytest.mark.engine


def counting_shim(folder: Path, log: Path) -> Path:
    """A ``pulumi`` that writes its arguments to ``log``, one launch a line, then runs the real one."""
    real = shutil.which("pulumi")
    assert real is not None
    folder.mkdir()
    shim = folder / "pulumi"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return folder


def _command(line: str) -> str:
    """The command words of one launch: ``stack select``, ``preview``. The Automation API puts
    ``--non-interactive`` first when it sees CI=true, as CI has; flags are not part of the command."""
    return line.removeprefix("--non-interactive ").split(" --")[0]


def test_a_tenant_whose_stack_exists_costs_two_engine_launches(
    world: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = [FakeTenant(str(uuid.UUID(int=0x1A0_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(2)]
    w = world(
        tenants,
        {f"firm-{n}": f"tenant:\n  id: {t.tenant_id}\nconsent:\n  mode: organization\n" for n, t in enumerate(tenants)},
    )
    assert w.cli("plan", "tenants").code == 0  # the stacks now exist, their settings written
    settings = {n: yaml.safe_load(w.stack_settings(f"firm-{n}").read_text(encoding="utf-8")) for n in range(2)}
    assert all(s["encryptionsalt"].startswith("v1:") for s in settings.values())  # written by `stack init`

    log = tmp_path / "launches.log"
    monkeypatch.setenv("PATH", f"{counting_shim(tmp_path / 'shim', log)}{os.pathsep}{os.environ['PATH']}")
    run = w.cli("plan", "tenants", "--json")

    assert run.code == 3 or run.code == 0, run.output
    launches = log.read_text(encoding="utf-8").splitlines()
    per_stack = {f"firm-{n}": [_command(line) for line in launches if f"--stack firm-{n}" in line] for n in range(2)}
    # stack select and the preview: no `pulumi config` round trip, the settings being in the file already.
    assert {stack: Counter(commands) for stack, commands in per_stack.items()} == {
        f"firm-{n}": Counter({"stack select": 1, "preview": 1}) for n in range(2)
    }, launches
    # One `pulumi version` for the whole run, nothing else.
    assert len(launches) == 2 * 2 + 1, launches
    # The settings the tool does not own are as `stack init` left them.
    for n in range(2):
        after = yaml.safe_load(w.stack_settings(f"firm-{n}").read_text(encoding="utf-8"))
        assert after["encryptionsalt"] == settings[n]["encryptionsalt"]
