"""The ConsentPlan: pure data saying what one tenant should hold, derived from a validated tenant file.

Everything downstream reads this: the offline render and JSON, the policy rules, the Pulumi program
(which maps it 1:1 onto resources), and the Graph audit. What each resource kind is called in Pulumi
(logical names, type tokens, import ids) lives in ``infra.kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from taxcalc_consent.infra.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.documents import PLAN_FORMAT, PlanDocument, TenantPlan
from taxcalc_consent.infra.kinds.access_assignment import PrincipalType
from taxcalc_consent.infra.loader import LoadedTenant
from taxcalc_consent.infra.profiles import PROFILES
from taxcalc_consent.infra.spec import AuthSection, PolicyConfig, PolicyException

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
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    violations: tuple[Violation, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """The delegated scopes every grant in this plan carries."""
        carriers: tuple[DelegatedGrant | GroupGrant, ...] = (*self.grants, *self.group_grants)
        return carriers[0].scopes if carriers else ()

    @property
    def mode(self) -> Literal["organization", "users"]:
        return "organization" if any(g.consent_type == "AllPrincipals" for g in self.grants) else "users"


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
        policy=spec.policy,
    )


def plan_to_dict(plan: ConsentPlan) -> TenantPlan:
    """The plan@1 JSON shape of one tenant (see README: plan --offline --json)."""
    return {
        "tenant": plan.tenant,
        "file": plan.file,
        "tenant_id": plan.tenant_id,
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
        "violations": [{"rule": v.rule, "severity": v.severity, "message": v.message} for v in plan.violations],
    }


def plans_document(plans: list[ConsentPlan]) -> PlanDocument:
    return {"format": PLAN_FORMAT, "tenants": [plan_to_dict(p) for p in plans]}
