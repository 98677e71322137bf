"""The emulated cloud issues tokens as Entra does and Graph judges each request by its own token; the tool's
credentials (infra.graph) sign in there over https exactly as they would at Entra.

Sources, beside each test: Entra's client-credentials and workload-identity-federation documentation, the
access token claims reference, Graph's "Resolve Microsoft Graph authorization errors" (401 for a token that
is missing, invalid, expired or for another audience), and go-azure-sdk for what the provider sends.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.model.spec import AuthSection
from tests.fakes import azure_cli
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import (
    ARM_RESOURCE,
    AutomationApp,
    EmulatedCloud,
    FederatedCredential,
    Issuer,
    serve_cloud,
)
from tests.fakes.graph_emulator import serve_handler
from tests.fakes.ids import HUB_CLIENT_ID

TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
OTHER_TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:msp/client-tenants:environment:production"


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCloud]:
    automation = AutomationApp(federated=[FederatedCredential(ISSUER, SUBJECT)])
    with serve_cloud([FakeTenant(TENANT_ID), FakeTenant(OTHER_TENANT)], automation=automation) as running:
        for name, value in running.certificates.trust_environment().items():
            monkeypatch.setenv(name, value)
        for name in (
            "ARM_CLIENT_ID",
            "ARM_CLIENT_SECRET",
            "ARM_ENVIRONMENT",
            graph.TOKEN_ENV,
            graph.GRAPH_ENDPOINT_ENV,
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ARM_METADATA_HOSTNAME", running.metadata_host)
        yield running


def token(cloud: EmulatedCloud, form: dict[str, str], tenant_id: str = TENANT_ID) -> httpx.Response:
    base = {"grant_type": "client_credentials", "client_id": cloud.automation.client_id}
    return httpx.post(f"{cloud.base_url}/{tenant_id}/oauth2/v2.0/token", data={**base, **form})


def secret_form(cloud: EmulatedCloud, scope: str | None = None) -> dict[str, str]:
    return {"client_secret": cloud.automation.client_secret, "scope": scope or f"{cloud.base_url}/.default"}


def graph_get(cloud: EmulatedCloud, bearer: str, path: str = "/servicePrincipals") -> httpx.Response:
    return httpx.get(f"{cloud.base_url}/v1.0{path}", headers={"Authorization": f"Bearer {bearer}"})


# --------------------------------------------------------------------------------------------- the tokens


def test_a_token_carries_the_roles_the_app_holds_in_that_tenant_when_issued(cloud: EmulatedCloud) -> None:
    """access-token-claims-reference: roles (application permissions), tid, oid, appid, idtyp app, aud."""
    answer = token(cloud, secret_form(cloud))
    assert answer.status_code == 200
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    sp = cloud.automation_principal(TENANT_ID)
    assert (claims["tid"], claims["oid"], claims["appid"], claims["idtyp"]) == (
        TENANT_ID,
        sp,
        cloud.automation.client_id,
        "app",
    )
    assert claims["aud"] == cloud.base_url
    assert claims["roles"] == cloud.tenant(TENANT_ID).roles_of(sp)


def test_each_request_is_judged_by_its_own_token_not_by_the_last_one_issued(cloud: EmulatedCloud) -> None:
    """Graph reads the caller's permissions from the token it is sent (roles claim), so a token issued before
    the app lost a permission keeps it until it expires, and a later token without it is refused."""
    before = token(cloud, secret_form(cloud)).json()["access_token"]
    cloud.grant_only(TENANT_ID, "Policy.Read.All")
    after = token(cloud, secret_form(cloud)).json()["access_token"]
    assert graph_get(cloud, before).status_code == 200
    refused = graph_get(cloud, after)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert graph_get(cloud, before).status_code == 200  # the later token changed nothing for the earlier one


def test_each_tenant_is_read_with_its_own_tenants_token(cloud: EmulatedCloud) -> None:
    ours = token(cloud, secret_form(cloud)).json()["access_token"]
    theirs = token(cloud, secret_form(cloud), OTHER_TENANT).json()["access_token"]
    ids = {sp["appId"]: sp["id"] for sp in graph_get(cloud, ours).json()["value"]}
    assert ids[cloud.automation.client_id] == cloud.automation_principal(TENANT_ID)
    ids = {sp["appId"]: sp["id"] for sp in graph_get(cloud, theirs).json()["value"]}
    assert ids[cloud.automation.client_id] == cloud.automation_principal(OTHER_TENANT)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # A token Entra issued for another resource (Azure Resource Manager): Graph refuses its audience.
        (lambda c: token(c, secret_form(c, f"{ARM_RESOURCE}/.default")).json()["access_token"], "Invalid audience"),
        # A public-cloud Graph token sent to this cloud's Graph (as to graph.microsoft.us): another audience.
        (lambda c: c.sign(_claims(c, aud="https://graph.microsoft.com")), "Invalid audience"),
        (lambda c: c.sign(_claims(c, exp=int(time.time()) - 60)), "the token is expired"),
        # Signed by anyone but this cloud (here: a GitHub-like issuer's key).
        (lambda c: Issuer(ISSUER).token(SUBJECT, c.base_url), "signature is not valid"),
        (lambda c: "not-a-jwt", "The token is malformed"),
    ],
    ids=["another-resource", "another-cloud", "expired", "forged", "malformed"],
)
def test_graph_answers_401_to_a_token_that_is_not_for_it(cloud: EmulatedCloud, make: Any, message: str) -> None:
    """https://learn.microsoft.com/graph/resolve-auth-errors: 401 when the token is invalid or expired;
    Graph's InvalidAuthenticationToken code, and its "Invalid audience" words for another resource's token."""
    answer = graph_get(cloud, make(cloud))
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken" and message in error["message"]


def _claims(cloud: EmulatedCloud, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"aud": cloud.base_url, "tid": TENANT_ID, "idtyp": "app", "iat": now, "nbf": now, "exp": now + 600}
    return {**claims, **changes}


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"client_secret": "wrong", "scope": "{graph}/.default"}, 401, "AADSTS7000215"),
        ({"scope": "{graph}/.default"}, 401, "AADSTS7000218"),
        ({"client_secret": "{secret}", "scope": "{graph}/User.Read"}, 400, "AADSTS1002012"),
        ({"client_secret": "{secret}", "scope": "https://unknown.example/.default"}, 400, "AADSTS500011"),
        ({"client_secret": "{secret}", "scope": "{graph}/.default", "grant_type": "password"}, 400, "AADSTS70003"),
    ],
    ids=["wrong-secret", "no-credential", "not-default-scope", "unknown-resource", "other-grant"],
)
def test_the_token_endpoint_refuses_as_entra_does(
    cloud: EmulatedCloud, form: dict[str, str], status: int, code: str
) -> None:
    """v2-oauth2-client-creds-grant-flow (error response; the scope is <resource>/.default), reference-error-codes."""
    filled = {k: v.format(graph=cloud.base_url, secret=cloud.automation.client_secret) for k, v in form.items()}
    answer = token(cloud, filled)
    assert answer.status_code == status
    assert answer.json()["error_description"].startswith(code)


def test_an_unknown_tenant_is_not_found_at_discovery_and_at_the_token_endpoint(cloud: EmulatedCloud) -> None:
    stranger = "11111111-2222-4333-8444-555555555555"
    discovery = httpx.get(f"{cloud.base_url}/{stranger}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 400 and "AADSTS90002" in discovery.text
    assert "AADSTS90002" in token(cloud, secret_form(cloud), stranger).text


# ------------------------------------------------------------------------------- workload identity federation


def assertion_form(assertion: str, cloud: EmulatedCloud) -> dict[str, str]:
    return {
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "scope": f"{cloud.base_url}/.default",
    }


@pytest.mark.parametrize(
    ("issuer_url", "subject", "audience", "lifetime", "code"),
    [
        (ISSUER, SUBJECT, "api://AzureADTokenExchange", 600, None),
        (ISSUER, SUBJECT.upper(), "api://AzureADTokenExchange", 600, "AADSTS700213"),  # case-sensitive subject
        ("https://other-issuer.example", SUBJECT, "api://AzureADTokenExchange", 600, "AADSTS700211"),
        (ISSUER, SUBJECT, "https://github.com/msp", 600, "AADSTS700212"),
        (ISSUER, SUBJECT, "api://AzureADTokenExchange", -60, "AADSTS700024"),
    ],
    ids=["matching", "subject-case", "issuer", "audience", "expired"],
)
def test_a_federated_assertion_must_match_a_credential_exactly(
    cloud: EmulatedCloud, issuer_url: str, subject: str, audience: str, lifetime: int, code: str | None
) -> None:
    """workload-identity-federation: issuer, subject and audience of the outside token must match one of the
    app's federated identity credentials, case-sensitively since 2024 (reference-breaking-changes); errors
    AADSTS700211/700212/700213 as Entra words them (Azure/login#482, Azure/azure-workload-identity#1200)."""
    issuer = cloud.trust(Issuer(issuer_url))
    answer = token(cloud, assertion_form(issuer.token(subject, audience, lifetime), cloud))
    if code is None:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 401 and answer.json()["error_description"].startswith(code)


def test_an_assertion_the_issuer_did_not_sign_is_refused(cloud: EmulatedCloud) -> None:
    cloud.trust(Issuer(ISSUER))
    impostor = Issuer(ISSUER)  # same name, another key: not what the issuer's discovery document publishes
    answer = token(cloud, assertion_form(impostor.token(SUBJECT), cloud))
    assert answer.status_code == 401 and answer.json()["error_description"].startswith("AADSTS700027")


# ------------------------------------------------------------------- the tool's own sign-in, over https


def test_the_tool_signs_in_at_the_providers_cloud_with_a_client_secret(
    cloud: EmulatedCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARM_METADATA_HOSTNAME: the cloud's metadata names Graph and the sign-in endpoint (go-azure-sdk
    environments.FromEndpoint); MSAL reads the tenant's OpenID configuration there, then asks for the token."""
    monkeypatch.setenv("ARM_CLIENT_ID", cloud.automation.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", cloud.automation.client_secret)
    with graph.program_client(TENANT_ID, AuthSection(method="client-secret")) as client:
        assert client.base_url == cloud.base_url
        found = client.collection(graph.service_principals_list_by_app_id(cloud.automation.client_id))
    assert [sp["id"] for sp in found] == [cloud.automation_principal(TENANT_ID)]
    (request,) = cloud.token_requests
    assert (request.credential, request.library, request.issued) == ("client_secret", "MSAL.Python", True)


def test_audit_signs_in_for_each_tenant_at_the_providers_cloud(
    cloud: EmulatedCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """audit and adopt with no --cloud follow the provider's cloud (ARM_METADATA_HOSTNAME) and its sign-in."""
    from typer.testing import CliRunner

    from taxcalc_consent.cli.main import app

    monkeypatch.setenv("ARM_CLIENT_ID", cloud.automation.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", cloud.automation.client_secret)
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {HUB_CLIENT_ID}\n", "utf-8")
    for name, tenant_id in (("a", TENANT_ID), ("b", OTHER_TENANT)):
        (folder / f"{name}.yaml").write_text(f"tenant:\n  id: {tenant_id}\nconsent:\n  mode: organization\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["adopt", "tenants", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(r.tenant_id for r in cloud.token_requests if r.issued) == sorted([TENANT_ID, OTHER_TENANT])


def test_the_tool_signs_in_with_an_oidc_token_file(
    cloud: EmulatedCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    issuer = cloud.trust(Issuer(ISSUER))
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(SUBJECT), encoding="utf-8")
    monkeypatch.setenv("ARM_OIDC_TOKEN_FILE_PATH", str(token_file))
    auth = AuthSection(method="oidc", client_id=cloud.automation.client_id)
    with graph.program_client(TENANT_ID, auth) as client:
        assert client.collection(graph.service_principals_list_by_app_id(cloud.automation.client_id))
    (request,) = cloud.token_requests
    assert (request.credential, request.assertion_issuer, request.issued) == ("client_assertion", ISSUER, True)


def test_the_tool_signs_in_through_the_azure_cli(
    cloud: EmulatedCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """azure-identity's AzureCliCredential runs ``az account get-access-token --resource <Graph> --tenant <id>``."""
    azure_cli.install(tmp_path / "bin")
    azure_cli.login_service_principal(
        tmp_path / "az", cloud.base_url, OTHER_TENANT, cloud.automation.client_id, cloud.automation.client_secret
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az"))
    with graph.program_client(TENANT_ID, AuthSection(method="cli")) as client:
        assert client.collection(graph.service_principals_list_by_app_id(cloud.automation.client_id))
    (run,) = [r for r in azure_cli.invocations(tmp_path / "az") if r[:2] == ["account", "get-access-token"]]
    assert run[run.index("--resource") + 1] == cloud.base_url and run[run.index("--tenant") + 1] == TENANT_ID


# ------------------------------------------------------------------------- CI token services, managed identity


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]
    answer: dict[str, Any]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        self.seen.append(
            {"method": self.command, "path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers)}
        )
        data = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    answer: dict[str, Any] = {}
    handler = type("Handler", (_Recorder,), {"seen": seen, "answer": answer})
    with serve_handler(handler, "recorder") as base_url:
        yield base_url, seen, answer


def test_azure_devops_oidc_token_is_asked_as_go_azure_sdk_asks(
    recorder: tuple[str, list[dict[str, Any]], dict[str, Any]],
) -> None:
    """ado_pipeline_oidc_authorizer.go: POST with api-version 7.1, serviceConnectionId and audience, Bearer the
    SYSTEM_ACCESSTOKEN; the answer's oidcToken is the assertion."""
    base_url, seen, answer = recorder
    answer["oidcToken"] = "ado-jwt"
    assert graph.ado_pipeline_id_token(f"{base_url}/org/_apis/oidc?x=1", "ado-access-token", "connection") == "ado-jwt"
    (request,) = seen
    assert request["method"] == "POST" and request["headers"]["Authorization"] == "Bearer ado-access-token"
    assert request["query"] == {
        "x": ["1"],
        "api-version": ["7.1"],
        "serviceConnectionId": ["connection"],
        "audience": ["api://AzureADTokenExchange"],
    }


def test_a_managed_identity_token_is_asked_as_go_azure_sdk_asks(
    recorder: tuple[str, list[dict[str, Any]], dict[str, Any]],
) -> None:
    """managed_identity_authorizer.go: GET ARM_MSI_ENDPOINT (else IMDS) with api-version 2018-02-01, the
    resource and the client id, header Metadata: true."""
    base_url, seen, answer = recorder
    answer.update({"access_token": "msi-token", "expires_in": "3599", "token_type": "Bearer"})
    env = {"ARM_MSI_ENDPOINT": f"{base_url}/msi/token", "ARM_CLIENT_ID": "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"}
    source = graph.token_source(
        TENANT_ID, AuthSection(method="msi"), graph.CLOUDS["usgov"], "https://graph.microsoft.us", env
    )
    assert source() == "msi-token"
    (request,) = seen
    assert request["path"] == "/msi/token" and request["headers"]["Metadata"] == "true"
    assert request["query"] == {
        "api-version": ["2018-02-01"],
        "resource": ["https://graph.microsoft.us"],
        "client_id": ["8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"],
    }
