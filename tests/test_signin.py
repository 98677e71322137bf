"""pulumi-azuread's sign-in table, row by row, and the tool's one resolver (``infra.signin``) passing it.

Each row is one fact of terraform-provider-azuread 3.x (what pulumi-azuread 6.x wraps) or of pulumi-azuread's
own SDK, cited by file and line in the provider source at commit f0169e0 (internal/provider/provider.go,
internal/provider/helpers.go, vendor/github.com/hashicorp/go-azure-sdk/sdk/auth/auth.go):
- provider.go's schema: each argument's ``DefaultFunc``, the variable(s) it falls back to (lines 101-256);
  a ``MultiEnvDefaultFunc`` takes the first variable that is set and not empty;
- provider.go:327-355: ``use_cli``, ``use_msi``, ``use_oidc || use_aks_workload_identity`` switch their ways
  on; certificates and secrets are always on;
- auth.go:39-167: the order the ways are tried in, and what each needs;
- helpers.go: files for the client id, the secret and the OIDC token, which must agree with the variable.
The tool passes ``tenant_id`` always, ``use_cli`` always (true only for ``method: cli``), ``use_oidc`` and
``use_msi`` whenever the file names a method, ``client_id`` when the file gives one, and the secret the file's
``client_secret_env`` names (``provider_settings.provider_arguments``); everything else is the provider's to default.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from taxcalc_consent.cli.fleet.engine_setup import preflight_problems
from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.graph import credentials, provider_settings, signin
from taxcalc_consent.infra.graph.provider_settings import provider_arguments
from taxcalc_consent.infra.graph.signin import CredentialError, sign_in
from taxcalc_consent.infra.model.spec import AuthSection
from tests.conftest import TENANT_ID, no_notices

APP = "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"
OTHER_APP = "9d7f3a2b-1c4e-4f5a-8b6c-7d8e9f0a1b2c"
GITHUB = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://runner.example/token?api-version=2.0"}
GITHUB["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "runner-request-token"
ADO = {"SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/org/_apis/oidc", "SYSTEM_ACCESSTOKEN": "ado-access-token"}
CERTIFICATE = base64.b64encode(b"pkcs12-bytes").decode()


@dataclass(frozen=True)
class Row:
    """One fact: with this ``auth`` block and this environment, the provider signs in this way, from there."""

    source: str
    auth: AuthSection
    env: dict[str, str]
    method: str | None
    """None: the provider would not configure (and the tool refuses), with ``error`` in the message."""
    sources: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """Files to write first (variable -> content): the variable is set to the file's path."""


SECRET = {"ARM_CLIENT_ID": APP, "ARM_CLIENT_SECRET": "arm-secret"}
SECRETS = ("arm-secret", "firm-secret", "file-secret", "another-secret", "oidc-jwt", "file-jwt", "aks-jwt")
SECRETS += ("runner-request-token", "arm-request", "ado-access-token", "certificate-password")

