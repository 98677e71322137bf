"""The one explicit ``azuread.Provider`` of a tenant stack, bound to the tenant id the tenant file names.

Every azuread resource and lookup in the program passes this provider, never the default one, so the
credentials in the environment can only ever act on the tenant the file names: an ``ARM_TENANT_ID``
left over from another tenant is overridden by the explicit ``tenant_id`` (pulumi-azuread's provider
arguments win over its ``ARM_*`` environment variables).

How it authenticates comes from the file's ``auth`` block and the environment:
- ``cli``: the Azure CLI's signed-in account (``az login``), for an engineer at a desk;
- ``client-secret``: ``auth.client_id`` (or ``ARM_CLIENT_ID``) and the secret read from the environment
  variable ``auth.client_secret_env`` names (default ``ARM_CLIENT_SECRET``), passed as a Pulumi secret;
- ``oidc``: workload identity federation in CI (``ARM_OIDC_*`` / the CI's token variables);
- ``msi``: a managed identity;
- no method: whatever the ``ARM_*`` variables say, except the Azure CLI, which is never used implicitly
  (a stale ``az login`` to the wrong tenant must not be picked up silently).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_azuread as azuread

from taxcalc_consent.infra.plan import ConsentPlan

PROVIDER_NAME = "entra-tenant"
"""Logical name of the provider resource. Stable: renaming it would replace every resource in the stack."""

DEFAULT_SECRET_ENV = "ARM_CLIENT_SECRET"


def provider_arguments(plan: ConsentPlan, environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``azuread.Provider`` arguments for ``plan``'s tenant: pure, so it can be checked without Pulumi.

    The client secret, when the method needs one, is returned as a ``pulumi.Output.secret`` so it is
    encrypted in state and masked in output; it is never logged or put in an error message.
    Raises ``pulumi.RunError`` naming (never showing) a missing secret variable.
    """
    auth = plan.auth
    method = auth.method
    arguments: dict[str, Any] = {"tenant_id": plan.tenant_id, "use_cli": method == "cli"}
    if method is not None:
        # An explicit method switches the others off, so an ARM_USE_MSI=true on a CI runner cannot win.
        arguments["use_oidc"] = method == "oidc"
        arguments["use_msi"] = method == "msi"
    if auth.client_id is not None:
        arguments["client_id"] = auth.client_id
    if method == "client-secret":
        variable = auth.client_secret_env or DEFAULT_SECRET_ENV
        secret = environ.get(variable)
        if not secret:
            raise pulumi.RunError(
                f"{plan.file}: auth.client_secret_env: the environment variable {variable} is not set or empty; "
                "set it to the automation identity's client secret (auth.method is client-secret)"
            )
        arguments["client_secret"] = pulumi.Output.secret(secret)
    return arguments


def tenant_provider(plan: ConsentPlan, environ: Mapping[str, str] | None = None) -> azuread.Provider:
    """Declare the stack's azuread provider for ``plan``'s tenant."""
    return azuread.Provider(PROVIDER_NAME, **provider_arguments(plan, os.environ if environ is None else environ))
