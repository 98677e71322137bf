"""The one explicit ``azuread.Provider`` of a tenant stack, bound to the tenant id the tenant file names.

Every azuread resource and lookup in the program passes this provider, never the default one, so the
credentials in the environment can only ever act on the tenant the file names: an ``ARM_TENANT_ID``
left over from another tenant is overridden by the explicit ``tenant_id`` (pulumi-azuread's provider
arguments win over its ``ARM_*`` environment variables).

How it signs in follows one rule, ``infra.graph.signin`` (the tenant file's ``auth`` block; the provider's
``ARM_*`` variables for whatever the block leaves out), which the tool's own Graph calls follow too:
- ``cli``: the Azure CLI's signed-in account (``az login``), for an engineer at a desk;
- ``client-secret``: the client id and the secret, read from the environment variable ``auth.client_secret_env``
  names (else the provider reads ``ARM_CLIENT_SECRET``), passed as a Pulumi secret;
- ``oidc``: workload identity federation (an OIDC token in hand, Azure DevOps' or GitHub Actions' token);
- ``msi``: a managed identity;
- no method: whatever the ``ARM_*`` variables say, except the Azure CLI, which is never used implicitly
  (a stale ``az login`` to the wrong tenant must not be picked up silently).

Where those settings go depends on who runs the program. In the tool's runs the provider is given its tenant id
and nothing else, and reads the rest from the provider's own variables, which the tool sets for this tenant's
engine alone from the file as it is now (``provider_settings.engine_environment``): the engine configures the
provider of a refresh or a delete from the arguments the last update recorded, so a sign-in recorded there
would outlive a change of ``auth`` by one run (an engineer's Azure CLI, asked once more in CI). A hand-run
``pulumi up`` has no such environment, so it gives the provider every setting as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_azuread as azuread

from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.model.plan import ConsentPlan

PROVIDER_NAME = "entra-tenant"
"""Logical name of the provider resource. Stable: renaming it would replace every resource in the stack."""


def provider_arguments(plan: ConsentPlan, environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``azuread.Provider`` arguments for ``plan``'s tenant (``provider_settings.provider_arguments``): pure, so it
    can be checked without Pulumi.

    The client secret, when the file names its variable, is returned as a ``pulumi.Output.secret`` so it is
    encrypted in state and masked in output; it is never logged or put in an error message.
    Raises ``pulumi.RunError`` naming (never showing) a missing secret variable.
    """
    given = provider_settings.provider_arguments(plan.tenant_id, plan.auth)
    arguments: dict[str, Any] = dict(given.pulumi_arguments())
    if given.client_secret_env is not None:
        secret = environ.get(given.client_secret_env)
        if not secret:
            raise pulumi.RunError(
                f"{plan.file}: auth.client_secret_env: the environment variable {given.client_secret_env} is not "
                "set or empty; set it to the automation identity's client secret"
            )
        arguments["client_secret"] = pulumi.Output.secret(secret)
    return arguments


def tenant_provider(
    plan: ConsentPlan, environ: Mapping[str, str] | None = None, *, signed_in_by_engine: bool = False
) -> pulumi.ProviderResource:
    """Declare the stack's azuread provider for ``plan``'s tenant.

    ``signed_in_by_engine``: the tool runs the program and has put the sign-in in the engine's environment, so
    the provider's only argument is the tenant id. It is declared without pulumi-azuread's ``Provider`` class,
    which would add ``use_msi`` (and ``environment``) read from the tool's own environment to the arguments the
    state records (its ``__init__`` defaults them from ``ARM_USE_MSI`` and ``ARM_ENVIRONMENT``); the same
    package, version and type (``pulumi:providers:azuread``)."""
    if signed_in_by_engine:
        options = pulumi.ResourceOptions(version=version("pulumi_azuread"))
        return pulumi.ProviderResource("azuread", PROVIDER_NAME, {"tenantId": plan.tenant_id}, options)
    return azuread.Provider(PROVIDER_NAME, **provider_arguments(plan, os.environ if environ is None else environ))
