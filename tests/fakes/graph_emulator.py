"""A local Microsoft Graph emulator: a real HTTP server on 127.0.0.1 over a FakeTenant.

It serves the reads the Graph client (and the program's group lookups) make, with Graph's shapes and
Graph's failures. Each route is one handler in ``ROUTES``, with the Graph doc it follows and the
application permissions that doc lists; the rules that apply to every route:
- OData collections in small pages with ``@odata.nextLink`` (``$skiptoken``);
- ``$filter`` with ``eq`` on the properties Graph supports for each collection (anything else: 400
  ``Request_UnsupportedQuery``); a string literal whose quote is not doubled is a syntax error, 400
  ``BadRequest`` "Invalid filter clause" (as Graph answered Microsoft365DSC/Microsoft365DSC#4358);
  ``$select`` (an unknown property: 400 ``Request_BadRequest``);
- advanced queries (https://learn.microsoft.com/graph/aad-advanced-queries): a route marked advanced
  answers 400 ``Request_UnsupportedQuery`` without ``ConsistencyLevel: eventual`` and ``$count=true``;
  inside ``$batch`` the header is read from the request's own ``headers``, as json-batching says;
- ``$batch`` (JSON batching, at most 20 requests, each answered with id/status/headers/body);
- error bodies ``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``;
- 401 ``InvalidAuthenticationToken`` without a bearer token;
- 403 ``Authorization_RequestDenied`` "Insufficient privileges to complete the operation." when the
  caller holds none of the permissions the route's doc lists (``Caller``: in the emulated cloud, the one
  each request's own token names, entra_cloud.py; served alone, the one a test sets, by default holding
  every permission, so tests that do not care about permissions are not affected);
- a 429 with ``Retry-After`` when a test asks for one (``throttle``), or a 503 (``unavailable``);
- a connection dropped without an answer, at once or after a stall (``drop_connection``).
Beside the reads it serves the writes (and the ``/beta`` reads) that the test azuread provider
(``tests/fakes/azuread_provider``) sends as terraform-provider-azuread sends them: service principals,
oauth2PermissionGrants, app role assignments, applications and their owners, each validated by
``FakeTenant`` with Graph's rules and error bodies; and, in one block of its own, the two policy writes the
tool's consent settings provider makes (``PATCH /policies/authorizationPolicy``, ``PUT
/policies/adminConsentRequestPolicy``). Every request is recorded, so a test can prove that a client never
wrote (``writes()``).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.fakes.entra import (
    Application,
    AppRoleAssignment,
    FakeTenant,
    Group,
    OAuth2PermissionGrant,
    ServicePrincipal,
    User,
)
from tests.fakes.entra import GraphError as FakeGraphError
from tests.fakes.gdap import delegated_refusal, find_tenant_information, list_access_assignments, list_relationships

PAGE_SIZE = 2
_FILTER_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")
_FILTER_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")
"""``startswith(property,'text')``: a default query on users' userPrincipalName and groups' displayName, among others
(https://learn.microsoft.com/graph/aad-advanced-queries, the tables of properties and operators); case-insensitive
as Graph's string comparisons on these properties are."""
_FILTER_PROPERTY = re.compile(r"^\s*(\w+)\s+eq\s+'")

# Microsoft 365 groups' Exchange-backed properties: Graph serves them to delegated callers only.
# https://github.com/hashicorp/terraform-provider-azuread/issues/1929 (and #1866): with app-only
# credentials GET /groups/{id}?$select=<these> answers 403 ErrorAccessDenied for every Microsoft 365
# group, whatever application permissions are granted.
EXCHANGE_GROUP_PROPERTIES = frozenset(
    {"allowExternalSenders", "autoSubscribeNewMembers", "hideFromAddressLists", "hideFromOutlookClients"}
)


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Throttle:
    path_prefix: str
    remaining: int
    retry_after: int | None
    status: int = 429


# Graph's words for the statuses a test can ask for (https://learn.microsoft.com/graph/errors, "HTTP status
# codes" and "Code property"; the 429 text is what https://learn.microsoft.com/graph/throttling shows).
_TRANSIENT_ERRORS = {
    429: ("TooManyRequests", "Too many requests. Please retry after the time in Retry-After."),
    503: (
        "serviceNotAvailable",
        "The service is not available. Try the request again after a delay. There might be a Retry-After header.",
    ),
}


@dataclass
class TransportFault:
    path_prefix: str
    remaining: int
    stall_seconds: float


@dataclass
class RecordedRequest:
    method: str
    path: str
    in_batch: bool = False
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    version: str = "v1.0"
    dropped: bool = False
    """The connection was dropped with no answer (``drop_connection``)."""
    body: bytes = b""
    """What a write sent."""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Caller:
    """Who the bearer token belongs to, as Graph reads it from the token."""

    app_only: bool = True
    """Client credentials (oidc, msi, client secret: every CI setup); False for a signed-in user."""
    permissions: frozenset[str] | None = None
    """Application permissions (roles) granted to the caller, or a signed-in user's scopes (``scp``); None: every
    permission."""
    roles: frozenset[str] | None = None
    """A signed-in user's directory roles (the token's ``wids``, role template ids); None: not judged by role.
    Each write then needs one of the roles its Graph page names (``tests.fakes.gdap.delegated_refusal``)."""

    def holds_any(self, permissions: frozenset[str]) -> bool:
        return self.permissions is None or bool(self.permissions & permissions)


_REQUEST_CALLER: ContextVar[Caller | None] = ContextVar("graph_emulator_request_caller", default=None)
"""The caller of the request being answered on this thread, when its token named one (emulated cloud)."""


@dataclass(frozen=True)
class Request:
    """One request as a route handler sees it."""

    path: str
    params: dict[str, str]
    """Path parameters: ``{id}`` segments of the route."""
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: dict[str, Any] = field(default_factory=dict)
    """A write's JSON body."""
    version: str = "v1.0"

    @property
    def advanced(self) -> bool:
        """https://learn.microsoft.com/graph/aad-advanced-queries: both the header and $count=true."""
        return (
            self.headers.get("consistencylevel", "").lower() == "eventual"
            and self.query.get("$count", "").lower() == "true"
        )


Handler = Callable[["GraphEmulator", Request], dict[str, Any] | None]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]
    """Path segments; ``{name}`` matches any one segment."""
    handler: Handler
    permissions: frozenset[str]
    """Application permissions, any one of which lets a caller use this route (the doc's table)."""
    advanced: bool = False
    """Graph serves it only as an advanced query."""
    status: int = 200
    """201 for a create (the new entity in the body), 204 for an update or delete (no body)."""

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


