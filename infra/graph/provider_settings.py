"""The stack's azuread provider's settings: what the tool gives it, and the variables it reads for the rest.

pulumi-azuread 6.x (terraform-provider-azuread 3.x) takes the arguments the program gives it; each argument it
is not given falls back to an environment variable (``internal/provider/provider.go``, the provider schema's
``DefaultFunc`` lines, cited below by line). This module holds both tables: those variables, and what the tool
passes (``provider_arguments``: the tenant file's ``auth`` block and nothing else, each setting with its provider
keyword and stack setting in one table, ``PROVIDER_SETTINGS``; ``AUTH_INPUTS``: the block as the tool's own
resources carry it to their providers). Which way the provider then signs in, with which values, is
``infra.graph.signin``'s job.

Pure: no environment is read here but the one handed in, and no file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taxcalc_consent.infra.model.spec import AuthSection

# The provider's DefaultFunc variables (internal/provider/provider.go). A MultiEnvDefaultFunc takes the first
# that is set and not empty; an EnvDefaultFunc ignores an empty variable too (terraform-plugin-sdk v2 schema.go).
CLIENT_ID_ENV = "ARM_CLIENT_ID"  # provider.go:101
CLIENT_ID_FILE_ENV = "ARM_CLIENT_ID_FILE_PATH"  # provider.go:108
CERTIFICATE_ENV = "ARM_CLIENT_CERTIFICATE"  # provider.go:137
CERTIFICATE_PASSWORD_ENV = "ARM_CLIENT_CERTIFICATE_PASSWORD"  # provider.go:144
CERTIFICATE_PATH_ENV = "ARM_CLIENT_CERTIFICATE_PATH"  # provider.go:151
CLIENT_SECRET_ENV = "ARM_CLIENT_SECRET"  # provider.go:159
CLIENT_SECRET_FILE_ENV = "ARM_CLIENT_SECRET_FILE_PATH"  # provider.go:166
USE_OIDC_ENV = "ARM_USE_OIDC"  # provider.go:174
OIDC_TOKEN_ENV = "ARM_OIDC_TOKEN"  # provider.go:181
OIDC_TOKEN_FILE_ENV = "ARM_OIDC_TOKEN_FILE_PATH"  # provider.go:188
ADO_SERVICE_CONNECTION_ENVS = ("ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID")  # :195
OIDC_REQUEST_TOKEN_ENVS = ("ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SYSTEM_ACCESSTOKEN")  # :202
OIDC_REQUEST_URL_ENVS = ("ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL", "SYSTEM_OIDCREQUESTURI")  # :209
USE_AKS_WORKLOAD_IDENTITY_ENV = "ARM_USE_AKS_WORKLOAD_IDENTITY"  # provider.go:217
USE_CLI_ENV = "ARM_USE_CLI"  # provider.go:225 (default true)
USE_MSI_ENV = "ARM_USE_MSI"  # provider.go:233, and pulumi-azuread's own default (sdk provider.py: get_env_bool)
MSI_ENDPOINT_ENV = "ARM_MSI_ENDPOINT"  # provider.go:240
AKS_TENANT_ENV = "AZURE_TENANT_ID"  # helpers.go getTenantId, with use_aks_workload_identity

SECRET_VARIABLES = (
    CERTIFICATE_ENV,
    CERTIFICATE_PASSWORD_ENV,
    CLIENT_SECRET_ENV,
    OIDC_TOKEN_ENV,
    *OIDC_REQUEST_TOKEN_ENVS,
)
"""Variables whose values are secrets wherever they appear."""
SECRET_FILE_VARIABLES = (CLIENT_SECRET_FILE_ENV, OIDC_TOKEN_FILE_ENV)
"""Variables naming files whose contents are secrets."""


# ----------------------------------------------------------------------------- what the tool passes

PROVIDER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "azuread:tenantId"),
    ("client_id", "azuread:clientId"),
    ("use_cli", "azuread:useCli"),
    ("use_oidc", "azuread:useOidc"),
    ("use_msi", "azuread:useMsi"),
)
"""Each setting the tool gives the stack's azuread provider: its ``azuread.Provider`` keyword (a field of
``ProviderArguments``) and its key in a stack's settings (pulumi-azuread's config names)."""
STACK_CONFIG_KEYS = tuple(key for _, key in PROVIDER_SETTINGS)
"""The provider settings the tool owns in each stack's settings; keys it does not own are never touched."""

AUTH_INPUTS: tuple[tuple[str, str], ...] = (
    ("method", "method"),
    ("client_id", "clientId"),
    ("client_secret_env", "clientSecretEnv"),
)
"""The ``auth`` block's keys (``AuthSection``'s fields) and their names in the inputs of the tool's own resources
(the consent settings, TaxCalc-Hub's service principal), whose providers sign in from them: names, never a secret."""


AUTH_ENV = "TAXCALC_CONSENT_AUTH"
"""The variable carrying a tenant's ``auth`` block (``auth_inputs`` and the tenant id, as JSON: names, never a
secret) to that tenant's engine processes, where the tool's own providers read it (``engine_auth``)."""


def auth_inputs(auth: AuthSection) -> dict[str, str]:
    """The ``auth`` block as the tool's own resources carry it (the keys it sets)."""
    given = {name: getattr(auth, key) for key, name in AUTH_INPUTS}
    return {name: value for name, value in given.items() if value is not None}


def auth_from_inputs(inputs: Mapping[str, Any] | None) -> AuthSection:
    """The ``auth`` block back from a resource's ``auth`` input (``auth_inputs``)."""
    given = inputs or {}
    return AuthSection(**{key: given.get(name) for key, name in AUTH_INPUTS})


