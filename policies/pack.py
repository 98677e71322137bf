"""The consent rules as CrossGuard policies, for ``pulumi preview --policy-pack policies``.

Each rule in ``policies.rules`` becomes one Pulumi policy with the same id. A policy rebuilds a
ConsentPlan from the resources the engine shows it (camelCase inputs, app role ids mapped back to
names through the catalog) and runs the rule function unchanged, so the ids and messages match
``validate`` and ``plan --offline`` exactly.

The tenant's policy configuration and exceptions are not resources. In the tool's runs they come with the
plan the driver made, which it hands to the pack as data in the policy config property ``plan``
(``--policy-pack-config``, ``infra.model.plan.plan_to_data``): the pack judges that plan and reads no file. A
preview run by hand (``pulumi preview --policy-pack policies``) has no plan, so the pack reads the tenant
file with ``infra.model.plan.read_plan``, the program's own reader, found (in this order) from the policy config
property ``tenantFile``; from the stack's configuration ``taxcalc-consent:tenantFile``, which the engine
passes to the pack (``PULUMI_CONFIG``); or, failing that, from the stack's config file
``stacks/Pulumi.<stack>.yaml`` (the stack name is in every resource URN). Relative paths are relative to
the workspace root (``infra.model.workspace``, found from the pack's folder). With none, the strictest reading
applies: the default policy and no exceptions. See docs/policy.md.

Constructing a ``PolicyPack`` serves the engine forever, so that happens only in ``__main__.py``;
everything here is importable and is called directly by the tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID, PermissionCatalog, graph_catalog
from taxcalc_consent.infra.model.consent_settings import MANAGED_USER_CONSENT, parse_reviewer_query
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.kinds import (
    ResourceKind,
    access_assignment,
    admin_consent_workflow,
    app_role_assignment,
    delegated_grant,
    kind_of,
    service_principal,
    user_consent_setting,
)
from taxcalc_consent.infra.model.kinds import stack_name as stack_name_from_urn
from taxcalc_consent.infra.model.plan import (
    AccessAssignment,
    AdminConsentWorkflowPlan,
    AppPlan,
    AppRoleAssignment,
    ConsentPlan,
    ConsentSettingsPlan,
    DelegatedGrant,
    Reviewer,
    ServicePrincipalPlan,
    plan_from_data,
    read_plan,
)
from taxcalc_consent.infra.model.profiles import DEFAULT_PROFILE, PROFILES
from taxcalc_consent.infra.model.workspace import TENANT_FILE_KEY, engine_root, open_workspace, read_stack_settings
from taxcalc_consent.policies.rules import (  # noqa: F401  (pack_config is re-exported for the pack's users)
    PLAN_PROPERTY,
    RULES,
    TENANT_FILE_PROPERTY,
    Rule,
    config_problems,
    pack_config,
    run_rule,
    utc_today,
)

TENANT_FILE_CONFIG = TENANT_FILE_KEY
"""Policy config property (``--policy-pack-config``) naming the tenant file; wins over the stack config (whose key,
``taxcalc-consent:tenantFile``, the program reads its tenant file from: infra/program/stack.py)."""

_LEVELS = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
    "disabled": EnforcementLevel.DISABLED,
}


@dataclass(frozen=True)
class ResourceView:
    """What a policy needs of one resource: type, logical name and inputs (camelCase, as the engine sends)."""

    resource_type: str
    name: str
    props: Mapping[str, Any]

    def get(self, key: str) -> Any:
        """A property, or None when absent or not known until apply (a preview's computed value)."""
        try:
            return self.props.get(key)
        except UnknownValueError:
            return None

    def is_unknown(self, key: str) -> bool:
        """Whether ``key`` is set to a value the engine only learns at apply time."""
        try:
            self.props.get(key)
        except UnknownValueError:
            return True
        return False


# ------------------------------------------------------------------------------------ the tenant plan


def workspace_root() -> Path:
    """R as the pack sees it: ``$TAXCALC_CONSENT_ROOT``, else found from the pack's folder (a hand-run
    ``pulumi preview --policy-pack policies`` in this repository)."""
    return engine_root(os.environ, Path.cwd())


def tenant_file_from_stack(stack: str, root: Path | None = None) -> Path | None:
    """The tenant file named in the stack's settings file (``R/stacks/Pulumi.<stack>.yaml``), if any."""
    found = open_workspace(root or workspace_root())
    stack_config = _read_yaml(found.stack_settings_file(stack))
    config = stack_config.get("config") if isinstance(stack_config, dict) else None
    value = config.get(TENANT_FILE_CONFIG) if isinstance(config, dict) else None
    if not isinstance(value, str) or not value:
        return None
    return found.tenant_file_path(value)


def _read_yaml(path: Path) -> Any:
    """The stack settings, read as the tool reads them (a regular file only, its size capped): a pipe in
    their place cannot hang the engine's policy pack."""
    try:
        return read_stack_settings(path)
    except TaxcalcConsentError:
        return None


def tenant_file_from_engine() -> str | None:
    """The stack's ``taxcalc-consent:tenantFile`` as the engine hands it to the pack.

    The engine starts a policy pack with the stack's configuration as JSON in ``PULUMI_CONFIG`` (as it
    does for a program; pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go, constructEnv).
    """
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except json.JSONDecodeError:
        return None
    value = config.get(TENANT_FILE_CONFIG) if isinstance(config, dict) else None
    return value if isinstance(value, str) and value else None


def find_tenant_file(config: Mapping[str, Any], urn: str, root: Path | None = None) -> Path | None:
    """Policy config ``tenantFile``, else the stack config from the engine, else the stack's config file."""
    named = config.get(TENANT_FILE_PROPERTY)
    if not (isinstance(named, str) and named):
        named = tenant_file_from_engine()
    if named:
        path = Path(named)
        return path if path.is_absolute() else (root or workspace_root()) / path
    stack = stack_name_from_urn(urn)
    return tenant_file_from_stack(stack, root) if stack else None


def tenant_plan(tenant_file: Path | None) -> ConsentPlan:
    """The tenant's offline plan: its policy configuration, exceptions and profile. Strict defaults without one."""
    if tenant_file is None:
        profile = PROFILES[DEFAULT_PROFILE]
        return ConsentPlan(
            tenant="",
            file="",
            tenant_id="",
            app=AppPlan(profile.name, profile.display_name, profile.client_id, register=False),
            service_principal=ServicePrincipalPlan(assignment_required=False),
            grants=(),
            group_grants=(),
            app_role_assignments=(),
            assignments=(),
        )
    resolved = tenant_file.resolve()
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _load_tenant_plan(str(resolved), stamp)


@cache
def _load_tenant_plan(path: str, _mtime_ns: int) -> ConsentPlan:
    # The same loader and checks as `validate`: an invalid tenant file stops the preview with located errors.
    catalog = graph_catalog()
    return read_plan(path, catalog, lambda tenant: config_problems(tenant, catalog))


def base_plan(config: Mapping[str, Any], urn: str, root: Path | None = None) -> ConsentPlan:
    """The plan a policy judges the preview's resources against: the driver's, handed over in the policy config
    (``plan``), else (a preview run by hand) the tenant file's, else the strictest reading."""
    data = config.get(PLAN_PROPERTY)
    if isinstance(data, Mapping):
        try:
            return plan_from_data(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise TaxcalcConsentError(
                f"the policy config's {PLAN_PROPERTY!r} is not a plan the tool wrote ({type(exc).__name__}: {exc})"
            ) from None
    return tenant_plan(find_tenant_file(config, urn, root))


# -------------------------------------------------------------------------------- resources -> plan


@dataclass
class _Declared:
    """The plan's resources as the preview shows them, gathered kind by kind."""

    service_principal: ServicePrincipalPlan
    catalog: PermissionCatalog
    grants: list[DelegatedGrant] = field(default_factory=list)
    roles: list[AppRoleAssignment] = field(default_factory=list)
    assignments: list[AccessAssignment] = field(default_factory=list)
    consent_settings: ConsentSettingsPlan = field(default_factory=ConsentSettingsPlan)


def _read_service_principal(resource: ResourceView, declared: _Declared) -> None:
    if not resource.is_unknown("appRoleAssignmentRequired"):  # unknown: trust the tenant file
        required = resource.get("appRoleAssignmentRequired")
        declared.service_principal = ServicePrincipalPlan(assignment_required=required is True)


def _read_grant(resource: ResourceView, declared: _Declared) -> None:
    scopes = tuple(str(s) for s in (resource.get("claimValues") or ()))
    user = resource.get("userObjectId")
    if resource.is_unknown("userObjectId"):
        # A user created in the same run: a Principal grant all the same, never AllPrincipals.
        declared.grants.append(DelegatedGrant("Principal", "(object id known after apply)", GRAPH_APP_ID, scopes))
    elif user:
        declared.grants.append(DelegatedGrant("Principal", str(user).lower(), GRAPH_APP_ID, scopes))
    else:
        declared.grants.append(DelegatedGrant("AllPrincipals", None, GRAPH_APP_ID, scopes))


def _read_app_role_assignment(resource: ResourceView, declared: _Declared) -> None:
    role_id = str(resource.get("appRoleId") or "").lower()
    if role_id:
        permission = declared.catalog.by_id("application", role_id)
        declared.roles.append(AppRoleAssignment(GRAPH_APP_ID, permission.name if permission else role_id))


def _read_access_assignment(resource: ResourceView, declared: _Declared) -> None:
    parsed = access_assignment.parse_name(resource.name)
    if parsed is None:
        return
    principal_type, named_id = parsed
    # principalObjectId comes from a lookup, so it is known at preview; the name carries it too.
    principal = str(resource.get("principalObjectId") or named_id).lower()
    declared.assignments.append(AccessAssignment(principal_type, principal))


def _read_user_consent_setting(resource: ResourceView, declared: _Declared) -> None:
    setting = resource.get("setting")
    if setting in MANAGED_USER_CONSENT:
        declared.consent_settings = replace(declared.consent_settings, user_consent=setting)


def _read_admin_consent_workflow(resource: ResourceView, declared: _Declared) -> None:
    reviewers: list[Reviewer] = []
    for query in admin_consent_workflow.reviewer_queries(resource.get("reviewers")):
        parsed = parse_reviewer_query(query)
        # A query in no form the tool writes still names someone: the rules count it as a reviewer.
        reviewers.append(Reviewer(*parsed) if parsed else Reviewer("user", query))
    # A property the program does not send is one the file leaves as the tenant has it (None in the plan).
    days = resource.get("requestDurationInDays")
    workflow = AdminConsentWorkflowPlan(
        enabled=resource.get("isEnabled") is True,
        reviewers=None if resource.get("reviewers") is None else tuple(reviewers),
        notify_reviewers=_bool_or_kept(resource.get("notifyReviewers")),
        reminders=_bool_or_kept(resource.get("remindersEnabled")),
        request_duration_in_days=None if days is None else int(days),
    )
    declared.consent_settings = replace(declared.consent_settings, admin_consent_workflow=workflow)


def _bool_or_kept(value: object) -> bool | None:
    return None if value is None else value is True


_READERS: dict[ResourceKind, Callable[[ResourceView, _Declared], None]] = {
    service_principal.KIND: _read_service_principal,
    delegated_grant.KIND: _read_grant,
    app_role_assignment.KIND: _read_app_role_assignment,
    access_assignment.KIND: _read_access_assignment,
    user_consent_setting.KIND: _read_user_consent_setting,
    admin_consent_workflow.KIND: _read_admin_consent_workflow,
}
"""The kinds the rules judge, each read back into the ConsentPlan part it came from: what the tenant grants and
its tenant-wide consent settings. A kind not listed (the app registration) is not judged."""
JUDGED_TYPES = frozenset(kind.type_token for kind in _READERS)


def _judged(resource_type: str, name: str) -> bool:
    kind = kind_of(resource_type, name)
    return kind is not None and kind in _READERS


def plan_from_resources(
    resources: Iterable[ResourceView], base: ConsentPlan, catalog: PermissionCatalog | None = None
) -> ConsentPlan:
    """A ConsentPlan holding what the preview would create, over the tenant's policy, exceptions and profile.

    Each resource is read by its kind (``infra.kinds``): grants become DelegatedGrants (principal: the
    user's object id); application permissions are named through the catalog (an unknown id keeps the
    id, so ``known-permissions`` reports it); access assignments take User or Group from their logical name.
    """
    declared = _Declared(base.service_principal, catalog or graph_catalog())
    for resource in resources:
        kind = kind_of(resource.resource_type, resource.name)
        reader = _READERS.get(kind) if kind is not None else None
        if reader is not None:
            reader(resource, declared)
    return replace(
        base,
        service_principal=declared.service_principal,
        grants=tuple(declared.grants),
        group_grants=(),
        app_role_assignments=tuple(declared.roles),
        assignments=tuple(declared.assignments),
        consent_settings=declared.consent_settings,
        violations=(),
    )


# ---------------------------------------------------------------------------------------- policies


def _resource_validation(rule: Rule, today: date | None = None) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not _judged(args.resource_type, args.name):
            return
        base = base_plan(args.get_config(), args.urn)
        plan = plan_from_resources([ResourceView(args.resource_type, args.name, args.props)], base)
        for violation, _ in run_rule(rule, plan, today=today or utc_today()):
            report_violation(violation.message, None)

    return validate


def _stack_validation(rule: Rule, today: date | None = None) -> StackValidation:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        judged = [r for r in args.resources if _judged(r.resource_type, r.name)]
        urn = next((r.urn for r in args.resources), "")
        base = base_plan(args.get_config(), urn)
        views = [ResourceView(r.resource_type, r.name, r.props) for r in judged]
        plan = plan_from_resources(views, base)
        # A finding about a user (assignment-coverage) is attached to that user's grant in the preview.
        grant_urns = {
            str(view.get("userObjectId")).lower(): resource.urn
            for view, resource in zip(views, judged, strict=True)
            if view.resource_type == delegated_grant.TYPE and view.get("userObjectId")
        }
        for violation, where in run_rule(rule, plan, today=today or utc_today()):
            subject = where[-1] if where and isinstance(where[-1], str) else ""
            report_violation(violation.message, grant_urns.get(subject.lower()))

    return validate


_CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        TENANT_FILE_PROPERTY: {
            "type": "string",
            "description": "The tenant file to read policy settings and exceptions from (default: the stack's "
            f"{TENANT_FILE_CONFIG} config).",
        },
        PLAN_PROPERTY: {
            "type": "object",
            "description": "The tenant's plan as taxcalc-consent made it (infra.model.plan.plan_to_data): when given, "
            "the pack judges it and reads no tenant file.",
        },
    }
)


def build_policies(rules: Sequence[Rule] = RULES, today: date | None = None) -> list[Policy]:
    """One CrossGuard policy per rule, named by the rule id, at the rule's default level."""
    policies: list[Policy] = []
    for rule in rules:
        level = _LEVELS[rule.severity]
        description = (
            f"{rule.summary} (taxcalc-consent rule {rule.id}; docs/policy.md in the taxcalc-consent repository)"
        )
        if rule.scope == "stack":
            policies.append(
                StackValidationPolicy(
                    name=rule.id,
                    description=description,
                    validate=_stack_validation(rule, today),
                    enforcement_level=level,
                    config_schema=_CONFIG_SCHEMA,
                )
            )
        else:
            policies.append(
                ResourceValidationPolicy(
                    name=rule.id,
                    description=description,
                    validate=_resource_validation(rule, today),
                    enforcement_level=level,
                    config_schema=_CONFIG_SCHEMA,
                )
            )
    return policies


POLICY_PACK_NAME = "taxcalc-consent"
