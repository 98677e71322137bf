"""The ConsentPlan: pure data saying what one tenant should hold, derived from a validated tenant file.

Everything downstream reads this: the offline render and JSON, the policy rules, the Pulumi program
(which maps it 1:1 onto resources), and the Graph audit. What each resource kind is called in Pulumi
(logical names, type tokens, import ids) lives in ``infra.kinds``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID, PermissionCatalog
from taxcalc_consent.infra.model.consent_settings import (
    USER_CONSENT_LABELS,
    Experience,
    ManagedUserConsent,
    ReviewerType,
    predict_experience,
)
from taxcalc_consent.infra.model.documents import (
    PlanAccess,
    PlanConsentSettings,
    TenantPlan,
)
from taxcalc_consent.infra.model.errors import Problem, SpecError
from taxcalc_consent.infra.model.kinds.access_assignment import PrincipalType
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER
from taxcalc_consent.infra.model.loader import LoadedTenant, load_tenants
from taxcalc_consent.infra.model.profiles import PROFILES
from taxcalc_consent.infra.model.role_table import Needs, needs
from taxcalc_consent.infra.model.spec import (
    Acknowledgement,
    AuthSection,
    ConsentSettingsSection,
    PolicyConfig,
    PolicyException,
    RelationshipSection,
)

ConsentType = Literal["AllPrincipals", "Principal"]
Severity = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class DelegatedGrant:
    """One oauth2PermissionGrant from TaxCalc-Hub's service principal to a resource (Graph)."""

    consent_type: ConsentType
    principal: str | None
    """None for AllPrincipals; a UPN or object id (as written, normalised) for Principal."""
    resource_app_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class GroupGrant:
    """Principal grants for every user member of a group, expanded at apply time."""

    group: str
    resource_app_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AppRoleAssignment:
    """An application permission: TaxCalc-Hub's service principal assigned an app role on a resource."""

    resource_app_id: str
    role: str


@dataclass(frozen=True)
class AccessAssignment:
    """A user or group assigned to TaxCalc-Hub (the default role), for assignment-required apps."""

    principal_type: PrincipalType
    principal: str


@dataclass(frozen=True)
class AppPlan:
    profile: str
    display_name: str
    client_id: str | None
    """None when ``register`` is true: Entra assigns it when the registration is created."""
    register: bool
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServicePrincipalPlan:
    assignment_required: bool


@dataclass(frozen=True)
class Reviewer:
    """One reviewer of admin consent requests, as the file names it (resolved to an object id at apply)."""

    reviewer_type: ReviewerType
    reference: str
    """A UPN or object id (user), a display name or object id (group), a role name or definition id (role)."""


@dataclass(frozen=True)
class AdminConsentWorkflowPlan:
    """The adminConsentRequestPolicy the tenant should hold: the keys the file names. None: a key the file does
    not name, kept as the tenant has it (the tool reads the policy, merges, then writes it whole)."""

    enabled: bool
    reviewers: tuple[Reviewer, ...] | None = None
    notify_reviewers: bool | None = None
    reminders: bool | None = None
    request_duration_in_days: int | None = None

    @property
    def kept(self) -> tuple[str, ...]:
        """The tenant file keys left out, so kept as the tenant has them (the file's own spelling)."""
        named = {
            "reviewers": self.reviewers,
            "notify_reviewers": self.notify_reviewers,
            "reminders": self.reminders,
            "request_expires_in_days": self.request_duration_in_days,
        }
        return tuple(key for key, value in named.items() if value is None)


@dataclass(frozen=True)
class ConsentSettingsPlan:
    """Tenant-wide consent settings the file manages; None for a setting left as the tenant has it."""

    user_consent: ManagedUserConsent | None = None
    admin_consent_workflow: AdminConsentWorkflowPlan | None = None

    @property
    def managed(self) -> bool:
        return self.user_consent is not None or self.admin_consent_workflow is not None


