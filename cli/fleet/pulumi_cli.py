"""The ``pulumi`` command line as plain text: the flags an operation's arguments make, and what a failure says.

``cli.fleet.automation`` runs the commands (it is the one module that imports ``pulumi.automation``); this
module builds their flags from an operation's arguments, named as ``auto.Stack`` names them, and reads the
text the CLI prints when one fails (the stale lock's holders, the lines worth showing). Pure text: no engine,
no process, and the Automation API's types only for mypy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from taxcalc_consent.cli.fleet.events import strip_ansi

if TYPE_CHECKING:
    from pulumi.automation import EngineEvent


class OperationArgs(TypedDict, total=False):
    """The keyword arguments of one operation on a stack, named as ``auto.Stack`` names them; what every
    operation takes (``preview_destroy``, ``destroy``)."""

    refresh: bool | None
    color: str | None
    on_event: Callable[[EngineEvent], Any] | None
    suppress_progress: bool | None
    program: Callable[[], None] | None
    """An inline program: served from this process for the operation (``automation.InlineProgram``)."""


class UpdateArgs(OperationArgs, total=False):
    """What ``preview`` and ``up`` take besides: the policy packs that judge the update."""

    policy_packs: list[str] | None
    policy_pack_configs: list[str] | None


def update_flags(operation: UpdateArgs) -> list[str]:
    """The CLI flags ``auto.Stack`` passes for these arguments of ``preview`` and ``up``, in its order."""
    flags: list[str] = []
    for pack in operation.get("policy_packs") or ():
        flags += ["--policy-pack", pack]
    for config in operation.get("policy_pack_configs") or ():
        flags += ["--policy-pack-config", config]
    return flags + operation_flags(operation)


def operation_flags(operation: OperationArgs) -> list[str]:
    """The CLI flags ``auto.Stack`` passes for the arguments every operation takes, in its order."""
    flags: list[str] = []
    if color := operation.get("color"):
        flags += ["--color", color]
    if operation.get("suppress_progress"):
        flags.append("--suppress-progress")
    if operation.get("refresh"):
        flags.append("--refresh")
    return flags


_LOCK_LINE = re.compile(r"^\s*(\S+\.json: created by .+)$")


def lock_holders(text: str) -> list[str]:
    """The locks a self-managed backend names when it refuses an update: one line per lock file, its URL and
    who made it (pulumi/pulumi pkg/backend/diy/lock.go ``checkForLock``: "<url>: created by user@host (pid N)
    at <time>"). Pulumi Cloud's 409 names none."""
    return [m.group(1).strip() for line in strip_ansi(text).splitlines() if (m := _LOCK_LINE.match(line))]


def command_error_summary(text: str) -> str:
    """The useful lines of a CommandError's text (`code: / stdout: / stderr:`): stderr, else stdout's tail."""
    stdout, _, stderr = text.partition("\n stderr:")
    stdout = stdout.split("\n stdout:", 1)[-1]
    for section in (stderr, stdout):
        lines = [strip_ansi(line).strip() for line in section.splitlines() if line.strip()]
        if lines:
            return "; ".join(lines[-3:])
    return "the Pulumi engine failed without a message"
