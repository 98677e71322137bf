"""Every document the tool emits, as a type: plan@1, validate@1, run@1, review@1, audit@1, adopt@1.

The types are TypedDicts: the code that builds a document is checked against them by mypy (strict),
building one costs no more than building the dict it is, and pydantic generates each JSON Schema from
them (committed under ``schema/``; a test keeps those files current). ``document_json`` writes them as JSON
text.

A new output format goes here: its TypedDicts, an entry in ``DOCUMENTS``, a committed schema file.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, final

from typing_extensions import TypedDict

from taxcalc_consent.infra.model.kinds.base import ChangeOp

PLAN_FORMAT: Final = "taxcalc-consent/plan@1"
VALIDATE_FORMAT: Final = "taxcalc-consent/validate@1"
RUN_FORMAT: Final = "taxcalc-consent/run@1"
REVIEW_FORMAT: Final = "taxcalc-consent/review@1"
AUDIT_FORMAT: Final = "taxcalc-consent/audit@1"
ADOPT_FORMAT: Final = "taxcalc-consent/adopt@1"

ConsentTypeName = Literal["AllPrincipals", "Principal"]
PrincipalTypeName = Literal["User", "Group"]
SeverityName = Literal["mandatory", "advisory"]

# ------------------------------------------------------------------------------------------ plan@1


class PlanApp(TypedDict):
    client_id: str | None
    """TaxCalc-Hub's application id; null when the file registers the app (Entra assigns it)."""
    register: bool


class PlanServicePrincipal(TypedDict):
    assignment_required: bool


class PlanGrant(TypedDict):
    """One oauth2PermissionGrant the tenant should hold."""

    consent_type: ConsentTypeName
    principal: str | None
    resource_app_id: str
    scopes: list[str]


class PlanGroupGrant(TypedDict):
    group: str
    resource_app_id: str
    scopes: list[str]


class PlanAppRoleAssignment(TypedDict):
    resource_app_id: str
    role: str


class PlanAssignment(TypedDict):
    principal_type: PrincipalTypeName
    principal: str


class PlanViolation(TypedDict):
    rule: str
    severity: SeverityName
    message: str


UserConsentName = Literal["disabled", "verified-publishers-low-impact", "microsoft-managed", "all"]
ReviewerTypeName = Literal["user", "group", "role"]
ExperienceName = Literal["no prompt", "consent prompt", "admin approval required", "unknown"]


class PlanUserConsent(TypedDict):
    setting: UserConsentName
    label: str
    """The admin centre's words for ``setting`` (Consent and permissions > User consent settings)."""


class PlanReviewer(TypedDict):
    type: ReviewerTypeName
    reviewer: str
    """As the file names it: a UPN or object id, a group's display name or object id, a role's name or id."""


class PlanAdminConsentWorkflow(TypedDict):
    """The keys the file names; null: a key it leaves out, kept as the tenant has it."""

    enabled: bool
    reviewers: list[PlanReviewer] | None
    notify_reviewers: bool | None
    reminders: bool | None
    request_expires_in_days: int | None


class PlanConsentSettings(TypedDict):
    """Tenant-wide settings (every app, not only TaxCalc-Hub); null: left as the tenant has it."""

    user_consent: PlanUserConsent | None
    admin_consent_workflow: PlanAdminConsentWorkflow | None


class PlanUserExperience(TypedDict):
    """What a listed user (or every other user) sees at sign-in once the plan is applied."""

    principal: str
    experience: ExperienceName
    refused: bool
    """Assignment is required and this user is not assigned: Entra refuses the sign-in itself."""
    reason: str


class PlanNeed(TypedDict):
    """One row of the role table (infra/model/role_table.py) that the file uses."""

    need: str
    """The row's key, e.g. ``graph-app-roles``."""
    what: str
    least_role: str | None
    """The least directory role that may do it, for an engineer's GDAP sign-in; null where Microsoft names none."""
    application_permissions: list[str]
    """What the automation identity needs for it."""


class PlanAccess(TypedDict):
    """Who may apply this file: the directory roles (an engineer's GDAP sign-in) or the Microsoft Graph application
    permissions (the automation identity) it needs."""

    directory_roles: list[str]
    application_permissions: list[str]
    needs: list[PlanNeed]


class TenantPlan(TypedDict):
    tenant: str
    file: str
    tenant_id: str
    name: str | None
    """The client's name (the file's ``tenant.name``)."""
    domain: str | None
    """The client's primary domain (the file's ``tenant.domain``)."""
    app: PlanApp
    service_principal: PlanServicePrincipal
    grants: list[PlanGrant]
    group_grants: list[PlanGroupGrant]
    app_role_assignments: list[PlanAppRoleAssignment]
    assignments: list[PlanAssignment]
    consent_settings: PlanConsentSettings
    user_experience: list[PlanUserExperience]
    access: PlanAccess
    violations: list[PlanViolation]


class PlanDocument(TypedDict):
    format: Literal["taxcalc-consent/plan@1"]
    tenants: list[TenantPlan]


