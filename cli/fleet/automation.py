"""The Automation API boundary: the one module that imports ``pulumi.automation``.

One stack per tenant, each operation one engine process. ``pulumi.automation`` is imported only inside
the functions that need it, so importing this module (as the fleet commands do) stays fast and works
where the Pulumi SDK is absent.

The seam tests replace is the *stack factory*: a callable that returns an object with the operations used
here (:class:`StackLike`: ``preview``, ``up``, ``preview_destroy``, ``destroy``, and ``create`` for a stack
that does not exist yet). The stack's settings the tool owns (tenant file, provider settings) are written to
its ``Pulumi.<tenant>.yaml`` directly (``infra.model.workspace.update_stack_settings``), where the engine reads
them, rather than through ``pulumi config`` processes.

Engine launches. On a stack that exists a tenant costs one launch per operation: ``plan``/``drift`` the
preview, ``apply`` the preview and the update, plus one ``pulumi version`` for the whole run. The SDK's
``Stack`` would cost more, so the real stack is our own :class:`CliStack`, built on the SDK's public pieces:
- ``auto.create_or_select_stack`` launches ``pulumi stack select`` for every tenant, though every command
  names its stack with ``--stack`` anyway. Instead each operation simply runs; on a stack that does not
  exist the CLI fails at its stack lookup, before any engine work, with ``no stack named 'X' found``
  (pulumi/pulumi pkg/cmd/pulumi/stack/io.go ``RequireStack``, the same for every backend: the lookup is
  the backend's ``GetStack`` returning nothing, whether a file/blob backend or Pulumi Cloud), which the SDK
  raises as ``StackNotFoundError``. Then the Engine runs ``pulumi stack init`` once and the operation again:
  a new stack costs one failed lookup more, as the select did before. Only the file backend is tested here;
  Pulumi Cloud and the blob backends say the same words from the same code, unverified on a live service.
- ``Stack.up`` (and ``Stack.destroy``) run ``stack output --json``, ``stack output --json --show-secrets``
  and ``stack history --json --page-size 1`` after every update, for a result this tool never reads. A
  subclass of ``auto.Stack`` cannot skip them without overriding the public ``outputs``/``info`` to lie, or
  copying ``up`` with the SDK's private helpers (``_parse_extra_args``, ``_setup_event_log``, ``_cleanup``),
  and its constructor always selects or creates. So :class:`CliStack` builds the few flags this tool uses
  itself and launches through ``PulumiCommand.run`` (which adds ``--non-interactive`` and turns a failure
  into the SDK's ``CommandError`` subclasses, ``ConcurrentUpdateError`` included), with the environment a
  ``LocalWorkspace`` holds (``PULUMI_HOME``, the tenant's ``ARM_CLIENT_SECRET``) and its ``create_stack``.
- Engine events come from the CLI's ``--event-log <file>`` (with ``PULUMI_DEBUG_COMMANDS=true``, which the
  SDK sets too), one JSON event a line, parsed by the public ``EngineEvent.from_json`` and handed to
  ``on_event`` as they are written: the way the SDK itself reads them from CLIs up to 3.205 (with newer
  ones it runs a gRPC server of its private ``_EventsServicer``; the CLI writes the same events to either,
  pkg/backend/display/display.go ``startEventLogger``). The file lives in a private temporary folder for
  the length of the operation; the engine writes events with secrets masked (``logJSONEvent`` converts
  them with ``showSecrets`` false).
The real stack opens a ``LocalWorkspace`` on the workspace's Pulumi project (``infra.model.workspace``), so every
tenant runs the program in its own engine process, with the tool's own interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from taxcalc_consent.cli.fleet.engine_setup import (
    MANAGED_PROVIDER_KEYS,
    PULUMI_MISSING,
    EngineSettings,
    EngineUnavailable,
    stack_config,
)
from taxcalc_consent.cli.fleet.events import EventRecorder, ResourceChange, Step, StepOutcome
from taxcalc_consent.cli.fleet.pulumi_cli import (
    OperationArgs,
    UpdateArgs,
    command_error_summary,
    lock_holders,
    operation_flags,
    update_flags,
)
from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.model.consent_settings import RESTORE_ENV
from taxcalc_consent.infra.model.documents import StackUpdate
from taxcalc_consent.infra.model.plan import ConsentPlan, plan_to_data
from taxcalc_consent.infra.model.workspace import ensure_project, update_stack_settings

if TYPE_CHECKING:
    from pulumi.automation import CommandResult, EngineEvent, LocalWorkspace, PulumiCommand

NO_STACK_TO_REMOVE = (
    "no stack for this tenant in this backend: nothing was applied to it from here, so there is nothing to remove "
    "(if it was applied from another backend, pass that one with --backend)"
)


class StackLike(Protocol):
    """One tenant's stack as the engine runner uses it (:class:`CliStack`); a test fake implements the same.

    Every operation on a stack that does not exist raises ``auto.StackNotFoundError``, as the CLI fails;
    ``create`` (``pulumi stack init``) raises ``auto.StackAlreadyExistsError`` on one that does.
    """

    def create(self) -> None: ...

    def preview(self, **operation: Unpack[UpdateArgs]) -> object: ...

    def up(self, **operation: Unpack[UpdateArgs]) -> object: ...

    def preview_destroy(self, **operation: Unpack[OperationArgs]) -> object: ...

    def destroy(self, **operation: Unpack[OperationArgs]) -> object: ...

    def last_update(self) -> Mapping[str, Any] | None:
        """The newest entry of ``pulumi stack history --json`` (keys ``version``, ``kind``, ``result``,
        ``startTime``, ``endTime``), or None for a stack never updated."""
        ...


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
        # No launch here: the workspace only holds the folder, the environment and the shared command.
        workspace = auto.LocalWorkspace(
            work_dir=str(settings.project_dir),
            env_vars={**settings.env_vars, **env_vars},
            pulumi_command=command,
        )
        return CliStack(stack_name, workspace)

    return open_stack


EVENT_LOG_POLL = 0.1
"""Seconds between looks at the event log while the engine runs (the SDK's own file tailing waits as long)."""


class CliStack:
    """One tenant's stack, each operation one ``pulumi`` process (why not ``auto.Stack``: the module docstring).

    The command lines are those ``auto.Stack`` builds for the same arguments: the operation, its flags,
    ``--exec-kind auto.local``, ``--event-log`` and ``--stack``; ``PulumiCommand.run`` puts
    ``--non-interactive`` first and raises the SDK's ``CommandError`` for a failure.
    """

    def __init__(self, name: str, workspace: LocalWorkspace) -> None:
        self.name = name
        self.workspace = workspace

    def create(self) -> None:
        """``pulumi stack init <name>``, as ``LocalWorkspace`` runs it (the secrets provider is the backend's)."""
        self.workspace.create_stack(self.name)

    def preview(self, **operation: Unpack[UpdateArgs]) -> CommandResult:
        return self._run(["preview", *update_flags(operation)], operation, summary_required=True)

    def up(self, **operation: Unpack[UpdateArgs]) -> CommandResult:
        return self._run(["up", "--yes", "--skip-preview", *update_flags(operation)], operation)

    def preview_destroy(self, **operation: Unpack[OperationArgs]) -> CommandResult:
        return self._run(["destroy", "--preview-only", *operation_flags(operation)], operation, summary_required=True)

    def destroy(self, **operation: Unpack[OperationArgs]) -> CommandResult:
        return self._run(["destroy", "--skip-preview", "--yes", *operation_flags(operation)], operation)

    def last_update(self) -> Mapping[str, Any] | None:
        """``pulumi stack history --json --page-size 1``: one launch, no engine run, nothing written."""
        workspace = self.workspace
        env = {"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home is not None else {}
        env.update(workspace.env_vars)
        command = ["stack", "history", "--json", "--page-size", "1", "--stack", self.name]
        result = workspace.pulumi_command.run(command, workspace.work_dir, env)
        updates = json.loads(result.stdout or "[]")
        return updates[0] if isinstance(updates, list) and updates else None

    def _run(self, args: list[str], operation: OperationArgs, *, summary_required: bool = False) -> CommandResult:
        workspace = self.workspace
        # PULUMI_DEBUG_COMMANDS makes the CLI accept its hidden --event-log and --exec-kind, as Stack sets it.
        env = {"PULUMI_DEBUG_COMMANDS": "true"}
        if workspace.pulumi_home is not None:
            env["PULUMI_HOME"] = workspace.pulumi_home
        env.update(workspace.env_vars)
        with EventLog(operation.get("on_event")) as log, InlineProgram(operation.get("program")) as client:
            kind = ["--exec-kind", "auto.local"]
            if client is not None:
                kind = [f"--client={client}", "--exec-kind", "auto.inline"]
            command = [*args, *kind, "--event-log", str(log.path), "--stack", self.name]
            result = workspace.pulumi_command.run(command, workspace.work_dir, env)
        if summary_required and not log.summary_seen:
            # What Stack.preview raises when the engine exited 0 without reporting a summary.
            raise RuntimeError("summary event never found")
        return result


class InlineProgram:
    """The program served to the engine from this process, as ``auto.Stack`` serves an inline program: the SDK's
    own language runtime (``pulumi.automation._server.LanguageServer``, which runs the program in a context of
    its own, so tenants can run at once in threads) on a gRPC server on 127.0.0.1, whose address the CLI is
    given with ``--client`` (since Pulumi 3.181 for every operation); the CLI then starts no language host and
    no Python process for the program. The server stops when the block ends. With no program, nothing runs and
    the block gives None."""

    def __init__(self, program: Callable[[], None] | None) -> None:
        self._program = program
        self._server: Any = None

    def __enter__(self) -> str | None:
        if self._program is None:
            return None
        from concurrent import futures

        import grpc
        from pulumi.automation._server import LanguageServer
        from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
        from pulumi.runtime.proto import language_pb2_grpc

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
        language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(self._program), self._server)
        port = self._server.add_insecure_port(address="127.0.0.1:0")
        self._server.start()
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.stop(0)


class EventLog:
    """The engine's ``--event-log`` file, read while the engine runs: each event goes to ``on_event`` as
    soon as its line is written, in order, on one reader thread. Leaving the ``with`` block (once the engine
    has exited) reads the rest, so every event is delivered before a failure is handled; an exception
    raised by ``on_event`` is raised there too, unless the block is already raising."""

    def __init__(self, on_event: Callable[[EngineEvent], Any] | None) -> None:
        self._on_event = on_event
        self._folder = Path(tempfile.mkdtemp(prefix="taxcalc-consent-events-"))
        self.path = self._folder / "events.jsonl"
        self.summary_seen = False
        self._finished = threading.Event()
        self._failure: Exception | None = None
        self._reader = threading.Thread(target=self._read, name="taxcalc-consent-event-log", daemon=True)

    def __enter__(self) -> EventLog:
        self.path.touch()  # the engine opens it with O_CREATE|O_TRUNC|O_APPEND; the reader opens it first
        self._reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finished.set()
        self._reader.join()
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._failure is not None and exc_info[0] is None:
            raise self._failure

    def _read(self) -> None:
        from pulumi.automation import EngineEvent

        try:
            with self.path.open(encoding="utf-8") as stream:
                pending = ""
                while True:
                    # Whatever was written before the engine exited is read by the read after this check.
                    finished = self._finished.is_set()
                    chunk = stream.read()
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        if line.strip():
                            event = EngineEvent.from_json(json.loads(line))
                            self.summary_seen = self.summary_seen or event.summary_event is not None
                            if self._on_event is not None:
                                self._on_event(event)
                    if finished:
                        return
                    if not chunk:
                        self._finished.wait(EVENT_LOG_POLL)
        except Exception as exc:  # handed to the thread that waits for this one
            self._failure = exc


# ------------------------------------------------------------------------------------------- running


class Engine:
    """Runs one step of one tenant's stack and reports it as a StepOutcome; never raises for engine failures."""

    def __init__(
        self,
        settings: EngineSettings,
        stack_factory: StackFactory,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._open = stack_factory
        self._environ = os.environ if environ is None else environ
        self._stacks: dict[str, StackLike] = {}
        self._engine_environments: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def run(
        self,
        plan: ConsentPlan,
        step: Step,
        redact: Callable[[str], str],
        on_change: Callable[[ResourceChange], None] | None = None,
    ) -> StepOutcome:
        from pulumi import automation as auto

        outcome = StepOutcome(attempts=1)
        # offboard --restore-consent-settings reaches the provider through the engine's environment; the
        # words for each removal follow the same setting.
        restore = self.settings.env_vars.get(RESTORE_ENV) == "1"
        recorder = EventRecorder(step, redact, outcome, on_change, restore=restore)
        try:
            stack = self.open_stack(plan)
            try:
                self._invoke(stack, step, recorder.on_event, plan)
            except auto.StackNotFoundError:
                # The tenant's first run (or its stack was removed): the CLI failed at its stack lookup,
                # before any engine work or event.
                if step in ("preview-destroy", "destroy"):
                    # offboard: nothing was applied from this backend, so there is nothing to remove, and
                    # no reason to create a stack only to destroy nothing in it.
                    outcome.warnings.append(NO_STACK_TO_REMOVE)
                else:
                    # Create the stack, then run the step on it.
                    self._create(stack, plan)
                    self._invoke(stack, step, recorder.on_event, plan)
            if step == "drift" and outcome.changes and not recorder.state_seen:
                # Nothing in state: the file was never applied, which is not something done by hand.
                outcome.changes = recorder.never_applied()
        except auto.ConcurrentUpdateError as exc:
            outcome.locked = True
            holders = lock_holders(str(exc))
            held = f" ({'; '.join(holders)})" if holders else ""
            outcome.error = redact(
                f"stack {plan.tenant} is locked by another run{held}; wait for it to finish (if none is running, "
                f"clear the stale lock with `pulumi cancel --stack {plan.tenant}` on Pulumi Cloud, or delete "
                "the lock file named here, under .pulumi/locks/, on a self-managed backend)"
            )
        except auto.CommandError as exc:
            outcome.error = redact(recorder.error_text() or command_error_summary(str(exc)))
        except (OSError, RuntimeError, auto.InvalidVersionError) as exc:
            # e.g. "summary event never found" when the engine died before reporting.
            outcome.error = redact(recorder.error_text() or str(exc).strip() or type(exc).__name__)
        return outcome

    def last_update(self, plan: ConsentPlan, redact: Callable[[str], str]) -> tuple[StackUpdate | None, str | None]:
        """The tenant's stack's last update (None: never updated, or no stack yet), or the error reading it."""
        from pulumi import automation as auto

        try:
            entry = self.open_stack(plan).last_update()
        except auto.StackNotFoundError:
            return None, None
        except auto.CommandError as exc:
            return None, redact(command_error_summary(str(exc)))
        except (OSError, ValueError) as exc:
            return None, redact(f"reading the stack's history: {exc}")
        if entry is None:
            return None, None
        end = entry.get("endTime")
        update: StackUpdate = {
            "version": int(entry.get("version", 0)),
            "kind": str(entry.get("kind", "")),
            "result": str(entry.get("result", "")),
            "start_time": str(entry.get("startTime", "")),
            "end_time": str(end) if end else None,
        }
        return update, None

    def open_stack(self, plan: ConsentPlan) -> StackLike:
        """Open (once per run, without an engine launch) and configure the tenant's stack."""
        with self._lock:
            cached = self._stacks.get(plan.tenant)
        if cached is not None:
            return cached
        # How to sign in to the tenant, and the secret the file names, reach only this tenant's engine processes,
        # as the provider's own variables; never written to stack config or passed on a command line.
        env_vars = provider_settings.engine_environment(plan.tenant_id, plan.auth, self._environ)
        stack = self._open(plan.tenant, env_vars)
        self._write_settings(plan)
        with self._lock:
            self._stacks[plan.tenant] = stack
            self._engine_environments[plan.tenant] = {**self.settings.env_vars, **env_vars}
        return stack

    def _program(self, plan: ConsentPlan) -> Callable[[], None]:
        """The tenant's program, run in this process over the plan the driver made (why: docs/how-it-works.md):
        the plan crosses into the engine as data, and no engine process reads the tenant file again."""
        from taxcalc_consent.infra.program.stack import inline_program  # Pulumi and pulumi-azuread: once per run

        with self._lock:
            environment = self._engine_environments[plan.tenant]
        return inline_program(plan, environment)

    def _create(self, stack: StackLike, plan: ConsentPlan) -> None:
        from pulumi import automation as auto

        with suppress(auto.StackAlreadyExistsError):  # created meanwhile by another run: use it
            stack.create()
        # `stack init` rewrites the settings file (adding the passphrase provider's encryptionsalt, keeping
        # the config): put the tool's keys back exactly as the tool writes them.
        self._write_settings(plan)

    def _write_settings(self, plan: ConsentPlan) -> None:
        """The tool's keys in ``Pulumi.<tenant>.yaml``; every other key (the secrets provider's
        ``encryptionsalt``, other config) is kept as it is."""
        workspace = self.settings.workspace
        wanted = stack_config(plan, workspace)
        update_stack_settings(workspace.stack_settings_file(plan.tenant), wanted, MANAGED_PROVIDER_KEYS)

    def _invoke(self, stack: StackLike, step: Step, on_event: Callable[[EngineEvent], None], plan: ConsentPlan) -> None:
        # Every step refreshes first, so it compares the file with what the tenant holds now, not with what the
        # last run left in state: a scope an administrator removed by hand is drift, and then apply puts it
        # back (without a refresh the state still lists it, the engine sees nothing to do, and apply would
        # leave the tenant as the hand left it). Terraform's plan and apply refresh the same way by default.
        operation: OperationArgs = {
            "refresh": True,
            "color": "never",
            "on_event": on_event,
            "suppress_progress": True,
            "program": self._program(plan),
        }
        if step in ("preview", "drift", "up"):
            with self._pack_config(plan) as config_path:
                update: UpdateArgs = {
                    **operation,
                    "policy_packs": [str(self.settings.policy_pack)],
                    "policy_pack_configs": [config_path],
                }
                if step == "up":
                    stack.up(**update)
                else:
                    stack.preview(**update)
        elif step == "preview-destroy":
            stack.preview_destroy(**operation)
        else:
            stack.destroy(**operation)

    @contextmanager
    def _pack_config(self, plan: ConsentPlan) -> Iterator[str]:
        """A ``--policy-pack-config`` file with this tenant's rule levels and its plan, which the pack judges the
        preview against (its policy, exceptions and profile) instead of reading the tenant file again.

        The engine fixes each policy's enforcement level when it configures the pack, so without this a
        rule that ``_defaults.yaml`` makes mandatory, advisory or disabled would keep its default level
        in the preview while ``validate`` honoured the configured one.
        """
        from taxcalc_consent.policies.rules import pack_config

        document = pack_config(plan.policy, plan=plan_to_data(plan))
        handle, path = tempfile.mkstemp(prefix=f"taxcalc-consent-policy-{plan.tenant}-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream)
            yield path
        finally:
            os.unlink(path)
