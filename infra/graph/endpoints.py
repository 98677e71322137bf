"""Where a tenant's Microsoft Graph and sign-in endpoint are: the clouds, the azuread provider's choice of one
(``ARM_METADATA_HOSTNAME``, ``ARM_ENVIRONMENT``), and the checks on a Graph root given by hand
(``--graph-endpoint``, ``TAXCALC_CONSENT_GRAPH_ENDPOINT``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import httpx

from taxcalc_consent.infra.graph.signin import CredentialError
from taxcalc_consent.infra.graph.transport import DEFAULT_TIMEOUT, GraphError, first_line

GRAPH_ENDPOINT_ENV = "TAXCALC_CONSENT_GRAPH_ENDPOINT"
"""Where the Pulumi program reads groups from, instead of the public cloud's Graph (a sovereign cloud's
Graph, or a local emulator): the program has no ``--graph-endpoint`` option of its own."""
METADATA_HOST_ENV = "ARM_METADATA_HOSTNAME"
ENVIRONMENT_ENV = "ARM_ENVIRONMENT"
METADATA_API_VERSION = "2022-09-01"
"""The metadata document go-azure-sdk reads (sdk/internal/metadata/client.go, GetMetaData)."""

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
        raise CredentialError(f"{where} could not be read: {type(exc).__name__}: {first_line(exc)}") from None
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
        return f"{absolute} ({first_line(exc)})"
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


def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
