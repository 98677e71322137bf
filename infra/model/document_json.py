"""Every document the tool emits, as JSON text: indented, every string printable, streamed where it is long.

Serialising goes through pydantic-core's encoder, which writes the same bytes as
``json.dumps(indent=2, ensure_ascii=False)`` for these documents (their only floats are durations rounded to
milliseconds) at a fraction of the cost. Each document's JSON Schema is generated from its type in
``documents`` (``document_schema``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

from taxcalc_consent.infra.model.documents import DOCUMENTS


def document_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one document, generated from its type."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(DOCUMENTS[name]).json_schema(mode="serialization")
    schema["$id"] = f"https://taxcalc-consent.invalid/schema/{name}.schema.json"
    _closed(schema)
    return schema


def _closed(node: Any) -> None:
    """Every object in a document has exactly the keys its type names: say so in the schema, so a key
    added in code but not in the type (or the other way round) fails the schema test."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)


def _encoded(document: Any) -> str:
    """Indented JSON text. Paths and messages reach a document already made printable
    (``errors.printable``); anything else JSON cannot hold (a lone surrogate, from a file name that is not
    UTF-8, met in a path the tool did not escape) is escaped the same way here rather than failing the
    whole document."""
    from pydantic_core import to_json as encode

    try:
        return encode(document, indent=2).decode("utf-8")
    except ValueError:  # pydantic_core's PydanticSerializationError
        return encode(_printable_strings(document), indent=2).decode("utf-8")


def _printable_strings(value: Any) -> Any:
    from taxcalc_consent.infra.model.errors import printable

    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable_strings(k): _printable_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable_strings(item) for item in value]
    return value


# What a hidden character looks like in encoded JSON: a control JSON escapes (\n, \u001b), or one it leaves
# raw (C1 controls, zero-width and bidirectional format characters, line and paragraph separators). A consumer
# printing the value (jq -r) would send it to a terminal as it is.
_ESCAPED_CONTROL = re.compile(r"\\(?:[nrtbf]|u00[01]|u007)")
_RAW_HIDDEN = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def to_json(document: Any) -> str:
    """One document as indented JSON text with a final newline, every string in it printable
    (``errors.printable``): values Graph or a file system returned are shown escaped, as on a terminal. The
    common document holds none, found by two scans of its text; only then is it walked. (plan@1's streamed
    entries, ``encode_item``, hold only values the tenant-file reader let through, which holds none.)"""
    text = _encoded(document)
    if _ESCAPED_CONTROL.search(text) or (not text.isascii() and _RAW_HIDDEN.search(text)):
        text = _encoded(_printable_strings(document))
    return text + "\n"


def encode_item(item: Any) -> str:
    """One item of a streamed document's list (a tenant's plan@1 entry), encoded as ``write_encoded`` writes
    it: ``to_json``'s text, indented one level deeper."""
    return _encoded(item).replace("\n", "\n    ")


def write_encoded(stream: IO[str], head: dict[str, Any], bodies: Iterable[str], key: str = "tenants") -> None:
    """Write ``{**head, key: [*items]}`` as ``to_json`` would, from the items encoded by ``encode_item``, one
    at a time: a fleet of thousands of tenants never holds the whole document's text in memory at once."""
    from pydantic_core import to_json as encode

    text = encode({**head, key: []}, indent=2).decode("utf-8")
    marker = f'\n  "{key}": []'
    before, found, after = text.partition(marker)
    if not found:
        raise ValueError(f"document head has no top-level {key!r}")
    stream.write(before + f'\n  "{key}": [')
    first = True
    for body in bodies:
        stream.write(("\n    " if first else ",\n    ") + body)
        first = False
    stream.write(("\n  ]" if not first else "]") + after + "\n")
