"""The read-only Graph client over real HTTP against the local Graph emulator."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph import credentials
from taxcalc_consent.infra.graph.client import GraphClient, GraphError
from taxcalc_consent.infra.graph.policy_writer import PolicyWriter
from taxcalc_consent.infra.model.spec import AuthSection
from tests.conftest import CLIENT_ID
from tests.fakes.consent_tenants import PROFILE_SCOPE, add_taxcalc_hub
from tests.fakes.entra import FakeTenant
from tests.fakes.graph_emulator import GraphEmulator, serve
from tests.test_ready_token import entra_token

TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def tenant() -> FakeTenant:
    tenant = FakeTenant(TENANT_ID)
    sp = add_taxcalc_hub(tenant)
    for n in range(5):
        user = tenant.add_user(f"user{n}@contoso.com")
        tenant.create_grant(sp.id, "Principal", user.id, tenant.graph.id, PROFILE_SCOPE)
    return tenant


@pytest.fixture
def emulator(tenant: FakeTenant) -> Iterator[GraphEmulator]:
    with serve(tenant, page_size=2) as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(emulator: GraphEmulator, sleeps: list[float]) -> Iterator[GraphClient]:
    with GraphClient(emulator.base_url, lambda: "test-token", sleep=sleeps.append) as running:
        yield running


def test_collections_follow_next_link_to_the_last_page(
    client: GraphClient, emulator: GraphEmulator, tenant: FakeTenant
) -> None:
    sp = tenant.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None
    grants = client.collection(graph.oauth2_permission_grants_list_by_client(sp.id))
    assert sorted(g["id"] for g in grants) == sorted(tenant.grants)
    assert set(grants[0]) == set(graph.GRANT_FIELDS)  # $select honoured: nothing more comes back
    pages = [r for r in emulator.requests if r.path == "/oauth2PermissionGrants"]
    assert len(pages) == 3  # 5 grants in pages of 2


def test_filter_selects_by_app_id(client: GraphClient, tenant: FakeTenant) -> None:
    found = client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))
    assert [sp["displayName"] for sp in found] == ["TaxCalc-Hub"]
    assert client.collection(graph.service_principals_list_by_app_id("11111111-1111-1111-1111-111111111111")) == []


def test_throttled_request_is_retried_after_retry_after(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float]
) -> None:
    emulator.throttle("/servicePrincipals", times=1, retry_after=7)
    found = client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))
    assert len(found) == 1
    assert sleeps == [7.0]
    assert [r.path for r in emulator.requests] == ["/servicePrincipals", "/servicePrincipals"]


def test_throttled_part_of_a_batch_is_sent_again(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float]
) -> None:
    emulator.throttle("/policies/authorizationPolicy", times=1, retry_after=3)
    policy, workflow, missing = client.batch(
        [
            graph.policies_get_authorization_policy(),
            graph.policies_get_admin_consent_request_policy(),
            graph.users_get("nobody@contoso.com"),
        ]
    )
    assert isinstance(policy, dict) and "defaultUserRolePermissions" in policy
    assert workflow is not None and workflow["isEnabled"] is False
    assert missing is None  # a 404 inside the batch, for a lookup that allows it
    assert sleeps == [3.0]
    batches = [r for r in emulator.requests if r.path == "/$batch"]
    assert len(batches) == 2
    # The second batch carries only the throttled request.
    assert [r.path for r in emulator.requests if r.in_batch][-1] == "/policies/authorizationPolicy"


def test_throttling_that_never_ends_fails_with_graphs_error(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float]
) -> None:
    emulator.throttle("/servicePrincipals", times=100, retry_after=1)
    with pytest.raises(GraphError) as caught:
        client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))
    assert caught.value.status == 429
    assert caught.value.code == "TooManyRequests"
    assert len(sleeps) == graph.MAX_ATTEMPTS - 1


@pytest.mark.parametrize("batched", [False, True])
def test_a_retry_after_longer_than_the_client_waits_is_not_cut_short(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float], batched: bool
) -> None:
    """Sent again before the time Graph asked for, a request is throttled again and counts against the
    quota (learn.microsoft.com/graph/throttling): the read fails at once, saying when to run again."""
    wait = int(graph.MAX_BACKOFF_SECONDS) + 60
    emulator.throttle("/policies/authorizationPolicy", times=1, retry_after=wait)
    with pytest.raises(GraphError) as caught:
        if batched:
            client.batch([graph.policies_get_authorization_policy(), graph.policies_get_admin_consent_request_policy()])
        else:
            client.entity(graph.policies_get_authorization_policy())
    assert caught.value.status == 429 and sleeps == []
    assert f"Microsoft Graph asked to wait {wait} seconds before trying again: run again then" in str(caught.value)
    assert sum(r.path == "/policies/authorizationPolicy" for r in emulator.requests) == 1


def test_unavailable_is_retried_after_retry_after(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float]
) -> None:
    emulator.unavailable("/servicePrincipals", times=1, retry_after=5)
    emulator.unavailable("/policies/authorizationPolicy", times=1)  # no Retry-After: backoff
    assert len(client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))) == 1
    assert client.entity(graph.policies_get_authorization_policy()) is not None
    assert sleeps[0] == 5.0 and 1.0 <= sleeps[1] <= 2.0 and len(sleeps) == 2


def test_a_reset_connection_is_read_again(client: GraphClient, emulator: GraphEmulator, sleeps: list[float]) -> None:
    emulator.drop_connection("/servicePrincipals", times=2)
    assert len(client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))) == 1
    assert [r.dropped for r in emulator.requests] == [True, True, False]
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 3.0  # exponential backoff


def test_a_dropped_batch_is_sent_again(client: GraphClient, emulator: GraphEmulator, sleeps: list[float]) -> None:
    emulator.drop_connection("/$batch", times=1)
    policy, workflow = client.batch(
        [graph.policies_get_authorization_policy(), graph.policies_get_admin_consent_request_policy()]
    )
    assert policy is not None and workflow is not None
    assert [(r.path, r.dropped) for r in emulator.requests if not r.in_batch] == [("/$batch", True), ("/$batch", False)]
    assert len(sleeps) == 1


def test_a_read_that_times_out_is_read_again(emulator: GraphEmulator, sleeps: list[float]) -> None:
    emulator.drop_connection("/policies/authorizationPolicy", times=1, stall_seconds=2.0)
    with GraphClient(emulator.base_url, lambda: "t", sleep=sleeps.append, timeout=0.2) as client:
        assert client.entity(graph.policies_get_authorization_policy()) is not None
    assert len(sleeps) == 1


def test_a_connection_that_keeps_dropping_fails_as_before(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float]
) -> None:
    emulator.drop_connection("/servicePrincipals", times=100)
    with pytest.raises(GraphError) as caught:
        client.collection(graph.service_principals_list_by_app_id(CLIENT_ID))
    assert re.fullmatch(
        rf"Microsoft Graph GET /servicePrincipals: (ReadError|RemoteProtocolError): cannot reach {emulator.base_url}",
        str(caught.value),
    ), str(caught.value)
    assert len(sleeps) == graph.TRANSPORT_RETRIES
    assert len(emulator.requests) == graph.TRANSPORT_RETRIES + 1


def test_a_refused_connection_is_retried_a_bounded_number_of_times(sleeps: list[float]) -> None:
    with socket.socket() as bound:  # a port that is bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{bound.getsockname()[1]}"
        with GraphClient(base, lambda: "t", sleep=sleeps.append) as client, pytest.raises(GraphError) as caught:
            client.entity(graph.policies_get_authorization_policy())
    assert str(caught.value) == f"Microsoft Graph GET /policies/authorizationPolicy: ConnectError: cannot reach {base}"
    assert len(sleeps) == graph.TRANSPORT_RETRIES


def test_a_throttled_write_is_sent_again_after_retry_after(emulator: GraphEmulator, sleeps: list[float]) -> None:
    """The writer sends through the reader's transport: the same 429/503 rules
    (https://learn.microsoft.com/graph/throttling)."""
    emulator.throttle("/policies/authorizationPolicy", times=1, retry_after=4)
    reader = GraphClient(emulator.base_url, lambda: "t", sleep=sleeps.append)
    with PolicyWriter(reader) as writer:
        writer.set_permission_grant_policies_assigned([])
    assert [r.method for r in emulator.requests] == ["PATCH", "PATCH"] and sleeps == [4.0]


def test_a_write_whose_connection_drops_is_not_sent_again(emulator: GraphEmulator, sleeps: list[float]) -> None:
    """A write whose answer was lost may have landed: only reads are sent again (go-azure-sdk
    sdk/client/client.go, Execute's CheckRetry: with no answer, only an idempotent GET is retried)."""
    emulator.drop_connection("/policies/adminConsentRequestPolicy", times=1)
    reader = GraphClient(emulator.base_url, lambda: "t", sleep=sleeps.append)
    with PolicyWriter(reader) as writer, pytest.raises(GraphError, match="cannot reach"):
        writer.set_admin_consent_request_policy(
            dict.fromkeys(graph.ADMIN_CONSENT_REQUEST_POLICY_FIELDS) | {"reviewers": []}
        )
    assert [(r.method, r.dropped) for r in emulator.requests] == [("PUT", True)] and sleeps == []


@pytest.mark.parametrize(
    ("status", "read"),
    [
        (400, graph.GraphRequest("/groups", "collection", (("$filter", "mail eq 'x@contoso.com'"),))),
        (403, graph.policies_get_authorization_policy()),
        (404, graph.GraphRequest("/users/nobody@contoso.com", "entity")),
    ],
)
def test_a_client_error_other_than_429_is_never_retried(
    client: GraphClient, emulator: GraphEmulator, sleeps: list[float], status: int, read: graph.GraphRequest
) -> None:
    emulator.grant_only(graph.USER_READ, graph.GROUP_MEMBER_READ)  # not Policy.Read.All: 403 there
    with pytest.raises(GraphError) as caught:
        client.collection(read) if read.kind == "collection" else client.entity(read)
    assert caught.value.status == status
    assert sleeps == [] and len(emulator.requests) == 1


def test_errors_carry_graph_code_and_request_id(client: GraphClient) -> None:
    with pytest.raises(GraphError) as caught:
        client.collection(graph.service_principals_list_app_role_assigned_to("99999999-9999-9999-9999-999999999999"))
    error = caught.value
    assert error.status == 404
    assert error.code == "Request_ResourceNotFound"
    assert error.request_id and error.request_id in str(error)
    assert "GET /servicePrincipals/99999999-9999-9999-9999-999999999999/appRoleAssignedTo" in str(error)


def test_unsupported_filter_is_refused_as_graph_refuses_it(client: GraphClient) -> None:
    request = graph.GraphRequest("/groups", "collection", (("$filter", "mail eq 'x@contoso.com'"),))
    with pytest.raises(GraphError) as caught:
        client.collection(request)
    assert caught.value.status == 400
    assert caught.value.code == "Request_UnsupportedQuery"


def test_missing_entity_is_none_only_where_allowed(client: GraphClient) -> None:
    assert client.entity(graph.users_get("nobody@contoso.com")) is None
    assert client.entity(graph.users_get("user1@contoso.com")) is not None
    with pytest.raises(GraphError, match="Request_ResourceNotFound"):
        client.entity(graph.GraphRequest("/users/nobody@contoso.com", "entity"))


def test_requests_without_a_token_are_unauthorised(emulator: GraphEmulator) -> None:
    response = httpx.get(f"{emulator.base_url}/v1.0/policies/authorizationPolicy")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    with GraphClient(emulator.base_url, lambda: "") as anonymous, pytest.raises(GraphError, match="no access token"):
        anonymous.entity(graph.policies_get_authorization_policy())


def test_the_client_never_writes(client: GraphClient, emulator: GraphEmulator) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        client.send("POST", f"{client.root}/oauth2PermissionGrants", "/oauth2PermissionGrants", json_body={})
    with pytest.raises(RuntimeError, match="read-only"):
        client.send(
            "POST",
            f"{client.root}/$batch",
            "/$batch",
            json_body={"requests": [{"id": "1", "method": "DELETE", "url": "/x"}]},
        )
    assert emulator.requests == []


def test_ready_token_from_environment_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside a local emulator the token must name this tenant (tests/test_ready_token.py covers refusals).
    token = entra_token(TENANT_ID)
    monkeypatch.setenv(graph.TOKEN_ENV, f"  {token} \n")
    source = graph.client_for_tenant(TENANT_ID, AuthSection(), graph.CLOUDS["public"]).token
    assert source() == token


def test_client_secret_from_a_missing_variable_names_the_variable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(graph.TOKEN_ENV, raising=False)
    monkeypatch.delenv("TAXCALC_SECRET", raising=False)
    auth = AuthSection(method="client-secret", client_id=CLIENT_ID, client_secret_env="TAXCALC_SECRET")
    with pytest.raises(graph.CredentialError, match="TAXCALC_SECRET, which is not set"):
        graph.client_for_tenant(TENANT_ID, auth)


@pytest.mark.parametrize(
    ("cloud", "override", "expected"),
    [
        ("public", None, "https://graph.microsoft.com"),
        ("usgov", None, "https://graph.microsoft.us"),
        ("china", None, "https://microsoftgraph.chinacloudapi.cn"),
        ("public", "https://dod-graph.microsoft.us/", "https://dod-graph.microsoft.us"),
        ("public", "http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_graph_endpoints(cloud: graph.Cloud, override: str | None, expected: str) -> None:
    assert graph.graph_base_url(graph.CLOUDS[cloud], override) == expected


def test_plain_http_is_refused_beyond_localhost() -> None:
    with pytest.raises(GraphError, match="only for localhost"):
        graph.graph_base_url(graph.CLOUDS["public"], "http://graph.example.com")


def test_next_link_to_another_host_is_not_followed() -> None:
    """The bearer token travels with every request, so pages are only fetched from the Graph asked."""
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        page = {"value": [{"id": "1"}], "@odata.nextLink": "https://collector.example.com/v1.0/users?$skiptoken=2"}
        return httpx.Response(200, json=page)

    transport = httpx.MockTransport(answer)
    with (
        GraphClient("https://graph.microsoft.com", lambda: "t", transport=transport) as client,
        pytest.raises(GraphError, match=r"leaves https://graph\.microsoft\.com"),
    ):
        client.collection(graph.GraphRequest("/users", "collection"))
    assert hosts == ["graph.microsoft.com"]


class FakeCredential:
    """Stands in for an azure-identity credential: counts calls, can fail like one."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.fail = fail

    def get_token(self, scope: str, tenant_id: str | None = None) -> AccessToken:
        self.calls.append((scope, tenant_id))
        if self.fail:
            raise ClientAuthenticationError("AzureCliCredential: Please run 'az login' to set up an account")
        return AccessToken(f"token-{len(self.calls)}", int(time.time()) + 3600)


def test_tokens_come_from_the_credential_once_until_near_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(graph.TOKEN_ENV, raising=False)
    credential = FakeCredential()
    monkeypatch.setattr(credentials, "_credential", lambda *_: credential)
    source = graph.token_source(
        TENANT_ID, AuthSection(method="cli"), graph.CLOUDS["usgov"], "https://graph.microsoft.us"
    )
    assert source() == source() == "token-1"
    assert credential.calls == [("https://graph.microsoft.us/.default", TENANT_ID)]


def test_credential_failure_is_a_graph_error_naming_the_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(graph.TOKEN_ENV, raising=False)
    monkeypatch.setattr(credentials, "_credential", lambda *_: FakeCredential(fail=True))
    source = graph.token_source(
        TENANT_ID, AuthSection(method="cli"), graph.CLOUDS["public"], "https://graph.microsoft.com"
    )
    with pytest.raises(GraphError, match=f"tenant {TENANT_ID}: AzureCliCredential: Please run 'az login'"):
        source()


def test_batches_hold_at_most_twenty_requests(client: GraphClient, emulator: GraphEmulator) -> None:
    refs = [f"user{n % 5}@contoso.com" if n % 2 else f"ghost{n}@contoso.com" for n in range(25)]
    found = client.batch([graph.users_get(ref) for ref in refs])
    assert [bool(f) for f in found] == [bool(n % 2) for n in range(25)]
    assert [f["userPrincipalName"] for f in found if isinstance(f, dict)] == [r for r in refs if "user" in r]
    assert len([r for r in emulator.requests if r.path == "/$batch"]) == 2


# ------------------------------------------------------------------------------ reads at once, one pool


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, counting how many requests are in flight at once."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            with self._lock:
                self.in_flight -= 1

    def close(self) -> None:
        self._inner.close()


def many_reads(tenant: FakeTenant) -> list[graph.GraphRequest]:
    """Three batches' worth of reads, four of them collections with later pages (page size 2)."""
    sp = tenant.service_principal_by_app_id(CLIENT_ID)
    assert sp is not None
    refs = [f"user{n % 5}@contoso.com" if n % 3 else f"ghost{n}@contoso.com" for n in range(45)]
    paged = [graph.oauth2_permission_grants_list_by_client(sp.id)] * 4
    return [*paged[:2], *(graph.users_get(ref) for ref in refs), *paged[2:]]


def test_reads_at_once_answer_as_one_after_another(emulator: GraphEmulator, tenant: FakeTenant) -> None:
    requests = many_reads(tenant)
    with GraphClient(emulator.base_url, lambda: "t") as alone:
        expected = alone.batch(requests)
    counting = CountingTransport()
    with (
        ThreadPoolExecutor(max_workers=16) as reads,
        httpx.Client(transport=counting) as pool,
        GraphClient(emulator.base_url, lambda: "t", http=pool, reads=reads) as client,
    ):
        assert client.batch(requests) == expected
    # Three batches, then four collections' later pages: at once, but never more than a few per tenant.
    assert 1 < counting.most <= graph.TENANT_READS_AT_ONCE


def test_reads_at_once_raise_the_first_failure_in_request_order(emulator: GraphEmulator, tenant: FakeTenant) -> None:
    # No missing_ok: a 404 is an error. The first batch fails on its 21st read, the second on its last.
    first, later = (graph.GraphRequest(f"/users/{who}@contoso.com", "entity") for who in ("nobody", "noone"))
    requests = [*many_reads(tenant)[:20], first, *many_reads(tenant)[:18], later]
    with (
        ThreadPoolExecutor(max_workers=8) as reads,
        GraphClient(emulator.base_url, lambda: "t", reads=reads) as client,
        pytest.raises(GraphError) as raised,
    ):
        client.batch(requests)
    assert raised.value.status == 404 and "nobody@contoso.com" in str(raised.value)


def test_a_shared_pool_is_left_open_and_keeps_no_cookies() -> None:
    """Tenants share one pool, never a cookie: an answer for one tenant sets nothing the next one sends."""
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        return httpx.Response(200, json={"id": "x"}, headers={"Set-Cookie": "affinity=tenant-a; Path=/"})

    with graph.shared_http_client(connections=4) as pool:
        pool._transport = httpx.MockTransport(answer)  # the pool's own settings, a fake network
        for token in ("token-a", "token-b"):
            with GraphClient("https://graph.microsoft.com", lambda t=token: t, http=pool) as client:
                client.entity(graph.GraphRequest("/organization/x", "entity"))
        assert not pool.is_closed
    assert sent == [None, None]


def test_a_tenants_reads_at_once_ask_the_credential_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(graph.TOKEN_ENV, raising=False)
    credential = FakeCredential()
    slow = credential.get_token

    def get_token(scope: str, tenant_id: str | None = None) -> AccessToken:
        time.sleep(0.05)  # a token request takes a while: the others arrive meanwhile
        return slow(scope, tenant_id)

    monkeypatch.setattr(credential, "get_token", get_token)
    monkeypatch.setattr(credentials, "_credential", lambda *_: credential)
    source = graph.token_source(
        TENANT_ID, AuthSection(method="cli"), graph.CLOUDS["public"], "https://graph.microsoft.com"
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(lambda _: source(), range(4)))
    assert tokens == ["token-1"] * 4
    assert len(credential.calls) == 1
