"""What every resource kind module is made of: the engine's view of one step, and the kind record.

Pure data and functions, no Pulumi: the program, the driver, the policy pack, ``adopt`` and the test
fakes all read these, and none of them may pull the engine or a console into the core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeOp = Literal["create", "update", "delete", "replace", "import"]
"""What a step does to an Entra object; the engine's other steps (same, read, refresh) change nothing."""


@dataclass(frozen=True)
class Step:
    """One engine step on one resource, as plain data: what a kind needs to say it in Entra words."""

    op: ChangeOp
    name: str
    """The logical name (the last part of the URN)."""
    old: Mapping[str, Any] = field(default_factory=dict)
    """Inputs in the stack's state before the step (empty for a create)."""
    new: Mapping[str, Any] = field(default_factory=dict)
    """Inputs the program declares (empty for a delete)."""
    old_outputs: Mapping[str, Any] = field(default_factory=dict)
    """Outputs in state before the step: what the provider last read from Graph."""
    diffs: tuple[str, ...] = ()
    """Input names the engine reports as changed, for an update."""
    retained: bool = False
    """The resource in state has ``retain_on_delete``: a delete releases it and leaves it in the tenant."""
    drift: bool = False
    """Said as a drift check says it: the tenant moved away from the file, not the file from the tenant."""
    restore: bool = False
    """Offboarding was asked to put back what a tenant-wide setting was before the tool first set it
    (``offboard --restore-consent-settings``); without it a delete leaves the setting as it is."""

    @property
    def inputs(self) -> Mapping[str, Any]:
        """The declared inputs, else (for a delete) those in state."""
        return self.new or self.old


@dataclass(frozen=True)
class ResourceKind:
    """One Entra resource kind the program manages: its Pulumi type token and how its changes are said."""

    type_token: str
    label: str
    """How reports name the kind (``ResourceChange.kind`` in the run@1 report)."""
    claims: Callable[[str], bool]
    """Whether a logical name of ``type_token`` is this kind (two kinds can share one type token)."""
    describe: Callable[[Step], str]
    """The step in Entra words, for the plan, apply and drift output."""


def logical_name(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>`` -> ``<name>``."""
    return urn.rsplit("::", 1)[-1]


def type_token(urn: str) -> str:
    """The resource's own type token from its URN (a child's URN carries its parents' types before ``$``)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def stack_name(urn: str) -> str | None:
    """The stack (the tenant's short name) from a URN, or None if it is not a URN."""
    if not urn.startswith("urn:pulumi:"):
        return None
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0] or None


def scopes(value: object) -> list[str]:
    """A grant's scopes from what the engine shows: a list (``claimValues``) or Graph's space-separated string."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []
