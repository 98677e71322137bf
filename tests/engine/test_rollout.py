"""Apply exactly what was reviewed, ring by ring, resumable, with state in Azure Blob Storage: the real engine.

Each test runs the tool as a user (or a CI job) does, over the emulated cloud; runs that must overlap, or be
killed, are separate processes (``python -m taxcalc_consent.cli``) with the same environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.documents import check_document
from tests.engine import azurite
from tests.engine.conftest import World, WorldFactory
from tests.engine.test_fleet import org_tenants, organisation_file
from tests.fakes.azuread_provider.provider import TIMEOUT_ENV
from tests.fakes.graph_emulator import _TRANSIENT_ERRORS, GraphEmulator, _error

pytestmark = pytest.mark.engine

UNKNOWN_TENANT = "7e570000-0000-4000-8000-0000000000ff"
"""A tenant id the emulated cloud has never heard of: sign-in fails for it (AADSTS90002)."""


def read_document(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    check_document(document)
    assert isinstance(document, dict)
    return document


def results(document: Mapping[str, Any]) -> dict[str, Any]:
    return {t["tenant"]: t["result"] for t in document["tenants"]}


def spawn(w: World, *args: str, name: str) -> subprocess.Popen[str]:
    """``taxcalc-consent <args>`` in a process of its own (a second CI job, or one to kill), in its own
    session so that killing it takes its engine processes too; its output goes to ``<name>.log``."""
    with (w.root / f"{name}.log").open("w", encoding="utf-8") as log:  # the process keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "taxcalc_consent.cli", *args],
            cwd=w.root,
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def finished(w: World, process: subprocess.Popen[str], name: str, timeout: float = 900) -> tuple[int, str]:
    code = process.wait(timeout=timeout)
    said = (w.root / f"{name}.log").read_text(encoding="utf-8")
    w.assert_no_secret_in(said, f"the output of {name}")
    return code, said


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# ------------------------------------------------------------------------------------ reviewed plan


def test_a_reviewed_plan_applies_as_is_and_tenants_that_differ_are_refused_before_any_write(
    world: WorldFactory,
) -> None:
    steady, edited, drifted = org_tenants(3)
    files = {
        n: organisation_file(t.tenant_id)
        for n, t in zip(("steady", "edited", "drifted"), (steady, edited, drifted), strict=True)
    }
    w = world([steady, edited, drifted], files)
    assert w.cli("apply", "--yes", "tenants/drifted.yaml").code == 0  # in place before the review
    review = w.cli("plan", "--out", "reviewed.json", "tenants")
    assert review.code == 0, review.output
    reviewed = read_document(w.root / "reviewed.json")
    assert results(reviewed) == {"steady": "changes", "edited": "changes", "drifted": "no-changes"}
    last_update = next(t for t in reviewed["tenants"] if t["tenant"] == "drifted")["stack_last_update"]
    assert last_update["kind"] == "update" and last_update["result"] == "succeeded", last_update

    # After the review: edited's file asks for assignment; an administrator revokes drifted's consent by hand.
    w.write_tenant("edited", organisation_file(edited.tenant_id, "access:\n  assignment_required: true\n"))
    (grant_id,) = drifted.grants
    drifted.delete_grant(grant_id)
    writes = {t.tenant_id: len(w.cloud.writes(t.tenant_id)) for t in (edited, drifted)}

    run = w.cli("apply", "--yes", "--plan", "reviewed.json", "--json", "tenants")

    assert run.code == 1, run.output
    assert results(run.document) == {"steady": "applied", "edited": "refused", "drifted": "refused"}
    assert len(steady.grants) == 1
    edited_entry = run.tenant("edited")
    assert "tenants/edited.yaml was edited after the review" in edited_entry["differences"]
    assert any(d.startswith("not reviewed: ") for d in edited_entry["differences"]), edited_entry
    drifted_entry = run.tenant("drifted")
    assert [d.split(":")[0] for d in drifted_entry["differences"]] == ["not reviewed"], drifted_entry
    assert "grant every user (AllPrincipals" in drifted_entry["differences"][0]
    assert "tenants/edited.yaml was edited after the review" in run.stderr
    # Refused before any write: Graph saw reads (the previews' refresh) and nothing else.
    assert {t.tenant_id: len(w.cloud.writes(t.tenant_id)) for t in (edited, drifted)} == writes
    assert drifted.grants == {} and edited.grants == {}


# -------------------------------------------------------------------------------------------- rings


ROLLOUT = "pause: 10m\nrings:\n  - name: canary\n    tenants: [canary]\n  - name: rest\n    tenants: ['*']\n"


def test_rings_stop_at_a_failing_canary_and_name_the_tenants_not_reached(world: WorldFactory) -> None:
    later = org_tenants(2)
    files = {"canary": organisation_file(UNKNOWN_TENANT)}
    files.update({f"wave-{n}": organisation_file(t.tenant_id) for n, t in enumerate(later)})
    w = world(later, files)
    (w.tenants_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")

    run = w.cli("apply", "--yes", "--out", "run.json", "--json", "tenants")

    assert run.code == 1, run.output
    assert results(run.document) == {"canary": "failed", "wave-0": "not-reached", "wave-1": "not-reached"}
    assert "AADSTS90002" in run.tenant("canary")["error"]
    assert "ring canary stopped the run: 1 failure(s), 0 allowed; not reached: wave-0, wave-1" in run.stderr
    assert [(r["name"], r["result"]) for r in run.document["rings"]] == [("canary", "stopped"), ("rest", "not-reached")]
    assert read_document(w.root / "run.json") == run.document
    # The later ring was never started: not a read, not a write, no pause.
    assert all(w.cloud.tenants[t.tenant_id].requests == [] for t in later)
    assert "pausing" not in run.stderr


# ------------------------------------------------------------------------------------------- resume


def test_a_run_killed_midway_resumes_from_its_report_without_applying_again(world: WorldFactory) -> None:
    first, second, third = tenants = org_tenants(3)
    w = world(tenants, {n: organisation_file(t.tenant_id) for n, t in zip(("canary", "b", "c"), tenants, strict=True)})
    (w.tenants_dir / "_rollout.yaml").write_text(ROLLOUT, encoding="utf-8")
    report = w.root / "run.json"

    process = spawn(w, "apply", "--yes", "--out", str(report), "tenants", name="killed")
    # The canary ring is applied and the run waits ten minutes before the next: a cancelled CI job kills it.
    wait_for(lambda: report.exists() and read_document(report)["rings"][0]["result"] == "passed", "the canary ring")
    os.killpg(process.pid, signal.SIGKILL)
    code, said = finished(w, process, "killed")
    assert code == -signal.SIGKILL and "pausing 600s before ring rest" in said

    cut = read_document(report)
    assert cut["complete"] is False and cut["exit_code"] is None
    assert results(cut) == {"canary": "applied", "b": None, "c": None}
    requests_to_first = len(w.cloud.tenants[first.tenant_id].requests)

    run = w.cli("apply", "--yes", "--resume", str(report), "--out", "resumed.json", "--json", "tenants")

    assert run.code == 0, run.output
    assert results(run.document) == {"canary": "skipped", "b": "applied", "c": "applied"}
    assert run.document["resumed_from"] == str(report) and run.document["complete"] is True
    assert "1 tenant(s) already done there, skipped: canary" in run.stderr
    assert len(w.cloud.tenants[first.tenant_id].requests) == requests_to_first, "the canary was not run again"
    assert all(len(t.grants) == 1 for t in (first, second, third))
    assert "pausing" not in run.stderr  # the canary ring had nothing left to run


# ------------------------------------------------------------------------------------- shared state


@pytest.fixture(scope="session")
def azurite_blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azurite.Azurite]:
    """Azurite's blob service for the session, installed from the npm registry on first use."""
    executable = azurite.install()
    if isinstance(executable, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no Azurite: {executable}", pytrace=False)
        pytest.skip(f"no Azurite: {executable}")
    with azurite.serve(executable, tmp_path_factory.mktemp("azurite")) as service:
        yield service


@contextmanager
def throttled_grant_creation(emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Graph throttles this tenant's grant creations (429 with Retry-After: 1) until the event is set: the
    update stays in progress, holding its stack's lock, for as long as the test needs. Graph answers a
    throttled request so, and clients wait Retry-After and try again (https://learn.microsoft.com/graph/
    throttling); the test provider does, as go-retryablehttp does for terraform-provider-azuread."""
    released, met = threading.Event(), threading.Event()
    original = emulator.handle

    def handle(method: str, raw_url: str, body: bytes, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        if method == "POST" and "/oauth2PermissionGrants" in raw_url and not released.is_set():
            met.set()
            status, answer_headers, payload = _error(429, *_TRANSIENT_ERRORS[429])
            return status, {**answer_headers, "Retry-After": "1"}, payload
        return original(method, raw_url, body, *args, **kwargs)

    monkeypatch.setattr(emulator, "handle", handle)
    try:
        yield met
    finally:
        released.set()


def test_two_shards_at_once_on_azure_blob_storage_and_a_lock_met_is_named(
    world: WorldFactory, azurite_blob: azurite.Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = org_tenants(4)
    names = ("a", "b", "c", "d")  # sorted and dealt round robin: shard 1/2 is a and c, shard 2/2 b and d
    w = world(tenants, {n: organisation_file(t.tenant_id) for n, t in zip(names, tenants, strict=True)})
    container = f"state-{uuid.uuid4().hex[:12]}"
    azurite_blob.create_container(container)
    for name, value in {**azurite_blob.environment(), "PULUMI_BACKEND_URL": f"azblob://{container}"}.items():
        monkeypatch.setenv(name, value)
    w.secrets.add(azurite.KEY)
    monkeypatch.setenv(TIMEOUT_ENV, "600")  # the throttled grant is retried for as long as the test holds it
    first = tenants[0]

    with throttled_grant_creation(w.cloud.tenants[first.tenant_id], monkeypatch) as throttled:
        shards = [
            spawn(w, "apply", "--yes", "--shard", f"{k}/2", "--out", f"shard-{k}.json", "tenants", name=f"shard-{k}")
            for k in (1, 2)
        ]
        # Shard 1's update of tenant a is under way (its grant throttled), holding a's lock in the container.
        wait_for(throttled.is_set, "shard 1's update of tenant a")
        # (The other tenants' updates, in both shards, may be holding theirs too.)
        locks = [n for n in azurite_blob.blob_names(container, ".pulumi/locks/") if n.rsplit("/", 2)[-2] == "a"]
        assert len(locks) == 1, locks
        # A second run of a (another merge, a person at a terminal) meets the lock and names it.
        other = w.cli("apply", "--yes", "--json", "tenants/a.yaml")
    assert other.code == 1, other.output
    entry = other.tenant("a")
    assert entry["result"] == "locked"
    lock = f"azblob://{container}/{locks[0]}"
    assert lock in entry["error"] and "created by" in entry["error"], entry["error"]
    assert f"stack a is locked by another run ({lock}: created by" in other.stderr

    for k, process in enumerate(shards, start=1):
        code, said = finished(w, process, f"shard-{k}")
        assert code == 0, said
    assert results(read_document(w.root / "shard-1.json")) == {"a": "applied", "c": "applied"}
    assert results(read_document(w.root / "shard-2.json")) == {"b": "applied", "d": "applied"}

    # Nothing corrupted: no lock left, one state file per stack, each stack as its tenant is, nothing applied twice.
    assert azurite_blob.blob_names(container, ".pulumi/locks/") == []
    stacks = [n for n in azurite_blob.blob_names(container, ".pulumi/stacks/") if n.endswith(".json")]
    assert sorted(Path(n).name for n in stacks) == ["a.json", "b.json", "c.json", "d.json"]
    for name in stacks:
        state = json.loads(azurite_blob.read_blob(container, name))
        assert not state["checkpoint"]["latest"].get("pending_operations"), name
        w.assert_no_secret_in(json.dumps(state), f"azblob://{container}/{name}")
    drift = w.cli("drift", "--json", "tenants")
    assert drift.code == 0, drift.output
    assert set(results(drift.document).values()) == {"no-changes"}
    assert all(len(t.grants) == 1 for t in tenants)
    assert drift.document["backend"] == f"azblob://{container}"
