"""An emulated Microsoft cloud on 127.0.0.1: metadata, sign-in and Microsoft Graph for several tenants.

The real pulumi-azuread provider (terraform-provider-azuread 3.x) learns its endpoints from an Azure
Metadata Service when ``metadata_host`` / ``ARM_METADATA_HOSTNAME`` is set (internal/provider/provider.go,
go-azure-sdk ``environments.FromEndpoint``), signs in with the client-credentials grant at the login
endpoint, and sends every Graph request with that bearer token; Graph knows the tenant from the token.
This server plays all three parts, so the test provider, ``audit`` and ``adopt`` reach one emulated cloud:
- ``GET /metadata/endpoints?api-version=2022-09-01``: the metadata document, naming this server as login
  endpoint and Microsoft Graph;
- ``POST /{tenant}/oauth2/v2.0/token``: client credentials of the automation app checked, a token whose
  claims say the tenant (``tid``), the caller's service principal (``oid``), its app id and the application
  permissions it holds in that tenant (``roles``), as Entra issues them; the errors are Entra's AADSTS ones
  (https://learn.microsoft.com/entra/identity-platform/reference-error-codes);
- ``/v1.0/...`` and ``/beta/...``: the tenant's ``GraphEmulator``, chosen by the token's ``tid``, which
  authorises each request by the token's ``roles`` (403 without one the route's doc lists); a request
  without a token Graph can parse is 401 ``InvalidAuthenticationToken``.
The tokens are unsigned (``alg: none``): the provider reads their claims, as terraform-provider-azuread
does (internal/clients/client.go parses them without verifying), and nothing here needs more.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.entra import FakeTenant
from tests.fakes.graph_emulator import Caller, GraphEmulator, RecordedRequest, _error, serve_handler

AUTOMATION_APP_ID = "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"
AUTOMATION_NAME = "MSP automation (taxcalc-consent)"
AUTOMATION_ROLES = [
    # What pulumi-azuread's docs ask of an app-only identity for these resources and data sources.
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Group.Read.All",
    "User.Read.All",
    # What audit reads (the tenant's consent settings), with the same identity.
    "Policy.Read.All",
]
METADATA_API_VERSION = "2022-09-01"


@dataclass(frozen=True)
class AutomationApp:
    """The MSP's multi-tenant automation app: one client id and secret, a service principal per tenant."""

    client_id: str = AUTOMATION_APP_ID
    client_secret: str = "emulated-automation-secret-7Qm2-kX9v"


