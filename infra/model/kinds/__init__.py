"""One module per Entra resource kind the program manages, and the registry that finds a kind.

Each kind module holds what the code knows about that kind: its logical name(s) and how to read one
back, its Pulumi type token, the import id pulumi-azuread takes, and how a change to it is said in
Entra words (``describe``). The program (``infra.component``), ``adopt``, the driver's wording, the
policy pack and the test fakes all ask these modules; none of them spells a type token or a logical
name of its own. Pure data and functions: nothing here imports Pulumi, Typer or rich.

Adding a kind: write its module with a ``KIND`` record, list it in ``KINDS`` below, declare it in
the program, and test it. The driver and the pack find it here by type token and logical name.
"""

from __future__ import annotations

from taxcalc_consent.infra.model.kinds import (
    access_assignment,
    admin_consent_workflow,
    app_registration,
    app_role_assignment,
    delegated_grant,
    service_principal,
    user_consent_setting,
)
from taxcalc_consent.infra.model.kinds.base import ChangeOp, ResourceKind, Step, logical_name, stack_name, type_token

KINDS: tuple[ResourceKind, ...] = (
    service_principal.KIND,
    service_principal.LEGACY_KIND,
    delegated_grant.KIND,
    app_role_assignment.KIND,
    access_assignment.KIND,
    app_registration.KIND,
    user_consent_setting.KIND,
    admin_consent_workflow.KIND,
)
"""Every kind the program declares (and the pulumi-azuread service principal that stacks applied before 0.2
hold, which the next apply releases). Kinds that share a type token tell their logical names apart."""


def kind_of(type_token: str, name: str) -> ResourceKind | None:
    """The kind of a resource, by its type token and logical name; None for what the program does not manage
    as an Entra object (the stack, the provider, the component, or a resource of another package)."""
    for kind in KINDS:
        if kind.type_token == type_token and kind.claims(name):
            return kind
    return None


__all__ = ["KINDS", "ChangeOp", "ResourceKind", "Step", "kind_of", "logical_name", "stack_name", "type_token"]
