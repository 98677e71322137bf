"""A tenant's consent posture as Graph reports it, compared with its ConsentPlan.

``read_tenant`` gathers what Graph holds for one tenant (three ``$batch`` round trips plus pages);
everything after that is pure: ``audit_tenant`` turns the snapshot and the plan into the
``taxcalc-consent/audit@1`` document for that tenant. No rendering here: the CLI draws tables,
Markdown and HTML from the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.model import findings
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID, graph_catalog
from taxcalc_consent.infra.model.consent_settings import (
    DIRECTORY_ROLES,
    REVIEWER_QUERY_TYPE,
    USER_CONSENT_LABELS,
    ReviewerType,
    UserConsent,
    classify_user_consent,
    describe_reviewer,
    predict_experience,
    reviewer_query,
)
from taxcalc_consent.infra.model.documents import (
    AUDIT_FORMAT,
    AuditDifference,
    AuditDocument,
    AuditExperience,
    AuditKeptSetting,
    AuditTenant,
    AuditUserExperience,
    FailedTenant,
)
from taxcalc_consent.infra.model.errors import did_you_mean
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.kinds import admin_consent_workflow as workflow_kind
from taxcalc_consent.infra.model.kinds import user_consent_setting
from taxcalc_consent.infra.model.kinds.access_assignment import DEFAULT_ROLE_ID as DEFAULT_ACCESS_ROLE_ID
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER
from taxcalc_consent.infra.model.plan import ConsentPlan, Reviewer
from taxcalc_consent.infra.model.profiles import PROFILES

# --------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class UserInfo:
    id: str
    user_principal_name: str
    display_name: str = ""


@dataclass(frozen=True)
class GroupInfo:
    id: str
    display_name: str
    members: tuple[UserInfo, ...] = ()
    """Direct user members: the ones a listed group gives a grant, and an assigned group lets sign in."""
    nested_members: tuple[UserInfo, ...] = ()
    """Users who belong only through a nested group: no grant, and not covered by an assignment of this group."""


@dataclass(frozen=True)
class GroupLookup:
    """What a group reference from the tenant file resolved to."""

    group: GroupInfo | None
    matches: int


@dataclass(frozen=True)
class ServicePrincipalState:
    object_id: str
    display_name: str
    enabled: bool
    assignment_required: bool


@dataclass(frozen=True)
class GrantState:
    """An oauth2PermissionGrant from TaxCalc-Hub to Microsoft Graph."""

    id: str
    consent_type: str
    principal_id: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AssignmentState:
    """An appRoleAssignment (either direction)."""

    id: str
    app_role_id: str
    principal_id: str
    principal_type: str
    principal_display_name: str
    resource_id: str


@dataclass(frozen=True)
class TenantSnapshot:
    service_principal: ServicePrincipalState | None
    graph_service_principal_id: str | None
    grants: tuple[GrantState, ...] = ()
    app_role_assignments: tuple[AssignmentState, ...] = ()
    """Application permissions TaxCalc-Hub holds on Microsoft Graph."""
    assignments: tuple[AssignmentState, ...] = ()
    """Users and groups assigned to TaxCalc-Hub."""
    permission_grant_policies_assigned: tuple[str, ...] = ()
    admin_consent_workflow: bool = False
    admin_consent_request_policy: dict[str, Any] = field(default_factory=dict)
    """The whole adminConsentRequestPolicy as Graph holds it (reviewers, notifications, expiry)."""
    users: dict[str, UserInfo | None] = field(default_factory=dict)
    """Every user reference (lower-case UPN or object id) from the file, and every grant principal."""
    groups: dict[str, GroupLookup] = field(default_factory=dict)
    near_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For each user or group name the file has and the tenant has not: names the tenant has that begin alike."""

    def did_you_mean(self, ref: str) -> str:
        """``; did you mean 'x'?`` when the tenant has a name close to ``ref``, else nothing."""
        return did_you_mean(ref, self.near_names.get(ref, ()))

    """Every group reference from the file, and every group assigned to TaxCalc-Hub (by object id)."""


def _user_info(item: dict[str, Any] | None) -> UserInfo | None:
    if not item:
        return None
    return UserInfo(
        str(item["id"]).lower(), str(item.get("userPrincipalName") or ""), str(item.get("displayName") or "")
    )


def _members(answer: graph.GraphResult) -> tuple[UserInfo, ...]:
    return tuple(u for u in map(_user_info, cast(list[dict[str, Any]], answer)) if u)


