"""Engine events in, Entra changes out: what one operation on one tenant's stack does, counted once each.

The engine reports far more steps than there are Entra changes. A real preview also has steps for the
Stack, the azuread provider and the ``TenantConsent`` component; a replacement is three steps on one
resource (``create-replacement``, ``replace``, ``delete-replaced``, in either order with
``deleteBeforeReplace``); an import of an object whose inputs differ from the program's is an
``import`` step followed by an ``update`` of the same resource (pulumi/pulumi#19339). Here every
resource (URN) is one change at most: the bookkeeping steps are none, a replacement is one
``replace``, and an import with an update is one ``import`` whose words say both.

The words come from the resource's kind (``infra.model.kinds``). The Automation API's event classes are only
read here (duck-typed), never imported at run time: ``cli.fleet.automation`` is the one module that imports
``pulumi.automation``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from taxcalc_consent.infra.model import kinds
from taxcalc_consent.infra.model.documents import ResourceChangeEntry
from taxcalc_consent.infra.model.kinds import ChangeOp, logical_name

if TYPE_CHECKING:
    from pulumi.automation import EngineEvent, StepEventMetadata

Step = Literal["preview", "up", "drift", "preview-destroy", "destroy"]
"""One engine operation on a tenant's stack."""
Status = Literal["planned", "done", "failed"]

# How the engine names each step; "same", "read", "refresh", "discard" and the like change nothing in Entra.
_OPS: dict[str, ChangeOp] = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import": "import",
    "import-replacement": "import",
}

# Engine bookkeeping, not Entra objects: the root Stack resource and provider resources
# (pulumi/pulumi sdk/go/common/resource/resource_id.go: RootStackType; providers are "pulumi:providers:<pkg>").
_ENGINE_TYPE_PREFIXES = ("pulumi:pulumi:", "pulumi:providers:")


@dataclass(frozen=True)
class ResourceChange:
    """One Entra object the operation creates, changes, removes or adopts, said in Entra terms."""

    op: ChangeOp
    kind: str
    name: str
    description: str
    status: Status = "planned"

    def to_dict(self) -> ResourceChangeEntry:
        return {
            "op": self.op,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "status": self.status,
        }


@dataclass
class StepOutcome:
    """What one engine operation on one tenant's stack did or would do."""

    changes: list[ResourceChange] = field(default_factory=list)
    error: str | None = None
    locked: bool = False
    policy_blocked: bool = False
    """The policy pack reported a mandatory violation, so the engine changed nothing."""
    attempts: int = 1
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None


def describe_step(meta: StepEventMetadata, *, drift: bool = False, restore: bool = False) -> ResourceChange | None:
    """Say what one engine step does in Entra terms (the resource's kind module says it); None for steps
    that change nothing in Entra: no-op steps, and steps on the Stack, a provider or a component.
    ``restore``: offboard puts recorded tenant-wide settings back (``--restore-consent-settings``)."""
    op = _OPS.get(_op_name(meta))
    if op is None or meta.type.startswith(_ENGINE_TYPE_PREFIXES):
        return None
    name = logical_name(meta.urn)
    kind = kinds.kind_of(meta.type, name)
    if kind is None:
        # A component (TenantConsent) registers no object anywhere; the engine marks custom resources, and
        # leaves `custom` out for components (apitype.StepEventStateMetadata, `json:"custom,omitempty"`).
        if not (getattr(meta.new, "custom", None) or getattr(meta.old, "custom", None)):
            return None
        label = meta.type.rsplit(":", 1)[-1] or meta.type
        return ResourceChange(op, label, name, f"{op} {label} {name}")
    step = kinds.Step(
        op,
        name,
        old=_mapping(getattr(meta.old, "inputs", None)),
        new=_mapping(getattr(meta.new, "inputs", None)),
        old_outputs=_mapping(getattr(meta.old, "outputs", None)),
        diffs=tuple(meta.diffs or ()),
        retained=bool(getattr(meta.old, "retain_on_delete", False)),
        drift=drift,
        restore=restore,
    )
    return ResourceChange(op, kind.label, name, kind.describe(step))


def _op_name(meta: StepEventMetadata) -> str:
    return str(getattr(meta.op, "value", meta.op))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _merge(first: ResourceChange, later: ResourceChange) -> ResourceChange:
    """Two steps on one resource in one operation are one change: a replacement's steps say one thing;
    an import followed by an update is an import that also says what the update changes."""
    if (later.op == "replace" and first.op == "replace") or later.description == first.description:
        return first
    return ResourceChange(first.op, first.kind, first.name, f"{first.description}; {later.description}", first.status)