@dataclass
class EmulatedCloud:
    """The running cloud: one ``GraphEmulator`` per tenant id, behind one base URL."""

    tenants: dict[str, GraphEmulator]
    automation: AutomationApp
    base_url: str = ""
    token_requests: list[str] = field(default_factory=list)
    """Tenant ids tokens were asked for, in order."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def metadata_host(self) -> str:
        """What ``ARM_METADATA_HOSTNAME`` (the provider's ``metadata_host``) is set to: host and port."""
        return self.base_url.split("://", 1)[1]

    def tenant(self, tenant_id: str) -> FakeTenant:
        return self.tenants[tenant_id].tenant

    def writes(self, tenant_id: str | None = None) -> list[RecordedRequest]:
        emulators = [self.tenants[tenant_id]] if tenant_id else list(self.tenants.values())
        return [w for e in emulators for w in e.writes()]

    def token_for(self, tenant_id: str) -> str:
        """A token for the automation identity in ``tenant_id`` (for ``TAXCALC_CONSENT_GRAPH_TOKEN``)."""
        status, body = self.issue_token(
            tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": self.automation.client_id,
                "client_secret": self.automation.client_secret,
                "scope": f"{self.base_url}/.default",
            },
        )
        assert status == 200, body
        return str(body["access_token"])

    # ------------------------------------------------------------------------------------ endpoints

    def metadata(self) -> dict[str, Any]:
        """The Azure Metadata Service document go-azure-sdk reads (sdk/internal/metadata/client.go)."""
        root = f"{self.base_url}/"
        return {
            "name": "EmulatedCloud",
            "portal": root,
            "resourceManager": root,
            "microsoftGraphResourceId": root,
            "graph": root,
            "graphAudience": root,
            "authentication": {
                "loginEndpoint": root,
                "audiences": [root],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {},
        }

    def issue_token(self, tenant_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The v2.0 token endpoint, client-credentials grant only (what the provider and azure-identity use)."""
        with self._lock:
            self.token_requests.append(tenant_id)
        emulator = self.tenants.get(tenant_id.lower())
        if emulator is None:
            return _aadsts(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID.",
            )
        if form.get("grant_type") != "client_credentials":
            return _aadsts(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "").lower()
        tenant = emulator.tenant
        sp = tenant.service_principal_by_app_id(client_id) if client_id else None
        if client_id != self.automation.client_id or sp is None:
            return _aadsts(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
            )
        if form.get("client_secret") != self.automation.client_secret:
            return _aadsts(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        roles = tenant.roles_of(sp.id)
        # Graph authorises each request by the token's roles: the tenant's emulator now sees this caller.
        emulator.caller = Caller(app_only=True, permissions=frozenset(roles))
        now = int(time.time())
        claims = {
            "aud": f"{self.base_url}/",
            "iss": f"{self.base_url}/{tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": tenant.tenant_id,
            "oid": sp.id,
            "sub": sp.id,
            "appid": client_id,
            "idtyp": "app",
            "roles": roles,
        }
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": encode_token(claims)}

    def route(self, token: str) -> GraphEmulator | None:
        claims = decode_token(token)
        if claims is None:
            return None
        return self.tenants.get(str(claims.get("tid", "")).lower())


def encode_token(claims: dict[str, Any]) -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return f"{part({'typ': 'JWT', 'alg': 'none'})}.{part(claims)}."


def decode_token(token: str) -> dict[str, Any] | None:
    """The claims of a token this cloud issued; None for anything else (opaque or malformed)."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return None
    try:
        payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    if not isinstance(claims, dict) or claims.get("exp", 0) < time.time():
        return None
    return claims


def _aadsts(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
    # The token endpoint's error shape (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response).
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {text}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }


# ------------------------------------------------------------------------------------------ server


def _handler(cloud: EmulatedCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, every answer would wait
        # ~40 ms for the client's delayed ACK, a latency Graph does not add and every test would pay.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            if self.command == "GET" and segments == ["metadata", "endpoints"]:
                query = dict(parse_qsl(parts.query))
                if query.get("api-version") != METADATA_API_VERSION:
                    self._send(400, {}, {"error": {"code": "InvalidApiVersion", "message": "unsupported api-version"}})
                else:
                    self._send(200, {}, cloud.metadata())
                return
            if self.command == "POST" and len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
                form = dict(parse_qsl(body.decode()))
                status, answer = cloud.issue_token(segments[0], form)
                self._send(status, {}, answer)
                return
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
            emulator = cloud.route(token) if token else None
            if emulator is None:
                message = (
                    "Access token is empty." if not token else "Access token validation failure. Invalid audience."
                )
                status, headers, payload = _error(401, "InvalidAuthenticationToken", message)
            else:
                status, headers, payload = emulator.handle(
                    self.command, self.path, body, headers=dict(self.headers.items())
                )
            self._send(status, headers, payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def serve_cloud(
    tenants: Iterable[FakeTenant],
    published_apps: dict[str, str] | None = None,
    automation: AutomationApp | None = None,
    page_size: int = 100,
) -> Iterator[EmulatedCloud]:
    """Serve ``tenants`` on an ephemeral port; each gets the automation identity (unless it has one already)
    and sees ``published_apps`` (multi-tenant apps registered elsewhere, app id -> name)."""
    automation = automation or AutomationApp()
    emulators: dict[str, GraphEmulator] = {}
    for tenant in tenants:
        if tenant.service_principal_by_app_id(automation.client_id) is None:
            tenant.add_automation_identity(automation.client_id, AUTOMATION_NAME, AUTOMATION_ROLES)
        tenant.published_apps.update({k.lower(): v for k, v in (published_apps or {}).items()})
        emulators[tenant.tenant_id.lower()] = GraphEmulator(tenant, page_size)
    cloud = EmulatedCloud(emulators, automation)
    with serve_handler(_handler(cloud), "entra-cloud") as base_url:
        cloud.base_url = base_url
        for emulator in emulators.values():
            emulator.base_url = base_url
        yield cloud