@dataclass(frozen=True)
class PlannedExperience:
    """What one listed user (or everyone else) sees once the plan is applied."""

    principal: str
    experience: Experience
    refused: bool
    reason: str


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class ConsentPlan:
    tenant: str
    file: str
    tenant_id: str
    app: AppPlan
    service_principal: ServicePrincipalPlan
    grants: tuple[DelegatedGrant, ...]
    group_grants: tuple[GroupGrant, ...]
    app_role_assignments: tuple[AppRoleAssignment, ...]
    assignments: tuple[AccessAssignment, ...]
    auth: AuthSection = field(default_factory=AuthSection)
    exceptions: tuple[PolicyException, ...] = ()
    acknowledged: tuple[Acknowledgement, ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    violations: tuple[Violation, ...] = ()
    consent_settings: ConsentSettingsPlan = field(default_factory=ConsentSettingsPlan)
    tenant_name: str | None = None
    """The client's name, for people (``tenant.name``)."""
    tenant_domain: str | None = None
    """The client's primary domain, for people (``tenant.domain``)."""
    relationship: RelationshipSection | None = None
    """The MSP's GDAP relationship with the client (``tenant.relationship``), which an engineer's sign-in uses."""

    @property
    def scopes(self) -> tuple[str, ...]:
        """The delegated scopes every grant in this plan carries."""
        carriers: tuple[DelegatedGrant | GroupGrant, ...] = (*self.grants, *self.group_grants)
        return carriers[0].scopes if carriers else ()

    @property
    def mode(self) -> Literal["organization", "users"]:
        return "organization" if any(g.consent_type == "AllPrincipals" for g in self.grants) else "users"


def read_plan(
    path: str | Path,
    catalog: PermissionCatalog | None = None,
    check: Callable[[LoadedTenant], Sequence[Problem]] | None = None,
) -> ConsentPlan:
    """Read, validate and plan one tenant file (its folder's ``_defaults.yaml`` included) as ``validate`` does,
    with ``check``'s problems too (the policy configuration's, which the rules know); raises SpecError listing
    every problem. What reads a tenant file outside the tool's own runs uses this: the program of a hand-run
    ``pulumi up`` and the policy pack of a hand-run ``pulumi preview``."""
    (tenant,) = load_tenants([path], catalog)
    problems = check(tenant) if check is not None else ()
    if problems:
        raise SpecError(problems)
    return build_plan(tenant)


def sorted_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Distinct scopes in plain code-point order, as the plan and Graph's scope string carry them."""
    return tuple(sorted(set(scopes)))


def build_plan(tenant: LoadedTenant) -> ConsentPlan:
    spec = tenant.spec
    profile = PROFILES[spec.app.profile]
    scopes = sorted_scopes(spec.consent.scopes if spec.consent.scopes is not None else profile.scopes)
    if spec.consent.mode == "organization":
        grants: tuple[DelegatedGrant, ...] = (DelegatedGrant("AllPrincipals", None, GRAPH_APP_ID, scopes),)
        group_grants: tuple[GroupGrant, ...] = ()
    else:
        grants = tuple(DelegatedGrant("Principal", user, GRAPH_APP_ID, scopes) for user in spec.consent.users)
        group_grants = tuple(GroupGrant(group, GRAPH_APP_ID, scopes) for group in spec.consent.groups)
    register = spec.app.register_app
    return ConsentPlan(
        tenant=tenant.name,
        file=tenant.file,
        tenant_id=spec.tenant.id,
        app=AppPlan(
            profile=profile.name,
            display_name=profile.display_name,
            client_id=None if register else (spec.app.client_id or profile.client_id),
            register=register,
            redirect_uris=tuple(spec.app.redirect_uris),
        ),
        service_principal=ServicePrincipalPlan(assignment_required=spec.access.assignment_required),
        grants=grants,
        group_grants=group_grants,
        app_role_assignments=tuple(AppRoleAssignment(GRAPH_APP_ID, r) for r in sorted(set(spec.consent.app_roles))),
        assignments=(
            *(AccessAssignment("User", u) for u in spec.access.users),
            *(AccessAssignment("Group", g) for g in spec.access.groups),
        ),
        auth=spec.auth,
        exceptions=tuple(spec.exceptions),
        acknowledged=tuple(spec.acknowledged),
        policy=spec.policy,
        consent_settings=consent_settings_plan(spec.consent_settings),
        tenant_name=spec.tenant.name,
        tenant_domain=spec.tenant.domain,
        relationship=spec.tenant.relationship,
    )


def consent_settings_plan(section: ConsentSettingsSection) -> ConsentSettingsPlan:
    workflow = section.admin_consent_workflow
    if workflow is None:
        return ConsentSettingsPlan(section.managed_user_consent, None)
    reviewers = workflow.reviewers
    return ConsentSettingsPlan(
        section.managed_user_consent,
        AdminConsentWorkflowPlan(
            enabled=workflow.enabled,
            reviewers=None
            if reviewers is None
            else (
                *(Reviewer("user", u) for u in reviewers.users),
                *(Reviewer("group", g) for g in reviewers.groups),
                *(Reviewer("role", r) for r in reviewers.roles),
            ),
            notify_reviewers=workflow.notify_reviewers,
            reminders=workflow.reminders,
            request_duration_in_days=workflow.request_expires_in_days,
        ),
    )


ANY_OTHER_USER = "any other user"


def predict_users(plan: ConsentPlan) -> list[PlannedExperience]:
    """What each user the file lists (and everyone else) sees at sign-in once settings and grants are applied.

    Offline: a setting the file leaves as it is is not known here, so a prediction it decides says so
    (``unknown``); ``audit`` makes the same prediction with the tenant's own settings.
    """
    requested = PROFILES[plan.app.profile].scopes
    consent = plan.consent_settings.user_consent
    workflow = plan.consent_settings.admin_consent_workflow
    workflow_on = None if workflow is None else workflow.enabled
    required = plan.service_principal.assignment_required
    assigned_users = {a.principal.casefold() for a in plan.assignments if a.principal_type == "User"}
    assigned_groups = [a.principal for a in plan.assignments if a.principal_type == "Group"]

    def entry(principal: str, granted: tuple[str, ...], listed_for_access: bool) -> PlannedExperience:
        experience, reason = predict_experience(requested, granted, consent, workflow_on, required)
        refused = False
        if required and not listed_for_access:
            if assigned_groups:
                reason = (
                    f"assignment is required: they may sign in only through a group in access.groups "
                    f"({', '.join(assigned_groups)}); {reason}"
                )
            else:
                refused = True
                reason = (
                    f"assignment is required and they are not assigned: Entra refuses sign-in (AADSTS50105); {reason}"
                )
        return PlannedExperience(principal, experience, refused, reason)

    out: list[PlannedExperience] = []
    if plan.mode == "organization":
        out.append(entry(EVERY_USER, plan.scopes, not required))
        out += [entry(u, plan.scopes, True) for u in sorted(assigned_users)]
        return out
    granted_users = {g.principal.casefold() for g in plan.grants if g.principal}
    for grant in plan.grants:
        if grant.principal is not None:
            out.append(entry(grant.principal, grant.scopes, grant.principal.casefold() in assigned_users))
    for group_grant in plan.group_grants:
        # Graph matches group display names ignoring case, so "Finance" and "finance" are one group.
        group_assigned = group_grant.group.casefold() in {g.casefold() for g in assigned_groups}
        principal = f"each direct user member of group {group_grant.group}"
        out.append(entry(principal, group_grant.scopes, group_assigned))
    for user in sorted(assigned_users - granted_users):
        out.append(entry(user, (), True))
    out.append(entry(ANY_OTHER_USER, (), False))
    return out


def plan_to_dict(plan: ConsentPlan) -> TenantPlan:
    """The plan@1 JSON shape of one tenant (see README: plan --offline --json)."""
    return {
        "tenant": plan.tenant,
        "file": plan.file,
        "tenant_id": plan.tenant_id,
        "name": plan.tenant_name,
        "domain": plan.tenant_domain,
        "app": {"client_id": plan.app.client_id, "register": plan.app.register},
        "service_principal": {"assignment_required": plan.service_principal.assignment_required},
        "grants": [
            {
                "consent_type": g.consent_type,
                "principal": g.principal,
                "resource_app_id": g.resource_app_id,
                "scopes": list(g.scopes),
            }
            for g in plan.grants
        ],
        "group_grants": [
            {"group": g.group, "resource_app_id": g.resource_app_id, "scopes": list(g.scopes)}
            for g in plan.group_grants
        ],
        "app_role_assignments": [
            {"resource_app_id": a.resource_app_id, "role": a.role} for a in plan.app_role_assignments
        ],
        "assignments": [{"principal_type": a.principal_type, "principal": a.principal} for a in plan.assignments],
        "consent_settings": consent_settings_to_dict(plan.consent_settings),
        "user_experience": [
            {"principal": p.principal, "experience": p.experience, "refused": p.refused, "reason": p.reason}
            for p in predict_users(plan)
        ],
        "access": access_to_dict(plan),
        "violations": [{"rule": v.rule, "severity": v.severity, "message": v.message} for v in plan.violations],
    }


def access_to_dict(plan: ConsentPlan) -> PlanAccess:
    """What applying the plan needs of whoever signs in, from the role table (a fresh document each time)."""
    roles, permissions, rows = _access_parts(needs(plan))
    return {
        "directory_roles": list(roles),
        "application_permissions": list(permissions),
        "needs": [
            {"need": key, "what": what, "least_role": least, "application_permissions": list(row_permissions)}
            for key, what, least, row_permissions in rows
        ],
    }


@functools.lru_cache(maxsize=256)
def _access_parts(
    needed: Needs,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str, str | None, tuple[str, ...]], ...]]:
    """The role table's answer for one set of rows, worked out once: a fleet's tenants share a handful of sets
    (``plan --offline --json`` over 5,000 files is held to 2.2x a bare parse)."""
    rows = tuple(
        (row.key, row.what, row.least_role.name if row.least_role is not None else None, row.application_permissions)
        for row in needed.requirements
    )
    return tuple(role.name for role in needed.roles), tuple(needed.application_permissions), rows


