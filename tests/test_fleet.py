"""plan / apply / drift / offboard over many tenants, at the Automation API seam.

The driver's stack factory is replaced by tests.fakes.pulumi_engine (state, config, locks and engine
events as the Automation API delivers them) over in-memory Entra tenants that enforce Graph's rules.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner, Result

from taxcalc_consent.cli.fleet import automation, engine_setup, fleet
from taxcalc_consent.cli.fleet.automation import Engine
from taxcalc_consent.cli.fleet.pipeline import select_shard
from taxcalc_consent.cli.main import app
from taxcalc_consent.cli.ui import fleet_display
from taxcalc_consent.cli.ui.options import Shard
from taxcalc_consent.infra.model.kinds import delegated_grant
from taxcalc_consent.infra.model.plan import ConsentPlan, Violation, plan_from_data
from tests.conftest import CLIENT_ID, ROOT
from tests.documents import parse_document
from tests.fakes.entra import FakeTenant
from tests.fakes.pulumi_engine import FakeBackend

PASSPHRASE = "correct-horse-battery-staple"
AUTOMATION_APP = "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"
AUTOMATION_SECRET = "fleet-tests-automation-secret-value"
SECRET = "Xy7Q~abcdefghijklmnopqrstuvwxyz0123456"

TENANT_IDS = {
    "contoso": "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "fabrikam": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "northwind": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "tailspin": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
}
ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"


def organization(name: str, extra: str = "") -> str:
    return f"tenant:\n  id: {TENANT_IDS[name]}\nconsent:\n  mode: organization\n{extra}"


FABRIKAM = (
    f"tenant:\n  id: {TENANT_IDS['fabrikam']}\n  name: Fabrikam Tax Partners\n  domain: fabrikam.com\n"
    "consent:\n  mode: users\n  users:\n    - alice@fabrikam.com\n  groups:\n    - Mailboxes\n"
    "access:\n  assignment_required: true\n  groups:\n    - Mailboxes\n"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(root))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "TENANT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    # Every tenant needs a way to sign in before its engine run starts (infra.signin): the automation app's
    # client secret, in the azuread provider's own variables.
    monkeypatch.setenv("ARM_CLIENT_ID", AUTOMATION_APP)
    monkeypatch.setenv("ARM_CLIENT_SECRET", AUTOMATION_SECRET)
    return root


@pytest.fixture
def tenants(tenants_dir: Path) -> Path:
    (tenants_dir / "contoso.yaml").write_text(organization("contoso"), encoding="utf-8")
    (tenants_dir / "fabrikam.yaml").write_text(FABRIKAM, encoding="utf-8")
    return tenants_dir


def entra(name: str) -> FakeTenant:
    tenant = FakeTenant(TENANT_IDS[name])
    if name == "fabrikam":
        tenant.add_user("alice@fabrikam.com", object_id=ALICE)
        tenant.add_user("bob@fabrikam.com", object_id=BOB)
        tenant.add_group("Mailboxes", members=[ALICE, BOB])
    return tenant


@pytest.fixture
def backend(project: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    fake = FakeBackend(project, {name: entra(name) for name in TENANT_IDS})
    monkeypatch.setattr(automation, "connect", lambda settings: Engine(settings, fake.factory))
    return fake


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def report_of(result: Result) -> dict[str, object]:
    document = parse_document(result.stdout)
    assert isinstance(document, dict)
    return document


def by_tenant(document: dict[str, object]) -> dict[str, dict[str, object]]:
    tenants = document["tenants"]
    assert isinstance(tenants, list)
    return {t["tenant"]: t for t in tenants}


# ------------------------------------------------------------------------------------------- plan


def test_plan_previews_every_tenant_in_entra_terms(tenants: Path, backend: FakeBackend, project: Path) -> None:
    result = invoke("plan", str(tenants))
    assert result.exit_code == 0, result.output
    err = result.stderr
    scopes = "Mail.Send User.Read email offline_access openid profile"
    assert f"+ grant every user (AllPrincipals, tenant-wide admin consent): {scopes}" in err
    assert f"+ grant user {ALICE} (Principal): {scopes}" in err and f"+ grant user {BOB} (Principal)" in err
    assert "+ create TaxCalc-Hub's service principal (enterprise application; assignment not required)" in err
    group = backend.tenants["fabrikam"].group("Mailboxes").id
    assert f"+ assign group {group} to TaxCalc-Hub" in err
    assert "contoso: previewing" in err  # plain progress lines when stderr is not a terminal
    assert result.stdout == ""
    previews = [(stack, kwargs) for stack, method, kwargs in backend.calls if method == "preview"]
    assert sorted(stack for stack, _ in previews) == ["contoso", "fabrikam"]
    assert all(kwargs["policy_packs"] == [str(engine_setup.policy_pack_dir())] for _, kwargs in previews)
    assert "up" not in backend.methods("contoso")
    config = backend.config("contoso")
    assert config["taxcalc-consent:tenantFile"] == str((tenants / "contoso.yaml").resolve())
    assert config["azuread:tenantId"] == TENANT_IDS["contoso"]
    assert backend.tenants["contoso"].grants == {}  # a preview writes nothing


def test_every_preview_and_update_gets_the_tenants_policy_levels(tenants: Path, backend: FakeBackend) -> None:
    # A level set in _defaults.yaml must reach the pack too: the engine fixes levels when it loads it.
    defaults = (tenants / "_defaults.yaml").read_text(encoding="utf-8")
    (tenants / "_defaults.yaml").write_text(
        defaults + "policy:\n  enforcement:\n    tenant-wide-consent: disabled\n    offline-access: mandatory\n",
        encoding="utf-8",
    )
    assert invoke("apply", "--yes", str(tenants / "contoso.yaml")).exit_code == 0
    calls = [(m, kwargs) for stack, m, kwargs in backend.calls if stack == "contoso" and m in ("preview", "up")]
    assert [m for m, _ in calls] == ["preview", "up"]
    for _, kwargs in calls:
        (document,) = kwargs["policy_pack_config_documents"]
        assert document["tenant-wide-consent"]["enforcementLevel"] == "disabled"
        assert document["offline-access"]["enforcementLevel"] == "mandatory"
        assert document["allowed-scopes"]["enforcementLevel"] == "mandatory"  # untouched: its default
        # The pack judges the plan the driver made, handed over as data; no path to read the file again.
        assert "tenantFile" not in document["allowed-scopes"]
        handed = plan_from_data(document["allowed-scopes"]["plan"])
        assert handed.file == str(tenants / "contoso.yaml")
        assert handed.policy.enforcement["offline-access"] == "mandatory"
        # The file lived only as long as the engine call.
        assert not Path(kwargs["policy_pack_configs"][0]).exists()


def test_plan_detailed_exitcode_is_3_with_changes_and_0_without(tenants: Path, backend: FakeBackend) -> None:
    assert invoke("plan", "--detailed-exitcode", str(tenants)).exit_code == 3
    assert invoke("apply", "--yes", str(tenants)).exit_code == 0
    result = invoke("plan", "--detailed-exitcode", "--json", str(tenants))
    assert result.exit_code == 0, result.output
    assert {t["result"] for t in by_tenant(report_of(result)).values()} == {"no-changes"}


def test_plan_offline_still_needs_no_engine(tenants: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    result = invoke("plan", "--offline", "--json", str(tenants))
    assert result.exit_code == 0, result.output
    assert parse_document(result.stdout)["format"] == "taxcalc-consent/plan@1"


# ------------------------------------------------------------------------------------------ apply


def test_apply_makes_the_tenants_match_and_reports_per_resource(tenants: Path, backend: FakeBackend) -> None:
    result = invoke("apply", "--yes", "--json", str(tenants))
    assert result.exit_code == 0, result.output
    contoso, fabrikam = backend.tenants["contoso"], backend.tenants["fabrikam"]
    (grant,) = contoso.grants.values()
    assert grant.consent_type == "AllPrincipals"
    assert grant.scopes == ["Mail.Send", "User.Read", "email", "offline_access", "openid", "profile"]
    assert {g.principal_id for g in fabrikam.grants.values()} == {ALICE, BOB}
    sp = fabrikam.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None and sp.app_role_assignment_required
    report = by_tenant(report_of(result))
    assert report["fabrikam"]["result"] == "applied"
    assert report["fabrikam"]["changes"] == {"create": 4, "update": 0, "delete": 0, "replace": 0, "import": 0}
    resources = report["fabrikam"]["resources"]
    assert isinstance(resources, list)
    assert {r["status"] for r in resources} == {"done"}
    assert {"op": "create", "kind": "delegated permission grant", "name": delegated_grant.user_name(ALICE)}.items() <= (
        next(r for r in resources if r["name"] == delegated_grant.user_name(ALICE)).items()
    )


def test_apply_without_yes_and_without_a_terminal_refuses_before_anything_runs(
    tenants: Path, backend: FakeBackend
) -> None:
    result = invoke("apply", str(tenants))
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert backend.calls == []


def test_apply_asks_at_a_terminal_and_declining_changes_nothing(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_display, "is_interactive", lambda: True)
    declined = invoke("apply", str(tenants), input="n\n")
    assert declined.exit_code == 3, declined.output
    assert "Apply 6 change(s) to 2 tenant(s)?" in declined.stderr
    assert "up" not in backend.methods("contoso") and backend.tenants["contoso"].grants == {}
    accepted = invoke("apply", str(tenants / "contoso.yaml"), input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert backend.methods("contoso").count("up") == 1 and len(backend.tenants["contoso"].grants) == 1


def test_parallel_run_isolates_a_failing_and_a_locked_tenant(
    tenants: Path, backend: FakeBackend, tmp_path: Path
) -> None:
    # northwind names a user its tenant does not have: the program fails there, as it would in Entra.
    (tenants / "northwind.yaml").write_text(
        f"tenant:\n  id: {TENANT_IDS['northwind']}\nconsent:\n  mode: users\n  users:\n    - ghost@northwind.com\n",
        encoding="utf-8",
    )
    (tenants / "tailspin.yaml").write_text(organization("tailspin"), encoding="utf-8")
    backend.locked.add("tailspin")
    report_file = tmp_path / "report.json"
    result = invoke("apply", "--yes", "--parallel", "3", "--json", "--report", str(report_file), str(tenants))
    assert result.exit_code == 1, result.output
    document = report_of(result)
    assert json.loads(report_file.read_text(encoding="utf-8")) == document
    report = by_tenant(document)
    assert {name: t["result"] for name, t in report.items()} == {
        "contoso": "applied",
        "fabrikam": "applied",
        "northwind": "failed",
        "tailspin": "locked",
    }
    # The program's own words (the fake engine runs the real program): which user, which tenant, what to do.
    assert "no user with user principal name 'ghost@northwind.com'" in str(report["northwind"]["error"])
    assert "locked by another run" in str(report["tailspin"]["error"])
    assert len(backend.tenants["contoso"].grants) == 1 and backend.tenants["tailspin"].grants == {}
    assert "locked by another run" in result.stderr
    assert document["exit_code"] == 1
    assert document["summary"] == {"tenants": 4, "results": {"applied": 2, "failed": 1, "locked": 1}}
    # Names beside the stem and the id: the client's name and domain as its file gives them.
    assert (report["fabrikam"]["tenant_id"], report["fabrikam"]["name"], report["fabrikam"]["domain"]) == (
        TENANT_IDS["fabrikam"],
        "Fabrikam Tax Partners",
        "fabrikam.com",
    )
    assert (report["contoso"]["name"], report["contoso"]["domain"]) == (None, None)
    assert set(report["contoso"]) == {
        "tenant",
        "file",
        "tenant_id",
        "name",
        "domain",
        "stack",
        "ring",
        "result",
        "changes",
        "resources",
        "error",
        "differences",
        "note",
        "warnings",
        "attempts",
        "duration_seconds",
    }


def hand_consented(tenant: FakeTenant) -> None:
    """Tenant-wide consent granted by hand and not adopted: creating the grant again is Graph's 409
    "Permission entry already exists" (the failure ``adopt`` exists to prevent)."""
    hub = tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub")
    tenant.create_grant(hub.id, "AllPrincipals", None, tenant.graph.id, "openid profile")


def test_other_failures_are_not_retried(tenants: Path, backend: FakeBackend) -> None:
    # The grant fails for a reason that is not replication lag.
    hand_consented(backend.tenants["contoso"])
    result = invoke("apply", "--yes", "--json", str(tenants / "contoso.yaml"))
    assert result.exit_code == 1
    (contoso,) = report_of(result)["tenants"]  # type: ignore[misc]
    assert contoso["result"] == "failed" and "Request_MultipleObjectsWithSameKeyValue" in contoso["error"]
    assert backend.methods("contoso").count("up") == 1


GHOST = "no user with user principal name 'ghost@northwind.com'"


def without_escapes(screen: io.StringIO) -> str:
    """What a terminal shows, without its colours and cursor moves."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())


