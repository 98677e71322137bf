"""Before any engine launch under an engineer's GDAP sign-in: may this engineer do what each tenant file asks?

An engineer signs in with the Azure CLI (``auth.method: cli``) and reaches a client's tenant through the MSP's
GDAP relationship with it. For each such tenant, before ``plan`` or ``apply`` starts its engine:
- the relationship the file records (``tenant.relationship``, written by ``discover``) must not have ended;
- the Azure CLI must give a token for the tenant (it gives none where no usable relationship reaches it);
- that token's directory roles (its ``wids`` claim: "the tenant-wide roles assigned to this user",
  https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference) must cover every row of the
  role table the file uses (``infra.model.role_table``).
A tenant that fails is refused, naming the missing role and the relationship; the others go on. A token that is
not a user's (a service principal signed in to the Azure CLI) holds application permissions instead, and is left
to Graph. The token asked for is the one the azuread provider asks for next (``az account get-access-token
--tenant``), so nothing extra reaches the client's tenant. Returns refusals; the fleet driver records them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from taxcalc_consent.infra.graph.client import (
    GRAPH_ENDPOINT_ENV,
    CredentialError,
    GraphError,
    graph_base_url,
    provider_endpoints,
    token_source,
)
from taxcalc_consent.infra.graph.transport import token_claims
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.role_table import missing_roles, needs


@dataclass(frozen=True)
class Refusal:
    tenant: str
    reason: str


def engineer_signs_in(plan: ConsentPlan) -> bool:
    """An engineer's sign-in: the Azure CLI, as ``auth.method: cli`` says (docs/onboarding.md)."""
    return plan.auth.method == "cli"


def check_access(plans: Sequence[ConsentPlan], environ: Mapping[str, str], today: date) -> list[Refusal]:
    """The tenants an engineer's GDAP sign-in may not run, each with why."""
    refusals: list[Refusal] = []
    chosen = [plan for plan in plans if engineer_signs_in(plan)]
    if not chosen:
        return refusals
    endpoints = provider_endpoints(environ)
    base = graph_base_url(endpoints, environ.get(GRAPH_ENDPOINT_ENV) or None)
    for plan in chosen:
        reason = _refusal(plan, environ, today, endpoints, base)
        if reason is not None:
            refusals.append(Refusal(plan.tenant, reason))
    return refusals


def _refusal(plan: ConsentPlan, environ: Mapping[str, str], today: date, endpoints: Any, base: str) -> str | None:
    relationship = plan.relationship
    through = f"GDAP relationship {relationship.id}" if relationship is not None else "no GDAP relationship recorded"
    if relationship is not None and relationship.ends is not None and relationship.ends <= today:
        return (
            f"refused before the engine ran: {through} ended {relationship.ends.isoformat()}: renew it with the "
            "client (Partner Center > Customers > Admin relationships), then run discover again"
        )
    try:
        token = token_source(plan.tenant_id, plan.auth, endpoints, base, environ)()
    except (GraphError, CredentialError) as exc:
        return f"refused before the engine ran: the Azure CLI gives no token for this tenant ({through}): {exc}"
    claims = token_claims(token)
    if claims.get("idtyp") != "user":
        return None
    held = [str(role) for role in claims.get("wids") or []]
    missing = missing_roles(needs(plan), held)
    if not missing:
        return None
    lacking = "; ".join(f"{role.name} (to {row.what})" for row, role in missing)
    roles = ", ".join(dict.fromkeys(role.name for _, role in missing))
    return (
        f"refused before the engine ran: the engineer's GDAP sign-in lacks {lacking}: {through} does not give "
        f"{roles}: ask the client to approve it in the relationship and assign it to your group, or run this "
        "tenant as the automation identity (docs/onboarding.md)"
    )


def user_roles(token: str) -> list[str] | None:
    """The directory roles (template ids) a user's token carries; None for a token that is not a user's."""
    claims = token_claims(token)
    if claims.get("idtyp") != "user":
        return None
    return [str(role) for role in claims.get("wids") or []]