def consent_settings_to_dict(settings: ConsentSettingsPlan) -> PlanConsentSettings:
    workflow = settings.admin_consent_workflow
    return {
        "user_consent": None
        if settings.user_consent is None
        else {"setting": settings.user_consent, "label": USER_CONSENT_LABELS[settings.user_consent]},
        "admin_consent_workflow": None
        if workflow is None
        else {
            "enabled": workflow.enabled,
            "reviewers": None
            if workflow.reviewers is None
            else [{"type": r.reviewer_type, "reviewer": r.reference} for r in workflow.reviewers],
            "notify_reviewers": workflow.notify_reviewers,
            "reminders": workflow.reminders,
            "request_expires_in_days": workflow.request_duration_in_days,
        },
    }


# ------------------------------------------------------------------------------- the plan as data


def plan_to_data(plan: ConsentPlan) -> dict[str, Any]:
    """The whole plan as JSON data, for the engine's side of a run: the policy pack judges the plan the driver
    made, handed over in its ``--policy-pack-config``, instead of reading the tenant file again.
    :func:`plan_from_data` gives it back equal. Unlike plan@1 (``plan_to_dict``, a document for people and
    CI), it keeps what the rules read besides the resources: the sign-in block, the policy and the exceptions."""
    return {
        "tenant": plan.tenant,
        "file": plan.file,
        "tenant_id": plan.tenant_id,
        "tenant_name": plan.tenant_name,
        "tenant_domain": plan.tenant_domain,
        "app": asdict(plan.app),
        "service_principal": asdict(plan.service_principal),
        "grants": [asdict(g) for g in plan.grants],
        "group_grants": [asdict(g) for g in plan.group_grants],
        "app_role_assignments": [asdict(a) for a in plan.app_role_assignments],
        "assignments": [asdict(a) for a in plan.assignments],
        "auth": plan.auth.model_dump(mode="json"),
        "exceptions": [e.model_dump(mode="json") for e in plan.exceptions],
        "policy": plan.policy.model_dump(mode="json"),
        "violations": [asdict(v) for v in plan.violations],
        "consent_settings": asdict(plan.consent_settings),
    }


