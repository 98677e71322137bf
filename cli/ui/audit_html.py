"""The audit as an MSP hands it to its clients: one HTML page per client and an index page for the fleet.

Each page stands alone (inline CSS with a print stylesheet, no script, nothing fetched), so it can be e-mailed,
opened from a file share, or printed to PDF from any browser. It reads the audit@1 document, so it says what
``--json`` says: the summary counts and ranked findings come from ``infra.model.findings``. Every value from a tenant
file or from Graph is escaped; none is markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER

INDEX = "index.html"
RISK_WORDS = {"high": "High risk", "medium": "Medium risk", "low": "Low risk"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

_CSS = """
:root{--ink:#1b1b1b;--muted:#5c5c5c;--line:#d0d0d0;--high:#a4262c;--medium:#8a5a00;--low:#2b5797;--ok:#107c10}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;padding:0 1.5rem;
color:var(--ink);max-width:60rem;line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:1px solid var(--line);
padding-bottom:.2rem}
.meta{color:var(--muted);margin:.2rem 0}
.summary{border:1px solid var(--line);border-left:.4rem solid var(--low);padding:.8rem 1rem;margin:1.2rem 0;
background:#f7f9fc}
.summary.attention{border-left-color:var(--high)}.summary.clear{border-left-color:var(--ok)}
.summary p{margin:.2rem 0}.big{font-size:1.15rem;font-weight:600}
.failed-banner{border:2px solid var(--high);color:var(--high);padding:.8rem 1rem;margin:1rem 0;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
td,th{border:1px solid var(--line);padding:.35rem .6rem;text-align:left;vertical-align:top}
td.name{white-space:nowrap}
th{background:#f3f3f3}
.badge{display:inline-block;padding:0 .45rem;border-radius:.3rem;font-size:.85em;font-weight:600;color:#fff;
white-space:nowrap}
.badge.high{background:var(--high)}.badge.medium{background:var(--medium)}.badge.low{background:var(--low)}
.no-prompt{color:var(--ok)}.consent-prompt{color:var(--medium)}.admin-approval-required,.refused,.failed{
color:var(--high)}
ol.steps li{margin:.3rem 0}
code{font-size:.9em;overflow-wrap:anywhere}
footer{margin-top:2.5rem;color:var(--muted);font-size:.85em;border-top:1px solid var(--line);padding-top:.6rem}
@media print{
body{margin:0;max-width:none;padding:0;font-size:10.5pt}
a{color:inherit;text-decoration:none}
.summary,.failed-banner{break-inside:avoid}
h2{break-after:avoid}tr{break-inside:avoid}
.badge{border:1px solid #000;color:#000;background:none!important}
@page{margin:16mm}
}
"""


def _h(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page_name(stem: str, taken: set[str]) -> str:
    """A file name for a client's page: its file stem in safe characters, never the index, never taken twice."""
    base = _UNSAFE_NAME.sub("-", stem).strip(".-") or "tenant"
    name, n = f"{base}.html", 1
    while name in taken or name == INDEX:
        n += 1
        name = f"{base}-{n}.html"
    taken.add(name)
    return name


def client_name(tenant: Mapping[str, Any]) -> str:
    return str(tenant.get("name") or tenant["tenant"])


def render_pages(document: Mapping[str, Any], prepared_by: str, generated_at: datetime) -> dict[str, str]:
    """Every page of the report, by file name: the index first, then one per client in the document's order."""
    taken: set[str] = set()
    names = [page_name(str(t["tenant"]), taken) for t in document["tenants"]]
    when = generated_at.strftime("%d %B %Y, %H:%M %Z").lstrip("0")
    pages = {INDEX: _index(document, names, prepared_by, when)}
    for name, tenant in zip(names, document["tenants"], strict=True):
        pages[name] = _client(tenant, prepared_by, when)
    return pages


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_h(title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            *body,
            "<footer>Prepared with taxcalc-consent from Microsoft Entra ID, read only: nothing in the tenant was "
            "changed to make this report.</footer>",
            "</body></html>",
        ]
    )


def _status(tenant: Mapping[str, Any]) -> tuple[str, str]:
    if "error" in tenant:
        return "failed", "could not be read"
    if tenant["differences"]:
        return "differs", "differs from its consent file"
    return "clear", "as its consent file says"


def _index(document: Mapping[str, Any], names: list[str], prepared_by: str, when: str) -> str:
    tenants = list(document["tenants"])
    failed = sum(1 for t in tenants if "error" in t)
    differing = sum(1 for t in tenants if "error" not in t and t["differences"])
    body = [
        "<h1>TaxCalc consent audit</h1>",
        f'<p class="meta">Prepared by {_h(prepared_by)} on {_h(when)}</p>',
        f'<div class="summary {"attention" if failed or differing else "clear"}">',
        f'<p class="big"><span data-count="clients">{len(tenants)}</span> clients: '
        f'<span data-count="clear">{len(tenants) - failed - differing}</span> as their files say, '
        f'<span data-count="differing">{differing}</span> differ, '
        f'<span data-count="failed">{failed}</span> could not be read.</p></div>',
        "<table><tr><th>client</th><th>domain</th><th>status</th><th>users prompted or refused</th>"
        "<th>items to fix</th></tr>",
    ]
    for name, tenant in zip(names, tenants, strict=True):
        css, words = _status(tenant)
        if "error" in tenant:
            counts = "<td>-</td><td>-</td>"
        else:
            summary = tenant["summary"]
            counts = (
                f"<td>{summary['prompted'] + summary['refused']} of {summary['users']}</td><td>{summary['to_fix']}</td>"
            )
        body.append(
            f'<tr data-tenant="{_h(tenant["tenant"])}"><td><a href="{_h(name)}">{_h(client_name(tenant))}</a></td>'
            f'<td>{_h(tenant.get("domain") or "")}</td><td class="{css}">{_h(words)}</td>{counts}</tr>'
        )
    body.append("</table>")
    return _page("TaxCalc consent audit", body)


def _client(tenant: Mapping[str, Any], prepared_by: str, when: str) -> str:
    name = client_name(tenant)
    where = " · ".join(_h(part) for part in (tenant.get("domain"), f"tenant {tenant['tenant_id']}") if part)
    body = [
        f"<h1>TaxCalc consent audit: {_h(name)}</h1>",
        f'<p class="meta">{where}</p>',
        f'<p class="meta">Prepared by {_h(prepared_by)} on {_h(when)}</p>',
    ]
    if "error" in tenant:
        body += [
            '<div class="failed-banner" data-status="failed">This tenant could not be read, so this page says nothing '
            f"about it. What Microsoft Entra answered: {_h(tenant['error'])}</div>",
            "<p>Your IT provider will run the audit again once it can sign in to the tenant.</p>",
        ]
        return _page(f"TaxCalc consent audit: {name}", body)
    summary, findings = tenant["summary"], tenant["findings"]
    asked = summary["prompted"] + summary["refused"]
    high = sum(1 for f in findings if f["risk"] == "high")
    body += [
        f'<div class="summary {"attention" if asked or findings else "clear"}" data-status="read">',
        f'<p class="big"><span data-count="asked">{asked}</span> of <span data-count="users">{summary["users"]}</span>'
        f" users will see a prompt or be refused when they connect a mailbox; "
        f'<span data-count="to_fix">{summary["to_fix"]}</span> items to fix.</p>',
        f'<p><span data-count="findings">{len(findings)}</span> findings, '
        f'<span data-count="high">{high}</span> of them high risk. '
        f'<span data-count="no_prompt">{summary["no_prompt"]}</span> users connect with no prompt.</p>',
        "</div>",
    ]
    body += _users_section(tenant)
    body += _findings_section(findings)
    body += _details_section(tenant)
    return _page(f"TaxCalc consent audit: {name}", body)


def _users_section(tenant: Mapping[str, Any]) -> list[str]:
    users = tenant["user_experience"]["users"]
    out = ["<h2>What each user will see</h2>"]
    if not users:
        out.append("<p>No user is named by the consent file or holds consent of their own.</p>")
        return out
    out.append("<table><tr><th>user</th><th>sees</th><th>why</th></tr>")
    for user in users:
        label = "refused (not assigned)" if user["refused"] else user["experience"]
        css = "refused" if user["refused"] else str(user["experience"]).replace(" ", "-")
        # A UPN and the outcome are never broken across lines: the reason column takes the rest.
        out.append(
            f'<tr><td class="name">{_h(user["principal"])}</td><td class="name {css}">{_h(label)}</td>'
            f"<td>{_h(user['reason'])}</td></tr>"
        )
    out.append("</table>")
    return out


def _findings_section(findings: list[Mapping[str, Any]]) -> list[str]:
    out = ["<h2>Findings, riskiest first</h2>"]
    if not findings:
        out.append("<p>Nothing to report: the tenant holds what its consent file says.</p>")
        return out
    out.append("<table><tr><th>risk</th><th>finding</th><th>what to do</th></tr>")
    for finding in findings:
        out.append(
            f'<tr data-risk="{_h(finding["risk"])}"><td class="name"><span class="badge {_h(finding["risk"])}">'
            f"{_h(RISK_WORDS[finding['risk']])}</span></td><td><strong>{_h(finding['title'])}</strong><br>"
            f"{_h(finding['detail'])}</td><td>{_h(finding['next_step'])}</td></tr>"
        )
    out.append("</table>")
    steps = list(dict.fromkeys(f["next_step"] for f in findings))
    out.append('<h2>What to do next</h2><ol class="steps">')
    out += [f"<li>{_h(step)}</li>" for step in steps]
    out.append("</ol>")
    return out


def _details_section(tenant: Mapping[str, Any]) -> list[str]:
    sp, consent = tenant["service_principal"], tenant["user_consent"]
    if sp["exists"]:
        state = "turned on" if sp["enabled"] else "turned off"
        required = "only assigned users may sign in" if sp["assignment_required"] else "any user may sign in"
        app = f"set up ({state}; {required})"
    else:
        app = "not set up yet"
    workflow = "on" if tenant["admin_consent_workflow"] else "off"
    out = [
        "<h2>How the tenant is set up today</h2><ul>",
        f"<li>TaxCalc-Hub (Enterprise applications): {_h(app)}</li>",
        f"<li>User consent for applications: {_h(consent['label'])}</li>",
        f"<li>Admin consent requests: {_h(workflow)}</li>",
        # Admin consent settings the consent file leaves out: apply keeps them as they are.
        *(
            f"<li>{_h(kept['setting'])}: {_h(kept['value'])} (the consent file leaves it as the tenant has it)</li>"
            for kept in tenant["admin_consent_workflow_kept"]
        ),
        "</ul>",
        "<table><tr><th>consent held by</th><th>permissions</th></tr>",
    ]
    grants = tenant["grants"]
    out += [
        f"<tr><td>{_h(EVERY_USER if g['consent_type'] == 'AllPrincipals' else g['principal'])}</td>"
        f"<td><code>{_h(' '.join(g['scopes']))}</code></td></tr>"
        for g in grants
    ] or ["<tr><td>nobody</td><td></td></tr>"]
    out.append("</table>")
    if tenant["assignments"]:
        out.append("<table><tr><th>assigned to TaxCalc-Hub</th><th>type</th></tr>")
        out += [
            f"<tr><td>{_h(a['principal'])}</td><td>{_h(str(a['principal_type']).lower())}</td></tr>"
            for a in tenant["assignments"]
        ]
        out.append("</table>")
    return out