@pytest.mark.parametrize("terminal", [False, True], ids=["plain-lines", "live-display"])
@pytest.mark.parametrize("operation", ["plan", "apply", "drift"])
def test_a_failed_tenant_says_its_error_once_after_the_phase(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch, operation: str, terminal: bool
) -> None:
    # northwind names a user its tenant lacks (the program fails there); tailspin's stack is locked.
    (tenants / "northwind.yaml").write_text(
        f"tenant:\n  id: {TENANT_IDS['northwind']}\nconsent:\n  mode: users\n  users:\n    - ghost@northwind.com\n",
        encoding="utf-8",
    )
    (tenants / "tailspin.yaml").write_text(organization("tailspin"), encoding="utf-8")
    backend.locked.add("tailspin")
    screen = io.StringIO()
    if terminal:
        monkeypatch.setattr(fleet_display, "err", Console(file=screen, force_terminal=True, width=400))
    result = invoke(operation, *(["--yes"] if operation == "apply" else []), "--json", str(tenants))
    assert result.exit_code == 1, result.output
    shown = without_escapes(screen) if terminal else result.stderr
    assert shown.count(GHOST) == 1, shown
    assert shown.count("stack tailspin is locked by another run") == 1, shown
    # Said with the tenant's name, below the changes and above the summary table.
    notes = shown.index(f"northwind: failed: Program failed with an unhandled exception: {tenants}")
    assert notes < shown.index(f"{operation}: 4 tenant(s)")
    if not terminal:
        assert re.search(r"^northwind: failed \(\d+\.\ds\)$", shown, re.MULTILINE), shown
    # The run@1 document keeps every error in full.
    report = by_tenant(report_of(result))
    assert GHOST in str(report["northwind"]["error"])
    assert "locked by another run" in str(report["tailspin"]["error"])