def plan_from_data(data: Mapping[str, Any]) -> ConsentPlan:
    """The plan :func:`plan_to_data` wrote. Raises KeyError, TypeError or ValueError (pydantic's included) for
    data it did not write."""
    settings = data["consent_settings"]
    workflow = settings["admin_consent_workflow"]
    return ConsentPlan(
        tenant=data["tenant"],
        file=data["file"],
        tenant_id=data["tenant_id"],
        tenant_name=data["tenant_name"],
        tenant_domain=data["tenant_domain"],
        app=AppPlan(**{**data["app"], "redirect_uris": tuple(data["app"]["redirect_uris"])}),
        service_principal=ServicePrincipalPlan(**data["service_principal"]),
        grants=tuple(DelegatedGrant(**{**g, "scopes": tuple(g["scopes"])}) for g in data["grants"]),
        group_grants=tuple(GroupGrant(**{**g, "scopes": tuple(g["scopes"])}) for g in data["group_grants"]),
        app_role_assignments=tuple(AppRoleAssignment(**a) for a in data["app_role_assignments"]),
        assignments=tuple(AccessAssignment(**a) for a in data["assignments"]),
        auth=AuthSection.model_validate(data["auth"]),
        exceptions=tuple(PolicyException.model_validate(e) for e in data["exceptions"]),
        policy=PolicyConfig.model_validate(data["policy"]),
        violations=tuple(Violation(**v) for v in data["violations"]),
        consent_settings=ConsentSettingsPlan(
            user_consent=settings["user_consent"],
            admin_consent_workflow=None
            if workflow is None
            else AdminConsentWorkflowPlan(
                **{
                    **workflow,
                    "reviewers": None
                    if workflow["reviewers"] is None
                    else tuple(Reviewer(**r) for r in workflow["reviewers"]),
                }
            ),
        ),
    )
