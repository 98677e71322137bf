"""Consent policy rules: plain functions over a ConsentPlan, the Graph catalog and the policy configuration.

One function per rule, registered in ``RULES`` under a stable kebab-case id with its default
severity. Each yields ``Finding``s whose message says what to change. The same functions run offline
(``validate``, ``plan --offline``, via ``evaluate``) and inside the CrossGuard pack (``policies.pack``),
which rebuilds a ConsentPlan from the preview's resources and calls them unchanged.

Configuration (``plan.policy``, from ``_defaults.yaml`` only) sets the allowlist and each rule's level
(mandatory, advisory or disabled); tenant files may carry dated, reasoned ``exceptions`` for the rules
that allow them. See docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Literal

from taxcalc_consent.infra.model.catalog import PermissionCatalog, graph_catalog
from taxcalc_consent.infra.model.errors import MAX_PROBLEMS_PER_FILE, MoreProblems, Problem, did_you_mean, quote
from taxcalc_consent.infra.model.loader import LoadedTenant
from taxcalc_consent.infra.model.plan import ConsentPlan, DelegatedGrant, GroupGrant, Severity, Violation
from taxcalc_consent.infra.model.positions import KeyPath
from taxcalc_consent.infra.model.profiles import DEFAULT_PROFILE, PROFILES, Profile
from taxcalc_consent.infra.model.spec import PolicyConfig, PolicyException


@dataclass(frozen=True)
class Finding:
    """One breach of one rule. ``where`` is the tenant-file key path it is about, when one exists.

    A path may end in a value instead of an index (``("consent", "app_roles", "Mail.Send")``): the
    plan holds sorted, de-duplicated lists, so the CLI looks the value up in the file to locate it.
    """

    message: str
    where: KeyPath = ()


@dataclass(frozen=True)
class RuleContext:
    plan: ConsentPlan
    catalog: PermissionCatalog
    today: date
    granted: tuple[str, ...] = field(init=False)
    """Every distinct scope any grant carries, in order (grants in a plan normally share one set)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "granted", _granted_scopes(self.plan))

    @property
    def profile(self) -> Profile:
        return PROFILES.get(self.plan.app.profile, PROFILES[DEFAULT_PROFILE])

    def live_exception(self, rule_id: str, permission: str) -> PolicyException | None:
        """An exception for this rule and permission that has not expired (it holds through ``expires``)."""
        return next(
            (
                e
                for e in self.plan.exceptions
                if e.rule == rule_id and e.permission == permission and e.expires >= self.today
            ),
            None,
        )


