"""The Automation API boundary: the one module that imports ``pulumi.automation``.

One stack per tenant, each run in its own engine process. ``pulumi.automation`` is imported only inside
the functions that need it, so importing this module (as the fleet commands do) stays fast and works
where the Pulumi SDK is absent.

The seam tests replace is the *stack factory*: a callable that returns an object with the Automation
API ``Stack`` methods used here (``preview``, ``up``, ``preview_destroy``, ``destroy``). The stack's
settings the tool owns (tenant file, provider settings) are written to its ``Pulumi.<tenant>.yaml``
directly (``infra.workspace.update_stack_settings``), where the engine reads them, rather than through
``pulumi config`` processes: on a stack that exists a tenant costs two engine launches (``stack select``
and the operation), not three or four. The real one opens a ``LocalWorkspace`` on the
workspace's Pulumi project (``infra.workspace``), so every tenant runs the program in its own engine
process, with the tool's own interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taxcalc_consent.cli.engine_setup import (
    MANAGED_PROVIDER_KEYS,
    PULUMI_MISSING,
    EngineSettings,
    EngineUnavailable,
    stack_config,
)
from taxcalc_consent.cli.events import EventRecorder, ResourceChange, Step, StepOutcome, strip_ansi
from taxcalc_consent.infra.consent_settings import RESTORE_ENV
from taxcalc_consent.infra.plan import ConsentPlan
from taxcalc_consent.infra.workspace import ensure_project, update_stack_settings

if TYPE_CHECKING:
    from pulumi.automation import EngineEvent, PulumiCommand

# Graph's answers when an object created moments ago is not yet readable on the replica serving the
# next request (directory writes are eventually consistent). Seen only right after a service principal
# was created in the same run, they are worth one retry; anywhere else they are real errors.
# https://learn.microsoft.com/graph/resolve-auth-errors and azuread provider issue #1004.
REPLICATION_LAG_MARKERS = (
    "Request_ResourceNotFound",
    "does not exist or one of its queried reference-property objects are not present",
    "Resource_NotFound",
    "could not be found in the directory",
)
REPLICATION_RETRY_DELAY = 20.0
"""Seconds to wait before the one retry; Entra replicas usually agree within this."""


class StackLike(Protocol):
    """The part of ``pulumi.automation.Stack`` the engine runner uses; a test fake implements the same."""

    def preview(
        self,
        *,
        policy_packs: list[str] | None = None,
        policy_pack_configs: list[str] | None = None,
        refresh: bool | None = None,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...

    def up(
        self,
        *,
        policy_packs: list[str] | None = None,
        policy_pack_configs: list[str] | None = None,
        refresh: bool | None = None,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...

    def preview_destroy(
        self,
        *,
        refresh: bool | None = None,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...

    def destroy(
        self,
        *,
        refresh: bool | None = None,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...


StackFactory = Callable[[str, Mapping[str, str]], StackLike]
"""(stack name, extra environment for its engine process) -> stack."""


def engine_problem() -> str | None:
    """Why no engine run could start here, checked without starting one: None when the Pulumi CLI is on PATH.
    ``connect`` checks the same and more (its version); this lets a run that already fails for other reasons
    say so too, in the same run."""
    return PULUMI_MISSING if shutil.which("pulumi") is None else None


def connect(settings: EngineSettings) -> Engine:
    """An Engine over real LocalWorkspaces. Raises EngineUnavailable (exit 1) without a usable Pulumi CLI."""
    if shutil.which("pulumi") is None:
        raise EngineUnavailable(PULUMI_MISSING)
    from pulumi import automation as auto

    try:
        # One `pulumi version` check for the whole run, shared by every tenant's workspace.
        command = auto.PulumiCommand()
    except (OSError, auto.InvalidVersionError, auto.CommandError) as exc:
        raise EngineUnavailable(f"{PULUMI_MISSING} ({str(exc).strip().splitlines()[0]})") from None
    workspace = settings.workspace
    ensure_project(workspace)
    if settings.backend_url == workspace.default_backend_url:
        # The default backend's folder; the CLI does not create a file backend's root itself.
        workspace.state_dir.mkdir(exist_ok=True)
    return Engine(settings, _local_stack_factory(settings, command))


def _local_stack_factory(settings: EngineSettings, command: PulumiCommand) -> StackFactory:
    from pulumi import automation as auto

    def open_stack(stack_name: str, env_vars: Mapping[str, str]) -> StackLike:
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(settings.project_dir),
            env_vars={**settings.env_vars, **env_vars},
            pulumi_command=command,
        )
        stack: StackLike = auto.create_or_select_stack(stack_name, work_dir=str(settings.project_dir), opts=opts)
        return stack

    return open_stack


# ------------------------------------------------------------------------------------------- running


class Engine:
    """Runs one step of one tenant's stack and reports it as a StepOutcome; never raises for engine failures."""

    def __init__(
        self,
        settings: EngineSettings,
        stack_factory: StackFactory,
        *,
        retry_delay: float = REPLICATION_RETRY_DELAY,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._open = stack_factory
        self._retry_delay = retry_delay
        self._environ = os.environ if environ is None else environ
        self._stacks: dict[str, StackLike] = {}
        self._lock = threading.Lock()

    def run(
        self,
        plan: ConsentPlan,
        step: Step,
        redact: Callable[[str], str],
        on_change: Callable[[ResourceChange], None] | None = None,
    ) -> StepOutcome:
        from pulumi import automation as auto

        attempts = 2 if step == "up" else 1
        carried: list[str] = []
        for attempt in range(1, attempts + 1):
            outcome = StepOutcome(attempts=attempt, warnings=list(carried))
            # offboard --restore-consent-settings reaches the provider through the engine's environment; the
            # words for each removal follow the same setting.
            restore = self.settings.env_vars.get(RESTORE_ENV) == "1"
            recorder = EventRecorder(step, redact, outcome, on_change, restore=restore)
            try:
                stack = self.open_stack(plan)
                self._invoke(stack, step, recorder.on_event, plan)
                if step == "drift" and outcome.changes and not recorder.state_seen:
                    # Nothing in state: the file was never applied, which is not something done by hand.
                    outcome.changes = recorder.never_applied()
            except auto.ConcurrentUpdateError:
                outcome.locked = True
                outcome.error = (
                    f"stack {plan.tenant} is locked by another run; wait for it to finish (if none is running, "
                    f"clear the stale lock with `pulumi cancel --stack {plan.tenant}` on Pulumi Cloud, or remove "
                    "the lock file under .pulumi/locks/ on a self-managed backend)"
                )
            except auto.CommandError as exc:
                outcome.error = redact(recorder.error_text() or _command_error_summary(str(exc)))
            except (OSError, RuntimeError, auto.InvalidVersionError) as exc:
                # e.g. "summary event never found" when the engine died before reporting.
                outcome.error = redact(recorder.error_text() or str(exc).strip() or type(exc).__name__)
            if (
                outcome.error is not None
                and attempt < attempts
                and recorder.created_service_principal
                and any(marker in outcome.error for marker in REPLICATION_LAG_MARKERS)
            ):
                carried.append("retried once: the new service principal was not yet visible to Graph (replication lag)")
                time.sleep(self._retry_delay)
                continue
            return outcome
        raise AssertionError("unreachable: the last attempt always returns")

    def open_stack(self, plan: ConsentPlan) -> StackLike:
        """Open (once per run) and configure the tenant's stack."""
        with self._lock:
            cached = self._stacks.get(plan.tenant)
        if cached is not None:
            return cached
        env_vars: dict[str, str] = {}
        if plan.auth.client_secret_env:
            # The azuread provider reads ARM_CLIENT_SECRET from its environment: the secret reaches only
            # this tenant's engine process, and is never written to stack config or passed on a command line.
            env_vars["ARM_CLIENT_SECRET"] = self._environ.get(plan.auth.client_secret_env, "")
        stack = self._open(plan.tenant, env_vars)
        # After the stack is selected or created: `stack init` writes the settings file (with the passphrase
        # provider's encryptionsalt), and update_stack_settings keeps everything in it but the tool's keys.
        workspace = self.settings.workspace
        wanted = stack_config(plan, workspace)
        update_stack_settings(workspace.stack_settings_file(plan.tenant), wanted, MANAGED_PROVIDER_KEYS)
        with self._lock:
            self._stacks[plan.tenant] = stack
        return stack

    def _invoke(self, stack: StackLike, step: Step, on_event: Callable[[EngineEvent], None], plan: ConsentPlan) -> None:
        # Every step refreshes first, so it compares the file with what the tenant holds now, not with what the
        # last run left in state: a scope an administrator removed by hand is drift, and then apply puts it
        # back (without a refresh the state still lists it, the engine sees nothing to do, and apply would
        # leave the tenant as the hand left it). Terraform's plan and apply refresh the same way by default.
        if step in ("preview", "drift", "up"):
            with self._pack_config(plan) as config_path:
                packs, configs = [str(self.settings.policy_pack)], [config_path]
                if step == "up":
                    stack.up(
                        policy_packs=packs,
                        policy_pack_configs=configs,
                        refresh=True,
                        color="never",
                        on_event=on_event,
                        suppress_progress=True,
                    )
                else:
                    stack.preview(
                        policy_packs=packs,
                        policy_pack_configs=configs,
                        refresh=True,
                        color="never",
                        on_event=on_event,
                        suppress_progress=True,
                    )
        elif step == "preview-destroy":
            stack.preview_destroy(refresh=True, color="never", on_event=on_event, suppress_progress=True)
        else:
            stack.destroy(refresh=True, color="never", on_event=on_event, suppress_progress=True)

    @contextmanager
    def _pack_config(self, plan: ConsentPlan) -> Iterator[str]:
        """A ``--policy-pack-config`` file with this tenant's rule levels and tenant file.

        The engine fixes each policy's enforcement level when it configures the pack, so without this a
        rule that ``_defaults.yaml`` makes mandatory, advisory or disabled would keep its default level
        in the preview while ``validate`` honoured the configured one.
        """
        from taxcalc_consent.policies.rules import pack_config

        # An absolute path: the pack runs in its own folder, and this file is gone once the run ends.
        document = pack_config(plan.policy, str(Path(plan.file).resolve()))
        handle, path = tempfile.mkstemp(prefix=f"taxcalc-consent-policy-{plan.tenant}-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream)
            yield path
        finally:
            os.unlink(path)


def _command_error_summary(text: str) -> str:
    """The useful lines of a CommandError's text (`code: / stdout: / stderr:`): stderr, else stdout's tail."""
    stdout, _, stderr = text.partition("\n stderr:")
    stdout = stdout.split("\n stdout:", 1)[-1]
    for section in (stderr, stdout):
        lines = [strip_ansi(line).strip() for line in section.splitlines() if line.strip()]
        if lines:
            return "; ".join(lines[-3:])
    return "the Pulumi engine failed without a message"