class EventRecorder:
    """Turns one operation's engine events into a StepOutcome: changes, their status, errors, warnings."""

    def __init__(
        self,
        step: Step,
        redact: Callable[[str], str],
        outcome: StepOutcome,
        on_change: Callable[[ResourceChange], None] | None,
        restore: bool = False,
    ) -> None:
        self._step = step
        self._restore = restore
        self._redact = redact
        self._outcome = outcome
        self._on_change = on_change
        self._index: dict[str, int] = {}
        self._errors: list[str] = []
        self._steps: dict[str, list[StepEventMetadata]] = {}
        self._provisional: set[str] = set()
        """Resources whose change so far comes from a delete-replaced step alone."""
        self.state_seen = False
        """Whether any step had a prior state: a drift check on an empty stack finds only 'never applied'."""

    def on_event(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            self._on_step(event.resource_pre_event.metadata)
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            self._mark(meta.urn, "done" if self._step in ("up", "destroy") else "planned")
        elif event.res_op_failed_event is not None:
            self._mark(event.res_op_failed_event.metadata.urn, "failed")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = self._redact(without_traceback(strip_ansi(diag.message).strip()))
            if diag.severity == "error" and message:
                self._errors.append(message)
            elif diag.severity == "warning" and message:
                self._outcome.warnings.append(message)
        elif event.policy_event is not None:
            policy = event.policy_event
            message = self._redact(f"policy {policy.policy_name} ({policy.enforcement_level}): {policy.message}")
            if policy.enforcement_level == "mandatory":
                self._errors.append(message)
                self._outcome.policy_blocked = True
            else:
                self._outcome.warnings.append(message)

    def _on_step(self, meta: StepEventMetadata) -> None:
        if meta.old is not None:
            self.state_seen = True
        change = describe_step(meta, drift=self._step == "drift", restore=self._restore)
        if change is None:
            return
        change = ResourceChange(change.op, change.kind, change.name, self._redact(change.description), change.status)
        self._steps.setdefault(meta.urn, []).append(meta)
        index = self._index.get(meta.urn)
        if index is None:
            self._index[meta.urn] = len(self._outcome.changes)
            self._outcome.changes.append(change)
            if self._on_change:
                self._on_change(change)
        elif meta.urn in self._provisional:
            # A deleteBeforeReplace replacement starts with delete-replaced, which has no new state to
            # compare: the replacement's other steps say what changes.
            self._outcome.changes[index] = change
        else:
            self._outcome.changes[index] = _merge(self._outcome.changes[index], change)
        if _op_name(meta) == "delete-replaced" and index is None:
            self._provisional.add(meta.urn)
        else:
            self._provisional.discard(meta.urn)

    def _mark(self, urn: str, status: Status) -> None:
        index = self._index.get(urn)
        if index is not None:
            old = self._outcome.changes[index]
            self._outcome.changes[index] = ResourceChange(old.op, old.kind, old.name, old.description, status)

    def never_applied(self) -> list[ResourceChange]:
        """The recorded changes said as a plan would say them, marked as never applied."""
        changes: list[ResourceChange] = []
        for steps in self._steps.values():
            said: ResourceChange | None = None
            # As in _on_step: a replacement's delete-replaced step says nothing its other steps do not.
            for meta in [m for m in steps if _op_name(m) != "delete-replaced"] or steps:
                change = describe_step(meta)
                if change is not None:
                    said = change if said is None else _merge(said, change)
            if said is not None:
                text = self._redact(f"never applied: {said.description}")
                changes.append(ResourceChange(said.op, said.kind, said.name, text, said.status))
        return changes

    def error_text(self) -> str:
        return "; ".join(dict.fromkeys(self._errors))


_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception)): (.*)$")


def without_traceback(text: str) -> str:
    """A Python provider's failure without its traceback: the text before it, then the exception's message.

    A dynamic provider's exception reaches the engine as the whole ``traceback.format_exc()`` (pulumi
    sdk/python/lib/pulumi/dynamic/__main__.py, ``_abort_with_traceback``); what the user needs is its last
    line, whose message (a Graph error naming a missing permission, say) says what to do. The exception's
    module path and class go; the message stays.
    """
    head, found, rest = text.partition(_TRACEBACK)
    if not found:
        return text
    lines = [line.strip() for line in rest.splitlines() if line.strip() and not line.startswith((" ", "\t"))]
    last = lines[-1] if lines else ""
    matched = _EXCEPTION_LINE.match(last)
    message = matched.group(2) if matched else last
    return f"{head.strip()} {message}".strip()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[a-z]*%\}>")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
