"""How the tool signs in to a tenant: one rule, pulumi-azuread's, for the provider and for the tool's own calls.

The stack's azuread provider (pulumi-azuread 6.x, which wraps terraform-provider-azuread 3.x) takes the
arguments the program gives it; each argument it is not given falls back to an environment variable
(``internal/provider/provider.go``, the provider schema's ``DefaultFunc`` lines, cited in ``provider_settings``), and
go-azure-sdk then tries the ways of signing in in a fixed order, taking the first one whose values are all
there (``sdk/auth/auth.go``, ``NewAuthorizerFromCredentials``):

1. client certificate: a client id and ``ARM_CLIENT_CERTIFICATE`` (base64 PKCS#12) or ``ARM_CLIENT_CERTIFICATE_PATH``;
2. client secret: a client id and a secret (``client_secret``, else ``ARM_CLIENT_SECRET``, or the file
   ``ARM_CLIENT_SECRET_FILE_PATH`` names);
3. OIDC with a token in hand (``ARM_OIDC_TOKEN``, or the file ``ARM_OIDC_TOKEN_FILE_PATH`` names), when OIDC is on;
4. Azure DevOps' OIDC: a service connection id and a token request URL and token, when OIDC is on;
5. GitHub Actions' OIDC: a token request URL and token, when OIDC is on;
6. managed identity, when it is on;
7. the Azure CLI, when it is on.

Certificates and secrets are always tried first, whatever ``use_*`` says (provider.go sets
``EnableAuthenticatingUsingClientCertificate`` and ``...ClientSecret`` to true). What the tool passes to the
provider, and the variables the provider reads for the rest, are ``infra.graph.provider_settings``' tables; this
module says which way, with which values, the provider then signs in (``sign_in``). The program's provider,
the stack settings, the engine's environment, the program's group reads, the consent-settings writes, ``audit``
and ``adopt`` all ask these two, so they sign in as the same identity, the same way.
``tests/test_signin.py`` holds the provider's table, row by row with the source line of each.

Pure: it reads the environment it is given and the files the provider itself reads at configuration time
(client id, secret and OIDC token files), and sends nothing anywhere. Making the credential and asking for
tokens is ``infra.graph.credentials``' job.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from taxcalc_consent.infra.graph.provider_settings import (
    ADO_SERVICE_CONNECTION_ENVS,
    AKS_TENANT_ENV,
    CERTIFICATE_ENV,
    CERTIFICATE_PASSWORD_ENV,
    CERTIFICATE_PATH_ENV,
    CLIENT_ID_ENV,
    CLIENT_ID_FILE_ENV,
    CLIENT_SECRET_ENV,
    CLIENT_SECRET_FILE_ENV,
    MSI_ENDPOINT_ENV,
    OIDC_REQUEST_TOKEN_ENVS,
    OIDC_REQUEST_URL_ENVS,
    OIDC_TOKEN_ENV,
    OIDC_TOKEN_FILE_ENV,
    SECRET_FILE_VARIABLES,
    SECRET_VARIABLES,
    USE_AKS_WORKLOAD_IDENTITY_ENV,
    USE_MSI_ENV,
    USE_OIDC_ENV,
    provider_arguments,
    pulumi_bool,
)
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.files import TooLarge, Unreadable, read_regular_file
from taxcalc_consent.infra.model.profiles import INTERACTIVE_METHODS
from taxcalc_consent.infra.model.spec import AuthSection


class CredentialError(TaxcalcConsentError):
    """The tenant file's ``auth`` block and the environment give no usable credential.

    Found before any request is sent, for every tenant at once: it is the user's setup, so the command
    exits 2 (invalid input) and nothing is read. A credential that is set up but refused at sign-in is a
    plain ``GraphError`` for that tenant (exit 1, the others still run).
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.reason = message

    def located(self, file: str) -> CredentialError:
        """The same problem, said about the tenant file whose ``auth`` block it comes from."""
        return CredentialError(self.reason, file=file)


