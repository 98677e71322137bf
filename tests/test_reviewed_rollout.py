"""apply exactly what was reviewed, ring by ring, resumable: at the Automation API seam.

The driver's stack factory is tests.fakes.pulumi_engine (state, history, locks and engine events as the
Automation API delivers them) over in-memory Entra tenants that enforce Graph's rules; the same behaviour
through the real engine is in tests/engine/test_rollout.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taxcalc_consent.cli.fleet import automation, fleet, review
from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.ui import fleet_display
from taxcalc_consent.infra.model.loader import load_tenants
from tests.conftest import ROOT
from tests.documents import check_document
from tests.fakes.pulumi_engine import FakeBackend
from tests.test_fleet import (
    ALICE,
    AUTOMATION_APP,
    AUTOMATION_SECRET,
    PASSPHRASE,
    TENANT_IDS,
    by_tenant,
    entra,
    invoke,
    organization,
    report_of,
)

ROLLOUT = """\
pause: 5m
rings:
  - name: canary
    tenants: [contoso]
  - name: early
    tenants: ["f*", northwind]
    max_failures: 1
  - name: rest
    tenants: ["*"]
"""


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """The fake engine behind the driver, in a workspace of its own (as tests/test_fleet.py sets it up)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(root))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARM_CLIENT_ID", AUTOMATION_APP)  # a way for every tenant to sign in (infra.signin)
    monkeypatch.setenv("ARM_CLIENT_SECRET", AUTOMATION_SECRET)
    fake = FakeBackend(root, {name: entra(name) for name in TENANT_IDS})
    monkeypatch.setattr(automation, "connect", lambda settings: Engine(settings, fake.factory))
    return fake


