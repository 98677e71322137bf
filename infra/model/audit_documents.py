"""The audit@1 and adopt@1 documents, as types: what ``audit`` finds in each tenant and what ``adopt`` records.

Both read the tenant through Graph and change nothing in it; their documents share the failed-tenant shape.
``documents.py`` lists them in ``DOCUMENTS`` with the other output formats.
"""

from __future__ import annotations

from typing import Final, Literal, NotRequired, final

from typing_extensions import TypedDict

AUDIT_FORMAT: Final = "taxcalc-consent/audit@1"
ADOPT_FORMAT: Final = "taxcalc-consent/adopt@1"

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