def _assignment(item: dict[str, Any]) -> AssignmentState:
    return AssignmentState(
        id=str(item["id"]),
        app_role_id=str(item.get("appRoleId") or DEFAULT_ACCESS_ROLE_ID).lower(),
        principal_id=str(item.get("principalId") or "").lower(),
        principal_type=str(item.get("principalType") or ""),
        principal_display_name=str(item.get("principalDisplayName") or ""),
        resource_id=str(item.get("resourceId") or "").lower(),
    )


def plan_user_refs(plan: ConsentPlan, reviewers: bool = False) -> list[str]:
    refs = [g.principal for g in plan.grants if g.principal]
    refs += [a.principal for a in plan.assignments if a.principal_type == "User"]
    refs += [r.reference for r in _reviewers(plan, "user")] if reviewers else []
    return list(dict.fromkeys(r.lower() for r in refs))


def plan_group_refs(plan: ConsentPlan, reviewers: bool = False) -> list[str]:
    refs = [g.group for g in plan.group_grants] + [a.principal for a in plan.assignments if a.principal_type == "Group"]
    refs += [r.reference for r in _reviewers(plan, "group")] if reviewers else []
    return list(dict.fromkeys(refs))


def _reviewers(plan: ConsentPlan, reviewer_type: ReviewerType) -> list[Reviewer]:
    workflow = plan.consent_settings.admin_consent_workflow
    return [r for r in workflow.reviewers or () if r.reviewer_type == reviewer_type] if workflow else []


