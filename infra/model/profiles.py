"""Built-in application profiles: which app a tenant file consents to, and its default scopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ConsentMode = Literal["organization", "users"]
"""organization: one AllPrincipals grant (tenant-wide admin consent); users: one Principal grant per user.
Here rather than in the tenant-file model so ``init``'s options need not import pydantic to say it."""

AuthMethod = Literal["cli", "browser", "device-code", "client-secret", "oidc", "msi"]
"""How the tool signs in to a tenant (``auth.method``); here for the same reason. ``cli``, ``browser`` and
``device-code`` are an engineer's own sign-in (their GDAP access to a client); the others the automation identity's."""
EngineerMethod = Literal["cli", "browser", "device-code"]
"""An engineer's sign-in: the Azure CLI's account, or azure-identity's browser or device code sign-in (the
``AuthMethod`` values ``connect --sign-in`` takes)."""
INTERACTIVE_METHODS: tuple[AuthMethod, ...] = ("browser", "device-code")
"""The engineer signs in once, in their own (the MSP's) tenant, through azure-identity, and the tool's own Graph
calls get each client tenant's token from that sign-in. pulumi-azuread has no such way (it signs a user in
only through the Azure CLI), so the engine commands refuse them."""

WHERE_THE_CLIENT_ID_IS = (
    "Entra admin centre > Enterprise applications > TaxCalc-Hub > Application ID, in any tenant that uses it"
)
EXAMPLES_CLIENT_ID = "5a1e0000-7ac0-4c1c-9000-00000000c0de"
"""The placeholder the bundled examples (examples/tenants/_defaults.yaml) carry for TaxCalc-Hub's application id,
which is not published; refused anywhere else (``defaults.placeholder_client_id``)."""

CLIENT_ID_HELP = (
    "TaxCalc-Hub's application (client) id is not published: copy it from a tenant that already uses "
    "TaxCalc (Entra admin centre > Enterprise applications > TaxCalc-Hub > Application ID) into "
    "app.client_id, or once for every tenant into _defaults.yaml"
)


@dataclass(frozen=True)
class Profile:
    name: str
    display_name: str
    client_id: str | None
    scopes: tuple[str, ...]
    """What the app asks for at sign-in: grants must cover all of it or the consent screen returns."""


PROFILES: dict[str, Profile] = {
    "taxcalc-hub": Profile(
        name="taxcalc-hub",
        display_name="TaxCalc-Hub",
        client_id=None,
        scopes=("openid", "profile", "email", "offline_access", "User.Read", "Mail.Send"),
    ),
}
DEFAULT_PROFILE = "taxcalc-hub"
