"""Human renderings of the audit@1 document: a rich table (terminal) and Markdown (the HTML report: cli.ui.audit_html).

All three read the same document the ``--json`` output prints, so they cannot disagree with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from taxcalc_consent.cli.ui.console import err, literal_row
from taxcalc_consent.cli.ui.render import client_words, experience_text
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER


def _sp_text(sp: dict[str, Any]) -> str:
    if not sp["exists"]:
        return "missing"
    enabled = "enabled" if sp["enabled"] else "disabled"
    required = "assignment required" if sp["assignment_required"] else "any user may sign in"
    # Found in the tenant: apply takes it over changing only whether it requires assignment.
    return f"{sp['object_id']} ({enabled}; {required}; the tool changes only whether it requires assignment)"


def _consent_text(tenant: dict[str, Any]) -> str:
    consent = tenant["user_consent"]
    text = str(consent["setting"])
    if consent["setting"] == "custom":
        text += " (" + ", ".join(consent["policies"]) + ")"
    workflow = "on" if tenant["admin_consent_workflow"] else "off"
    return f"{text}; admin consent workflow {workflow}"


def _kept_text(tenant: dict[str, Any]) -> str:
    """The workflow's properties the file leaves out, as the tenant holds them (apply keeps them); "" if none."""
    return "; ".join(f"{kept['setting']}: {kept['value']}" for kept in tenant["admin_consent_workflow_kept"])


def _who(grant: dict[str, Any]) -> str:
    return EVERY_USER if grant["consent_type"] == "AllPrincipals" else str(grant["principal"])


def _automation_text(automation: Mapping[str, Any]) -> str:
    """What the MSP's automation identity holds, beside what the file needs of it (connect's work)."""
    if not automation["present"]:
        return "not in this tenant: run connect (or the admin-consent URL it prints)"
    held = ", ".join(automation["application_permissions"]) or "no Microsoft Graph application permission"
    parts = [held]
    if automation["missing"]:
        parts.append(f"missing: {', '.join(automation['missing'])}")
    if automation["beyond_needed"]:
        parts.append(f"beyond what the file needs: {', '.join(automation['beyond_needed'])} (connect narrows it)")
    return "; ".join(parts)


def render_table(document: Mapping[str, Any]) -> None:
    for tenant in document["tenants"]:
        title = Text.assemble((tenant["tenant"], "bold"), client_words(tenant.get("name"), tenant.get("domain")))
        title.append(f"  tenant {tenant['tenant_id']}")
        if "error" in tenant:
            err.print(title)
            err.print(Text(f"  failed: {tenant['error']}", style="red"))
            continue
        table = Table(title=title, title_justify="left", show_header=True)
        table.add_column("what")
        table.add_column("who")
        table.add_column("detail")
        literal_row(table, "service principal", "TaxCalc-Hub", _sp_text(tenant["service_principal"]))
        for grant in tenant["grants"]:
            literal_row(table, "delegated grant", _who(grant), " ".join(grant["scopes"]))
        for role in tenant["app_role_assignments"]:
            literal_row(table, "application permission", "TaxCalc-Hub", role["role"])
        for assignment in tenant["assignments"]:
            literal_row(
                table, "access assignment", f"{assignment['principal_type'].lower()} {assignment['principal']}", ""
            )
        literal_row(table, "user consent", "tenant", _consent_text(tenant))
        automation = tenant.get("automation_identity")
        if automation is not None:
            literal_row(table, "automation identity", automation["client_id"], _automation_text(automation))
        if _kept_text(tenant):
            literal_row(table, "admin consent workflow", "kept as the tenant has it", _kept_text(tenant))
        ux, after = tenant["user_experience"], tenant["after_apply"]
        literal_row(
            table,
            "a user signing in",
            "anyone without a grant",
            experience_text(ux["experience"]),
        )
        literal_row(
            table,
            "once apply has run",
            "anyone without a grant",
            experience_text(after["experience"]),
        )
        for user in ux["users"]:
            seen = experience_text(user["experience"], ux_label(user), refused=user["refused"])
            literal_row(table, "a user signing in", user["principal"], seen)
        err.print(table)
        if tenant["differences"]:
            err.print(f"{len(tenant['differences'])} difference(s) from {tenant['file']}:", markup=False)
            for diff in tenant["differences"]:
                err.print(f"  {difference_line(diff)}", markup=False, highlight=False)
        else:
            err.print(f"no differences from {tenant['file']}", markup=False)


def ux_label(user: dict[str, Any]) -> str:
    return "refused (not assigned)" if user["refused"] else str(user["experience"])


def difference_line(diff: dict[str, Any]) -> str:
    scopes = f" [{' '.join(diff['scopes'])}]" if diff.get("scopes") else ""
    return f"{diff['kind']}: {diff['subject']}: {diff['message']}{scopes}"


# ---------------------------------------------------------------------------------------- Markdown


def _md(value: Any) -> str:
    """Table-cell safe: pipes and newlines would break the row; backslash-escape Markdown punctuation."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for char in "*_`[]<>":
        text = text.replace(char, "\\" + char)
    return text


def render_markdown(document: Mapping[str, Any]) -> str:
    lines = ["# TaxCalc-Hub consent audit", ""]
    for tenant in document["tenants"]:
        lines += [f"## {_md(tenant['tenant'])} ({_md(tenant['tenant_id'])})", ""]
        if "error" in tenant:
            lines += [f"Audit failed: {_md(tenant['error'])}", ""]
            continue
        ux, after = tenant["user_experience"], tenant["after_apply"]
        lines += [
            f"- Service principal: {_md(_sp_text(tenant['service_principal']))}",
            f"- User consent: {_md(_consent_text(tenant))}",
            *(
                [f"- Admin consent workflow, kept as the tenant has it: {_md(_kept_text(tenant))}"]
                if _kept_text(tenant)
                else []
            ),
            f"- A user without a grant of their own: **{_md(ux['experience'])}** ({_md(ux['reason'])})",
            f"- Once apply has run, a user without a grant of their own: **{_md(after['experience'])}** "
            f"({_md(after['reason'])})",
            "",
            "| grant | scopes |",
            "|---|---|",
        ]
        lines += [f"| {_md(_who(g))} | {_md(' '.join(g['scopes']))} |" for g in tenant["grants"]] or ["| none | |"]
        lines.append("")
        if tenant["app_role_assignments"]:
            roles = ", ".join(_md(r["role"]) for r in tenant["app_role_assignments"])
            lines += [f"Application permissions: {roles}", ""]
        if tenant["assignments"]:
            lines += ["| assigned | type |", "|---|---|"]
            lines += [f"| {_md(a['principal'])} | {_md(a['principal_type'])} |" for a in tenant["assignments"]]
            lines.append("")
        if ux["users"]:
            lines += ["| user | sees | why |", "|---|---|---|"]
            lines += [f"| {_md(u['principal'])} | {_md(ux_label(u))} | {_md(u['reason'])} |" for u in ux["users"]]
            lines.append("")
        if tenant["differences"]:
            lines += [f"### Differences from {_md(tenant['file'])}", ""]
            lines += [f"- {_md(difference_line(d))}" for d in tenant["differences"]]
        else:
            lines.append(f"No differences from {_md(tenant['file'])}.")
        lines.append("")
    return "\n".join(lines)