def read_tenant(client: graph.GraphClient, plan: ConsentPlan, policies: bool = True) -> TenantSnapshot:
    """Everything the audit and adopt need from one tenant, read-only.

    ``policies``: also read the user consent settings (authorizationPolicy, adminConsentRequestPolicy),
    which need Policy.Read.All; adopt does not use them, so it does not ask for that permission.
    """
    # The workflow's reviewers are only compared by audit, which reads the policies.
    user_refs = plan_user_refs(plan, reviewers=policies)
    group_refs = plan_group_refs(plan, reviewers=policies)
    client_app_id = plan.app.client_id
    first: list[graph.GraphRequest] = [graph.service_principals_list_by_app_id(GRAPH_APP_ID)]
    if policies:
        first += [graph.policies_get_authorization_policy(), graph.policies_get_admin_consent_request_policy()]
    if client_app_id:
        first.append(graph.service_principals_list_by_app_id(client_app_id))
    first += [graph.users_get(ref) for ref in user_refs]
    first += [graph.groups_get(ref) if is_guid(ref) else graph.groups_list_by_display_name(ref) for ref in group_refs]
    # Answers come back in request order; take them off one by one.
    answers = iter(client.batch(first))
    graph_sps = cast(list[dict[str, Any]], next(answers))
    authorization = cast(dict[str, Any], next(answers) or {}) if policies else {}
    admin_consent = cast(dict[str, Any], next(answers) or {}) if policies else {}
    sp: ServicePrincipalState | None = None
    found = cast(list[dict[str, Any]], next(answers)) if client_app_id else []
    if found:
        item = found[0]
        sp = ServicePrincipalState(
            object_id=str(item["id"]).lower(),
            display_name=str(item.get("displayName") or ""),
            enabled=bool(item.get("accountEnabled", True)),
            assignment_required=bool(item.get("appRoleAssignmentRequired", False)),
        )
    users: dict[str, UserInfo | None] = {
        ref: _user_info(cast(dict[str, Any] | None, next(answers))) for ref in user_refs
    }
    group_hits: dict[str, list[dict[str, Any]]] = {}
    for ref in group_refs:
        answer = next(answers)
        group_hits[ref] = answer if isinstance(answer, list) else ([answer] if answer else [])

    graph_sp_id = str(graph_sps[0]["id"]).lower() if graph_sps else None
    second: list[graph.GraphRequest] = []
    if sp is not None:
        second += [
            graph.oauth2_permission_grants_list_by_client(sp.object_id),
            graph.service_principals_list_app_role_assignments(sp.object_id),
            graph.service_principals_list_app_role_assigned_to(sp.object_id),
        ]
    single_groups = {ref: hits[0] for ref, hits in group_hits.items() if len(hits) == 1}
    member_ids = list(dict.fromkeys(str(g["id"]).lower() for g in single_groups.values()))
    # Direct members decide grants and assignment coverage; transitive ones only show who a nested group
    # leaves out (an advanced query: graph.groups_list_transitive_user_members).
    for gid in member_ids:
        second += [graph.groups_list_user_members(gid), graph.groups_list_transitive_user_members(gid)]
    answers = iter(client.batch(second) if second else [])
    grants: tuple[GrantState, ...] = ()
    app_roles: tuple[AssignmentState, ...] = ()
    assignments: tuple[AssignmentState, ...] = ()
    if sp is not None:
        grants = tuple(
            GrantState(
                id=str(g["id"]),
                consent_type=str(g.get("consentType")),
                principal_id=str(g["principalId"]).lower() if g.get("principalId") else None,
                scopes=tuple(str(g.get("scope") or "").split()),
            )
            for g in cast(list[dict[str, Any]], next(answers))
            if str(g.get("resourceId", "")).lower() == graph_sp_id
        )
        app_roles = tuple(
            a for a in map(_assignment, cast(list[dict[str, Any]], next(answers))) if a.resource_id == graph_sp_id
        )
        assignments = tuple(map(_assignment, cast(list[dict[str, Any]], next(answers))))
    members: dict[str, tuple[UserInfo, ...]] = {}
    nested: dict[str, tuple[UserInfo, ...]] = {}
    for gid in member_ids:
        members[gid] = _members(next(answers))
        direct = {u.id for u in members[gid]}
        nested[gid] = tuple(u for u in _members(next(answers)) if u.id not in direct)

    # Third round trip: the UPNs of grant principals, and the members of assigned groups, not yet known.
    known = {u.id for u in users.values() if u} | {u.id for m in members.values() for u in m}
    unknown_principals = list(
        dict.fromkeys(g.principal_id for g in grants if g.principal_id and g.principal_id not in known)
    )
    assigned_groups = list(
        dict.fromkeys(
            a.principal_id for a in assignments if a.principal_type == "Group" and a.principal_id not in members
        )
    )
    # The names the file has and the tenant has not: the tenant's near names, for a did-you-mean.
    missing_users = [ref for ref, user in users.items() if user is None and not is_guid(ref)]
    missing_groups = [ref for ref, hits in group_hits.items() if not hits and not is_guid(ref)]
    third = [graph.users_get(pid) for pid in unknown_principals]
    third += [graph.groups_list_user_members(gid) for gid in assigned_groups]
    third += [graph.users_list_near(ref) for ref in missing_users]
    third += [graph.groups_list_near(ref) for ref in missing_groups]
    answers = iter(client.batch(third) if third else [])
    for pid in unknown_principals:
        users[pid] = _user_info(cast(dict[str, Any] | None, next(answers)))
    for gid in assigned_groups:
        members[gid] = _members(next(answers))
    near: dict[str, tuple[str, ...]] = {}
    for ref, field_name in [
        *((r, "userPrincipalName") for r in missing_users),
        *((r, "displayName") for r in missing_groups),
    ]:
        page = cast(dict[str, Any] | None, next(answers)) or {}
        near[ref] = tuple(str(item.get(field_name) or "") for item in page.get("value") or [])

    groups: dict[str, GroupLookup] = {}
    for ref, hits in group_hits.items():
        if len(hits) == 1:
            gid = str(hits[0]["id"]).lower()
            name = str(hits[0].get("displayName") or "")
            groups[ref] = GroupLookup(GroupInfo(gid, name, members[gid], nested.get(gid, ())), 1)
        else:
            groups[ref] = GroupLookup(None, len(hits))
    for a in assignments:
        if a.principal_type == "Group" and a.principal_id not in groups:
            groups[a.principal_id] = GroupLookup(
                GroupInfo(a.principal_id, a.principal_display_name, members.get(a.principal_id, ())), 1
            )
    # Index every user seen by object id too, so grant and assignment principals show their UPN.
    for user in [*users.values(), *(m for ms in (*members.values(), *nested.values()) for m in ms)]:
        if user is not None:
            users.setdefault(user.id, user)
    assigned = (authorization.get("defaultUserRolePermissions") or {}).get("permissionGrantPoliciesAssigned") or []
    return TenantSnapshot(
        service_principal=sp,
        graph_service_principal_id=graph_sp_id,
        grants=grants,
        app_role_assignments=app_roles,
        assignments=assignments,
        permission_grant_policies_assigned=tuple(str(p) for p in assigned),
        admin_consent_workflow=bool(admin_consent.get("isEnabled", False)),
        admin_consent_request_policy=dict(admin_consent),
        users=users,
        groups=groups,
        near_names=near,
    )


# ------------------------------------------------------------------------------------- pure shaping


