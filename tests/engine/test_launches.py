"""What a fleet command costs in engine processes: counted with a shim named ``pulumi`` first on PATH."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
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


def _commands_by_stack(log: Path, stacks: list[str]) -> dict[str, list[str]]:
    """Each stack's launches in order: those naming it with ``--stack``, and ``stack init <name>``."""
    launches = log.read_text(encoding="utf-8").splitlines()
    return {
        stack: [_command(line) for line in launches if f"--stack {stack}" in line or line.endswith(f"init {stack}")]
        for stack in stacks
    }


def _command(line: str) -> str:
    """The command words of one launch: ``preview``, ``stack init firm-0``. ``PulumiCommand.run`` puts
    ``--non-interactive`` first; flags are not part of the command."""
    return line.removeprefix("--non-interactive ").split(" --")[0]


def test_plan_on_a_stack_that_exists_costs_one_engine_launch_per_tenant(
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
    run = w.cli("plan", "tenants")

    assert run.code == 3 or run.code == 0, run.output
    launches = log.read_text(encoding="utf-8").splitlines()
    # The preview alone: no `stack select` (every command names its stack), no `pulumi config` round trip (the
    # settings are in the file already).
    assert _commands_by_stack(log, ["firm-0", "firm-1"]) == {"firm-0": ["preview"], "firm-1": ["preview"]}, launches
    # One `pulumi version` for the whole run, nothing else.
    assert len(launches) == 2 * 1 + 1, launches
    # The review document (--json, --out) also records each stack's last update: one `stack history` more.
    log.write_text("", encoding="utf-8")
    assert w.cli("plan", "tenants", "--json").code in (0, 3)
    expected = {"firm-0": ["preview", "stack history"], "firm-1": ["preview", "stack history"]}
    assert _commands_by_stack(log, ["firm-0", "firm-1"]) == expected, log.read_text(encoding="utf-8")
    # The settings the tool does not own are as `stack init` left them.
    for n in range(2):
        after = yaml.safe_load(w.stack_settings(f"firm-{n}").read_text(encoding="utf-8"))
        assert after["encryptionsalt"] == settings[n]["encryptionsalt"]


def test_apply_with_changes_on_a_stack_that_exists_costs_the_preview_and_the_update(
    world: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = [FakeTenant(str(uuid.UUID(int=0x1A1_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(2)]
    w = world(
        tenants,
        {f"firm-{n}": f"tenant:\n  id: {t.tenant_id}\nconsent:\n  mode: organization\n" for n, t in enumerate(tenants)},
    )
    stacks = [f"firm-{n}" for n in range(2)]
    log = tmp_path / "launches.log"
    monkeypatch.setenv("PATH", f"{counting_shim(tmp_path / 'shim', log)}{os.pathsep}{os.environ['PATH']}")

    # A new stack: the preview fails at the stack lookup ("no stack named"), `stack init`, the preview again.
    assert w.cli("plan", "tenants").code == 0
    assert _commands_by_stack(log, stacks) == {s: ["preview", f"stack init {s}", "preview"] for s in stacks}
    assert all(t.grants == {} for t in tenants)  # a plan writes nothing: the apply below has changes

    log.write_text("", encoding="utf-8")
    run = w.cli("apply", "--yes", "tenants", "--json")
    assert run.code == 0, run.output
    assert {t["tenant"]: t["result"] for t in run.document["tenants"]} == dict.fromkeys(stacks, "applied")
    assert all(len(t.grants) == 1 for t in tenants)  # the update really ran
    # The preview and the update; none of `stack select`, `stack output`, `stack history`.
    assert _commands_by_stack(log, stacks) == {s: ["preview", "up"] for s in stacks}
    launches = log.read_text(encoding="utf-8").splitlines()
    assert len(launches) == 2 * 2 + 1 and sum(_command(line) == "version" for line in launches) == 1, launches


def test_offboard_of_a_tenant_never_applied_creates_no_stack(
    world: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = FakeTenant(str(uuid.UUID(int=0x1A2_0000_0000_4000_8000_0000_0000_0000)))
    w = world([tenant], {"firm-0": f"tenant:\n  id: {tenant.tenant_id}\nconsent:\n  mode: organization\n"})
    log = tmp_path / "launches.log"
    monkeypatch.setenv("PATH", f"{counting_shim(tmp_path / 'shim', log)}{os.pathsep}{os.environ['PATH']}")

    run = w.cli("offboard", "--yes", "tenants")

    assert run.code == 0, run.output
    assert "firm-0: warning: no stack for this tenant in this backend" in run.stderr
    # The removal preview fails at the stack lookup; no `stack init`, so the backend holds no stack for it.
    assert _commands_by_stack(log, ["firm-0"]) == {"firm-0": ["destroy"]}, log.read_text(encoding="utf-8")
    assert "firm-0" not in w.pulumi("stack", "ls", "--json").stdout
