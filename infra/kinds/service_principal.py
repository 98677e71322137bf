"""TaxCalc-Hub's service principal: the enterprise application in the client tenant.

The program declares exactly one, ``taxcalc-hub-sp``, with ``use_existing`` (a service principal made by
a past consent is taken over rather than created twice) and ``retain_on_delete`` (offboarding never
deletes an enterprise application that may predate the tool).
"""

from __future__ import annotations

from taxcalc_consent.infra.kinds.base import ResourceKind, Step

TYPE = "azuread:index/servicePrincipal:ServicePrincipal"
NAME = "taxcalc-hub-sp"
LABEL = "service principal"

_IMPORT_PREFIX = "/servicePrincipals/"


def import_id(object_id: str) -> str:
    """The id pulumi-azuread imports a service principal by: ``/servicePrincipals/{object id}``.

    The installed SDK's docstring says the bare object id, but the provider's code refuses it: the
    resource's importer validates with go-azure-sdk's ``stable.ValidateServicePrincipalID``, whose
    segments are ``servicePrincipals/{servicePrincipalId}`` (hashicorp/terraform-provider-azuread
    ``internal/services/serviceprincipals/service_principal_resource.go``, ``Importer``; and
    ``vendor/github.com/hashicorp/go-azure-sdk/microsoft-graph/common-types/stable/id_serviceprincipal.go``).
    """
    return f"{_IMPORT_PREFIX}{object_id}"


def object_id(value: str) -> str:
    """The object id in an import id (or a bare object id, as adopt maps written before 0.2 hold)."""
    return value.strip().removeprefix(_IMPORT_PREFIX)


def claims(name: str) -> bool:
    return name == NAME


def describe(step: Step) -> str:
    op, old, new, drift = step.op, step.old, step.new, step.drift
    if op == "create":
        if drift:
            return "TaxCalc-Hub's service principal is missing from the tenant (deleted outside the file)"
        if new.get("useExisting"):
            return "create TaxCalc-Hub's service principal (enterprise application), or adopt the existing one"
        return "create TaxCalc-Hub's service principal (enterprise application)"
    if op == "import":
        return "adopt the existing service principal of TaxCalc-Hub (enterprise application)"
    if op == "delete":
        if step.retained:
            return "release TaxCalc-Hub's service principal from the stack; it stays in the tenant (retain_on_delete)"
        return "delete TaxCalc-Hub's service principal"
    was, now = old.get("appRoleAssignmentRequired"), new.get("appRoleAssignmentRequired")
    if was != now and now is not None:
        if drift:
            state = "requires" if was else "does not require"
            return f"the service principal {state} assignment in the tenant, unlike the file"
        return "require assignment (only assigned users and groups may sign in)" if now else "stop requiring assignment"
    return "the service principal differs from the file" if drift else f"{op} TaxCalc-Hub's service principal"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
