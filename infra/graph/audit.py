"""A tenant's consent posture as Graph reports it, compared with its ConsentPlan.

``snapshot.read_tenant`` gathers what Graph holds for one tenant; ``matching`` resolves the file's wants
against it. Everything here is pure: ``audit_tenant`` turns the snapshot and the plan into the
``taxcalc-consent/audit@1`` document for that tenant. No rendering here: the CLI draws tables,
Markdown and HTML from the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from taxcalc_consent.infra.graph.matching import (
    SP_DISABLED,
    difference,
    expected_grants,
    match_grants,
    role_name,
    wanted_assignments,
)
from taxcalc_consent.infra.graph.snapshot import AutomationIdentityState, TenantSnapshot, UserInfo
from taxcalc_consent.infra.model import findings
from taxcalc_consent.infra.model.audit_documents import (
    AUDIT_FORMAT,
    AuditAutomationIdentity,
    AuditDifference,
    AuditDocument,
    AuditExperience,
    AuditKeptSetting,
    AuditTenant,
    AuditUserExperience,
    FailedTenant,
)
from taxcalc_consent.infra.model.consent_settings import (
    DIRECTORY_ROLES,
    REVIEWER_QUERY_TYPE,
    USER_CONSENT_LABELS,
    UserConsent,
    classify_user_consent,
    describe_reviewer,
    predict_experience,
    reviewer_query,
)
from taxcalc_consent.infra.model.kinds import admin_consent_workflow as workflow_kind
from taxcalc_consent.infra.model.kinds import user_consent_setting
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.profiles import PROFILES
from taxcalc_consent.infra.model.role_table import needs


def _upn(snapshot: TenantSnapshot, object_id: str | None) -> str | None:
    if object_id is None:
        return None
    user = snapshot.users.get(object_id)
    return user.user_principal_name if user else None


def _assigned_user_ids(snapshot: TenantSnapshot) -> set[str]:
    """Users assigned directly or as direct members of an assigned group: assignment to a group does not
    cascade to nested groups (https://learn.microsoft.com/entra/identity/enterprise-apps/assign-user-or-group-access-portal)."""
    ids = {a.principal_id for a in snapshot.assignments if a.principal_type == "User"}
    for a in snapshot.assignments:
        lookup = snapshot.groups.get(a.principal_id) if a.principal_type == "Group" else None
        if lookup and lookup.group:
            ids |= {m.id for m in lookup.group.members}
    return ids


def audit_tenant(plan: ConsentPlan, snapshot: TenantSnapshot) -> AuditTenant:
    """One tenant's entry in the audit@1 document."""
    sp = snapshot.service_principal
    consent, consent_policies = classify_user_consent(snapshot.permission_grant_policies_assigned)
    grants = sorted(snapshot.grants, key=lambda g: (g.consent_type, _upn(snapshot, g.principal_id) or "", g.id))
    document: AuditTenant = {
        "tenant": plan.tenant,
        "file": plan.file,
        "tenant_id": plan.tenant_id,
        "name": plan.tenant_name,
        "domain": plan.tenant_domain,
        "service_principal": {
            "exists": sp is not None,
            "object_id": sp.object_id if sp else None,
            "enabled": sp.enabled if sp else None,
            "assignment_required": sp.assignment_required if sp else None,
        },
        "grants": [
            {
                "id": g.id,
                "consent_type": g.consent_type,
                "principal": _upn(snapshot, g.principal_id) or g.principal_id,
                "principal_id": g.principal_id,
                "scopes": sorted(g.scopes),
            }
            for g in grants
        ],
        "app_role_assignments": [
            {"id": a.id, "role": role_name(a.app_role_id), "app_role_id": a.app_role_id, "resource": "Microsoft Graph"}
            for a in sorted(snapshot.app_role_assignments, key=lambda a: (role_name(a.app_role_id), a.id))
        ],
        "assignments": [
            {
                "id": a.id,
                "principal_type": a.principal_type,
                "principal": _upn(snapshot, a.principal_id) or a.principal_display_name or a.principal_id,
                "principal_id": a.principal_id,
                "app_role_id": a.app_role_id,
            }
            for a in sorted(snapshot.assignments, key=lambda a: (a.principal_type, a.principal_display_name, a.id))
        ],
        "user_consent": {"setting": consent, "label": USER_CONSENT_LABELS[consent], "policies": consent_policies},
        "admin_consent_workflow": snapshot.admin_consent_workflow,
        "admin_consent_workflow_kept": kept_workflow_settings(plan, snapshot),
        "user_experience": _user_experience(plan, snapshot, consent),
        "after_apply": after_apply(plan, snapshot, consent),
        "differences": differences(plan, snapshot),
        "summary": {"users": 0, "no_prompt": 0, "prompted": 0, "refused": 0, "to_fix": 0, "findings": 0},
        "findings": [],
    }
    if snapshot.automation is not None:
        document["automation_identity"] = automation_identity(plan, snapshot.automation)
    document["findings"] = findings.rank(document)
    document["summary"] = findings.summarise(document)
    return document


def automation_identity(plan: ConsentPlan, state: AutomationIdentityState) -> AuditAutomationIdentity:
    """What the automation identity holds here, beside what the file needs of it (reported, not a difference: a
    tenant consented by hand with the wider docs/ci.md set still applies; ``connect`` narrows it)."""
    held = sorted(role_name(role_id) for role_id in state.app_role_ids)
    needed = list(needs(plan).application_permissions)
    return {
        "client_id": state.client_id,
        "present": state.present,
        "application_permissions": held,
        "needed": needed,
        "missing": [p for p in needed if p not in held],
        "beyond_needed": [p for p in held if p not in needed],
    }


def _user_experience(plan: ConsentPlan, snapshot: TenantSnapshot, consent: UserConsent) -> AuditExperience:
    requested = PROFILES[plan.app.profile].scopes
    tenant_wide = next((g.scopes for g in snapshot.grants if g.consent_type == "AllPrincipals"), ())
    sp = snapshot.service_principal
    assignment_required = bool(sp and sp.assignment_required)
    assigned = _assigned_user_ids(snapshot)
    expected, _ = expected_grants(plan, snapshot)
    people: dict[str, UserInfo] = {e.user.id: e.user for e in expected if e.user}
    for g in snapshot.grants:
        if g.principal_id and g.principal_id not in people:
            people[g.principal_id] = snapshot.users.get(g.principal_id) or UserInfo(g.principal_id, "")
    # Members of a listed group who belong only through a nested group get no grant: say so, per user.
    nested_in: dict[str, str] = {}
    for group_grant in plan.group_grants:
        lookup = snapshot.groups.get(group_grant.group)
        for member in lookup.group.nested_members if lookup and lookup.group else ():
            if member.id not in people:
                people[member.id] = member
                nested_in[member.id] = group_grant.group
    # Each user's own grants by one index, not a scan of every grant per user.
    own_scopes: dict[str, list[str]] = {}
    for g in snapshot.grants:
        if g.principal_id:
            own_scopes.setdefault(g.principal_id, []).extend(g.scopes)
    notes = {
        uid: f"in group {group} only through a nested group, so the file gives them no grant "
        "(direct members only, as with assignment)"
        for uid, group in nested_in.items()
    }
    return _experience_document(
        requested,
        tenant_wide,
        consent,
        snapshot.admin_consent_workflow,
        assignment_required,
        [(user, own_scopes.get(user.id, ()), notes.get(user.id)) for user in people.values()],
        assigned,
    )


def _experience_document(
    requested: Sequence[str],
    tenant_wide: Sequence[str],
    consent: UserConsent,
    workflow_on: bool,
    required: bool,
    people: Iterable[tuple[UserInfo, Sequence[str], str | None]],
    assigned: set[str],
) -> AuditExperience:
    """What everyone, and each listed person, sees at sign-in: ``people`` are (user, the scopes of their
    own grants, a note to put first). Said one way for the tenant as it is and as it will be after apply."""
    experience, reason = predict_experience(requested, tenant_wide, consent, workflow_on, required)
    per_user: list[AuditUserExperience] = []
    for user, own, note in sorted(people, key=lambda p: p[0].user_principal_name or p[0].id):
        seen, why = predict_experience(requested, (*tenant_wide, *own), consent, workflow_on, required)
        if note:
            why = f"{note}; {why}"
        refused = required and user.id not in assigned
        if refused:
            why = "assignment is required and this user is not assigned: Entra refuses sign-in (AADSTS50105); " + why
        per_user.append(
            {
                "principal": user.user_principal_name or user.id,
                "principal_id": user.id,
                "experience": seen,
                "refused": refused,
                "reason": why,
            }
        )
    if required:
        reason = "assignment is required: unassigned users are refused sign-in (AADSTS50105); " + reason
    return {
        "requested_scopes": list(requested),
        "experience": experience,
        "reason": reason,
        "assignment_required": required,
        "users": per_user,
    }


def differences(plan: ConsentPlan, snapshot: TenantSnapshot) -> list[AuditDifference]:
    """What differs between the tenant and the file: what apply would change, and what it leaves alone."""
    out: list[AuditDifference] = []
    sp = snapshot.service_principal
    name = plan.app.display_name
    if sp is None:
        why = "the file registers the app; apply creates it" if plan.app.register else "apply creates it"
        out.append(difference("service-principal-missing", name, f"no service principal for {name}; {why}"))
    else:
        if not sp.enabled:
            out.append(difference("service-principal-disabled", name, SP_DISABLED))
        wanted = plan.service_principal.assignment_required
        if sp.assignment_required != wanted:
            out.append(
                difference(
                    "assignment-required",
                    name,
                    f"assignment required is {str(sp.assignment_required).lower()}; "
                    f"the file says {str(wanted).lower()}",
                )
            )
    expected, problems = expected_grants(plan, snapshot)
    out += problems
    matches, unmatched = match_grants(expected, snapshot.grants)
    for match in matches:
        if match.have is None:
            out.append(difference("grant-missing", match.subject, "no grant; apply creates it", match.want.scopes))
            continue
        if match.missing:
            out.append(difference("scopes-missing", match.subject, "granted without these scopes", match.missing))
        if match.extra:
            out.append(difference("scopes-extra", match.subject, "granted scopes the file does not list", match.extra))
    for g in unmatched:
        if g.consent_type == "AllPrincipals":
            out.append(
                difference(
                    "unlisted-consent",
                    EVERY_USER,
                    "tenant-wide consent exists but the file asks for per-user consent",
                    sorted(g.scopes),
                )
            )
        else:
            who = _upn(snapshot, g.principal_id) or str(g.principal_id)
            out.append(
                difference(
                    "unlisted-consent", who, "this user consented; the file does not list them", sorted(g.scopes)
                )
            )
    wanted_roles = {r.role for r in plan.app_role_assignments}
    have_roles = {role_name(a.app_role_id) for a in snapshot.app_role_assignments}
    for role in sorted(wanted_roles - have_roles):
        out.append(difference("app-role-missing", role, "application permission not granted; apply grants it"))
    for role in sorted(have_roles - wanted_roles):
        out.append(difference("app-role-extra", role, "application permission granted that the file does not list"))
    out += _assignment_differences(plan, snapshot)
    out += consent_settings_differences(plan, snapshot)
    return out


TENANT_WIDE = "tenant-wide"


def consent_settings_differences(plan: ConsentPlan, snapshot: TenantSnapshot) -> list[AuditDifference]:
    """The tenant-wide consent settings the file manages, where the tenant holds something else."""
    out: list[AuditDifference] = []
    wanted = plan.consent_settings.user_consent
    live, _ = classify_user_consent(snapshot.permission_grant_policies_assigned)
    if wanted is not None and live != wanted:
        out.append(
            difference(
                "user-consent-setting",
                f"{TENANT_WIDE}: {user_consent_setting.SETTING_WORDS}",
                f"is {user_consent_setting.label(live)}; the file says {user_consent_setting.label(wanted)}; "
                "apply sets it",
            )
        )
    expected, unresolved = expected_workflow(plan, snapshot)
    for ref in unresolved:
        out.append(difference("reviewer-not-found", ref, "a reviewer the file names; not found in the directory"))
    if expected is None:
        return out
    policy = snapshot.admin_consent_request_policy
    # Only the properties the file names: the others are kept as the tenant has them (admin_consent_workflow_kept).
    for name in workflow_kind.changed_fields(policy, {**policy, **expected}):
        out.append(
            difference(
                "admin-consent-workflow",
                f"{TENANT_WIDE}: {workflow_kind.FIELDS[name]}",
                f"is {workflow_kind.value_words(name, policy)}; the file says "
                f"{workflow_kind.value_words(name, expected)}; apply sets it",
            )
        )
    if (
        expected["isEnabled"]
        and "reviewers" not in expected
        and not workflow_kind.reviewer_queries(policy.get("reviewers"))
    ):
        out.append(
            difference(
                "admin-consent-workflow",
                f"{TENANT_WIDE}: {workflow_kind.FIELDS['reviewers']}",
                "none in the tenant, and the file turns the workflow on keeping the tenant's reviewers: requests "
                "would reach nobody, so apply refuses it; name reviewers in the file",
            )
        )
    return out


def kept_workflow_settings(plan: ConsentPlan, snapshot: TenantSnapshot) -> list[AuditKeptSetting]:
    """The admin consent workflow's properties the file leaves out, with what the tenant holds: apply keeps
    them as they are. Empty when the file leaves the whole workflow as it is (or names every property)."""
    expected, _ = expected_workflow(plan, snapshot)
    if expected is None:
        return []
    policy = snapshot.admin_consent_request_policy
    return [
        {"setting": workflow_kind.FIELDS[name], "value": workflow_kind.value_words(name, policy)}
        for name in workflow_kind.kept(expected)
    ]


def expected_workflow(plan: ConsentPlan, snapshot: TenantSnapshot) -> tuple[dict[str, Any] | None, list[str]]:
    """The adminConsentRequestPolicy the file asks for, reviewers resolved in the directory as the program
    resolves them; plus the reviewers that did not resolve. None when the file leaves the workflow as it is."""
    workflow = plan.consent_settings.admin_consent_workflow
    if workflow is None:
        return None, []
    queries: dict[str, str] = {}
    unresolved: list[str] = []
    for reviewer in workflow.reviewers or ():
        if reviewer.reviewer_type == "user":
            user = snapshot.users.get(reviewer.reference.lower())
            object_id, shown = (user.id, reviewer.reference) if user else (None, reviewer.reference)
        elif reviewer.reviewer_type == "group":
            lookup = snapshot.groups.get(reviewer.reference)
            group = lookup.group if lookup else None
            object_id, shown = (group.id, group.display_name) if group else (None, reviewer.reference)
        else:
            object_id, shown = DIRECTORY_ROLES.get(reviewer.reference, reviewer.reference).lower(), reviewer.reference
        if object_id is None:
            unresolved.append(reviewer.reference)
            continue
        query = reviewer_query(reviewer.reviewer_type, object_id)
        queries.setdefault(query, describe_reviewer(reviewer.reviewer_type, object_id, shown))
    named: dict[str, Any] = {
        "isEnabled": workflow.enabled,
        "notifyReviewers": workflow.notify_reviewers,
        "remindersEnabled": workflow.reminders,
        "requestDurationInDays": workflow.request_duration_in_days,
    }
    if workflow.reviewers is not None:
        named["reviewers"] = [{"query": q, "queryType": REVIEWER_QUERY_TYPE} for q in queries]
        named["reviewerNames"] = list(queries.values())
    # A property the file leaves out is absent: apply keeps it as the tenant has it.
    return {key: value for key, value in named.items() if value is not None}, unresolved


def after_apply(plan: ConsentPlan, snapshot: TenantSnapshot, live_consent: UserConsent) -> AuditExperience:
    """What users will see once ``apply`` has made the tenant match the file: the file's grants, assignment
    and the consent settings it manages; the tenant's own settings where the file leaves them as they are."""
    requested = PROFILES[plan.app.profile].scopes
    consent: UserConsent = plan.consent_settings.user_consent or live_consent
    workflow = plan.consent_settings.admin_consent_workflow
    workflow_on = workflow.enabled if workflow is not None else snapshot.admin_consent_workflow
    required = plan.service_principal.assignment_required
    tenant_wide = plan.scopes if plan.mode == "organization" else ()
    wanted, _ = wanted_assignments(plan, snapshot)
    groups_by_id = {lookup.group.id: lookup.group for lookup in snapshot.groups.values() if lookup.group}
    assigned = {oid for (kind, oid) in wanted if kind == "User"}
    for kind, oid in wanted:
        group = groups_by_id.get(oid) if kind == "Group" else None
        # Assignment to a group reaches its direct members only (as in _assigned_user_ids).
        assigned |= {m.id for m in group.members} if group else set()
    expected, _ = expected_grants(plan, snapshot)
    people: dict[str, tuple[UserInfo, tuple[str, ...]]] = {}
    for want in expected:
        if want.user is not None:
            people[want.user.id] = (want.user, want.scopes)
    for kind, oid in wanted:
        user = snapshot.users.get(oid) if kind == "User" else None
        if user is not None and user.id not in people:
            people[user.id] = (user, ())
    return _experience_document(
        requested,
        tenant_wide,
        consent,
        workflow_on,
        required,
        [(user, own, None) for user, own in people.values()],
        assigned,
    )


def _assignment_differences(plan: ConsentPlan, snapshot: TenantSnapshot) -> list[AuditDifference]:
    out: list[AuditDifference] = []
    wanted, unresolved = wanted_assignments(plan, snapshot)
    # A reference the grants also use is already reported (user-not-found, group-not-found). Compared ignoring
    # case: UPNs are, and so are group display names in Graph's $filter eq (terraform-provider-azuread#1345).
    grant_refs = {g.principal.casefold() for g in plan.grants if g.principal}
    grant_refs |= {g.group.casefold() for g in plan.group_grants}
    for ref in unresolved:
        if ref.casefold() not in grant_refs:
            out.append(difference("principal-not-found", ref, "assigned in the file; not found in the directory"))
    have = {(a.principal_type, a.principal_id): a for a in snapshot.assignments}
    for key, ref in wanted.items():
        if key not in have:
            out.append(
                difference("assignment-missing", ref, f"{key[0].lower()} not assigned to TaxCalc-Hub; apply assigns it")
            )
    for key, a in have.items():
        if key not in wanted:
            who = _upn(snapshot, a.principal_id) or a.principal_display_name or a.principal_id
            out.append(
                difference("assignment-extra", who, f"{a.principal_type.lower()} assigned but not listed in the file")
            )
    return out


def audit_document(tenants: list[AuditTenant | FailedTenant]) -> AuditDocument:
    return {"format": AUDIT_FORMAT, "tenants": tenants}
