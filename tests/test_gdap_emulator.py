"""GDAP in the emulated cloud: the MSP tenant's relationships and tenant information, an engineer's tokens carrying
the roles a relationship gives, and Graph judging the engineer's calls by those roles (tests/fakes/gdap.py names the
source of each behaviour)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.fakes import azure_cli
from tests.fakes.entra_cloud import AUTOMATION_NAME, EmulatedCloud, serve_cloud
from tests.fakes.gdap import (
    CLOUD_APPLICATION_ADMINISTRATOR,
    DIRECTORY_READERS,
    MSP_TENANT_ID,
    PARTNER_PERMISSIONS,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    StandardMsp,
    standard_msp,
)

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@pytest.fixture
def msp() -> StandardMsp:
    return standard_msp()


@pytest.fixture
def cloud(msp: StandardMsp) -> Iterator[EmulatedCloud]:
    partner = msp.partner
    tenants = [partner.tenant, *msp.clients.values()]
    partner.tenant.add_automation_identity(
        "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d", AUTOMATION_NAME, list(PARTNER_PERMISSIONS)
    )
    with serve_cloud(tenants, partner=partner, unconnected=[t.tenant_id for t in msp.clients.values()]) as running:
        yield running


def trusting(cloud: EmulatedCloud) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cloud.certificates.ca_bundle)


def get(cloud: EmulatedCloud, bearer: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{cloud.base_url}/v1.0{path}",
        headers={"Authorization": f"Bearer {bearer}"},
        verify=trusting(cloud),
    )


def send(cloud: EmulatedCloud, bearer: str, method: str, path: str, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"}
    return httpx.request(method, f"{cloud.base_url}/v1.0{path}", headers=headers, json=body, verify=trusting(cloud))


def engineer_token(cloud: EmulatedCloud, msp: StandardMsp, tenant_id: str) -> tuple[int, dict[str, object]]:
    form = {
        "grant_type": "refresh_token",
        "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "refresh_token": cloud.refresh_token(msp.engineer),
        "scope": f"{cloud.base_url}/.default",
    }
    return cloud.issue_token(tenant_id, form)


def bearer(cloud: EmulatedCloud, msp: StandardMsp, tenant_id: str) -> str:
    status, body = engineer_token(cloud, msp, tenant_id)
    assert status == 200, body
    return str(body["access_token"])


# ------------------------------------------------------------------------------- the MSP tenant's Graph


def test_relationships_are_listed_to_the_partner_permission_and_paged(cloud: EmulatedCloud) -> None:
    token = cloud.token_for(MSP_TENANT_ID)
    first = get(cloud, token, "/tenantRelationships/delegatedAdminRelationships?$top=2")
    assert first.status_code == 200, first.text
    listed = first.json()["value"]
    assert len(listed) == 2 and "@odata.nextLink" in first.json()
    everything = []
    url = f"{cloud.base_url}/v1.0/tenantRelationships/delegatedAdminRelationships"
    while url:
        page = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, verify=trusting(cloud)).json()
        everything += page["value"]
        url = page.get("@odata.nextLink")
    assert [r["status"] for r in everything] == ["active", "active", "expired", "terminated", "active"]
    contoso = everything[0]
    assert contoso["customer"] == {"tenantId": "c0a10000-0000-4000-8000-00000000c001", "displayName": "Contoso Ltd"}
    assert {r["roleDefinitionId"] for r in contoso["accessDetails"]["unifiedRoles"]} == {
        CLOUD_APPLICATION_ADMINISTRATOR,
        DIRECTORY_READERS,
        PRIVILEGED_ROLE_ADMINISTRATOR,
    }
    assert contoso["autoExtendDuration"] == "P180D" and contoso["endDateTime"].endswith("Z")
    assignments = get(
        cloud, token, f"/tenantRelationships/delegatedAdminRelationships/{contoso['id']}/accessAssignments"
    )
    assert assignments.status_code == 200
    assert {a["accessContainer"]["accessContainerType"] for a in assignments.json()["value"]} == {"securityGroup"}


def test_top_past_300_and_an_unknown_relationship_are_refused(cloud: EmulatedCloud) -> None:
    token = cloud.token_for(MSP_TENANT_ID)
    assert get(cloud, token, "/tenantRelationships/delegatedAdminRelationships?$top=301").status_code == 400
    missing = get(cloud, token, "/tenantRelationships/delegatedAdminRelationships/nope/accessAssignments")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_without_the_partner_permission_graph_answers_403(cloud: EmulatedCloud) -> None:
    cloud.grant_only(MSP_TENANT_ID, "Application.Read.All")
    answer = get(cloud, cloud.token_for(MSP_TENANT_ID), "/tenantRelationships/delegatedAdminRelationships")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "Authorization_RequestDenied"


def test_tenant_information_by_id_and_by_domain(cloud: EmulatedCloud) -> None:
    token = cloud.token_for(MSP_TENANT_ID)
    by_id = get(
        cloud,
        token,
        "/tenantRelationships/findTenantInformationByTenantId(tenantId='c0a10000-0000-4000-8000-00000000c001')",
    )
    assert by_id.status_code == 200, by_id.text
    assert {k: by_id.json()[k] for k in ("tenantId", "displayName", "defaultDomainName")} == {
        "tenantId": "c0a10000-0000-4000-8000-00000000c001",
        "displayName": "Contoso Ltd",
        "defaultDomainName": "contoso.onmicrosoft.com",
    }
    by_domain = get(cloud, token, "/tenantRelationships/findTenantInformationByDomainName(domainName='CONTOSO.com')")
    assert by_domain.json()["tenantId"] == "c0a10000-0000-4000-8000-00000000c001"
    unknown = get(cloud, token, "/tenantRelationships/findTenantInformationByDomainName(domainName='nobody.example')")
    assert unknown.status_code == 404
    wrong = get(cloud, token, "/tenantRelationships/findTenantInformationByName(name='x')")
    assert wrong.status_code == 400


# ------------------------------------------------------------------------------------ engineers' tokens


def test_an_engineers_token_carries_the_roles_of_the_relationship(cloud: EmulatedCloud, msp: StandardMsp) -> None:
    claims = jwt.decode(bearer(cloud, msp, msp.clients["fabrikam"].tenant_id), options={"verify_signature": False})
    assert claims["idtyp"] == "user" and claims["tid"] == msp.clients["fabrikam"].tenant_id
    assert sorted(claims["wids"]) == sorted([CLOUD_APPLICATION_ADMINISTRATOR, DIRECTORY_READERS])
    assert claims["scp"] == "Directory.AccessAsUser.All"


@pytest.mark.parametrize("client", ["oldco", "goneco"])
def test_no_token_through_an_ended_or_terminated_relationship(
    cloud: EmulatedCloud, msp: StandardMsp, client: str
) -> None:
    status, body = engineer_token(cloud, msp, msp.clients[client].tenant_id)
    assert status == 400 and "AADSTS50020" in str(body["error_description"])


def test_an_engineer_not_in_the_groups_gets_no_token(cloud: EmulatedCloud, msp: StandardMsp) -> None:
    outsider = msp.partner.add_engineer("intern@northwindit.onmicrosoft.com", [])
    form = {
        "grant_type": "refresh_token",
        "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "refresh_token": cloud.refresh_token(outsider),
        "scope": f"{cloud.base_url}/.default",
    }
    status, body = cloud.issue_token(msp.clients["contoso"].tenant_id, form)
    assert status == 400 and "AADSTS50020" in str(body["error_description"])


# ------------------------------------------------------------------------------- Graph judges by role


def test_graph_app_roles_need_privileged_role_administrator(cloud: EmulatedCloud, msp: StandardMsp) -> None:
    """serviceprincipal-post-approleassignedto: Privileged Role Administrator is the least role for Microsoft Graph
    app roles; Cloud Application Administrator creates the service principal."""
    for client, allowed in (("fabrikam", False), ("contoso", True)):
        tenant = msp.clients[client]
        token = bearer(cloud, msp, tenant.tenant_id)
        created = send(cloud, token, "POST", "/servicePrincipals", {"appId": "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"})
        assert created.status_code == 201, created.text
        assignment = {
            "principalId": created.json()["id"],
            "resourceId": tenant.graph.id,
            "appRoleId": tenant.graph.app_roles["User.Read.All"],
        }
        answer = send(cloud, token, "POST", f"/servicePrincipals/{tenant.graph.id}/appRoleAssignedTo", assignment)
        if allowed:
            assert answer.status_code == 201, answer.text
        else:
            assert answer.status_code == 403
            assert "Privileged Role Administrator" in answer.json()["error"]["message"]


def test_the_cli_token_cannot_write_policies_or_read_relationships(cloud: EmulatedCloud, msp: StandardMsp) -> None:
    """Azure/azure-cli#23906: the CLI's Graph token lacks policy scopes; the partner API's scope likewise."""
    token = bearer(cloud, msp, msp.clients["contoso"].tenant_id)
    body = {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": []}}
    refused = send(cloud, token, "PATCH", "/policies/authorizationPolicy", body)
    assert refused.status_code == 403 and "scp" in refused.json()["error"]["message"]
    home = bearer(cloud, msp, MSP_TENANT_ID)
    assert get(cloud, home, "/tenantRelationships/delegatedAdminRelationships").status_code == 403


def test_the_stand_in_az_gets_an_engineers_token_for_a_client(
    cloud: EmulatedCloud, msp: StandardMsp, tmp_path: Path
) -> None:
    """``az account get-access-token --tenant``: what the provider's use_cli and AzureCliCredential run."""
    config = tmp_path / "az"
    azure_cli.login_user(config, cloud.base_url, MSP_TENANT_ID, msp.engineer.upn, cloud.refresh_token(msp.engineer))
    environment = {**os.environ, "AZURE_CONFIG_DIR": str(config), **cloud.certificates.trust_environment()}
    tenant = msp.clients["contoso"].tenant_id
    command = [sys.executable, "-m", "tests.fakes.azure_cli", "account", "get-access-token", "--tenant", tenant]
    command += ["--resource", cloud.base_url, "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(json.loads(done.stdout)["accessToken"], options={"verify_signature": False})
    assert PRIVILEGED_ROLE_ADMINISTRATOR in claims["wids"]
    refused = subprocess.run(
        [*command[:6], msp.clients["goneco"].tenant_id, *command[7:]], capture_output=True, text=True, env=environment
    )
    assert refused.returncode == 1 and "AADSTS50020" in refused.stderr