Method = Literal[
    "client-certificate",
    "client-secret",
    "oidc-token",
    "ado-pipeline-oidc",
    "github-oidc",
    "msi",
    "cli",
    "browser",
    "device-code",
]
"""The ways go-azure-sdk signs in, in its order (auth.go NewAuthorizerFromCredentials); then the two the tool's
own calls add for an engineer (``INTERACTIVE_METHODS``), which the provider does not have."""

AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""Microsoft Azure CLI's application id: the client id the provider reports when it signs in through the
Azure CLI (internal/clients/builder.go, ``environments.PublishedApis["MicrosoftAzureCli"]``)."""


# ------------------------------------------------------------------------------ how it signs in


@dataclass(frozen=True)
class SignIn:
    """The way the provider signs in to a tenant, with the values it uses. Secrets never show in ``repr``."""

    method: Method
    tenant_id: str
    client_id: str
    """Empty for the Azure CLI, and for a managed identity named by no client id (the system-assigned one)."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each value came from: the tenant file's key or the environment variable (never the value)."""
    client_secret: str = field(default="", repr=False)
    certificate: bytes = field(default=b"", repr=False)
    """PKCS#12 bytes, from ``ARM_CLIENT_CERTIFICATE`` (base64) or read later from ``certificate_path``."""
    certificate_path: str = ""
    certificate_password: str = field(default="", repr=False)
    oidc_token: str = field(default="", repr=False)
    """The OIDC token in hand (oidc-token): the client assertion Entra gets."""
    oidc_request_url: str = ""
    oidc_request_token: str = field(default="", repr=False)
    ado_service_connection_id: str = ""
    msi_endpoint: str = ""
    """Empty: the Azure Instance Metadata Service (go-azure-sdk's default)."""

    def describe(self) -> str:
        """One line for people: the way and where its values came from, never a value."""
        words = {
            "client-certificate": "a client certificate",
            "client-secret": "a client secret",
            "oidc-token": "an OIDC token",
            "ado-pipeline-oidc": "Azure DevOps' OIDC token",
            "github-oidc": "GitHub Actions' OIDC token",
            "msi": "a managed identity",
            "cli": "the Azure CLI's signed-in account",
            "browser": "your sign-in in a browser",
            "device-code": "your sign-in with a device code",
        }[self.method]
        where = ", ".join(f"{what} from {source}" for what, source in self.sources.items())
        return f"{words} ({where})" if where else words


class CredentialErrors(TaxcalcConsentError):
    """Every tenant whose credential cannot be made, one line each, in the files' order (exit 2)."""

    exit_code = 2

    def __init__(self, errors: list[CredentialError]) -> None:
        self.errors = errors
        # Each message is already safe to show: joined as they are, one per line, not escaped again.
        Exception.__init__(self, "\n".join(str(error) for error in errors))


def next_step(found: SignIn, failure: str) -> str:
    """What to do when Entra, the runner or the Azure CLI refused the way ``found`` signs in: one clause, in the
    terms of that way (the command to run, the tenant file's ``auth:`` block, the variable to set)."""
    tenant = found.tenant_id
    if found.method in INTERACTIVE_METHODS:
        if "browser" in failure.lower():
            return "no browser could be opened here: set auth.method: device-code and sign in on another device"
        return (
            "sign in as an engineer of the MSP who reaches this tenant through an active GDAP relationship (its "
            "security group's access assignment), or set another auth.method in the tenant file's auth: block"
        )
    if found.method == "cli":
        if "not found" in failure.lower() or "not installed" in failure.lower():
            return f"install the Azure CLI, then sign in with: az login --tenant {tenant}"
        return (
            f"sign in with: az login --tenant {tenant} (an account with access to this tenant, through GDAP for a "
            "client), or set another auth.method in the tenant file's auth: block"
        )
    where = ", ".join(f"the {what} from {source}" for what, source in found.sources.items())
    if found.method == "msi":
        return (
            "a managed identity signs in only on an Azure resource that has one: run there, or set another "
            f"auth.method in the tenant file's auth: block{f' ({where})' if where else ''}"
        )
    if found.method in ("client-secret", "client-certificate"):
        return (
            f"check {where} (the automation app's, registered for tenant {tenant} with admin consent); a new "
            f"secret goes in {CLIENT_SECRET_ENV} or the variable auth.client_secret_env names"
        )
    return (
        f"check {where}: the automation app ({found.client_id}) needs a federated credential that trusts this "
        "pipeline, and admin consent in the tenant"
    )


