"""Reads from the tenant's directory at deployment time, through the stack's azuread provider.

Users, groups and Microsoft Graph's service principal are looked up with pulumi-azuread's data
sources (``get_user``, ``get_users``, ``get_group``, ``get_service_principal``), never declared as
resources. They are plain (synchronous) invokes because their answers decide the program's shape:
per-user resources are named after object ids, and a logical name cannot wait on an Output.

A lookup that finds nothing fails the run with a ``pulumi.RunError`` naming what was missing and the
tenant file it came from; Pulumi prints a RunError as a plain message, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread

from taxcalc_consent.infra.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.plan import ConsentPlan
from taxcalc_consent.infra.spec import is_guid


@dataclass(frozen=True)
class ResourceServicePrincipal:
    """A resource API's service principal in this tenant (here: Microsoft Graph), with its permission ids."""

    object_id: str
    scope_ids: Mapping[str, str]
    """oauth2PermissionScopes: delegated scope value -> id"""
    role_ids: Mapping[str, str]
    """appRoles: application permission value -> id"""


@dataclass(frozen=True)
class DirectoryGroup:
    object_id: str
    display_name: str
    member_ids: tuple[str, ...]
    """Direct members of any type: users, nested groups, service principals, devices."""


class Directory:
    """The tenant's directory as the program sees it: every read goes through ``provider``."""

    def __init__(self, plan: ConsentPlan, provider: azuread.Provider, parent: pulumi.Resource | None = None) -> None:
        self._plan = plan
        self._opts = pulumi.InvokeOptions(provider=provider, parent=parent)
        self._users: dict[str, str] = {}
        self._groups: dict[str, DirectoryGroup] = {}

    def _where(self, key_path: str) -> str:
        return f"{self._plan.file}: {key_path}"

    def graph(self) -> ResourceServicePrincipal:
        """Microsoft Graph's service principal: present in every tenant, so looked up, never created."""
        try:
            found = azuread.get_service_principal(client_id=GRAPH_APP_ID, opts=self._opts)
        except Exception as exc:
            raise pulumi.RunError(
                f"{self._plan.file}: Microsoft Graph's service principal (appId {GRAPH_APP_ID}) could not be read "
                f"in tenant {self._plan.tenant_id}: {exc}"
            ) from None
        return ResourceServicePrincipal(
            object_id=found.object_id,
            scope_ids=dict(found.oauth2_permission_scope_ids or {}),
            role_ids=dict(found.app_role_ids or {}),
        )

    def user(self, ref: str, key_path: str) -> str:
        """The object id of the user ``ref`` names (a UPN, matched case-insensitively as Entra does, or an id).

        An object id is still looked up: a grant for a deleted user fails in Graph, so fail here first.
        """
        key = ref.lower()
        if key not in self._users:
            try:
                if is_guid(ref):
                    found = azuread.get_user(object_id=key, opts=self._opts)
                else:
                    found = azuread.get_user(user_principal_name=ref, opts=self._opts)
            except Exception as exc:
                kind = "object id" if is_guid(ref) else "user principal name"
                raise pulumi.RunError(
                    f"{self._where(key_path)}: no user with {kind} {ref!r} in tenant {self._plan.tenant_id}; "
                    f"check the spelling, or remove the user from the tenant file ({_reason(exc)})"
                ) from None
            self._users[key] = found.object_id.lower()
        return self._users[key]

    def group(self, ref: str, key_path: str) -> DirectoryGroup:
        """The group ``ref`` names (display name, exact, or object id) with its direct members."""
        if ref not in self._groups:
            try:
                if is_guid(ref):
                    found = azuread.get_group(object_id=ref.lower(), opts=self._opts)
                else:
                    found = azuread.get_group(display_name=ref, opts=self._opts)
            except Exception as exc:
                kind = "object id" if is_guid(ref) else "display name"
                raise pulumi.RunError(
                    f"{self._where(key_path)}: no group with {kind} {ref!r} in tenant {self._plan.tenant_id} "
                    f"(or more than one with that display name: use the group's object id) ({_reason(exc)})"
                ) from None
            self._groups[ref] = DirectoryGroup(
                found.object_id.lower(), found.display_name, tuple(m.lower() for m in found.members or ())
            )
        return self._groups[ref]

    def users_among(self, object_ids: Sequence[str]) -> list[str]:
        """The ids among ``object_ids`` that are users, in the given order.

        ``get_users`` with ``ignore_missing`` skips ids that are not users (nested groups, service
        principals, devices), so a group's mixed membership narrows to the people in it.
        """
        if not object_ids:
            return []
        found = azuread.get_users(object_ids=list(object_ids), ignore_missing=True, opts=self._opts)
        users = {oid.lower() for oid in found.object_ids or ()}
        return [oid for oid in object_ids if oid in users]

    def group_users(self, refs: Iterable[str], key_path: str) -> list[str]:
        """User members of every group in ``refs`` (direct membership: nested groups are not expanded)."""
        out: list[str] = []
        for ref in refs:
            out.extend(self.users_among(self.group(ref, key_path).member_ids))
        return out

    def service_principal_id(self, client_id: str, key_path: str) -> str:
        """The object id of the service principal of application ``client_id`` in this tenant."""
        try:
            found = azuread.get_service_principal(client_id=client_id, opts=self._opts)
        except Exception as exc:
            raise pulumi.RunError(
                f"{self._where(key_path)}: no service principal for application {client_id} in tenant "
                f"{self._plan.tenant_id} ({_reason(exc)})"
            ) from None
        return found.object_id.lower()


def _reason(exc: Exception) -> str:
    """What the provider said, on one line: a lookup that failed for lack of permission or network must
    not read as "no such user" alone."""
    text = " ".join(str(exc).split())
    return f"lookup failed: {text[:300]}" if text else f"lookup failed: {type(exc).__name__}"
