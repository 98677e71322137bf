"""An engineer's own sign-in, once, in a browser or with a device code (``auth.method`` / ``connect --sign-in``
``browser`` or ``device-code``): azure-identity's credentials, over the emulated cloud's device code and
authorization code flows (tests/fakes/user_signin.py), with no Azure CLI anywhere. One sign-in in the MSP's
tenant serves every client tenant its GDAP relationships reach; a tenant none reaches fails alone, without asking
again; the engine commands refuse these methods before anything runs (pulumi-azuread has no such sign-in)."""

from __future__ import annotations

import gc
import json
import os
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import credentials
from tests.conftest import CLIENT_ID
from tests.fakes import azure_cli
from tests.fakes.entra_cloud import AUTOMATION_APP_ID, EmulatedCloud
from tests.fakes.gdap import StandardMsp, standard_msp
from tests.fakes.gdap_cloud import engineer_signed_in
from tests.fakes.user_signin import Browser, Person

runner = CliRunner()


@pytest.fixture
def msp() -> StandardMsp:
    return standard_msp()


@pytest.fixture
def cloud(msp: StandardMsp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EmulatedCloud]:
    """The MSP's cloud with no Azure CLI on the path (its stand-in's log shows it was never run), and each test a
    new process's worth of sign-ins (the tool keeps one per run)."""
    path_without_az = os.environ["PATH"]
    with engineer_signed_in(
        msp, monkeypatch, tmp_path, unconnected=[t.tenant_id for t in msp.clients.values()]
    ) as running:
        monkeypatch.setenv("PATH", path_without_az)
        monkeypatch.setattr(credentials, "_ENGINEER_SIGN_INS", {})
        yield running
    assert azure_cli.invocations(tmp_path / "az-config") == []


@pytest.fixture
def folder(tmp_path: Path, msp: StandardMsp) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: oidc\n  client_id: {AUTOMATION_APP_ID}\n", encoding="utf-8"
    )
    relationships = {r.customer_tenant_id: r.id for r in msp.partner.relationships}
    for name, tenant in msp.clients.items():
        related = relationships.get(tenant.tenant_id)
        block = f"  relationship:\n    id: {related}\n" if related else ""
        (folder / f"{name}.yaml").write_text(
            f"tenant:\n  id: {tenant.tenant_id}\n{block}consent:\n  mode: organization\n", encoding="utf-8"
        )
    return folder


