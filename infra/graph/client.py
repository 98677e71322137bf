"""The one module that talks to Microsoft Graph. Read-only: it sends GETs, and POSTs only to ``$batch``
with GET requests inside.

Each Graph call is a function named ``<resource>_<verb>`` that describes the request (path, ``$filter``,
minimal ``$select``), with a link to Graph's documentation above it; ``GraphClient`` executes requests
one at a time (``collection``/``entity``) or many in one round trip (``batch``), following ``@odata.nextLink``
pages and retrying 429/503/504 with backoff, honouring ``Retry-After``, and a dropped or timed-out
connection a few times with backoff (every request is a read, so sending it again is safe). Every failure
becomes a
``GraphError`` carrying Graph's error code and request id.

Who signs in, and where: exactly as the stack's azuread provider (``infra.signin``: the tenant file's ``auth``
block and the provider's ``ARM_*`` variables; ``provider_endpoints``: ``ARM_METADATA_HOSTNAME`` or
``ARM_ENVIRONMENT``), through azure-identity; ``audit`` and ``adopt`` also take a ready token
(``TAXCALC_CONSENT_GRAPH_TOKEN``) and ``--cloud``. A credential that cannot be made is a ``CredentialError``
(exit 2, before anything is read); one refused at sign-in is a ``GraphError`` for that tenant.
Tokens are never logged, printed or put in an error message.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from functools import partial
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from taxcalc_consent.infra.graph.signin import CredentialError, SignIn, sign_in
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.spec import AuthSection

__all__ = ["CredentialError"]  # raised here, defined with the sign-in rule (infra.signin)

TOKEN_ENV = "TAXCALC_CONSENT_GRAPH_TOKEN"
GRAPH_ENDPOINT_ENV = "TAXCALC_CONSENT_GRAPH_ENDPOINT"
"""Where the Pulumi program reads groups from, instead of the public cloud's Graph (a sovereign cloud's
Graph, or a local emulator): the program has no ``--graph-endpoint`` option of its own."""
API_VERSION = "v1.0"
BATCH_LIMIT = 20
"""Graph accepts at most 20 requests in one JSON batch (learn.microsoft.com/graph/json-batching)."""
TENANT_READS_AT_ONCE = 4
"""Reads of one tenant in flight at once when the caller gives an executor: a ``$batch`` of more than 20
requests, and the later pages of different collections. Graph throttles per app and tenant
(learn.microsoft.com/graph/throttling); a handful at once stays well inside it, and a 429 is retried."""
RETRY_STATUSES = frozenset({429, 503, 504})
"""429: throttled, wait Retry-After (learn.microsoft.com/graph/throttling); 503, 504: "repeat the request
after a delay, the length of which may be specified in a Retry-After header" (learn.microsoft.com/graph/errors).
Every other 4xx and 5xx is Graph's answer and is final."""
MAX_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 60.0
"""The longest wait between attempts. A Retry-After longer than this is not waited out, nor cut short: a
request sent before the time Graph asked for is throttled again and counts against the app's quota
(learn.microsoft.com/graph/throttling: "wait the number of seconds specified in the Retry-After header"),
so the read fails at once, saying when to run again."""
TRANSIENT_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
"""A connection refused, reset or closed before the answer, or a timeout: the network, not Graph's answer.
Not retried: UnsupportedProtocol, LocalProtocolError and ProxyError, which the same request meets again."""
TRANSPORT_RETRIES = 3
"""How many times one request is sent again after a transient transport error (azure-core's RetryPolicy
also retries a connect or read error 3 times); within MAX_ATTEMPTS with the status retries."""

Cloud = Literal["public", "usgov", "china"]
"""The clouds ``audit`` and ``adopt`` name with ``--cloud``."""


@dataclass(frozen=True)
class CloudEndpoints:
    graph: str
    """Microsoft Graph's root, which is also the resource its tokens are asked for."""
    login: str
    """The sign-in endpoint (authority), an https URL."""
    known_to_microsoft: bool = True
    """False for a cloud read from a metadata document (Azure Stack, a private cloud, an emulator)."""


