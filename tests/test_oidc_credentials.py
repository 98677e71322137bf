"""`auth.method: oidc` for the Graph client: the CI's OIDC token as a client assertion, as the azuread provider does.

A GitHub Actions job with ``permissions: id-token: write`` gets ACTIONS_ID_TOKEN_REQUEST_URL (which already
carries ``?api-version=2.0``) and ACTIONS_ID_TOKEN_REQUEST_TOKEN; the token is a GET of that URL with
``&audience=api://AzureADTokenExchange`` and ``Authorization: Bearer <request token>``, answered
``{"value": "<JWT>"}`` (docs.github.com "Configuring OpenID Connect in cloud providers"; go-azure-sdk
sdk/auth/github_oidc_authorizer.go githubAssertion). Elsewhere the token is in hand: ARM_OIDC_TOKEN, or the
file ARM_OIDC_TOKEN_FILE_PATH names (internal/provider/helpers.go getOidcToken). A local HTTP server plays
the runner's endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.model.spec import AuthSection
from tests.conftest import CLIENT_ID, TENANT_ID

AUTOMATION_APP = "9d7f3a2b-1c4e-4f5a-8b6c-7d8e9f0a1b2c"
REQUEST_TOKEN = "runner-request-token-never-shown"
RUNNER_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vcjplbnZpcm9ubWVudDpwcm9kdWN0aW9uIn0.c2ln"


@dataclass
class RunnerTokenEndpoint:
    """What GitHub's token service does with the runner's request (status configurable)."""

    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def runner() -> Iterator[RunnerTokenEndpoint]:
    endpoint = RunnerTokenEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            endpoint.requests.append(
                {"query": parse_qs(parts.query), "authorization": self.headers.get("Authorization")}
            )
            authorised = self.headers.get("Authorization", "").lower() == f"bearer {REQUEST_TOKEN}"
            status = endpoint.status if authorised else 401
            body = json.dumps({"value": RUNNER_JWT} if status == 200 else {"message": "Unauthorized"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/_apis/distributedtask/token?api-version=2.0"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def actions_env(runner: RunnerTokenEndpoint) -> dict[str, str]:
    return {graph.GITHUB_TOKEN_URL_ENV: runner.url, graph.GITHUB_TOKEN_ENV: REQUEST_TOKEN}


def test_the_runner_token_is_requested_for_entras_audience(runner: RunnerTokenEndpoint) -> None:
    assert graph.github_actions_id_token(runner.url, REQUEST_TOKEN) == RUNNER_JWT
    (request,) = runner.requests
    assert request["query"] == {"api-version": ["2.0"], "audience": ["api://AzureADTokenExchange"]}
    assert request["authorization"] == f"Bearer {REQUEST_TOKEN}"


def test_an_audience_the_request_url_names_is_kept(runner: RunnerTokenEndpoint) -> None:
    """githubAssertion sets the audience only when the URL names none."""
    graph.github_actions_id_token(f"{runner.url}&audience=custom", REQUEST_TOKEN)
    (request,) = runner.requests
    assert request["query"]["audience"] == ["custom"]


def test_oidc_in_github_actions_is_a_client_assertion_from_the_runner(
    runner: RunnerTokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure import identity

    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(identity, "ClientAssertionCredential", lambda *a, **k: made.append((a, k)) or "credential")
    auth = AuthSection(method="oidc", client_id=AUTOMATION_APP)
    cloud = graph.CLOUDS["usgov"]
    source = graph.token_source(TENANT_ID, auth, cloud, "https://graph.microsoft.us", environ=actions_env(runner))
    assert callable(source)
    ((tenant, client_id, assertion), kwargs) = made[0]
    assert (tenant, client_id, kwargs) == (TENANT_ID, AUTOMATION_APP, {"authority": "https://login.microsoftonline.us"})
    assert assertion() == RUNNER_JWT  # the assertion Entra gets is the runner's token, fetched when needed
    assert len(runner.requests) == 1


def test_a_token_file_is_used_where_the_environment_names_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure import identity

    token_file = tmp_path / "token"
    token_file.write_text(RUNNER_JWT + "\n", encoding="utf-8")
    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(identity, "ClientAssertionCredential", lambda *a, **k: made.append((a, k)) or "credential")
    auth = AuthSection(method="oidc", client_id=AUTOMATION_APP)
    env = {"ARM_OIDC_TOKEN_FILE_PATH": str(token_file)}
    graph.token_source(TENANT_ID, auth, graph.CLOUDS["public"], "https://graph.microsoft.com", env)
    ((tenant, client_id, assertion), kwargs) = made[0]
    assert (tenant, client_id, kwargs) == (
        TENANT_ID,
        AUTOMATION_APP,
        {"authority": "https://login.microsoftonline.com"},
    )
    assert assertion() == RUNNER_JWT  # read as the provider reads it: trimmed


@pytest.mark.parametrize(
    ("auth", "env", "message"),
    [
        (AuthSection(method="oidc", client_id=AUTOMATION_APP), {}, "no OIDC token in this environment"),
        (
            AuthSection(method="oidc", client_id=AUTOMATION_APP),
            {graph.GITHUB_TOKEN_URL_ENV: "https://token.actions.example/"},
            "permissions: id-token: write",
        ),
        (AuthSection(method="oidc"), {graph.GITHUB_TOKEN_ENV: "x"}, "auth.method oidc needs the automation identity"),
        (AuthSection(method="client-secret", client_id=AUTOMATION_APP), {}, "no client secret: set ARM_CLIENT_SECRET"),
    ],
)
def test_a_credential_that_cannot_be_made_is_a_credential_error(
    auth: AuthSection, env: dict[str, str], message: str
) -> None:
    with pytest.raises(graph.CredentialError, match=message) as caught:
        graph.token_source(TENANT_ID, auth, graph.CLOUDS["public"], "https://graph.microsoft.com", env)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------------------- the commands


@pytest.fixture
def oidc_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: oidc\n  client_id: {AUTOMATION_APP}\n", encoding="utf-8"
    )
    (folder / "contoso.yaml").write_text(
        f"tenant:\n  id: {TENANT_ID}\nconsent:\n  mode: organization\n", encoding="utf-8"
    )
    (tmp_path / "Pulumi.yaml").write_text("name: taxcalc-consent\nruntime: python\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in (
        graph.TOKEN_ENV,
        *provider_settings.OIDC_REQUEST_URL_ENVS,
        *provider_settings.OIDC_REQUEST_TOKEN_ENVS,
        "ARM_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        provider_settings.OIDC_TOKEN_ENV,
        provider_settings.OIDC_TOKEN_FILE_ENV,
        "ARM_METADATA_HOSTNAME",
        "ARM_ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.mark.parametrize("command", ["audit", "adopt"])
def test_oidc_without_a_token_in_the_environment_is_one_line_and_exit_2(oidc_tenant: Path, command: str) -> None:
    # Before: WorkloadIdentityCredential raised ValueError (no AZURE_FEDERATED_TOKEN_FILE) as a traceback.
    result = CliRunner().invoke(app, [command, "tenants", "--graph-endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if "auth.method oidc" in line]
    assert lines and lines[0].startswith("error: ") and "tenants/contoso.yaml: auth.method oidc" in lines[0]
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_a_runner_that_refuses_the_token_request_fails_that_tenant_with_exit_1(
    oidc_tenant: Path, runner: RunnerTokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.status = 500
    monkeypatch.setenv(graph.GITHUB_TOKEN_URL_ENV, runner.url)
    monkeypatch.setenv(graph.GITHUB_TOKEN_ENV, REQUEST_TOKEN)
    result = CliRunner().invoke(app, ["audit", "tenants", "--graph-endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 1, result.output
    assert "could not get the GitHub Actions OIDC token: HTTP 500 from http://127.0.0.1" in result.stderr
    assert REQUEST_TOKEN not in result.output and "Traceback" not in result.output
    assert len(runner.requests) == 1  # nothing else was sent anywhere: the assertion never reached Entra
