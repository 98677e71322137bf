"""A reviewed plan: what ``plan`` showed a reviewer, and whether a tenant is still exactly that.

``plan --out reviewed.json`` writes a ``review@1`` document: for each tenant its previewed changes in
structured form (operation, kind, logical name and the Entra words shown), the SHA-256 of its tenant file
and of the ``_defaults.yaml`` merged under it, the tool's version, and the stack's last update in its
backend. ``apply --plan reviewed.json`` previews each tenant again and compares, before any write:
:func:`differences` says everything that is not as reviewed, and a tenant with any difference is refused.

Why not Pulumi's own update plans (``preview --save-plan`` / ``up --plan``): Pulumi's guide says a plan "is
not evaluated in an all-or-nothing fashion before changes are applied": the update stops at the first
operation that deviates, after those before it ran, so a tenant could be left half applied; plans record
Pulumi properties, not the tenant file or the Entra words a reviewer read; and they still carry open
reports of spurious violations (pulumi/pulumi#11587) and of deviations that do not stop the update
(pulumi/pulumi#16670), with their UX unsettled (pulumi/pulumi#8985). Here the whole fresh preview is
compared before the update starts, so a differing tenant is never touched.

No rich, no typer: the fleet driver asks, the CLI renders.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from taxcalc_consent.cli.fleet.events import ResourceChange
from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.infra.model.defaults import DEFAULTS_FILE
from taxcalc_consent.infra.model.documents import REVIEW_FORMAT, ReviewDocument, ReviewTenant, StackUpdate
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.files import Unreadable, read_regular_file

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
T = TypeVar("T")
"""A review or a run report of a very large fleet is tens of megabytes; anything past this is not one."""

PACKAGE = "taxcalc-consent"


class ReviewError(TaxcalcConsentError):
    """The reviewed plan cannot be used (missing, not a review@1 document): nothing was run."""

    exit_code = ExitCode.INVALID


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def defaults_file(tenant_file: str) -> Path | None:
    """The ``_defaults.yaml`` merged under ``tenant_file`` (infra.model.defaults reads it from the file's folder)."""
    candidate = Path(tenant_file).parent / DEFAULTS_FILE
    return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class Evidence:
    """What a tenant's review rests on, as found now."""

    file_sha256: str
    defaults_file: str | None
    defaults_sha256: str | None
    stack_last_update: StackUpdate | None
    changes: tuple[ResourceChange, ...]


def evidence(tenant_file: str, stack_last_update: StackUpdate | None, changes: Iterable[ResourceChange]) -> Evidence:
    defaults = defaults_file(tenant_file)
    return Evidence(
        file_sha256=file_sha256(tenant_file),
        defaults_file=str(defaults) if defaults else None,
        defaults_sha256=file_sha256(defaults) if defaults else None,
        stack_last_update=stack_last_update,
        changes=tuple(changes),
    )


@dataclass(frozen=True)
class Review:
    """A review@1 document as ``apply --plan`` uses it."""

    path: str
    tool_version: str
    tenants: Mapping[str, ReviewTenant]


def read_document(
    path: Path, option: str, expected_format: str, document_type: type[T], made_by: str, error: type[Exception]
) -> T:
    """A document the tool wrote, read back for ``option`` (``--plan``, ``--resume``) as every input is read
    (a regular file, capped), then checked against its type. Raises ``error`` (exit 2) saying what is wrong and
    which file to pass instead (``made_by``: "the file `plan --out` wrote")."""
    import json

    from pydantic import TypeAdapter, ValidationError

    try:
        data = read_regular_file(path, MAX_DOCUMENT_BYTES, expected=made_by)
    except Unreadable as exc:  # TooLarge included: "larger than N bytes; not <made_by>"
        raise error(f"{option} {path}: {exc}") from None
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise error(f"{option} {path}: not JSON ({exc}); pass {made_by}") from None
    found = raw.get("format") if isinstance(raw, dict) else None
    if found != expected_format:
        raise error(f"{option} {path}: format is {found!r}, expected {expected_format!r}: pass {made_by}")
    try:
        return TypeAdapter(document_type).validate_python(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise error(f"{option} {path}: {where}: {first['msg']} ({exc.error_count()} problem(s))") from None


def read_review(path: Path) -> Review:
    """Read and check a review@1 document. Raises ReviewError (exit 2) saying what is wrong with it."""
    document = read_document(path, "--plan", REVIEW_FORMAT, ReviewDocument, "the file `plan --out` wrote", ReviewError)
    return Review(str(path), document["tool_version"], {t["tenant"]: t for t in document["tenants"]})


_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "+-", "import": "="}


def _said(op: str, description: str) -> str:
    return f"{_SYMBOL.get(op, op)} {description}"


def differences(review: Review, tenant: str, file: str, now: Evidence, version: str) -> list[str]:
    """Everything about ``tenant`` that is not as reviewed, one line each; empty when it may be applied.

    Compared: the tool's version, the tenant file and its ``_defaults.yaml`` byte for byte, the stack's last
    update, and the changes (operation, resource and the words shown) as a multiset, since the engine
    reports steps in the order they happen to run. A tenant with nothing to change now differs only by its
    inputs (version, files).
    """
    reviewed = review.tenants.get(tenant)
    if reviewed is None:
        return [f"not in the reviewed plan {review.path}: run plan --out again with this tenant and review it"]
    found: list[str] = []
    if reviewed["result"] not in ("changes", "no-changes"):
        found.append(
            f"its preview did not succeed when reviewed ({reviewed['result']}): there were no changes to review"
        )
    if review.tool_version != version:
        found.append(f"the tool changed: reviewed with {PACKAGE} {review.tool_version}, this is {version}")
    if reviewed["file_sha256"] != now.file_sha256:
        found.append(f"{file} was edited after the review")
    if reviewed["defaults_sha256"] != now.defaults_sha256:
        shown = now.defaults_file or reviewed["defaults_file"] or DEFAULTS_FILE
        if now.defaults_sha256 is None:
            found.append(f"{shown} was removed after the review")
        elif reviewed["defaults_sha256"] is None:
            found.append(f"{shown} was added after the review")
        else:
            found.append(f"{shown} was edited after the review")
    if not now.changes:
        # Nothing would be written, so nothing unreviewed can land: the reviewed changes are in place already
        # (a cut run applied them just before it stopped, or another run did). The inputs above still count.
        return found
    if reviewed["stack_last_update"] != now.stack_last_update:
        was_update, now_update = _update(reviewed["stack_last_update"]), _update(now.stack_last_update)
        found.append(f"the stack moved: {was_update} when reviewed, now {now_update}")
    was = Counter((r["op"], r["kind"], r["name"], r["description"]) for r in reviewed["resources"])
    is_now = Counter((c.op, c.kind, c.name, c.description) for c in now.changes)
    for op, _kind, _name, description in sorted((is_now - was).elements()):
        found.append(f"not reviewed: {_said(op, description)}")
    for op, _kind, _name, description in sorted((was - is_now).elements()):
        found.append(f"reviewed but no longer planned: {_said(op, description)}")
    return found


def _update(update: StackUpdate | None) -> str:
    if update is None:
        return "never updated"
    number = f" {update['version']}" if update["version"] else ""  # self-managed backends number none
    return f"{update['kind']}{number} started {update['start_time']} ({update['result']})"


def review_entry(entry: Mapping[str, object], now: Evidence) -> ReviewTenant:
    """A tenant's review@1 entry: its run@1 entry and the evidence its review rests on."""
    return {
        **entry,  # type: ignore[typeddict-item]
        "file_sha256": now.file_sha256,
        "defaults_file": now.defaults_file,
        "defaults_sha256": now.defaults_sha256,
        "stack_last_update": now.stack_last_update,
    }
