"""How a request reaches Microsoft Graph and comes back, for the reader (``client.GraphClient``) and the writer
(``policy_writer``) alike: the bearer token, Graph's retry rules, its error body, ``@odata.nextLink`` paging and
``$batch``.

Graph's retry rules, kept by tenacity: a 429, 503 or 504 is sent again after its ``Retry-After`` (or a backoff
when it names none), at most ``MAX_ATTEMPTS`` times in all; a ``Retry-After`` longer than ``MAX_BACKOFF_SECONDS``
is final. A dropped or timed-out connection is sent again, a few times with backoff, for reads only: a write whose
answer was lost may have landed (go-azure-sdk sdk/client/client.go, ``Execute``'s ``CheckRetry``, likewise retries
a request that got no answer only when it is idempotent, a GET). Every failure becomes a ``GraphError`` carrying
Graph's error code and request id. Tokens are never logged, printed or put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

import httpx
import tenacity

from taxcalc_consent.infra.graph.requests import GraphRequest
from taxcalc_consent.infra.model.errors import TaxcalcConsentError

API_VERSION = "v1.0"
BATCH_LIMIT = 20
"""Graph accepts at most 20 requests in one JSON batch (learn.microsoft.com/graph/json-batching)."""
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
"""How many times one read is sent again after a transient transport error (azure-core's RetryPolicy
also retries a connect or read error 3 times); within MAX_ATTEMPTS with the status retries."""
DEFAULT_TIMEOUT = 30.0

TokenSource = Callable[[], str]
Answer = tuple[int, dict[str, Any], dict[str, str]]
"""One request's answer inside a ``$batch``: status, body, headers (lower-case names)."""


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
        as_user: bool = False,
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
        if missing_permission and as_user:
            # A user's call (an engineer's GDAP sign-in) is judged by the token's delegated scopes and directory
            # roles (https://learn.microsoft.com/graph/permissions-overview), not by application permissions.
            parts.append(
                f"- your own sign-in may not do this here ({missing_permission} or one that includes it, as a "
                "delegated permission, and the directory role the call needs): run it as the automation identity "
                "(docs/ci.md lists what it needs per command)"
            )
        elif missing_permission:
            parts.append(
                f"- the identity lacks the Microsoft Graph application permission {missing_permission} "
                "(or one that includes it): add it to the automation app and have an administrator of this "
                "tenant grant admin consent (docs/ci.md in the taxcalc-consent repository lists the least privilege "
                "per command)"
            )
        super().__init__(" ".join(parts))


class Abandoned(Exception):
    """A read stopped because another read of its batch has already failed."""


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