# -------------------------------------------------------------------------------------- validate@1


class ProblemEntry(TypedDict):
    file: str
    line: int
    col: int
    key: str
    message: str


class TenantViolation(TypedDict):
    tenant: str
    rule: str
    severity: SeverityName
    message: str


class ValidateDocument(TypedDict):
    format: Literal["taxcalc-consent/validate@1"]
    valid: bool
    problems: list[ProblemEntry]
    tenants: NotRequired[list[str]]
    """Present when every file loaded: the tenants checked."""
    violations: NotRequired[list[TenantViolation]]


# ------------------------------------------------------------------------------------------- run@1

OperationName = Literal["plan", "apply", "drift", "offboard"]
ResultName = Literal[
    "no-changes",
    "changes",
    "applied",
    "drift",
    "removed",
    "failed",
    "locked",
    "policy-violation",
    "refused",
    "skipped",
    "not-reached",
]
"""A tenant's outcome. ``refused``: its preview differs from its reviewed plan, so nothing was written;
``skipped``: a run resumed with --resume found it already applied; ``not-reached``: an earlier ring stopped
the run before its ring."""


# "import" is a Python keyword, so this one takes the functional form.
ChangeCounts = TypedDict("ChangeCounts", {"create": int, "update": int, "delete": int, "replace": int, "import": int})


class ResourceChangeEntry(TypedDict):
    op: ChangeOp
    kind: str
    name: str
    description: str
    status: Literal["planned", "done", "failed"]


class RunTenant(TypedDict):
    tenant: str
    file: str
    tenant_id: str
    name: str | None
    """The client's name (the file's ``tenant.name``)."""
    domain: str | None
    """The client's primary domain (the file's ``tenant.domain``)."""
    stack: str
    ring: str | None
    """The ring of ``_rollout.yaml`` the tenant is in; null without one."""
    result: ResultName | None
    """Null while the run has not finished with the tenant (a report written as the run goes)."""
    changes: ChangeCounts
    resources: list[ResourceChangeEntry]
    error: str | None
    differences: list[str]
    """What differs from the reviewed plan (apply --plan): why the tenant was refused."""
    note: str | None
    """Why a tenant was skipped or not reached, or that its reviewed changes were already in place."""
    warnings: list[str]
    attempts: int
    duration_seconds: float


class RunSummary(TypedDict):
    tenants: int
    results: dict[str, int]


RingResultName = Literal["queued", "running", "passed", "stopped", "not-reached"]


class RunRing(TypedDict):
    """One ring of ``_rollout.yaml`` in an apply: how it went against its stop rule."""

    name: str
    tenants: int
    failures: int
    """Tenants failed, locked, blocked by policy or refused."""
    max_failures: int
    result: RingResultName


class RunDocument(TypedDict):
    format: Literal["taxcalc-consent/run@1"]
    operation: OperationName
    started_at: str
    backend: str
    shard: str | None
    complete: bool
    """False in a report written while the run goes: a run killed midway leaves it so (apply --resume)."""
    exit_code: int | None
    """Null until the run is complete."""
    reviewed_plan: str | None
    """apply --plan: the review@1 document whose changes were the only ones allowed."""
    resumed_from: str | None
    """apply --resume: the report of the run this one went on from."""
    rings: list[RunRing]
    summary: RunSummary
    tenants: list[RunTenant]


# ---------------------------------------------------------------------------------------- review@1


class StackUpdate(TypedDict):
    """The stack's last update in its backend (``pulumi stack history``), as the review saw it."""

    version: int
    """Pulumi Cloud numbers updates; self-managed backends (file, azblob, s3) say 0 for every one."""
    kind: str
    result: str
    start_time: str
    end_time: str | None


class ReviewTenant(RunTenant):
    """A tenant's preview (its run@1 entry: ``resources`` are the reviewed changes) and what it rested on."""

    file_sha256: str
    defaults_file: str | None
    """The ``_defaults.yaml`` merged under the file (its policy and defaults), if its folder has one."""
    defaults_sha256: str | None
    stack_last_update: StackUpdate | None
    """Null for a stack never updated."""


class ReviewDocument(TypedDict):
    """What ``plan`` previewed, recorded so that ``apply --plan`` applies exactly that and nothing else."""

    format: Literal["taxcalc-consent/review@1"]
    tool_version: str
    started_at: str
    backend: str
    shard: str | None
    exit_code: int
    summary: RunSummary
    tenants: list[ReviewTenant]


# ----------------------------------------------------------------------------------------- audit@1


class AuditServicePrincipal(TypedDict):
    exists: bool
    object_id: str | None
    enabled: bool | None
    assignment_required: bool | None


class AuditGrant(TypedDict):
    id: str
    consent_type: str
    """As Graph holds it (AllPrincipals or Principal)."""
    principal: str | None
    principal_id: str | None
    scopes: list[str]


class AuditAppRoleAssignment(TypedDict):
    id: str
    role: str
    app_role_id: str
    resource: str


