"""What an audit means for the client: a summary in counts, and findings ranked by risk, each with what to do.

Pure functions over one tenant's audit@1 entry (and Graph's permission catalog for how risky a scope is), so the
JSON, the terminal and the HTML report a client receives say the same. The words are for a client's reader, not
an engineer: Entra admin centre's names, no object ids, no tool jargon.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from taxcalc_consent.infra.model.audit_documents import AuditFinding, AuditSummary, AuditTenant
from taxcalc_consent.infra.model.catalog import graph_catalog

Risk = Literal["high", "medium", "low"]
RISK_ORDER: dict[Risk, int] = {"high": 0, "medium": 1, "low": 2}

APPLY = "Your IT provider applies the reviewed consent file for this tenant (taxcalc-consent apply)."


def summarise(tenant: AuditTenant) -> AuditSummary:
    """Counts a client can read in one line: who will be asked for what, and how many items there are to fix."""
    users = tenant["user_experience"]["users"]
    refused = sum(1 for u in users if u["refused"])
    no_prompt = sum(1 for u in users if not u["refused"] and u["experience"] == "no prompt")
    return {
        "users": len(users),
        "no_prompt": no_prompt,
        "prompted": len(users) - no_prompt - refused,
        "refused": refused,
        "to_fix": len(tenant["differences"]),
        "findings": len(rank(tenant)),
    }


def rank(tenant: AuditTenant) -> list[AuditFinding]:
    """Every finding, riskiest first (then in the order found)."""
    found = [*_consent_setting(tenant), *_service_principal(tenant), *_beyond_the_file(tenant), *_grants(tenant)]
    found += _differences(tenant)
    return sorted(found, key=lambda f: RISK_ORDER[f["risk"]])


def _finding(risk: Risk, title: str, detail: str, next_step: str) -> AuditFinding:
    return {"risk": risk, "title": title, "detail": detail, "next_step": next_step}


def _consent_setting(tenant: AuditTenant) -> list[AuditFinding]:
    consent = tenant["user_consent"]
    setting, label = consent["setting"], consent["label"]
    if setting == "all":
        return [
            _finding(
                "high",
                f"Any user may consent to any application ('{label}')",
                "Every user can give any application, from any publisher, access to their mailbox and files "
                "without an administrator seeing it. Microsoft recommends against this setting.",
                "In Entra admin centre > Enterprise applications > Consent and permissions, choose 'Allow user "
                "consent for apps from verified publishers, for selected permissions' or 'Do not allow user "
                "consent'; TaxCalc keeps working, because its consent is granted in advance.",
            )
        ]
    if setting == "custom":
        return [
            _finding(
                "medium",
                "A custom user consent policy is in force",
                f"Users consent under the tenant's own policies ({', '.join(consent['policies']) or 'none named'}).",
                "Ask your IT provider to review which applications users may consent to.",
            )
        ]
    return []


def _service_principal(tenant: AuditTenant) -> list[AuditFinding]:
    sp = tenant["service_principal"]
    if sp["exists"] and sp["enabled"] is False:
        return [
            _finding(
                "high",
                "TaxCalc-Hub is turned off in this tenant",
                "An administrator set 'Enabled for users to sign in?' to No: nobody can connect a mailbox to TaxCalc.",
                "If that was not intended, turn it back on in Enterprise applications > TaxCalc-Hub > Properties.",
            )
        ]
    if sp["exists"] and sp["assignment_required"] is False and _tenant_wide(tenant):
        return [
            _finding(
                "medium",
                "Every user may sign in to TaxCalc-Hub",
                "Assignment is not required and consent is tenant-wide, so any user in the tenant can connect their "
                "mailbox, including users added later.",
                "If only some mailboxes should send from TaxCalc, ask your IT provider to consent per mailbox and "
                "require assignment.",
            )
        ]
    return []


def _tenant_wide(tenant: AuditTenant) -> bool:
    return any(g["consent_type"] == "AllPrincipals" for g in tenant["grants"])


def _beyond_the_file(tenant: AuditTenant) -> list[AuditFinding]:
    """Access held beyond what the reviewed file grants: riskier the more the extra scopes allow."""
    out: list[AuditFinding] = []
    for difference in tenant["differences"]:
        if difference["kind"] not in ("scopes-extra", "unlisted-consent", "app-role-extra"):
            continue
        extra = list(difference.get("scopes") or [])
        risky = _impactful(extra)
        who = difference["subject"]
        if difference["kind"] == "app-role-extra":
            title = f"TaxCalc-Hub holds an application permission beyond the file: {who}"
            risk: Risk = "high"
            # adopt leaves it out and apply leaves it as it is (infra.adopt): only a person removes it.
            step = (
                "Ask your IT provider whether TaxCalc needs it; if not, remove it in Entra admin centre > "
                "Enterprise applications > TaxCalc-Hub > Permissions."
            )
        elif difference["kind"] == "unlisted-consent":
            title = f"{who} consented to TaxCalc-Hub outside the reviewed file"
            risk = "high" if risky else "medium"
            # Consent the file does not list is left alone by apply (tests/engine/test_adoption.py).
            step = (
                "If this user should not send from TaxCalc, remove their consent in Entra admin centre > "
                "Enterprise applications > TaxCalc-Hub > Permissions; otherwise ask your IT provider to add them to "
                "the consent file."
            )
        else:
            title = f"{who} holds more than the file grants: {', '.join(extra)}"
            risk = "high" if risky else "medium"
            step = APPLY + " It narrows the consent to what the file grants."
        detail = difference["message"]
        if risky:
            detail += f"; these reach mail or files: {', '.join(risky)}"
        out.append(_finding(risk, title, detail, step))
    return out


def _grants(tenant: AuditTenant) -> list[AuditFinding]:
    """Mail or file scopes held tenant-wide, even where the file asks for them: worth a reader's attention."""
    for grant in tenant["grants"]:
        risky = _impactful(grant["scopes"])
        if grant["consent_type"] == "AllPrincipals" and risky:
            return [
                _finding(
                    "low",
                    f"Every user's consent includes permissions that reach mail or files: {', '.join(risky)}",
                    "TaxCalc-Hub may use these for any user in the tenant who connects a mailbox.",
                    "Confirm that every user should be able to send from TaxCalc; otherwise consent per mailbox.",
                )
            ]
    return []