@dataclass(frozen=True)
class ExpectedGrant:
    """A grant the plan wants: AllPrincipals (user None) or Principal for one resolved user."""

    consent_type: Literal["AllPrincipals", "Principal"]
    user: UserInfo | None
    scopes: tuple[str, ...]
    source: str
    """Where the file asks for it: "organization", the user reference, or "group <name>"."""


SP_DISABLED = (
    "the service principal is disabled (an administrator turned sign-in off): no user can connect a mailbox until "
    "an administrator enables it again; apply leaves it as it is (the tool changes only whether it requires "
    "assignment)"
)


def expected_grants(plan: ConsentPlan, snapshot: TenantSnapshot) -> tuple[list[ExpectedGrant], list[AuditDifference]]:
    """The grants the plan asks for, resolved against the directory; plus problems resolving them."""
    out: list[ExpectedGrant] = []
    problems: list[AuditDifference] = []
    seen: set[str] = set()
    for wanted in plan.grants:
        if wanted.principal is None:
            out.append(ExpectedGrant("AllPrincipals", None, wanted.scopes, "organization"))
            continue
        user = snapshot.users.get(wanted.principal.lower())
        if user is None:
            why = "the file lists this user; Entra has none" + snapshot.did_you_mean(wanted.principal.lower())
            problems.append(_difference("user-not-found", wanted.principal, why))
        elif user.id not in seen:
            seen.add(user.id)
            out.append(ExpectedGrant("Principal", user, wanted.scopes, wanted.principal))
    for group_grant in plan.group_grants:
        lookup = snapshot.groups.get(group_grant.group)
        if lookup is None or lookup.group is None:
            count = lookup.matches if lookup else 0
            why = "no group has this name or id" if count == 0 else f"{count} groups have this display name"
            if count == 0:
                why += snapshot.did_you_mean(group_grant.group)
            problems.append(_difference("group-not-found", group_grant.group, why))
            continue
        for member in lookup.group.members:
            if member.id not in seen:
                seen.add(member.id)
                out.append(ExpectedGrant("Principal", member, group_grant.scopes, f"group {group_grant.group}"))
    return out, problems


@dataclass(frozen=True)
class GrantMatch:
    """One grant the file asks for, the grant the tenant holds for the same principal (if any), and how
    their scopes differ. What ``audit`` reports and ``adopt`` imports are both read from this."""

    want: ExpectedGrant
    have: GrantState | None
    missing: tuple[str, ...]
    """Scopes the file lists that the grant lacks, in the file's order."""
    extra: tuple[str, ...]
    """Scopes the grant holds that the file does not list, sorted."""

    @property
    def subject(self) -> str:
        return EVERY_USER if self.want.user is None else self.want.user.user_principal_name


def match_grants(
    expected: Sequence[ExpectedGrant], grants: Sequence[GrantState]
) -> tuple[list[GrantMatch], list[GrantState]]:
    """Pair each expected grant with the tenant's grant of the same consent type and principal (Graph
    holds at most one per client, resource, consent type and principal); also the grants left over.
    Linear in grants + expected: one index, not a scan per expected grant."""
    by_key = {(g.consent_type, g.principal_id): g for g in grants}
    matches: list[GrantMatch] = []
    matched: set[str] = set()
    for want in expected:
        have = by_key.get((want.consent_type, want.user.id if want.user else None))
        if have is None:
            matches.append(GrantMatch(want, None, tuple(want.scopes), ()))
            continue
        matched.add(have.id)
        held = set(have.scopes)
        missing = tuple(s for s in want.scopes if s not in held)
        wanted = set(want.scopes)
        extra = tuple(sorted(s for s in held if s not in wanted))
        matches.append(GrantMatch(want, have, missing, extra))
    return matches, [g for g in grants if g.id not in matched]


def _difference(kind: str, subject: str, message: str, scopes: Sequence[str] = ()) -> AuditDifference:
    item: AuditDifference = {"kind": kind, "subject": subject, "message": message}
    if scopes:
        item["scopes"] = list(scopes)
    return item


def _upn(snapshot: TenantSnapshot, object_id: str | None) -> str | None:
    if object_id is None:
        return None
    user = snapshot.users.get(object_id)
    return user.user_principal_name if user else None


