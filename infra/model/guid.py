"""The one GUID rule: what a GUID is, and what to say when a value meant as one is not.

Entra writes every id the tool meets (tenant ids, application ids, object ids, role definition ids) as a
GUID: 32 hexadecimal digits as 8-4-4-4-12, in either case. Every check for one, in the tenant file model, the
secret shapes, Graph's reviewer queries, the program and the Graph reads, asks this module.
"""

from __future__ import annotations

import re

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
"""The rule as pattern text, for the patterns that hold a GUID (a Graph query, a GUID in braces)."""

_GUID = re.compile(GUID_PATTERN)
NIL_GUID = "00000000-0000-0000-0000-000000000000"
GUID_SHAPE = "a GUID: 32 hexadecimal digits as 8-4-4-4-12, such as 0f8fad5b-d9cb-469f-a165-70867728950e"


def is_guid(value: str) -> bool:
    """Exactly a GUID, 8-4-4-4-12 hexadecimal digits: nothing before or after it, not even a line break."""
    return _GUID.fullmatch(value) is not None


def guid_problem(value: str, what: str) -> str | None:
    """Why ``value`` is not a usable GUID, saying what to write instead; None when it is one."""
    if is_guid(value):
        return None if value != NIL_GUID else f"the all-zero GUID is a placeholder, not a real {what}"
    inner = value.strip()
    if inner.startswith("{") and inner.endswith("}") and is_guid(inner[1:-1]):
        return f"write the GUID without braces: {inner[1:-1].lower()}"
    if is_guid(inner):
        return "remove the spaces or line break around the GUID"
    return f"expected {GUID_SHAPE}"


def looks_like_guid(value: str) -> bool:
    """A GUID, perhaps in braces or with spaces around it: meant as an object id, not as a name."""
    inner = value.strip()
    return is_guid(inner) or (inner.startswith("{") and inner.endswith("}") and is_guid(inner[1:-1]))
