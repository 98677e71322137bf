"""Reads from the tenant's directory at deployment time: users and service principals through the stack's
azuread provider, groups through the tool's own read-only Graph client.

Users and Microsoft Graph's service principal are looked up with pulumi-azuread's data sources
(``get_user``, ``get_service_principal``), never declared as resources. They are plain (synchronous)
invokes because their answers decide the program's shape: per-user resources are named after object ids,
and a logical name cannot wait on an Output.

Groups are not read with the provider's ``get_group``: for every Microsoft 365 group it also selects
Exchange-backed properties, which Graph refuses to app-only callers (403, terraform-provider-azuread#1866
and #1929, open), so any CI run naming one would fail; and it puts a display name into its ``$filter``
without doubling quotes (group_data_source.go), so "O'Brien's Mailboxes" is a syntax error. The Graph
client (``infra.graph``) reads only a group's id and name (quoted as OData requires) and its direct user
members, which works for every group type with GroupMember.Read.All. It signs in exactly as the provider
does, in the provider's cloud (``infra.graph.signin``, ``graph.program_client``).

A lookup that finds nothing fails the run with a ``pulumi.RunError`` naming what was missing and the
tenant file it came from; Pulumi prints a RunError as a plain message, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_azuread as azuread

from taxcalc_consent.infra.graph import client as msgraph
from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.plan import ConsentPlan


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
    """Direct user members. Nested groups' members are not among them: assignment to a group does not reach
    them either (docs/tenant-file.md, Groups)."""


GraphClientFactory = Callable[[], msgraph.GraphClient]


class Directory:
    """The tenant's directory as the program sees it: the provider for users and service principals, the
    tool's Graph client for groups."""

    def __init__(
        self,
        plan: ConsentPlan,
        provider: pulumi.ProviderResource,
        parent: pulumi.Resource | None = None,
        graph_client: GraphClientFactory | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._plan = plan
        self._opts = pulumi.InvokeOptions(provider=provider, parent=parent)
        self._users: dict[str, str] = {}
        self._groups: dict[str, DirectoryGroup] = {}
        self._graph_factory = graph_client or (lambda: program_graph_client(plan, environ))
        self._graph: msgraph.GraphClient | None = None

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
        """The group ``ref`` names (display name, matched as Graph's ``eq`` does: ignoring case; or object id)
        with its direct user members."""
        if ref not in self._groups:
            kind = "object id" if is_guid(ref) else "display name"
            members: list[dict[str, Any]] = []
            try:
                client = self._graph_client()
                if is_guid(ref):
                    found = client.entity(msgraph.groups_get(ref.lower()))
                    matches = [found] if found else []
                else:
                    matches = client.collection(msgraph.groups_list_by_display_name(ref))
                if len(matches) == 1:
                    members = client.collection(msgraph.groups_list_user_members(str(matches[0]["id"]).lower()))
            except (msgraph.GraphError, msgraph.CredentialError) as exc:
                raise pulumi.RunError(
                    f"{self._where(key_path)}: could not read group {ref!r} in tenant {self._plan.tenant_id}: "
                    f"{_one_line(str(exc))}"
                ) from None
            finally:
                # Connections are not kept between lookups (the token is): the program may stop at any
                # later lookup, and nothing would close them then.
                if self._graph is not None:
                    self._graph.close()
            if not matches:
                raise pulumi.RunError(
                    f"{self._where(key_path)}: no group with {kind} {ref!r} in tenant {self._plan.tenant_id}; "
                    "check the spelling, or use the group's object id"
                )
            if len(matches) > 1:
                # Graph's displayName eq ignores case (terraform-provider-azuread#369, #1345): groups whose names
                # differ only in case all match, and neither spelling picks one. Name them, so the user sees why.
                found_names = ", ".join(repr(str(m.get("displayName") or "")) for m in matches)
                raise pulumi.RunError(
                    f"{self._where(key_path)}: {len(matches)} groups have the display name {ref!r} in tenant "
                    f"{self._plan.tenant_id} ({found_names}; Graph matches display names ignoring case): "
                    "use the group's object id"
                )
            self._groups[ref] = DirectoryGroup(
                str(matches[0]["id"]).lower(),
                str(matches[0].get("displayName") or ""),
                tuple(dict.fromkeys(str(m["id"]).lower() for m in members)),
            )
        return self._groups[ref]

    def group_users(self, refs: Iterable[str], key_path: str) -> list[str]:
        """Direct user members of every group in ``refs`` (nested groups are not expanded)."""
        out: list[str] = []
        for ref in refs:
            out.extend(self.group(ref, key_path).member_ids)
        return out

    def _graph_client(self) -> msgraph.GraphClient:
        if self._graph is None:
            self._graph = self._graph_factory()
        return self._graph

    def existing_service_principal_id(self, client_id: str) -> str | None:
        """The object id of application ``client_id``'s service principal when the tenant has one, else None; read
        with the tool's own Graph client, where an absent one is an empty answer rather than a data source error."""
        try:
            found = self._graph_client().collection(msgraph.service_principals_list_by_app_id(client_id))
        except (msgraph.GraphError, msgraph.CredentialError) as exc:
            raise pulumi.RunError(
                f"{self._where('app.client_id')}: could not look up TaxCalc-Hub's service principal in tenant "
                f"{self._plan.tenant_id}: {_one_line(str(exc))}"
            ) from None
        finally:
            if self._graph is not None:
                self._graph.close()
        return str(found[0]["id"]).lower() if found else None

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


def program_graph_client(plan: ConsentPlan, environ: Mapping[str, str] | None = None) -> msgraph.GraphClient:
    """A read-only Graph client for the program's tenant, signed in as the stack's provider is, in its cloud."""
    return msgraph.program_client(plan.tenant_id, plan.auth, environ)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reason(exc: Exception) -> str:
    """What the provider said, on one line: a lookup that failed for lack of permission or network must
    not read as "no such user" alone."""
    text = " ".join(str(exc).split())
    return f"lookup failed: {text[:300]}" if text else f"lookup failed: {type(exc).__name__}"
