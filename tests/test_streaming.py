"""Loading a fleet holds one tenant file's model at a time: each tenant is planned and let go before the
next file is read, so memory and the garbage collector's walks stay flat as the fleet grows."""

from __future__ import annotations

import io
import sys
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.fleet import pipeline
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.errors import SpecError
from taxcalc_consent.infra.model.loader import LoadedTenant, iter_tenants
from tests.conftest import CLIENT_ID, no_notices

runner = CliRunner()


def _fleet(folder: Path, count: int) -> None:
    for index in range(count):
        body = f"tenant:\n  id: {uuid.UUID(int=index + 1)}\nconsent:\n  mode: organization\n"
        (folder / f"firm-{index}.yaml").write_text(body, encoding="utf-8")


def test_the_loader_keeps_no_tenant_it_has_yielded(tenants_dir: Path) -> None:
    _fleet(tenants_dir, 4)
    gone: list[weakref.ref[LoadedTenant]] = []
    for tenant in iter_tenants([tenants_dir]):
        assert all(ref() is None for ref in gone), "an earlier tenant is still held by the loader"
        gone.append(weakref.ref(tenant))
        del tenant
    assert len(gone) == 4


def _watched(gone: list[weakref.ref[LoadedTenant]], tenants: Iterator[LoadedTenant]) -> Iterator[LoadedTenant]:
    """The real loader, checking before each tenant that the earlier ones have been let go (all but the one
    just planned, which the caller's loop variable still names until the next arrives)."""
    for tenant in tenants:
        assert all(ref() is None for ref in gone[:-1]), "earlier tenants' models are still held after planning"
        gone.append(weakref.ref(tenant))
        yield tenant


@pytest.mark.parametrize("load", [pipeline.load_plans, pipeline.load_checked, pipeline.load_encoded_plans])
def test_planning_lets_each_tenant_go_before_reading_the_next(
    tenants_dir: Path, monkeypatch: pytest.MonkeyPatch, load: object
) -> None:
    _fleet(tenants_dir, 4)
    gone: list[weakref.ref[LoadedTenant]] = []
    check_files = pipeline.check_files
    monkeypatch.setattr(pipeline, "check_files", lambda *args: _watched(gone, check_files(*args)))
    results = load([tenants_dir], notify=no_notices)  # type: ignore[operator]
    assert len(results) == 4 and len(gone) == 4


def test_a_problem_in_the_last_file_still_fails_the_whole_load(tenants_dir: Path) -> None:
    """Tenants before it were planned as they came; none of that is returned."""
    _fleet(tenants_dir, 3)
    (tenants_dir / "zz-last.yaml").write_text("tenant:\n  id: nope\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        pipeline.load_plans([tenants_dir], notify=no_notices)
    assert [p.file for p in caught.value.problems] == [str(tenants_dir / "zz-last.yaml")] * 2


def test_duplicates_across_files_are_found_while_streaming(tenants_dir: Path) -> None:
    _fleet(tenants_dir, 3)
    (tenants_dir / "Firm-0.yaml").write_text((tenants_dir / "firm-2.yaml").read_text("utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tenants_dir)])
    assert result.exit_code == 2
    # Files are read in name order, Firm-0 first.
    first = f"{tenants_dir}/Firm-0.yaml:2"
    assert f"{tenants_dir}/firm-2.yaml:2:3: tenant.id: tenant id is also used by {first}; one file per tenant" in (
        result.stderr
    )
    assert f"short name 'firm-0' differs from 'Firm-0' ({tenants_dir}/Firm-0.yaml) only in case" in result.stderr
    assert "2 problem(s) in 2 file(s)" in result.stderr


def test_one_folder_named_two_ways_reads_its_defaults_once(tenants_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tenants_dir / "_defaults.yaml").write_text("app:\n  client_id: nope\n", encoding="utf-8")
    _fleet(tenants_dir, 2)
    monkeypatch.chdir(tenants_dir.parent)
    result = runner.invoke(app, ["validate", "tenants/firm-0.yaml", "./tenants/firm-1.yaml"])
    assert result.exit_code == 2
    assert result.stderr.count("app.client_id: expected a GUID") == 1, result.stderr
    assert CLIENT_ID not in result.stderr


def test_a_file_named_through_its_folder_and_directly_is_read_once(
    tenants_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet(tenants_dir, 2)
    monkeypatch.chdir(tenants_dir.parent)
    result = runner.invoke(app, ["validate", "./tenants/", "tenants/firm-1.yaml", str(tenants_dir / "firm-0.yaml")])
    assert result.exit_code == 0, result.output
    read = [line for line in result.stderr.splitlines() if line.startswith("ok  ")]
    assert read == ["ok  firm-0  (tenants/firm-0.yaml)", "ok  firm-1  (tenants/firm-1.yaml)"]
    assert "2 tenant file(s) valid" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_validate_at_a_terminal_colours_each_warning_and_off_one_writes_plain_lines(
    tenants_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from taxcalc_consent.cli.commands.validate import validate
    from taxcalc_consent.cli.ui import console

    _fleet(tenants_dir, 2)
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(console, "_console", Console(file=screen, force_terminal=True, color_system="standard"))
    assert validate(None, [tenants_dir]) == 0  # type: ignore[arg-type]
    shown = screen.getvalue()
    assert "\x1b[33m" in shown and "tenant-wide-consent" in shown  # the advisory warning, in yellow
    assert "ok  firm-0" in shown and "2 tenant file(s) valid, 2 advisory warning(s)" in shown

    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert validate(None, [tenants_dir]) == 0  # type: ignore[arg-type]
    assert "\x1b[" not in plain.getvalue()
    assert [line.split(":")[0] for line in plain.getvalue().splitlines()[:3]] == [
        f"ok  firm-0  ({tenants_dir}/firm-0.yaml)",
        f"  {tenants_dir}/firm-0.yaml",
        f"ok  firm-1  ({tenants_dir}/firm-1.yaml)",
    ]
