"""Many tenants through the real engine: failures stay with their tenant, locks, policy, counting, secrets."""

from __future__ import annotations

import json
import uuid
from importlib.metadata import version

import pytest
import yaml

from taxcalc_consent.cli.fleet.engine_setup import policy_pack_dir
from tests.conftest import CLIENT_ID
from tests.engine.conftest import WorldFactory
from tests.fakes.entra import FakeTenant
from tests.fakes.example_tenants import PUBLISHED_APPS

pytestmark = pytest.mark.engine


def organisation_file(tenant_id: str, extra: str = "") -> str:
    return f"tenant:\n  id: {tenant_id}\nconsent:\n  mode: organization\n{extra}"


def org_tenants(count: int) -> list[FakeTenant]:
    return [FakeTenant(str(uuid.UUID(int=0x7E57_0000_0000_4000_8000_0000_0000_0000 + n))) for n in range(count)]


def test_one_tenant_failing_leaves_three_others_applied_at_parallel_4(world: WorldFactory) -> None:
    tenants = org_tenants(3)
    files = {f"firm-{n}": organisation_file(t.tenant_id) for n, t in enumerate(tenants)}
    # A tenant id this cloud has never heard of (a typo in the file): sign-in fails for it alone.
    files["firm-typo"] = organisation_file("7e570000-0000-4000-8000-0000000000ff")
    w = world(tenants, files)

    run = w.cli("apply", "tenants", "--yes", "--parallel", "4", "--json")

    assert run.code == 1, run.output
    assert run.tenant("firm-typo")["result"] == "failed"
    assert "AADSTS90002" in run.tenant("firm-typo")["error"]
    for n, tenant in enumerate(tenants):
        assert run.tenant(f"firm-{n}")["result"] == "applied"
        assert len(tenant.grants) == 1
    assert run.document["summary"]["results"] == {"applied": 3, "failed": 1}


def test_a_stack_locked_by_another_run_is_reported_and_the_others_still_run(world: WorldFactory) -> None:
    free, busy = org_tenants(2)
    w = world([free, busy], {"free": organisation_file(free.tenant_id), "busy": organisation_file(busy.tenant_id)})
    # What a `pulumi up` running elsewhere leaves in a file backend (pkg/backend/diy/lock.go): one lock file.
    lock_dir = w.state_dir / ".pulumi" / "locks" / "organization" / "taxcalc-consent" / "busy"
    lock_dir.mkdir(parents=True)
    lock = {"pid": 4242, "username": "ci", "hostname": "runner-7", "timestamp": "2026-11-30T06:00:00Z"}
    (lock_dir / f"{uuid.uuid4()}.json").write_text(json.dumps(lock), encoding="utf-8")

    run = w.cli("apply", "tenants", "--yes", "--json")

    assert run.code == 1, run.output
    assert run.tenant("busy")["result"] == "locked"
    assert "locked by another run" in run.tenant("busy")["error"]
    assert busy.grants == {}
    assert run.tenant("free")["result"] == "applied" and len(free.grants) == 1


def test_a_replacement_counts_once_and_nothing_but_entra_objects_is_counted(world: WorldFactory) -> None:
    (tenant,) = org_tenants(1)
    real_client_id = "5a1e0000-7ac0-4c1c-9000-00000000beef"
    w = world(
        [tenant], {"firm": organisation_file(tenant.tenant_id)}, {**PUBLISHED_APPS, real_client_id: "TaxCalc-Hub"}
    )
    assert w.cli("apply", "tenants", "--yes").code == 0
    first = tenant.service_principal_by_app_id(CLIENT_ID)
    # The client id in _defaults.yaml is corrected to TaxCalc-Hub's real one.
    (w.tenants_dir / "_defaults.yaml").write_text(f"app:\n  client_id: {real_client_id}\n", encoding="utf-8")

    run = w.cli("apply", "tenants", "--yes", "--json")

    assert run.code == 0, run.output
    # The service principal (a new client id forces a new one) and its grant (a new client): replaced,
    # each counted once, though the engine reports a create-replacement and a delete-replaced step for each.
    assert run.tenant("firm")["changes"] == {"create": 0, "update": 0, "delete": 0, "replace": 2, "import": 0}
    assert {r["kind"] for r in run.tenant("firm")["resources"]} == {"service principal", "delegated permission grant"}
    hub = tenant.service_principal_by_app_id(real_client_id)
    assert hub is not None and [g.client_id for g in tenant.grants.values()] == [hub.id]
    assert first is not None and first.id in tenant.service_principals, "retain_on_delete"


