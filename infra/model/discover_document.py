"""The discover@1 document, as types: the MSP tenant's GDAP relationships and what ``discover`` did with each.

``documents.py`` lists it in ``DOCUMENTS`` with the other output formats; ``cli.fleet.discovery`` builds it.
"""

from __future__ import annotations

from typing import Final, Literal, final

from typing_extensions import TypedDict

DISCOVER_FORMAT: Final = "taxcalc-consent/discover@1"

DiscoverActionName = Literal[
    "written", "would-write", "exists", "no-access", "other-relationship", "unknown-tenant", "policy", "failed"
]
"""What discover did with a relationship. ``written``: a new tenant file; ``would-write``: the same under
--dry-run; ``exists``: a file in the folder already has the client's tenant id; ``no-access``: the relationship
gives no access (not active, or past its end); ``other-relationship``: the client has another usable relationship
that ends later, the one discover uses; ``unknown-tenant``: Graph knows no tenant by the client's id;
``policy``: the folder's policy refuses the file discover would write; ``failed``: Graph failed for this client
(the others still ran)."""


@final
class DiscoveredRelationship(TypedDict):
    """One delegatedAdminRelationship of the MSP's tenant, and what discover did with it."""

    tenant_id: str
    """The client's tenant (the relationship's ``customer.tenantId``)."""
    name: str | None
    """The client's name, as the relationship gives it (``customer.displayName``)."""
    domain: str | None
    """The client's default domain (findTenantInformationByTenantId), lower-cased, when discover looked it up:
    for a file written, one that would be, or one the policy refuses; null otherwise."""
    relationship_id: str
    display_name: str
    """The relationship's own name (``displayName``)."""
    status: str
    """As Graph says it: ``active``, ``expired``, ``terminated``, ..."""
    end_date_time: str | None
    """When it ends or ended, ISO 8601 in UTC; null when Graph gives no end."""
    auto_extend_duration: str | None
    """Graph's ``autoExtendDuration`` (``P180D``; ``PT0S``: it does not extend itself); null when Graph gives none."""
    extends_itself: bool
    usable: bool
    """It gives access now: ``active`` and not past its end."""
    action: DiscoverActionName
    file: str | None
    """The tenant file written (or that would be, or that the policy refuses), or the one already holding the
    client; as the command prints it (under --dir as given)."""
    reason: str | None
    """Why no file was written for it (the relationship's standing, the policy's violations, Graph's error, ...);
    null for ``written``, ``would-write`` and ``exists``."""
    warning: str | None
    """A usable relationship that ends within 30 days and does not extend itself: renew it."""


class DiscoverSummary(TypedDict):
    """How many relationships came to each action (they add up to ``relationships``), and how many warn."""

    relationships: int
    written: int
    would_write: int
    exists: int
    no_access: int
    other_relationship: int
    unknown_tenant: int
    policy: int
    failed: int
    warnings: int


class DiscoverDocument(TypedDict):
    format: Literal["taxcalc-consent/discover@1"]
    partner_tenant: str
    """The MSP's own tenant, whose relationships were read."""
    folder: str
    """The folder of tenant files (--dir), as given."""
    dry_run: bool
    error: str | None
    """Microsoft Graph failed before any relationship was read (the sign-in, the relationship list): nothing was
    written, and ``relationships`` is empty."""
    summary: DiscoverSummary
    relationships: list[DiscoveredRelationship]
    """In the order Graph listed them."""
