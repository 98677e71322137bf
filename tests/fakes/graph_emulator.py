"""A local Microsoft Graph emulator: a real HTTP server on 127.0.0.1 over a FakeTenant.

It serves the reads the Graph client makes, with Graph's shapes and Graph's failures:
- OData collections in small pages with ``@odata.nextLink`` (``$skiptoken``);
- ``$filter`` with ``eq`` on the properties Graph supports for each collection (anything else: 400
  ``Request_UnsupportedQuery``), ``$select`` (an unknown property: 400 ``Request_BadRequest``);
- ``$batch`` (JSON batching, at most 20 requests, each answered with id/status/headers/body);
- error bodies ``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``;
- 401 ``InvalidAuthenticationToken`` without a bearer token;
- a 429 with ``Retry-After`` when a test asks for one (``throttle``).
Only reads are implemented: any other method is refused, and counted, so a test can prove the client
never wrote.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.fakes.entra import FakeTenant, Group, ServicePrincipal, User

PAGE_SIZE = 2
_FILTER_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")


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
    retry_after: int


@dataclass
class RecordedRequest:
    method: str
    path: str
    in_batch: bool = False


@dataclass
class GraphEmulator:
    tenant: FakeTenant
    page_size: int = PAGE_SIZE
    requests: list[RecordedRequest] = field(default_factory=list)
    throttles: list[Throttle] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------------------ test controls

    def throttle(self, path_prefix: str = "/", times: int = 1, retry_after: int = 2) -> None:
        """Answer the next ``times`` reads under ``path_prefix`` with 429 and Retry-After."""
        self.throttles.append(Throttle(path_prefix, times, retry_after))

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

    def handle(self, method: str, raw_url: str, body: bytes, in_batch: bool = False) -> tuple[int, dict[str, str], Any]:
        """One request: (status, headers, JSON body). Relative to /v1.0 inside a batch."""
        parts = urlsplit(raw_url)
        path = unquote(parts.path)
        if not in_batch:
            if not path.startswith("/v1.0/") and path != "/v1.0":
                return _error(404, "UnknownError", f"No HTTP resource was found that matches the request URI '{path}'.")
            path = path[len("/v1.0") :] or "/"
        with self._lock:
            self.requests.append(RecordedRequest(method, path, in_batch))
        throttle = self._take_throttle(path) if path != "/$batch" else None
        if throttle is not None:
            status, headers, payload = _error(
                429, "TooManyRequests", "Too many requests. Please retry after the time in Retry-After."
            )
            headers["Retry-After"] = str(throttle.retry_after)
            return status, headers, payload
        try:
            if method == "POST" and path == "/$batch" and not in_batch:
                return 200, {}, self._batch(body)
            if method != "GET":
                raise ODataError(405, "Request_BadRequest", f"The emulator is read-only: {method} is not served.")
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            return 200, {}, self._get(path, query)
        except ODataError as exc:
            return _error(exc.status, exc.code, exc.message)

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
            status, headers, payload = self.handle(str(item.get("method", "GET")), url, b"", in_batch=True)
            responses.append({"id": item.get("id"), "status": status, "headers": headers, "body": payload})
        return {"responses": responses}

    def _get(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        segments = [s for s in path.split("/") if s]
        t = self.tenant
        match segments:
            case ["servicePrincipals"]:
                items = [_service_principal(sp) for sp in t.service_principals.values()]
                return self._collection("servicePrincipals", items, query, {"appId", "displayName", "id"}, path)
            case ["servicePrincipals", sp_id]:
                return self._entity("servicePrincipals", _service_principal(self._sp(sp_id)), query)
            case ["servicePrincipals", sp_id, "appRoleAssignments"]:
                sp = self._sp(sp_id)
                items = [self._assignment(a) for a in t.app_role_assignments.values() if a.principal_id == sp.id]
                return self._collection("appRoleAssignments", items, query, set(), path)
            case ["servicePrincipals", sp_id, "appRoleAssignedTo"]:
                sp = self._sp(sp_id)
                items = [self._assignment(a) for a in t.app_role_assignments.values() if a.resource_id == sp.id]
                return self._collection("appRoleAssignments", items, query, set(), path)
            case ["oauth2PermissionGrants"]:
                items = [
                    {
                        "id": g.id,
                        "clientId": g.client_id,
                        "consentType": g.consent_type,
                        "principalId": g.principal_id,
                        "resourceId": g.resource_id,
                        "scope": g.scope,
                    }
                    for g in t.grants.values()
                ]
                return self._collection(
                    "oauth2PermissionGrants",
                    items,
                    query,
                    {"clientId", "consentType", "principalId", "resourceId"},
                    path,
                )
            case ["users", ref]:
                return self._entity("users", _user(self._user(ref)), query)
            case ["groups"]:
                items = [_group(g) for g in t.groups.values()]
                return self._collection("groups", items, query, {"displayName", "id"}, path)
            case ["groups", group_id]:
                return self._entity("groups", _group(self._group(group_id)), query)
            case ["groups", group_id, "transitiveMembers", "microsoft.graph.user"]:
                group = self._group(group_id)
                items = [_user(t.users[u]) for u in self._transitive_users(group, set())]
                return self._collection("users", items, query, set(), path)
            case ["policies", "authorizationPolicy"]:
                policy = {
                    "id": "authorizationPolicy",
                    "displayName": "Authorization Policy",
                    "defaultUserRolePermissions": {
                        "allowedToCreateApps": True,
                        "allowedToCreateSecurityGroups": True,
                        "allowedToReadOtherUsers": True,
                        "permissionGrantPoliciesAssigned": list(
                            t.authorization_policy.permission_grant_policies_assigned
                        ),
                    },
                }
                return self._entity("policies/authorizationPolicy/$entity", policy, query)
            case ["policies", "adminConsentRequestPolicy"]:
                policy = {
                    "isEnabled": t.admin_consent_workflow_enabled,
                    "notifyReviewers": False,
                    "remindersEnabled": False,
                    "requestDurationInDays": 30,
                    "version": 0,
                    "reviewers": [],
                }
                return self._entity("policies/adminConsentRequestPolicy/$entity", policy, query)
        raise ODataError(400, "BadRequest", f"Resource not found for the segment '{segments[-1] if segments else ''}'.")

    # ----------------------------------------------------------------------------------- helpers

    def _sp(self, sp_id: str) -> ServicePrincipal:
        sp = self.tenant.service_principals.get(sp_id.lower())
        if sp is None:
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

    def _entity(self, entity_set: str, item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        _reject_unknown_options(query, {"$select"})
        selected = _apply_select(item, query.get("$select"), entity_set)
        return {"@odata.context": f"{self.base_url}/v1.0/$metadata#{entity_set}", **selected}

    def _collection(
        self, entity_set: str, items: list[dict[str, Any]], query: dict[str, str], filterable: set[str], path: str
    ) -> dict[str, Any]:
        _reject_unknown_options(query, {"$select", "$filter", "$skiptoken", "$top"})
        if "$filter" in query:
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
            body["@odata.nextLink"] = f"{self.base_url}/v1.0{path}?{urlencode(next_query)}"
        return body


def _matches(actual: Any, wanted: str) -> bool:
    if isinstance(actual, str):
        return actual.lower() == wanted.lower()
    return actual is not None and str(actual) == wanted


def _parse_filter(expression: str, filterable: set[str], entity_set: str) -> tuple[str, str]:
    match = _FILTER_EQ.match(expression)
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
    for name in fields:
        if name not in item:
            raise ODataError(
                400, "Request_BadRequest", f"Could not find a property named '{name}' on type '{entity_set}'."
            )
    return {name: item[name] for name in fields}


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


def _service_principal(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": sp.account_enabled,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "servicePrincipalType": "Application",
        "appRoles": [
            {"id": role_id, "value": value, "allowedMemberTypes": ["Application"], "isEnabled": True}
            for value, role_id in sp.app_roles.items()
        ],
        "oauth2PermissionScopes": [
            {"id": scope_id, "value": value, "type": "User", "isEnabled": True}
            for value, scope_id in sp.oauth2_permission_scopes.items()
        ],
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
    return {"id": group.id, "displayName": group.display_name, "securityEnabled": True, "mailEnabled": False}


# ------------------------------------------------------------------------------------------ server


def _handler(emulator: GraphEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest captures nothing useful
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
                status, headers, payload = _error(401, "InvalidAuthenticationToken", "Access token is empty.")
            else:
                status, headers, payload = emulator.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def serve(tenant: FakeTenant, page_size: int = PAGE_SIZE) -> Iterator[GraphEmulator]:
    """Run the emulator on an ephemeral 127.0.0.1 port for the duration of the block."""
    emulator = GraphEmulator(tenant, page_size)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(emulator))
    server.daemon_threads = True
    emulator.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="graph-emulator", daemon=True)
    thread.start()
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