@dataclass
class GraphTransport:
    """Sends requests to one tenant's Microsoft Graph, as one identity, by Graph's retry rules."""

    read_only: ClassVar[bool] = False
    """True: refuses anything but GETs, and ``$batch`` POSTs of GETs (the read client)."""

    base_url: str
    """Graph's root, e.g. https://graph.microsoft.com (the API version is appended)."""
    token: TokenSource
    sleep: Callable[[float], None] = _default_sleep
    timeout: float = DEFAULT_TIMEOUT
    transport: httpx.BaseTransport | None = None
    http: httpx.Client | None = None
    """A connection pool shared with other tenants' clients (``client.shared_http_client``); its owner closes
    it, never this one. None: one is opened on first use and closed in ``close``."""
    _http: httpx.Client | None = field(default=None, init=False, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def root(self) -> str:
        return f"{self.base_url.rstrip('/')}/{API_VERSION}"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(
        self,
        method: Literal["GET", "POST", "PATCH", "PUT", "DELETE"],
        url: str,
        shown: str,
        *,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        permission: str | None = None,
        resend_dropped: bool = False,
    ) -> dict[str, Any]:
        """One request, sent again as Graph's rules say; its JSON body (empty for none). ``shown``: the path
        said in errors; ``permission``: the one a 403 names; ``resend_dropped``: a read, so a connection dropped
        before the answer is sent again."""
        if self.read_only:
            _assert_read_only(method, shown, json_body)
        described = f"{method} {shown}"
        rules = _RetryRules(resend_dropped)

        def attempt() -> httpx.Response:
            token = self.token()
            if not token:
                raise GraphError("no access token to send", request=described)
            sent = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
            return self._client().request(method, url, headers=sent, json=json_body)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(MAX_ATTEMPTS),
            retry=rules.retry,
            wait=rules.wait,
            sleep=self.sleep,
            # Out of attempts: the last answer (or failure) is final.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        try:
            response: httpx.Response = retrying(attempt)
        except httpx.HTTPError as exc:
            raise GraphError(f"{type(exc).__name__}: cannot reach {origin(url)}", request=described) from None
        body = _json_body(response)
        if response.status_code >= 400:
            as_user = response.status_code == 403 and self.signed_in_as_user()
            raise error_from_body(response.status_code, body, dict(response.headers), described, permission, as_user)
        return body

    def signed_in_as_user(self) -> bool:
        """Whether the calls go as a user (an engineer), judged by delegated permissions; False if unknown."""
        try:
            return is_users_token(self.token())
        except GraphError:
            return False

    def pages(
        self, page: dict[str, Any], request: GraphRequest, stop: threading.Event | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a collection from its first page on, following ``@odata.nextLink`` to the last page
        (never to another host: the bearer token goes with every request)."""
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
            if origin(str(next_link)) != origin(self.base_url):
                raise GraphError(f"@odata.nextLink leaves {origin(self.base_url)}; not followed", request=f"GET {path}")
            seen.add(next_link)
            if stop is not None and stop.is_set():
                raise Abandoned
            page = self.read(str(next_link), request)

    def read(self, url: str, request: GraphRequest) -> dict[str, Any]:
        """GET ``url`` for ``request`` (its own URL, or one of its later pages)."""
        return self.send(
            "GET", url, request.path, headers=request.headers, permission=request.permission, resend_dropped=True
        )

    def send_batch(self, requests: Sequence[GraphRequest], stop: threading.Event | None = None) -> list[Answer]:
        """One ``$batch`` POST of at most ``BATCH_LIMIT`` reads, sent again for its throttled parts after the
        longest ``Retry-After`` among them: each request's raw answer, in order."""
        pending = {str(i): r for i, r in enumerate(requests, start=1)}
        answers: dict[str, Answer] = {}
        answered_last: set[str] = set()
        attempts = itertools.count(1)

        def attempt() -> float | None:
            """Sends what is pending; the wait before sending its throttled parts again, None when none is."""
            number = next(attempts)
            payload = {"requests": [_batch_item(key, r) for key, r in pending.items()]}
            answer = self.send("POST", f"{self.root}/$batch", "/$batch", json_body=payload, resend_dropped=True)
            throttled: list[float] = []
            answered_last.clear()
            for response in answer.get("responses", []):
                key = str(response.get("id"))
                if key not in pending:
                    continue
                status = int(response.get("status", 0))
                headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
                body = response.get("body") if isinstance(response.get("body"), dict) else {}
                answers[key] = (status, body or {}, headers)
                answered_last.add(key)
                delay = retry_delay(headers.get("retry-after"), number)
                if status in RETRY_STATUSES and delay is not None:
                    throttled.append(delay)
                else:
                    del pending[key]
            if pending and not throttled:
                raise _without_responses(pending.values())
            return max(throttled) if throttled else None

        def abandon_when_stopped(_state: tenacity.RetryCallState) -> None:
            if stop is not None and stop.is_set():
                raise Abandoned

        tenacity.Retrying(
            stop=tenacity.stop_after_attempt(MAX_ATTEMPTS),
            retry=tenacity.retry_if_result(lambda wait: wait is not None),
            wait=lambda state: state.outcome.result() if state.outcome else 0.0,
            before_sleep=abandon_when_stopped,
            sleep=self.sleep,
            retry_error_callback=lambda _state: None,  # out of attempts: the throttled answers are final
        )(attempt)
        unanswered = [r for key, r in pending.items() if key not in answered_last]
        if unanswered:
            raise _without_responses(unanswered)
        return [answers[str(i)] for i in range(1, len(requests) + 1)]

    def _client(self) -> httpx.Client:
        if self.http is not None:
            return self.http
        with self._opening:  # reads at once: one of them opens the client, the others use it
            if self._http is None:
                self._http = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False)
            return self._http


class _RetryRules:
    """Graph's rules for sending one request again, as tenacity's ``retry`` and ``wait``."""

    def __init__(self, resend_dropped: bool) -> None:
        self.resend_dropped = resend_dropped
        self.dropped = 0
        """Attempts so far whose connection dropped: each waits longer (``TRANSPORT_RETRIES`` at most)."""

    def retry(self, state: tenacity.RetryCallState) -> bool:
        """Whether to send again (tenacity's stop caps the attempts at ``MAX_ATTEMPTS``)."""
        outcome = state.outcome
        if outcome is None:  # pragma: no cover - tenacity asks only after an attempt
            return False
        if outcome.failed:
            dropped = isinstance(outcome.exception(), TRANSIENT_TRANSPORT_ERRORS)
            if not (self.resend_dropped and dropped and self.dropped < TRANSPORT_RETRIES):
                return False
            self.dropped += 1
            return True
        response: httpx.Response = outcome.result()
        too_long = retry_delay(response.headers.get("Retry-After"), state.attempt_number) is None
        return response.status_code in RETRY_STATUSES and not too_long

    def wait(self, state: tenacity.RetryCallState) -> float:
        """Backoff after a dropped connection; after a 429, 503 or 504, its Retry-After (else backoff)."""
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return _backoff(self.dropped)
        return retry_delay(outcome.result().headers.get("Retry-After"), state.attempt_number) or 0.0


def _assert_read_only(method: str, shown: str, json_body: dict[str, Any] | None) -> None:
    """A read-only transport never writes: only GETs, and $batch POSTs whose every request is a GET."""
    if method == "GET":
        return
    batch = method == "POST" and shown == "/$batch" and json_body is not None
    if batch and all(r.get("method") == "GET" for r in (json_body or {}).get("requests", [])):
        return
    raise RuntimeError(f"the Graph client is read-only; refusing {method} {shown}")


def _without_responses(requests: Iterable[GraphRequest]) -> GraphError:
    missing = ", ".join(r.path for r in requests)
    return GraphError(f"$batch answered without responses for {missing}", request="POST /$batch")


def _batch_item(key: str, request: GraphRequest) -> dict[str, Any]:
    item: dict[str, Any] = {"id": key, "method": "GET", "url": request.relative_url}
    if request.headers:
        # json-batching: headers a request needs (ConsistencyLevel) travel inside its batch entry.
        item["headers"] = request.headers
    return item


def retry_delay(retry_after: str | None, attempt: int) -> float | None:
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


def error_from_body(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    request: str,
    permission: str | None = None,
    as_user: bool = False,
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
    wait = retry_delay(lowered.get("retry-after"), 1) if status in RETRY_STATUSES else 0.0
    return GraphError(
        message,
        status=status,
        code=code,
        request_id=request_id,
        request=request,
        missing_permission=permission if status == 403 else None,
        wait_seconds=float(lowered["retry-after"]) if wait is None else None,
        as_user=as_user,
    )


def token_claims(token: str) -> dict[str, Any]:
    """A token's claims, unverified: only to read what Entra put in it (Graph verifies the token)."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(pieces[1] + "=" * (-len(pieces[1]) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def is_users_token(token: str) -> bool:
    """A user's token (``idtyp: user``, delegated ``scp``), not an application's
    (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference)."""
    claims = token_claims(token)
    return claims.get("idtyp") == "user" or "scp" in claims


def origin(url: str) -> str:
    """``scheme://host[:port]``: where a request goes, said without its path or query."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (the rest of a library's message is a troubleshooting link)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