def held(cloud: EmulatedCloud, tenant_id: str) -> list[str] | None:
    tenant = cloud.tenant(tenant_id)
    sp = tenant.service_principal_by_app_id(AUTOMATION_APP_ID)
    return None if sp is None else tenant.roles_of(sp.id)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_one_device_code_sign_in_connects_every_client_its_gdap_access_reaches(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    contoso, soonco = msp.clients["contoso"].tenant_id, msp.clients["soonco"].tenant_id
    files = [str(folder / "contoso.yaml"), str(folder / "soonco.yaml")]
    before = len(cloud.token_requests)
    with Person(cloud.sign_ins, msp.engineer) as person:
        code, _, said = run("connect", *files, "--sign-in", "device-code", "--yes")
    assert code == 0, said
    assert held(cloud, contoso) == ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"]
    assert held(cloud, soonco) is not None
    # Asked once, on standard error, with the code the person entered; then each client's token silently.
    assert len(person.seen) == 1 and f"enter the code {person.seen[0]}" in said
    asked = [(r.tenant_id, r.credential, r.issued) for r in cloud.token_requests[before:]]
    assert asked[0] == ("organizations", "device_code", False)  # authorization_pending: not entered yet
    assert ("organizations", "device_code", True) in asked
    assert {(t, c) for t, c, ok in asked if ok and c == "refresh_token"} == {
        (contoso.lower(), "refresh_token"),
        (soonco.lower(), "refresh_token"),
    }
    assert {r.client_id for r in cloud.token_requests[before:]} == {"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}


def test_a_client_the_sign_in_does_not_reach_fails_alone_without_asking_again(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    ended = next(r for r in msp.partner.relationships if r.status != "active")
    name = next(n for n, t in msp.clients.items() if t.tenant_id == ended.customer_tenant_id)
    files = [str(folder / f"{name}.yaml"), str(folder / "contoso.yaml")]
    with Person(cloud.sign_ins, msp.engineer) as person:
        code, _, said = run("connect", *files, "--sign-in", "device-code", "--yes")
    assert code == 1, said
    assert len(person.seen) == 1
    assert f"{name}: failed: " in said and "AADSTS50020" in said and "GDAP relationship" in said
    assert held(cloud, ended.customer_tenant_id) is None and not cloud.writes(ended.customer_tenant_id)
    assert held(cloud, msp.clients["contoso"].tenant_id) is not None


def test_a_declined_sign_in_fails_every_tenant_once_and_writes_nothing(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    files = [str(folder / "contoso.yaml"), str(folder / "soonco.yaml")]
    with Person(cloud.sign_ins, None) as person:
        code, _, said = run("connect", *files, "--sign-in", "device-code", "--yes")
    assert code == 1, said
    assert len(person.seen) == 1
    assert said.count("AADSTS70017") == 2 and cloud.writes() == []


def test_a_browser_sign_in_connects_through_the_authorization_code_flow(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    cloud.sign_ins.browser_session = msp.engineer
    code, _, said = run("connect", str(folder / "contoso.yaml"), "--sign-in", "browser", "--yes")
    assert code == 0, said
    assert browser.failures == [] and len(browser.opened) == 1
    assert "code_challenge_method=S256" in browser.opened[0] and "/organizations/" in browser.opened[0]
    assert held(cloud, msp.clients["contoso"].tenant_id) is not None


# azure-identity leaves its redirect listener open when no browser opens (_credentials/browser.py, _request_token
# raises before the server is closed); the socket is collected here, inside this test, not in the next one.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_no_browser_here_says_to_use_a_device_code(
    cloud: EmulatedCloud, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda *_a, **_k: False)
    code, _, said = run("connect", str(folder / "contoso.yaml"), "--sign-in", "browser", "--yes")
    assert code == 1
    assert "auth.method: device-code" in said and cloud.writes() == []
    monkeypatch.setattr(credentials, "_ENGINEER_SIGN_INS", {})
    gc.collect()


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["drift"]])
@pytest.mark.parametrize("method", ["browser", "device-code"])
def test_the_engine_commands_refuse_an_interactive_sign_in_before_anything_runs(
    cloud: EmulatedCloud, folder: Path, command: list[str], method: str
) -> None:
    defaults = folder / "_defaults.yaml"
    defaults.write_text(f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: {method}\n", encoding="utf-8")
    before = len(cloud.token_requests)
    code, _, said = run(*command, str(folder / "contoso.yaml"))
    assert code == 2, said
    assert f"auth.method: {method} signs in the tool's own Microsoft Graph calls" in said
    assert "az login --use-device-code" in said
    assert cloud.token_requests[before:] == [] and cloud.writes() == []


def test_adopt_reads_each_client_through_the_engineer_s_one_device_code_sign_in(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool's own reads sign in as the file's ``auth.method`` says: here the engineer, once, for two clients."""
    monkeypatch.chdir(folder.parent)
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: device-code\n", encoding="utf-8"
    )
    before = len(cloud.token_requests)
    with Person(cloud.sign_ins, msp.engineer) as person:
        code, out, said = run("adopt", "--json", "tenants/contoso.yaml", "tenants/soonco.yaml")
    assert code == 0, said
    assert len(person.seen) == 1 and person.seen[0] in said
    document = json.loads(out)
    assert [t["tenant"] for t in document["tenants"]] == ["contoso", "soonco"]
    assert all("create the service principal of TaxCalc-Hub" in t["apply_changes"] for t in document["tenants"])
    silent = {r.tenant_id for r in cloud.token_requests[before:] if r.credential == "refresh_token" and r.issued}
    assert silent == {msp.clients["contoso"].tenant_id.lower(), msp.clients["soonco"].tenant_id.lower()}


def test_a_call_an_engineer_may_not_make_says_so_in_an_engineer_s_terms(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path
) -> None:
    """audit reads the consent settings (Policy.Read.All), which the engineer's delegated token does not carry:
    Graph's 403 is said as a limit of their own sign-in, with the automation identity as the way, not as an
    application permission to add to the automation app (which would change nothing for this run)."""
    (folder / "_defaults.yaml").write_text(
        f"app:\n  client_id: {CLIENT_ID}\nauth:\n  method: device-code\n", encoding="utf-8"
    )
    with Person(cloud.sign_ins, msp.engineer):
        code, _, said = run("audit", str(folder / "contoso.yaml"))
    assert code == 1, said
    assert "403" in said and "your own sign-in may not do this here (Policy.Read.All" in said
    assert "run it as the automation identity" in said and "add it to the automation app" not in said


def test_what_entra_says_to_show_is_shown_as_text_never_obeyed(
    cloud: EmulatedCloud, msp: StandardMsp, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device code's page and code come from the network: said through the console as every line is
    (escaped), so an escape sequence in them cannot drive the engineer's terminal."""
    from tests.fakes import user_signin

    monkeypatch.setattr(user_signin, "VERIFICATION_URI", "https://microsoft.com/devicelogin\x1b]2;pwned\x07")
    with Person(cloud.sign_ins, msp.engineer):
        code, _, said = run("connect", str(folder / "contoso.yaml"), "--sign-in", "device-code", "--yes")
    assert code == 0, said
    assert "\x1b" not in said and "\\x1b]2;pwned\\x07" in said


def test_without_the_command_line_the_graph_layer_says_its_line_escaped_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from taxcalc_consent.infra.graph import prompts

    monkeypatch.setattr(prompts, "_say", None)
    prompts.say("enter the code \x1b[2JABC")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "enter the code \\x1b[2JABC\n"