def sign_in(tenant_id: str, auth: AuthSection, environ: Mapping[str, str]) -> SignIn:
    """How pulumi-azuread signs in to ``tenant_id`` given the tenant file's ``auth`` block and ``environ``.

    Raises ``CredentialError`` where the provider would fail to configure (a file it cannot read, values that
    disagree, no way to sign in), or where the tool refuses before the provider runs (a secret variable the
    file names but that is not set). The message names variables and keys, never a value.
    """
    if auth.method in INTERACTIVE_METHODS:
        # The tool's own sign-in, not the provider's (which has none like it): azure-identity's, as the Azure CLI's
        # application (https://learn.microsoft.com/cli/azure/authenticate-azure-cli-interactively), whatever the
        # provider's variables say. The engine commands refuse it (cli.fleet.engine_setup.preflight_problems).
        method: Method = "browser" if auth.method == "browser" else "device-code"
        return SignIn(method, tenant_id=tenant_id, client_id=AZURE_CLI_APP_ID, sources={"way": "auth.method"})
    given = provider_arguments(tenant_id, auth)
    # providerConfigure (provider.go:270-330) reads every value first, in this order, and fails on the first
    # that cannot be read; only then does go-azure-sdk pick the way to sign in.
    certificate = b""
    certificate_b64 = _env(environ, CERTIFICATE_ENV)
    if certificate_b64:  # helpers.go decodeCertificate
        try:
            certificate = base64.b64decode(certificate_b64, validate=True)
        except (binascii.Error, ValueError):
            raise CredentialError(f"{CERTIFICATE_ENV}: could not decode the client certificate (not base64)") from None
    certificate_path = _env(environ, CERTIFICATE_PATH_ENV)
    oidc_token, oidc_token_source = _with_file(
        "OIDC token", _env(environ, OIDC_TOKEN_ENV), OIDC_TOKEN_ENV, environ, OIDC_TOKEN_FILE_ENV
    )  # helpers.go getOidcToken
    if given.client_secret_env is not None:
        explicit = environ.get(given.client_secret_env, "").strip()
        if not explicit:
            # The tool's own refusal, before the provider runs: a variable the file names must hold the secret.
            raise CredentialError(
                f"auth.client_secret_env names {given.client_secret_env}, which is not set or empty: set it to "
                "the automation identity's client secret"
            )
        secret, secret_source = explicit, f"auth.client_secret_env ({given.client_secret_env})"
    else:
        secret, secret_source = _env(environ, CLIENT_SECRET_ENV), CLIENT_SECRET_ENV
    secret, secret_source = _with_file(
        "client secret", secret, secret_source, environ, CLIENT_SECRET_FILE_ENV
    )  # helpers.go getClientSecret
    client_id, client_id_source = _with_file(
        "client id",
        given.client_id or _env(environ, CLIENT_ID_ENV),
        "auth.client_id" if given.client_id else CLIENT_ID_ENV,
        environ,
        CLIENT_ID_FILE_ENV,
    )  # helpers.go getClientId
    use_aks = _go_bool(environ, USE_AKS_WORKLOAD_IDENTITY_ENV)
    aks_tenant = _env(environ, AKS_TENANT_ENV)
    if use_aks and aks_tenant and aks_tenant.lower() != tenant_id.lower():  # helpers.go getTenantId
        raise CredentialError(
            f"{USE_AKS_WORKLOAD_IDENTITY_ENV} is on and {AKS_TENANT_ENV} names tenant {aks_tenant}, not the file's "
            f"tenant.id {tenant_id}: the azuread provider refuses the mismatch"
        )
    use_oidc = given.use_oidc if given.use_oidc is not None else _go_bool(environ, USE_OIDC_ENV)
    oidc_on = use_oidc or use_aks  # provider.go:329
    use_msi = given.use_msi if given.use_msi is not None else pulumi_bool(environ, USE_MSI_ENV)
    request_url, request_url_source = _first(environ, OIDC_REQUEST_URL_ENVS)
    request_token, request_token_source = _first(environ, OIDC_REQUEST_TOKEN_ENVS)
    connection, connection_source = _first(environ, ADO_SERVICE_CONNECTION_ENVS)

    # auth.go:39: client certificate
    if client_id and (certificate or certificate_path):
        return SignIn(
            "client-certificate",
            client_id=client_id,
            sources={
                "client id": client_id_source,
                "certificate": CERTIFICATE_ENV if certificate else CERTIFICATE_PATH_ENV,
            },
            certificate=certificate,
            certificate_path="" if certificate else certificate_path,
            certificate_password=environ.get(CERTIFICATE_PASSWORD_ENV, ""),
            tenant_id=tenant_id,
        )
    # auth.go:59: client secret, tried whatever use_oidc, use_msi or use_cli say
    if client_id and secret:
        return SignIn(
            "client-secret",
            client_id=client_id,
            sources={"client id": client_id_source, "secret": secret_source},
            client_secret=secret,
            tenant_id=tenant_id,
        )
    if oidc_on and client_id:
        identity = {"client id": client_id_source}
        if oidc_token:  # auth.go:77
            return SignIn(
                "oidc-token",
                client_id=client_id,
                sources={**identity, "token": oidc_token_source},
                oidc_token=oidc_token,
                tenant_id=tenant_id,
            )
        request = {"token request URL": request_url_source, "request token": request_token_source}
        if request_url and request_token and connection:  # auth.go:95
            return SignIn(
                "ado-pipeline-oidc",
                client_id=client_id,
                sources={**identity, **request, "service connection": connection_source},
                oidc_request_url=request_url,
                oidc_request_token=request_token,
                ado_service_connection_id=connection,
                tenant_id=tenant_id,
            )
        if request_url and request_token:  # auth.go:115
            return SignIn(
                "github-oidc",
                client_id=client_id,
                sources={**identity, **request},
                oidc_request_url=request_url,
                oidc_request_token=request_token,
                tenant_id=tenant_id,
            )
    if use_msi:  # auth.go:134: the client id, when there is one, picks a user-assigned identity
        return SignIn(
            "msi",
            client_id=client_id,
            sources={"client id": client_id_source} if client_id else {},
            msi_endpoint=_env(environ, MSI_ENDPOINT_ENV),
            tenant_id=tenant_id,
        )
    if given.use_cli:  # auth.go:150
        return SignIn("cli", tenant_id=tenant_id, client_id="")
    raise CredentialError(_nothing_to_sign_in_with(auth, client_id, oidc_on))  # auth.go:167


