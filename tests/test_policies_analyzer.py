"""The pack as the engine runs it: ``policies/__main__.py`` serving the Analyzer gRPC protocol.

No Pulumi CLI here, so the test plays the engine's part: it starts the pack the way the engine does
(``python -u -m pulumi.policy <engine> .`` in the policies/ folder, the stack config as JSON in
PULUMI_CONFIG, see pulumi/pulumi sdk/python/dist/pulumi-analyzer-policy-python), reads the port it prints, and
calls GetAnalyzerInfo, Analyze and AnalyzeStack with properties marshalled as the engine sends them
(unknowns as Pulumi's sentinel strings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from taxcalc_consent.infra.model.kinds import app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.policies.rules import RULES
from tests.conftest import CLIENT_ID, ROOT

STACK = "fabrikam"
FIXTURE = "tests/fixtures/policies/expired-exception/fail/tenant.yaml"
MAIL_SEND_ROLE_ID = "b633e1c5-b582-4048-a93e-9f11b44c7e96"
USER = "11111111-1111-4111-8111-111111111111"


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::taxcalc-consent::{resource_type}::{name}"


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(props)
    return out


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {**os.environ, "PULUMI_CONFIG": json.dumps({"taxcalc-consent:tenantFile": FIXTURE})}
    env.pop("PYTHONPATH", None)  # the pack must find the project by itself, as under the engine
    process = subprocess.Popen(
        # What Pulumi's pulumi-analyzer-policy-python shim runs: the SDK's runner, given the pack folder.
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=ROOT / "policies",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else "no port printed"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_pack_announces_one_policy_per_rule(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "taxcalc-consent"
    levels = {p.name: analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies}
    assert levels == {rule.id: rule.severity.upper() for rule in RULES}


def test_a_resource_is_judged_with_the_stack_config_tenant_file(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    name = "graph-app-role-Mail.Send"
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=app_role_assignment.TYPE,
            name=name,
            urn=urn(app_role_assignment.TYPE, name),
            properties=struct(
                {"appRoleId": MAIL_SEND_ROLE_ID, "principalObjectId": UNKNOWN_STRING_VALUE, "resourceObjectId": "g"}
            ),
        )
    )
    found = [(d.policyName, analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel)) for d in response.diagnostics]
    # The fixture's exception for Mail.Send expired in 2020, so it no longer covers the role.
    assert found == [("high-risk-app-roles", "MANDATORY")]
    assert "'Mail.Send' is high risk" in response.diagnostics[0].message


def test_the_stack_is_judged_across_resources(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    sp_name, grant_name = "taxcalc-hub-sp", f"graph-grant-user-{USER}"
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=service_principal.TYPE,
            name=sp_name,
            urn=urn(service_principal.TYPE, sp_name),
            properties=struct({"clientId": CLIENT_ID, "appRoleAssignmentRequired": True}),
        ),
        analyzer_pb2.AnalyzerResource(
            type=delegated_grant.TYPE,
            name=grant_name,
            urn=urn(delegated_grant.TYPE, grant_name),
            properties=struct(
                {
                    "claimValues": ["openid", "profile", "email", "offline_access", "User.Read", "Mail.Send"],
                    "servicePrincipalObjectId": UNKNOWN_STRING_VALUE,
                    "resourceServicePrincipalObjectId": "9b2e0c1e-6f0a-4a53-9c6e-3c4d1f00b7aa",
                    "userObjectId": USER,
                }
            ),
        ),
    ]
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))
    found = sorted(d.policyName for d in response.diagnostics)
    assert found == ["assignment-coverage", "expired-exception"]
