"""GDAP relationships as the tool reasons about them: which give access now, which are ending, and the file
``discover`` names after a client's default domain.

Pure data and rules; the reads are in ``infra.graph.gdap``. Facts, each from its page:
- a relationship's ``status`` is one of ``activating``, ``active``, ``approvalPending``, ``approved``,
  ``created``, ``expired``, ``expiring`` ("has passed its expiration date"), ``terminated``, ``terminating``,
  ``terminationRequested``; ``endDateTime`` is "when the status of relationship changes to either terminated
  or expired"; ``autoExtendDuration`` ``PT0S`` (the default) "indicates that the relationship expires when the
  endDateTime is reached and it isn't automatically extended", ``P180D`` extends it
  (https://learn.microsoft.com/graph/api/resources/delegatedadminrelationship);
- only the roles of ``active`` access assignments reach the MSP's groups
  (https://learn.microsoft.com/graph/api/resources/delegatedadminaccessassignment);
- "The maximum duration of a GDAP relationship is two years"; an expired one must be requested again
  (https://learn.microsoft.com/partner-center/gdap-bulk-migration-tool-faq).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

ENDING_SOON = timedelta(days=30)
"""A relationship ending within this long (and not extending itself) is listed for renewal."""
NO_AUTO_EXTEND = frozenset({"", "PT0S", "P0D"})


@dataclass(frozen=True)
class Relationship:
    """One delegatedAdminRelationship of the MSP's tenant."""

    id: str
    display_name: str
    customer_tenant_id: str
    customer_name: str
    status: str
    end: datetime | None
    auto_extend: str
    roles: tuple[str, ...]
    """The role template ids the client approved (``accessDetails.unifiedRoles``)."""

    @property
    def extends_itself(self) -> bool:
        return self.auto_extend.upper() not in NO_AUTO_EXTEND


@dataclass(frozen=True)
class Standing:
    """Whether a relationship gives access now, and what to say about it."""

    usable: bool
    note: str | None
    """Why it is not usable, or, when it is, that it is ending."""


def standing(relationship: Relationship, now: datetime) -> Standing:
    end = relationship.end
    ended = f" (ended {end.date().isoformat()})" if end is not None and end <= now else ""
    if relationship.status != "active":
        return Standing(False, f"relationship {relationship.status}{ended}: it gives no access")
    if end is not None and end <= now:
        return Standing(False, f"relationship ended {end.date().isoformat()}: it gives no access")
    if end is not None and end - now <= ENDING_SOON and not relationship.extends_itself:
        days = max(0, (end - now).days)
        return Standing(
            True,
            f"relationship ends {end.date().isoformat()} (in {days} day(s)) and does not extend itself: renew it, "
            "or turn on auto-extend (Partner Center > Customers > Admin relationships)",
        )
    return Standing(True, None)


@dataclass(frozen=True)
class TenantInformation:
    """What Graph says publicly about a tenant (findTenantInformationBy*)."""

    tenant_id: str
    display_name: str
    default_domain: str


_ONMICROSOFT = re.compile(r"\.onmicrosoft\.(com|us|de)$")
_NOT_IN_NAME = re.compile(r"[^a-z0-9_.-]+")


def stem_for(domain: str, taken: set[str]) -> str:
    """The file stem for a tenant whose default domain is ``domain``: lower-cased, ``.onmicrosoft.com`` dropped
    (``contoso.onmicrosoft.com`` -> ``contoso``; ``contoso.co.uk`` keeps its dots, which a stack name allows), with
    ``-2``, ``-3`` after it when another tenant's file already has the name (stack names ignore case)."""
    base = _NOT_IN_NAME.sub("-", _ONMICROSOFT.sub("", domain.strip().lower())).strip("-_.") or "tenant"
    lowered = {name.lower() for name in taken}
    stem, n = base, 1
    while stem in lowered:
        n += 1
        stem = f"{base}-{n}"
    return stem


def end_date(relationship: Relationship) -> date | None:
    return relationship.end.date() if relationship.end is not None else None
