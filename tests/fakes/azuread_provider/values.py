"""Between the engine's ``PropertyValue`` maps and plain Python values (JSON shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime import rpc


class Unknown:
    """A value the engine does not know yet (a preview's output of another resource)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def plain(value: PropertyValue) -> Any:
    """The Python value inside ``value``: secrets unwrapped, numbers as int where whole, unknowns as UNKNOWN."""
    inner = value.value
    if isinstance(inner, Computed) or inner == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(inner, float) and inner.is_integer():
        return int(inner)
    if isinstance(inner, Mapping):
        return {k: plain(v) for k, v in inner.items()}
    if isinstance(inner, Sequence) and not isinstance(inner, str):
        return [plain(v) for v in inner]
    return inner


def plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


def secret_keys(values: Mapping[str, PropertyValue]) -> set[str]:
    return {k for k, v in values.items() if v.contains_secret()}


def wrap(value: Any, secret: bool = False) -> PropertyValue:
    if value is UNKNOWN:
        # The experimental SDK cannot marshal its own Computed value (property_value.py marshal_value): send
        # the wire's unknown, the sentinel string every SDK and the engine read as "not known yet".
        return PropertyValue(rpc.UNKNOWN)
    if isinstance(value, PropertyValue):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return PropertyValue(value, is_secret=secret)
    if isinstance(value, int | float):
        return PropertyValue(float(value), is_secret=secret)
    if isinstance(value, Mapping):
        return PropertyValue({str(k): wrap(v) for k, v in value.items()}, is_secret=secret)
    if isinstance(value, Sequence):
        return PropertyValue([wrap(v) for v in value], is_secret=secret)
    raise TypeError(f"cannot send {type(value).__name__} to the engine")


def wrap_map(values: Mapping[str, Any], secrets: set[str] | None = None) -> dict[str, PropertyValue]:
    return {k: wrap(v, k in (secrets or set())) for k, v in values.items()}
