"""Every document the tool emits, as a type: plan@1, validate@1, run@1, review@1 here; audit@1 and adopt@1
(the read-only commands') in ``audit_documents``; discover@1 (the MSP's GDAP relationships) in
``discover_document``.

The types are TypedDicts: the code that builds a document is checked against them by mypy (strict),
building one costs no more than building the dict it is, and pydantic generates each JSON Schema from
them (committed under ``schema/``; a test keeps those files current). ``document_json`` writes them as JSON
text.

A new output format goes here (or beside its family): its TypedDicts, an entry in ``DOCUMENTS``, a committed
schema file.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired

from typing_extensions import TypedDict

from taxcalc_consent.infra.model.audit_documents import AdoptDocument, AuditDocument
from taxcalc_consent.infra.model.discover_document import DiscoverDocument
from taxcalc_consent.infra.model.kinds.base import ChangeOp

PLAN_FORMAT: Final = "taxcalc-consent/plan@1"
VALIDATE_FORMAT: Final = "taxcalc-consent/validate@1"
RUN_FORMAT: Final = "taxcalc-consent/run@1"
REVIEW_FORMAT: Final = "taxcalc-consent/review@1"

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


Document = (
    PlanDocument | ValidateDocument | RunDocument | ReviewDocument | AuditDocument | AdoptDocument | DiscoverDocument
)

DOCUMENTS: dict[str, type[Any]] = {
    "plan": PlanDocument,
    "validate": ValidateDocument,
    "run": RunDocument,
    "review": ReviewDocument,
    "audit": AuditDocument,
    "adopt": AdoptDocument,
    "discover": DiscoverDocument,
}
"""Schema name (``schema/<name>.schema.json``, ``taxcalc-consent schema <name>``) -> document type."""