def test_an_application_id_no_tenant_knows_fails_in_seconds_naming_it(world: WorldFactory) -> None:
    """Graph answers "does not reference a valid application object" for an application it does not know; for an
    application registered elsewhere nothing replicates here, so the tool's provider retries that for 20 s only
    (infra/program/service_principal_provider.py), not the 10 minutes of terraform-provider-azuread's create timeout."""
    (tenant,) = org_tenants(1)
    unknown = "5a1e0000-7ac0-4c1c-9000-0000000bad00"
    w = world([tenant], {"firm": organisation_file(tenant.tenant_id)}, defaults=f"app:\n  client_id: {unknown}\n")

    run = w.cli("apply", "tenants", "--yes", "--json")

    assert run.code == 1, run.output
    error = run.tenant("firm")["error"]
    assert f"Microsoft Graph knows no application {unknown} in tenant {tenant.tenant_id}" in error
    assert "check the application id app.client_id" in error
    posts = [r for r in w.cloud.writes() if (r.method, r.path) == ("POST", "/servicePrincipals")]
    assert len(posts) >= 2, "retried while Graph might still be replicating it"
    assert tenant.service_principal_by_app_id(unknown) is None
    assert "Traceback" not in run.output


def test_the_policy_pack_inside_the_engine_refuses_a_mandatory_violation(world: WorldFactory) -> None:
    (tenant,) = org_tenants(1)
    w = world([tenant], {"firm": organisation_file(tenant.tenant_id)})
    assert w.cli("apply", "tenants", "--yes").code == 0
    writes = len(w.cloud.writes())
    # Someone widens the file beyond the allowlist. The tool refuses before anything runs...
    scopes = "  scopes: [openid, profile, email, offline_access, User.Read, Mail.Send, Mail.Read]\n"
    w.write_tenant("firm", organisation_file(tenant.tenant_id, scopes))
    refused = w.cli("plan", "tenants")
    assert refused.code == 2 and "allowed-scopes" in refused.output
    # ...and a plain `pulumi preview` on the stack, which skips that check, meets the same rule in the engine.
    preview = w.pulumi("preview", "-s", "firm", "--policy-pack", str(policy_pack_dir()), "--non-interactive")

    said = preview.stdout + preview.stderr
    assert preview.returncode != 0, said
    assert "allowed-scopes" in said and "mandatory" in said and "Mail.Read" in said
    assert len(w.cloud.writes()) == writes and "Mail.Read" not in next(iter(tenant.grants.values())).scopes


def test_a_client_secret_reaches_the_provider_only_through_its_engine_never_the_state(
    world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tenant,) = org_tenants(1)
    auth = "auth:\n  method: client-secret\n  client_id: {client}\n  client_secret_env: FIRM_GRAPH_SECRET\n"
    w = world([tenant], {"firm": organisation_file(tenant.tenant_id)})
    w.write_tenant("firm", organisation_file(tenant.tenant_id, auth.format(client=w.cloud.automation.client_id)))
    monkeypatch.delenv("ARM_CLIENT_SECRET")
    monkeypatch.setenv("FIRM_GRAPH_SECRET", w.cloud.automation.client_secret)

    for command in (["apply", "tenants", "--yes", "--json"], ["drift", "tenants", "--json"], ["plan", "tenants"]):
        assert w.cli(*command).code == 0, command

    assert len(tenant.grants) == 1
    # The secret was in play (the tenant was applied with it) and the provider's state records no way of signing
    # in at all, not even encrypted: only the tenant id (the world fixture then checks that no state file, stack
    # setting or output holds the secret, nor the passphrase, in plain text).
    (state_file,) = (w.state_dir / ".pulumi" / "stacks").rglob("firm.json")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    provider = next(r for r in state["checkpoint"]["latest"]["resources"] if r["type"] == "pulumi:providers:azuread")
    recorded = {k: v for k, v in provider["inputs"].items() if not k.startswith("__")}
    assert recorded == {"tenantId": tenant.tenant_id, "version": version("pulumi_azuread")}  # the plugin's version
    settings = yaml.safe_load(w.stack_settings("firm").read_text(encoding="utf-8"))
    assert "azuread:clientSecret" not in settings["config"]
