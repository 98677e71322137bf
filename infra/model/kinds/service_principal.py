"""TaxCalc-Hub's service principal: the enterprise application in the client tenant.

The program declares exactly one, ``taxcalc-hub-sp``, through the tool's own provider
(``infra.service_principal_provider``), never pulumi-azuread's ``ServicePrincipal``: that resource's update
rewrites every property it manages (owners, notes, notification addresses, SSO settings, tags, the enabled
flag), which on an enterprise application that predates the tool (a first user's consent, an administrator,
another tool) wipes what its administrators set. The tool's resource changes one property,
``appRoleAssignmentRequired``, and records where the service principal came from (output ``origin``):
``found`` (it was in the tenant: offboarding puts ``appRoleAssignmentRequired`` back as it was) or
``created`` (the tool made it). Offboarding never deletes it.

Stacks applied before 0.2 hold it as pulumi-azuread's resource (``LEGACY_TYPE``, retained on delete); the next
apply releases that one from the stack without a call to the tenant and takes the service principal over
with the tool's resource, which finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

TYPE = "pulumi-python:dynamic/taxcalc-consent:HubServicePrincipal"
"""``pulumi.dynamic.Resource`` subclass with module ``taxcalc-consent``, name ``HubServicePrincipal``."""
LEGACY_TYPE = "azuread:index/servicePrincipal:ServicePrincipal"
"""How stacks applied before 0.2 hold it (pulumi-azuread, ``use_existing``, ``retain_on_delete``)."""
NAME = "taxcalc-hub-sp"
LABEL = "service principal"

ORIGIN_FOUND = "found"
"""It was in the tenant before the tool's first apply: only assignment-required is the tool's."""
ORIGIN_CREATED = "created"
"""The tool created it."""

ORIGIN_WORDS = {
    ORIGIN_FOUND: "found in the tenant (the tool changes only whether it requires assignment)",
    ORIGIN_CREATED: "created by this tool",
}

_IMPORT_PREFIX = "/servicePrincipals/"


def import_id(object_id: str) -> str:
    """The id pulumi-azuread imports a service principal by: ``/servicePrincipals/{object id}``.

    The installed SDK's docstring says the bare object id, but the provider's code refuses it: the
    resource's importer validates with go-azure-sdk's ``stable.ValidateServicePrincipalID``, whose
    segments are ``servicePrincipals/{servicePrincipalId}`` (hashicorp/terraform-provider-azuread
    ``internal/services/serviceprincipals/service_principal_resource.go``, ``Importer``; and
    ``vendor/github.com/hashicorp/go-azure-sdk/microsoft-graph/common-types/stable/id_serviceprincipal.go``).
    ``adopt`` records the service principal's object id in this form.
    """
    return f"{_IMPORT_PREFIX}{object_id}"


def object_id(value: str) -> str:
    """The object id in an import id (or a bare object id, as adopt maps written before 0.2 hold)."""
    return value.strip().removeprefix(_IMPORT_PREFIX)


def claims(name: str) -> bool:
    return name == NAME


def origin_words(outputs: Mapping[str, Any]) -> str | None:
    """Which of the two a stack holds, in words; None before the first apply."""
    origin = outputs.get("origin")
    return ORIGIN_WORDS.get(origin) if isinstance(origin, str) else None


def _required_words(required: object) -> str:
    return "required" if required else "not required"


def describe(step: Step) -> str:
    op, old, new, drift = step.op, step.old, step.new, step.drift
    found = step.old_outputs.get("origin") == ORIGIN_FOUND
    if op == "create":
        if drift:
            return "TaxCalc-Hub's service principal is missing from the tenant (deleted outside the file)"
        required = _required_words(new.get("appRoleAssignmentRequired"))
        kept = "its owners, notes, SSO settings, tags and enabled state stay as they are"
        if new.get("foundInTenant") is True:
            return (
                "adopt TaxCalc-Hub's existing service principal (enterprise application), changing only whether it "
                f"requires assignment ({required}); {kept}"
            )
        if new.get("foundInTenant") is False:
            return f"create TaxCalc-Hub's service principal (enterprise application; assignment {required})"
        return (
            "adopt TaxCalc-Hub's service principal (enterprise application) if the tenant has one, changing only "
            f"whether it requires assignment ({required}); {kept}. If it has none, create it"
        )
    if op == "delete":
        before = step.old_outputs.get("before")
        was = before.get("appRoleAssignmentRequired") if isinstance(before, Mapping) else None
        if found and was is not None:
            return (
                "release TaxCalc-Hub's service principal; it stays in the tenant, with assignment put back to "
                f"{_required_words(was)} as it was found"
            )
        return "release TaxCalc-Hub's service principal from the stack; it stays in the tenant"
    was = step.old_outputs.get("appRoleAssignmentRequired", old.get("appRoleAssignmentRequired"))
    now = new.get("appRoleAssignmentRequired")
    if was != now and now is not None:
        if drift:
            state = "requires" if was else "does not require"
            return f"the service principal {state} assignment in the tenant, unlike the file"
        return "require assignment (only assigned users and groups may sign in)" if now else "stop requiring assignment"
    return "the service principal differs from the file" if drift else f"{op} TaxCalc-Hub's service principal"


def describe_legacy(step: Step) -> str:
    """A stack applied before 0.2: its pulumi-azuread service principal is released, never deleted."""
    if step.op == "delete":
        return (
            "stop managing TaxCalc-Hub's service principal through pulumi-azuread (it stays in the tenant as it "
            "is; the tool's own resource takes it over)"
        )
    return f"{step.op} TaxCalc-Hub's service principal (pulumi-azuread, as applied before 0.2)"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
LEGACY_KIND = ResourceKind(LEGACY_TYPE, LABEL, claims, describe_legacy)
