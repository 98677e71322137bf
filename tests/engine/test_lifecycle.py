"""A tenant's life through the real engine: apply from nothing (register mode too), audit, apply again, drift
and repair (offboarding: test_adoption.py).

The example tenant files run against emulated tenants holding the people and groups they name; what
``apply`` prints and counts comes from the engine's own events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID
from tests.engine.conftest import WorldFactory
from tests.fakes.entra import DEFAULT_ROLE_ID
from tests.fakes.example_tenants import SHARED_MAILBOX_ID, contoso, fabrikam, lab

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants"
PROFILE_SCOPES = {"openid", "profile", "email", "offline_access", "User.Read", "Mail.Send"}


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


def test_the_examples_apply_from_nothing_then_audit_clean_and_nothing_is_left_to_do(world: WorldFactory) -> None:
    tenants = {"contoso": contoso(), "fabrikam": fabrikam(), "lab": lab()}
    w = world(list(tenants.values()), {name: example(name) for name in tenants})

    first = w.cli("apply", "tenants", "--yes", "--parallel", "3", "--json")

    assert first.code == 0, first.output
    # Counted from the engine's events: Entra objects only (no Stack, provider or component step).
    assert first.tenant("contoso")["changes"]["create"] == 2  # service principal, tenant-wide grant
    # fabrikam: service principal; grants for Alice, Bob, the shared mailbox and Carol (a group member);
    # assignments for Alice, Bob, the shared mailbox and the group.
    assert first.tenant("fabrikam")["changes"]["create"] == 9
    assert first.tenant("lab")["changes"]["create"] == 3  # app registration, service principal, Tester's grant
    assert all(t["result"] == "applied" for t in first.document["tenants"])
    # The policy pack ran inside the engine during the run: its advisory verdict on tenant-wide consent.
    assert any("policy tenant-wide-consent (advisory)" in w for w in first.tenant("contoso")["warnings"])
    kinds = {r["kind"] for t in first.document["tenants"] for r in t["resources"]}
    assert kinds <= {"service principal", "delegated permission grant", "access assignment", "app registration"}

    hub = tenants["contoso"].service_principal_by_app_id(CLIENT_ID)
    assert hub is not None
    (grant,) = [g for g in tenants["contoso"].grants.values() if g.client_id == hub.id]
    assert grant.consent_type == "AllPrincipals" and set(grant.scopes) == PROFILE_SCOPES
    f = tenants["fabrikam"]
    fabrikam_hub = f.service_principal_by_app_id(CLIENT_ID)
    assert fabrikam_hub is not None and fabrikam_hub.app_role_assignment_required
    users = {g.principal_id for g in f.grants.values() if g.client_id == fabrikam_hub.id}
    expected = {
        f.user(u).id for u in ("alice.smith@fabrikam.com", "bob.jones@fabrikam.com", "carol.white@fabrikam.com")
    }
    assert users == expected | {SHARED_MAILBOX_ID}
    assigned = {a.principal_id for a in f.app_role_assignments.values() if a.resource_id == fabrikam_hub.id}
    assert len(assigned) == 4 and all(
        a.app_role_id == DEFAULT_ROLE_ID for a in f.app_role_assignments.values() if a.resource_id == fabrikam_hub.id
    )
    # Register mode (lab): the multi-tenant registration asking for the file's scopes, its service principal
    # (of the new application id, which Entra assigned), and the tester's grant.
    lab_tenant = tenants["lab"]
    (registration,) = lab_tenant.applications.values()
    assert registration.display_name == "TaxCalc-Hub" and registration.sign_in_audience == "AzureADMultipleOrgs"
    assert registration.redirect_uris == ["https://login.microsoftonline.com/common/oauth2/nativeclient"]
    (graph_access,) = registration.required_resource_access
    wanted = {lab_tenant.graph.oauth2_permission_scopes[s] for s in PROFILE_SCOPES}
    assert {a["id"] for a in graph_access["resourceAccess"]} == wanted
    assert registration.owners == [], "the automation identity released its initial ownership"
    lab_hub = lab_tenant.service_principal_by_app_id(registration.app_id)
    assert lab_hub is not None
    tester = lab_tenant.user("tester@msplab.onmicrosoft.com")
    assert [g.principal_id for g in lab_tenant.grants.values() if g.client_id == lab_hub.id] == [tester.id]

    writes_before_reads = len(w.cloud.writes())
    # One run reads both tenants, each signed in for itself (one token per tenant, as Entra issues them).
    audit = w.cli("audit", "tenants/contoso.yaml", "tenants/fabrikam.yaml", "--json")
    assert audit.code == 0, audit.output
    assert [t["differences"] for t in audit.document["tenants"]] == [[], []]
    assert len(w.cloud.writes()) == writes_before_reads, "audit wrote to Graph"

    second = w.cli("apply", "tenants", "--yes", "--json")
    assert second.code == 0, second.output
    assert {t["result"] for t in second.document["tenants"]} == {"no-changes"}
    assert len(w.cloud.writes()) == writes_before_reads

    plan = w.cli("plan", "tenants", "--detailed-exitcode", "--json")
    assert plan.code == 0, plan.output


def test_a_scope_removed_by_hand_is_drift_in_entra_words_and_apply_restores_it(world: WorldFactory) -> None:
    tenant = contoso()
    w = world([tenant], {"contoso": example("contoso")})
    assert w.cli("apply", "tenants", "--yes").code == 0
    hub = tenant.service_principal_by_app_id(CLIENT_ID)
    assert hub is not None
    (grant,) = [g for g in tenant.grants.values() if g.client_id == hub.id]
    # An administrator removes Mail.Send in the portal (Enterprise applications > Permissions).
    tenant.update_grant(grant.id, " ".join(s for s in grant.scopes if s != "Mail.Send"))

    drift = w.cli("drift", "tenants", "--json")

    assert drift.code == 3, drift.output
    (change,) = drift.tenant("contoso")["resources"]
    assert change["kind"] == "delegated permission grant"
    assert "the tenant-wide grant lacks Mail.Send (removed outside the file)" in change["description"]
    assert "lacks Mail.Send" in drift.stderr

    repaired = w.cli("apply", "tenants", "--yes", "--json")
    assert repaired.code == 0, repaired.output
    assert repaired.tenant("contoso")["changes"] == {"create": 0, "update": 1, "delete": 0, "replace": 0, "import": 0}
    assert set(tenant.grants[grant.id].scopes) == PROFILE_SCOPES, "the same grant, its scope restored"