Check = Callable[[RuleContext], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    """The default level; ``policy.enforcement`` in _defaults.yaml may change it or disable the rule."""
    summary: str
    check: Check
    exceptable: bool = False
    """Whether a tenant file's ``exceptions`` entry (reason + expiry) may waive it for one permission."""
    scope: Literal["resource", "stack"] = "resource"
    """``resource``: judged one grant or assignment at a time; ``stack``: needs the whole tenant."""


# ------------------------------------------------------------------------------------------- rules


def known_permissions(ctx: RuleContext) -> Iterator[Finding]:
    """Every delegated scope and app role exists in Graph's catalog, and is of the right kind."""
    for scope in ctx.granted:
        if ctx.catalog.get("delegated", scope) is None:
            yield Finding(ctx.catalog.explain_unknown("delegated", scope), ("consent", "scopes", scope))
    for assignment in ctx.plan.app_role_assignments:
        if ctx.catalog.get("application", assignment.role) is None:
            yield Finding(
                ctx.catalog.explain_unknown("application", assignment.role), ("consent", "app_roles", assignment.role)
            )


def allowed_scopes(ctx: RuleContext) -> Iterator[Finding]:
    """Delegated scopes stay within the allowlist: ``policy.allowed_scopes``, by default the profile's scopes."""
    configured = ctx.plan.policy.allowed_scopes
    allowlist = set(configured) if configured is not None else set(ctx.profile.scopes)
    source = "policy.allowed_scopes" if configured is not None else f"the {ctx.profile.name} profile's scopes"
    for scope in ctx.granted:
        if scope not in allowlist:
            yield Finding(
                f"delegated scope {quote(scope)} is outside the allowlist ({source}): remove it from consent.scopes, "
                "or widen policy.allowed_scopes in _defaults.yaml after review",
                ("consent", "scopes", scope),
            )


def high_risk_app_roles(ctx: RuleContext) -> Iterator[Finding]:
    """Application permissions the catalog classes high risk need a live exception in the tenant file."""
    for assignment in ctx.plan.app_role_assignments:
        permission = ctx.catalog.get("application", assignment.role)
        if permission is None or permission.risk != "high":
            continue
        if ctx.live_exception(HIGH_RISK_APP_ROLES, assignment.role) is None:
            yield Finding(
                f"application permission {quote(assignment.role)} is high risk (it acts without a signed-in user, "
                "across the whole tenant): remove it from consent.app_roles, or add an exception "
                f"{{rule: {HIGH_RISK_APP_ROLES}, permission: {assignment.role}, reason: ..., expires: YYYY-MM-DD}} "
                "with a future date",
                ("consent", "app_roles", assignment.role),
            )


def expired_exception(ctx: RuleContext) -> Iterator[Finding]:
    """An exception past its expiry date is itself a violation: renew it deliberately or drop it."""
    for index, exception in enumerate(ctx.plan.exceptions):
        if exception.expires < ctx.today:
            yield Finding(
                f"the exception to {exception.rule} for {quote(exception.permission)} expired on "
                f"{exception.expires.isoformat()}: remove the permission and the exception, or renew it with a "
                "current reason and a new expires date",
                ("exceptions", index, "expires"),
            )


def assignment_coverage(ctx: RuleContext) -> Iterator[Finding]:
    """With assignment required in users mode, every user given a grant is also assigned to the app.

    One rule for groups everywhere (docs/tenant-file.md): a group in consent.groups grants its direct user
    members, and assignment to a group reaches its direct members only, so a granted group is covered exactly
    when the same group is in access.groups. A user in consent.users may be a direct member of an assigned
    group, which only Entra knows at apply time, so any assigned group is taken to cover listed users.
    """
    plan = ctx.plan
    if not plan.service_principal.assignment_required or plan.mode != "users":
        return
    users = {a.principal.casefold() for a in plan.assignments if a.principal_type == "User"}
    groups = {a.principal.casefold() for a in plan.assignments if a.principal_type == "Group"}
    if not groups:
        for grant in plan.grants:
            if grant.principal is not None and grant.principal.casefold() not in users:
                yield Finding(
                    f"user {grant.principal} has a delegated grant but is not assigned to the app, and assignment "
                    "is required, so Entra would refuse their sign-in: add them to access.users (or assign a "
                    "group they are a direct member of under access.groups)",
                    ("consent", "users", grant.principal),
                )
    for group_grant in plan.group_grants:
        if group_grant.group.casefold() not in groups:
            yield Finding(
                f"direct members of group {group_grant.group} get delegated grants but the group is not assigned "
                "to the app, and assignment is required, so Entra would refuse their sign-in: add "
                f"{group_grant.group} to access.groups, written the same way (name or object id)",
                ("consent", "groups", group_grant.group),
            )


def tenant_wide_consent(ctx: RuleContext) -> Iterator[Finding]:
    """Organization mode consents for every user in the tenant; a reviewer should see that."""
    if any(g.consent_type == "AllPrincipals" for g in ctx.plan.grants):
        yield Finding(
            "organization mode grants every user in the tenant (AllPrincipals), including users added later: "
            "if only some mailboxes send from TaxCalc, use mode: users with consent.users or consent.groups",
            ("consent", "mode"),
        )


def offline_access(ctx: RuleContext) -> Iterator[Finding]:
    """Without offline_access there is no refresh token: each mailbox must be re-authorised hourly."""
    if _has_grants(ctx.plan) and "offline_access" not in ctx.granted:
        yield Finding(
            "the grants lack offline_access, so TaxCalc gets no refresh token and every mailbox must be "
            "re-authorised when its access token expires (about an hour): add offline_access to consent.scopes",
            ("consent", "scopes"),
        )


def sign_in_scopes_covered(ctx: RuleContext) -> Iterator[Finding]:
    """The grants cover every scope the app asks for at sign-in, or the consent screen comes back."""
    if not _has_grants(ctx.plan):
        return
    granted = set(ctx.granted)
    missing = [s for s in ctx.profile.scopes if s not in granted]
    if missing:
        yield Finding(
            f"{ctx.profile.display_name} asks for {' '.join(ctx.profile.scopes)} at sign-in, but the grants lack "
            f"{' '.join(missing)}: users would meet the consent screen (or the admin-approval wall) again; "
            "add them to consent.scopes, or remove the key to use the profile's scopes",
            ("consent", "scopes"),
        )


def admin_consent_reviewers(ctx: RuleContext) -> Iterator[Finding]:
    """An admin consent workflow that is on needs someone to send the requests to."""
    workflow = ctx.plan.consent_settings.admin_consent_workflow
    # Reviewers the file does not name (None) are the tenant's own, kept as they are: unknown here. The
    # consent settings provider refuses to turn the workflow on when the tenant turns out to have none.
    if workflow is not None and workflow.enabled and workflow.reviewers == ():
        yield Finding(
            "the admin consent workflow is turned on with no reviewers, so users' requests for approval would "
            "reach nobody: name reviewers under consent_settings.admin_consent_workflow.reviewers (users, groups, "
            "or directory roles such as Global Administrator), or set enabled: false",
            ("consent_settings", "admin_consent_workflow", "enabled"),
        )


def user_consent_all_apps(ctx: RuleContext) -> Iterator[Finding]:
    """Opening user consent to all apps reaches far beyond TaxCalc-Hub: a reviewer should see that."""
    if ctx.plan.consent_settings.user_consent == "all":
        yield Finding(
            "user_consent: all (Allow user consent for apps) lets every user in the tenant give any app, from any "
            "publisher, the permissions that need no administrator, not only TaxCalc-Hub, whose grants need no user "
            "consent at all: prefer microsoft-managed or verified-publishers-low-impact, or disabled with the admin "
            "consent workflow on",
            ("consent_settings", "user_consent"),
        )


def _has_grants(plan: ConsentPlan) -> bool:
    return bool(plan.grants or plan.group_grants)


def _granted_scopes(plan: ConsentPlan) -> tuple[str, ...]:
    carriers: tuple[DelegatedGrant | GroupGrant, ...] = (*plan.grants, *plan.group_grants)
    distinct = {grant.scopes for grant in carriers}
    if len(distinct) <= 1:
        return next(iter(distinct), ())
    seen: dict[str, None] = {}
    for grant in carriers:
        seen.update(dict.fromkeys(grant.scopes))
    return tuple(seen)


KNOWN_PERMISSIONS = "known-permissions"
ALLOWED_SCOPES = "allowed-scopes"
HIGH_RISK_APP_ROLES = "high-risk-app-roles"
EXPIRED_EXCEPTION = "expired-exception"
ASSIGNMENT_COVERAGE = "assignment-coverage"
TENANT_WIDE_CONSENT = "tenant-wide-consent"
OFFLINE_ACCESS = "offline-access"
SIGN_IN_SCOPES_COVERED = "sign-in-scopes-covered"
ADMIN_CONSENT_REVIEWERS = "admin-consent-reviewers"
USER_CONSENT_ALL_APPS = "user-consent-all-apps"

RULES: tuple[Rule, ...] = (
    Rule(KNOWN_PERMISSIONS, "mandatory", "Every scope and app role exists in Graph's catalog.", known_permissions),
    Rule(ALLOWED_SCOPES, "mandatory", "Delegated scopes stay within the allowlist.", allowed_scopes),
    Rule(
        HIGH_RISK_APP_ROLES,
        "mandatory",
        "High-risk application permissions need a dated, reasoned exception.",
        high_risk_app_roles,
        exceptable=True,
    ),
    Rule(EXPIRED_EXCEPTION, "mandatory", "No exception past its expiry date.", expired_exception, scope="stack"),
    Rule(
        ASSIGNMENT_COVERAGE,
        "mandatory",
        "With assignment required, every user with a grant can be assigned.",
        assignment_coverage,
        scope="stack",
    ),
    Rule(
        SIGN_IN_SCOPES_COVERED,
        "mandatory",
        "The grants cover every scope the app requests at sign-in.",
        sign_in_scopes_covered,
    ),
    Rule(
        ADMIN_CONSENT_REVIEWERS,
        "mandatory",
        "An admin consent workflow that is on has reviewers.",
        admin_consent_reviewers,
    ),
    Rule(TENANT_WIDE_CONSENT, "advisory", "Organization mode consents for every user.", tenant_wide_consent),
    Rule(OFFLINE_ACCESS, "advisory", "Grants include offline_access (refresh tokens).", offline_access),
    Rule(
        USER_CONSENT_ALL_APPS,
        "advisory",
        "User consent is not opened to all apps from any publisher.",
        user_consent_all_apps,
    ),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


# ------------------------------------------------------------------------------------------ running


def utc_today() -> date:
    return datetime.now(UTC).date()


def effective_severity(rule: Rule, plan: ConsentPlan) -> Severity | None:
    """The level the policy configuration gives ``rule``; None when disabled."""
    return policy_level(rule, plan.policy)


def policy_level(rule: Rule, policy: PolicyConfig) -> Severity | None:
    level = policy.enforcement.get(rule.id, rule.severity)
    return None if level == "disabled" else level


def run_rule(
    rule: Rule, plan: ConsentPlan, catalog: PermissionCatalog | None = None, today: date | None = None
) -> list[tuple[Violation, KeyPath]]:
    """One rule over one plan, at its configured level; nothing when the configuration disables it."""
    return _run(rule, RuleContext(plan, catalog or graph_catalog(), today or utc_today()))


def _run(rule: Rule, ctx: RuleContext) -> list[tuple[Violation, KeyPath]]:
    severity = effective_severity(rule, ctx.plan)
    if severity is None:
        return []
    found = [(Violation(rule.id, severity, f.message), f.where) for f in rule.check(ctx)]
    if not found or severity != "advisory" or not acknowledgeable(rule, ctx.plan.policy.acknowledgeable):
        return found
    acknowledged = [a for a in ctx.plan.acknowledged if a.rule == rule.id]
    if any(a.expires >= ctx.today for a in acknowledged):
        return []  # read and accepted for this tenant, until its expiry: it stops repeating
    if acknowledged:
        last = max(a.expires for a in acknowledged)
        note = f" (its acknowledgement expired on {last.isoformat()}: renew it in acknowledged:, or act on it)"
        return [(Violation(v.rule, v.severity, v.message + note), where) for v, where in found]
    return found


def acknowledgeable(rule: Rule, allowed: list[str] | None) -> bool:
    """Whether a tenant file may acknowledge ``rule``: an advisory rule that ``policy.acknowledgeable`` (default:
    every advisory rule) lists. A mandatory rule never: it is excepted (a few) or its level is changed."""
    return rule.severity == "advisory" and (allowed is None or rule.id in allowed)


def findings(
    plan: ConsentPlan, catalog: PermissionCatalog | None = None, today: date | None = None
) -> list[tuple[Violation, KeyPath]]:
    """Every violation of every enabled rule, with the tenant-file key path each is about."""
    ctx = RuleContext(plan, catalog or graph_catalog(), today or utc_today())
    return [found for rule in RULES for found in _run(rule, ctx)]


def evaluate(
    plan: ConsentPlan, catalog: PermissionCatalog | None = None, today: date | None = None
) -> tuple[Violation, ...]:
    """The plan's violations, mandatory and advisory, in rule order."""
    return tuple(v for v, _ in findings(plan, catalog, today))


# ------------------------------------------------------------------------------- configuration input


def config_problems(tenant: LoadedTenant, catalog: PermissionCatalog | None = None) -> list[Problem]:
    """Unknown rule ids and scopes in ``policy`` and ``exceptions``: located input errors, not violations.

    Held to the cap every list of problems is held to: the first MAX_PROBLEMS_PER_FILE of each file are
    explained (a did-you-mean costs far more than finding the problem), the rest counted (``MoreProblems``),
    so 200 unknown rule ids print 51 lines, not 200, and cost 50 did-you-means."""
    catalog = catalog or graph_catalog()
    spec = tenant.spec
    found: list[tuple[KeyPath, Callable[[], str]]] = []
    for scope_index, scope in enumerate(spec.policy.allowed_scopes or []):
        if catalog.get("delegated", scope) is None:
            found.append(
                (("policy", "allowed_scopes", scope_index), partial(catalog.explain_unknown, "delegated", scope))
            )
    for rule_id in spec.policy.enforcement:
        if rule_id not in RULES_BY_ID:
            found.append((("policy", "enforcement", rule_id), partial(_unknown_rule, rule_id)))
    for index, exception in enumerate(spec.exceptions):
        rule = RULES_BY_ID.get(exception.rule)
        if rule is None:
            found.append((("exceptions", index, "rule"), partial(_unknown_rule, exception.rule)))
        elif not rule.exceptable:
            found.append((("exceptions", index, "rule"), partial(_not_exceptable, rule)))
        elif catalog.get("application", exception.permission) is None:
            unknown = partial(catalog.explain_unknown, "application", exception.permission)
            found.append((("exceptions", index, "permission"), unknown))
    for index, acknowledgement in enumerate(spec.acknowledged):
        rule = RULES_BY_ID.get(acknowledgement.rule)
        if rule is None:
            found.append((("acknowledged", index, "rule"), partial(_unknown_rule, acknowledgement.rule)))
        elif policy_level(rule, spec.policy) != "advisory" or not acknowledgeable(rule, spec.policy.acknowledgeable):
            found.append((("acknowledged", index, "rule"), partial(_not_acknowledgeable, rule, spec.policy)))
    for index, rule_id in enumerate(spec.policy.acknowledgeable or []):
        if rule_id not in RULES_BY_ID:
            found.append((("policy", "acknowledgeable", index), partial(_unknown_rule, rule_id)))
    problems: list[Problem] = []
    shown: dict[str, int] = {}
    counted: dict[str, int] = {}
    for path, explain in found:
        file = tenant.positions.locate(path).file
        if shown.get(file, 0) < MAX_PROBLEMS_PER_FILE:
            shown[file] = shown.get(file, 0) + 1
            problems.append(tenant.positions.problem(path, explain()))
        else:
            counted[file] = counted.get(file, 0) + 1
    return [*problems, *(MoreProblems(file, 1, 1, "", "", count) for file, count in counted.items())]


def _not_exceptable(rule: Rule) -> str:
    allowed = ", ".join(r.id for r in RULES if r.exceptable)
    return (
        f"rule {rule.id!r} cannot be excepted in a tenant file (only: {allowed}); "
        "change its level under policy.enforcement in _defaults.yaml instead"
    )


def _not_acknowledgeable(rule: Rule, policy: PolicyConfig) -> str:
    level = policy.enforcement.get(rule.id, rule.severity)
    if level == "disabled":
        return f"rule {rule.id!r} is disabled in this folder's policy: remove the acknowledgement"
    if level == "mandatory" or rule.severity != "advisory":
        return (
            f"rule {rule.id!r} is mandatory here: an acknowledgement only quiets an advisory warning; fix what it "
            "reports (or, for high-risk-app-roles, add an exception)"
        )
    return (
        f"rule {rule.id!r} is not in policy.acknowledgeable in _defaults.yaml, so a tenant file may not acknowledge "
        "it: act on the warning, or have the folder's policy allow it after review"
    )


def _unknown_rule(rule_id: str) -> str:
    return f"unknown policy rule {quote(rule_id)}{did_you_mean(rule_id, RULES_BY_ID, known='known rules')}"


def locate_finding(tenant: LoadedTenant, where: KeyPath) -> KeyPath:
    """Turn a finding's path (which may end in a value, e.g. a scope name) into a key path of the file."""
    if len(where) < 2 or not isinstance(where[-1], str):
        return where
    parent, value = where[:-1], where[-1]
    node: object = tenant.spec
    for part in parent:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = getattr(node, part, None)
    if not isinstance(node, list):
        return where if node is not None else parent
    folded = [str(item).casefold() for item in node]
    return (*parent, folded.index(value.casefold())) if value.casefold() in folded else parent


# ------------------------------------------------------------------------------------- the pack's config

PLAN_PROPERTY = "plan"
"""Policy config property (``--policy-pack-config``) holding the tenant's plan as data
(``infra.model.plan.plan_to_data``)."""
TENANT_FILE_PROPERTY = "tenantFile"
"""The pack-config property that names the tenant file whose exceptions and policy the pack applies."""


def pack_config(
    policy: PolicyConfig, tenant_file: str | None = None, plan: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The ``--policy-pack-config`` document that gives the pack a tenant's levels, and its plan (the tool's runs,
    ``infra.model.plan.plan_to_data``) or tenant file (a hand-run preview).

    A policy's enforcement level is fixed when the engine configures the pack, so a rule that
    ``_defaults.yaml`` makes mandatory (or disables) needs this to block (or stay quiet) in a plain
    ``pulumi preview``; the rule functions themselves already honour ``disabled``.
    """
    out: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        entry: dict[str, Any] = {"enforcementLevel": policy.enforcement.get(rule.id, rule.severity)}
        if tenant_file is not None:
            entry[TENANT_FILE_PROPERTY] = tenant_file
        if plan is not None:
            entry[PLAN_PROPERTY] = plan
        out[rule.id] = entry
    return out
