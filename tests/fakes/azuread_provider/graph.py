"""How the test provider reaches Microsoft Graph: endpoints, sign-in and requests, as go-azure-sdk does them.

- Endpoints: with ``metadata_host`` set, ``GET https://{host}/metadata/endpoints?api-version=2022-09-01``
  (go-azure-sdk sdk/environments/from_endpoint.go, sdk/internal/metadata/client.go); Microsoft Graph is the
  document's ``microsoftGraphResourceId``, sign-in its ``authentication.loginEndpoint``.
- Sign-in: the client-credentials grant at ``{login}/{tenant}/oauth2/v2.0/token`` with scope
  ``{graph}/.default``, with a client secret or a client assertion (an OIDC token in hand, or GitHub Actions'
  token fetched from the runner), or a token from ``az account get-access-token``; the token's claims give the
  caller's object id (internal/clients/client.go).
- Requests: a failure is retried by the policy of go-azure-sdk's base client (sdk/client/client.go
  ``Execute``, its CheckRetry): an answer with 408 or 424 always, then the operation's own ``RetryFunc``, then
  go-retryablehttp's ``DefaultRetryPolicy`` (429, and 5xx except 501). A request that got no answer (the
  connection dropped) is retried only when ``Request.IsIdempotent`` (GET, HEAD, OPTIONS), and for Graph (any
  host but Resource Manager's) through ``extendedRetryPolicy``, which never retries a dial error (``dial
  tcp``) or an ``EOF``: a reset or a timeout is retried, a refused connection or a server that closed without
  answering is not. Any other method fails at once: "HTTP response was nil; connection may have been reset".
  (Go's net/http may also replay a GET once on a reused connection; not modelled, it never replays a DELETE.)
  The wait honours ``Retry-After`` and otherwise doubles from 1 s up to 61 s, until the operation's deadline.
  The error text is the SDK's: ``unexpected status 409 (409 Conflict) with error: <code>: <message>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

RetryFunc = Callable[[int, "ODataError | None"], bool]
"""(status, OData error or None) -> retry? The per-operation ``RetryFunc`` of terraform-provider-azuread."""

RETRY_WAIT_MIN = 1.0
RETRY_WAIT_MAX = 61.0


class ProviderError(Exception):
    """A failure the provider reports to the engine, worded as terraform-provider-azuread words it."""


@dataclass(frozen=True)
class ODataError:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message

    def matches(self, text: str) -> bool:
        import re

        return re.search(text, str(self)) is not None


class GraphRequestError(ProviderError):
    def __init__(self, status: int, odata: ODataError | None, body: bytes) -> None:
        self.status = status
        self.odata = odata
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        shown = f"{status} ({status} {reason})" if reason else str(status)
        if odata is not None:
            text = f"unexpected status {shown} with error: {odata}"
        elif body:
            text = f"unexpected status {shown} with response: {body.decode(errors='replace')}"
        else:
            text = f"unexpected status {shown} received with no body"
        super().__init__(text)

    @property
    def not_found(self) -> bool:
        return self.status == 404


class NoAnswerError(GraphRequestError):
    """A request that got no answer (the connection dropped, was refused or timed out), as net/http reports it
    (``url.Error``: `Delete "https://...": <error>`). A GraphRequestError with no status, so each resource
    wraps it in its diagnostic as it wraps any other failure (tf.ErrorDiagF takes any error)."""

    def __init__(self, method: str, url: str, detail: str) -> None:
        ProviderError.__init__(self, f'{method[:1]}{method[1:].lower()} "{url}": {detail}')
        self.status = 0
        self.odata = None


@dataclass(frozen=True)
class Endpoints:
    graph: str
    """Microsoft Graph's root, no trailing slash."""
    login: str
    """The sign-in authority's root, no trailing slash."""