def _nothing_to_sign_in_with(auth: AuthSection, client_id: str, oidc_on: bool) -> str:
    """Why no way of signing in was found, in the terms of the file's method (the provider only says
    "no Authorizer could be configured, please check your configuration")."""
    needs_id = f"the automation identity's client id: auth.client_id, or {CLIENT_ID_ENV}"
    if auth.method == "client-secret":
        if not client_id:
            return f"auth.method client-secret needs {needs_id}"
        return (
            f"auth.method client-secret: no client secret: set {CLIENT_SECRET_ENV} (or {CLIENT_SECRET_FILE_ENV}), "
            "or name the variable that holds it in auth.client_secret_env"
        )
    if auth.method == "oidc" or (auth.method is None and oidc_on):
        where = "auth.method oidc" if auth.method == "oidc" else f"{USE_OIDC_ENV}"
        if not client_id:
            return f"{where} needs {needs_id}: the application whose federated credential trusts this pipeline"
        return (
            f"{where}: no OIDC token in this environment: in GitHub Actions give the job `permissions: id-token: "
            f"write` (it sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN); in Azure DevOps set "
            f"{ADO_SERVICE_CONNECTION_ENVS[0]} (with SYSTEM_OIDCREQUESTURI and SYSTEM_ACCESSTOKEN); elsewhere set "
            f"{OIDC_TOKEN_ENV}, or {OIDC_TOKEN_FILE_ENV} to the file holding the token"
        )
    return (
        "the tenant file names no auth.method and the azuread provider's ARM_* variables give it no way to sign "
        f"in ({CLIENT_ID_ENV} with {CLIENT_SECRET_ENV}, {USE_OIDC_ENV}, {USE_MSI_ENV}; the Azure CLI only with "
        "auth.method cli): set auth.method in the tenant file's auth: block (or in _defaults.yaml for every tenant)"
    )


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Every secret the provider's variables hold, file contents included, for redaction."""
    values = [environ[name] for name in SECRET_VARIABLES if environ.get(name)]
    for name in SECRET_FILE_VARIABLES:
        path = environ.get(name)
        if path:
            with contextlib.suppress(CredentialError):
                values.append(_read_small_file(path, name, "secret"))
    return values


