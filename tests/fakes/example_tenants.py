"""Fake tenants holding the people and groups that ``examples/tenants/*.yaml`` name, as Entra would."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from taxcalc_consent.infra.model.profiles import EXAMPLES_CLIENT_ID
from tests.fakes.entra import FakeTenant
from tests.fakes.ids import HUB_CLIENT_ID

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants"

PUBLISHED_APPS = {HUB_CLIENT_ID: "TaxCalc-Hub"}
"""TaxCalc-Hub is multi-tenant and registered in TaxCalc's own tenant: any tenant may instantiate it."""

SHARED_MAILBOX_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def contoso() -> FakeTenant:
    tenant = FakeTenant("6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b")
    tenant.add_user("partner@contoso.co.uk")
    return tenant


def fabrikam(tenant_id: str = "0f8fad5b-d9cb-469f-a165-70867728950e") -> FakeTenant:
    """Fabrikam's people and groups; ``tenant_id`` lets a test's own tenant file point at them."""
    tenant = FakeTenant(tenant_id)
    alice = tenant.add_user("alice.smith@fabrikam.com", "Alice Smith")
    bob = tenant.add_user("bob.jones@fabrikam.com", "Bob Jones")
    tenant.add_user("mailbox@fabrikam.com", "Shared mailbox", object_id=SHARED_MAILBOX_ID)
    carol = tenant.add_user("carol.white@fabrikam.com", "Carol White")
    dave = tenant.add_user("dave.nested@fabrikam.com", "Dave (only in a nested group)")
    nested = tenant.add_group("Partners", [dave.id])
    scanner = tenant.add_service_principal("1b4f8a6e-0000-4000-8000-00000000beef", "Scanner app")
    # Mixed membership: a user also listed by name, a user only here, a nested group, a service principal.
    tenant.add_group("TaxCalc Mailboxes", [alice.id, carol.id, nested.id, scanner.id])
    tenant.add_user("eve.unlisted@fabrikam.com")
    assert bob.id != alice.id
    return tenant


def lab() -> FakeTenant:
    tenant = FakeTenant("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    tenant.add_user("tester@msplab.onmicrosoft.com", "Tester")
    return tenant


def northwind() -> FakeTenant:
    tenant = FakeTenant("9d3c2b1a-8e7f-4a6b-9c5d-1e2f3a4b5c6d")
    tenant.add_user("dana.lee@northwind.co.uk", "Dana Lee")
    tenant.add_user("front.desk@northwind.co.uk", "Front desk mailbox")
    tenant.add_user("it.admin@northwind.co.uk", "IT administrator")
    tenant.add_user("new.starter@northwind.co.uk", "Not listed in the file")
    return tenant


EXAMPLE_TENANTS: dict[str, Callable[[], FakeTenant]] = {
    "contoso": contoso,
    "fabrikam": fabrikam,
    "lab": lab,
    "northwind": northwind,
}


def copy_examples(destination: Path) -> Path:
    """examples/tenants copied to ``destination`` (which must not exist), as an MSP would start a repository
    from them, with TaxCalc-Hub's test id in place of the placeholder, which the tool refuses outside the
    bundled folder. Returns ``destination``."""
    shutil.copytree(EXAMPLES, destination)
    (destination / "_defaults.yaml").write_text(examples_defaults(), encoding="utf-8")
    return destination


def examples_defaults() -> str:
    """examples/tenants/_defaults.yaml's text with TaxCalc-Hub's test id in place of the placeholder."""
    text = (EXAMPLES / "_defaults.yaml").read_text(encoding="utf-8")
    assert EXAMPLES_CLIENT_ID in text, "examples/tenants/_defaults.yaml no longer carries the placeholder"
    return text.replace(EXAMPLES_CLIENT_ID, HUB_CLIENT_ID)
