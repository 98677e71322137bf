"""Each tenant file is read and planned once per run: the plan, not the file's path, crosses into the engine.

Reads are counted in every Python process of a run: in this one (where ``taxcalc-consent`` runs) by an audit hook
on ``open`` (``os.open`` and ``open`` both raise it: https://docs.python.org/3/library/audit_events.html), and in
every process the engine starts (the policy pack, the provider plugins) by the same hook installed from a
``sitecustomize`` module first on their ``PYTHONPATH`` (https://docs.python.org/3/library/site.html), which
appends each read to a log. Plans are counted in this process, by wrapping ``build_plan`` wherever the tool's
modules hold it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taxcalc_consent.infra.model import plan as plan_module
from tests.conftest import CLIENT_ID
from tests.engine.conftest import WorldFactory
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, AUTOMATION_NAME, AUTOMATION_ROLES

pytestmark = pytest.mark.engine

SITECUSTOMIZE = """\
import os, sys

_WATCHED = os.environ.get("TAXCALC_CONSENT_TEST_READS_WATCHED", "")
_LOG = os.environ.get("TAXCALC_CONSENT_TEST_READS_LOG", "")


def _hook(event, args):
    if event != "open" or not _WATCHED or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(args[0])
    if path.endswith(".yaml") and os.path.abspath(path).startswith(_WATCHED):
        with open(_LOG, "a", encoding="utf-8") as out:  # not under the watched folder: not an event we log
            out.write(f"{os.getpid()} {os.path.abspath(path)} {' '.join(sys.argv)[:200]}\\n")


sys.addaudithook(_hook)
"""

_reads: list[str] | None = None
"""The tenant files opened in this process while a test records (None: not recording)."""
_watched = ""


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or _reads is None or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if path.endswith(".yaml") and path.startswith(_watched):
        _reads.append(path)


sys.addaudithook(_record_open)  # an audit hook cannot be removed: it records only while a test asks it to


@pytest.fixture
def counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Path], tuple[Counter[str], Counter[str]]]]:
    """``count(tenants_dir)``: start counting reads (every process) and plans (this one) of the files there; each
    call returns what was counted since the previous one."""
    global _reads, _watched
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "reads.log"
    log.touch()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("TAXCALC_CONSENT_TEST_READS_LOG", str(log))
    plans: Counter[str] = Counter()
    original = plan_module.build_plan

    def counting_build_plan(tenant: Any) -> plan_module.ConsentPlan:
        made = original(tenant)
        plans[os.path.abspath(made.file)] += 1
        return made

    for module in [m for name, m in sys.modules.items() if name.startswith("taxcalc_consent") and m is not None]:
        if getattr(module, "build_plan", None) is original:
            monkeypatch.setattr(module, "build_plan", counting_build_plan)

    def count(tenants_dir: Path) -> tuple[Counter[str], Counter[str]]:
        global _reads, _watched
        _watched = str(tenants_dir.resolve())
        monkeypatch.setenv("TAXCALC_CONSENT_TEST_READS_WATCHED", _watched)
        reads = Counter(_reads or [])
        for line in log.read_text(encoding="utf-8").splitlines():
            reads[line.split(" ")[1]] += 1
        _reads = []
        log.write_text("", encoding="utf-8")
        counted_plans = Counter(plans)
        plans.clear()
        return reads, counted_plans

    try:
        yield count
    finally:
        _reads, _watched = None, ""


def test_plan_and_apply_read_and_plan_each_tenant_file_once(
    world: WorldFactory, counted: Callable[[Path], tuple[Counter[str], Counter[str]]]
) -> None:
    tenants = [FakeTenant(str(uuid.UUID(int=0x1B0_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(2)]
    # The automation identity may write the user consent setting (docs/ci.md's least privilege for it).
    tenants[1].add_automation_identity(
        AUTOMATION_APP_ID, AUTOMATION_NAME, [*AUTOMATION_ROLES, "Policy.ReadWrite.Authorization"]
    )
    w = world(
        tenants,
        {
            # One tenant-wide, one that also manages a tenant-wide consent setting (the tool's dynamic provider).
            "firm-0": f"tenant:\n  id: {tenants[0].tenant_id}\nconsent:\n  mode: organization\n",
            "firm-1": (
                f"tenant:\n  id: {tenants[1].tenant_id}\nconsent:\n  mode: organization\n"
                "consent_settings:\n  user_consent: disabled\n"
            ),
        },
        defaults=f"app:\n  client_id: {CLIENT_ID}\npolicy:\n  consent_settings_in_tenant_files: [user_consent]\n",
    )
    files = [str((w.tenants_dir / f"firm-{n}.yaml").resolve()) for n in range(2)]
    counted(w.tenants_dir)  # start counting from here

    plan = w.cli("plan", "tenants")
    assert plan.code == 0 and "changes pending" in plan.output, plan.output
    reads, plans = counted(w.tenants_dir)
    assert {f: reads[f] for f in files} == dict.fromkeys(files, 1), reads
    assert {f: plans[f] for f in files} == dict.fromkeys(files, 1), plans

    apply = w.cli("apply", "--yes", "tenants")
    assert apply.code == 0, apply.output
    assert len(tenants[0].grants) == 1 and len(tenants[1].grants) == 1  # it went through the engine, both tenants
    reads, plans = counted(w.tenants_dir)
    assert {f: reads[f] for f in files} == dict.fromkeys(files, 1), reads
    assert {f: plans[f] for f in files} == dict.fromkeys(files, 1), plans