CREDENTIAL_FILE_LIMIT = 64 * 1024
"""Client ids, secrets and OIDC tokens are a few kilobytes at most (an Entra or GitHub token is ~1-2 KiB)."""


def _read_small_file(path: str, variable: str, what: str) -> str:
    """The trimmed text of the credential file ``variable`` names, read as every file the tool did not make is
    (``files.read_regular_file``: a FIFO or a device there cannot hang or flood the run)."""
    try:
        data = read_regular_file(path, CREDENTIAL_FILE_LIMIT, expected=f"the {what}")
    except TooLarge:
        raise CredentialError(
            f"{variable}: {path} is larger than a {what} can be ({CREDENTIAL_FILE_LIMIT} bytes)"
        ) from None
    except Unreadable as exc:
        raise CredentialError(f"{variable}: cannot read the {what} from {path}: {exc}") from None
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CredentialError(f"{variable}: {path} is not text, so it holds no {what}") from None


# ------------------------------------------------------------------------------------------ helpers


def _env(environ: Mapping[str, str], name: str) -> str:
    """An EnvDefaultFunc: the variable, trimmed as the provider trims ids and secrets; empty counts as unset."""
    return environ.get(name, "").strip()


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str]:
    """A MultiEnvDefaultFunc: the first of ``names`` that is set and not empty, and its name."""
    for name in names:
        value = _env(environ, name)
        if value:
            return value, name
    return "", ""


def _with_file(what: str, value: str, source: str, environ: Mapping[str, str], file_env: str) -> tuple[str, str]:
    """helpers.go getClientId/getClientSecret/getOidcToken: a ``*_FILE_PATH`` variable's file, trimmed, must
    agree with the value given directly; alone, it is the value."""
    path = environ.get(file_env, "")
    if not path:
        return value, source if value else ""
    from_file = _read_small_file(path, file_env, what)
    if value and value != from_file:
        raise CredentialError(
            f"the {what} from {source} and the one in the file {file_env} names differ: remove one, or make them match"
        )
    return from_file, file_env if from_file else ""


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _go_bool(environ: Mapping[str, str], name: str) -> bool:
    """A boolean DefaultFunc read by the provider: Go's strconv.ParseBool; anything else fails its configuration."""
    value = environ.get(name, "")
    if not value or value in _GO_FALSE:
        return False
    if value in _GO_TRUE:
        return True
    raise CredentialError(f"{name} is {value!r}: the azuread provider reads it as a boolean (true, false, 1 or 0)")