class AuditAssignment(TypedDict):
    id: str
    principal_type: str
    principal: str
    principal_id: str
    app_role_id: str


class AuditUserConsent(TypedDict):
    setting: str
    label: str
    """The admin centre's wording of ``setting`` (e.g. "Let Microsoft manage your consent settings")."""
    policies: list[str]


class AuditUserExperience(TypedDict):
    principal: str
    principal_id: str
    experience: str
    refused: bool
    reason: str


class AuditExperience(TypedDict):
    requested_scopes: list[str]
    experience: str
    reason: str
    assignment_required: bool
    users: list[AuditUserExperience]


class AuditKeptSetting(TypedDict):
    """A property of the admin consent workflow the file leaves out: apply keeps it as the tenant has it."""

    setting: str
    """The admin centre's words for it (Admin consent settings)."""
    value: str
    """What the tenant holds now, in the same words."""


class AuditDifference(TypedDict):
    kind: str
    subject: str
    message: str
    scopes: NotRequired[list[str]]


class AuditSummary(TypedDict):
    """The counts a client reads first (``infra.findings``)."""

    users: int
    """Users the audit could say something of: every user the file or the tenant's grants name."""
    no_prompt: int
    prompted: int
    """Users who will meet a consent prompt or the admin-approval wall."""
    refused: int
    """Users Entra refuses outright (assignment required, not assigned)."""
    to_fix: int
    """Differences between the tenant and its file."""
    findings: int


class AuditFinding(TypedDict):
    risk: Literal["high", "medium", "low"]
    title: str
    detail: str
    next_step: str


@final
class AuditAutomationIdentity(TypedDict):
    """The MSP's automation identity (``auth.client_id``) in the tenant, as ``connect`` puts it there."""

    client_id: str
    present: bool
    """Its service principal is in the tenant."""
    application_permissions: list[str]
    """The Microsoft Graph application permissions it holds."""
    needed: list[str]
    """What the file needs of it (the role table)."""
    missing: list[str]
    beyond_needed: list[str]
    """Held but not needed: ``connect`` revokes them."""


@final
class AuditTenant(TypedDict):
    tenant: str
    file: str
    tenant_id: str
    name: str | None
    """The client's name (the file's ``tenant.name``)."""
    domain: str | None
    """The client's primary domain (the file's ``tenant.domain``)."""
    service_principal: AuditServicePrincipal
    grants: list[AuditGrant]
    app_role_assignments: list[AuditAppRoleAssignment]
    assignments: list[AuditAssignment]
    user_consent: AuditUserConsent
    admin_consent_workflow: bool
    admin_consent_workflow_kept: list[AuditKeptSetting]
    """The workflow's properties the file leaves out, as the tenant holds them (empty when the file leaves
    the whole workflow as it is, or names every property)."""
    user_experience: AuditExperience
    """What users see today, with the grants and settings the tenant holds now."""
    after_apply: AuditExperience
    """What they will see once apply has made the tenant match the file: its grants and assignments, the
    consent settings it manages, and the tenant's own settings where it leaves them as they are."""
    automation_identity: NotRequired[AuditAutomationIdentity]
    """Present when the file names the automation app (``auth.client_id``)."""
    differences: list[AuditDifference]
    summary: AuditSummary
    findings: list[AuditFinding]
    """Riskiest first."""


@final
class FailedTenant(TypedDict):
    """A tenant whose work failed (Graph answered an error): the others still ran."""

    tenant: str
    file: str
    tenant_id: str
    name: str | None
    domain: str | None
    error: str


class AuditDocument(TypedDict):
    format: Literal["taxcalc-consent/audit@1"]
    tenants: list[AuditTenant | FailedTenant]


# ----------------------------------------------------------------------------------------- adopt@1


class AdoptedEntry(TypedDict):
    name: str
    """The Pulumi logical name the object is imported as."""
    import_id: str
    what: str


@final
class AdoptTenant(TypedDict):
    tenant: str
    stack_config: str
    changed: bool
    adopted: list[AdoptedEntry]
    apply_changes: list[str]
    not_adopted: list[str]
    missing: list[str]
    """Users and groups the file names that the tenant does not have (with the tenant's near name, if any):
    apply would fail on them, so adopt exits 1."""


@final
class AdoptFailedTenant(TypedDict):
    tenant: str
    stack_config: str
    error: str


class AdoptDocument(TypedDict):
    format: Literal["taxcalc-consent/adopt@1"]
    tenants: list[AdoptTenant | AdoptFailedTenant]


Document = PlanDocument | ValidateDocument | RunDocument | ReviewDocument | AuditDocument | AdoptDocument

DOCUMENTS: dict[str, type[Any]] = {
    "plan": PlanDocument,
    "validate": ValidateDocument,
    "run": RunDocument,
    "review": ReviewDocument,
    "audit": AuditDocument,
    "adopt": AdoptDocument,
}
"""Schema name (``schema/<name>.schema.json``, ``taxcalc-consent schema <name>``) -> document type."""
