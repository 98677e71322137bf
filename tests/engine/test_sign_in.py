"""Each way of signing in, end to end: the provider and the tool's own Graph calls sign in alike, at the cloud.

One tenant file that makes every part of the tool reach Graph: its users are granted and a group's members too
(the program reads the group through the tool's own client), and it sets the tenant's consent settings (the
tool's own provider writes them). ``apply`` runs it through the real engine, then ``audit`` reads it back.
Nothing is handed a token: the test azuread provider signs in as terraform-provider-azuread does, the tool as
``infra.signin`` says, and the emulated cloud keeps a log of every token it was asked for. Each test checks
that both signed in, the same way, as the automation app, and nothing else was asked for.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.engine.conftest import World, WorldFactory
from tests.fakes import azure_cli
from tests.fakes.ci_oidc import GITHUB_ISSUER, serve_github_token_service
from tests.fakes.entra import FakeTenant
from tests.fakes.entra_cloud import (
    AUTOMATION_APP_ID,
    AUTOMATION_NAME,
    AUTOMATION_ROLES,
    AutomationApp,
    FederatedCredential,
    Issuer,
)
from tests.fakes.example_tenants import examples_defaults, northwind

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants"
ROLES = [*AUTOMATION_ROLES, "GroupMember.Read.All", "Policy.ReadWrite.Authorization", "Policy.ReadWrite.ConsentRequest"]
GITHUB_SUBJECT = "repo:msp/client-tenants:environment:production"
CLUSTER_ISSUER = "https://oidc.prod-aks.azure.com/7c1d5b7e-0000-4000-8000-000000000001/"
CLUSTER_SUBJECT = "system:serviceaccount:consent:taxcalc-consent"


def tenant_file(auth: str) -> str:
    """examples/tenants/northwind.yaml, with a group among the mailboxes and the given ``auth`` block."""
    text = (EXAMPLES / "northwind.yaml").read_text(encoding="utf-8")
    mailbox = "    - front.desk@northwind.co.uk\n"
    text = text.replace(mailbox, mailbox + "  groups: [Front Office]\n")
    return text + auth


def signed_in_world(world: WorldFactory, auth: str, automation: AutomationApp | None = None) -> tuple[World, str]:
    tenant: FakeTenant = northwind()
    tenant.add_group("Front Office", members=[tenant.user("new.starter@northwind.co.uk").id])
    tenant.add_automation_identity(AUTOMATION_APP_ID, AUTOMATION_NAME, ROLES)
    defaults = examples_defaults()
    w = world([tenant], {"northwind": tenant_file(auth)}, defaults=defaults, automation=automation)
    return w, tenant.tenant_id


def apply_and_audit(w: World) -> None:
    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 0, applied.output
    tenant = next(iter(w.cloud.tenants.values())).tenant
    member = tenant.user("new.starter@northwind.co.uk").id
    assert any(g.principal_id == member for g in tenant.grants.values()), "the group was read and its member granted"
    assigned = tenant.authorization_policy.permission_grant_policies_assigned
    assert not [p for p in assigned if p.startswith("ManagePermissionGrantsForSelf.")], "the setting was written"
    audit = w.cli("audit", "tenants", "--json")
    assert audit.code == 0, audit.output
    assert audit.document["tenants"][0]["differences"] == []


def token_requests(w: World, tenant_id: str) -> set[tuple[str, str | None, str, bool]]:
    """(credential, assertion issuer, who asked, issued) for each request for ``tenant_id``'s tokens. Who asked,
    by User-Agent: azure-identity (``azsdk-python-identity``) is the tool, the test provider speaks httpx."""

    def who(agent: str) -> str:
        return {"azsdk-python-identity": "tool", "python-httpx": "provider"}.get(agent.split("/")[0], agent)

    return {
        (r.credential, r.assertion_issuer, who(r.agent), r.issued)
        for r in w.cloud.token_requests
        if r.tenant_id == tenant_id and r.client_id == AUTOMATION_APP_ID
    }


def test_client_secret_from_the_providers_own_variables(world: WorldFactory) -> None:
    """``method: client-secret`` with no ``client_secret_env``: the provider takes ARM_CLIENT_ID and
    ARM_CLIENT_SECRET (provider.go:101, :159), and so does the tool, which refused this file before."""
    w, tenant_id = signed_in_world(world, "auth:\n  method: client-secret\n")
    apply_and_audit(w)
    assert token_requests(w, tenant_id) == {
        ("client_secret", None, "provider", True),
        ("client_secret", None, "tool", True),
    }


def test_github_actions_oidc(world: WorldFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``method: oidc`` in a GitHub Actions job: the runner's token service gives a token for Entra's audience,
    which the automation app's federated credential trusts; no secret anywhere."""
    github = Issuer(GITHUB_ISSUER)
    automation = AutomationApp(federated=[FederatedCredential(GITHUB_ISSUER, GITHUB_SUBJECT)])
    w, tenant_id = signed_in_world(world, f"auth:\n  method: oidc\n  client_id: {AUTOMATION_APP_ID}\n", automation)
    w.cloud.trust(github)
    monkeypatch.delenv("ARM_CLIENT_SECRET")  # it would win over OIDC, in the provider as in the tool
    monkeypatch.delenv("ARM_CLIENT_ID")
    with serve_github_token_service(github, GITHUB_SUBJECT, secrets.token_urlsafe(16)) as service:
        for name, value in service.environment().items():
            monkeypatch.setenv(name, value)
        w.secrets.add(service.request_token)
        apply_and_audit(w)
    assert set(service.audiences) == {"api://AzureADTokenExchange"}
    assert token_requests(w, tenant_id) == {
        ("client_assertion", GITHUB_ISSUER, "provider", True),
        ("client_assertion", GITHUB_ISSUER, "tool", True),
    }