@dataclass
class GraphEmulator:
    tenant: FakeTenant
    page_size: int = PAGE_SIZE
    requests: list[RecordedRequest] = field(default_factory=list)
    throttles: list[Throttle] = field(default_factory=list)
    faults: list[TransportFault] = field(default_factory=list)
    caller: Caller = field(default_factory=Caller)
    base_url: str = ""
    partner: Any = None
    """The MSP (``tests.fakes.gdap.Partner``) when this is its tenant's Graph: its GDAP relationships."""
    directory: Any = None
    """Every tenant's public information (tenant id -> ``tests.fakes.gdap.TenantInformation``), which
    findTenantInformationBy* answers from any tenant's Graph; None: that route is not served."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tenant_lock: threading.RLock = field(default_factory=threading.RLock)
    """One request at a time reads or writes the tenant (concurrent provider calls share it)."""
    lag_requests: int = 0
    """Replication lag: a service principal or application created through this Graph is not found (404 by id,
    absent from lists, unknown as a grant's client or a service principal's application) until this many more
    requests have reached the tenant. Graph's docs:
    "a newly created object might not be immediately available" to a read that another replica answers
    (https://learn.microsoft.com/graph/best-practices-concept, "Handling replication delays"; what
    terraform-provider-azuread meets as hashicorp/terraform-provider-azuread#1811). 0: every write reads back."""
    _unreplicated: dict[str, int] = field(default_factory=dict)
    """Object id -> requests still to come before the object can be read."""

    # ------------------------------------------------------------------------------ test controls

    def throttle(self, path_prefix: str = "/", times: int = 1, retry_after: int = 2) -> None:
        """Answer the next ``times`` reads under ``path_prefix`` with 429 and Retry-After."""
        self.throttles.append(Throttle(path_prefix, times, retry_after))

    def unavailable(self, path_prefix: str = "/", times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` reads under ``path_prefix`` with 503, with Retry-After if given: Graph's
        errors doc says "You may repeat the request after a delay, the length of which may be specified in
        a Retry-After header" (https://learn.microsoft.com/graph/errors)."""
        self.throttles.append(Throttle(path_prefix, times, retry_after, status=503))

    def drop_connection(self, path_prefix: str = "/", times: int = 1, stall_seconds: float = 0.0) -> None:
        """Drop the connection of the next ``times`` requests under ``path_prefix`` (``/$batch`` too) with no
        answer: a TCP reset, after holding the request ``stall_seconds`` (longer than a client's timeout:
        a read that never answers). What a network path to Graph does when a gateway or load balancer
        recycles or loses a connection; httpx raises ReadError/RemoteProtocolError or ReadTimeout, all
        httpx.TransportError (https://www.python-httpx.org/exceptions/)."""
        self.faults.append(TransportFault(path_prefix, times, stall_seconds))

    def take_fault(self, method: str, raw_url: str) -> TransportFault | None:
        """The fault for this request, if a test asked for one; the request is recorded either way."""
        path = unquote(urlsplit(raw_url).path)
        version = next((v for v in ("v1.0", "beta") if path.startswith(f"/{v}/")), "")
        path = path[len(version) + 1 :] if version else path
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    self.requests.append(RecordedRequest(method, path, version=version, dropped=True))
                    return fault
        return None

    def replication_lag(self, requests: int) -> None:
        """From now on, a new service principal or application reads back only after ``requests`` more requests."""
        self.lag_requests = requests

    def replicated(self, object_id: str) -> bool:
        with self._lock:
            return object_id.lower() not in self._unreplicated

    def _replicate(self) -> None:
        """One more request has reached the tenant: every lagging object is a step closer to readable."""
        for object_id in list(self._unreplicated):
            self._unreplicated[object_id] -= 1
            if self._unreplicated[object_id] <= 0:
                del self._unreplicated[object_id]

    def _lag(self, object_id: str) -> None:
        if self.lag_requests:
            with self._lock:
                self._unreplicated[object_id] = self.lag_requests

    def _lagging(self, object_id: str) -> bool:
        with self._lock:
            return object_id.lower() in self._unreplicated

    def grant_only(self, *permissions: str) -> None:
        """From now on the caller holds exactly these application permissions."""
        self.caller = Caller(self.caller.app_only, frozenset(permissions), self.caller.roles)

    @property
    def current_caller(self) -> Caller:
        """Who sent the request being answered: its token's caller (emulated cloud), else the test's."""
        return _REQUEST_CALLER.get() or self.caller

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET" and r.path != "/$batch"]

    def _take_throttle(self, path: str) -> Throttle | None:
        with self._lock:
            for throttle in self.throttles:
                if throttle.remaining > 0 and path.startswith(throttle.path_prefix):
                    throttle.remaining -= 1
                    return throttle
        return None

    # ---------------------------------------------------------------------------------- dispatch

    def handle(
        self,
        method: str,
        raw_url: str,
        body: bytes,
        in_batch: bool = False,
        headers: Mapping[str, str] | None = None,
        caller: Caller | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """One request: (status, headers, JSON body). Relative to /v1.0 inside a batch.

        ``caller``: who the request's own token says it comes from (the emulated cloud reads it from each
        token); None: the emulator's ``caller``, which a test sets (``grant_only``)."""
        if caller is not None:
            reset = _REQUEST_CALLER.set(caller)
            try:
                return self.handle(method, raw_url, body, in_batch, headers)
            finally:
                _REQUEST_CALLER.reset(reset)
        parts = urlsplit(raw_url)
        path = unquote(parts.path)
        version = "v1.0"
        if not in_batch:
            version = next((v for v in ("v1.0", "beta") if path.startswith(f"/{v}/") or path == f"/{v}"), "")
            if not version:
                return _error(404, "UnknownError", f"No HTTP resource was found that matches the request URI '{path}'.")
            path = path[len(version) + 1 :] or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, in_batch, query, lowered, version, body=body if method != "GET" else b"")
            )
            self._replicate()
        throttle = self._take_throttle(path) if path != "/$batch" else None
        if throttle is not None:
            status, answer_headers, payload = _error(throttle.status, *_TRANSIENT_ERRORS[throttle.status])
            if throttle.retry_after is not None:
                answer_headers["Retry-After"] = str(throttle.retry_after)
            return status, answer_headers, payload
        try:
            if method == "POST" and path == "/$batch" and not in_batch:
                return 200, {}, self._batch(body)
            with self._tenant_lock:
                status, payload = self._dispatch(method, path, query, lowered, _json_object(body), version)
            return status, {}, payload
        except ODataError as exc:
            return _error(exc.status, exc.code, exc.message)
        except FakeGraphError as exc:
            return _error(exc.status, exc.code, exc.message)

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
        version: str = "v1.0",
    ) -> tuple[int, dict[str, Any] | None]:
        segments = [s for s in path.split("/") if s]
        matching = [(route, params) for route in _routes() if (params := route.match(segments)) is not None]
        if matching and not any(route.method == method for route, _ in matching):
            raise ODataError(405, "Request_BadRequest", f"The emulator does not serve {method} {path}.")
        for route, params in matching:
            if route.method != method:
                continue
            caller = self.current_caller
            request = Request(path, params, query, headers, body or {}, version)
            if caller.roles is not None and not caller.app_only:
                # A signed-in user (an MSP engineer's GDAP sign-in): scopes and directory roles, tests/fakes/gdap.py.
                refusal = delegated_refusal(self, caller, route.handler.__name__, request, route.permissions)
                if refusal is not None:
                    raise ODataError(
                        403,
                        "Authorization_RequestDenied",
                        f"Insufficient privileges to complete the operation. {refusal}",
                    )
            elif not caller.holds_any(route.permissions):
                # https://learn.microsoft.com/graph/errors and every permissions table: a token without a
                # listed permission gets 403 Authorization_RequestDenied with this message.
                raise ODataError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )
            if route.advanced and not request.advanced:
                # aad-advanced-queries: "If a property or query parameter in the URL is supported only in
                # advanced queries but either the ConsistencyLevel header or the $count=true query string is
                # missing, the request returns an error." (The message text is ours; status and code are Graph's.)
                raise ODataError(
                    400,
                    "Request_UnsupportedQuery",
                    "This query is only supported as an advanced query: add the ConsistencyLevel: eventual "
                    "header and $count=true.",
                )
            return route.status, route.handler(self, request)
        raise ODataError(400, "BadRequest", f"Resource not found for the segment '{segments[-1] if segments else ''}'.")

    def _batch(self, body: bytes) -> dict[str, Any]:
        try:
            document = json.loads(body or b"{}")
            requests = document["requests"]
        except (ValueError, KeyError, TypeError):
            raise ODataError(400, "BadRequest", "Invalid batch payload format.") from None
        if len(requests) > 20:
            raise ODataError(400, "BadRequest", "Number of requests in the batch exceeds the limit of 20.")
        responses = []
        for item in requests:
            url = str(item.get("url", ""))
            if not url.startswith("/"):
                url = "/" + url
            item_headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
            status, headers, payload = self.handle(
                str(item.get("method", "GET")), url, b"", in_batch=True, headers=item_headers
            )
            responses.append({"id": item.get("id"), "status": status, "headers": headers, "body": payload})
        return {"responses": responses}

    # ------------------------------------------------------------------------------------ routes

    # https://learn.microsoft.com/graph/api/serviceprincipal-list
    def service_principals_list(self, r: Request) -> dict[str, Any]:
        found = [sp for sp in self.tenant.service_principals.values() if not self._lagging(sp.id)]
        return self._collection(
            "servicePrincipals", [_service_principal(sp) for sp in found], r, {"appId", "displayName", "id"}
        )

    # https://learn.microsoft.com/graph/api/serviceprincipal-get
    def service_principals_get(self, r: Request) -> dict[str, Any]:
        return self._entity("servicePrincipals", _service_principal(self._sp(r.params["id"])), r)

    # https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments
    def service_principals_list_app_role_assignments(self, r: Request) -> dict[str, Any]:
        sp = self._sp(r.params["id"])
        assignments = self.tenant.app_role_assignments.values()
        items = [self._assignment(a) for a in assignments if a.principal_id == sp.id]
        return self._collection("appRoleAssignments", items, r, set())

    # https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto
    def service_principals_list_app_role_assigned_to(self, r: Request) -> dict[str, Any]:
        sp = self._sp(r.params["id"])
        assignments = self.tenant.app_role_assignments.values()
        items = [self._assignment(a) for a in assignments if a.resource_id == sp.id]
        return self._collection("appRoleAssignments", items, r, set())

    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-list
    def oauth2_permission_grants_list(self, r: Request) -> dict[str, Any]:
        items = [_grant(g) for g in self.tenant.grants.values()]
        return self._collection(
            "oauth2PermissionGrants", items, r, {"clientId", "consentType", "principalId", "resourceId"}
        )

    # https://learn.microsoft.com/graph/api/user-get (by object id or userPrincipalName)
    def users_get(self, r: Request) -> dict[str, Any]:
        return self._entity("users", _user(self._user(r.params["id"])), r)

    # https://learn.microsoft.com/graph/api/group-list
    def groups_list(self, r: Request) -> dict[str, Any]:
        items = [_group(g) for g in self.tenant.groups.values()]
        return self._collection("groups", items, r, {"displayName", "id"})

    # https://learn.microsoft.com/graph/api/group-get
    def groups_get(self, r: Request) -> dict[str, Any]:
        group = self._group(r.params["id"])
        selected = {f.strip() for f in r.query.get("$select", "").split(",") if f.strip()}
        exchange = selected & EXCHANGE_GROUP_PROPERTIES
        item = _group(group)
        if exchange and group.unified and self.current_caller.app_only:
            # terraform-provider-azuread#1929/#1866: app-only callers are refused these, with this error.
            raise ODataError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if exchange:
            # Delegated callers read them on a Microsoft 365 group; on a security group they are null
            # (unverified: the provider only asks for them on Microsoft 365 groups).
            item.update(dict.fromkeys(EXCHANGE_GROUP_PROPERTIES, False if group.unified else None))
        return self._entity("groups", item, r)

    # https://learn.microsoft.com/graph/api/group-list-members (OData cast: only users, direct members)
    def groups_list_user_members(self, r: Request) -> dict[str, Any]:
        group = self._group(r.params["id"])
        members = [self.tenant.users[m] for m in group.members if m in self.tenant.users]
        return self._collection("users", [self._member(u) for u in members], r, set())

    # https://learn.microsoft.com/graph/api/group-list-transitivemembers (OData cast: an advanced query)
    def groups_list_transitive_user_members(self, r: Request) -> dict[str, Any]:
        group = self._group(r.params["id"])
        items = [self._member(self.tenant.users[u]) for u in self._transitive_users(group, set())]
        body = self._collection("users", items, r, set())
        body["@odata.count"] = len(items)  # $count=true is part of every advanced query
        return body

    # https://learn.microsoft.com/graph/api/authorizationpolicy-get
    def policies_get_authorization_policy(self, r: Request) -> dict[str, Any]:
        return self._entity("policies/authorizationPolicy/$entity", authorization_policy_wire(self.tenant), r)

    # https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-get
    def policies_get_admin_consent_request_policy(self, r: Request) -> dict[str, Any]:
        return self._entity(
            "policies/adminConsentRequestPolicy/$entity", admin_consent_request_policy_wire(self.tenant), r
        )

    # ------------------------------------------------- reads the test azuread provider makes, then writes

    # https://learn.microsoft.com/graph/api/user-list (the user data source filters by userPrincipalName)
    def users_list(self, r: Request) -> dict[str, Any]:
        items = [_user(u) for u in self.tenant.users.values()]
        return self._collection("users", items, r, {"id", "userPrincipalName", "mail", "mailNickname", "employeeId"})

    # https://learn.microsoft.com/graph/api/user-list-manager: 404 when the user has no manager.
    def users_get_manager(self, r: Request) -> dict[str, Any]:
        self._user(r.params["id"])
        raise _missing("manager")

    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-get
    def oauth2_permission_grants_get(self, r: Request) -> dict[str, Any]:
        return self._entity("oauth2PermissionGrants", _grant(self._grant(r.params["id"])), r)

    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-post
    def oauth2_permission_grants_create(self, r: Request) -> dict[str, Any]:
        body = r.body
        _check_properties(body, {"clientId", "consentType", "principalId", "resourceId", "scope"}, GRANT_TYPE)
        if self._lagging(str(body.get("clientId") or "")):
            # Not yet replicated: answered as for a client Graph does not know (FakeTenant.create_grant).
            raise ODataError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'clientId' of resource 'OAuth2PermissionGrant'.",
            )
        grant = self.tenant.create_grant(
            str(body.get("clientId") or "").lower(),
            str(body.get("consentType") or ""),
            str(body["principalId"]).lower() if body.get("principalId") else None,
            str(body.get("resourceId") or "").lower(),
            str(body.get("scope") or ""),
        )
        return self._created("oauth2PermissionGrants", _grant(grant))

    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-update: only scope may change.
    def oauth2_permission_grants_update(self, r: Request) -> None:
        _check_properties(r.body, {"scope"}, GRANT_TYPE)
        self.tenant.update_grant(self._grant(r.params["id"]).id, str(r.body.get("scope") or ""))

    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-delete
    def oauth2_permission_grants_delete(self, r: Request) -> None:
        self.tenant.delete_grant(self._grant(r.params["id"]).id)

    # https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals
    def service_principals_create(self, r: Request) -> dict[str, Any]:
        body = r.body
        _check_properties(body, SERVICE_PRINCIPAL_WRITABLE | {"appId", "owners@odata.bind"}, SERVICE_PRINCIPAL_TYPE)
        app_id = body.get("appId")
        if not isinstance(app_id, str) or not app_id:
            raise ODataError(400, "Request_BadRequest", "The appId property is required to create a service principal.")
        local = next((a for a in self.tenant.applications.values() if a.app_id == app_id.lower()), None)
        if local is not None and self._lagging(local.id):
            # An application registered moments ago is not known yet: Graph answers as for no application
            # (the answer terraform-provider-azuread retries on, service_principal_resource.go RetryFunc).
            raise ODataError(
                400,
                "Request_BadRequest",
                f"The appId '{app_id}' of the service principal does not reference a valid application object.",
            )
        sp = self.tenant.create_service_principal(
            app_id,
            account_enabled=body.get("accountEnabled", True) is not False,
            app_role_assignment_required=bool(body.get("appRoleAssignmentRequired", False)),
            description=body.get("description"),
            tags=list(body.get("tags") or []),
            owners=[_bound_id(ref) for ref in body.get("owners@odata.bind") or []],
        )
        _set_service_principal_properties(sp, body)
        self._lag(sp.id)
        return self._created("servicePrincipals", _service_principal(sp))

    # https://learn.microsoft.com/graph/api/serviceprincipal-update
    def service_principals_update(self, r: Request) -> None:
        body = r.body
        _check_properties(body, SERVICE_PRINCIPAL_WRITABLE, SERVICE_PRINCIPAL_TYPE)
        _set_service_principal_properties(self._sp(r.params["id"]), body)

    # https://learn.microsoft.com/graph/api/serviceprincipal-delete
    def service_principals_delete(self, r: Request) -> None:
        self.tenant.delete_service_principal(self._sp(r.params["id"]).id)

    # https://learn.microsoft.com/graph/api/serviceprincipal-list-owners
    def service_principals_list_owners(self, r: Request) -> dict[str, Any]:
        items = [self._directory_object(o) for o in self._sp(r.params["id"]).owners]
        return self._collection("directoryObjects", items, r, set())

    # https://learn.microsoft.com/graph/api/serviceprincipal-post-owners
    def service_principals_add_owner(self, r: Request) -> None:
        self._add_owner(self._sp(r.params["id"]).owners, r.body)

    # https://learn.microsoft.com/graph/api/serviceprincipal-delete-owners
    def service_principals_remove_owner(self, r: Request) -> None:
        self.tenant.remove_owner(self._sp(r.params["id"]).owners, r.params["owner"].lower())

    # https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto (one, by id)
    def service_principals_get_app_role_assigned_to(self, r: Request) -> dict[str, Any]:
        assignment = self._assigned_to(r.params["id"], r.params["assignment"])
        return self._entity("appRoleAssignments", self._assignment(assignment), r)

    # https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto
    def service_principals_create_app_role_assigned_to(self, r: Request) -> dict[str, Any]:
        body = r.body
        _check_properties(body, {"appRoleId", "principalId", "resourceId"}, APP_ROLE_ASSIGNMENT_TYPE)
        resource = self._sp(r.params["id"])
        if str(body.get("resourceId") or "").lower() != resource.id:
            raise ODataError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.",
            )
        principal = str(body.get("principalId") or "").lower()
        if self.tenant.object_type(principal) is None:
            # What Graph says for a principal it cannot resolve, and what terraform-provider-azuread retries on
            # (app_role_assignment_resource.go; microsoftgraph/microsoft-graph-docs-contrib#1407).
            raise ODataError(400, "Request_BadRequest", "Not a valid reference update.")
        assignment = self.tenant.create_app_role_assignment(principal, resource.id, str(body.get("appRoleId") or ""))
        return self._created("appRoleAssignments", self._assignment(assignment))

    # https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto
    def service_principals_delete_app_role_assigned_to(self, r: Request) -> None:
        self.tenant.delete_app_role_assignment(self._assigned_to(r.params["id"], r.params["assignment"]).id)

    # https://learn.microsoft.com/graph/api/application-list
    def applications_list(self, r: Request) -> dict[str, Any]:
        items = [_application(a) for a in self.tenant.applications.values() if not self._lagging(a.id)]
        return self._collection("applications", items, r, {"appId", "displayName", "id"})

    # https://learn.microsoft.com/graph/api/application-get (oauth2RequirePostResponse is beta's only)
    def applications_get(self, r: Request) -> dict[str, Any]:
        item = _application(self._application(r.params["id"]))
        if r.version == "beta":
            item["oauth2RequirePostResponse"] = False
        return self._entity("applications", item, r)

    # https://learn.microsoft.com/graph/api/application-post-applications
    def applications_create(self, r: Request) -> dict[str, Any]:
        body = r.body
        _check_properties(body, APPLICATION_WRITABLE | {"owners@odata.bind"}, APPLICATION_TYPE)
        display_name = body.get("displayName")
        if not isinstance(display_name, str) or not display_name:
            raise ODataError(400, "Request_BadRequest", "The displayName property is required.")
        audience = str(body.get("signInAudience") or "AzureADMyOrg")
        _check_audience(audience)
        accesses = self._required_resource_access(body.get("requiredResourceAccess"))
        owners = [_bound_id(ref) for ref in body.get("owners@odata.bind") or []]
        for owner in owners:
            if self.tenant.object_type(owner) is None:
                raise ODataError(400, "Request_BadRequest", f"Invalid object identifier '{owner}'.")
        application = self.tenant.create_application(
            display_name,
            audience,
            list((body.get("publicClient") or {}).get("redirectUris") or []),
            accesses,
            owners=owners,
            tags=list(body.get("tags") or []),
        )
        application.description = body.get("description")
        self._lag(application.id)
        return self._created("applications", _application(application))

    # https://learn.microsoft.com/graph/api/application-update
    def applications_update(self, r: Request) -> None:
        body = r.body
        _check_properties(body, APPLICATION_WRITABLE, APPLICATION_TYPE)
        application = self._application(r.params["id"])
        if "displayName" in body:
            if not isinstance(body["displayName"], str) or not body["displayName"]:
                raise ODataError(400, "Request_BadRequest", "The displayName property is required.")
            application.display_name = body["displayName"]
        if "signInAudience" in body:
            _check_audience(str(body["signInAudience"]))
            application.sign_in_audience = str(body["signInAudience"])
        if "publicClient" in body:
            application.redirect_uris = list((body["publicClient"] or {}).get("redirectUris") or [])
        if "requiredResourceAccess" in body:
            application.required_resource_access = self._required_resource_access(body["requiredResourceAccess"])
        if "tags" in body:
            application.tags = list(body["tags"] or [])
        if "description" in body:
            application.description = body["description"]

    # https://learn.microsoft.com/graph/api/application-delete
    def applications_delete(self, r: Request) -> None:
        self.tenant.delete_application(self._application(r.params["id"]).id)

    # https://learn.microsoft.com/graph/api/application-list-owners
    def applications_list_owners(self, r: Request) -> dict[str, Any]:
        items = [self._directory_object(o) for o in self._application(r.params["id"]).owners]
        return self._collection("directoryObjects", items, r, set())

    # https://learn.microsoft.com/graph/api/application-delete-owners
    def applications_remove_owner(self, r: Request) -> None:
        self.tenant.remove_owner(self._application(r.params["id"]).owners, r.params["owner"].lower())

    # https://learn.microsoft.com/graph/api/group-list-members (no cast: members of every type)
    def groups_list_members(self, r: Request) -> dict[str, Any]:
        items = [self._directory_object(m) for m in self._group(r.params["id"]).members]
        return self._collection("directoryObjects", items, r, set())

    # https://learn.microsoft.com/graph/api/group-list-owners (the emulator models no group owners)
    def groups_list_owners(self, r: Request) -> dict[str, Any]:
        self._group(r.params["id"])
        return self._collection("directoryObjects", [], r, set())

    # ------------------------------------------- the consent settings provider's writes (issue 14)
    # The two policies the tool's own provider (infra/program/settings_provider.py) reads and writes. The shapes and
    # the validation are FakeTenant's (update_authorization_policy, replace_admin_consent_request_policy), each
    # rule with its Graph doc; the routes and the permissions each doc's table lists are here.

    # https://learn.microsoft.com/graph/api/authorizationpolicy-update: 204, no body; application permission
    # Policy.ReadWrite.Authorization only (its table lists no higher one).
    def policies_update_authorization_policy(self, r: Request) -> None:
        self.tenant.update_authorization_policy(r.body)

    # https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update: PUT, 204 (the docs' example
    # response has no body); Policy.ReadWrite.ConsentRequest, or Directory.ReadWrite.All.
    def policies_update_admin_consent_request_policy(self, r: Request) -> None:
        self.tenant.replace_admin_consent_request_policy(r.body)

    # ----------------------------------------------------------------------------------- helpers

    def _created(self, entity_set: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"@odata.context": f"{self.base_url}/v1.0/$metadata#{entity_set}/$entity", **item}

    def _add_owner(self, owners: list[str], body: dict[str, Any]) -> None:
        _check_properties(body, {"@odata.id"})
        owner = _bound_id(body.get("@odata.id", ""))
        if self.tenant.object_type(owner) is None:
            raise ODataError(400, "Request_BadRequest", f"Invalid object identifier '{owner}'.")
        if owner in owners:
            raise ODataError(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the following modified properties: 'owners'.",
            )
        owners.append(owner)

    def _required_resource_access(self, value: Any) -> list[dict[str, Any]]:
        """requiredResourceAccess: every scope or role id must be one the resource API publishes."""
        blocks = list(value or [])
        for block in blocks:
            resource = self.tenant.service_principal_by_app_id(str(block.get("resourceAppId", "")))
            if resource is None:
                continue  # an API registered elsewhere: Graph takes the ids on trust until consent
            for access in block.get("resourceAccess") or []:
                table = resource.oauth2_permission_scopes if access.get("type") == "Scope" else resource.app_roles
                if access.get("id") not in table.values():
                    raise ODataError(
                        400,
                        "Request_BadRequest",
                        "Invalid value specified for property 'resourceAccess' of resource 'RequiredResourceAccess'.",
                    )
        return blocks

    def _grant(self, grant_id: str) -> OAuth2PermissionGrant:
        grant = self.tenant.grants.get(grant_id)
        if grant is None:
            raise _missing(grant_id)
        return grant

    def _assigned_to(self, sp_id: str, assignment_id: str) -> AppRoleAssignment:
        resource = self._sp(sp_id)
        assignment = self.tenant.app_role_assignments.get(assignment_id)
        if assignment is None or assignment.resource_id != resource.id:
            raise _missing(assignment_id)
        return assignment

    def _application(self, object_id: str) -> Application:
        application = self.tenant.applications.get(object_id.lower())
        if application is None or self._lagging(application.id):
            raise _missing(object_id)
        return application

    def _directory_object(self, object_id: str) -> dict[str, Any]:
        """A member or owner as Graph lists it: its own type's shape with an ``@odata.type``."""
        t = self.tenant
        if object_id in t.users:
            return self._member(t.users[object_id])
        if object_id in t.groups:
            return {"@odata.type": "#microsoft.graph.group", **_group(t.groups[object_id])}
        if object_id in t.service_principals:
            return {
                "@odata.type": "#microsoft.graph.servicePrincipal",
                **_service_principal(t.service_principals[object_id]),
            }
        return {"@odata.type": "#microsoft.graph.directoryObject", "id": object_id}

    def _sp(self, sp_id: str) -> ServicePrincipal:
        sp = self.tenant.service_principals.get(sp_id.lower())
        if sp is None or self._lagging(sp.id):
            raise _missing(sp_id)
        return sp

    def _user(self, ref: str) -> User:
        from tests.fakes.entra import GraphError as FakeGraphError

        try:
            return self.tenant.user(ref)
        except FakeGraphError as exc:
            raise ODataError(exc.status, exc.code, exc.message) from None

    def _group(self, group_id: str) -> Group:
        group = self.tenant.groups.get(group_id.lower())
        if group is None:
            raise _missing(group_id)
        return group

    def _member(self, user: User) -> dict[str, Any]:
        """A user in a directoryObject collection. Without a permission to read users, Graph returns members
        with "limited information": the id and type only, other properties null
        (https://learn.microsoft.com/graph/permissions-overview#limited-information-returned-for-inaccessible-member-objects)."""
        item = _user(user)
        if not self.current_caller.holds_any(USER_READERS):
            item = {key: (value if key == "id" else None) for key, value in item.items()}
        return {"@odata.type": "#microsoft.graph.user", **item}

    def _transitive_users(self, group: Group, seen: set[str]) -> list[str]:
        out: list[str] = []
        for member in group.members:
            if member in self.tenant.users and member not in out:
                out.append(member)
            elif member in self.tenant.groups and member not in seen:
                seen.add(member)
                out.extend(u for u in self._transitive_users(self.tenant.groups[member], seen) if u not in out)
        return out

    def _assignment(self, a: Any) -> dict[str, Any]:
        t = self.tenant
        principal: Any = (
            t.users.get(a.principal_id) or t.groups.get(a.principal_id) or t.service_principals.get(a.principal_id)
        )
        return {
            "id": a.id,
            "appRoleId": a.app_role_id,
            "createdDateTime": "2026-01-05T09:00:00Z",
            "principalId": a.principal_id,
            "principalType": a.principal_type,
            "principalDisplayName": principal.display_name if principal else None,
            "resourceId": a.resource_id,
            "resourceDisplayName": t.service_principals[a.resource_id].display_name,
        }

    def _entity(self, entity_set: str, item: dict[str, Any], r: Request) -> dict[str, Any]:
        _reject_unknown_options(r.query, {"$select"})
        selected = _apply_select(item, r.query.get("$select"), entity_set)
        return {"@odata.context": f"{self.base_url}/v1.0/$metadata#{entity_set}", **selected}

    def _collection(
        self, entity_set: str, items: list[dict[str, Any]], r: Request, filterable: set[str]
    ) -> dict[str, Any]:
        query = r.query
        _reject_unknown_options(query, {"$select", "$filter", "$skiptoken", "$top", "$count"})
        if "$filter" in query and (prefix := _FILTER_STARTSWITH.match(query["$filter"])):
            prop, start_text = prefix.group(1), prefix.group(2).replace("''", "'").casefold()
            if prop not in filterable:
                raise ODataError(
                    400,
                    "Request_UnsupportedQuery",
                    f"Unsupported or invalid query filter clause specified for property '{prop}' of resource "
                    f"'{entity_set}'.",
                )
            items = [i for i in items if str(i.get(prop) or "").casefold().startswith(start_text)]
        elif "$filter" in query:
            prop, value = _parse_filter(query["$filter"], filterable, entity_set)
            items = [i for i in items if _matches(i.get(prop), value)]
        try:
            start = int(query.get("$skiptoken", "0") or 0)
            size = max(1, min(int(query.get("$top", self.page_size)), self.page_size))
        except ValueError:
            raise ODataError(400, "BadRequest", "Invalid $skiptoken or $top value.") from None
        page = [_apply_select(i, query.get("$select"), entity_set) for i in items[start : start + size]]
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/v1.0/$metadata#{entity_set}", "value": page}
        if start + size < len(items):
            next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
            next_query["$skiptoken"] = str(start + size)
            body["@odata.nextLink"] = f"{self.base_url}/v1.0{r.path}?{urlencode(next_query)}"
        return body


# Permission sets, from the "Permissions" table (least and higher privileged, application) of each doc.
APPLICATION_READERS = frozenset(
    {
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Application.ReadWrite.OwnedBy",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
GRANT_READERS = frozenset({"Directory.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"})
USER_READERS = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
GROUP_READERS = frozenset(
    {
        "GroupMember.Read.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
AUTHORIZATION_POLICY_READERS = frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization"})
CONSENT_REQUEST_POLICY_READERS = frozenset(
    {"Policy.Read.All", "Policy.ReadWrite.ConsentRequest", "Directory.Read.All", "Directory.ReadWrite.All"}
)
AUTHORIZATION_POLICY_WRITERS = frozenset({"Policy.ReadWrite.Authorization"})
CONSENT_REQUEST_POLICY_WRITERS = frozenset({"Policy.ReadWrite.ConsentRequest", "Directory.ReadWrite.All"})

# The writers, from the same tables (application permissions; any one suffices).
APPLICATION_WRITERS = frozenset(
    {"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.ReadWrite.All"}
)
GRANT_WRITERS = frozenset({"DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"})
ASSIGNMENT_WRITERS = frozenset({"AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"})

ROUTES: tuple[Route, ...] = (
    Route("GET", ("servicePrincipals",), GraphEmulator.service_principals_list, APPLICATION_READERS),
    Route("GET", ("servicePrincipals", "{id}"), GraphEmulator.service_principals_get, APPLICATION_READERS),
    Route(
        "GET",
        ("servicePrincipals", "{id}", "appRoleAssignments"),
        GraphEmulator.service_principals_list_app_role_assignments,
        APPLICATION_READERS,
    ),
    Route(
        "GET",
        ("servicePrincipals", "{id}", "appRoleAssignedTo"),
        GraphEmulator.service_principals_list_app_role_assigned_to,
        APPLICATION_READERS,
    ),
    Route("GET", ("oauth2PermissionGrants",), GraphEmulator.oauth2_permission_grants_list, GRANT_READERS),
    Route("GET", ("users", "{id}"), GraphEmulator.users_get, USER_READERS),
    Route("GET", ("groups",), GraphEmulator.groups_list, GROUP_READERS),
    Route("GET", ("groups", "{id}"), GraphEmulator.groups_get, GROUP_READERS),
    Route(
        "GET",
        ("groups", "{id}", "members", "microsoft.graph.user"),
        GraphEmulator.groups_list_user_members,
        GROUP_READERS,
    ),
    Route(
        "GET",
        ("groups", "{id}", "transitiveMembers", "microsoft.graph.user"),
        GraphEmulator.groups_list_transitive_user_members,
        GROUP_READERS,
        advanced=True,
    ),
    Route(
        "GET",
        ("policies", "authorizationPolicy"),
        GraphEmulator.policies_get_authorization_policy,
        AUTHORIZATION_POLICY_READERS,
    ),
    Route(
        "GET",
        ("policies", "adminConsentRequestPolicy"),
        GraphEmulator.policies_get_admin_consent_request_policy,
        CONSENT_REQUEST_POLICY_READERS,
    ),
    # ----- what the consent settings provider writes (issue 14)
    Route(
        "PATCH",
        ("policies", "authorizationPolicy"),
        GraphEmulator.policies_update_authorization_policy,
        AUTHORIZATION_POLICY_WRITERS,
        status=204,
    ),
    Route(
        "PUT",
        ("policies", "adminConsentRequestPolicy"),
        GraphEmulator.policies_update_admin_consent_request_policy,
        CONSENT_REQUEST_POLICY_WRITERS,
        status=204,
    ),
    # ----- what the test azuread provider sends (terraform-provider-azuread's requests)
    Route("GET", ("users",), GraphEmulator.users_list, USER_READERS),
    Route("GET", ("users", "{id}", "manager"), GraphEmulator.users_get_manager, USER_READERS),
    Route("GET", ("groups", "{id}", "members"), GraphEmulator.groups_list_members, GROUP_READERS),
    Route("GET", ("groups", "{id}", "owners"), GraphEmulator.groups_list_owners, GROUP_READERS),
    Route("GET", ("oauth2PermissionGrants", "{id}"), GraphEmulator.oauth2_permission_grants_get, GRANT_READERS),
    Route(
        "POST", ("oauth2PermissionGrants",), GraphEmulator.oauth2_permission_grants_create, GRANT_WRITERS, status=201
    ),
    Route(
        "PATCH",
        ("oauth2PermissionGrants", "{id}"),
        GraphEmulator.oauth2_permission_grants_update,
        GRANT_WRITERS,
        status=204,
    ),
    Route(
        "DELETE",
        ("oauth2PermissionGrants", "{id}"),
        GraphEmulator.oauth2_permission_grants_delete,
        GRANT_WRITERS,
        status=204,
    ),
    Route("POST", ("servicePrincipals",), GraphEmulator.service_principals_create, APPLICATION_WRITERS, status=201),
    Route(
        "PATCH", ("servicePrincipals", "{id}"), GraphEmulator.service_principals_update, APPLICATION_WRITERS, status=204
    ),
    Route(
        "DELETE",
        ("servicePrincipals", "{id}"),
        GraphEmulator.service_principals_delete,
        APPLICATION_WRITERS,
        status=204,
    ),
    Route(
        "GET",
        ("servicePrincipals", "{id}", "owners"),
        GraphEmulator.service_principals_list_owners,
        APPLICATION_READERS,
    ),
    Route(
        "POST",
        ("servicePrincipals", "{id}", "owners", "$ref"),
        GraphEmulator.service_principals_add_owner,
        APPLICATION_WRITERS,
        status=204,
    ),
    Route(
        "DELETE",
        ("servicePrincipals", "{id}", "owners", "{owner}", "$ref"),
        GraphEmulator.service_principals_remove_owner,
        APPLICATION_WRITERS,
        status=204,
    ),
    Route(
        "GET",
        ("servicePrincipals", "{id}", "appRoleAssignedTo", "{assignment}"),
        GraphEmulator.service_principals_get_app_role_assigned_to,
        APPLICATION_READERS,
    ),
    Route(
        "POST",
        ("servicePrincipals", "{id}", "appRoleAssignedTo"),
        GraphEmulator.service_principals_create_app_role_assigned_to,
        ASSIGNMENT_WRITERS,
        status=201,
    ),
    Route(
        "DELETE",
        ("servicePrincipals", "{id}", "appRoleAssignedTo", "{assignment}"),
        GraphEmulator.service_principals_delete_app_role_assigned_to,
        ASSIGNMENT_WRITERS,
        status=204,
    ),
    Route("GET", ("applications",), GraphEmulator.applications_list, APPLICATION_READERS),
    Route("GET", ("applications", "{id}"), GraphEmulator.applications_get, APPLICATION_READERS),
    Route("POST", ("applications",), GraphEmulator.applications_create, APPLICATION_WRITERS, status=201),
    Route("PATCH", ("applications", "{id}"), GraphEmulator.applications_update, APPLICATION_WRITERS, status=204),
    Route("DELETE", ("applications", "{id}"), GraphEmulator.applications_delete, APPLICATION_WRITERS, status=204),
    Route("GET", ("applications", "{id}", "owners"), GraphEmulator.applications_list_owners, APPLICATION_READERS),
    Route(
        "DELETE",
        ("applications", "{id}", "owners", "{owner}", "$ref"),
        GraphEmulator.applications_remove_owner,
        APPLICATION_WRITERS,
        status=204,
    ),
)


# GDAP (tests/fakes/gdap.py): the permissions tables of
# https://learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadminrelationships,
# https://learn.microsoft.com/graph/api/delegatedadminrelationship-list-accessassignments and
# https://learn.microsoft.com/graph/api/tenantrelationship-findtenantinformationbytenantid.
RELATIONSHIP_READERS = frozenset({"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"})
TENANT_INFORMATION_READERS = frozenset({"CrossTenantInformation.ReadBasic.All"})
GDAP_ROUTES: tuple[Route, ...] = (
    Route("GET", ("tenantRelationships", "delegatedAdminRelationships"), list_relationships, RELATIONSHIP_READERS),
    Route(
        "GET",
        ("tenantRelationships", "delegatedAdminRelationships", "{id}", "accessAssignments"),
        list_access_assignments,
        RELATIONSHIP_READERS,
    ),
    Route("GET", ("tenantRelationships", "{function}"), find_tenant_information, TENANT_INFORMATION_READERS),
)


def _routes() -> tuple[Route, ...]:
    """Every route: the ones above, then GDAP's (the MSP tenant's relationships, tenant information)."""
    return ROUTES + GDAP_ROUTES


def _matches(actual: Any, wanted: str) -> bool:
    # eq on a string ignores case: "displayName eq 'Microsoft GrapH'" finds Microsoft Graph
    # (terraform-provider-azuread#1345), and 'bot-dev' and 'BOT-dev' both match "displayName eq 'bot-dev'"
    # (terraform-provider-azuread#369).
    if isinstance(actual, str):
        return actual.lower() == wanted.lower()
    return actual is not None and str(actual) == wanted


def _parse_filter(expression: str, filterable: set[str], entity_set: str) -> tuple[str, str]:
    match = _FILTER_EQ.match(expression)
    if match is None and _FILTER_PROPERTY.match(expression):
        # A quote inside the literal that is not doubled ends the string early (OData ABNF); Graph answers
        # "Invalid filter clause: Syntax error at position 32 in 'DisplayName eq 'Fraser's Group''."
        # (Microsoft365DSC/Microsoft365DSC#4358: the position is one past the end of that filter).
        raise ODataError(
            400,
            "BadRequest",
            f"Invalid filter clause: Syntax error at position {len(expression) + 1} in '{expression}'.",
        )
    if match is None or match.group(1) not in filterable:
        prop = match.group(1) if match else expression.split(" ")[0]
        raise ODataError(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{entity_set}'.",
        )
    return match.group(1), match.group(2).replace("''", "'")


def _apply_select(item: dict[str, Any], select: str | None, entity_set: str) -> dict[str, Any]:
    if not select:
        return dict(item)
    fields = [f.strip() for f in select.split(",") if f.strip()]
    known = KNOWN_PROPERTIES.get(entity_set.split("/")[0], frozenset())
    for name in fields:
        if name not in item and name not in known:
            raise ODataError(
                400, "Request_BadRequest", f"Could not find a property named '{name}' on type '{entity_set}'."
            )
    annotations = {k: v for k, v in item.items() if k.startswith("@odata.")}
    # A property the type has but the emulator does not model comes back null, as Graph returns an unset one.
    return {**annotations, **{name: item.get(name) for name in fields}}


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Properties of each type that the emulator does not model but Graph has (the resource pages under
# https://learn.microsoft.com/graph/api/resources/): selecting one answers null.
KNOWN_PROPERTIES: dict[str, frozenset[str]] = {
    "users": _names(
        "ageGroup businessPhones city companyName consentProvidedForMinor country creationType department "
        "employeeHireDate employeeId employeeOrgData employeeType externalUserState faxNumber givenName imAddresses "
        "jobTitle mailNickname mobilePhone officeLocation onPremisesDistinguishedName onPremisesDomainName "
        "onPremisesImmutableId onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled "
        "onPremisesUserPrincipalName otherMails postalCode preferredLanguage proxyAddresses showInAddressList state "
        "streetAddress surname usageLocation userType"
    ),
    "servicePrincipals": _names("appDisplayName homepage logoutUrl replyUrls samlMetadataUrl"),
}

# What a POST or PATCH may set, per type (the part the emulator models or accepts); any other property is
# refused as Graph refuses an undeclared one (https://learn.microsoft.com/graph/errors).
SERVICE_PRINCIPAL_WRITABLE = _names(
    "accountEnabled alternativeNames appRoleAssignmentRequired description loginUrl notes "
    "notificationEmailAddresses preferredSingleSignOnMode samlSingleSignOnSettings tags"
)
# The entity types whose bodies the writes take, as go-azure-sdk names them in @odata.type.
GRANT_TYPE = "microsoft.graph.oAuth2PermissionGrant"
SERVICE_PRINCIPAL_TYPE = "microsoft.graph.servicePrincipal"
APP_ROLE_ASSIGNMENT_TYPE = "microsoft.graph.appRoleAssignment"
APPLICATION_TYPE = "microsoft.graph.application"

APPLICATION_WRITABLE = _names(
    "api appRoles description displayName groupMembershipClaims identifierUris info isDeviceOnlyAuthSupported "
    "isFallbackPublicClient notes optionalClaims publicClient requiredResourceAccess serviceManagementReference "
    "signInAudience spa tags web"
)
SIGN_IN_AUDIENCES = (
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
)


def _check_properties(body: dict[str, Any], allowed: frozenset[str] | set[str], entity_type: str | None = None) -> None:
    """Every property declared on ``entity_type``. An ``@odata.type`` naming that type is accepted: OData JSON
    lets a payload say its type, and go-azure-sdk puts one in every entity body it sends (each model's
    MarshalJSON in microsoft-graph/common-types/stable adds ``#microsoft.graph.<type>``; Graph's own examples
    send it too, e.g. https://learn.microsoft.com/graph/api/rbacapplication-post-roleassignments). A type it
    cannot resolve is Graph's 400 Request_BadRequest "A type named '...' could not be resolved by the model"
    (microsoftgraph/msgraph-beta-sdk-dotnet#87); what it says to another entity's type is not documented, so
    that is refused with the same answer."""
    for name in body:
        if name == "@odata.type" and entity_type is not None:
            named = str(body[name])
            if named.removeprefix("#") != entity_type:
                raise ODataError(
                    400,
                    "Request_BadRequest",
                    f"A type named '{named.removeprefix('#')}' could not be resolved by the model. When a model is "
                    "available, each type name must resolve to a valid type.",
                )
            continue
        if name not in allowed:
            raise ODataError(
                400, "BadRequest", f"Property '{name}' does not exist as a declared property or extension property."
            )


def _check_audience(audience: str) -> None:
    if audience not in SIGN_IN_AUDIENCES:
        raise ODataError(
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'signInAudience' of resource 'Application'.",
        )


def _bound_id(reference: Any) -> str:
    """The object id at the end of an ``@odata.bind`` URL (``.../directoryObjects/{id}``)."""
    text = str(reference).rstrip("/")
    if "/directoryObjects/" not in text:
        raise ODataError(400, "Request_BadRequest", f"Invalid object identifier '{text}'.")
    return text.rsplit("/", 1)[-1].lower()


def _json_object(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise ODataError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(document, dict):
        raise ODataError(400, "BadRequest", "Unable to read JSON request payload.")
    return document


def _reject_unknown_options(query: dict[str, str], allowed: set[str]) -> None:
    for key in query:
        if key.startswith("$") and key not in allowed:
            raise ODataError(400, "BadRequest", f"Query option '{key}' is not allowed on this resource.")


def _missing(ref: str) -> ODataError:
    return ODataError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.",
    )


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    request_id = str(uuid.uuid4())
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": date, "request-id": request_id, "client-request-id": request_id},
        }
    }
    return status, {"request-id": request_id}, body


def _grant(grant: OAuth2PermissionGrant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "clientId": grant.client_id,
        "consentType": grant.consent_type,
        "principalId": grant.principal_id,
        "resourceId": grant.resource_id,
        "scope": grant.scope,
    }


def _application(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "appId": application.app_id,
        "displayName": application.display_name,
        "signInAudience": application.sign_in_audience,
        "description": application.description,
        "notes": None,
        "tags": list(application.tags),
        "publicClient": {"redirectUris": list(application.redirect_uris)},
        "requiredResourceAccess": application.required_resource_access,
        "appRoles": [],
        "api": {"oauth2PermissionScopes": []},
        "publisherDomain": None,
    }


def _set_service_principal_properties(sp: ServicePrincipal, body: dict[str, Any]) -> None:
    """What a POST or PATCH sets: exactly the properties it names, null clearing one; a collection sent
    replaces the whole collection (https://learn.microsoft.com/graph/api/serviceprincipal-update)."""
    setters: dict[str, Callable[[Any], None]] = {
        "accountEnabled": lambda v: setattr(sp, "account_enabled", bool(v)),
        "appRoleAssignmentRequired": lambda v: setattr(sp, "app_role_assignment_required", bool(v)),
        "description": lambda v: setattr(sp, "description", v),
        "notes": lambda v: setattr(sp, "notes", v),
        "loginUrl": lambda v: setattr(sp, "login_url", v),
        "preferredSingleSignOnMode": lambda v: setattr(sp, "preferred_single_sign_on_mode", v),
        "tags": lambda v: setattr(sp, "tags", list(v or [])),
        "alternativeNames": lambda v: setattr(sp, "alternative_names", list(v or [])),
        "notificationEmailAddresses": lambda v: setattr(sp, "notification_email_addresses", list(v or [])),
        # A complex property is replaced whole: {} leaves no relayState.
        "samlSingleSignOnSettings": lambda v: setattr(sp, "saml_single_sign_on_settings", dict(v) if v else None),
    }
    for name, value in body.items():
        setter = setters.get(name)
        if setter is not None:
            setter(value)


def _service_principal(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": sp.account_enabled,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "description": sp.description,
        "notes": sp.notes,
        "alternativeNames": list(sp.alternative_names),
        "loginUrl": sp.login_url,
        "notificationEmailAddresses": list(sp.notification_email_addresses),
        "preferredSingleSignOnMode": sp.preferred_single_sign_on_mode,
        "samlSingleSignOnSettings": dict(sp.saml_single_sign_on_settings) if sp.saml_single_sign_on_settings else None,
        "signInAudience": sp.sign_in_audience,
        "servicePrincipalNames": [sp.app_id],
        "servicePrincipalType": "Application",
        "tags": list(sp.tags),
        "appRoles": [
            {"id": role_id, "value": value, "allowedMemberTypes": ["Application"], "isEnabled": True}
            for value, role_id in sp.app_roles.items()
        ],
        "oauth2PermissionScopes": [
            {"id": scope_id, "value": value, "type": "User", "isEnabled": True}
            for value, scope_id in sp.oauth2_permission_scopes.items()
        ],
    }


def authorization_policy_wire(tenant: FakeTenant) -> dict[str, Any]:
    policy = tenant.authorization_policy
    return {
        "id": "authorizationPolicy",
        "displayName": "Authorization Policy",
        "defaultUserRolePermissions": {
            "allowedToCreateApps": policy.allowed_to_create_apps,
            "allowedToCreateSecurityGroups": policy.allowed_to_create_security_groups,
            "allowedToReadOtherUsers": policy.allowed_to_read_other_users,
            "permissionGrantPoliciesAssigned": list(policy.permission_grant_policies_assigned),
        },
    }


def admin_consent_request_policy_wire(tenant: FakeTenant) -> dict[str, Any]:
    policy = tenant.admin_consent_request_policy
    return {
        "isEnabled": policy.is_enabled,
        "notifyReviewers": policy.notify_reviewers,
        "remindersEnabled": policy.reminders_enabled,
        "requestDurationInDays": policy.request_duration_in_days,
        "version": policy.version,
        "reviewers": [dict(reviewer) for reviewer in policy.reviewers],
    }


def _user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "mail": user.mail,
        "accountEnabled": user.account_enabled,
    }


def _group(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "groupTypes": list(group.group_types),
        "securityEnabled": not group.unified,
        "mailEnabled": group.unified,
    }


# ------------------------------------------------------------------------------------------ server


def _handler(emulator: GraphEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, every answer would wait
        # ~40 ms for the client's delayed ACK, a latency Graph does not add and every test would pay.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest captures nothing useful
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = emulator.take_fault(self.command, self.path)
            if fault is not None:
                time.sleep(fault.stall_seconds)
                # SO_LINGER 0: close() sends a TCP reset (ECONNRESET on the client), not an orderly FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
                status, headers, payload = _error(401, "InvalidAuthenticationToken", "Access token is empty.")
            else:
                status, headers, payload = emulator.handle(
                    self.command, self.path, body, headers=dict(self.headers.items())
                )
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def serve(tenant: FakeTenant, page_size: int = PAGE_SIZE, caller: Caller | None = None) -> Iterator[GraphEmulator]:
    """Run the emulator on an ephemeral 127.0.0.1 port for the duration of the block."""
    emulator = GraphEmulator(tenant, page_size, caller=caller or Caller())
    with serve_handler(_handler(emulator), "graph-emulator") as base_url:
        emulator.base_url = base_url
        yield emulator


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler], name: str, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handler`` on an ephemeral 127.0.0.1 port, on a thread named ``name``, for the duration of the
    block; yields the base URL, https with ``tls``. (The emulated cloud of entra_cloud.py serves the same way.)"""
    server = _Server(("127.0.0.1", 0), handler)
    server.tls = tls
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name=name, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 refuses connections when a run opens many at once (--parallel 8
    # tenants, four reads each); Graph accepts them.
    request_queue_size = 128
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The TLS handshake happens here, in the connection's own thread, not in the accepting one.
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the certificate: it sees the handshake fail
        try:
            self.RequestHandlerClass(secure, client_address, self)
        finally:
            secure.close()