def role_name(app_role_id: str) -> str:
    permission = graph_catalog().by_id("application", app_role_id)
    return permission.name if permission else app_role_id


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
    document["findings"] = findings.rank(document)
    document["summary"] = findings.summarise(document)
    return document


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
        out.append(_difference("service-principal-missing", name, f"no service principal for {name}; {why}"))
    else:
        if not sp.enabled:
            out.append(_difference("service-principal-disabled", name, SP_DISABLED))
        wanted = plan.service_principal.assignment_required
        if sp.assignment_required != wanted:
            out.append(
                _difference(
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
            out.append(_difference("grant-missing", match.subject, "no grant; apply creates it", match.want.scopes))
            continue
        if match.missing:
            out.append(_difference("scopes-missing", match.subject, "granted without these scopes", match.missing))
        if match.extra:
            out.append(_difference("scopes-extra", match.subject, "granted scopes the file does not list", match.extra))
    for g in unmatched:
        if g.consent_type == "AllPrincipals":
            out.append(
                _difference(
                    "unlisted-consent",
                    EVERY_USER,
                    "tenant-wide consent exists but the file asks for per-user consent",
                    sorted(g.scopes),
                )
            )
        else:
            who = _upn(snapshot, g.principal_id) or str(g.principal_id)
            out.append(
                _difference(
                    "unlisted-consent", who, "this user consented; the file does not list them", sorted(g.scopes)
                )
            )
    wanted_roles = {r.role for r in plan.app_role_assignments}
    have_roles = {role_name(a.app_role_id) for a in snapshot.app_role_assignments}
    for role in sorted(wanted_roles - have_roles):
        out.append(_difference("app-role-missing", role, "application permission not granted; apply grants it"))
    for role in sorted(have_roles - wanted_roles):
        out.append(_difference("app-role-extra", role, "application permission granted that the file does not list"))
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
            _difference(
                "user-consent-setting",
                f"{TENANT_WIDE}: {user_consent_setting.SETTING_WORDS}",
                f"is {user_consent_setting.label(live)}; the file says {user_consent_setting.label(wanted)}; "
                "apply sets it",
            )
        )
    expected, unresolved = expected_workflow(plan, snapshot)
    for ref in unresolved:
        out.append(_difference("reviewer-not-found", ref, "a reviewer the file names; not found in the directory"))
    if expected is None:
        return out
    policy = snapshot.admin_consent_request_policy
    # Only the properties the file names: the others are kept as the tenant has them (admin_consent_workflow_kept).
    for name in workflow_kind.changed_fields(policy, {**policy, **expected}):
        out.append(
            _difference(
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
            _difference(
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


def wanted_assignments(plan: ConsentPlan, snapshot: TenantSnapshot) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(principal type, object id) -> the file's reference, and the references that did not resolve."""
    wanted: dict[tuple[str, str], str] = {}
    unresolved: list[str] = []
    for a in plan.assignments:
        if a.principal_type == "User":
            user = snapshot.users.get(a.principal.lower())
            if user is None:
                unresolved.append(a.principal)
            else:
                wanted[("User", user.id)] = a.principal
        else:
            lookup = snapshot.groups.get(a.principal)
            if lookup is None or lookup.group is None:
                unresolved.append(a.principal)
            else:
                wanted[("Group", lookup.group.id)] = a.principal
    return wanted, unresolved


def _assignment_differences(plan: ConsentPlan, snapshot: TenantSnapshot) -> list[AuditDifference]:
    out: list[AuditDifference] = []
    wanted, unresolved = wanted_assignments(plan, snapshot)
    # A reference the grants also use is already reported (user-not-found, group-not-found). Compared ignoring
    # case: UPNs are, and so are group display names in Graph's $filter eq (terraform-provider-azuread#1345).
    grant_refs = {g.principal.casefold() for g in plan.grants if g.principal}
    grant_refs |= {g.group.casefold() for g in plan.group_grants}
    for ref in unresolved:
        if ref.casefold() not in grant_refs:
            out.append(_difference("principal-not-found", ref, "assigned in the file; not found in the directory"))
    have = {(a.principal_type, a.principal_id): a for a in snapshot.assignments}
    for key, ref in wanted.items():
        if key not in have:
            out.append(
                _difference(
                    "assignment-missing", ref, f"{key[0].lower()} not assigned to TaxCalc-Hub; apply assigns it"
                )
            )
    for key, a in have.items():
        if key not in wanted:
            who = _upn(snapshot, a.principal_id) or a.principal_display_name or a.principal_id
            out.append(
                _difference("assignment-extra", who, f"{a.principal_type.lower()} assigned but not listed in the file")
            )
    return out


def audit_document(tenants: list[AuditTenant | FailedTenant]) -> AuditDocument:
    return {"format": AUDIT_FORMAT, "tenants": tenants}