PUBLIC_CLOUD = Endpoints("https://graph.microsoft.com", "https://login.microsoftonline.com")
CLOUDS = {
    # go-azure-sdk sdk/environments: the names terraform-provider-azuread's `environment` accepts.
    "global": PUBLIC_CLOUD,
    "public": PUBLIC_CLOUD,
    "usgovernment": Endpoints("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "usgovernmentl4": Endpoints("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "usgovernmentl5": Endpoints("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "dod": Endpoints("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": Endpoints("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}


async def discover(metadata_host: str, http: httpx.AsyncClient) -> Endpoints:
    """Endpoints from the Azure Metadata Service at ``metadata_host`` (environments.FromEndpoint), over https
    (provider.go: ``fmt.Sprintf("https://%s", metadataHost)``)."""
    endpoint = f"https://{metadata_host}"
    uri = f"{endpoint}/metadata/endpoints?api-version=2022-09-01"
    try:
        response = await http.get(uri)
    except httpx.HTTPError as exc:
        raise ProviderError(f'retrieving metadata from endpoint "{endpoint}": performing request: {exc}') from None
    if response.status_code != 200:
        raise ProviderError(
            f'retrieving metadata from endpoint "{endpoint}": performing request: expected 200 OK but got '
            f"{response.status_code} {response.reason_phrase}"
        )
    document = response.json()
    if not document.get("name"):
        raise ProviderError("retrieving metadata from endpoint: `name` was nil")
    if not document.get("resourceManager"):
        raise ProviderError("retrieving metadata from endpoint: no `resourceManagerEndpoint` was returned")
    graph = str(document.get("microsoftGraphResourceId") or "")
    if not graph:
        raise ProviderError("retrieving metdata from endpoint: no `microsoftGraphResourceId` was returned")
    login = str((document.get("authentication") or {}).get("loginEndpoint") or "")
    return Endpoints(graph.rstrip("/"), login.rstrip("/"))


def token_claims(token: str) -> dict[str, Any]:
    """The claims of an access token, read without verifying it, as internal/clients/client.go does."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise ProviderError("parsing claims in access token: token is not a JWT") from None
    if not isinstance(claims, dict):
        raise ProviderError("parsing claims in access token: claims are not an object")
    return claims


async def client_credentials(
    endpoints: Endpoints, tenant_id: str, client_id: str, credential: dict[str, str], http: httpx.AsyncClient
) -> str:
    """An app-only token for Microsoft Graph by the client-credentials grant at ``{login}/{tenant}/oauth2/v2.0/token``
    with scope ``{graph}/.default`` (client_credentials.go ``tokenEndpoint``, client_secret_authorizer.go
    ``Token``, ClientAssertionAuthorizer ``token``): ``credential`` is the client secret or the client assertion.
    Never puts a secret or an assertion in an error."""
    url = f"{endpoints.login}/{tenant_id}/oauth2/v2.0/token"
    form = {"client_id": client_id, "grant_type": "client_credentials", "scope": f"{endpoints.graph}/.default"}
    form.update(credential)
    try:
        response = await http.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"unable to obtain access token: clientCredentialsToken: cannot request token: {exc}"
        ) from None
    if not 200 <= response.status_code <= 299:
        raise ProviderError(
            f"unable to obtain access token: clientCredentialsToken: received HTTP status {response.status_code} "
            f"with response: {response.text}"
        )
    return str(response.json()["access_token"])


async def sign_in(
    endpoints: Endpoints, tenant_id: str, client_id: str, client_secret: str, http: httpx.AsyncClient
) -> str:
    """The client secret way (auth.go, ClientSecretAuthorizer)."""
    return await client_credentials(endpoints, tenant_id, client_id, {"client_secret": client_secret}, http)


async def sign_in_with_assertion(
    endpoints: Endpoints, tenant_id: str, client_id: str, assertion: str, http: httpx.AsyncClient
) -> str:
    """The OIDC ways (oidc_authorizer.go, github_oidc_authorizer.go): a federated assertion as client assertion."""
    credential = {
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    return await client_credentials(endpoints, tenant_id, client_id, credential, http)


async def github_assertion(request_url: str, request_token: str, http: httpx.AsyncClient) -> str:
    """githubAssertion (github_oidc_authorizer.go): GET the request URL with ``audience=api://AzureADTokenExchange``
    unless it names one, ``Authorization: Bearer <request token>``; the token is the answer's ``value``."""
    url = httpx.URL(request_url)
    if not url.params.get("audience"):
        url = url.copy_merge_params({"audience": "api://AzureADTokenExchange"})
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {request_token}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    try:
        response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise ProviderError(f"githubAssertion: cannot request token: {exc}") from None
    if not 200 <= response.status_code <= 299:
        raise ProviderError(
            f"githubAssertion: received HTTP status {response.status_code} with response: {response.text}"
        )
    value = response.json().get("value")
    if not value:
        raise ProviderError("GitHubOIDCAuthorizer: nil JWT assertion received from GitHub")
    return str(value)


async def azure_cli_token(endpoints: Endpoints, tenant_id: str) -> str:
    """The Azure CLI way (azure_cli_authorizer.go, sdk/internal/azurecli): ``az version`` must be 2.0.81 or later
    and before 3.0.0; ``az account show`` gives the account; then ``az account get-access-token --scope
    {graph}/.default --tenant {tenant}`` (no ``--tenant`` in Cloud Shell or for a managed identity account)."""
    version = await _az("version")
    found = str(version.get("azure-cli") or "")
    try:
        parsed = tuple(int(p) for p in found.split(".")[:3])
    except ValueError:
        raise ProviderError(f"could not parse detected Azure CLI version {found!r}") from None
    if not (2, 0, 81) <= parsed < (3, 0, 0):
        raise ProviderError(f"unsupported Azure CLI version {found!r} detected")
    account = await _az("account", "show")
    user = account.get("user") or {}
    args = ["account", "get-access-token", "--scope", f"{endpoints.graph}/.default"]
    managed = user.get("type") == "servicePrincipal" and user.get("name") in (
        "systemAssignedIdentity",
        "userAssignedIdentity",
    )
    if not (os.environ.get("AZUREPS_HOST_ENVIRONMENT", "").startswith("cloud-shell/") or managed):
        args += ["--tenant", tenant_id]
    token = await _az(*args)
    return str(token["accessToken"])


async def _az(*args: str) -> dict[str, Any]:
    """JSONUnmarshalAzCmd: ``az <args> -o=json``; a failure carries az's stderr."""
    try:
        process = await asyncio.create_subprocess_exec(
            "az", *args, "-o=json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise ProviderError(f"launching Azure CLI: {exc}") from None
    out, err = await process.communicate()
    if process.returncode != 0:
        raise ProviderError(f"running Azure CLI: exit status {process.returncode}: {err.decode().strip()}")
    try:
        answer = json.loads(out)
    except ValueError as exc:
        raise ProviderError(f"unmarshaling the output of Azure CLI: {exc}") from None
    return answer if isinstance(answer, dict) else {}


class GraphClient:
    """One tenant's Microsoft Graph, signed in as the provider's identity."""

    def __init__(self, endpoints: Endpoints, token: str, http: httpx.AsyncClient) -> None:
        self.endpoints = endpoints
        self.token = token
        self.http = http
        self.claims = token_claims(token)

    @property
    def caller_object_id(self) -> str:
        return str(self.claims.get("oid") or "")

    def directory_object_url(self, object_id: str) -> str:
        """What an ``@odata.bind`` names: ``{BaseUri}/directoryObjects/{id}`` (stable.NewDirectoryObjectID)."""
        return f"{self.endpoints.graph}/v1.0/directoryObjects/{object_id}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        deadline: float,
        version: str = "v1.0",
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        retry: RetryFunc | None = None,
        expected: tuple[int, ...] = (200, 201, 204),
    ) -> dict[str, Any]:
        url = f"{self.endpoints.graph}/{version}{path}"
        return await self._send(method, url, deadline, params, body, retry, expected)

    async def list(
        self,
        path: str,
        *,
        deadline: float,
        version: str = "v1.0",
        params: dict[str, str] | None = None,
        retry: RetryFunc | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink`` (ExecutePaged)."""
        page = await self.request("GET", path, deadline=deadline, version=version, params=params, retry=retry)
        items = list(page.get("value") or [])
        while page.get("@odata.nextLink"):
            page = await self._send("GET", str(page["@odata.nextLink"]), deadline, None, None, retry, (200,))
            items.extend(page.get("value") or [])
        return items

    async def _send(
        self,
        method: str,
        url: str,
        deadline: float,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        retry: RetryFunc | None,
        expected: tuple[int, ...],
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            try:
                response = await self.http.request(method, url, params=params, json=body, headers=headers)
            except httpx.HTTPError as exc:
                detail, retryable = _no_answer(method, exc)
                if retryable and await self._wait(attempt, deadline, None):
                    attempt += 1
                    continue
                raise NoAnswerError(method, url, detail) from None
            status = response.status_code
            if status in expected:
                return response.json() if response.content else {}
            odata = _odata_error(response)
            should_retry = status in (408, 424) or (retry is not None and retry(status, odata))
            should_retry = should_retry or status == 429 or (status >= 500 and status != 501)
            if should_retry and await self._wait(attempt, deadline, response.headers.get("Retry-After")):
                attempt += 1
                continue
            raise GraphRequestError(status, odata, response.content)

    @staticmethod
    async def _wait(attempt: int, deadline: float, retry_after: str | None) -> bool:
        """Sleep before the next attempt; False when the deadline leaves no room for one."""
        wait = min(RETRY_WAIT_MIN * 2**attempt, RETRY_WAIT_MAX)
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = float(retry_after)
        if time.monotonic() + wait > deadline:
            return False
        await asyncio.sleep(wait)
        return True


IDEMPOTENT = ("GET", "HEAD", "OPTIONS")
"""go-azure-sdk sdk/client/client.go ``Request.IsIdempotent``: the methods retried when no answer came."""


def _no_answer(method: str, exc: httpx.HTTPError) -> tuple[str, bool]:
    """(the error Go reports, whether go-azure-sdk retries it) for a request that got no answer.

    sdk/client/client.go: without a response, a request that is not ``IsIdempotent`` is not retried
    ("HTTP response was nil; connection may have been reset"); an idempotent one to Graph goes through
    ``extendedRetryPolicy``, which refuses to retry errors matching ``dial tcp``, ``EOF``, ``unsupported
    protocol scheme``, ``invalid header`` or ``stopped after N redirects`` and retries the rest ("likely
    recoverable"). httpx's exceptions map onto Go's errors: ConnectError and ConnectTimeout are Go's ``dial
    tcp ...``, RemoteProtocolError (the server closed without answering) is ``EOF``, UnsupportedProtocol,
    LocalProtocolError and TooManyRedirects the other three; ReadError (a reset), WriteError and the
    read/write/pool timeouts match none, so they are retried.
    """
    if method.upper() not in IDEMPOTENT:
        return "HTTP response was nil; connection may have been reset", False
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"dial tcp: {exc}", False
    if isinstance(exc, httpx.RemoteProtocolError):
        return "EOF", False
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.TooManyRedirects):
        return f"{type(exc).__name__}: {exc}", False
    return f"{type(exc).__name__}: {exc}", True


def _odata_error(response: httpx.Response) -> ODataError | None:
    try:
        document = response.json()
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None
    return ODataError(str(error.get("code") or ""), str(error.get("message") or ""))
