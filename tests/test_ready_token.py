"""TAXCALC_CONSENT_GRAPH_TOKEN serves the one tenant it was issued for, never another client's file."""

from __future__ import annotations

import base64
import json

import pytest

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.model.spec import AuthSection

CONTOSO = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
FABRIKAM = "0f8fad5b-d9cb-469f-a165-70867728950e"
GRAPH = "https://graph.microsoft.com"


def entra_token(tenant_id: str | None) -> str:
    """The shape of an Entra access token: header.payload.signature, the payload naming the tenant."""
    claims = {"aud": "https://graph.microsoft.com", "appid": "x"} | ({"tid": tenant_id} if tenant_id else {})

    def part(document: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def source(token: str, tenant_id: str, base: str = GRAPH) -> graph.TokenSource:
    """What ``audit`` and ``adopt`` get (``ready_token``): the program's own calls never take one."""
    cloud = graph.CLOUDS["public"]
    return graph.token_source(tenant_id, AuthSection(), cloud, base, {graph.TOKEN_ENV: token}, ready_token=True)


def test_a_token_for_the_files_tenant_is_used_as_given() -> None:
    token = entra_token(CONTOSO.upper())  # tenant ids compare without case, as Entra's do
    assert source(token, CONTOSO)() == token


def test_a_token_issued_for_another_tenant_is_refused_before_any_request() -> None:
    with pytest.raises(graph.CredentialError, match=f"issued for tenant {FABRIKAM}, not {CONTOSO}"):
        source(entra_token(FABRIKAM), CONTOSO)


@pytest.mark.parametrize("token", ["opaque-token", entra_token(None), "a.b.c", "a.%%%.c"])
def test_a_token_naming_no_tenant_is_refused_by_real_graph(token: str) -> None:
    with pytest.raises(graph.CredentialError, match="no tid claim"):
        source(token, CONTOSO)


@pytest.mark.parametrize("base", ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:8000"])
def test_a_local_emulator_may_take_an_opaque_token(base: str) -> None:
    assert source("emulator-token", CONTOSO, base)() == "emulator-token"
