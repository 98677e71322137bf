"""Delegated permission grants: TaxCalc-Hub's oauth2PermissionGrants on Microsoft Graph.

One ``AllPrincipals`` grant (tenant-wide admin consent, ``graph-grant-all-principals``), or one
``Principal`` grant per user (``graph-grant-user-<object id>``). Per-user names carry the object id,
lower-cased, so reordering the file or a user's UPN changing renames (and so replaces) nothing.
"""

from __future__ import annotations

from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step, scopes

TYPE = "azuread:index/servicePrincipalDelegatedPermissionGrant:ServicePrincipalDelegatedPermissionGrant"
LABEL = "delegated permission grant"
ORGANIZATION_NAME = "graph-grant-all-principals"
_USER_PREFIX = "graph-grant-user-"
EVERY_USER = "every user (AllPrincipals)"
"""How output names the principal of a tenant-wide grant."""


def user_name(user_object_id: str) -> str:
    """The logical name of a user's Principal grant."""
    return f"{_USER_PREFIX}{user_object_id.lower()}"


def user_from_name(name: str) -> str | None:
    """The user's object id in a per-user grant's name; None for the tenant-wide grant (or another name)."""
    return name.removeprefix(_USER_PREFIX) if name.startswith(_USER_PREFIX) else None


def import_id(grant_id: str) -> str:
    """pulumi-azuread's id for a grant: ``/oauth2PermissionGrants/{id}`` (the importer validates with
    go-azure-sdk's ``stable.ValidateOAuth2PermissionGrantID``; terraform-provider-azuread
    ``internal/services/serviceprincipals/service_principal_delegated_permission_grant_resource.go``)."""
    return f"/oauth2PermissionGrants/{grant_id}"


def claims(name: str) -> bool:
    return name == ORGANIZATION_NAME or name.startswith(_USER_PREFIX)


def _target(step: Step) -> tuple[str, str]:
    """('the tenant-wide grant', 'AllPrincipals') or ('the grant for user <id>', 'Principal')."""
    user = step.inputs.get("userObjectId") or user_from_name(step.name)
    if user:
        return f"the grant for user {user}", "Principal"
    return "the tenant-wide grant", "AllPrincipals"


def describe(step: Step) -> str:
    op, old, new, drift = step.op, step.old, step.new, step.drift
    target, consent_type = _target(step)
    new_scopes = scopes(new.get("claimValues"))
    old_scopes = scopes(old.get("claimValues") or step.old_outputs.get("claimValues"))
    user = step.inputs.get("userObjectId")
    if op == "create":
        if drift:
            return f"{target} ({consent_type}) is missing from the tenant (deleted outside the file)"
        who = (
            f"grant user {user} (Principal)" if user else "grant every user (AllPrincipals, tenant-wide admin consent)"
        )
        return f"{who}: {' '.join(new_scopes)}"
    if op == "delete":
        if drift:
            return f"{target} ({consent_type}) is no longer in the file: apply would revoke it"
        return f"revoke {target} ({consent_type}): {' '.join(old_scopes)}"
    if op == "import":
        return f"adopt the existing {target.removeprefix('the ')} ({consent_type})"
    added = [s for s in new_scopes if s not in old_scopes]
    removed = [s for s in old_scopes if s not in new_scopes]
    parts: list[str] = []
    if drift:
        if removed:
            parts.append(f"{target} holds {', '.join(removed)}, not in the file (added outside the file)")
        if added:
            parts.append(f"{target} lacks {', '.join(added)} (removed outside the file)")
    else:
        if added:
            parts.append(f"add {', '.join(added)} to {target}")
        if removed:
            parts.append(f"remove {', '.join(removed)} from {target}")
    if parts:
        return "; ".join(parts)
    verb = "differs from the file" if drift else "will be replaced" if op == "replace" else "will be updated"
    return f"{target} ({consent_type}) {verb}"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
