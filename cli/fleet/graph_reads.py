"""Read many tenants from Microsoft Graph, N at a time: what ``audit`` and ``adopt`` share.

Each tenant is read with its own credentials (the tenant id and auth section of its file); a Graph
failure stays with its tenant and the others still run. Results come back in the files' order.

One run opens one connection pool, shared by every tenant's client (each request carries its own
tenant's token): a new client per tenant cost more CPU than the tenant's reads. Independent reads of one
tenant (batches past 20 requests, later pages of different collections) run at once on one shared
executor, a few per tenant (``infra.graph.client.TENANT_READS_AT_ONCE``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.infra.graph.client import (
    CLOUDS,
    TENANT_READS_AT_ONCE,
    CredentialError,
    CredentialErrors,
    GraphClient,
    GraphError,
    client_for_tenant,
    endpoint_problem,
    provider_endpoints,
    shared_http_client,
)
from taxcalc_consent.infra.graph.snapshot import TenantSnapshot, read_tenant
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.plan import ConsentPlan

T = TypeVar("T")


class EndpointRefused(TaxcalcConsentError):
    """--graph-endpoint names no Graph the tool may call: nothing was read."""

    exit_code = ExitCode.INVALID


def per_tenant(
    plans: Sequence[ConsentPlan],
    cloud: str | None,
    endpoint: str | None,
    parallel: int,
    work: Callable[[ConsentPlan, TenantSnapshot], T],
    *,
    debug: bool = False,
    policies: bool = True,
) -> list[tuple[ConsentPlan, T | GraphError]]:
    """``work(plan, snapshot)`` for every tenant, ``parallel`` tenants at once.

    ``policies=False`` skips the consent-settings reads, and so the Policy.Read.All they need. ``cloud`` (a name in
    ``CLOUDS``) None: the azuread provider's cloud (``ARM_METADATA_HOSTNAME``, else ``ARM_ENVIRONMENT``), as every
    tenant signs in as the provider does. A tenant's Graph failure is returned in its place, said by the command."""
    problem = None if endpoint is None else endpoint_problem(endpoint)
    if problem:
        raise EndpointRefused(f"--graph-endpoint {problem}")  # nothing was read
    selected = CLOUDS[cloud] if cloud is not None else provider_endpoints(os.environ)

    tenants_at_once = max(1, min(parallel, len(plans)))
    reads_at_once = tenants_at_once * TENANT_READS_AT_ONCE
    with (
        shared_http_client(connections=reads_at_once) as http,
        ThreadPoolExecutor(max_workers=reads_at_once, thread_name_prefix="graph-read") as reads,
    ):
        # Every tenant's credential first: a missing one is the user's setup (exit 2), reported for every tenant
        # it concerns, one line each in the files' order, before any tenant is read.
        clients: list[GraphClient] = []
        missing: list[CredentialError] = []
        for plan in plans:
            try:
                clients.append(client_for_tenant(plan.tenant_id, plan.auth, selected, endpoint, http=http, reads=reads))
            except CredentialError as exc:
                missing.append(exc.located(plan.file))
        if missing:
            raise CredentialErrors(missing)

        # A failure stays with its tenant: the command says it once, in the files' order, with the results.
        def one(plan: ConsentPlan, client: GraphClient) -> T | GraphError:
            try:
                return work(plan, read_tenant(client, plan, policies))
            except GraphError as exc:
                if debug:
                    raise
                return exc

        if tenants_at_once == 1:
            return [(plan, one(plan, client)) for plan, client in zip(plans, clients, strict=True)]
        with ThreadPoolExecutor(max_workers=tenants_at_once, thread_name_prefix="graph") as pool:
            return list(zip(plans, pool.map(one, plans, clients), strict=True))
