"""Adopt consent that was granted by hand: map existing Graph objects onto the program's logical names.

A tenant that went through the interactive journey already holds TaxCalc-Hub's service principal and
its grants; creating them again fails ("Permission entry already exists"). ``plan_adoption`` matches
the plan's keys (client, resource, consent type, principal) against what Graph holds and returns, per
Pulumi logical name (``infra.model.plan``), the id that pulumi-azuread's ``import_`` resource option takes.
``write_adoption`` stores that map in the tenant's stack config file (``taxcalc-consent:adopt``) so the
next ``apply`` imports instead of creating. Objects the file does not describe are reported and left
alone: Pulumi never manages (or deletes) what it did not import.

Logical names and import ids come from ``infra.kinds``, the same modules the program uses, in the form
pulumi-azuread's code takes (each kind module cites the provider's importer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxcalc_consent.infra.graph.matching import (
    SP_DISABLED,
    expected_grants,
    match_grants,
    role_name,
    wanted_assignments,
)
from taxcalc_consent.infra.graph.snapshot import TenantSnapshot
from taxcalc_consent.infra.model.audit_documents import AdoptTenant
from taxcalc_consent.infra.model.kinds import access_assignment, app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.infra.model.kinds.access_assignment import PrincipalType
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.workspace import read_stack_settings, write_stack_settings


@dataclass(frozen=True)
class Adopted:
    name: str
    import_id: str
    what: str


@dataclass
class Adoption:
    tenant: str
    adopted: list[Adopted] = field(default_factory=list)
    apply_changes: list[str] = field(default_factory=list)
    not_adopted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Names in the file the tenant lacks: apply would fail on each."""

    @property
    def mapping(self) -> dict[str, str]:
        return {a.name: a.import_id for a in sorted(self.adopted, key=lambda a: a.name)}


def plan_adoption(plan: ConsentPlan, snapshot: TenantSnapshot) -> Adoption:
    """What to import, what apply will still change, and what is left alone. Pure."""
    result = Adoption(plan.tenant)
    sp = snapshot.service_principal
    name = plan.app.display_name
    if sp is None:
        result.apply_changes.append(f"create the service principal of {name}")
        # Without a service principal there are no grants or assignments to adopt either.
        for want in expected_grants(plan, snapshot)[0]:
            who = delegated_grant.EVERY_USER if want.user is None else want.user.user_principal_name
            result.apply_changes.append(f"create grant for {who}: {' '.join(want.scopes)}")
        return result
    # Found, so apply takes it over narrowly: only assignment-required is the file's (infra.service_principal_provider).
    what = f"{name}'s service principal, {service_principal.ORIGIN_WORDS[service_principal.ORIGIN_FOUND]}"
    result.adopted.append(Adopted(service_principal.NAME, service_principal.import_id(sp.object_id), what))
    if not sp.enabled:
        result.not_adopted.append(SP_DISABLED)
    if sp.assignment_required != plan.service_principal.assignment_required:
        flag = str(plan.service_principal.assignment_required).lower()
        result.apply_changes.append(f"set assignment required to {flag} on the service principal")

    expected, problems = expected_grants(plan, snapshot)
    for problem in problems:
        result.missing.append(f"{problem['subject']}: {problem['message']}")
    matches, unmatched = match_grants(expected, snapshot.grants)
    for match in matches:
        want, have, who = match.want, match.have, match.subject
        if have is None:
            result.apply_changes.append(f"create grant for {who}: {' '.join(want.scopes)}")
            continue
        logical = delegated_grant.ORGANIZATION_NAME if want.user is None else delegated_grant.user_name(want.user.id)
        result.adopted.append(Adopted(logical, delegated_grant.import_id(have.id), f"grant for {who}"))
        changes = [
            f"add {' '.join(match.missing)}" if match.missing else "",
            f"remove {' '.join(match.extra)}" if match.extra else "",
        ]
        if match.missing or match.extra:
            result.apply_changes.append(f"update grant for {who}: {'; '.join(c for c in changes if c)}")
    for g in unmatched:
        user = snapshot.users.get(g.principal_id) if g.principal_id else None
        who = (
            delegated_grant.EVERY_USER
            if g.principal_id is None
            else (user.user_principal_name if user else g.principal_id)
        )
        result.not_adopted.append(
            f"grant for {who} ({' '.join(sorted(g.scopes))}) is not in the file: not adopted, apply leaves it alone"
        )

    have_roles = {role_name(a.app_role_id): a for a in snapshot.app_role_assignments}
    for role in plan.app_role_assignments:
        existing = have_roles.pop(role.role, None)
        if existing is None:
            result.apply_changes.append(f"grant application permission {role.role}")
        else:
            import_id = app_role_assignment.import_id(existing.resource_id, existing.id)
            logical = app_role_assignment.name(role.role)
            result.adopted.append(Adopted(logical, import_id, f"application permission {role.role}"))
    for extra_role in sorted(have_roles):
        result.not_adopted.append(f"application permission {extra_role} is not in the file: not adopted")

    wanted, unresolved = wanted_assignments(plan, snapshot)
    for ref in unresolved:
        near = snapshot.did_you_mean(ref.lower() if "@" in ref else ref)
        result.missing.append(f"{ref}: not found in the directory, cannot be assigned{near}")
    for a in snapshot.assignments:
        key = (a.principal_type, a.principal_id)
        known = snapshot.users.get(a.principal_id)
        who = (
            wanted.get(key)
            or (known.user_principal_name if known else "")
            or a.principal_display_name
            or a.principal_id
        )
        if (
            key in wanted
            and a.app_role_id == access_assignment.DEFAULT_ROLE_ID
            and a.principal_type in ("User", "Group")
        ):
            principal_type: PrincipalType = "User" if a.principal_type == "User" else "Group"
            result.adopted.append(
                Adopted(
                    access_assignment.name(principal_type, a.principal_id),
                    access_assignment.import_id(sp.object_id, a.id),
                    f"access assignment for {principal_type.lower()} {who}",
                )
            )
            del wanted[key]
        else:
            result.not_adopted.append(f"access assignment for {a.principal_type.lower()} {who} is not in the file")
    for (kind, _), ref in wanted.items():
        result.apply_changes.append(f"assign {kind.lower()} {ref} to {name}")
    return result


# ----------------------------------------------------------------------------------- stack config


def read_adoption(path: Path, key: str) -> dict[str, str]:
    document = read_stack_settings(path)
    config = document.get("config") or {}
    value = config.get(key) if isinstance(config, dict) else None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def write_adoption(path: Path, key: str, mapping: dict[str, str]) -> bool:
    """Set ``config[key]`` to ``mapping``, keeping every other key. Atomic; False when nothing changed."""
    document = read_stack_settings(path)
    config: dict[str, Any] = dict(document.get("config") or {})
    current = config.get(key)
    if (current or {}) == mapping:
        return False
    if mapping:
        config[key] = dict(sorted(mapping.items()))
    else:
        config.pop(key, None)
    document["config"] = config
    write_stack_settings(path, document)
    return True


def adoption_to_dict(adoption: Adoption, stack_config: str, changed: bool) -> AdoptTenant:
    return {
        "tenant": adoption.tenant,
        "stack_config": stack_config,
        "changed": changed,
        "adopted": [
            {"name": a.name, "import_id": a.import_id, "what": a.what}
            for a in sorted(adoption.adopted, key=lambda a: a.name)
        ],
        "apply_changes": adoption.apply_changes,
        "not_adopted": adoption.not_adopted,
        "missing": adoption.missing,
    }
