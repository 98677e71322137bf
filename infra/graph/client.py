"""The one module that reads from Microsoft Graph: ``GraphClient``, and a client for a tenant as ``audit``, ``adopt``
and the program sign in. Read-only: it sends GETs, and POSTs only to ``$batch`` with GET requests inside.

The Graph I/O layer, by job: ``requests`` (the request catalog: one function per Graph call), ``transport``
(retries, ``Retry-After``, paging, ``$batch``, ``GraphError``; shared with the writer, ``policy_writer``),
``credentials`` (tokens, signed in by ``signin``'s one rule), ``endpoints`` (clouds, and the checks on a Graph
root given by hand). The names callers use are re-exported here.

``GraphClient`` executes requests one at a time (``collection``/``entity``) or many in one round trip
(``batch``), the independent ones at once when given an executor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from functools import partial
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, ClassVar, TypeVar

import httpx

from taxcalc_consent.infra.graph.credentials import (
    GITHUB_TOKEN_ENV,
    GITHUB_TOKEN_URL_ENV,
    TOKEN_ENV,
    ado_pipeline_id_token,
    github_actions_id_token,
    token_source,
)
from taxcalc_consent.infra.graph.endpoints import (
    CLOUDS,
    GRAPH_ENDPOINT_ENV,
    Cloud,
    CloudEndpoints,
    endpoint_problem,
    graph_base_url,
    provider_endpoints,
)
from taxcalc_consent.infra.graph.requests import (
    ADMIN_CONSENT_REQUEST_POLICY_FIELDS,
    ADVANCED_QUERY_HEADERS,
    APP_ROLE_ASSIGNMENT_FIELDS,
    APPLICATION_READ,
    DIRECTORY_READ,
    GRANT_FIELDS,
    GROUP_FIELDS,
    GROUP_MEMBER_READ,
    NEAR_NAMES_PAGE,
    POLICY_READ,
    SERVICE_PRINCIPAL_FIELDS,
    USER_FIELDS,
    USER_READ,
    GraphRequest,
    groups_get,
    groups_list_by_display_name,
    groups_list_near,
    groups_list_transitive_user_members,
    groups_list_user_members,
    oauth2_permission_grants_list_by_client,
    policies_get_admin_consent_request_policy,
    policies_get_authorization_policy,
    service_principals_get,
    service_principals_list_app_role_assigned_to,
    service_principals_list_app_role_assignments,
    service_principals_list_by_app_id,
    users_get,
    users_list_near,
)
from taxcalc_consent.infra.graph.signin import CredentialError, CredentialErrors
from taxcalc_consent.infra.graph.transport import (
    BATCH_LIMIT,
    DEFAULT_TIMEOUT,
    MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    TRANSPORT_RETRIES,
    Abandoned,
    Answer,
    GraphError,
    GraphTransport,
    TokenSource,
    error_from_body,
)
from taxcalc_consent.infra.model.spec import AuthSection

__all__ = [  # the Graph I/O layer's names, as callers know them (``graph.<name>``)
    "ADMIN_CONSENT_REQUEST_POLICY_FIELDS",
    "ADVANCED_QUERY_HEADERS",
    "APPLICATION_READ",
    "APP_ROLE_ASSIGNMENT_FIELDS",
    "CLOUDS",
    "DEFAULT_TIMEOUT",
    "DIRECTORY_READ",
    "GITHUB_TOKEN_ENV",
    "GITHUB_TOKEN_URL_ENV",
    "GRANT_FIELDS",
    "GRAPH_ENDPOINT_ENV",
    "GROUP_FIELDS",
    "GROUP_MEMBER_READ",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_SECONDS",
    "NEAR_NAMES_PAGE",
    "POLICY_READ",
    "SERVICE_PRINCIPAL_FIELDS",
    "TENANT_READS_AT_ONCE",
    "TOKEN_ENV",
    "TRANSPORT_RETRIES",
    "USER_FIELDS",
    "USER_READ",
    "Cloud",
    "CloudEndpoints",
    "CredentialError",
    "CredentialErrors",
    "GraphClient",
    "GraphError",
    "GraphRequest",
    "GraphResult",
    "TokenSource",
    "ado_pipeline_id_token",
    "client_for_tenant",
    "endpoint_problem",
    "github_actions_id_token",
    "graph_base_url",
    "groups_get",
    "groups_list_by_display_name",
    "groups_list_near",
    "groups_list_transitive_user_members",
    "groups_list_user_members",
    "oauth2_permission_grants_list_by_client",
    "policies_get_admin_consent_request_policy",
    "policies_get_authorization_policy",
    "program_client",
    "provider_endpoints",
    "service_principals_get",
    "service_principals_list_app_role_assigned_to",
    "service_principals_list_app_role_assignments",
    "service_principals_list_by_app_id",
    "shared_http_client",
    "token_source",
    "users_get",
    "users_list_near",
]

GraphResult = list[dict[str, Any]] | dict[str, Any] | None
T = TypeVar("T")
U = TypeVar("U")

TENANT_READS_AT_ONCE = 4
"""Reads of one tenant in flight at once when the caller gives an executor: a ``$batch`` of more than 20
requests, and the later pages of different collections. Graph throttles per app and tenant
(learn.microsoft.com/graph/throttling); a handful at once stays well inside it, and a 429 is retried."""


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
class GraphClient(GraphTransport):
    """Reads from one tenant's Microsoft Graph. Never writes."""

    read_only: ClassVar[bool] = True

    reads: Executor | None = None
    """Where this tenant's independent reads run at once (a ``$batch`` of more than 20 requests, the later
    pages of different collections), at most ``TENANT_READS_AT_ONCE`` per call. None: one after another.
    Tasks put there never wait on other tasks, so it may be shared by every tenant of a run."""

    def collection(self, request: GraphRequest) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink to the last page."""
        if request.kind != "collection":
            raise ValueError(f"{request.path} is not a collection")
        return self.pages(self.read(f"{self.root}{request.relative_url}", request), request)

    def entity(self, request: GraphRequest) -> dict[str, Any] | None:
        """One entity; None when it does not exist and the request allows that."""
        if request.kind != "entity":
            raise ValueError(f"{request.path} is a collection")
        try:
            return self.read(f"{self.root}{request.relative_url}", request)
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

            def send(chunk: Sequence[GraphRequest]) -> list[Answer]:
                return self.send_batch(chunk, at_once.stop)

            def follow(first: tuple[dict[str, Any], GraphRequest]) -> list[dict[str, Any]]:
                return self.pages(*first, stop=at_once.stop)

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

    def _result(self, request: GraphRequest, answer: Answer, pages: Future[list[dict[str, Any]]] | None) -> GraphResult:
        status, body, headers = answer
        if status >= 400:
            if status == 404 and request.missing_ok:
                return None
            as_user = status == 403 and self.signed_in_as_user()
            described = f"GET {request.path} (in $batch)"
            raise error_from_body(status, body, headers, described, request.permission, as_user)
        if request.kind == "entity":
            return body
        return pages.result() if pages is not None else self.pages(body, request)


def _in_order(results: Sequence[Callable[[], T]]) -> list[T]:
    """Each result in order; the first failure in order is raised, as reading one after another would
    meet it first. A read abandoned because another failed is passed over: that other failure is raised
    (submission stops at a failure, so it is among these)."""
    values: list[T] = []
    for result in results:
        try:
            values.append(result())
        except Abandoned:
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
    a ready token when one is set, else the tenant's sign-in (``infra.graph.signin``); ``http`` and ``reads``: a
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
