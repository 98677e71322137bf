"""Onboarding through GDAP, end to end over the emulated cloud and the real engine (issue 20, Done when):

an MSP with five GDAP relationships (active with every role, active without Privileged Role Administrator,
expired, terminated, active and ending in 20 days; tests/fakes/gdap.py). ``discover`` writes three tenant files
and reports the ended and terminated relationships; ``plan --offline`` lists the roles each tenant needs;
``apply`` under the engineer's GDAP sign-in (Azure CLI) refuses the tenant whose relationship lacks Privileged
Role Administrator where its file asks for Graph app roles, naming both, and applies the others; ``connect`` puts
the automation identity in, after which ``apply`` runs as the automation identity; ``connect --remove`` leaves
no trace of it. Nobody is handed a token: the engineer signs in through the stand-in ``az``, the automation app
with its client secret, and the cloud keeps a log of every token it issued.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID
from tests.engine.conftest import World, WorldFactory
from tests.fakes import azure_cli
from tests.fakes.ci_oidc import GITHUB_ISSUER, serve_github_token_service
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, AUTOMATION_NAME, AutomationApp, FederatedCredential, Issuer
from tests.fakes.gdap import MSP_TENANT_ID, PARTNER_PERMISSIONS, StandardMsp, standard_msp

pytestmark = pytest.mark.engine

APP_ROLE = "  app_roles: [User.ReadBasic.All]\n"
AS_AUTOMATION = f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: client-secret\n  client_id: {AUTOMATION_APP_ID}\n"
AS_ENGINEER = f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: cli\n"


AS_CI = f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: oidc\n  client_id: {AUTOMATION_APP_ID}\n"
GITHUB_SUBJECT = "repo:msp/tenants:environment:production"


def onboarding_world(world: WorldFactory) -> tuple[World, StandardMsp]:
    """The MSP's cloud; its automation app has a client secret (for discover at a desk) and a federated credential
    that trusts the MSP's GitHub Actions production environment (for CI)."""
    msp = standard_msp()
    msp.partner.tenant.add_automation_identity(AUTOMATION_APP_ID, AUTOMATION_NAME, list(PARTNER_PERMISSIONS))
    clients = list(msp.clients.values())
    w = world(
        [msp.partner.tenant, *clients],
        {},
        defaults=AS_AUTOMATION,
        automation=AutomationApp(federated=[FederatedCredential(GITHUB_ISSUER, GITHUB_SUBJECT)]),
        partner=msp.partner,
        unconnected=[t.tenant_id for t in clients],
    )
    return w, msp


def sign_in_as_engineer(w: World, msp: StandardMsp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``az login`` as the MSP's engineer; no client secret in the environment (it would win over the CLI).
    Gives the stand-in ``az``'s config folder, where it logs every call (``azure_cli.invocations``)."""
    bin_dir, config = tmp_path / "az-bin", tmp_path / "az-config"
    azure_cli.install(bin_dir)
    azure_cli.login_user(config, w.cloud.base_url, MSP_TENANT_ID, msp.engineer.upn, w.cloud.refresh_token(msp.engineer))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(config))
    monkeypatch.delenv("ARM_CLIENT_SECRET")
    monkeypatch.delenv("ARM_CLIENT_ID")
    return config


