"""Microsoft Graph's permission catalog, shipped as data (``graph_permissions.json``).

Delegated scopes are Graph's ``oauth2PermissionScopes``; application permissions its ``appRoles``.
Names are case-sensitive exactly as Graph publishes them. The ids are Graph's own: they are what a
grant's scope string and an app role assignment's ``appRoleId`` refer to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from taxcalc_consent.infra.model.errors import did_you_mean, quote

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
"""Microsoft Graph's application id: the same in every tenant and cloud."""

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
"""OpenID Connect scopes. They live on Graph's service principal too, so grants carry them."""

PermissionKind = Literal["delegated", "application"]
Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Permission:
    name: str
    kind: PermissionKind
    id: str
    risk: Risk
    admin_consent: bool
    description: str


@dataclass(frozen=True)
class PermissionCatalog:
    resource_app_id: str
    delegated: dict[str, Permission]
    application: dict[str, Permission]

    def get(self, kind: PermissionKind, name: str) -> Permission | None:
        return (self.delegated if kind == "delegated" else self.application).get(name)

    def by_id(self, kind: PermissionKind, permission_id: str) -> Permission | None:
        table = self.delegated if kind == "delegated" else self.application
        return next((p for p in table.values() if p.id == permission_id.lower()), None)

    def explain_unknown(self, kind: PermissionKind, name: str) -> str:
        """Why ``name`` is not a ``kind`` permission, and what was probably meant."""
        wanted, other = (
            ("delegated scope", self.application) if kind == "delegated" else ("application permission", self.delegated)
        )
        table = self.delegated if kind == "delegated" else self.application
        by_fold = {n.casefold(): n for n in table}
        if name.casefold() in by_fold:
            return (
                f"unknown {wanted} {quote(name)}: names are case-sensitive; did you mean {by_fold[name.casefold()]!r}?"
            )
        if name in other:
            if kind == "delegated":
                return (
                    f"{quote(name)} is an application permission, not a delegated scope: "
                    "list it under consent.app_roles, or pick the delegated scope the app asks for"
                )
            return f"{quote(name)} is a delegated scope, not an application permission: list it under consent.scopes"
        return f"unknown {wanted} {quote(name)} on Microsoft Graph{did_you_mean(name, table)}"


@cache
def graph_catalog() -> PermissionCatalog:
    # Beside this module in a wheel and in a checkout alike; a plain path costs no importlib.resources import.
    raw = json.loads((Path(__file__).parent / "graph_permissions.json").read_text("utf-8"))
    delegated = {
        e["name"]: Permission(
            e["name"],
            "delegated",
            e["id"].lower(),
            e["risk"],
            bool(e["admin_consent"]),
            e.get("description", ""),
        )
        for e in raw["delegated"]
    }
    application = {
        e["name"]: Permission(e["name"], "application", e["id"].lower(), e["risk"], True, e.get("description", ""))
        for e in raw["application"]
    }
    return PermissionCatalog(raw["resource_app_id"], delegated, application)
