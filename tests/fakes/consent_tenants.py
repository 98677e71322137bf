"""Tenants as MSP engineers find them, built on FakeTenant, for the audit and adopt tests (and docs/audit.md).

``deterministic_ids`` makes every object id predictable, so reports can be compared with golden files.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID
from tests.fakes import entra
from tests.fakes.entra import FakeTenant, ServicePrincipal

PROFILE_SCOPE = "openid profile email offline_access User.Read Mail.Send"

CONTOSO_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
FABRIKAM_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@contextmanager
def deterministic_ids(monkeypatch: pytest.MonkeyPatch, prefix: str = "0000") -> Iterator[None]:
    counter = itertools.count(1)
    monkeypatch.setattr(entra, "_new_id", lambda: f"{prefix}0000-0000-4000-8000-{next(counter):012d}")
    yield


def add_taxcalc_hub(tenant: FakeTenant, assignment_required: bool = False) -> ServicePrincipal:
    return tenant.add_service_principal(CLIENT_ID, "TaxCalc-Hub", app_role_assignment_required=assignment_required)


def tended_enterprise_app(tenant: FakeTenant, assignment_required: bool = False) -> ServicePrincipal:
    """TaxCalc-Hub's enterprise application after a first consent and an administrator's care in the admin centre:
    two owners, notes, a description, notification addresses, SAML settings, a login URL, an alternative name, an
    extra tag, and turned off (Enterprise applications > Properties: "Enabled for users to sign in?" No)."""
    sp = add_taxcalc_hub(tenant, assignment_required)
    sp.owners = [tenant.add_user(f"it.owner{n}@{tenant.tenant_id[:8]}.example", f"IT owner {n}").id for n in (1, 2)]
    sp.notes = "Approved by IT (change 4411); ask the service desk before changing."
    sp.description = "TaxCalc Communications Centre"
    sp.notification_email_addresses = ["it-alerts@example.com"]
    sp.saml_single_sign_on_settings = {"relayState": "https://portal.example.com/start"}
    sp.preferred_single_sign_on_mode = "saml"
    sp.login_url = "https://portal.example.com/login"
    sp.alternative_names = ["taxcalc-hub-legacy"]
    sp.tags = [entra.INTEGRATED_APP_TAG, "HideApp"]
    sp.account_enabled = False
    return sp


def enterprise_app_fields(sp: ServicePrincipal) -> dict[str, object]:
    """Everything an administrator may have set on the enterprise application, but assignment-required."""
    return {
        "owners": sorted(sp.owners),
        "notes": sp.notes,
        "description": sp.description,
        "notification_email_addresses": list(sp.notification_email_addresses),
        "saml_single_sign_on_settings": sp.saml_single_sign_on_settings,
        "preferred_single_sign_on_mode": sp.preferred_single_sign_on_mode,
        "login_url": sp.login_url,
        "alternative_names": list(sp.alternative_names),
        "tags": list(sp.tags),
        "account_enabled": sp.account_enabled,
    }


def contoso_hand_consented() -> FakeTenant:
    """Organisation-wide consent clicked through by an admin, with an extra scope ticked; one user also
    consented for herself before that."""
    tenant = FakeTenant(CONTOSO_ID)
    tenant.add_user("admin@contoso.co.uk", "Contoso Admin")
    carol = tenant.add_user("carol@contoso.co.uk", "Carol Evans")
    sp = add_taxcalc_hub(tenant)
    tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, PROFILE_SCOPE + " Mail.ReadWrite")
    tenant.create_grant(sp.id, "Principal", carol.id, tenant.graph.id, "openid profile User.Read")
    return tenant


def fabrikam_partly_consented() -> FakeTenant:
    """Per-mailbox consent: Alice consented by hand with too few scopes, Bob never did, a member of the
    TaxCalc Mailboxes group did; Dave (not in the file) consented; user consent is disabled."""
    tenant = FakeTenant(FABRIKAM_ID)
    alice = tenant.add_user("alice.smith@fabrikam.com", "Alice Smith")
    tenant.add_user("bob.jones@fabrikam.com", "Bob Jones")
    shared = tenant.add_user("mailbox@fabrikam.com", "Shared mailbox", object_id="7c9e6679-7425-40de-944b-e07fc1f90ae7")
    erin = tenant.add_user("erin@fabrikam.com", "Erin Walsh")
    dave = tenant.add_user("dave@fabrikam.com", "Dave Brown")
    group = tenant.add_group("TaxCalc Mailboxes", [erin.id])
    sp = add_taxcalc_hub(tenant, assignment_required=True)
    tenant.create_grant(sp.id, "Principal", alice.id, tenant.graph.id, "openid profile User.Read")
    tenant.create_grant(sp.id, "Principal", erin.id, tenant.graph.id, PROFILE_SCOPE)
    tenant.create_grant(sp.id, "Principal", shared.id, tenant.graph.id, PROFILE_SCOPE)
    tenant.create_grant(sp.id, "Principal", dave.id, tenant.graph.id, PROFILE_SCOPE)
    tenant.create_app_role_assignment(alice.id, sp.id, entra.DEFAULT_ROLE_ID)
    tenant.create_app_role_assignment(group.id, sp.id, entra.DEFAULT_ROLE_ID)
    tenant.create_app_role_assignment(dave.id, sp.id, entra.DEFAULT_ROLE_ID)
    tenant.authorization_policy.permission_grant_policies_assigned = [
        "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
    ]
    tenant.admin_consent_workflow_enabled = True
    return tenant


def write_tenant_file(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


CONTOSO_FILE = f"""tenant:
  id: {CONTOSO_ID}
  name: Contoso Accountants LLP
consent:
  mode: organization
"""

FABRIKAM_FILE = f"""tenant:
  id: {FABRIKAM_ID}
  name: Fabrikam Tax Partners
consent:
  mode: users
  users:
    - Alice.Smith@fabrikam.com
    - bob.jones@fabrikam.com
    - 7c9e6679-7425-40de-944b-e07fc1f90ae7
  groups:
    - TaxCalc Mailboxes
access:
  assignment_required: true
  users:
    - alice.smith@fabrikam.com
    - bob.jones@fabrikam.com
  groups:
    - TaxCalc Mailboxes
"""
