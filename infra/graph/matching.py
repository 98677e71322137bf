"""The file's wants resolved against what the tenant holds (a ``TenantSnapshot``): the grants it asks for, paired
with the grants the tenant has, and the assignments it asks for. Pure; shared by ``audit`` (what differs) and
``adopt`` (what to import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from taxcalc_consent.infra.graph.snapshot import GrantState, TenantSnapshot, UserInfo
from taxcalc_consent.infra.model.audit_documents import AuditDifference
from taxcalc_consent.infra.model.catalog import graph_catalog
from taxcalc_consent.infra.model.kinds.delegated_grant import EVERY_USER
from taxcalc_consent.infra.model.plan import ConsentPlan


@dataclass(frozen=True)
class ExpectedGrant:
    """A grant the plan wants: AllPrincipals (user None) or Principal for one resolved user."""

    consent_type: Literal["AllPrincipals", "Principal"]
    user: UserInfo | None
    scopes: tuple[str, ...]
    source: str
    """Where the file asks for it: "organization", the user reference, or "group <name>"."""


SP_DISABLED = (
    "the service principal is disabled (an administrator turned sign-in off): no user can connect a mailbox until "
    "an administrator enables it again; apply leaves it as it is (the tool changes only whether it requires "
    "assignment)"
)


def expected_grants(plan: ConsentPlan, snapshot: TenantSnapshot) -> tuple[list[ExpectedGrant], list[AuditDifference]]:
    """The grants the plan asks for, resolved against the directory; plus problems resolving them."""
    out: list[ExpectedGrant] = []
    problems: list[AuditDifference] = []
    seen: set[str] = set()
    for wanted in plan.grants:
        if wanted.principal is None:
            out.append(ExpectedGrant("AllPrincipals", None, wanted.scopes, "organization"))
            continue
        user = snapshot.users.get(wanted.principal.lower())
        if user is None:
            why = "the file lists this user; Entra has none" + snapshot.did_you_mean(wanted.principal.lower())
            problems.append(difference("user-not-found", wanted.principal, why))
        elif user.id not in seen:
            seen.add(user.id)
            out.append(ExpectedGrant("Principal", user, wanted.scopes, wanted.principal))
    for group_grant in plan.group_grants:
        lookup = snapshot.groups.get(group_grant.group)
        if lookup is None or lookup.group is None:
            count = lookup.matches if lookup else 0
            why = "no group has this name or id" if count == 0 else f"{count} groups have this display name"
            if count == 0:
                why += snapshot.did_you_mean(group_grant.group)
            problems.append(difference("group-not-found", group_grant.group, why))
            continue
        for member in lookup.group.members:
            if member.id not in seen:
                seen.add(member.id)
                out.append(ExpectedGrant("Principal", member, group_grant.scopes, f"group {group_grant.group}"))
    return out, problems


@dataclass(frozen=True)
class GrantMatch:
    """One grant the file asks for, the grant the tenant holds for the same principal (if any), and how
    their scopes differ. What ``audit`` reports and ``adopt`` imports are both read from this."""

    want: ExpectedGrant
    have: GrantState | None
    missing: tuple[str, ...]
    """Scopes the file lists that the grant lacks, in the file's order."""
    extra: tuple[str, ...]
    """Scopes the grant holds that the file does not list, sorted."""

    @property
    def subject(self) -> str:
        return EVERY_USER if self.want.user is None else self.want.user.user_principal_name


def match_grants(
    expected: Sequence[ExpectedGrant], grants: Sequence[GrantState]
) -> tuple[list[GrantMatch], list[GrantState]]:
    """Pair each expected grant with the tenant's grant of the same consent type and principal (Graph
    holds at most one per client, resource, consent type and principal); also the grants left over.
    Linear in grants + expected: one index, not a scan per expected grant."""
    by_key = {(g.consent_type, g.principal_id): g for g in grants}
    matches: list[GrantMatch] = []
    matched: set[str] = set()
    for want in expected:
        have = by_key.get((want.consent_type, want.user.id if want.user else None))
        if have is None:
            matches.append(GrantMatch(want, None, tuple(want.scopes), ()))
            continue
        matched.add(have.id)
        held = set(have.scopes)
        missing = tuple(s for s in want.scopes if s not in held)
        wanted = set(want.scopes)
        extra = tuple(sorted(s for s in held if s not in wanted))
        matches.append(GrantMatch(want, have, missing, extra))
    return matches, [g for g in grants if g.id not in matched]


def difference(kind: str, subject: str, message: str, scopes: Sequence[str] = ()) -> AuditDifference:
    item: AuditDifference = {"kind": kind, "subject": subject, "message": message}
    if scopes:
        item["scopes"] = list(scopes)
    return item


def role_name(app_role_id: str) -> str:
    permission = graph_catalog().by_id("application", app_role_id)
    return permission.name if permission else app_role_id


def wanted_assignments(plan: ConsentPlan, snapshot: TenantSnapshot) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(principal type, object id) -> the file's reference, and the references that did not resolve."""
    wanted: dict[tuple[str, str], str] = {}
    unresolved: list[str] = []
    for a in plan.assignments:
        if a.principal_type == "User":
            user = snapshot.users.get(a.principal.lower())
            if user is None:
                unresolved.append(a.principal)
            else:
                wanted[("User", user.id)] = a.principal
        else:
            lookup = snapshot.groups.get(a.principal)
            if lookup is None or lookup.group is None:
                unresolved.append(a.principal)
            else:
                wanted[("Group", lookup.group.id)] = a.principal
    return wanted, unresolved
