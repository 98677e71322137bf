"""`taxcalc-consent audit` over real HTTP against the local Graph emulator."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.model.consent_settings import UserConsent, classify_user_consent, predict_experience
from tests.conftest import CLIENT_ID
from tests.documents import parse_document
from tests.fakes import consent_tenants as scenarios
from tests.fakes.entra import DEFAULT_ROLE_ID, FakeTenant
from tests.fakes.graph_emulator import Caller, GraphEmulator, serve

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def graph_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "emulator-token")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding tenants/ (with _defaults.yaml); the current directory, so paths are stable."""
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fabrikam(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Iterator[GraphEmulator]:
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.fabrikam_partly_consented()
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        yield emulator


@pytest.fixture
def contoso(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Iterator[GraphEmulator]:
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.contoso_hand_consented()
    scenarios.write_tenant_file(workdir / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        yield emulator


def run_audit(emulator: GraphEmulator, *args: str) -> Result:
    return CliRunner().invoke(app, ["audit", *args, "--graph-endpoint", emulator.base_url])


def audit_json(emulator: GraphEmulator, *args: str) -> tuple[int, dict[str, object]]:
    result = run_audit(emulator, "tenants", "--json", *args)
    return result.exit_code, parse_document(result.stdout)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: review, then UPDATE_GOLDEN=1 to accept"


# ------------------------------------------------------------------------------------------ reports


def test_audit_json_matches_the_golden_file(fabrikam: GraphEmulator) -> None:
    result = run_audit(fabrikam, "tenants", "--json")
    assert result.exit_code == 3, result.output
    check_golden("audit-fabrikam.json", result.stdout)
    assert fabrikam.writes() == []


def test_audit_json_shape(fabrikam: GraphEmulator) -> None:
    _, document = audit_json(fabrikam)
    assert document["format"] == "taxcalc-consent/audit@1"
    (tenant,) = document["tenants"]  # type: ignore[misc]
    assert {
        "tenant",
        "tenant_id",
        "service_principal",
        "grants",
        "app_role_assignments",
        "assignments",
        "user_consent",
        "admin_consent_workflow",
        "user_experience",
        "differences",
    } <= set(tenant)
    assert set(tenant["service_principal"]) == {"exists", "object_id", "enabled", "assignment_required"}
    assert all(set(g) >= {"id", "consent_type", "principal", "scopes"} for g in tenant["grants"])


def test_users_consented_outside_the_file_and_listed_users_without_grant(fabrikam: GraphEmulator) -> None:
    code, document = audit_json(fabrikam)
    assert code == 3
    tenant = document["tenants"][0]  # type: ignore[index]
    kinds = {(d["kind"], d["subject"]) for d in tenant["differences"]}
    assert ("unlisted-consent", "dave@fabrikam.com") in kinds
    assert ("grant-missing", "bob.jones@fabrikam.com") in kinds
    assert ("scopes-missing", "alice.smith@fabrikam.com") in kinds
    # erin is in the file through the group, so her grant is not "unlisted".
    assert not any(d["subject"] == "erin@fabrikam.com" for d in tenant["differences"])
    assert tenant["user_consent"] == {"setting": "disabled", "label": "Do not allow user consent", "policies": []}
    assert tenant["admin_consent_workflow"] is True
    seen = {u["principal"]: (u["experience"], u["refused"]) for u in tenant["user_experience"]["users"]}
    assert seen["alice.smith@fabrikam.com"] == ("admin approval required", False)
    assert seen["erin@fabrikam.com"] == ("no prompt", False)  # assigned through the group
    assert seen["bob.jones@fabrikam.com"][1] is True  # assignment required, not assigned


def test_hand_granted_consent_with_extra_scopes(contoso: GraphEmulator) -> None:
    code, document = audit_json(contoso)
    assert code == 3
    tenant = document["tenants"][0]  # type: ignore[index]
    tenant_wide = next(g for g in tenant["grants"] if g["consent_type"] == "AllPrincipals")
    assert "Mail.ReadWrite" in tenant_wide["scopes"]
    assert tenant_wide["principal"] is None
    differences = {d["kind"]: d for d in tenant["differences"]}
    assert differences["scopes-extra"]["scopes"] == ["Mail.ReadWrite"]
    assert differences["unlisted-consent"]["subject"] == "carol@contoso.co.uk"
    assert tenant["user_experience"]["experience"] == "no prompt"
    assert tenant["user_consent"]["setting"] == "all"


def test_missing_service_principal(workdir: Path) -> None:
    scenarios.write_tenant_file(workdir / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(FakeTenant(scenarios.CONTOSO_ID)) as emulator:
        code, document = audit_json(emulator)
    assert code == 3
    tenant = document["tenants"][0]  # type: ignore[index]
    assert tenant["service_principal"] == {
        "exists": False,
        "object_id": None,
        "enabled": None,
        "assignment_required": None,
    }
    assert tenant["grants"] == []
    assert [d["kind"] for d in tenant["differences"]] == ["service-principal-missing", "grant-missing"]
    # Default user consent (legacy: any permission that needs no admin) lets a user consent for themselves.
    assert tenant["user_experience"]["experience"] == "consent prompt"


def test_a_tenant_that_matches_its_file_exits_0(workdir: Path) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    sp = scenarios.add_taxcalc_hub(tenant)
    tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, scenarios.PROFILE_SCOPE)
    scenarios.write_tenant_file(workdir / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        result = run_audit(emulator, "tenants")
    assert result.exit_code == 0, result.output
    assert "no differences" in result.stderr
    assert "no prompt" in result.stderr


def test_a_disabled_service_principal_is_a_difference_that_says_apply_would_enable_it(workdir: Path) -> None:
    tenant = FakeTenant(scenarios.CONTOSO_ID)
    sp = scenarios.add_taxcalc_hub(tenant)
    sp.account_enabled = False  # an administrator turned sign-in off (Enterprise apps > Properties)
    tenant.create_grant(sp.id, "AllPrincipals", None, tenant.graph.id, scenarios.PROFILE_SCOPE)
    scenarios.write_tenant_file(workdir / "tenants", "contoso", scenarios.CONTOSO_FILE)
    with serve(tenant) as emulator:
        code, document = audit_json(emulator)
    assert code == 3
    (tenant_document,) = document["tenants"]  # type: ignore[attr-defined]
    assert tenant_document["service_principal"]["enabled"] is False
    (difference,) = tenant_document["differences"]
    assert difference["kind"] == "service-principal-disabled"
    assert "apply leaves it as it is" in difference["message"]


def test_throttled_audit_retries_and_completes(contoso: GraphEmulator) -> None:
    contoso.throttle("/oauth2PermissionGrants", times=2, retry_after=0)
    code, document = audit_json(contoso)
    assert code == 3
    assert len(document["tenants"][0]["grants"]) == 2  # type: ignore[index]
    assert len([r for r in contoso.requests if r.path == "/oauth2PermissionGrants"]) == 3


def test_graph_failure_for_one_tenant_and_the_others_still_run(contoso: GraphEmulator, workdir: Path) -> None:
    # Same emulator for both files: the first tenant's reads are throttled past every retry, so the
    # tenants must be read one after the other for "first" to mean the first file.
    scenarios.write_tenant_file(workdir / "tenants", "a-first", scenarios.CONTOSO_FILE.replace("6e2b", "7e2b"))
    contoso.throttle("/policies/authorizationPolicy", times=6, retry_after=0)
    result = run_audit(contoso, "tenants", "--json", "--parallel", "1")
    assert result.exit_code == 1
    document = parse_document(result.stdout)
    first, second = document["tenants"]
    assert first["tenant"] == "a-first"
    assert "429 TooManyRequests" in first["error"] and "request-id" in first["error"]
    assert second["tenant"] == "contoso" and second["differences"]
    assert "1 failed" in result.stderr


def test_parallel_reads_give_the_document_of_sequential_reads(contoso: GraphEmulator, workdir: Path) -> None:
    for index in range(5):
        tenant_file = scenarios.CONTOSO_FILE.replace("6e2b", f"{index}e2b")
        scenarios.write_tenant_file(workdir / "tenants", f"copy-{index}", tenant_file)
    sequential = run_audit(contoso, "tenants", "--json", "--parallel", "1")
    parallel = run_audit(contoso, "tenants", "--json", "--parallel", "4")
    assert sequential.exit_code == parallel.exit_code == 3
    assert len(parse_document(parallel.stdout)["tenants"]) == 6
    assert parallel.stdout == sequential.stdout


def test_one_connection_pool_per_run_each_tenant_with_its_own_token(
    contoso: GraphEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(3):
        tenant_file = scenarios.CONTOSO_FILE.replace("6e2b", f"{index}e2b")
        scenarios.write_tenant_file(workdir / "tenants", f"copy-{index}", tenant_file)
    opened: list[httpx.Client] = []
    real_init = httpx.Client.__init__

    def counting_init(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", counting_init)
    monkeypatch.setattr(graph, "token_source", lambda tenant_id, *_, **__: lambda: f"token-for-{tenant_id}")
    result = run_audit(contoso, "tenants", "--json", "--parallel", "2")
    assert result.exit_code == 3, result.output
    assert len(opened) == 1 and opened[0].is_closed
    tokens = Counter(r.headers["authorization"] for r in contoso.requests if not r.in_batch)
    # Four tenants, each read with its own token only, as many requests each.
    assert len(tokens) == 4 and len(set(tokens.values())) == 1
    assert set(tokens) == {f"Bearer token-for-{i}e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b" for i in ("0", "1", "2", "6")}


def test_markdown_report_on_stdout(contoso: GraphEmulator) -> None:
    result = run_audit(contoso, "tenants", "--format", "md")
    assert result.exit_code == 3
    assert result.stdout.startswith("# TaxCalc-Hub consent audit")
    assert "scopes-extra: every user (AllPrincipals)" in result.stdout


def test_html_report_is_a_folder_of_self_contained_escaped_pages(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.fabrikam_partly_consented()
        hostile = tenant.add_group('<script>alert("x")</script>')
        sp = tenant.service_principal_by_app_id(CLIENT_ID)
        assert sp is not None
        tenant.create_app_role_assignment(hostile.id, sp.id, DEFAULT_ROLE_ID)
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        refused = run_audit(emulator, "tenants", "--format", "html", "--out", "report.html")
        assert refused.exit_code == 2 and "writes a folder" in refused.stderr and emulator.requests == []
        assert run_audit(emulator, "tenants", "--format", "html").exit_code == 2, "a folder must be named"
        result = run_audit(emulator, "tenants", "--format", "html", "--out", "report")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert sorted(p.name for p in (workdir / "report").iterdir()) == ["fabrikam.html", "index.html"]
    for page_file in (workdir / "report").iterdir():
        page = page_file.read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        assert "<script" not in page
        assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    page = (workdir / "report" / "fabrikam.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "@media print" in page


def test_markdown_golden_is_the_sample_in_the_docs(fabrikam: GraphEmulator) -> None:
    result = run_audit(fabrikam, "tenants", "--format", "md")
    check_golden("audit-fabrikam.md", result.stdout)
    docs = (Path(__file__).parent.parent / "docs" / "audit.md").read_text(encoding="utf-8")
    assert result.stdout.strip() in docs, "docs/audit.md must show the report the emulator produces"


def test_invalid_input_exits_2_and_reads_nothing(contoso: GraphEmulator, workdir: Path) -> None:
    (workdir / "tenants" / "broken.yaml").write_text("tenant:\n  id: nope\nconsent:\n  mode: organization\n")
    result = run_audit(contoso, "tenants")
    assert result.exit_code == 2
    assert "broken.yaml:2:" in result.stderr
    assert contoso.requests == []


def test_bad_options_exit_2(contoso: GraphEmulator) -> None:
    assert run_audit(contoso, "tenants", "--format", "pdf").exit_code == 2
    assert CliRunner().invoke(app, ["audit", "tenants", "--graph-endpoint", "http://graph.example.com"]).exit_code == 2
    assert contoso.requests == []


@pytest.mark.parametrize("command", ["audit", "adopt"])
@pytest.mark.parametrize(
    "endpoint",
    ["https://graph.example.com:abc", "https://[::1", "https://graph.example.com:99999", "https://ho st", ""],
)
def test_a_malformed_graph_endpoint_is_a_usage_error(contoso: GraphEmulator, command: str, endpoint: str) -> None:
    """A mistyped --graph-endpoint is the user's to fix: one line naming the option, exit 2, no traceback,
    nothing read (an empty one is not silently the public cloud's Graph)."""
    result = CliRunner().invoke(app, [command, "tenants", "--graph-endpoint", endpoint])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: --graph-endpoint"), result.stderr
    assert "Traceback" not in result.output
    assert contoso.requests == []


# --------------------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("assigned", "setting", "policies"),
    [
        (["ManagePermissionGrantsForOwnedResource.DeveloperConsent"], "disabled", []),
        ([], "disabled", []),
        (
            [
                "ManagePermissionGrantsForSelf.microsoft-user-default-low",
                "ManagePermissionGrantsForOwnedResource.DeveloperConsent",
            ],
            "verified-publishers-low-impact",
            ["microsoft-user-default-low"],
        ),
        (["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"], "all", ["microsoft-user-default-legacy"]),
        (["ManagePermissionGrantsForSelf.contoso-finance-apps"], "custom", ["contoso-finance-apps"]),
        # Graph's own examples write the prefix as managePermissionGrantsForSelf. (configure-user-consent).
        (["managePermissionGrantsForSelf.microsoft-user-default-legacy"], "all", ["microsoft-user-default-legacy"]),
        (["MANAGEPERMISSIONGRANTSFORSELF.Microsoft-User-Default-Low"], "verified-publishers-low-impact", None),
        # "Let Microsoft manage your consent settings", as tenants report it (with allow-consent-apps beside it).
        (
            [
                "ManagePermissionGrantsForSelf.microsoft-user-default-recommended",
                "ManagePermissionGrantsForSelf.microsoft-user-default-allow-consent-apps",
                "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team",
            ],
            "microsoft-managed",
            ["microsoft-user-default-recommended", "microsoft-user-default-allow-consent-apps"],
        ),
        (["managePermissionGrantsForSelf.microsoft-user-default-recommended"], "microsoft-managed", None),
    ],
)
def test_user_consent_setting(assigned: list[str], setting: str, policies: list[str] | None) -> None:
    found, ids = classify_user_consent(assigned)
    assert found == setting
    assert ids == (policies if policies is not None else [a.split(".", 1)[1] for a in assigned])


def test_one_missing_scope_brings_the_prompt_back() -> None:
    requested = ("openid", "profile", "email", "offline_access", "User.Read", "Mail.Send")
    assert predict_experience(requested, requested, "disabled", False)[0] == "no prompt"
    assert predict_experience(requested, requested[:-1], "all", False)[0] == "consent prompt"
    assert predict_experience(requested, requested[:-1], "disabled", False)[0] == "admin approval required"
    # Mail.Send is medium impact: low-impact user consent does not cover it.
    assert predict_experience(requested, requested[:-1], "verified-publishers-low-impact", False)[0] == (
        "admin approval required"
    )
    assert predict_experience(requested, requested[1:], "verified-publishers-low-impact", False)[0] == "consent prompt"
    # A scope that needs an admin is never user-consentable, whatever the setting.
    experience, reason = predict_experience(("Mail.Send", "Directory.Read.All"), ("Mail.Send",), "all", True)
    assert experience == "admin approval required"
    assert "Directory.Read.All" in reason and "request approval" in reason


def test_microsoft_managed_consent_is_predicted_like_microsofts_low_risk_rule() -> None:
    requested = ("openid", "profile", "email", "offline_access", "User.Read", "Mail.Send")
    experience, reason = predict_experience(requested, requested[:-1], "microsoft-managed", False)
    assert experience == "admin approval required"
    assert "Mail.Send are not low risk" in reason and "cannot request it" in reason
    experience, reason = predict_experience(requested, requested[1:], "microsoft-managed", True)
    assert experience == "consent prompt" and "Microsoft manages the consent settings" in reason


@pytest.mark.parametrize("consent", ["all", "verified-publishers-low-impact", "microsoft-managed", "disabled"])
def test_with_assignment_required_only_an_administrator_can_consent(consent: UserConsent) -> None:
    # configure-user-consent: apps that require assignment need an administrator's consent, whatever the
    # user consent setting says.
    requested = ("openid", "profile", "User.Read")
    experience, reason = predict_experience(requested, ("openid",), consent, True, assignment_required=True)
    assert experience == "admin approval required"
    assert "requires assignment: an administrator must grant profile, User.Read" in reason
    assert "request approval" in reason
    assert predict_experience(requested, requested, consent, True, assignment_required=True)[0] == "no prompt"


def test_audit_reads_a_lower_case_policy_id_and_predicts_admin_approval_under_assignment(workdir: Path) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    tenant.authorization_policy.permission_grant_policies_assigned = [
        "managePermissionGrantsForSelf.microsoft-user-default-legacy"
    ]
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        _, document = audit_json(emulator)
    entry = document["tenants"][0]  # type: ignore[index]
    assert entry["user_consent"]["setting"] == "all"
    assert entry["user_consent"]["label"] == "Allow user consent for apps"
    # User consent is allowed, but TaxCalc-Hub requires assignment: Alice (assigned, missing scopes) still
    # needs an administrator; before, the audit predicted a consent prompt here.
    alice = next(u for u in entry["user_experience"]["users"] if u["principal"] == "alice.smith@fabrikam.com")
    assert alice["experience"] == "admin approval required"


def test_members_of_a_nested_group_get_no_grant_and_the_audit_says_so(workdir: Path) -> None:
    """One rule: a listed group's direct user members get a grant; members of its nested groups do not,
    just as assignment to a group does not reach them (docs/tenant-file.md)."""
    tenant = scenarios.fabrikam_partly_consented()
    frank = tenant.add_user("frank@fabrikam.com", "Frank Nested")
    partners = tenant.add_group("Partners", [frank.id])
    tenant.group("TaxCalc Mailboxes").members.append(partners.id)
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        _, document = audit_json(emulator)
    entry = document["tenants"][0]  # type: ignore[index]
    # No grant-missing for Frank: the file does not ask for one (before, the audit expanded groups
    # transitively and reported a grant apply would never create).
    assert not any(d["subject"] == "frank@fabrikam.com" for d in entry["differences"])
    frank_sees = next(u for u in entry["user_experience"]["users"] if u["principal"] == "frank@fabrikam.com")
    assert frank_sees["refused"] is True  # the group's assignment does not reach a nested member
    assert frank_sees["reason"].startswith("assignment is required and this user is not assigned")
    assert "in group TaxCalc Mailboxes only through a nested group" in frank_sees["reason"]


def test_a_missing_policy_permission_is_named_and_adopt_does_not_need_it(workdir: Path) -> None:
    """docs/ci.md: audit needs Directory.Read.All and Policy.Read.All; adopt needs Directory.Read.All only."""
    tenant = scenarios.fabrikam_partly_consented()
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    (workdir / "Pulumi.yaml").write_text("name: taxcalc-consent\nruntime: python\n", encoding="utf-8")
    with serve(tenant, caller=Caller(permissions=frozenset({"Directory.Read.All"}))) as emulator:
        result = run_audit(emulator, "tenants")
        adopted = CliRunner().invoke(app, ["adopt", "tenants", "--graph-endpoint", emulator.base_url])
    assert result.exit_code == 1, result.output
    assert "403 Authorization_RequestDenied" in result.stderr
    assert "lacks the Microsoft Graph application permission Policy.Read.All" in result.stderr
    assert "Traceback" not in result.output
    assert adopted.exit_code == 0, adopted.output


def test_a_group_name_that_matches_two_groups_is_reported_not_guessed(workdir: Path) -> None:
    tenant = scenarios.fabrikam_partly_consented()
    tenant.add_group("TaxCalc Mailboxes")
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        _, document = audit_json(emulator)
    differences = document["tenants"][0]["differences"]  # type: ignore[index]
    assert {
        "kind": "group-not-found",
        "subject": "TaxCalc Mailboxes",
        "message": "2 groups have this display name",
    } in differences
    # Erin's grant came only through that group: with the group unresolved it is consent outside the file.
    assert any(d["kind"] == "unlisted-consent" and d["subject"] == "erin@fabrikam.com" for d in differences)


def test_group_names_match_ignoring_case_as_graph_does(fabrikam: GraphEmulator, workdir: Path) -> None:
    # Graph's displayName eq ignores case (terraform-provider-azuread#1345); the file's two spellings are
    # one group, resolved once each and compared by object id.
    text = scenarios.FABRIKAM_FILE.replace(
        "  groups:\n    - TaxCalc Mailboxes\naccess", "  groups:\n    - taxcalc mailboxes\naccess"
    ).replace("  groups:\n    - TaxCalc Mailboxes\n", "  groups:\n    - TAXCALC MAILBOXES\n")
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", text)
    _, document = audit_json(fabrikam)
    differences = document["tenants"][0]["differences"]  # type: ignore[index]
    assert not [d for d in differences if "group" in d["kind"] or "mailboxes" in d["subject"].lower()]
    assert not any(d["subject"] == "erin@fabrikam.com" for d in differences)  # her grant comes from the group


def test_a_missing_group_spelt_two_ways_is_reported_once(fabrikam: GraphEmulator, workdir: Path) -> None:
    text = scenarios.FABRIKAM_FILE.replace(
        "  groups:\n    - TaxCalc Mailboxes\naccess", "  groups:\n    - Ghosts\naccess"
    ).replace("  groups:\n    - TaxCalc Mailboxes\n", "  groups:\n    - ghosts\n")
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", text)
    _, document = audit_json(fabrikam)
    differences = document["tenants"][0]["differences"]  # type: ignore[index]
    assert [d for d in differences if d["subject"].lower() == "ghosts"] == [
        {"kind": "group-not-found", "subject": "Ghosts", "message": "no group has this name or id"}
    ]


def test_a_group_or_user_not_found_offers_the_tenants_near_name(fabrikam: GraphEmulator, workdir: Path) -> None:
    text = scenarios.FABRIKAM_FILE.replace("TaxCalc Mailboxes", "Taxcalc Mailbox").replace(
        "bob.jones@fabrikam.com", "bob.jnes@fabrikam.com"
    )
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", text)
    _, document = audit_json(fabrikam)
    differences = {d["subject"]: d for d in document["tenants"][0]["differences"]}  # type: ignore[index]
    assert differences["Taxcalc Mailbox"]["message"].endswith("; did you mean 'TaxCalc Mailboxes'?")
    assert differences["bob.jnes@fabrikam.com"]["message"].endswith("; did you mean 'bob.jones@fabrikam.com'?")
    near = [r for r in fabrikam.requests if "startswith" in r.query.get("$filter", "")]
    assert near and all(r.query.get("$top") == "100" for r in near), "one page of near names, never the directory"