@pytest.mark.parametrize("terminal", [False, True], ids=["plain-lines", "live-display"])
def test_a_tenant_failing_on_apply_after_its_preview_says_its_error_once(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    hand_consented(backend.tenants["contoso"])
    screen = io.StringIO()
    if terminal:
        monkeypatch.setattr(fleet_display, "err", Console(file=screen, force_terminal=True, width=400))
    result = invoke("apply", "--yes", str(tenants / "contoso.yaml"))
    assert result.exit_code == 1, result.output
    shown = without_escapes(screen) if terminal else result.stderr
    assert shown.count("Request_MultipleObjectsWithSameKeyValue") == 1, shown
    assert shown.index("contoso: failed: ") < shown.index("apply: 1 tenant(s)")


# ------------------------------------------------------------------------------------------ drift


def test_drift_names_each_difference_and_exits_3(tenants: Path, backend: FakeBackend) -> None:
    assert invoke("apply", "--yes", str(tenants)).exit_code == 0
    in_sync = invoke("drift", str(tenants))
    assert in_sync.exit_code == 0, in_sync.output
    contoso, fabrikam = backend.tenants["contoso"], backend.tenants["fabrikam"]
    (grant,) = contoso.grants.values()
    contoso.update_grant(grant.id, grant.scope + " Mail.ReadWrite")  # a scope added by hand in the portal
    bob_grant = next(g for g in fabrikam.grants.values() if g.principal_id == BOB)
    fabrikam.delete_grant(bob_grant.id)  # a grant deleted by hand
    result = invoke("drift", "--json", str(tenants))
    assert result.exit_code == 3, result.output
    assert "the tenant-wide grant holds Mail.ReadWrite, not in the file (added outside the file)" in result.stderr
    assert f"the grant for user {BOB} (Principal) is missing from the tenant (deleted outside the file)" in (
        result.stderr
    )
    results = {name: t["result"] for name, t in by_tenant(report_of(result)).items()}
    assert results == {"contoso": "drift", "fabrikam": "drift"}
    previews = [kw for s, m, kw in backend.calls if m == "preview"]
    assert len(previews) == 6 and all(kw.get("refresh") for kw in previews), "every preview compares with the tenant"
    assert "Mail.ReadWrite" in contoso.grants[grant.id].scope  # drift only looks


# --------------------------------------------------------------------------------------- offboard


def test_offboard_previews_without_yes_then_removes_grants_and_keeps_the_service_principal(
    tenants: Path, backend: FakeBackend
) -> None:
    assert invoke("apply", "--yes", str(tenants)).exit_code == 0
    preview = invoke("offboard", str(tenants / "fabrikam.yaml"))
    assert preview.exit_code == 3, preview.output
    assert "run again with --yes" in preview.stderr
    assert "destroy" not in backend.methods("fabrikam")
    fabrikam = backend.tenants["fabrikam"]
    assert len(fabrikam.grants) == 2
    result = invoke("offboard", "--yes", str(tenants / "fabrikam.yaml"))
    assert result.exit_code == 0, result.output
    assert "release TaxCalc-Hub's service principal from the stack; it stays in the tenant" in result.stderr
    assert "service principal is retained" in result.stderr
    assert f"revoke the grant for user {ALICE} (Principal)" in result.stderr
    assert fabrikam.grants == {} and fabrikam.app_role_assignments == {}
    assert fabrikam.service_principal_by_app_id(CLIENT_ID) is not None
    assert len(backend.tenants["contoso"].grants) == 1


# ---------------------------------------------------------------------------------------- shards


def test_shards_partition_the_tenants_stably_and_evenly() -> None:
    plans = [_plan(name) for name in ("delta", "alpha", "echo", "charlie", "bravo")]
    shards = [select_shard(plans, Shard(k, 3)) for k in (1, 2, 3)]
    names = [sorted(p.tenant for p in shard) for shard in shards]
    assert names == [["alpha", "delta"], ["bravo", "echo"], ["charlie"]]
    assert select_shard(list(reversed(plans)), Shard(2, 3)) == list(reversed(shards[1]))


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3"])
def test_a_bad_shard_is_a_usage_error(tenants: Path, backend: FakeBackend, shard: str) -> None:
    result = invoke("plan", "--shard", shard, str(tenants))
    assert result.exit_code == 2
    assert "--shard" in result.stderr and "Traceback" not in result.output
    assert backend.calls == []


def test_a_shard_runs_only_its_tenants(tenants: Path, backend: FakeBackend) -> None:
    result = invoke("plan", "--shard", "2/2", "--json", str(tenants))
    assert result.exit_code == 0, result.output
    document = report_of(result)
    assert document["shard"] == "2/2"
    assert list(by_tenant(document)) == ["fabrikam"]
    assert {stack for stack, _, _ in backend.calls} == {"fabrikam"}


def _plan(name: str) -> ConsentPlan:
    from taxcalc_consent.infra.model.plan import AppPlan, ServicePrincipalPlan

    return ConsentPlan(
        tenant=name,
        file=f"{name}.yaml",
        tenant_id=TENANT_IDS["contoso"],
        app=AppPlan("taxcalc-hub", "TaxCalc-Hub", CLIENT_ID, False),
        service_principal=ServicePrincipalPlan(False),
        grants=(),
        group_grants=(),
        app_role_assignments=(),
        assignments=(),
    )


# ------------------------------------------------------------------------- refusals before running


def test_a_mandatory_policy_violation_stops_every_command(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fleet.load_plans

    def with_violation(paths: object, **given: Any) -> list[ConsentPlan]:
        plans = real(paths, **given)  # type: ignore[arg-type]
        violation = Violation("no-application-permissions", "mandatory", "remove consent.app_roles")
        return [replace(plans[0], violations=(violation,)), *plans[1:]]

    monkeypatch.setattr(fleet, "load_plans", with_violation)
    bad_report = invoke("apply", "--yes", "--report", str(tenants / "no" / "report.json"), str(tenants))
    assert bad_report.exit_code == 2 and "does not exist" in bad_report.stderr
    for command in (["plan"], ["apply", "--yes"], ["drift"], ["offboard", "--yes"]):
        result = invoke(*command, str(tenants))
        assert result.exit_code == 2, (command, result.output)
        assert "no-application-permissions: remove consent.app_roles" in result.stderr
    assert backend.calls == []


def test_a_violation_the_policy_pack_finds_on_preview_is_exit_2(tenants: Path, backend: FakeBackend) -> None:
    backend.policy_denials["fabrikam"] = "Mail.ReadWrite is not on the allow-list: remove it from consent.scopes"
    result = invoke("apply", "--yes", "--json", str(tenants))
    assert result.exit_code == 2, result.output
    report = by_tenant(report_of(result))
    assert report["fabrikam"]["result"] == "policy-violation"
    assert "policy allowed-scopes (mandatory): Mail.ReadWrite is not on the allow-list" in str(
        report["fabrikam"]["error"]
    )
    assert report["contoso"]["result"] == "applied"
    assert "up" not in backend.methods("fabrikam") and backend.tenants["fabrikam"].grants == {}


def test_advisory_violations_are_shown_and_do_not_stop_the_run(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fleet.load_plans

    def with_advisory(paths: object, **given: Any) -> list[ConsentPlan]:
        violation = Violation("prefer-principal-grants", "advisory", "consider per-mailbox consent")
        return [replace(plan, violations=(violation,)) for plan in real(paths, **given)]  # type: ignore[arg-type]

    monkeypatch.setattr(fleet, "load_plans", with_advisory)
    result = invoke("plan", str(tenants))
    assert result.exit_code == 0, result.output
    assert "advisory prefer-principal-grants: consider per-mailbox consent" in result.stderr
    assert backend.methods("contoso").count("preview") == 1


def test_an_invalid_tenant_file_stops_the_run(tenants: Path, backend: FakeBackend) -> None:
    (tenants / "broken.yaml").write_text("tenant:\n  id: not-a-guid\nconsent:\n  mode: organization\n")
    result = invoke("apply", "--yes", str(tenants))
    assert result.exit_code == 2
    assert "broken.yaml:2" in result.stderr
    assert backend.calls == []


def test_a_missing_passphrase_is_an_error_not_a_prompt(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    result = invoke("plan", str(tenants))
    assert result.exit_code == 2
    assert "PULUMI_CONFIG_PASSPHRASE" in result.stderr and "never prompted" in result.stderr
    assert backend.calls == []


def test_backend_and_passphrase_file_reach_the_engine(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    passphrase_file = project / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(passphrase_file))
    default = engine_setup.resolve_settings(
        None, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase_file), "TAXCALC_CONSENT_ROOT": str(project)}
    )
    assert default.backend_url == f"file://{project / '.pulumi-state'}"
    assert not (project / ".pulumi-state").exists()  # created by connect(), only when something runs
    assert default.env_vars["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(passphrase_file)
    from_env = engine_setup.resolve_settings(
        None, {"PULUMI_BACKEND_URL": "azblob://state", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    )
    assert from_env.env_vars["PULUMI_BACKEND_URL"] == "azblob://state"
    cloud = engine_setup.resolve_settings("https://user:tok@api.pulumi.com", {})  # Pulumi Cloud: no passphrase
    assert cloud.backend_display == "https://api.pulumi.com"
    assert "PULUMI_CONFIG_PASSPHRASE" not in cloud.env_vars
    with pytest.raises(engine_setup.EngineSetupError, match=r"PULUMI_CONFIG_PASSPHRASE_FILE: cannot read .*nope"):
        engine_setup.resolve_settings("s3://bucket", {"PULUMI_CONFIG_PASSPHRASE_FILE": str(project / "nope")})


@pytest.mark.parametrize("kind", ["fifo", "folder", "too-large"])
def test_a_passphrase_file_that_is_no_passphrase_file_is_refused_not_waited_on(
    tenants: Path, project: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A named pipe there would hang the read (and the engine's); a folder or a huge file is no passphrase. Each is
    exit 2 before anything runs, naming the variable and the file."""
    import os

    path = project / "passphrase"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"x" * (engine_setup.PASSPHRASE_FILE_LIMIT + 1))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(path))
    result = invoke("plan", str(tenants))
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    expected = {
        "fifo": f"cannot read the passphrase from {path}: ",
        "folder": f"cannot read the passphrase from {path}: ",
        "too-large": f"{path} is larger than a passphrase file can be",
    }[kind]
    assert f"PULUMI_CONFIG_PASSPHRASE_FILE: {expected}" in said, said
    assert "Traceback" not in result.output


def test_a_missing_pulumi_cli_is_one_message_and_exit_1(
    tenants: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(project))  # a PATH with no `pulumi` on it
    result = invoke("plan", str(tenants))
    assert result.exit_code == 1
    assert "Pulumi CLI" in result.stderr and "plan --offline" in result.stderr
    assert "Traceback" not in result.output
    assert result.stderr.count("error:") == 1


# ------------------------------------------------------------------------------------------ secrets


def test_secrets_reach_only_the_engine_environment_never_output_report_or_config(
    tenants: Path, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANT_SECRET", SECRET)
    (tenants / "contoso.yaml").write_text(
        organization(
            "contoso",
            "auth:\n  method: client-secret\n  client_id: 7d2c9a8e-1f3b-4c5d-9e6f-0a1b2c3d4e5f\n"
            "  client_secret_env: TENANT_SECRET\n",
        ),
        encoding="utf-8",
    )
    # The tenant rejects the credentials and the provider echoes them back, as a careless provider might.
    hand_consented(backend.tenants["contoso"])
    real_write = backend.factory
    token = "pul-" + "3f9c0a7d1e5b2c8a" * 2 + "4d6e8f01"  # a Pulumi access token's shape (infra/model/errors.py)

    def leaky(stack_name: str, env_vars: dict[str, str]) -> object:
        stack = real_write(stack_name, env_vars)

        def echoing(original: Any) -> Any:
            def operation(**kwargs: object) -> object:
                on_event = kwargs["on_event"]
                from pulumi.automation import EngineEvent

                message = f"AADSTS7000215: Invalid client secret {SECRET} (passphrase {PASSPHRASE}; token {token})"
                on_event(EngineEvent.from_json({"diagnosticEvent": {"message": message, "severity": "error"}}))  # type: ignore[operator]
                return original(**kwargs)

            return operation

        # The tenant refuses these credentials already at the preview (the program's own Graph calls sign in
        # with them), so the careless echo comes there.
        stack.preview = echoing(stack.preview)  # type: ignore[method-assign]
        stack.up = echoing(stack.up)  # type: ignore[method-assign]
        return stack

    backend_factory = leaky
    monkeypatch.setattr(automation, "connect", lambda settings: Engine(settings, backend_factory))  # type: ignore[arg-type]
    report_file = tmp_path / "report.json"
    result = invoke("apply", "--yes", "--json", "--report", str(report_file), str(tenants / "contoso.yaml"))
    assert result.exit_code == 1, result.output
    for text in (result.stdout, result.stderr, report_file.read_text(encoding="utf-8")):
        assert SECRET not in text and PASSPHRASE not in text and token not in text
    assert "Invalid client secret [secret]" in result.stderr
    assert "token [redacted]" in result.stderr  # a secret the run never held, known by its shape
    # The secret, and how to sign in, reach this tenant's engine alone, as the provider's own variables.
    engine = backend.env["contoso"]
    assert engine["ARM_CLIENT_SECRET"] == SECRET
    assert engine["ARM_CLIENT_ID"] == "7d2c9a8e-1f3b-4c5d-9e6f-0a1b2c3d4e5f"
    assert (engine["ARM_USE_CLI"], engine["ARM_USE_OIDC"], engine["ARM_USE_MSI"]) == ("false", "false", "false")
    assert SECRET not in engine["TAXCALC_CONSENT_AUTH"] and "TENANT_SECRET" in engine["TAXCALC_CONSENT_AUTH"]
    assert SECRET not in backend.settings_file("contoso").read_text(encoding="utf-8")
    assert backend.config("contoso")["azuread:clientId"] == "7d2c9a8e-1f3b-4c5d-9e6f-0a1b2c3d4e5f"


def test_a_missing_secret_variable_stops_before_anything_runs(tenants: Path, backend: FakeBackend) -> None:
    (tenants / "contoso.yaml").write_text(
        organization("contoso", "auth:\n  method: client-secret\n  client_secret_env: TENANT_SECRET\n"),
        encoding="utf-8",
    )
    result = invoke("plan", str(tenants))
    assert result.exit_code == 2
    assert "TENANT_SECRET, which is not set" in result.stderr
    assert backend.calls == []


def test_stack_config_keeps_keys_it_does_not_own(tenants: Path, backend: FakeBackend) -> None:
    settings = backend.settings_file("contoso")
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        "secretsprovider: passphrase\nencryptionsalt: v1:c2FsdA==:v1:abc:def\nconfig:\n"
        "  taxcalc-consent:adopt:\n    graph-grant-user-former-mailbox: abc\n"
        '  azuread:useCli: "true"\n  other:setting: kept as is\n',
        encoding="utf-8",
    )
    (tenants / "contoso.yaml").write_text(organization("contoso", "auth:\n  method: oidc\n"), encoding="utf-8")
    assert invoke("plan", str(tenants / "contoso.yaml")).exit_code == 0
    document = yaml.safe_load(settings.read_text(encoding="utf-8"))
    assert document["secretsprovider"] == "passphrase"
    assert document["encryptionsalt"] == "v1:c2FsdA==:v1:abc:def"  # the passphrase still opens the stack
    config = document["config"]
    assert config["taxcalc-consent:adopt"] == {"graph-grant-user-former-mailbox": "abc"}
    assert config["other:setting"] == "kept as is"
    assert "azuread:useCli" not in config  # the file now says oidc
    assert config["azuread:useOidc"] == "true"  # a string, as `pulumi config set` writes it
    # A second run finds every key as it wants it and leaves the file alone.
    written = settings.stat().st_mtime_ns
    assert invoke("plan", str(tenants / "contoso.yaml")).exit_code == 0
    assert settings.stat().st_mtime_ns == written


def test_a_new_stack_keeps_the_salt_stack_init_wrote(tenants: Path, backend: FakeBackend) -> None:
    assert invoke("plan", str(tenants / "contoso.yaml")).exit_code == 0
    document = yaml.safe_load(backend.settings_file("contoso").read_text(encoding="utf-8"))
    assert document["encryptionsalt"].startswith("v1:")
    assert document["config"]["azuread:tenantId"] == TENANT_IDS["contoso"]


def test_a_stack_is_created_on_its_first_run_and_then_only_used(tenants: Path, backend: FakeBackend) -> None:
    # No `stack select`: the operation runs, and only the CLI's "no stack named" brings a `stack init` and a
    # second try of the same step.
    assert invoke("apply", "--yes", str(tenants / "contoso.yaml")).exit_code == 0
    assert backend.methods("contoso") == ["create", "preview", "up"]
    assert len(backend.tenants["contoso"].grants) == 1
    assert invoke("plan", str(tenants / "contoso.yaml")).exit_code == 0
    assert backend.methods("contoso") == ["create", "preview", "up", "preview"]


def test_a_stack_another_run_created_meanwhile_is_used(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = backend.create

    def created_by_another_run_first(stack_name: str) -> None:
        create(stack_name)  # the other run's `stack init` wins the race
        create(stack_name)  # this run's fails: StackAlreadyExistsError

    monkeypatch.setattr(backend, "create", created_by_another_run_first)
    result = invoke("plan", str(tenants / "contoso.yaml"))
    assert result.exit_code == 0, result.output
    assert backend.methods("contoso") == ["create", "preview"]
    assert backend.config("contoso")["azuread:tenantId"] == TENANT_IDS["contoso"]


def test_offboard_of_a_tenant_never_applied_creates_no_stack(tenants: Path, backend: FakeBackend) -> None:
    result = invoke("offboard", "--yes", str(tenants / "contoso.yaml"))
    assert result.exit_code == 0, result.output
    assert "contoso" not in backend.states and backend.methods("contoso") == []  # no `stack init`
    assert "contoso: warning: no stack for this tenant in this backend: nothing was applied to it" in result.stderr
    assert "nothing to remove" in result.stderr


# ------------------------------------------------------------------------------------------ imports


def test_importing_the_cli_does_not_import_pulumi() -> None:
    code = (
        "import sys, taxcalc_consent.cli.main; "
        "sys.exit(1 if any(m.split('.')[0] == 'pulumi' for m in sys.modules) else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=False)
    assert completed.returncode == 0, completed.stderr


def test_drift_on_a_stack_never_applied_says_so(tenants: Path, backend: FakeBackend) -> None:
    result = invoke("drift", str(tenants / "contoso.yaml"))
    assert result.exit_code == 3
    assert "never applied: grant every user (AllPrincipals" in result.stderr
    assert "outside the file" not in result.stderr


def test_a_terminal_gets_a_live_table_instead_of_lines(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(fleet_display, "err", Console(file=screen, force_terminal=True, width=120))
    result = invoke("plan", str(tenants))
    assert result.exit_code == 0, result.output
    shown = screen.getvalue()
    assert "contoso: previewing" not in shown
    assert "tenant" in shown and "state" in shown and "changes pending" in shown


def test_the_live_display_shows_running_tenants_and_a_summary_however_many_there_are() -> None:
    runs = [fleet.TenantRun(replace(_plan("contoso"), tenant=f"tenant{i:04d}")) for i in range(1000)]
    progress = fleet_display.Progress(runs, live=False)
    with progress:
        pass
    for run in runs[:10]:
        run.state = "previewing"
        progress.started(run)
    for run in runs[:6]:
        run.state = "no changes" if run is not runs[0] else "failed"
        progress.finished(run)
    screen = io.StringIO()
    frame = progress.renderable()
    Console(file=screen, force_terminal=True, width=120).print(frame)
    shown = screen.getvalue()
    assert "6/1000 done, 4 running, 990 queued: 1 failed, 5 no changes" in shown
    # A row per running tenant, none for the 996 others: a redraw costs the same at any fleet size.
    assert [f"tenant{i:04d}" in shown for i in range(11)] == [False] * 6 + [True] * 4 + [False]


def test_offboard_at_a_terminal_asks_first(
    tenants: Path, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("apply", "--yes", str(tenants / "contoso.yaml")).exit_code == 0
    monkeypatch.setattr(fleet_display, "is_interactive", lambda: True)
    result = invoke("offboard", str(tenants / "contoso.yaml"), input="y\n")
    assert result.exit_code == 0, result.output
    assert "Offboard 1 tenant(s), 2 removal(s)?" in result.stderr
    assert backend.tenants["contoso"].grants == {}
    assert backend.tenants["contoso"].service_principal_by_app_id(CLIENT_ID) is not None


@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_fleet_commands_say_where_they_write_and_warn_when_the_root_looks_wrong(
    command: str, tenants: Path, backend: FakeBackend, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stack settings go under the workspace root: adopt said where; plan, apply, drift and offboard said nothing,
    # so a run from inside tenants/ wrote tenants/stacks/ silently.
    extra = ["--yes"] if command == "apply" else []
    result = invoke(command, *extra, str(tenants))
    assert f"workspace root: {project.resolve()}" in result.stderr, result.stderr
    assert "none of these tenant files is under the workspace root" in result.stderr
    monkeypatch.setenv("TAXCALC_CONSENT_ROOT", str(tenants))
    inside = invoke(command, *extra, str(tenants))
    assert f"workspace root: {tenants.resolve()}" in inside.stderr, inside.stderr
    assert "is itself a tenants folder" in inside.stderr
