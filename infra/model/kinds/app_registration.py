"""The app registration (``register: true`` only): TaxCalc-Hub's multi-tenant application itself.

Declared in a lab or home tenant to stand up the whole chain from nothing; a client tenant never has one.
"""

from __future__ import annotations

from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

TYPE = "azuread:index/application:Application"
NAME = "taxcalc-hub-app"
LABEL = "app registration"


def import_id(object_id: str) -> str:
    """pulumi-azuread's id for an application: ``/applications/{object id}`` (the importer validates with
    go-azure-sdk's ``stable.ValidateApplicationID``; terraform-provider-azuread
    ``internal/services/applications/application_resource.go``)."""
    return f"/applications/{object_id}"


def claims(name: str) -> bool:
    return name == NAME


def describe(step: Step) -> str:
    if step.op == "create":
        if step.drift:
            return "the app registration is missing from the tenant (deleted outside the file)"
        return "register the multi-tenant app TaxCalc-Hub"
    if step.op == "delete":
        return "delete the app registration"
    fields = f" ({', '.join(step.diffs)})" if step.diffs else ""
    if step.drift:
        return f"the app registration differs from the file{fields}"
    return f"update the app registration{fields}"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