def test_oidc_with_a_token_file(world: WorldFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``method: oidc`` outside GitHub Actions: the token another issuer (here a Kubernetes cluster) wrote to the
    file ARM_OIDC_TOKEN_FILE_PATH names (provider.go:188, helpers.go getOidcToken)."""
    cluster = Issuer(CLUSTER_ISSUER)
    automation = AutomationApp(federated=[FederatedCredential(CLUSTER_ISSUER, CLUSTER_SUBJECT)])
    w, tenant_id = signed_in_world(world, "auth:\n  method: oidc\n", automation)
    w.cloud.trust(cluster)
    monkeypatch.delenv("ARM_CLIENT_SECRET")
    token_file = tmp_path / "projected-token"
    token = cluster.token(CLUSTER_SUBJECT, lifetime=3600)
    token_file.write_text(token + "\n", encoding="utf-8")
    monkeypatch.setenv("ARM_OIDC_TOKEN_FILE_PATH", str(token_file))
    w.secrets.add(token)
    apply_and_audit(w)
    assert token_requests(w, tenant_id) == {
        ("client_assertion", CLUSTER_ISSUER, "provider", True),
        ("client_assertion", CLUSTER_ISSUER, "tool", True),
    }


def test_azure_cli(world: WorldFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``method: cli``: both run ``az account get-access-token`` for the tenant, the provider with ``--scope``
    (go-azure-sdk azure_cli_authorizer.go), the tool with ``--resource`` (azure-identity AzureCliCredential);
    ``az`` signs in at the cloud as the account it is logged in with."""
    w, tenant_id = signed_in_world(world, "auth:\n  method: cli\n")
    monkeypatch.delenv("ARM_CLIENT_SECRET")
    bin_dir, config_dir = tmp_path / "az-bin", tmp_path / "az-config"
    azure_cli.install(bin_dir)
    azure_cli.login_service_principal(
        config_dir, w.cloud.base_url, tenant_id, w.cloud.automation.client_id, w.cloud.automation.client_secret
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(config_dir))
    apply_and_audit(w)
    runs = azure_cli.invocations(config_dir)
    tokens = [run for run in runs if run[:2] == ["account", "get-access-token"]]
    assert any("--scope" in run and tenant_id in run for run in tokens), "the provider ran az"
    assert any("--resource" in run and tenant_id in run for run in tokens), "the tool ran az"
    assert {(r.credential, r.agent.split("/")[0], r.issued) for r in w.cloud.token_requests} == {
        ("client_secret", "AZURECLI", True)
    }, "every token came through az"