def test_onboarding_through_gdap(world: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w, msp = onboarding_world(world)
    tenants = w.tenants_dir
    contoso, fabrikam, soonco = (msp.clients[n].tenant_id for n in ("contoso", "fabrikam", "soonco"))

    # discover, as the automation app in the MSP's own tenant
    found = w.cli("discover", "--partner-tenant", MSP_TENANT_ID)
    assert found.code == 0, found.output
    written = sorted(p.stem for p in tenants.glob("*.yaml") if not p.name.startswith("_"))
    assert written == ["contoso", "fabrikam.co.uk", "soonco"]
    said = " ".join(found.stderr.split())
    assert "Old Co" in said and "relationship expired" in said
    assert "Gone Co" in said and "relationship terminated" in said
    assert "warning: Soon Co" in said

    # contoso and fabrikam also ask for a Microsoft Graph application permission
    for name in ("contoso", "fabrikam.co.uk"):
        path = tenants / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        assert "consent:\n  mode: organization\n" in text
        path.write_text(
            text.replace("consent:\n  mode: organization\n", "consent:\n  mode: organization\n" + APP_ROLE), "utf-8"
        )

    offline = w.cli("plan", "--offline", "--json", "tenants")
    assert offline.code == 0, offline.output
    roles = {t: offline.tenant(t)["access"]["directory_roles"] for t in ("contoso", "fabrikam.co.uk", "soonco")}
    assert roles == {
        "contoso": ["Cloud Application Administrator", "Privileged Role Administrator"],
        "fabrikam.co.uk": ["Cloud Application Administrator", "Privileged Role Administrator"],
        "soonco": ["Cloud Application Administrator"],
    }

    # apply under the engineer's GDAP sign-in
    path_without_az = os.environ["PATH"]
    az_config = sign_in_as_engineer(w, msp, tmp_path, monkeypatch)
    path_with_az = os.environ["PATH"]
    (tenants / "_defaults.yaml").write_text(AS_ENGINEER, encoding="utf-8")
    applied = w.cli("apply", "tenants", "--yes", "--json")
    assert applied.code == 1, applied.output
    refused = applied.tenant("fabrikam.co.uk")
    assert refused["result"] == "failed" and refused["attempts"] == 0, refused
    assert "Privileged Role Administrator" in refused["error"] and msp.partner.relationships[1].id in refused["error"]
    assert [applied.tenant(t)["result"] for t in ("contoso", "soonco")] == ["applied", "applied"]
    assert not w.cloud.writes(fabrikam), "nothing reached the refused tenant"
    hub = w.cloud.tenant(contoso).service_principal_by_app_id(CLIENT_ID)
    assert hub is not None and w.cloud.tenant(contoso).roles_of(hub.id) == ["User.ReadBasic.All"]

    # connect: the automation identity into contoso and soonco (fabrikam's relationship cannot: it is refused)
    (tenants / "_defaults.yaml").write_text(AS_AUTOMATION, encoding="utf-8")
    connected = w.cli("connect", "tenants", "--yes")
    assert connected.code == 1, connected.output
    assert "lacks Privileged Role Administrator" in " ".join(connected.stderr.split())
    assert w.cloud.tenant(fabrikam).service_principal_by_app_id(AUTOMATION_APP_ID) is None
    for tenant_id, wanted in (
        (
            contoso,
            ["AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"],
        ),
        (soonco, ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"]),
    ):
        sp = w.cloud.tenant(tenant_id).service_principal_by_app_id(AUTOMATION_APP_ID)
        assert sp is not None and w.cloud.tenant(tenant_id).roles_of(sp.id) == wanted

    # CI applies as the automation identity, with GitHub Actions' OIDC token and no stored secret: a change to
    # soonco lands. As in CI, there is no `az` here: the stand-in is off PATH, and its log shows whether anything
    # still ran it.
    (tenants / "_defaults.yaml").write_text(AS_CI, encoding="utf-8")
    monkeypatch.setenv("PATH", path_without_az)
    az_calls = len(azure_cli.invocations(az_config))
    soon = tenants / "soonco.yaml"
    soon.write_text(
        soon.read_text(encoding="utf-8").replace("assignment_required: false", "assignment_required: true"), "utf-8"
    )
    github = w.cloud.trust(Issuer(GITHUB_ISSUER))
    before = len(w.cloud.token_requests)
    with serve_github_token_service(github, GITHUB_SUBJECT, secrets.token_urlsafe(16)) as runner:
        for name, value in runner.environment().items():
            monkeypatch.setenv(name, value)
        w.secrets.add(runner.request_token)
        as_automation = w.cli("apply", "tenants/contoso.yaml", "tenants/soonco.yaml", "--yes", "--json")
    assert as_automation.code == 0, as_automation.output
    assert as_automation.tenant("soonco")["result"] == "applied"
    assert as_automation.tenant("contoso")["result"] == "no-changes"
    hub_soon = w.cloud.tenant(soonco).service_principal_by_app_id(CLIENT_ID)
    assert hub_soon is not None and hub_soon.app_role_assignment_required
    issued = {(r.tenant_id, r.client_id, r.credential) for r in w.cloud.token_requests[before:] if r.issued}
    assert {(soonco, AUTOMATION_APP_ID, "client_assertion"), (contoso, AUTOMATION_APP_ID, "client_assertion")} <= issued
    # The refresh signs in as the tenant file says now, not as the last update recorded (the engineer's Azure
    # CLI): the tool's runs record no way of signing in in the provider's arguments, and give it to the engine
    # as the provider's variables (infra/program/provider.py). Recorded, the refresh would ask `az`, which CI
    # does not have.
    assert {(client, credential) for _, client, credential in issued} == {(AUTOMATION_APP_ID, "client_assertion")}
    assert len(azure_cli.invocations(az_config)) == az_calls

    # connect --remove, by the engineer at a desk again: no trace of the automation identity
    monkeypatch.setenv("PATH", path_with_az)
    removed = w.cli("connect", "tenants/contoso.yaml", "tenants/soonco.yaml", "--remove", "--yes")
    assert removed.code == 0, removed.output
    for tenant_id in (contoso, soonco):
        tenant = w.cloud.tenant(tenant_id)
        assert tenant.service_principal_by_app_id(AUTOMATION_APP_ID) is None
        principals = {sp.id for sp in tenant.service_principals.values()}
        assert all(a.principal_id in principals for a in tenant.app_role_assignments.values())