_ACTIONS = {
    "service-principal-missing": ("medium", "TaxCalc-Hub is not set up in this tenant yet"),
    "grant-missing": ("medium", "A mailbox the file lists has no consent yet"),
    "scopes-missing": ("medium", "A consent lacks permissions TaxCalc needs: that user will see a prompt"),
    "app-role-missing": ("medium", "An application permission the file grants is missing"),
    "assignment-required": ("medium", "Whether users must be assigned differs from the file"),
    "user-not-found": ("medium", "The file names a user the tenant does not have"),
    "group-not-found": ("medium", "The file names a group the tenant does not have"),
    "principal-not-found": ("medium", "The file names someone the tenant does not have"),
    "reviewer-not-found": ("medium", "The file names an approver the tenant does not have"),
    "assignment-extra": ("low", "Someone is assigned to TaxCalc-Hub who is not in the file"),
}


def _differences(tenant: AuditTenant) -> list[AuditFinding]:
    out: list[AuditFinding] = []
    for difference in tenant["differences"]:
        known = _ACTIONS.get(difference["kind"])
        if known is None:
            continue
        risk, title = known
        if difference["kind"].endswith("-not-found"):
            step = "Ask your IT provider to correct the name in the consent file, or add the account in the tenant."
        elif difference["kind"] == "assignment-extra":
            # apply leaves assignments the file does not list (not adopted, never removed).
            step = (
                "If this person should not use TaxCalc, remove them in Entra admin centre > Enterprise applications "
                "> TaxCalc-Hub > Users and groups; otherwise ask your IT provider to add them to the file."
            )
        else:
            step = APPLY
        out.append(_finding(risk, title, f"{difference['subject']}: {difference['message']}", step))  # type: ignore[arg-type]
    return out


def _impactful(scopes: Iterable[str]) -> list[str]:
    """The scopes Graph's catalog rates medium or high (mail, files, the directory), in name order."""
    catalog = graph_catalog()
    return sorted(s for s in scopes if (p := catalog.get("delegated", s)) is not None and p.risk != "low")
