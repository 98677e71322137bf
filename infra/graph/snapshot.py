"""What Graph holds for one tenant, as ``audit`` and ``adopt`` need it: ``read_tenant`` reads it, read-only, in
three ``$batch`` round trips plus pages, into a ``TenantSnapshot``. Judging it against the file is
``infra.graph.audit``'s job (and ``adopt``'s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from taxcalc_consent.infra.graph import client as graph
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.model.consent_settings import ReviewerType
from taxcalc_consent.infra.model.errors import did_you_mean
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.kinds.access_assignment import DEFAULT_ROLE_ID as DEFAULT_ACCESS_ROLE_ID
from taxcalc_consent.infra.model.plan import ConsentPlan, Reviewer


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
class AutomationIdentityState:
    """The MSP's automation identity in the tenant (``auth.client_id``): whether its service principal is there,
    and the Microsoft Graph app roles (application permissions, by id) it holds (what ``connect`` manages)."""

    client_id: str
    present: bool
    app_role_ids: tuple[str, ...] = ()


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
    """Every group reference from the file, and every group assigned to TaxCalc-Hub (by object id)."""
    near_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For each user or group name the file has and the tenant has not: names the tenant has that begin alike."""
    automation: AutomationIdentityState | None = None
    """Read by audit when the file names the automation app (``auth.client_id``)."""

    def did_you_mean(self, ref: str) -> str:
        """``; did you mean 'x'?`` when the tenant has a name close to ``ref``, else nothing."""
        return did_you_mean(ref, self.near_names.get(ref, ()))


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
    automation_id = plan.auth.client_id if policies else None
    if automation_id:
        first.append(graph.service_principals_list_by_app_id(automation_id))
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
    automation_found = cast(list[dict[str, Any]], next(answers)) if automation_id else []
    automation_sp = str(automation_found[0]["id"]).lower() if automation_found else None
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
    if automation_sp is not None:
        second.append(graph.service_principals_list_app_role_assignments(automation_sp))
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
    automation: AutomationIdentityState | None = None
    if automation_id:
        held = cast(list[dict[str, Any]], next(answers)) if automation_sp is not None else []
        on_graph = tuple(a.app_role_id for a in map(_assignment, held) if a.resource_id == graph_sp_id)
        automation = AutomationIdentityState(automation_id.lower(), automation_sp is not None, on_graph)
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
        automation=automation,
    )