TABLE: list[Row] = [
    # ------------------------------------------------------------------------------------- client secret
    Row(
        "provider.go:159 (client_secret, passed from auth.client_secret_env), auth.go:59",
        AuthSection(method="client-secret", client_id=APP, client_secret_env="FIRM_SECRET"),
        {"FIRM_SECRET": "firm-secret", "ARM_CLIENT_SECRET": "arm-secret"},
        "client-secret",
        {"client id": "auth.client_id", "secret": "auth.client_secret_env (FIRM_SECRET)"},
        {"client_secret": "firm-secret"},
    ),
    Row(
        "provider.go:101 ARM_CLIENT_ID, :159 ARM_CLIENT_SECRET: client-secret with no client_secret_env",
        AuthSection(method="client-secret"),
        SECRET,
        "client-secret",
        {"client id": "ARM_CLIENT_ID", "secret": "ARM_CLIENT_SECRET"},
        {"client_id": APP, "client_secret": "arm-secret"},
    ),
    Row(
        "provider.go:101: the file's client_id is an argument, and wins over ARM_CLIENT_ID",
        AuthSection(method="client-secret", client_id=OTHER_APP),
        SECRET,
        "client-secret",
        {"client id": "auth.client_id", "secret": "ARM_CLIENT_SECRET"},
        {"client_id": OTHER_APP},
    ),
    Row(
        "provider.go:166 ARM_CLIENT_SECRET_FILE_PATH, helpers.go getClientSecret (trimmed)",
        AuthSection(method="client-secret"),
        {"ARM_CLIENT_ID": APP},
        "client-secret",
        {"client id": "ARM_CLIENT_ID", "secret": "ARM_CLIENT_SECRET_FILE_PATH"},
        {"client_secret": "file-secret"},
        files={"ARM_CLIENT_SECRET_FILE_PATH": "file-secret\n"},
    ),
    Row(
        "helpers.go:96: a secret and a secret file that differ fail the provider's configuration",
        AuthSection(method="client-secret"),
        SECRET,
        None,
        error="the client secret from ARM_CLIENT_SECRET and the one in the file ARM_CLIENT_SECRET_FILE_PATH",
        files={"ARM_CLIENT_SECRET_FILE_PATH": "another-secret"},
    ),
    Row(
        "provider.go:108 ARM_CLIENT_ID_FILE_PATH, helpers.go getClientId",
        AuthSection(),
        {"ARM_CLIENT_SECRET": "arm-secret"},
        "client-secret",
        {"client id": "ARM_CLIENT_ID_FILE_PATH", "secret": "ARM_CLIENT_SECRET"},
        {"client_id": APP},
        files={"ARM_CLIENT_ID_FILE_PATH": f"{APP}\n"},
    ),
    Row(
        "no method: auth.go:59 tries the secret from the provider's variables",
        AuthSection(),
        SECRET,
        "client-secret",
        {"client id": "ARM_CLIENT_ID", "secret": "ARM_CLIENT_SECRET"},
    ),
    Row(
        "provider.go:351 (secrets always on), auth.go:59 before :77: a secret wins over method oidc",
        AuthSection(method="oidc"),
        {**SECRET, **GITHUB},
        "client-secret",
        {"client id": "ARM_CLIENT_ID", "secret": "ARM_CLIENT_SECRET"},
    ),
    Row(
        "auth.go:59 before :134: a secret wins over method msi",
        AuthSection(method="msi"),
        SECRET,
        "client-secret",
    ),
    Row(
        "auth.go:59 before :150: a secret wins over method cli",
        AuthSection(method="cli"),
        SECRET,
        "client-secret",
    ),
    Row(
        "the tool: a variable auth.client_secret_env names must be set (it is passed as client_secret)",
        AuthSection(method="client-secret", client_id=APP, client_secret_env="FIRM_SECRET"),
        {"ARM_CLIENT_SECRET": "arm-secret"},
        None,
        error="auth.client_secret_env names FIRM_SECRET, which is not set or empty",
    ),
    Row(
        "auth.go:59 needs a client id: none, and no other way",
        AuthSection(method="client-secret"),
        {"ARM_CLIENT_SECRET": "arm-secret"},
        None,
        error="auth.method client-secret needs the automation identity's client id",
    ),
    Row(
        "auth.go:59 needs a secret",
        AuthSection(method="client-secret", client_id=APP),
        {},
        None,
        error="no client secret: set ARM_CLIENT_SECRET",
    ),
    # --------------------------------------------------------------------------------- client certificate
    Row(
        "provider.go:151 ARM_CLIENT_CERTIFICATE_PATH, auth.go:39 (before the secret)",
        AuthSection(method="client-secret"),
        {
            **SECRET,
            "ARM_CLIENT_CERTIFICATE_PATH": "/certs/automation.pfx",
            "ARM_CLIENT_CERTIFICATE_PASSWORD": "certificate-password",
        },
        "client-certificate",
        {"client id": "ARM_CLIENT_ID", "certificate": "ARM_CLIENT_CERTIFICATE_PATH"},
        {"certificate_path": "/certs/automation.pfx", "certificate_password": "certificate-password"},
    ),
    Row(
        "provider.go:137 ARM_CLIENT_CERTIFICATE (base64 PKCS#12), helpers.go decodeCertificate",
        AuthSection(client_id=APP),
        {"ARM_CLIENT_CERTIFICATE": CERTIFICATE},
        "client-certificate",
        {"client id": "auth.client_id", "certificate": "ARM_CLIENT_CERTIFICATE"},
        {"certificate": b"pkcs12-bytes"},
    ),
    Row(
        "helpers.go decodeCertificate: certificate data that is not base64 fails the configuration",
        AuthSection(client_id=APP),
        {"ARM_CLIENT_CERTIFICATE": "not base64!"},
        None,
        error="ARM_CLIENT_CERTIFICATE: could not decode the client certificate",
    ),
    # ------------------------------------------------------------------------------------------------- OIDC
    Row(
        "provider.go:181 ARM_OIDC_TOKEN, auth.go:77",
        AuthSection(method="oidc", client_id=APP),
        {"ARM_OIDC_TOKEN": "oidc-jwt"},
        "oidc-token",
        {"client id": "auth.client_id", "token": "ARM_OIDC_TOKEN"},
        {"oidc_token": "oidc-jwt"},
    ),
    Row(
        "provider.go:188 ARM_OIDC_TOKEN_FILE_PATH, helpers.go getOidcToken (trimmed)",
        AuthSection(method="oidc", client_id=APP),
        {},
        "oidc-token",
        {"client id": "auth.client_id", "token": "ARM_OIDC_TOKEN_FILE_PATH"},
        {"oidc_token": "file-jwt"},
        files={"ARM_OIDC_TOKEN_FILE_PATH": "file-jwt\n"},
    ),
    Row(
        "helpers.go:54: an OIDC token and a token file that differ fail the configuration",
        AuthSection(method="oidc", client_id=APP),
        {"ARM_OIDC_TOKEN": "oidc-jwt"},
        None,
        error="the OIDC token from ARM_OIDC_TOKEN and the one in the file ARM_OIDC_TOKEN_FILE_PATH",
        files={"ARM_OIDC_TOKEN_FILE_PATH": "file-jwt"},
    ),
    Row(
        "auth.go:77 before :115: a token in hand wins over GitHub's token service",
        AuthSection(method="oidc", client_id=APP),
        {"ARM_OIDC_TOKEN": "oidc-jwt", **GITHUB},
        "oidc-token",
    ),
    Row(
        "provider.go:195, :202, :209 (SYSTEM_ACCESSTOKEN, SYSTEM_OIDCREQUESTURI), auth.go:95: Azure DevOps",
        AuthSection(method="oidc", client_id=APP),
        {**ADO, "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID": "service-connection"},
        "ado-pipeline-oidc",
        {
            "client id": "auth.client_id",
            "token request URL": "SYSTEM_OIDCREQUESTURI",
            "request token": "SYSTEM_ACCESSTOKEN",
            "service connection": "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID",
        },
        {"oidc_request_token": "ado-access-token", "ado_service_connection_id": "service-connection"},
    ),
    Row(
        "provider.go:195: ARM_OIDC_AZURE_SERVICE_CONNECTION_ID is the older name",
        AuthSection(method="oidc", client_id=APP),
        {**ADO, "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID": "older-connection"},
        "ado-pipeline-oidc",
        values={"ado_service_connection_id": "older-connection"},
    ),
    Row(
        "auth.go:95 before :115: with a service connection, the same URL and token are Azure DevOps'",
        AuthSection(method="oidc", client_id=APP),
        {**GITHUB, "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID": "service-connection"},
        "ado-pipeline-oidc",
    ),
    Row(
        "provider.go:202, :209 (ACTIONS_ID_TOKEN_REQUEST_*), auth.go:115: GitHub Actions",
        AuthSection(method="oidc", client_id=APP),
        GITHUB,
        "github-oidc",
        {
            "client id": "auth.client_id",
            "token request URL": "ACTIONS_ID_TOKEN_REQUEST_URL",
            "request token": "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        },
        {"oidc_request_url": GITHUB["ACTIONS_ID_TOKEN_REQUEST_URL"], "oidc_request_token": "runner-request-token"},
    ),
    Row(
        "provider.go:202, :209: ARM_OIDC_REQUEST_* come first",
        AuthSection(method="oidc", client_id=APP),
        {**GITHUB, "ARM_OIDC_REQUEST_URL": "https://oidc.example/token", "ARM_OIDC_REQUEST_TOKEN": "arm-request"},
        "github-oidc",
        {
            "client id": "auth.client_id",
            "token request URL": "ARM_OIDC_REQUEST_URL",
            "request token": "ARM_OIDC_REQUEST_TOKEN",
        },
    ),
    Row(
        "MultiEnvDefaultFunc skips a variable that is set but empty",
        AuthSection(method="oidc", client_id=APP),
        {**GITHUB, "ARM_OIDC_REQUEST_URL": "", "ARM_OIDC_REQUEST_TOKEN": ""},
        "github-oidc",
        {
            "client id": "auth.client_id",
            "token request URL": "ACTIONS_ID_TOKEN_REQUEST_URL",
            "request token": "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        },
    ),
    Row(
        "provider.go:174 ARM_USE_OIDC (Go's ParseBool), with no method in the file",
        AuthSection(),
        {"ARM_USE_OIDC": "T", "ARM_CLIENT_ID": APP, **GITHUB},
        "github-oidc",
        {
            "client id": "ARM_CLIENT_ID",
            "token request URL": "ACTIONS_ID_TOKEN_REQUEST_URL",
            "request token": "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        },
    ),
    Row(
        "provider.go:217, :329: ARM_USE_AKS_WORKLOAD_IDENTITY switches OIDC on too",
        AuthSection(client_id=APP),
        {"ARM_USE_AKS_WORKLOAD_IDENTITY": "true", "AZURE_TENANT_ID": TENANT_ID.upper()},
        "oidc-token",
        values={"oidc_token": "aks-jwt"},
        files={"ARM_OIDC_TOKEN_FILE_PATH": "aks-jwt"},
    ),
    Row(
        "helpers.go:111: with AKS workload identity, AZURE_TENANT_ID naming another tenant fails",
        AuthSection(client_id=APP),
        {"ARM_USE_AKS_WORKLOAD_IDENTITY": "1", "AZURE_TENANT_ID": "11111111-2222-4333-8444-555555555555"},
        None,
        error="AZURE_TENANT_ID names tenant 11111111-2222-4333-8444-555555555555, not the file's tenant.id",
    ),
    Row(
        "provider.go:174: a boolean the provider cannot parse fails its configuration",
        AuthSection(),
        {"ARM_USE_OIDC": "yes", "ARM_CLIENT_ID": APP, **GITHUB},
        None,
        error="ARM_USE_OIDC is 'yes'",
    ),
    Row(
        "provider.go:329: OIDC is off unless switched on: the runner's variables alone are not used",
        AuthSection(client_id=APP),
        GITHUB,
        None,
        error="names no auth.method",
    ),
    Row(
        "auth.go:77-115 need a client id",
        AuthSection(method="oidc"),
        GITHUB,
        None,
        error="auth.method oidc needs the automation identity's client id",
    ),
    Row(
        "auth.go:115 needs the request URL and the request token",
        AuthSection(method="oidc", client_id=APP),
        {"ACTIONS_ID_TOKEN_REQUEST_URL": GITHUB["ACTIONS_ID_TOKEN_REQUEST_URL"]},
        None,
        error="no OIDC token in this environment",
    ),
    # -------------------------------------------------------------------------------------- managed identity
    Row(
        "provider.go:233 use_msi (passed for method msi), auth.go:134: the system-assigned identity",
        AuthSection(method="msi"),
        {},
        "msi",
        {},
        {"client_id": "", "msi_endpoint": ""},
    ),
    Row(
        "auth.go:134 (ClientId): ARM_CLIENT_ID picks a user-assigned identity; provider.go:240 ARM_MSI_ENDPOINT",
        AuthSection(method="msi"),
        {"ARM_CLIENT_ID": APP, "ARM_MSI_ENDPOINT": "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
        "msi",
        {"client id": "ARM_CLIENT_ID"},
        {"client_id": APP, "msi_endpoint": "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
    ),
    Row(
        "pulumi-azuread's SDK reads ARM_USE_MSI itself (provider.py, get_env_bool) when no method is named",
        AuthSection(),
        {"ARM_USE_MSI": "1"},
        "msi",
    ),
    Row(
        "get_env_bool: a value it cannot parse is false, not an error",
        AuthSection(),
        {"ARM_USE_MSI": "yes"},
        None,
        error="names no auth.method",
    ),
    Row(
        "the tool: an explicit method switches use_msi off, so ARM_USE_MSI on a runner cannot take over",
        AuthSection(method="cli"),
        {"ARM_USE_MSI": "true"},
        "cli",
    ),
    # ------------------------------------------------------------------------------------------- Azure CLI
    Row("provider.go:225 use_cli (passed for method cli), auth.go:150", AuthSection(method="cli"), {}, "cli"),
    Row(
        "the tool passes use_cli false unless the file says cli: ARM_USE_CLI is never read (provider.go:225)",
        AuthSection(),
        {"ARM_USE_CLI": "true"},
        None,
        error="names no auth.method",
    ),
    Row("auth.go:167: nothing to sign in with", AuthSection(), {}, None, error="names no auth.method"),
]


def _environment(row: Row, folder: Path) -> dict[str, str]:
    env = dict(row.env)
    for index, (variable, content) in enumerate(row.files.items()):
        path = folder / f"file-{index}"
        path.write_text(content, encoding="utf-8")
        env[variable] = str(path)
    return env


@pytest.mark.parametrize("row", TABLE, ids=[row.source for row in TABLE])
def test_the_resolver_passes_the_providers_table(row: Row, tmp_path: Path) -> None:
    env = _environment(row, tmp_path)
    if row.method is None:
        with pytest.raises(CredentialError) as caught:
            sign_in(TENANT_ID, row.auth, env)
        assert row.error in str(caught.value)
        assert not [secret for secret in SECRETS if secret in str(caught.value)], "names variables, never values"
        return
    found = sign_in(TENANT_ID, row.auth, env)
    assert found.method == row.method
    assert found.tenant_id == TENANT_ID
    if row.sources:
        assert dict(found.sources) == row.sources
    for name, value in row.values.items():
        assert getattr(found, name) == value, name
    assert not [secret for secret in SECRETS if secret in repr(found)]


@pytest.mark.parametrize("row", TABLE, ids=[row.source for row in TABLE])
def test_every_part_of_the_tool_asks_the_same_resolver(
    row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight of an engine run, the program's own Graph client (group reads, consent settings) and
    audit/adopt's client agree with the table: the same way, or the same refusal."""
    from taxcalc_consent.cli.fleet.pipeline import load_plans

    env = _environment(row, tmp_path)
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    auth = {k: v for k, v in row.auth.model_dump().items() if v is not None}
    auth_block = "".join(f"  {k}: {v}\n" for k, v in auth.items())
    (tenants / "t.yaml").write_text(
        f"tenant:\n  id: {TENANT_ID}\napp:\n  client_id: {OTHER_APP}\nconsent:\n  mode: organization\n"
        + (f"auth:\n{auth_block}" if auth_block else ""),
        encoding="utf-8",
    )
    (plan,) = load_plans([tenants / "t.yaml"], notify=no_notices)
    made: list[str] = []
    monkeypatch.setattr(credentials, "_credential", lambda found, cloud: made.append(found.method))
    problems = preflight_problems([plan], env)
    outcomes = []
    for make in (
        lambda: graph.program_client(plan.tenant_id, plan.auth, env),
        lambda: graph.client_for_tenant(plan.tenant_id, plan.auth, graph.CLOUDS["public"], None, env),
    ):
        try:
            make()
            outcomes.append(made[-1])
        except CredentialError as exc:
            outcomes.append(f"refused: {exc.reason}")
    if row.method is None:
        assert problems and row.error in problems[0]
        assert all(o.startswith("refused: ") and row.error in o for o in outcomes)
    else:
        assert problems == []
        assert outcomes == [row.method, row.method]


@pytest.mark.parametrize(
    ("auth", "arguments", "config"),
    [
        # infra/program/provider.py passes these to azuread.Provider; engine_setup writes them as stack settings.
        (AuthSection(), {"tenant_id": TENANT_ID, "use_cli": False}, {"azuread:tenantId": TENANT_ID}),
        (
            AuthSection(method="cli"),
            {"tenant_id": TENANT_ID, "use_cli": True, "use_oidc": False, "use_msi": False},
            {"azuread:tenantId": TENANT_ID, "azuread:useCli": "true"},
        ),
        (
            AuthSection(method="oidc", client_id=APP),
            {"tenant_id": TENANT_ID, "use_cli": False, "use_oidc": True, "use_msi": False, "client_id": APP},
            {"azuread:tenantId": TENANT_ID, "azuread:clientId": APP, "azuread:useOidc": "true"},
        ),
        (
            AuthSection(method="msi"),
            {"tenant_id": TENANT_ID, "use_cli": False, "use_oidc": False, "use_msi": True},
            {"azuread:tenantId": TENANT_ID, "azuread:useMsi": "true"},
        ),
        (
            AuthSection(method="client-secret", client_secret_env="FIRM_SECRET"),
            {"tenant_id": TENANT_ID, "use_cli": False, "use_oidc": False, "use_msi": False},
            {"azuread:tenantId": TENANT_ID},
        ),
    ],
)
def test_what_the_tool_passes_to_the_provider(
    auth: AuthSection, arguments: dict[str, Any], config: dict[str, str]
) -> None:
    given = provider_arguments(TENANT_ID, auth)
    assert given.pulumi_arguments() == arguments
    assert given.stack_config() == config
    # The tool's runs give the provider these as its own variables, in the tenant's engine only (what the
    # provider would read had they been arguments), and give the tool's own providers the block as it is.
    secret_env = {"FIRM_SECRET": "firm-secret"}
    words = {True: "true", False: "false"}
    expected_engine = {
        "ARM_USE_CLI": words[arguments["use_cli"]],
        "ARM_USE_MSI": words[arguments.get("use_msi", False)],
        **({"ARM_USE_OIDC": words[arguments["use_oidc"]]} if "use_oidc" in arguments else {}),
        **({"ARM_CLIENT_ID": arguments["client_id"]} if "client_id" in arguments else {}),
        **({"ARM_CLIENT_SECRET": "firm-secret"} if auth.client_secret_env else {}),
    }
    assert given.engine_environment(secret_env) == expected_engine
    everything = provider_settings.engine_environment(TENANT_ID, auth, secret_env)
    assert provider_settings.engine_auth(everything, TENANT_ID) == auth
    assert provider_settings.engine_auth(everything, "0" * 8 + TENANT_ID[8:]) is None


def test_with_no_method_the_engine_reads_use_msi_as_pulumi_azuread_s_sdk_would() -> None:
    """No ``auth.method``: ``ARM_USE_MSI`` decides, read as the SDK's ``get_env_bool`` reads it (a word Go's
    ParseBool would refuse counts as false), and ``ARM_USE_OIDC`` is left to the provider."""
    given = provider_arguments(TENANT_ID, AuthSection())
    assert given.engine_environment({"ARM_USE_MSI": "True"}) == {"ARM_USE_CLI": "false", "ARM_USE_MSI": "true"}
    assert given.engine_environment({"ARM_USE_MSI": "yes"}) == {"ARM_USE_CLI": "false", "ARM_USE_MSI": "false"}
    assert "ARM_USE_OIDC" not in given.engine_environment({"ARM_USE_OIDC": "true"})


def test_secret_files_are_redacted_too(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("projected-token-value\n", encoding="utf-8")
    env = {"ARM_OIDC_TOKEN_FILE_PATH": str(token_file), "SYSTEM_ACCESSTOKEN": "ado-access-token"}
    assert set(signin.secret_values(env)) == {"projected-token-value", "ado-access-token"}


def test_a_credential_file_that_is_no_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A named pipe where the token file should be would hang the provider's os.ReadFile; the tool refuses it
    (infra/model/files.py read_regular_file), naming the variable, before anything is sent."""
    import os

    pipe = tmp_path / "token"
    os.mkfifo(pipe)
    with pytest.raises(CredentialError, match=r"ARM_OIDC_TOKEN_FILE_PATH: cannot read the OIDC token .*named pipe"):
        sign_in(TENANT_ID, AuthSection(method="oidc", client_id=APP), {"ARM_OIDC_TOKEN_FILE_PATH": str(pipe)})


@pytest.mark.parametrize("method", ["browser", "device-code"])
def test_an_engineer_s_interactive_sign_in_is_the_tool_s_own_whatever_the_provider_s_variables_say(method: str) -> None:
    """browser and device-code are azure-identity's sign-ins as the Azure CLI's application, not the provider's: a
    client secret or certificate in the environment does not take over (it would, for the provider's ways)."""
    env = {
        "ARM_CLIENT_ID": "7d2c9a8e-1f3b-4c5d-9e6f-0a1b2c3d4e5f",
        "ARM_CLIENT_SECRET": "a-secret",
        "ARM_USE_MSI": "true",
    }
    found = sign_in(TENANT_ID, AuthSection(method=method), env)  # type: ignore[arg-type]
    assert (found.method, found.client_id, found.client_secret) == (method, signin.AZURE_CLI_APP_ID, "")
    assert "a-secret" not in repr(found)
