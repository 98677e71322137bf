"""Application permissions: TaxCalc-Hub's service principal assigned an app role on Microsoft Graph.

An app role assignment in Graph, like an access assignment (``access_assignment``): both are
pulumi-azuread ``AppRoleAssignment`` resources with one type token and one import id form. They are
two kinds, in two modules, because everything else a reader asks of a kind differs: the principal
(TaxCalc-Hub here, a user or group there), the resource service principal (Graph here, TaxCalc-Hub
there), the role (a Graph application permission here, the default role there), the logical names,
the words for a change, what ``adopt`` matches and which policy rules judge them. The registry
(``infra.kinds``) tells them apart by logical name.
"""

from __future__ import annotations

from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

TYPE = "azuread:index/appRoleAssignment:AppRoleAssignment"
LABEL = "application permission"
_PREFIX = "graph-app-role-"


def name(role: str) -> str:
    """The logical name of the assignment of a Graph application permission (app role value)."""
    return f"{_PREFIX}{role}"


def role_from_name(logical_name: str) -> str | None:
    return logical_name.removeprefix(_PREFIX) if logical_name.startswith(_PREFIX) else None


def import_id(resource_object_id: str, assignment_id: str) -> str:
    """pulumi-azuread's id for any app role assignment: it names the resource service principal too,
    ``/servicePrincipals/{resource object id}/appRoleAssignedTo/{assignment id}`` (the importer validates
    with go-azure-sdk's ``stable.ValidateServicePrincipalIdAppRoleAssignedToID``; terraform-provider-azuread
    ``internal/services/approleassignments/app_role_assignment_resource.go``)."""
    return f"/servicePrincipals/{resource_object_id}/appRoleAssignedTo/{assignment_id}"


def claims(logical_name: str) -> bool:
    return logical_name.startswith(_PREFIX)


def describe(step: Step) -> str:
    subject = f"application permission {role_from_name(step.name)} (app role on Microsoft Graph)"
    if step.drift:
        return f"assignment of {subject} {drift_status(step)}"
    if step.op == "create":
        return f"grant {subject}"
    if step.op == "delete":
        return f"revoke {subject}"
    if step.op == "import":
        return f"adopt the existing assignment of {subject}"
    return f"replace the assignment of {subject}"


def drift_status(step: Step) -> str:
    return {
        "create": "is missing from the tenant (removed outside the file)",
        "delete": "is no longer in the file: apply would remove it",
        "import": "exists in the tenant and would be adopted",
    }.get(step.op, "differs from the file")


KIND = ResourceKind(TYPE, LABEL, claims, describe)
