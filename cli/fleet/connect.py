"""``connect``: put the MSP's automation identity into each client tenant, through an engineer's GDAP sign-in.

For each tenant file: the automation app (``auth.client_id``, usually set once in ``_defaults.yaml``) gets its
service principal there and exactly the Microsoft Graph application permissions that file needs (the role
table's ``application_permissions``), nothing more: what it holds beyond them is revoked. ``--remove`` deletes the
service principal, and its permissions with it. The engineer signs in with the Azure CLI, or in a browser or
with a device code (``--sign-in``): an engineer's sign-in whatever the file's ``auth.method`` says (that is the
automation identity's, for CI). A tenant whose file records
no GDAP relationship is a direct customer: nothing is written there, and the admin-consent URL is returned for
an administrator of that tenant to open.

Why the tool's own Graph writer and not a Pulumi stack per tenant: docs/onboarding.md, *Why connect is not a
stack*. Returns what it found and did; the command says it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from taxcalc_consent.cli.fleet.gdap_access import user_roles
from taxcalc_consent.infra.graph import automation_identity as identity
from taxcalc_consent.infra.graph.client import (
    GRAPH_ENDPOINT_ENV,
    CloudEndpoints,
    CredentialError,
    GraphClient,
    GraphError,
    graph_base_url,
    provider_endpoints,
    token_source,
)
from taxcalc_consent.infra.graph.policy_writer import PolicyWriter
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.profiles import EngineerMethod
from taxcalc_consent.infra.model.role_table import GRAPH_APP_ROLES, SERVICE_PRINCIPAL, needs
from taxcalc_consent.infra.model.spec import AuthSection


@dataclass
class TenantConnection:
    plan: ConsentPlan
    needed: tuple[str, ...]
    app_id: str | None = None
    change: identity.ConnectChange | None = None
    admin_consent_url: str | None = None
    """A direct customer's: what an administrator of the tenant opens instead."""
    error: str | None = None
    done: bool = False
    _writer: PolicyWriter | None = field(default=None, repr=False)
    _state: identity.AutomationState | None = field(default=None, repr=False)
    _graph: identity.GraphServicePrincipal | None = field(default=None, repr=False)


def admin_consent_url(login: str, tenant_id: str, app_id: str) -> str:
    """https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent, "Construct the URL for
    granting tenant-wide admin consent": ``{login}/{organization}/adminconsent?client_id={client-id}``."""
    return f"{login.rstrip('/')}/{quote(tenant_id)}/adminconsent?client_id={quote(app_id)}"


def preview(
    plans: Sequence[ConsentPlan],
    remove: bool,
    environ: Mapping[str, str] | None = None,
    sign_in: EngineerMethod = "cli",
) -> list[TenantConnection]:
    """Read each tenant and say what connect would change; nothing is written."""
    env = os.environ if environ is None else environ
    endpoints = provider_endpoints(env)
    base = graph_base_url(endpoints, env.get(GRAPH_ENDPOINT_ENV) or None)
    engineer = AuthSection(method=sign_in)
    return [_preview_one(plan, remove, endpoints, base, env, engineer) for plan in plans]


def _preview_one(
    plan: ConsentPlan,
    remove: bool,
    endpoints: CloudEndpoints,
    base: str,
    env: Mapping[str, str],
    engineer: AuthSection,
) -> TenantConnection:
    connection = TenantConnection(plan, needs(plan).application_permissions)
    app_id = plan.auth.client_id or env.get("ARM_CLIENT_ID") or None
    if app_id is None:
        connection.error = (
            "auth.client_id: name the automation app's application (client) id, once for every tenant in "
            "_defaults.yaml (docs/ci.md, The automation identity)"
        )
        return connection
    connection.app_id = app_id.lower()
    if plan.relationship is None:
        connection.admin_consent_url = admin_consent_url(endpoints.login, plan.tenant_id, connection.app_id)
        return connection
    through = f"GDAP relationship {plan.relationship.id}"
    try:
        tokens = token_source(plan.tenant_id, engineer, endpoints, base, env)
        roles = user_roles(tokens())
        lacking = [row for row in (SERVICE_PRINCIPAL, GRAPH_APP_ROLES) if roles is not None and not row.allowed(roles)]
        if lacking:
            names = ", ".join(str(row.least_role.name) for row in lacking if row.least_role is not None)
            connection.error = (
                f"refused before any write: your GDAP sign-in lacks {names} here ({through}), which connect needs "
                "to create the service principal and grant Microsoft Graph application permissions"
            )
            return connection
        client = GraphClient(base, tokens)
        writer = PolicyWriter(client)
        microsoft_graph = identity.graph_service_principal(client)
        state = identity.read_state(writer, connection.app_id, microsoft_graph)
    except (GraphError, CredentialError) as exc:
        connection.error = str(exc)
        return connection
    connection.change = identity.change_for(state, connection.needed, remove)
    connection._writer, connection._state, connection._graph = writer, state, microsoft_graph
    return connection


def apply(connections: Sequence[TenantConnection]) -> None:
    """Make each previewed change; a failure stays with its tenant."""
    for connection in connections:
        change, writer, state, microsoft_graph = (
            connection.change,
            connection._writer,
            connection._state,
            connection._graph,
        )
        if change is None or change.empty or writer is None or state is None or microsoft_graph is None:
            continue
        assert connection.app_id is not None
        try:
            identity.apply_change(writer, connection.app_id, state, change, microsoft_graph)
            connection.done = True
        except GraphError as exc:
            connection.error = str(exc)


def close(connections: Sequence[TenantConnection]) -> None:
    for connection in connections:
        if connection._writer is not None:
            connection._writer.close()
