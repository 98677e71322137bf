"""Consent given by hand, then taken over by the tool, through the real engine; and offboarding after it."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import CLIENT_ID
from tests.engine.conftest import WorldFactory
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import FakeTenant

pytestmark = pytest.mark.engine

PROFILE_SCOPES = set(scenarios.PROFILE_SCOPE.split())


def test_a_hand_made_grant_collides_until_adopt_then_apply_imports_it(world: WorldFactory) -> None:
    tenant = scenarios.contoso_hand_consented()
    by_hand = next(g for g in tenant.grants.values() if g.consent_type == "AllPrincipals")
    carol = next(g for g in tenant.grants.values() if g.consent_type == "Principal")
    w = world([tenant], {"contoso": scenarios.CONTOSO_FILE})

    # Without adopt the provider creates a second tenant-wide grant, and Graph refuses it (never retried).
    collided = w.cli("apply", "tenants", "--yes", "--json")
    assert collided.code == 1, collided.output
    assert "Permission entry already exists" in collided.tenant("contoso")["error"]

    writes = len(w.cloud.writes())
    adopted = w.cli("adopt", "tenants", "--json")
    assert adopted.code == 0, adopted.output
    assert len(w.cloud.writes()) == writes, "adopt wrote to Graph"
    settings = yaml.safe_load(w.stack_settings("contoso").read_text(encoding="utf-8"))
    assert by_hand.id in str(settings["config"]["taxcalc-consent:adopt"])

    applied = w.cli("apply", "tenants", "--yes", "--json")

    assert applied.code == 0, applied.output
    ops = {(r["op"], r["kind"]) for r in applied.tenant("contoso")["resources"]}
    assert ("import", "delegated permission grant") in ops
    tenant_wide = [g for g in tenant.grants.values() if g.consent_type == "AllPrincipals"]
    assert [g.id for g in tenant_wide] == [by_hand.id], "imported, not duplicated"
    assert set(by_hand.scopes) == PROFILE_SCOPES, "the extra scope ticked by hand is gone"
    assert tenant.grants[carol.id].scope == "openid profile User.Read", "consent the file does not list is left"
    assert w.cli("plan", "tenants", "--detailed-exitcode").code == 0


def test_per_user_consent_given_by_hand_is_adopted_per_user(world: WorldFactory) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    alice = tenant.user("alice.smith@fabrikam.com")
    alice_grant = next(g for g in tenant.grants.values() if g.principal_id == alice.id)
    w = world([tenant], {"fabrikam": scenarios.FABRIKAM_FILE})

    assert w.cli("adopt", "tenants").code == 0
    applied = w.cli("apply", "tenants", "--yes", "--json")

    assert applied.code == 0, applied.output
    per_user = [g for g in tenant.grants.values() if g.consent_type == "Principal"]
    assert len({g.principal_id for g in per_user}) == len(per_user), "one grant per user"
    assert set(tenant.grants[alice_grant.id].scopes) == PROFILE_SCOPES
    counts = applied.tenant("fabrikam")["changes"]
    assert counts["import"] >= 3 and counts["delete"] == 0


def test_a_service_principal_that_predates_the_tool_survives_offboard(world: WorldFactory) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    existing = scenarios.add_taxcalc_hub(tenant)
    w = world([tenant], {"contoso": scenarios.CONTOSO_FILE})

    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 0, applied.output
    assert ("POST", "/servicePrincipals") not in [(r.method, r.path) for r in w.cloud.writes()], "adopted, not created"
    assert tenant.service_principal_by_app_id(CLIENT_ID) is existing
    assert [g.client_id for g in tenant.grants.values()] == [existing.id]

    offboarded = w.cli("offboard", "tenants", "--yes", "--json")

    assert offboarded.code == 0, offboarded.output
    assert tenant.service_principals.get(existing.id) is existing, "retained: it was there before the tool"
    assert tenant.grants == {}
    audit = w.cli("audit", "tenants", "--json")
    (report,) = audit.document["tenants"]
    assert report["service_principal"]["exists"] and report["grants"] == []
    assert audit.code == 3, "the file still asks for consent the tenant no longer holds"


def test_offboard_removes_per_user_grants_and_assignments(world: WorldFactory) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    w = world([tenant], {"fabrikam": scenarios.FABRIKAM_FILE})
    assert w.cli("adopt", "tenants").code == 0
    assert w.cli("apply", "tenants", "--yes").code == 0
    hub = tenant.service_principal_by_app_id(CLIENT_ID)
    assert hub is not None
    dave = tenant.user("dave@fabrikam.com")

    offboarded = w.cli("offboard", "tenants", "--yes", "--json")

    assert offboarded.code == 0, offboarded.output
    assert offboarded.tenant("fabrikam")["changes"]["delete"] >= 7
    left = [g for g in tenant.grants.values() if g.client_id == hub.id]
    # What the file never managed stays: Dave's own consent and assignment.
    assert [g.principal_id for g in left] == [dave.id]
    assigned = [a.principal_id for a in tenant.app_role_assignments.values() if a.resource_id == hub.id]
    assert assigned == [dave.id]
    audit = w.cli("audit", "tenants", "--json")
    (report,) = audit.document["tenants"]
    assert [g["principal"] for g in report["grants"]] == ["dave@fabrikam.com"]