# learn.microsoft.com/graph/deployments: national cloud endpoints for Graph and for sign-in.
CLOUDS: dict[str, CloudEndpoints] = {
    "public": CloudEndpoints("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgov": CloudEndpoints("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": CloudEndpoints("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}
# The names pulumi-azuread's ARM_ENVIRONMENT takes, and their endpoints (go-azure-sdk sdk/environments:
# from_name.go, azure_public.go, azure_public_canary.go, azure_gov.go, azure_china.go).
PROVIDER_ENVIRONMENTS: dict[str, CloudEndpoints] = {
    "global": CLOUDS["public"],
    "public": CLOUDS["public"],
    "canary": CloudEndpoints("https://canary.graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgovernment": CLOUDS["usgov"],
    "usgovernmentl4": CLOUDS["usgov"],
    "usgovernmentl5": CloudEndpoints("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "dod": CloudEndpoints("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": CLOUDS["china"],
}


class GraphError(TaxcalcConsentError):
    """A failed Graph call: what was asked, Graph's status, error code, message and request id.

    A 403 names the Microsoft Graph application permission the request needs (``missing_permission``),
    so the fix ("grant X and admin-consent it") is in the message itself.
    """

    exit_code = 1
    """Other tenants still run; the command exits 1 (ExitCode.FAILED)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        request: str | None = None,
        missing_permission: str | None = None,
        wait_seconds: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        self.request = request
        self.missing_permission = missing_permission
        parts = [f"Microsoft Graph {request}:" if request else "Microsoft Graph:"]
        if status is not None:
            parts.append(str(status))
        if code:
            parts.append(f"{code}:")
        parts.append(message)
        if request_id:
            parts.append(f"(request-id {request_id})")
        if wait_seconds is not None:
            parts.append(
                f"- Microsoft Graph asked to wait {wait_seconds:g} seconds before trying again: run again then"
            )
        if missing_permission:
            parts.append(
                f"- the identity lacks the Microsoft Graph application permission {missing_permission} "
                "(or one that includes it): add it to the automation app and have an administrator of this "
                "tenant grant admin consent (docs/ci.md in the taxcalc-consent repository lists the least privilege "
                "per command)"
            )
        super().__init__(" ".join(parts))


# --------------------------------------------------------------------------------------- requests


ADVANCED_QUERY_HEADERS = {"ConsistencyLevel": "eventual"}
"""https://learn.microsoft.com/graph/aad-advanced-queries: an advanced query needs this header and
``$count=true``; inside ``$batch`` the header goes in each request's own ``headers``."""


@dataclass(frozen=True)
class GraphRequest:
    """One read: a path under the API version, query options, and whether it returns a collection."""

    path: str
    kind: Literal["collection", "entity"]
    params: tuple[tuple[str, str], ...] = ()
    missing_ok: bool = False
    """For entities: a 404 means "no such object" and yields None instead of an error."""
    permission: str | None = None
    """The least-privileged Microsoft Graph application permission this read needs (from the
    "Permissions" table of the doc linked above its function), named when Graph answers 403."""
    advanced: bool = False
    """An advanced query (aad-advanced-queries): sent with ``ConsistencyLevel: eventual`` and ``$count=true``."""

    @property
    def relative_url(self) -> str:
        params = (*self.params, ("$count", "true")) if self.advanced else self.params
        if not params:
            return self.path
        query = "&".join(f"{k}={quote(v, safe=',$')}" for k, v in params)
        return f"{self.path}?{query}"

    @property
    def headers(self) -> dict[str, str]:
        return dict(ADVANCED_QUERY_HEADERS) if self.advanced else {}


def _select(*fields: str) -> tuple[str, str]:
    return ("$select", ",".join(fields))


def _odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled (OData ABNF, SQUOTE-in-string)."""
    return "'" + value.replace("'", "''") + "'"


SERVICE_PRINCIPAL_FIELDS = ("id", "appId", "displayName", "accountEnabled", "appRoleAssignmentRequired")
GRANT_FIELDS = ("id", "clientId", "consentType", "principalId", "resourceId", "scope")
APP_ROLE_ASSIGNMENT_FIELDS = ("id", "appRoleId", "principalId", "principalType", "principalDisplayName", "resourceId")
USER_FIELDS = ("id", "userPrincipalName", "displayName")
GROUP_FIELDS = ("id", "displayName")
"""Basic properties only: Microsoft 365 groups' Exchange-backed properties (allowExternalSenders, ...)
answer 403 to app-only callers (terraform-provider-azuread#1866, #1929), so they are never selected."""

# Least-privileged application permissions, from the "Permissions" table of each linked page.
APPLICATION_READ = "Application.Read.All"
DIRECTORY_READ = "Directory.Read.All"
USER_READ = "User.Read.All"
GROUP_MEMBER_READ = "GroupMember.Read.All"
POLICY_READ = "Policy.Read.All"


# https://learn.microsoft.com/graph/api/serviceprincipal-list (filter: appId eq)
def service_principals_list_by_app_id(app_id: str) -> GraphRequest:
    return GraphRequest(
        "/servicePrincipals",
        "collection",
        (("$filter", f"appId eq {_odata_string(app_id)}"), _select(*SERVICE_PRINCIPAL_FIELDS)),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-get
def service_principals_get(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}",
        "entity",
        (_select(*SERVICE_PRINCIPAL_FIELDS),),
        missing_ok=True,
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/oauth2permissiongrant-list (filter: clientId eq)
# Least privileged for reading grants is Directory.Read.All (DelegatedPermissionGrant.ReadWrite.All also reads).
def oauth2_permission_grants_list_by_client(client_object_id: str) -> GraphRequest:
    return GraphRequest(
        "/oauth2PermissionGrants",
        "collection",
        (("$filter", f"clientId eq {_odata_string(client_object_id)}"), _select(*GRANT_FIELDS)),
        permission=DIRECTORY_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments
# App roles granted TO the service principal: its application permissions on other APIs.
def service_principals_list_app_role_assignments(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}/appRoleAssignments",
        "collection",
        (_select(*APP_ROLE_ASSIGNMENT_FIELDS),),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto
# Users, groups and apps assigned to the service principal (Enterprise applications > Users and groups).
def service_principals_list_app_role_assigned_to(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/servicePrincipals/{object_id}/appRoleAssignedTo",
        "collection",
        (_select(*APP_ROLE_ASSIGNMENT_FIELDS),),
        permission=APPLICATION_READ,
    )


# https://learn.microsoft.com/graph/api/user-get (by object id or userPrincipalName)
def users_get(id_or_user_principal_name: str) -> GraphRequest:
    return GraphRequest(
        f"/users/{quote(id_or_user_principal_name, safe='@')}",
        "entity",
        (_select(*USER_FIELDS),),
        missing_ok=True,
        permission=USER_READ,
    )


# https://learn.microsoft.com/graph/api/group-get
def groups_get(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}", "entity", (_select(*GROUP_FIELDS),), missing_ok=True, permission=GROUP_MEMBER_READ
    )


NEAR_NAMES_PAGE = 100
"""How many names a near-name lookup reads: one page, never the whole directory."""


def _prefix(name: str) -> str:
    """What a near-name lookup asks for: the first three characters, so a typo later in the name still finds it."""
    return name[:3]


# https://learn.microsoft.com/graph/api/user-list (filter: startswith on userPrincipalName, a default query);
# one page, as an entity: the suggestions for a name the file has and the tenant has not.
def users_list_near(user_principal_name: str) -> GraphRequest:
    return GraphRequest(
        "/users",
        "entity",
        (
            ("$filter", f"startswith(userPrincipalName,{_odata_string(_prefix(user_principal_name))})"),
            _select("userPrincipalName"),
            ("$top", str(NEAR_NAMES_PAGE)),
        ),
        permission=USER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list (filter: startswith on displayName, a default query)
def groups_list_near(display_name: str) -> GraphRequest:
    return GraphRequest(
        "/groups",
        "entity",
        (
            ("$filter", f"startswith(displayName,{_odata_string(_prefix(display_name))})"),
            _select("displayName"),
            ("$top", str(NEAR_NAMES_PAGE)),
        ),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list (filter: displayName eq, the name as an OData string literal)
def groups_list_by_display_name(display_name: str) -> GraphRequest:
    return GraphRequest(
        "/groups",
        "collection",
        (("$filter", f"displayName eq {_odata_string(display_name)}"), _select(*GROUP_FIELDS)),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list-members (OData cast to microsoft.graph.user)
# Direct members only: assignment to a group does not reach members of nested groups, and grants follow
# the same rule (docs/tenant-file.md). The cast on a direct-members list is not an advanced query.
def groups_list_user_members(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}/members/microsoft.graph.user",
        "collection",
        (_select(*USER_FIELDS),),
        permission=GROUP_MEMBER_READ,
    )


# https://learn.microsoft.com/graph/api/group-list-transitivemembers (OData cast to microsoft.graph.user)
# An OData cast on a transitive members list is an advanced query
# (https://learn.microsoft.com/graph/aad-advanced-queries): without ConsistencyLevel and $count Graph answers 400.
def groups_list_transitive_user_members(object_id: str) -> GraphRequest:
    return GraphRequest(
        f"/groups/{object_id}/transitiveMembers/microsoft.graph.user",
        "collection",
        (_select(*USER_FIELDS),),
        permission=GROUP_MEMBER_READ,
        advanced=True,
    )


# https://learn.microsoft.com/graph/api/authorizationpolicy-get
def policies_get_authorization_policy() -> GraphRequest:
    return GraphRequest("/policies/authorizationPolicy", "entity", permission=POLICY_READ)


ADMIN_CONSENT_REQUEST_POLICY_FIELDS = (
    "isEnabled",
    "notifyReviewers",
    "remindersEnabled",
    "requestDurationInDays",
    "reviewers",
)
"""What the admin consent workflow is: audit compares all of it with the file, the provider reads it back."""


# https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-get
def policies_get_admin_consent_request_policy() -> GraphRequest:
    return GraphRequest(
        "/policies/adminConsentRequestPolicy",
        "entity",
        (_select(*ADMIN_CONSENT_REQUEST_POLICY_FIELDS),),
        permission=POLICY_READ,
    )


# ------------------------------------------------------------------------------------- credentials

TokenSource = Callable[[], str]

GITHUB_TOKEN_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
ENTRA_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Entra expects on a federated credential's token (Entra admin centre > Certificates &
secrets > Federated credentials, "Audience"), asked of the CI's token service as ``audience=``."""
ADO_OIDC_API_VERSION = "7.1"
"""The Azure DevOps OIDC token API version go-azure-sdk asks for (sdk/auth/ado_pipeline_oidc_authorizer.go)."""
METADATA_HOST_ENV = "ARM_METADATA_HOSTNAME"
ENVIRONMENT_ENV = "ARM_ENVIRONMENT"
METADATA_API_VERSION = "2022-09-01"
"""The metadata document go-azure-sdk reads (sdk/internal/metadata/client.go, GetMetaData)."""
IMDS_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
"""go-azure-sdk's managed identity request (sdk/auth/managed_identity_authorizer.go): this endpoint unless
``ARM_MSI_ENDPOINT`` names another, this API version, the resource, and the client id when there is one."""


def provider_endpoints(environ: Mapping[str, str], transport: httpx.BaseTransport | None = None) -> CloudEndpoints:
    """The cloud the stack's azuread provider signs in to and calls, as it chooses it (provider.go:308-317):
    the metadata document of ``ARM_METADATA_HOSTNAME`` when it is set (go-azure-sdk environments.FromEndpoint:
    Graph is its ``microsoftGraphResourceId``, sign-in its ``authentication.loginEndpoint``), else the cloud
    ``ARM_ENVIRONMENT`` names (environments.FromName; pulumi-azuread's default is ``public``).

    Raises ``CredentialError``: a cloud the provider does not know, or a metadata host that does not answer,
    is the user's setup, found before anything is read.
    """
    host = environ.get(METADATA_HOST_ENV, "")
    if host:
        return _metadata_endpoints(host, transport)
    name = (environ.get(ENVIRONMENT_ENV) or "public").lower()
    endpoints = PROVIDER_ENVIRONMENTS.get(name)
    if endpoints is None:
        known = ", ".join(sorted(PROVIDER_ENVIRONMENTS))
        raise CredentialError(f"{ENVIRONMENT_ENV} is {name!r}: not a cloud the azuread provider knows ({known})")
    return endpoints


def _metadata_endpoints(host: str, transport: httpx.BaseTransport | None) -> CloudEndpoints:
    # Always https, as go-azure-sdk asks (provider.go:310, fmt.Sprintf("https://%s", metadataHost)).
    url = f"https://{host}/metadata/endpoints?api-version={METADATA_API_VERSION}"
    where = f"{METADATA_HOST_ENV}: the cloud's endpoints at https://{host}/metadata/endpoints"
    try:
        with httpx.Client(timeout=DEFAULT_TIMEOUT, transport=transport, follow_redirects=False) as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        raise CredentialError(f"{where} could not be read: {type(exc).__name__}: {_first_line(exc)}") from None
    if response.status_code != 200:
        raise CredentialError(f"{where} could not be read: HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise CredentialError(f"{where} answered something that is not a metadata document")
    graph = str(document.get("microsoftGraphResourceId") or "").rstrip("/")  # metadata/helpers.go normalizeResourceId
    login = str((document.get("authentication") or {}).get("loginEndpoint") or "").rstrip("/")
    if not graph or not login:
        raise CredentialError(f"{where} name no Microsoft Graph (microsoftGraphResourceId) or no sign-in endpoint")
    return CloudEndpoints(graph, login, known_to_microsoft=False)


def token_source(
    tenant_id: str,
    auth: AuthSection,
    endpoints: CloudEndpoints,
    graph_base: str,
    environ: Mapping[str, str] | None = None,
    *,
    ready_token: bool = False,
) -> TokenSource:
    """Where bearer tokens for ``graph_base`` come from, for one tenant. Nothing is requested yet.

    Signs in as the stack's azuread provider does (``infra.signin.sign_in``), at ``endpoints``' sign-in
    endpoint, for the Graph at ``graph_base`` (the token's audience must be the Graph it is sent to).
    ``ready_token``: ``TAXCALC_CONSENT_GRAPH_TOKEN`` serves first when set (``audit`` and ``adopt`` only).
    Raises ``CredentialError`` when the auth block and the environment cannot make a credential.
    """
    env = os.environ if environ is None else environ
    ready = env.get(TOKEN_ENV) if ready_token else None
    if ready:
        token = ready.strip()
        _check_ready_token(token, tenant_id, graph_base)
        return lambda: token
    scope = graph_base.rstrip("/") + "/.default"
    found = sign_in(tenant_id, auth, env)
    # Made now, so a value azure-identity refuses is a CredentialError before anything is read.
    unused = [_credential(found, endpoints)]

    cached: list[Any] = []
    # One tenant's reads may run at once (GraphClient.reads): one of them asks for a token, the others wait for it.
    lock = threading.Lock()

    def fetch() -> str:
        from azure.core.exceptions import AzureError

        with lock:
            # Some credentials (Azure CLI) run a process per call: reuse a token until 5 minutes before expiry.
            if cached and cached[0].expires_on - 300 > time.time():
                return str(cached[0].token)
            credential = unused.pop() if unused else _credential(found, endpoints)
            try:
                cached[:] = [credential.get_token(scope, tenant_id=tenant_id)]
                return str(cached[0].token)
            except (GraphError, CredentialError):
                raise  # the CI's token request failed: already said in one line
            except (AzureError, OSError, ValueError) as exc:
                # azure-identity messages name the credential that failed and why (an AADSTS code from Entra);
                # they carry no secret. One line: the rest is a troubleshooting link.
                raise GraphError(f"could not get a token for tenant {tenant_id}: {_first_line(exc)}") from None
            finally:
                # One credential per token (a token outlives any run): its connections close with it, none is
                # left for the garbage collector. A later token, if one is needed, signs in afresh.
                close = getattr(credential, "close", None)
                if callable(close):
                    close()

    return fetch


def _check_ready_token(token: str, tenant_id: str, graph_base: str) -> None:
    """A ready token acts on one tenant only: the one whose id it carries (its ``tid`` claim).

    Every run names its tenants in files, and a token from the environment applies to all of them; without
    this check, one client's token would read (and adopt record) that client's objects under another
    client's name. Entra access tokens are JWTs whose payload names the tenant
    (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#payload-claims).
    The signature is Graph's to check, not ours: this only refuses a token aimed at another tenant. A
    token that is no JWT is never one Entra issued, so it is accepted only by a Graph on this machine (a
    local emulator, as the tests use).
    """
    import base64
    import binascii
    import json

    pieces = token.split(".")
    claims: Any = None
    if len(pieces) == 3:
        payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload))
        except (binascii.Error, ValueError):
            claims = None
    issued_for = claims.get("tid") if isinstance(claims, dict) else None
    if not isinstance(issued_for, str):
        if _is_loopback(graph_base):
            return
        raise CredentialError(
            f"{TOKEN_ENV} is not an Entra access token naming its tenant (no tid claim): "
            "unset it, or set it to a token issued for this tenant"
        )
    if issued_for.lower() != tenant_id.lower():
        raise CredentialError(
            f"{TOKEN_ENV} was issued for tenant {issued_for}, not {tenant_id} (the file's tenant.id): "
            f"a ready token serves one tenant; run one tenant file at a time with it, or unset it"
        )


def _credential(signin: SignIn, endpoints: CloudEndpoints) -> Any:
    """An azure-identity credential that signs in the way ``signin`` says, at ``endpoints``' sign-in endpoint.

    Each asks Entra what go-azure-sdk asks it (the client-credentials grant at the tenant's v2.0 token
    endpoint) with the same values; MSAL first reads the tenant's OpenID configuration there. Instance
    discovery is off for a cloud from a metadata document, as azure-identity advises for private clouds and
    Azure Stack (go-azure-sdk never does instance discovery at all).
    """
    # Imported here: azure.identity is slow to import and only needed when a real token is wanted.
    from azure import identity

    authority = endpoints.login
    options: dict[str, Any] = {"authority": authority}
    if not endpoints.known_to_microsoft:
        options["disable_instance_discovery"] = True
    tenant, client_id = signin.tenant_id, signin.client_id
    try:
        if signin.method == "client-certificate":
            if signin.certificate:
                return identity.CertificateCredential(
                    tenant,
                    client_id,
                    certificate_data=signin.certificate,
                    password=signin.certificate_password or None,
                    **options,
                )
            return identity.CertificateCredential(
                tenant,
                client_id,
                certificate_path=signin.certificate_path,
                password=signin.certificate_password or None,
                **options,
            )
        if signin.method == "client-secret":
            return identity.ClientSecretCredential(tenant, client_id, signin.client_secret, **options)
        if signin.method == "oidc-token":
            token = signin.oidc_token
            return identity.ClientAssertionCredential(tenant, client_id, lambda: token, **options)
        if signin.method == "ado-pipeline-oidc":
            url, request_token, connection = (
                signin.oidc_request_url,
                signin.oidc_request_token,
                signin.ado_service_connection_id,
            )
            return identity.ClientAssertionCredential(
                tenant, client_id, lambda: ado_pipeline_id_token(url, request_token, connection), **options
            )
        if signin.method == "github-oidc":
            url, request_token = signin.oidc_request_url, signin.oidc_request_token
            return identity.ClientAssertionCredential(
                tenant, client_id, lambda: github_actions_id_token(url, request_token), **options
            )
        if signin.method == "msi":
            return ImdsCredential(client_id, signin.msi_endpoint)
        return identity.AzureCliCredential(tenant_id=tenant)
    except (ValueError, OSError) as exc:
        # azure-identity validates its arguments in the constructor (a malformed value, an unreadable certificate).
        raise CredentialError(f"signing in with {signin.describe()}: {_first_line(exc)}") from None


@dataclass
class ImdsCredential:
    """A managed identity's token, asked as go-azure-sdk asks (sdk/auth/managed_identity_authorizer.go):
    ``GET <endpoint>?api-version=2018-02-01&resource=<Graph>[&client_id=<id>]`` with ``Metadata: true``, at
    ``ARM_MSI_ENDPOINT`` or the Azure Instance Metadata Service; the answer holds ``access_token`` and
    ``expires_in``. (azure-identity's ManagedIdentityCredential picks another endpoint by other variables.)"""

    client_id: str
    endpoint: str = ""
    timeout: float = 30.0

    def get_token(self, *scopes: str, tenant_id: str | None = None) -> Any:
        from azure.core.credentials import AccessToken

        resource = scopes[0].removesuffix("/.default") if scopes else ""
        query = {"api-version": IMDS_API_VERSION, "resource": resource}
        if self.client_id:
            query["client_id"] = self.client_id
        url = self.endpoint or IMDS_ENDPOINT
        where = f"the managed identity endpoint {_origin(url)}"
        try:
            response = httpx.get(url, params=query, headers={"Metadata": "true"}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise GraphError(f"could not get a managed identity token: {type(exc).__name__} from {where}") from None
        if not 200 <= response.status_code <= 299:
            raise GraphError(f"could not get a managed identity token: HTTP {response.status_code} from {where}")
        try:
            answer = response.json()
            token = str(answer["access_token"])
            lifetime = int(str(answer.get("expires_in") or "0"))
        except (ValueError, KeyError, TypeError):
            raise GraphError(f"could not get a managed identity token: {where} answered without a token") from None
        return AccessToken(token, int(time.time()) + lifetime)


def github_actions_id_token(request_url: str, request_token: str, timeout: float = 30.0) -> str:
    """The runner's OIDC token for Entra, asked as go-azure-sdk asks (sdk/auth/github_oidc_authorizer.go,
    githubAssertion): GET the request URL, ``audience=api://AzureADTokenExchange`` added when the URL names
    no audience, ``Authorization: Bearer <request token>``; the answer is ``{"value": "<JWT>"}``. Neither
    token ever appears in an error message."""
    try:
        url = httpx.URL(request_url)
        if not url.params.get("audience"):
            url = url.copy_merge_params({"audience": ENTRA_TOKEN_EXCHANGE_AUDIENCE})
    except (httpx.InvalidURL, TypeError):
        raise CredentialError("the OIDC token request URL is not a URL") from None
    answer = _ci_token_request("GET", url, request_token, timeout, "the GitHub Actions OIDC token")
    value = answer.get("value")
    if not isinstance(value, str) or not value:
        raise GraphError(f"could not get the GitHub Actions OIDC token: {_origin(str(url))} answered without a value")
    return value


def ado_pipeline_id_token(
    request_url: str, request_token: str, service_connection_id: str, timeout: float = 30.0
) -> str:
    """An Azure DevOps pipeline's OIDC token for Entra, asked as go-azure-sdk asks
    (sdk/auth/ado_pipeline_oidc_authorizer.go, adoPipelineAssertion): POST the request URL with
    ``api-version=7.1``, ``serviceConnectionId`` and ``audience`` added where missing, ``Authorization: Bearer
    <SYSTEM_ACCESSTOKEN>``; the answer is ``{"oidcToken": "<JWT>"}``."""
    try:
        url = httpx.URL(request_url)
        extra = {
            "api-version": ADO_OIDC_API_VERSION,
            "serviceConnectionId": service_connection_id,
            "audience": ENTRA_TOKEN_EXCHANGE_AUDIENCE,
        }
        url = url.copy_merge_params({k: v for k, v in extra.items() if not url.params.get(k)})
    except (httpx.InvalidURL, TypeError):
        raise CredentialError("the OIDC token request URL is not a URL") from None
    answer = _ci_token_request("POST", url, request_token, timeout, "the Azure DevOps OIDC token")
    value = answer.get("oidcToken")
    if not isinstance(value, str) or not value:
        raise GraphError(f"could not get the Azure DevOps OIDC token: {_origin(str(url))} answered without a token")
    return value


def _ci_token_request(method: str, url: httpx.URL, request_token: str, timeout: float, what: str) -> dict[str, Any]:
    where = f"{url.scheme}://{url.host}"
    headers = {"Authorization": f"Bearer {request_token}", "Accept": "application/json"}
    try:
        response = httpx.request(method, url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise GraphError(f"could not get {what}: {type(exc).__name__} from {where}") from None
    if not 200 <= response.status_code <= 299:
        raise GraphError(f"could not get {what}: HTTP {response.status_code} from {where}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------ client

GraphResult = list[dict[str, Any]] | dict[str, Any] | None
_Answer = tuple[int, dict[str, Any], dict[str, str]]
"""One request's answer inside a ``$batch``: status, body, headers (lower-case names)."""
T = TypeVar("T")
U = TypeVar("U")

DEFAULT_TIMEOUT = 30.0


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


def shared_http_client(connections: int, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """One connection pool for a whole run, shared by every tenant's GraphClient (httpx clients can be
    shared between threads). Each request still carries only its own tenant's token, and the pool keeps
    no cookies, so nothing one tenant's answers set travels with another tenant's requests."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


@dataclass
class GraphClient:
    """Reads from one tenant's Microsoft Graph. Never writes."""

    base_url: str
    """Graph's root, e.g. https://graph.microsoft.com (the API version is appended)."""
    token: TokenSource
    sleep: Callable[[float], None] = _default_sleep
    timeout: float = DEFAULT_TIMEOUT
    transport: httpx.BaseTransport | None = None
    http: httpx.Client | None = None
    """A connection pool shared with other tenants' clients (``shared_http_client``); its owner closes
    it, never this client. None: the client opens its own on first use and closes it in ``close``."""
    reads: Executor | None = None
    """Where this tenant's independent reads run at once (a ``$batch`` of more than 20 requests, the later
    pages of different collections), at most ``TENANT_READS_AT_ONCE`` per call. None: one after another.
    Tasks put there never wait on other tasks, so it may be shared by every tenant of a run."""
    _http: httpx.Client | None = field(default=None, init=False, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def root(self) -> str:
        return f"{self.base_url.rstrip('/')}/{API_VERSION}"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- public reads

    def collection(self, request: GraphRequest) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink to the last page."""
        if request.kind != "collection":
            raise ValueError(f"{request.path} is not a collection")
        first = self._send("GET", f"{self.root}{request.relative_url}", request.path, request=request)
        return self._all_pages(first, request)

    def entity(self, request: GraphRequest) -> dict[str, Any] | None:
        """One entity; None when it does not exist and the request allows that."""
        if request.kind != "entity":
            raise ValueError(f"{request.path} is a collection")
        try:
            return self._send("GET", f"{self.root}{request.relative_url}", request.path, request=request)
        except GraphError as exc:
            if exc.status == 404 and request.missing_ok:
                return None
            raise

    def batch(self, requests: Sequence[GraphRequest]) -> list[GraphResult]:
        """Run many reads in as few round trips as Graph allows ($batch, 20 at a time), in order.

        Throttled parts of a batch are sent again after their Retry-After; later pages of collections
        are fetched with plain GETs. With ``reads``, the batches go at once, and so do the later pages of
        different collections; the answers, and the first failure (in request order), are the same, and
        nothing is still being read when this returns or raises.
        """
        chunks = [requests[start : start + BATCH_LIMIT] for start in range(0, len(requests), BATCH_LIMIT)]
        with _ReadsAtOnce(self.reads) as at_once:

            def send(chunk: Sequence[GraphRequest]) -> list[_Answer]:
                return self._batch_chunk(chunk, at_once.stop)

            def follow(first: tuple[dict[str, Any], GraphRequest]) -> list[dict[str, Any]]:
                return self._all_pages(*first, stop=at_once.stop)

            sent = at_once.submit(send, chunks)
            answered = _in_order([f.result for f in sent] if sent else [partial(send, chunk) for chunk in chunks])
            answers = [answer for chunk in answered for answer in chunk]
            # Later pages: one task per collection that has them, each following its own nextLinks in order.
            paged = [
                index
                for index, (request, (status, body, _)) in enumerate(zip(requests, answers, strict=True))
                if status < 400 and request.kind == "collection" and body.get("@odata.nextLink")
            ]
            followed = at_once.submit(follow, [(answers[i][1], requests[i]) for i in paged])
            pages = dict(zip(paged, followed, strict=False))
            return _in_order(
                [
                    partial(self._result, request, answer, pages.get(index))
                    for index, (request, answer) in enumerate(zip(requests, answers, strict=True))
                ]
            )

    # ---------------------------------------------------------------------------------- internals

    def _client(self) -> httpx.Client:
        if self.http is not None:
            return self.http
        with self._opening:  # reads at once: one of them opens the client, the others use it
            if self._http is None:
                self._http = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False)
            return self._http

    def _result(
        self, request: GraphRequest, answer: _Answer, pages: Future[list[dict[str, Any]]] | None
    ) -> GraphResult:
        status, body, headers = answer
        if status >= 400:
            if status == 404 and request.missing_ok:
                return None
            raise _error_from_body(status, body, headers, f"GET {request.path} (in $batch)", request.permission)
        if request.kind == "entity":
            return body
        return pages.result() if pages is not None else self._all_pages(body, request)

    def _batch_chunk(self, requests: Sequence[GraphRequest], stop: threading.Event | None = None) -> list[_Answer]:
        """One ``$batch`` POST (sent again for its throttled parts): each request's raw answer, in order."""
        pending = {str(i): r for i, r in enumerate(requests, start=1)}
        bodies: dict[str, _Answer] = {}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            payload = {"requests": [_batch_item(key, r) for key, r in pending.items()]}
            answer = self._send("POST", f"{self.root}/$batch", "/$batch", json_body=payload)
            retry_after: list[float] = []
            for response in answer.get("responses", []):
                key = str(response.get("id"))
                if key not in pending:
                    continue
                status = int(response.get("status", 0))
                headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
                body = response.get("body") if isinstance(response.get("body"), dict) else {}
                delay = _retry_delay(headers.get("retry-after"), attempt)
                if status in RETRY_STATUSES and attempt < MAX_ATTEMPTS and delay is not None:
                    retry_after.append(delay)
                    continue
                bodies[key] = (status, body or {}, headers)
                del pending[key]
            if not pending:
                break
            if not retry_after:
                missing = ", ".join(r.path for r in pending.values())
                raise GraphError(f"$batch answered without responses for {missing}", request="POST /$batch")
            if stop is not None and stop.is_set():
                raise _Abandoned
            self.sleep(max(retry_after))
        return [bodies[str(i)] for i in range(1, len(requests) + 1)]

    def _all_pages(
        self, page: dict[str, Any], request: GraphRequest, stop: threading.Event | None = None
    ) -> list[dict[str, Any]]:
        path = request.path
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            value = page.get("value")
            if not isinstance(value, list):
                raise GraphError("expected a collection (a 'value' list) in the response", request=f"GET {path}")
            items.extend(v for v in value if isinstance(v, dict))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            if next_link in seen:
                raise GraphError("@odata.nextLink repeats a page already read", request=f"GET {path}")
            if _origin(str(next_link)) != _origin(self.base_url):
                # The bearer token goes with every request: never to a host other than the Graph we asked.
                raise GraphError(
                    f"@odata.nextLink leaves {_origin(self.base_url)}; not followed", request=f"GET {path}"
                )
            seen.add(next_link)
            if stop is not None and stop.is_set():
                raise _Abandoned
            page = self._send("GET", str(next_link), path, request=request)

    def _send(
        self,
        method: Literal["GET", "POST"],
        url: str,
        shown: str,
        json_body: dict[str, Any] | None = None,
        request: GraphRequest | None = None,
    ) -> dict[str, Any]:
        _assert_read_only(method, shown, json_body)
        described = f"{method} {shown}"
        transport_failures = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            token = self.token()
            if not token:
                raise GraphError("no access token to send", request=described)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if request is not None:
                headers.update(request.headers)
            try:
                response = self._client().request(method, url, headers=headers, json=json_body)
            except httpx.HTTPError as exc:
                # Reads only (a $batch holds GETs only: _assert_read_only), so sending one again is safe.
                transient = isinstance(exc, TRANSIENT_TRANSPORT_ERRORS)
                if transient and transport_failures < TRANSPORT_RETRIES and attempt < MAX_ATTEMPTS:
                    transport_failures += 1
                    self.sleep(_backoff(transport_failures))
                    continue
                raise GraphError(f"{type(exc).__name__}: cannot reach {_origin(url)}", request=described) from None
            delay = _retry_delay(response.headers.get("Retry-After"), attempt)
            if response.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS and delay is not None:
                self.sleep(delay)
                continue
            body = _json_body(response)
            if response.status_code >= 400:
                permission = request.permission if request is not None else None
                raise _error_from_body(response.status_code, body, dict(response.headers), described, permission)
            return body
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


class _Abandoned(Exception):
    """A read stopped because another read of its batch has already failed."""


def _in_order(results: Sequence[Callable[[], T]]) -> list[T]:
    """Each result in order; the first failure in order is raised, as reading one after another would
    meet it first. A read abandoned because another failed is passed over: that other failure is raised
    (submission stops at a failure, so it is among these)."""
    values: list[T] = []
    for result in results:
        try:
            values.append(result())
        except _Abandoned:
            continue
    if len(values) < len(results):
        raise RuntimeError("reads were abandoned with no failure to report")  # pragma: no cover
    return values


class _ReadsAtOnce:
    """The reads of one ``batch`` call that run at once on an executor: at most TENANT_READS_AT_ONCE in
    flight, no new one once one has failed, and every one finished (told to stop at its next request)
    when the block ends. Without an executor it submits nothing, and the caller reads in order itself."""

    def __init__(self, executor: Executor | None) -> None:
        self._executor = executor
        self._futures: list[Future[Any]] = []
        self.stop = threading.Event()

    def __enter__(self) -> _ReadsAtOnce:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for future in self._futures:
            future.cancel()
        wait(self._futures)

    def submit(self, work: Callable[[T], U], items: Sequence[T]) -> list[Future[U]]:
        """``work`` for each item, in order; none with fewer than two items or without an executor."""
        if self._executor is None or len(items) < 2:
            return []
        slots = threading.Semaphore(TENANT_READS_AT_ONCE)

        def done(future: Future[U]) -> None:
            if not future.cancelled() and future.exception() is not None:
                self.stop.set()
            slots.release()

        futures: list[Future[U]] = []
        for item in items:
            slots.acquire()
            if self.stop.is_set():
                slots.release()
                break
            future = self._executor.submit(work, item)
            future.add_done_callback(done)
            futures.append(future)
        self._futures += futures
        return futures


def _batch_item(key: str, request: GraphRequest) -> dict[str, Any]:
    item: dict[str, Any] = {"id": key, "method": "GET", "url": request.relative_url}
    if request.headers:
        # json-batching: headers a request needs (ConsistencyLevel) travel inside its batch entry.
        item["headers"] = request.headers
    return item


def _assert_read_only(method: str, shown: str, json_body: dict[str, Any] | None) -> None:
    """This client never writes: only GETs, and $batch POSTs whose every request is a GET."""
    if method == "GET":
        return
    batch = method == "POST" and shown == "/$batch" and json_body is not None
    if batch and all(r.get("method") == "GET" for r in (json_body or {}).get("requests", [])):
        return
    raise RuntimeError(f"the Graph client is read-only; refusing {method} {shown}")


def _retry_delay(retry_after: str | None, attempt: int) -> float | None:
    """Retry-After (seconds) when Graph sends it, else exponential backoff with jitter; None when Graph asks
    for a longer wait than MAX_BACKOFF_SECONDS (then the answer is final)."""
    if retry_after:
        try:
            seconds = max(float(retry_after), 0.0)
        except ValueError:
            pass  # an HTTP-date: Graph sends seconds, so fall back to backoff
        else:
            return seconds if seconds <= MAX_BACKOFF_SECONDS else None
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4, ... seconds, at most MAX_BACKOFF_SECONDS."""
    return float(min(2 ** (attempt - 1) + random.uniform(0, 1), MAX_BACKOFF_SECONDS))


def _json_body(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_from_body(
    status: int, body: dict[str, Any], headers: dict[str, str], request: str, permission: str | None = None
) -> GraphError:
    """Graph's error shape: {"error": {"code", "message", "innerError": {"request-id", "date"}}}.

    A 403 (Authorization_RequestDenied: "Insufficient privileges to complete the operation.") names the
    permission the request needs."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    assert isinstance(error, dict)
    inner = error.get("innerError") or error.get("innererror") or {}
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = (inner.get("request-id") if isinstance(inner, dict) else None) or lowered.get("request-id")
    code = str(error.get("code") or "") or None
    message = str(error.get("message") or "") or f"HTTP {status} with no Graph error body"
    wait = _retry_delay(lowered.get("retry-after"), 1) if status in RETRY_STATUSES else 0.0
    return GraphError(
        message,
        status=status,
        code=code,
        request_id=request_id,
        request=request,
        missing_permission=permission if status == 403 else None,
        wait_seconds=float(lowered["retry-after"]) if wait is None else None,
    )


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


_HOST_LABELS = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?", re.ASCII)


def endpoint_problem(override: str) -> str | None:
    """Why ``override`` cannot be a Graph root (said after "--graph-endpoint "), or None when it can.

    A value httpx cannot parse (``https://host:abc``, ``https://[::1``), a port outside 1-65535 or a host
    name with a space in it is the user's typing, refused before any token is requested."""
    absolute = "must be an absolute http(s) URL such as https://graph.microsoft.com"
    try:
        url = httpx.URL(override)
        port = url.port
        host = url.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeDecodeError) as exc:
        return f"{absolute} ({_first_line(exc)})"
    if url.scheme not in ("https", "http") or not host:
        return absolute
    if port is not None and not 1 <= port <= 65535:
        return f"{absolute}: port {port} is outside 1-65535"
    if not (_HOST_LABELS.fullmatch(host) or _is_ip_address(host)):
        return f"{absolute}: a host name holds only letters, digits, '-' and '.'"
    if url.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        return "may use http:// only for localhost; tokens never travel in clear text"
    return None


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def graph_base_url(cloud: CloudEndpoints, override: str | None) -> str:
    """The Graph root for a cloud, or the --graph-endpoint override (sovereign or test)."""
    if override is not None:
        problem = endpoint_problem(override)
        if problem:
            raise GraphError(f"--graph-endpoint {problem}")
        return override.rstrip("/")
    return cloud.graph


def client_for_tenant(
    tenant_id: str,
    auth: AuthSection,
    cloud: CloudEndpoints = CLOUDS["public"],
    endpoint: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    http: httpx.Client | None = None,
    reads: Executor | None = None,
) -> GraphClient:
    """A read-only client for one tenant, for ``audit`` and ``adopt``: the cloud's Graph (or the override),
    a ready token when one is set, else the tenant's sign-in (``infra.signin``); ``http`` and ``reads``: a
    connection pool and an executor shared by a run's tenants (see GraphClient)."""
    base = graph_base_url(cloud, endpoint)
    tokens = token_source(tenant_id, auth, cloud, base, environ, ready_token=True)
    return GraphClient(base, tokens, http=http, reads=reads)


def program_client(
    tenant_id: str,
    auth: AuthSection,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GraphClient:
    """A read-only client for the program's own Graph calls (group reads; the consent-settings provider reads and
    writes through it): the azuread provider's cloud and sign-in, nothing else. ``TAXCALC_CONSENT_GRAPH_ENDPOINT``
    overrides the Graph root (the program has no ``--graph-endpoint`` option). No ready token: the program
    acts as the provider's identity only."""
    env = os.environ if environ is None else environ
    cloud = provider_endpoints(env, transport)
    base = graph_base_url(cloud, env.get(GRAPH_ENDPOINT_ENV) or None)
    return GraphClient(base, token_source(tenant_id, auth, cloud, base, env), transport=transport)


def _is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
