"""The HTML audit a client receives, in a real browser: Debian's Chromium, driven headless by Playwright.

Audits run over real HTTP against the Graph emulator; the pages are what ``audit --format html --out DIR``
writes. Each test keeps what a person would look at (a screenshot and a printed PDF of every page) under
``build/browser-tests/<test name>/`` (or ``$TAXCALC_BROWSER_ARTIFACTS``). Without a Chromium the tests skip,
naming why; with ``CI=true`` they fail instead (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.commands.audit import write_report
from taxcalc_consent.cli.main import app
from taxcalc_consent.cli.ui.audit_html import INDEX
from tests.conftest import CLIENT_ID
from tests.documents import parse_document
from tests.fakes import consent_tenants as scenarios
from tests.fakes.graph_emulator import GraphEmulator, serve

ARTIFACTS = Path(
    os.environ.get("TAXCALC_BROWSER_ARTIFACTS") or Path(__file__).parent.parent / "build" / "browser-tests"
)
HOSTILE_NAME = '<img src=x onerror="document.title=1">Bluebell & <b>Co</b>'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and no Chromium on PATH (.ci/run installs Debian's chromium)", pytrace=False)
        pytest.skip("no Chromium on PATH: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAXCALC_CONSENT_GRAPH_TOKEN", "emulator-token")
    return tmp_path


def audit(emulator: GraphEmulator, *args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(app, ["audit", "tenants", "--graph-endpoint", emulator.base_url, *args])
    return result.exit_code, parse_document(result.stdout) if "--json" in args else {}, result.stderr


def visit(browser: Any, page_file: Path, artifacts: Path) -> Any:
    """Open a page as a person would (a file:// URL); fail on any console error; keep its screenshot and PDF."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith("file:") else problems.append(request.url))
    page.goto(page_file.resolve().as_uri())
    page.wait_for_load_state("load")
    stem = page_file.stem
    page.screenshot(path=str(artifacts / f"{stem}.png"), full_page=True)
    page.emulate_media(media="print")
    page.pdf(path=str(artifacts / f"{stem}.pdf"), format="A4")
    page.emulate_media(media="screen")
    assert problems == [], f"{page_file.name}: console errors or requests beyond the file: {problems}"
    return page


def count(page: Any, name: str) -> int:
    return int(page.inner_text(f'[data-count="{name}"]'))


def test_each_client_page_shows_its_name_date_and_the_summary_the_json_gives(
    browser: Any, artifacts: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three clients audited separately (a token serves one tenant), one of them unreadable, reported as one
    fleet: an index and a page per client, as ``audit --format html`` writes them."""
    documents = []
    with scenarios.deterministic_ids(monkeypatch):
        fabrikam, contoso = scenarios.fabrikam_partly_consented(), scenarios.contoso_hand_consented()
    for tenant, stem, text in (
        (fabrikam, "fabrikam", scenarios.FABRIKAM_FILE.replace("Partners\n", "Partners\n  domain: fabrikam.com\n", 1)),
        (contoso, "contoso", scenarios.CONTOSO_FILE.replace("Contoso Accountants LLP", HOSTILE_NAME.replace('"', "'"))),
    ):
        folder = workdir / "tenants"
        for old in folder.glob("*.yaml"):
            if old.name != "_defaults.yaml":
                old.unlink()
        scenarios.write_tenant_file(folder, stem, text)
        with serve(tenant) as emulator:
            if stem == "contoso":
                # Graph refuses the audit's reads for this client: the tenant cannot be read.
                emulator.grant_only("User.Read.All")
            code, document, _ = audit(emulator, "--json")
            assert code == (1 if stem == "contoso" else 3)
        documents.append(document)
    fleet = {"format": documents[0]["format"], "tenants": [t for d in documents for t in d["tenants"]]}
    report = workdir / "report"
    write_report(report, fleet, "Bluebell IT Services")  # type: ignore[arg-type]

    index = visit(browser, report / INDEX, artifacts)
    assert count(index, "clients") == 2 and count(index, "failed") == 1 and count(index, "differing") == 1
    assert "Prepared by Bluebell IT Services" in index.inner_text("body")
    assert "could not be read" in index.inner_text('[data-tenant="contoso"]')

    (readable,) = [t for t in fleet["tenants"] if "error" not in t]
    page = visit(browser, report / "fabrikam.html", artifacts)
    body = page.inner_text("body")
    assert readable["name"] == "Fabrikam Tax Partners" and "Fabrikam Tax Partners" in page.inner_text("h1")
    assert readable["domain"] == "fabrikam.com" and "fabrikam.com" in body
    assert "Prepared by Bluebell IT Services on" in body and " 20" in body, "a date"
    summary = readable["summary"]
    assert count(page, "asked") == summary["prompted"] + summary["refused"]
    assert count(page, "users") == summary["users"] and count(page, "to_fix") == summary["to_fix"]
    assert count(page, "findings") == len(readable["findings"])
    assert count(page, "high") == sum(1 for f in readable["findings"] if f["risk"] == "high")
    risks = [row.get_attribute("data-risk") for row in page.query_selector_all("tr[data-risk]")]
    assert risks == sorted(risks, key=["high", "medium", "low"].index), "riskiest first"
    assert "What to do next" in body and "What each user will see" in body

    failed = visit(browser, report / "contoso.html", artifacts)
    assert failed.query_selector('[data-status="failed"]') is not None
    assert "could not be read" in failed.inner_text(".failed-banner")
    # The hostile name is text, not markup: no image element, the title untouched, the characters shown.
    assert failed.query_selector("img") is None and failed.query_selector("h1 b") is None
    assert "<img src=x" in failed.inner_text("h1")
    assert failed.title().startswith("TaxCalc consent audit")


def test_the_command_writes_the_folder_and_a_run_that_reads_nothing_writes_no_report(
    browser: Any, artifacts: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scenarios.deterministic_ids(monkeypatch):
        tenant = scenarios.fabrikam_partly_consented()
    scenarios.write_tenant_file(workdir / "tenants", "fabrikam", scenarios.FABRIKAM_FILE)
    with serve(tenant) as emulator:
        code, document, stderr = audit(
            emulator, "--format", "html", "--out", "report", "--prepared-by", "Bluebell IT", "--json"
        )
        assert code == 3, stderr
        page = visit(browser, workdir / "report" / "fabrikam.html", artifacts)
        (entry,) = document["tenants"]
        assert count(page, "to_fix") == entry["summary"]["to_fix"] == len(entry["differences"])
        assert sorted(p.name for p in (workdir / "report").iterdir()) == ["fabrikam.html", INDEX]

        emulator.grant_only("User.Read.All")
        code, _, stderr = audit(emulator, "--format", "html", "--out", "empty-report")
    assert code == 1
    assert not (workdir / "empty-report").exists(), "no tenant could be read: no report"
    assert "no tenant could be read, so no report was written" in stderr
