"""Many tenant files are checked in several processes (cli/fleet/pipeline.py): the outcome is the same, to the byte,
as checking them one after another, problems and their order included."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.fleet import pipeline
from taxcalc_consent.cli.main import app

runner = CliRunner()
_REAL_CHECK_PART = pipeline._check_part
PARENT = os.getpid()
SEEN = Path("parts.log")
"""Where each part check notes its process; the fixture points it into the test's own folder."""


def recording_part(files: Sequence[str], today: date, keep: Any) -> Any:
    """The real part check, noting which process ran it (module level: a forked process is told it by name)."""
    with SEEN.open("a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {len(files)}\n")
    return _REAL_CHECK_PART(files, today, keep)


def dying_part(files: Sequence[str], today: date, keep: Any) -> Any:
    """A forked process that dies (killed for memory, say) before answering."""
    if os.getpid() != PARENT:
        os._exit(3)
    return _REAL_CHECK_PART(files, today, keep)


def _fleet(folder: Path, count: int) -> None:
    for index in range(count):
        if index % 2:
            consent = "consent:\n  mode: organization\n"
        else:
            consent = (
                f"consent:\n  mode: users\n  users: [user{index}@firm{index}.example.com]\n  groups: [Mailboxes]\n"
            )
        (folder / f"firm-{index:02d}.yaml").write_text(f"tenant:\n  id: {uuid.UUID(int=index + 1)}\n{consent}", "utf-8")


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def in_parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``in_parts(True)``: 3 files per process, on a machine of 4 CPUs; ``in_parts(False)``: one process."""
    monkeypatch.setattr(sys.modules[__name__], "SEEN", tmp_path / "parts.log")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(pipeline, "_check_part", recording_part)

    return lambda parallel: monkeypatch.setattr(pipeline, "PARALLEL_FILES_PER_PROCESS", 3 if parallel else 10**9)


def _parts_seen() -> list[tuple[int, int]]:
    lines = SEEN.read_text(encoding="utf-8").split() if SEEN.exists() else []
    return [(int(pid), int(count)) for pid, count in zip(lines[::2], lines[1::2], strict=True)]


@pytest.mark.parametrize(
    "command", [["validate"], ["validate", "--json"], ["plan", "--offline", "--json"], ["plan", "--offline"]]
)
def test_a_fleet_checked_in_several_processes_says_exactly_what_one_process_says(
    tenants_dir: Path, in_parts: Any, command: list[str]
) -> None:
    _fleet(tenants_dir, 14)
    in_parts(False)
    alone = _run(*command, str(tenants_dir))
    assert alone[0] == 0, alone
    assert {pid for pid, _ in _parts_seen()} == {PARENT}
    SEEN.unlink()

    in_parts(True)
    shared = _run(*command, str(tenants_dir))

    assert shared == alone
    seen = _parts_seen()
    if command[:2] == ["plan", "--offline"] and "--json" not in command:
        assert seen == [(PARENT, 14)]  # human tables need the plans themselves: checked here
    else:
        # min(4 CPUs, 14 // 3) = 4 parts of 4, 4, 4 and 2 files; the first here, the others in three forked
        # processes (one that finishes early may take another part).
        assert sorted(count for _, count in seen) == [2, 4, 4, 4]
        assert [count for pid, count in seen if pid == PARENT] == [4]
        assert len({pid for pid, _ in seen}) >= 2


def test_problems_found_in_different_processes_come_out_whole_and_in_file_order(
    tenants_dir: Path, in_parts: Any
) -> None:
    _fleet(tenants_dir, 14)
    # Every part reads the folder's defaults, and finds their problem: said once, where it is first met.
    with (tenants_dir / "_defaults.yaml").open("a", encoding="utf-8") as defaults:
        defaults.write("consent:\n  users: [someone@firm.example.com]\n")
    duplicate = (tenants_dir / "firm-01.yaml").read_text(encoding="utf-8")
    (tenants_dir / "firm-13.yaml").write_text(duplicate, encoding="utf-8")  # the same tenant id, another part
    (tenants_dir / "firm-07.yaml").write_text("tenant:\n  id: nope\nconsent:\n  mode: users\n", "utf-8")
    in_parts(False)
    alone = _run("validate", "--json", str(tenants_dir))
    in_parts(True)
    shared = _run("validate", "--json", str(tenants_dir))

    assert shared == alone
    assert alone[0] == 2
    stderr = alone[2]
    assert stderr.count("_defaults.yaml:4:3: consent.users: users belong to one client's directory") == 1
    assert "firm-07.yaml:2:3: tenant.id: expected a GUID" in stderr
    assert f"firm-13.yaml:2:3: tenant.id: tenant id is also used by {tenants_dir}/firm-01.yaml:2" in stderr
    assert stderr.index("firm-07.yaml") < stderr.index("firm-13.yaml")


def test_a_process_that_dies_has_its_part_checked_here(
    tenants_dir: Path, in_parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet(tenants_dir, 14)
    in_parts(False)
    alone = _run("plan", "--offline", "--json", str(tenants_dir))
    in_parts(True)
    monkeypatch.setattr(pipeline, "_check_part", dying_part)
    assert _run("plan", "--offline", "--json", str(tenants_dir)) == alone