@pytest.fixture
def fleet_dir(tenants_dir: Path) -> Path:
    for name in ("contoso", "fabrikam", "northwind", "tailspin"):
        (tenants_dir / f"{name}.yaml").write_text(organization(name), encoding="utf-8")
    return tenants_dir


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pauses between rings, taken instantly."""
    taken: list[int] = []
    monkeypatch.setattr(fleet, "sleep", taken.append)
    return taken


def read(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    check_document(document)
    assert isinstance(document, dict)
    return document


def reviewed(folder: Path, tmp_path: Path, *paths: str) -> Path:
    out = tmp_path / "reviewed.json"
    result = invoke("plan", "--out", str(out), *(paths or (str(folder),)))
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------------------------------ reviewed plan


def load_tenant_id(path: Path) -> str:
    (tenant,) = load_tenants([path])
    return tenant.spec.tenant.id


def test_plan_out_records_what_was_reviewed(fleet_dir: Path, backend: FakeBackend, tmp_path: Path) -> None:
    invoke("apply", "--yes", str(fleet_dir / "tailspin.yaml"))
    document = read(reviewed(fleet_dir, tmp_path))

    assert document["format"] == "taxcalc-consent/review@1"
    assert document["tool_version"] == review.tool_version() != "unknown"
    contoso = by_tenant(document)["contoso"]
    assert contoso["result"] == "changes"
    # The client beside its stem: id, and the name and domain its file gives (none here).
    assert (contoso["tenant_id"], contoso["name"], contoso["domain"]) == (
        load_tenant_id(fleet_dir / "contoso.yaml"),
        None,
        None,
    )
    assert contoso["file_sha256"] == review.file_sha256(fleet_dir / "contoso.yaml")
    assert contoso["defaults_file"] == str(fleet_dir / "_defaults.yaml")
    assert contoso["defaults_sha256"] == review.file_sha256(fleet_dir / "_defaults.yaml")
    assert contoso["stack_last_update"] is None  # never updated
    ops = {(r["op"], r["kind"]) for r in contoso["resources"]}
    assert ops == {("create", "service principal"), ("create", "delegated permission grant")}
    assert all(r["description"] for r in contoso["resources"])
    tailspin = by_tenant(document)["tailspin"]
    assert tailspin["result"] == "no-changes"
    assert tailspin["stack_last_update"] == {
        "version": 0,
        "kind": "update",
        "result": "succeeded",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:00:00Z",
    }


def test_a_reviewed_plan_applies_as_is(fleet_dir: Path, backend: FakeBackend, tmp_path: Path) -> None:
    plan = reviewed(fleet_dir, tmp_path)

    result = invoke("apply", "--yes", "--plan", str(plan), "--json", str(fleet_dir))

    assert result.exit_code == 0, result.output
    document = report_of(result)
    assert document["reviewed_plan"] == str(plan)
    assert {t["result"] for t in by_tenant(document).values()} == {"applied"}
    assert all(len(backend.tenants[name].grants) == 1 for name in TENANT_IDS)


def test_a_tenant_edited_after_review_is_refused_and_the_others_apply(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path
) -> None:
    plan = reviewed(fleet_dir, tmp_path)
    # Tenant-wide consent narrowed to one mailbox after the review.
    (fleet_dir / "fabrikam.yaml").write_text(
        organization("fabrikam").replace("mode: organization", "mode: users\n  users: [alice@fabrikam.com]"),
        encoding="utf-8",
    )

    result = invoke("apply", "--yes", "--plan", str(plan), "--json", str(fleet_dir))

    assert result.exit_code == 1, result.output
    report = by_tenant(report_of(result))
    fabrikam = report["fabrikam"]
    assert fabrikam["result"] == "refused"
    assert f"{fleet_dir / 'fabrikam.yaml'} was edited after the review" in fabrikam["differences"]
    assert any(d.startswith(f"not reviewed: + grant user {ALICE} (Principal)") for d in fabrikam["differences"])
    assert any(d.startswith("reviewed but no longer planned: + grant every user") for d in fabrikam["differences"])
    assert "up" not in backend.methods("fabrikam") and backend.tenants["fabrikam"].grants == {}
    assert (
        f"fabrikam: refused: differs from its review in {plan} (3 difference(s)); nothing was written" in result.stderr
    )
    assert "was edited after the review" in result.stderr
    assert {report[n]["result"] for n in ("contoso", "northwind", "tailspin")} == {"applied"}


def test_a_tenant_changed_in_entra_after_review_is_refused(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path
) -> None:
    assert invoke("apply", "--yes", str(fleet_dir)).exit_code == 0
    plan = reviewed(fleet_dir, tmp_path)  # nothing to change anywhere
    contoso = backend.tenants["contoso"]
    (grant_id,) = contoso.grants
    contoso.delete_grant(grant_id)  # an administrator revokes the consent by hand

    result = invoke("apply", "--yes", "--plan", str(plan), "--json", str(fleet_dir))

    assert result.exit_code == 1, result.output
    report = by_tenant(report_of(result))
    assert report["contoso"]["result"] == "refused"
    (difference,) = report["contoso"]["differences"]
    assert difference.startswith("not reviewed: + grant every user (AllPrincipals")
    assert contoso.grants == {} and backend.methods("contoso").count("up") == 1  # only the first apply's
    assert {report[n]["result"] for n in ("fabrikam", "northwind", "tailspin")} == {"no-changes"}


def test_a_stack_moved_by_another_run_is_refused_but_changes_already_in_place_are_not(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path
) -> None:
    plan = reviewed(fleet_dir, tmp_path, str(fleet_dir / "contoso.yaml"), str(fleet_dir / "fabrikam.yaml"))
    # Another run applies contoso (the reviewed changes: nothing is left to write there) and fabrikam, whose
    # grant an administrator then removes again: its stack moved, and its changes are the same words again.
    assert invoke("apply", "--yes", str(fleet_dir / "contoso.yaml"), str(fleet_dir / "fabrikam.yaml")).exit_code == 0
    fabrikam = backend.tenants["fabrikam"]
    fabrikam.delete_grant(next(iter(fabrikam.grants)))

    result = invoke(
        "apply",
        "--yes",
        "--plan",
        str(plan),
        "--json",
        str(fleet_dir / "contoso.yaml"),
        str(fleet_dir / "fabrikam.yaml"),
    )

    assert result.exit_code == 1, result.output
    report = by_tenant(report_of(result))
    assert report["contoso"]["result"] == "no-changes"
    assert report["contoso"]["note"] == "its reviewed changes are in place already: nothing to write"
    assert report["fabrikam"]["result"] == "refused"
    moved = [d for d in report["fabrikam"]["differences"] if d.startswith("the stack moved")]
    assert moved == [
        "the stack moved: never updated when reviewed, now update started 2026-01-01T00:00:00Z (succeeded)"
    ]
    assert fabrikam.grants == {}


def test_a_tool_other_than_the_reviewing_one_is_refused(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = reviewed(fleet_dir, tmp_path, str(fleet_dir / "contoso.yaml"))
    reviewing = review.tool_version()
    monkeypatch.setattr(review, "tool_version", lambda: "9.9.9")
    monkeypatch.setattr(fleet, "tool_version", lambda: "9.9.9")

    result = invoke("apply", "--yes", "--plan", str(plan), "--json", str(fleet_dir / "contoso.yaml"))

    assert result.exit_code == 1
    contoso = by_tenant(report_of(result))["contoso"]
    assert contoso["result"] == "refused"
    assert contoso["differences"] == [f"the tool changed: reviewed with taxcalc-consent {reviewing}, this is 9.9.9"]
    assert backend.tenants["contoso"].grants == {}


def test_a_tenant_not_in_the_review_is_refused(fleet_dir: Path, backend: FakeBackend, tmp_path: Path) -> None:
    plan = reviewed(fleet_dir, tmp_path, str(fleet_dir / "contoso.yaml"))
    result = invoke("apply", "--yes", "--plan", str(plan), "--json", str(fleet_dir / "fabrikam.yaml"))
    assert result.exit_code == 1
    (difference,) = by_tenant(report_of(result))["fabrikam"]["differences"]
    assert difference.startswith(f"not in the reviewed plan {plan}")
    assert backend.tenants["fabrikam"].grants == {}


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{", "not JSON"),
        (
            '{"format": "taxcalc-consent/run@1"}',
            "format is 'taxcalc-consent/run@1', expected 'taxcalc-consent/review@1'",
        ),
        ('{"format": "taxcalc-consent/review@1", "tenants": []}', "problem(s)"),
    ],
)
def test_a_plan_that_is_not_a_review_is_exit_2_before_anything_runs(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, content: str, said: str
) -> None:
    plan = tmp_path / "reviewed.json"
    plan.write_text(content, encoding="utf-8")
    result = invoke("apply", "--yes", "--plan", str(plan), str(fleet_dir))
    assert result.exit_code == 2
    assert said in result.stderr and "Traceback" not in result.output
    assert backend.calls == []


def test_the_review_is_never_overwritten_by_the_report(fleet_dir: Path, backend: FakeBackend, tmp_path: Path) -> None:
    plan = reviewed(fleet_dir, tmp_path, str(fleet_dir / "contoso.yaml"))
    before = plan.read_bytes()
    result = invoke("apply", "--yes", "--plan", str(plan), "--out", str(plan), str(fleet_dir / "contoso.yaml"))
    assert result.exit_code == 2, result.output
    assert plan.read_bytes() == before and backend.tenants["contoso"].grants == {}


# -------------------------------------------------------------------------------------------- rings


def test_rings_stop_at_a_failing_canary_and_name_the_tenants_not_reached(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, pauses: list[int]
) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    backend.locked.add("contoso")  # the canary meets another run's lock: one failure, none allowed
    out = tmp_path / "run.json"

    result = invoke("apply", "--yes", "--out", str(out), str(fleet_dir))

    assert result.exit_code == 1, result.output
    document = read(out)
    report = by_tenant(document)
    assert report["contoso"]["result"] == "locked"
    for name in ("fabrikam", "northwind", "tailspin"):
        assert report[name]["result"] == "not-reached"
        assert report[name]["note"] == "not reached: ring canary stopped the run: 1 failure(s), 0 allowed"
        assert backend.methods(name) == [], "not even previewed"
    assert "ring canary stopped the run: 1 failure(s), 0 allowed; not reached: fabrikam, northwind, tailspin" in (
        result.stderr
    )
    assert [(r["name"], r["result"], r["failures"]) for r in document["rings"]] == [
        ("canary", "stopped", 1),
        ("early", "not-reached", 0),
        ("rest", "not-reached", 0),
    ]
    assert document["complete"] is True and document["exit_code"] == 1
    assert pauses == []


def test_rings_run_in_order_with_a_pause_and_a_ring_within_its_rule_goes_on(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, pauses: list[int]
) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    backend.locked.add("northwind")  # one failure in ring early, which allows one
    out = tmp_path / "run.json"

    result = invoke("apply", "--yes", "--out", str(out), str(fleet_dir))

    assert result.exit_code == 1, result.output  # a tenant failed, though every ring ran
    document = read(out)
    assert {t["tenant"]: (t["ring"], t["result"]) for t in document["tenants"]} == {
        "contoso": ("canary", "applied"),
        "fabrikam": ("early", "applied"),
        "northwind": ("early", "locked"),
        "tailspin": ("rest", "applied"),
    }
    assert [(r["name"], r["result"]) for r in document["rings"]] == [
        ("canary", "passed"),
        ("early", "passed"),
        ("rest", "passed"),
    ]
    assert pauses == [300, 300]
    order = [stack for stack, method, _ in backend.calls if method == "up"]
    assert order.index("contoso") < order.index("fabrikam") < order.index("tailspin")


def test_the_report_is_written_as_the_run_goes(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    out = tmp_path / "run.json"
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(fleet, "sleep", lambda seconds: seen.append(read(out)))

    result = invoke("apply", "--yes", "--out", str(out), str(fleet_dir))
    assert result.exit_code == 0, result.output

    during = seen[0]  # in the pause after the canary: what a run killed then leaves
    assert during["complete"] is False and during["exit_code"] is None
    assert {t["tenant"]: t["result"] for t in during["tenants"]} == {
        "contoso": "applied",
        "fabrikam": None,
        "northwind": None,
        "tailspin": None,
    }
    assert [r["result"] for r in during["rings"]] == ["passed", "queued", "queued"]


def test_at_a_terminal_each_ring_is_confirmed_and_declining_one_stops_the_run(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, pauses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    monkeypatch.setattr(fleet_display, "is_interactive", lambda: True)

    out = tmp_path / "run.json"
    result = invoke("apply", "--out", str(out), str(fleet_dir), input="y\nn\n")

    assert result.exit_code == 3, result.output  # changes left pending
    assert "in ring canary?" in result.stderr and "in ring early?" in result.stderr
    assert "in ring rest?" not in result.stderr
    assert {t["tenant"]: t["result"] for t in read(out)["tenants"]} == {
        "contoso": "applied",
        "fabrikam": "changes",
        "northwind": "changes",
        "tailspin": "not-reached",
    }
    assert "ring early's changes were not confirmed; not reached: tailspin" in result.stderr
    assert backend.methods("tailspin") == []


def test_one_ring_alone(fleet_dir: Path, backend: FakeBackend, pauses: list[int]) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    result = invoke("apply", "--yes", "--ring", "early", "--json", str(fleet_dir))
    assert result.exit_code == 0, result.output
    document = report_of(result)
    assert sorted(by_tenant(document)) == ["fabrikam", "northwind"]
    assert [(r["name"], r["tenants"], r["result"]) for r in document["rings"]] == [("early", 2, "passed")]
    assert backend.tenants["contoso"].grants == {} and pauses == []


def test_an_unknown_ring_and_a_tenant_in_no_ring_are_exit_2(fleet_dir: Path, backend: FakeBackend) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    unknown = invoke("apply", "--yes", "--ring", "earyl", str(fleet_dir))
    assert unknown.exit_code == 2 and "has no such ring; did you mean 'early'?" in unknown.stderr
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT.replace('tenants: ["*"]', "tenants: [tail*]"), encoding="utf-8")
    (fleet_dir / "zeta.yaml").write_text(organization("tailspin").replace("9b1deb4d", "9b1deb4e"), encoding="utf-8")
    orphan = invoke("apply", "--yes", str(fleet_dir))
    assert orphan.exit_code == 2
    assert f"{fleet_dir / '_rollout.yaml'}:2:1: rings: tenant zeta ({fleet_dir / 'zeta.yaml'}) is in no ring" in (
        orphan.stderr
    )
    assert backend.calls == []


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("rings: []\n", "1:1: rings: expected a list of rings"),
        ("rings:\n  - name: Canary\n    tenants: [a]\n", "2:5: rings[0].name: expected a ring name"),
        (
            "rings:\n  - name: a\n    tenants: [a]\n  - name: a\n    tenants: [b]\n",
            "4:5: rings[1].name: ring a is also",
        ),
        ("pause: 3 days\nrings:\n  - name: a\n    tenants: [a]\n", "1:1: pause: expected a pause such as 30s"),
        ("max_failure: 1\nrings:\n  - name: a\n    tenants: ['*']\n", "1:1: max_failure: unknown key; did you mean"),
        (
            "rings:\n  - name: a\n    tenants: ['*']\n    max_failures: -1\n",
            "4:5: rings[0].max_failures: expected a whole",
        ),
    ],
)
def test_a_rollout_file_mistake_is_located(fleet_dir: Path, backend: FakeBackend, text: str, said: str) -> None:
    (fleet_dir / "_rollout.yaml").write_text(text, encoding="utf-8")
    result = invoke("apply", "--yes", str(fleet_dir))
    assert result.exit_code == 2, result.output
    assert f"{fleet_dir / '_rollout.yaml'}:{said}" in result.stderr
    assert backend.calls == []


def test_plan_shows_each_tenants_ring(fleet_dir: Path, backend: FakeBackend) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    result = invoke("plan", "--json", str(fleet_dir))
    assert result.exit_code == 0
    assert {t["tenant"]: t["ring"] for t in report_of(result)["tenants"]} == {
        "contoso": "canary",
        "fabrikam": "early",
        "northwind": "early",
        "tailspin": "rest",
    }


# ------------------------------------------------------------------------------------------- resume


def test_resume_skips_what_a_stopped_run_applied(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path, pauses: list[int]
) -> None:
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    backend.locked.add("northwind")
    (fleet_dir / "_rollout.yaml").write_text(ROLLOUT.replace("max_failures: 1", "max_failures: 0"), encoding="utf-8")
    first = tmp_path / "run.json"
    assert invoke("apply", "--yes", "--out", str(first), str(fleet_dir)).exit_code == 1
    assert {t["tenant"]: t["result"] for t in read(first)["tenants"]}["tailspin"] == "not-reached"
    backend.locked.clear()  # the other run finished
    ups = {name: backend.methods(name).count("up") for name in TENANT_IDS}
    second = tmp_path / "resumed.json"

    result = invoke("apply", "--yes", "--resume", str(first), "--out", str(second), str(fleet_dir))

    assert result.exit_code == 0, result.output
    document = read(second)
    assert document["resumed_from"] == str(first)
    report = by_tenant(document)
    assert {n: report[n]["result"] for n in TENANT_IDS} == {
        "contoso": "skipped",
        "fabrikam": "skipped",
        "northwind": "applied",
        "tailspin": "applied",
    }
    assert str(report["contoso"]["note"]).startswith(
        f"applied in the run started {read(first)['started_at']} ({first})"
    )
    assert "2 tenant(s) already done there, skipped: contoso, fabrikam" in result.stderr
    # Nothing of what the first run finished ran again, not even a preview.
    assert backend.methods("contoso").count("up") == ups["contoso"] == 1
    assert backend.methods("contoso").count("preview") == 1
    # And a resumed run can itself be resumed: nothing is left.
    again = invoke("apply", "--yes", "--resume", str(second), "--json", str(fleet_dir))
    assert {t["result"] for t in report_of(again)["tenants"]} == {"skipped"}


def test_resume_refuses_another_operations_report_and_another_backend(
    fleet_dir: Path, backend: FakeBackend, tmp_path: Path
) -> None:
    drift = tmp_path / "drift.json"
    invoke("drift", "--out", str(drift), str(fleet_dir / "contoso.yaml"))
    result = invoke("apply", "--yes", "--resume", str(drift), str(fleet_dir))
    assert result.exit_code == 2 and "a report of drift, not of apply" in result.stderr
    first = tmp_path / "run.json"
    invoke("apply", "--yes", "--out", str(first), str(fleet_dir / "contoso.yaml"))
    elsewhere = invoke("apply", "--yes", "--resume", str(first), "--backend", "file:///elsewhere", str(fleet_dir))
    assert elsewhere.exit_code == 2 and "resume with the same --backend" in elsewhere.stderr


def test_a_file_the_tool_replaced_is_no_longer_an_input_whose_inode_a_report_could_be_given(tmp_path: Path) -> None:
    """Stack settings are read and then replaced while a run goes on; the inode the old file held is free for
    the next new file, such as the report's, which must not then be refused as "a file this run read"."""
    from taxcalc_consent.infra.model import files

    settings, report = tmp_path / "Pulumi.contoso.yaml", tmp_path / "run.json"
    settings.write_text("config: {}\n", encoding="utf-8")
    files.read_regular_file(settings, 1024)
    old = settings.stat()
    files.write_atomically(settings, "config: {a: b}\n")
    assert (old.st_dev, old.st_ino) not in files.files_read()
    files.write_atomically(report, "{}\n", inputs_protected=True)  # whatever inode it was given
    files.read_regular_file(report, 1024)
    with pytest.raises(files.ReadByThisRun):  # an input that still exists stays protected
        files.write_atomically(report, "{}\n", inputs_protected=True)
