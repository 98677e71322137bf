"""Access assignments: a user or group assigned to TaxCalc-Hub, who may sign in when assignment is required.

An app role assignment with TaxCalc-Hub's service principal as the resource and Entra's default role
(an app that defines no roles of its own). It shares its type token and import id form with
application permissions; ``app_role_assignment`` says why they are two kinds all the same. Logical
names carry the principal's object id, lower-cased: ``access-user-<id>``, ``access-group-<id>``.
"""

from __future__ import annotations

from typing import Literal

from taxcalc_consent.infra.model.kinds import app_role_assignment
from taxcalc_consent.infra.model.kinds.app_role_assignment import drift_status
from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

PrincipalType = Literal["User", "Group"]

TYPE = app_role_assignment.TYPE
LABEL = "access assignment"
DEFAULT_ROLE_ID = "00000000-0000-0000-0000-000000000000"
"""The default app role: what Entra assigns when an app defines no roles of its own."""
_PREFIXES: dict[str, PrincipalType] = {"access-user-": "User", "access-group-": "Group"}

import_id = app_role_assignment.import_id
"""Called with TaxCalc-Hub's service principal as the resource."""


def name(principal_type: PrincipalType, object_id: str) -> str:
    return f"access-{principal_type.lower()}-{object_id.lower()}"


def parse_name(logical_name: str) -> tuple[PrincipalType, str] | None:
    """(principal type, object id) from an access assignment's logical name."""
    for prefix, principal_type in _PREFIXES.items():
        if logical_name.startswith(prefix):
            return principal_type, logical_name.removeprefix(prefix)
    return None


def claims(logical_name: str) -> bool:
    return parse_name(logical_name) is not None


def describe(step: Step) -> str:
    parsed = parse_name(step.name)
    principal_type, named_id = parsed if parsed else ("User", step.name)
    principal = step.old_outputs.get("principalDisplayName") or step.inputs.get("principalObjectId") or named_id
    subject = f"{principal_type.lower()} {principal}"
    if step.drift:
        return f"assignment of {subject} {drift_status(step)}"
    if step.op == "create":
        return f"assign {subject} to TaxCalc-Hub"
    if step.op == "delete":
        return f"remove assignment of {subject}"
    if step.op == "import":
        return f"adopt the existing assignment of {subject}"
    return f"replace the assignment of {subject}"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