def engine_auth(environ: Mapping[str, str], tenant_id: str) -> AuthSection | None:
    """The ``auth`` block the tool gave this tenant's engine (``AUTH_ENV``), or None: not run by the tool (a
    hand-run ``pulumi up``), or given for another tenant. Preferred by the tool's own providers to the block their
    resource's state recorded, so a refresh or a delete signs in as the file says now, not as it said then."""
    try:
        given = json.loads(environ.get(AUTH_ENV, ""))
    except ValueError:
        return None
    if not isinstance(given, dict) or str(given.get("tenantId", "")).lower() != tenant_id.lower():
        return None
    return auth_from_inputs(given)


_PULUMI_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


def pulumi_bool(environ: Mapping[str, str], name: str) -> bool:
    """A boolean pulumi-azuread's SDK reads itself and passes to the provider (``use_msi``): the same words as
    Go's ParseBool, and anything else counts as false (``_utilities.get_env_bool``)."""
    return environ.get(name, "") in _PULUMI_TRUE


@dataclass(frozen=True)
class ProviderArguments:
    """What the tool gives the stack's azuread provider: from the tenant file alone, never a secret value.

    Anything left out (None) is the provider's to default from its environment variables.
    """

    tenant_id: str
    client_id: str | None = None
    use_cli: bool = False
    """Always given: the Azure CLI signs in only when the file asks for it (``auth.method: cli``), never
    because the provider defaults ``use_cli`` to true (provider.go:225) and someone ran ``az login`` to
    another tenant."""
    use_oidc: bool | None = None
    use_msi: bool | None = None
    client_secret_env: str | None = None
    """The variable whose value the tool passes as ``client_secret`` (and, to the engine, as
    ``ARM_CLIENT_SECRET``): ``auth.client_secret_env``. None: the provider reads ``ARM_CLIENT_SECRET``."""

    def pulumi_arguments(self) -> dict[str, str | bool]:
        """``azuread.Provider`` keyword arguments, without the secret (the program adds it as a Pulumi secret):
        every setting given, a flag switched off included."""
        given: dict[str, str | bool | None] = {name: getattr(self, name) for name, _ in PROVIDER_SETTINGS}
        return {name: value for name, value in given.items() if value is not None}

    def stack_config(self) -> dict[str, str]:
        """The provider's keys in a stack's settings: what a hand-run ``pulumi up`` of the stack also sees. Values
        are strings, as ``pulumi config set`` writes them: the ids, and ``"true"`` for each flag switched on."""
        config: dict[str, str] = {}
        for name, key in PROVIDER_SETTINGS:
            value = getattr(self, name)
            if value is True:
                config[key] = "true"
            elif isinstance(value, str) and value:
                config[key] = value
        return config

    def engine_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """What the tenant's engine processes get on top of the inherited environment: the provider's own
        variables for the way it signs in, and the secret the file names, so they reach only this tenant's engine.

        The tool's runs give the provider its tenant id and nothing else (``infra.program.provider``): it reads
        how to sign in from these variables, which each run sets from the tenant file as it is then. Settings in
        the provider's arguments would be recorded in the stack's state, and the engine configures the provider
        of a refresh or a delete from that record (pulumi/pulumi#18411), so a tenant switched from the
        engineer's Azure CLI sign-in to the automation identity would ask the Azure CLI once more, in CI.
        Each value is the one the argument would have been: ``use_msi`` read as pulumi-azuread's SDK reads
        ``ARM_USE_MSI`` when the file names no method (``pulumi_bool``).
        """
        use_msi = self.use_msi if self.use_msi is not None else pulumi_bool(environ, USE_MSI_ENV)
        given = {USE_CLI_ENV: _word(self.use_cli), USE_MSI_ENV: _word(use_msi)}
        if self.use_oidc is not None:
            given[USE_OIDC_ENV] = _word(self.use_oidc)
        if self.client_id:
            given[CLIENT_ID_ENV] = self.client_id
        if self.client_secret_env is not None:
            given[CLIENT_SECRET_ENV] = environ.get(self.client_secret_env, "")
        return given


def _word(flag: bool) -> str:
    return "true" if flag else "false"


def engine_environment(tenant_id: str, auth: AuthSection, environ: Mapping[str, str]) -> dict[str, str]:
    """Everything a tenant's engine processes get to sign in to it: the provider's variables
    (``ProviderArguments.engine_environment``) and the ``auth`` block for the tool's own providers (``AUTH_ENV``)."""
    return {
        **provider_arguments(tenant_id, auth).engine_environment(environ),
        AUTH_ENV: json.dumps({"tenantId": tenant_id, **auth_inputs(auth)}, sort_keys=True),
    }


def provider_arguments(tenant_id: str, auth: AuthSection) -> ProviderArguments:
    """What the tool passes to the provider for a tenant file: its tenant id, and its ``auth`` block.

    An explicit ``auth.method`` switches the other ``use_*`` flags off, so an ``ARM_USE_MSI=true`` on a CI
    runner cannot take over; with none, the provider's variables decide (``ARM_USE_OIDC``, ``ARM_USE_MSI``;
    never the Azure CLI).
    """
    method = auth.method
    return ProviderArguments(
        tenant_id=tenant_id,
        client_id=auth.client_id,
        use_cli=method == "cli",
        use_oidc=None if method is None else method == "oidc",
        use_msi=None if method is None else method == "msi",
        client_secret_env=auth.client_secret_env,
    )
