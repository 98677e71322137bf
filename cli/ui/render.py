"""Human renderings of core results (rich tables on stderr). The core never imports this."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from taxcalc_consent.cli.ui.console import err, literal_row
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.model.consent_settings import USER_CONSENT_LABELS
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER
from taxcalc_consent.infra.model.plan import ConsentPlan, predict_users
from taxcalc_consent.infra.model.role_table import needs

_RESOURCE_NAMES = {GRAPH_APP_ID: "Microsoft Graph"}

EXPERIENCE_STYLE = {
    "no prompt": "green",
    "consent prompt": "yellow",
    "admin approval required": "red",
    "unknown": "yellow",
}
"""One colour per outcome, for plan and audit alike (a terminal only: rich writes none to a pipe or with NO_COLOR)."""
REFUSED_STYLE = "red"


def experience_text(experience: str, label: str | None = None, *, refused: bool = False) -> Text:
    """What a user will see, in its colour."""
    return Text(label or experience, style=REFUSED_STYLE if refused else EXPERIENCE_STYLE.get(experience, ""))


def resource_name(app_id: str) -> str:
    return _RESOURCE_NAMES.get(app_id, app_id)


def client_words(name: str | None, domain: str | None) -> str:
    """The client as people know it, after the file stem: ``  Contoso Accountants LLP (contoso.com)``."""
    shown = " ".join(part for part in (name, f"({domain})" if domain else None) if part)
    return f"  {shown}" if shown else ""


def render_plan(plan: ConsentPlan) -> None:
    app = plan.app
    client = "registered here, id assigned by Entra" if app.register else app.client_id
    title = Text.assemble((plan.tenant, "bold"), client_words(plan.tenant_name, plan.tenant_domain))
    title.append(f"  {plan.file}  tenant {plan.tenant_id}")
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    # Fold rather than truncate: a clipped UPN or scope in a CI log would hide what is being granted.
    for header in ("resource", "who", "what"):
        table.add_column(header, overflow="fold")
    if app.register:
        uris = ", ".join(app.redirect_uris) or "no redirect URIs"
        literal_row(table, "app registration", app.display_name, f"multi-tenant; {uris}")
    required = "assignment required" if plan.service_principal.assignment_required else "any user may sign in"
    literal_row(table, "service principal", f"{app.display_name} ({client})", f"create or adopt; {required}")
    for grant in plan.grants:
        who = EVERY_USER if grant.principal is None else grant.principal
        literal_row(table, f"delegated grant on {resource_name(grant.resource_app_id)}", who, " ".join(grant.scopes))
    for group_grant in plan.group_grants:
        literal_row(
            table,
            f"delegated grants on {resource_name(group_grant.resource_app_id)}",
            f"each user member of group {group_grant.group}",
            " ".join(group_grant.scopes),
        )
    for role in plan.app_role_assignments:
        literal_row(
            table, f"application permission on {resource_name(role.resource_app_id)}", app.display_name, role.role
        )
    for assignment in plan.assignments:
        literal_row(
            table, "access assignment", f"{assignment.principal_type.lower()} {assignment.principal}", "default role"
        )
    settings = plan.consent_settings
    if settings.user_consent is not None:
        literal_row(
            table, "user consent setting (tenant-wide)", "every app", USER_CONSENT_LABELS[settings.user_consent]
        )
    workflow = settings.admin_consent_workflow
    if workflow is not None:
        # A key the file leaves out is kept as the tenant has it (the tool reads the policy and merges).
        kept = "kept as the tenant has it"
        if workflow.reviewers is None:
            reviewers = "reviewers kept as the tenant has them"
        else:
            reviewers = ", ".join(f"{r.reviewer_type} {r.reference}" for r in workflow.reviewers) or "no reviewers"

        def yes_no(value: bool | None) -> str:
            return kept if value is None else "yes" if value else "no"

        days = workflow.request_duration_in_days
        literal_row(
            table,
            "admin consent workflow (tenant-wide)",
            reviewers,
            f"{'on' if workflow.enabled else 'off'}; notify reviewers: {yes_no(workflow.notify_reviewers)}; "
            f"reminders: {yes_no(workflow.reminders)}; requests expire after: "
            f"{kept if days is None else f'{days} days'}",
        )
    err.print(table)
    err.print("what users will see at sign-in once this is applied:", markup=False, highlight=False)
    for seen in predict_users(plan):
        verdict = experience_text(seen.experience, "refused at sign-in" if seen.refused else None, refused=seen.refused)
        err.print(Text.assemble("  ", (seen.principal, "bold"), ": ", verdict, f" ({seen.reason})"))
    needed = needs(plan)
    err.print("who may apply it:", markup=False, highlight=False)
    err.print(
        Text.assemble(
            "  an engineer's GDAP sign-in, with the directory roles: ",
            (", ".join(r.name for r in needed.roles), "bold"),
        )
    )
    err.print(
        Text.assemble(
            "  the automation identity, with the Microsoft Graph application permissions: ",
            (", ".join(needed.application_permissions), "bold"),
        )
    )
    for violation in plan.violations:
        style = "red" if violation.severity == "mandatory" else "yellow"
        err.print(Text.assemble((f"{violation.severity} ", style), (violation.rule, "bold"), f": {violation.message}"))
