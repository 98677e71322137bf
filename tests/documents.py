"""Every JSON document a test reads from the tool is checked against its committed schema.

So a key added to an output without its type (or a type changed without the output) fails here,
wherever in the suite that output is produced.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
_BY_FORMAT = {
    f"taxcalc-consent/{name}@1": name for name in ("plan", "validate", "run", "review", "audit", "adopt", "discover")
}


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


def check_document(document: Any) -> Any:
    """``document`` itself, after checking it against its format's schema (if it is one of ours)."""
    name = _BY_FORMAT.get(document.get("format")) if isinstance(document, dict) else None
    if name is not None:
        errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return document


def parse_document(text: str) -> Any:
    return check_document(json.loads(text))
