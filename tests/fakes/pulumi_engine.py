"""A fake Pulumi engine and state backend behind the Automation API ``Stack`` interface.

It stands where the driver's ``cli.automation.CliStack`` would, for the driver's stack factory, and
behaves like the real thing where the driver can tell:
- opening a stack creates nothing; an operation on a stack that does not exist fails with the CLI's
  ``no stack named 'X' found`` (StackNotFoundError), and ``create`` (``pulumi stack init``) on one that
  exists with ``stack '...' already exists`` (StackAlreadyExistsError);
- stack config lives where the engine reads it, in the workspace's ``Pulumi.<stack>.yaml``; creating a
  stack writes that file with the passphrase provider's ``encryptionsalt``, as ``pulumi stack init``
  does (pulumi/pulumi pkg/secrets/passphrase: the salt is kept in the stack's settings file);
- the program is the real one (infra/), run under Pulumi's mock runtime: the inline program the driver
  hands over (``program=``), with the stack's config as the engine passes it, as the real engine runs it
  (or, given none, as a hand-run ``pulumi up`` does, on the tenant file named in
  ``taxcalc-consent:tenantFile``), reading users and groups from the :class:`tests.fakes.entra.FakeTenant`
  and failing as it fails; only the engine around it (diff, state, events) is this module's;
- ``preview`` diffs the program's resources against the stack's state; ``preview(refresh=True)`` first
  reads every resource back from the tenant; ``up``/``destroy`` write to the tenant, which enforces
  Graph's rules, and to state; the service principal is never deleted (one found gets assignment back);
- engine events are built from the engine's own event-log JSON with ``EngineEvent.from_json``;
- failures are the Automation API's own: a locked stack raises what ``create_command_error`` makes of the
  CLI's "currently locked" message (ConcurrentUpdateError), a failed step emits an error diagnostic and a
  ``resOpFailedEvent`` and raises CommandError.
Every operation that ran (and every ``create``) is recorded with its keyword arguments (minus ``on_event``)
for the tests to check.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pulumi.automation import (
    CommandResult,
    EngineEvent,
    PreviewResult,
)
from pulumi.automation.errors import create_command_error

from taxcalc_consent.infra.model.kinds import app_role_assignment, delegated_grant, service_principal
from taxcalc_consent.infra.model.workspace import (
    ADOPT_KEY,
    TENANT_FILE_KEY,
    open_workspace,
    read_stack_settings,
    write_stack_settings,
)
from tests.fakes.entra import FakeTenant, GraphError
from tests.fakes.pulumi_mocks import deploy_file, run_inline

PROJECT = "taxcalc-consent"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's placeholder for a value not known until apply."""


_APPLIED = (service_principal.TYPE, delegated_grant.TYPE, app_role_assignment.TYPE)
"""The resource types this fake writes to the tenant; a program declaring any other needs an engine test."""
_PROGRAM_RUNNER = ThreadPoolExecutor(
    max_workers=1,
    thread_name_prefix="fake-engine-program",
    initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop()),
)
"""Pulumi's mock runtime is one per process: programs run one at a time, on one long-lived thread whose event
loop (and its executor's) lives as long as the process, as the main thread's does."""

LOCKED_STDERR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
    "delete the lock file with `pulumi cancel`.\n"
)


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict[str, Any]
    id: str = ""
    retain_on_delete: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the provider recorded beyond the inputs (the service principal's ``origin`` and ``before``)."""


@dataclass
class FakeBackend:
    """Every stack's config and state, and the tenants the stacks write to (by stack name)."""

    root: Path
    """The workspace root R, which relative tenant file paths in stack config are relative to."""
    tenants: dict[str, FakeTenant]
    states: dict[str, dict[str, Resource]] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    policy_denials: dict[str, str] = field(default_factory=dict)
    """Stack -> message of a mandatory violation the attached policy pack reports on preview and update."""
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Stack -> its updates, oldest first, as ``pulumi stack history --json`` lists them (newest first there):
    every update and destroy that got past the lock is one, failed ones included (pulumi/pulumi
    pkg/backend/diy/backend.go ``apply`` records the update's result whatever it was); previews are none."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self, stack_name: str, env_vars: Mapping[str, str]) -> FakeStack:
        """What the driver's stack factory returns: a handle, as a LocalWorkspace is; nothing is created."""
        with self._lock:
            self.env[stack_name] = dict(env_vars)
        return FakeStack(self, stack_name)

    def create(self, stack_name: str) -> None:
        """``pulumi stack init``: fails on a stack that exists; with the passphrase provider the salt goes
        into the settings file, beside whatever config it already holds (the real CLI keeps it: checked with
        v3.274.1, an existing ``config:`` survives ``stack init``)."""
        with self._lock:
            if stack_name in self.states:
                # pulumi/pulumi pkg/backend/backenderr/backenderr.go StackAlreadyExistsError: "stack '%v' already
                # exists" (the full name), which the SDK's create_command_error turns into StackAlreadyExistsError.
                stderr = f"error: stack 'organization/{PROJECT}/{stack_name}' already exists\n"
                raise create_command_error(CommandResult(stdout="", stderr=stderr, code=255))
            self.states[stack_name] = {}
            document = read_stack_settings(self.settings_file(stack_name))
            document.setdefault("encryptionsalt", f"v1:{stack_name}-salt:v1:fake-encrypted-check")
            write_stack_settings(self.settings_file(stack_name), document)
            self.calls.append((stack_name, "create", {}))

    def settings_file(self, stack_name: str) -> Path:
        return open_workspace(self.root).stack_settings_file(stack_name)

    def config(self, stack_name: str) -> dict[str, Any]:
        """The stack's config as the engine reads it: from its settings file."""
        return dict(read_stack_settings(self.settings_file(stack_name)).get("config") or {})

    def record(self, stack: str, method: str, kwargs: dict[str, Any]) -> None:
        recorded = {k: v for k, v in kwargs.items() if k != "on_event"}
        # The engine reads --policy-pack-config files while it runs; keep what they said at that moment.
        recorded["policy_pack_config_documents"] = [
            json.loads(Path(path).read_text(encoding="utf-8")) for path in kwargs.get("policy_pack_configs") or []
        ]
        with self._lock:
            self.calls.append((stack, method, recorded))

    def methods(self, stack: str) -> list[str]:
        return [m for s, m, _ in self.calls if s == stack]


class FakeStack:
    def __init__(self, backend: FakeBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self._seq = 0

    # -------------------------------------------------------------------------------- operations

    def create(self) -> None:
        self.backend.create(self.name)

    def preview(self, **kwargs: Any) -> PreviewResult:
        self._check_exists()
        self.backend.record(self.name, "preview", kwargs)
        emit = self._emitter(kwargs.get("on_event"))
        self._check_lock()
        state = copy.deepcopy(self.backend.states[self.name])
        if kwargs.get("refresh"):
            self._refresh(state)
        desired = self._program(emit, kwargs.get("program"))
        self._policies(kwargs, emit)
        counts = self._diff(state, desired, emit, apply=False)
        emit({"summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": counts}})
        return PreviewResult(stdout="", stderr="", change_summary=counts)  # type: ignore[arg-type]

    def up(self, **kwargs: Any) -> object:
        self._check_exists()
        self.backend.record(self.name, "up", kwargs)
        emit = self._emitter(kwargs.get("on_event"))
        self._check_lock()
        with self._update("update"):
            desired = self._program(emit, kwargs.get("program"))
            self._policies(kwargs, emit)
            counts = self._diff(self.backend.states[self.name], desired, emit, apply=True)
        emit({"summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": counts}})
        return counts

    def last_update(self) -> dict[str, Any] | None:
        """``pulumi stack history --json --page-size 1``: the newest update, or None; a stack must exist."""
        self._check_exists()
        self.backend.record(self.name, "last_update", {})
        with self.backend._lock:
            updates = self.backend.history.get(self.name) or []
            return dict(updates[-1]) if updates else None

    @contextmanager
    def _update(self, kind: str) -> Iterator[None]:
        """One entry of the stack's history for an update or destroy, with its result."""
        result = "failed"
        try:
            yield
            result = "succeeded"
        finally:
            with self.backend._lock:
                updates = self.backend.history.setdefault(self.name, [])
                updates.append(
                    {
                        "startTime": f"2026-01-01T00:00:{len(updates):02d}Z",
                        # A self-managed backend numbers no update (pulumi/pulumi pkg/backend/diy/state.go
                        # ``getHistory`` leaves UpdateInfo.Version 0); Pulumi Cloud does.
                        "version": 0,
                        "kind": kind,
                        "result": result,
                        "endTime": f"2026-01-01T00:00:{len(updates):02d}Z",
                    }
                )

    def preview_destroy(self, **kwargs: Any) -> PreviewResult:
        self._check_exists()
        self.backend.record(self.name, "preview_destroy", kwargs)
        emit = self._emitter(kwargs.get("on_event"))
        self._check_lock()
        counts = self._diff(copy.deepcopy(self.backend.states[self.name]), {}, emit, apply=False)
        emit({"summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": counts}})
        return PreviewResult(stdout="", stderr="", change_summary=counts)  # type: ignore[arg-type]

    def destroy(self, **kwargs: Any) -> object:
        self._check_exists()
        self.backend.record(self.name, "destroy", kwargs)
        emit = self._emitter(kwargs.get("on_event"))
        self._check_lock()
        with self._update("destroy"):
            counts = self._diff(self.backend.states[self.name], {}, emit, apply=True)
        emit({"summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": counts}})
        return counts

    # ---------------------------------------------------------------------------------- internals

    def _emitter(self, on_event: Callable[[EngineEvent], Any] | None) -> Callable[[dict[str, Any]], None]:
        def emit(payload: dict[str, Any]) -> None:
            self._seq += 1
            event = EngineEvent.from_json({"sequence": self._seq, "timestamp": 0, **payload})
            if on_event is not None:
                on_event(event)

        return emit

    def _check_exists(self) -> None:
        """Every operation first looks its stack up and fails, before any engine work or event, on one that
        does not exist (pulumi/pulumi pkg/cmd/pulumi/stack/io.go RequireStack; the message is
        backenderr.StackNotFoundError's, exit code 6). Not recorded in ``calls``: no operation ran."""
        with self.backend._lock:
            exists = self.name in self.backend.states
        if not exists:
            stderr = f"error: no stack named '{self.name}' found\n"
            raise create_command_error(CommandResult(stdout="", stderr=stderr, code=6))

    def _check_lock(self) -> None:
        if self.name in self.backend.locked:
            raise create_command_error(CommandResult(stdout="", stderr=LOCKED_STDERR, code=255))

    def _policies(self, kwargs: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
        """A pack only runs when attached; a mandatory violation fails the operation before any step."""
        message = self.backend.policy_denials.get(self.name)
        if not kwargs.get("policy_packs") or message is None:
            return
        policy = {
            "message": message,
            "color": "never",
            "policyName": "allowed-scopes",
            "policyPackName": "taxcalc-consent",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "mandatory",
        }
        emit({"policyEvent": policy})
        raise create_command_error(
            CommandResult(
                stdout="Policies:\n    ❌ taxcalc-consent@v0.1.0\n", stderr="error: preview failed\n", code=255
            )
        )

    def _tenant(self) -> FakeTenant:
        return self.backend.tenants[self.name]

    def _urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.name}::{PROJECT}::{type_}::{name}"

    def _fail(self, emit: Callable[[dict[str, Any]], None], message: str, urn: str | None = None) -> NoReturn:
        emit({"diagnosticEvent": {"message": message + "\n", "color": "never", "severity": "error", "urn": urn}})
        raise create_command_error(
            CommandResult(stdout="Updating (" + self.name + ")\n", stderr="error: update failed\n", code=255)
        )

    def _program(
        self, emit: Callable[[dict[str, Any]], None], program: Callable[[], Any] | None = None
    ) -> dict[str, Resource]:
        """What the real program (infra/) declares: the inline ``program`` given, else for the tenant file in stack
        config.

        It runs under Pulumi's mock runtime (``tests.fakes.pulumi_mocks``) against a scratch copy of the
        tenant: the directory (users, groups, service principals) as it is, none of its grants or
        assignments, so the program's registrations never collide there and the tenant itself is untouched.
        What it registers, with the inputs it gave, is the desired state; an object id the scratch tenant
        made up (a service principal not yet created) is unknown, as in a real preview.
        """
        config = self.backend.config(self.name)
        tenant = self._tenant()
        scratch = copy.deepcopy(tenant)
        scratch.grants.clear()
        scratch.app_role_assignments.clear()
        if program is not None:
            job = _PROGRAM_RUNNER.submit(run_inline, scratch, program, self.name, config)
        else:
            if TENANT_FILE_KEY not in config:
                self._fail(emit, f"Missing required configuration variable '{TENANT_FILE_KEY}'")
            tenant_file = Path(str(config[TENANT_FILE_KEY]))
            if not tenant_file.is_absolute():
                tenant_file = self.backend.root / tenant_file
            # An object value, as adopt writes it; a JSON string set by hand reads the same (config.get_object).
            adopt = config.get(ADOPT_KEY)
            adopt = json.loads(adopt) if isinstance(adopt, str) else adopt
            job = _PROGRAM_RUNNER.submit(lambda: deploy_file(scratch, tenant_file, adopt)[0])
        try:
            mocks = job.result()
        except Exception as exc:
            emit(
                {
                    "diagnosticEvent": {
                        "message": f"Program failed with an unhandled exception: {exc}\n",
                        "color": "never",
                        "severity": "error",
                    }
                }
            )
            raise create_command_error(
                CommandResult(
                    stdout="error: an unhandled error occurred: Program exited with non-zero exit code: 1\n",
                    stderr="",
                    code=255,
                )
            ) from None
        # Multi-tenant applications published elsewhere are Graph's knowledge, not the scratch copy's alone.
        tenant.published_apps.update(scratch.published_apps)
        made_up = set(scratch.service_principals) - set(tenant.service_principals)
        declared: dict[str, Resource] = {}
        for registered in mocks.resources:
            if registered.type not in _APPLIED:
                if registered.type.startswith("azuread:") or registered.type.startswith("pulumi-python:dynamic"):
                    raise NotImplementedError(f"the fake engine does not apply {registered.type}: use an engine test")
                continue
            inputs = {k: UNKNOWN if isinstance(v, str) and v in made_up else v for k, v in registered.inputs.items()}
            options = mocks.options.get(registered.name)
            declared[self._urn(registered.type, registered.name)] = Resource(
                registered.type, registered.name, inputs, retain_on_delete=bool(options and options.retain_on_delete)
            )
        return declared

    def _refresh(self, state: dict[str, Resource]) -> None:
        """Read every resource in state back from the tenant: gone ones leave state, changed ones update."""
        tenant = self._tenant()
        for urn, resource in list(state.items()):
            if resource.type == delegated_grant.TYPE:
                grant = tenant.grants.get(resource.id)
                if grant is None:
                    del state[urn]
                else:
                    resource.inputs["claimValues"] = grant.scopes
            elif resource.type == app_role_assignment.TYPE:
                if resource.id not in tenant.app_role_assignments:
                    del state[urn]
            elif resource.type == service_principal.TYPE:
                sp = tenant.service_principals.get(resource.id)
                if sp is None:
                    del state[urn]
                else:
                    resource.inputs["appRoleAssignmentRequired"] = sp.app_role_assignment_required

    def _diff(
        self,
        state: dict[str, Resource],
        desired: dict[str, Resource],
        emit: Callable[[dict[str, Any]], None],
        *,
        apply: bool,
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        steps: list[tuple[str, str, Resource | None, Resource | None]] = []
        for urn, new in desired.items():
            old = state.get(urn)
            if old is None:
                steps.append(("create", urn, None, new))
            elif _differs(old, new):
                steps.append(("update", urn, old, new))
            else:
                steps.append(("same", urn, old, new))
        # Deletes run last and in reverse, dependents (grants, assignments) before the service principal.
        for urn in reversed([u for u in state if u not in desired]):
            steps.append(("delete", urn, state[urn], None))
        for op, urn, old, new in steps:
            counts[op] = counts.get(op, 0) + 1
            resource = new or old
            assert resource is not None
            metadata = {
                "op": op,
                "urn": urn,
                "type": resource.type,
                "provider": "",
                "old": self._state_json(urn, old),
                "new": self._state_json(urn, new),
                "diffs": sorted(k for k in (new.inputs if new else {}) if old and old.inputs.get(k) != new.inputs[k])
                if op == "update" and new
                else None,
            }
            emit({"resourcePreEvent": {"metadata": metadata, "planning": not apply}})
            if apply and op != "same":
                try:
                    self._write(op, urn, state, old, new)
                except GraphError as exc:
                    emit({"resOpFailedEvent": {"metadata": metadata, "status": 1, "steps": 1}})
                    self._fail(emit, f"{resource.type} {resource.name}: {exc}", urn)
            emit({"resOutputsEvent": {"metadata": metadata, "planning": not apply}})
        return counts

    def _state_json(self, urn: str, resource: Resource | None) -> dict[str, Any] | None:
        if resource is None:
            return None
        return {
            "type": resource.type,
            "urn": urn,
            "id": resource.id,
            "inputs": dict(resource.inputs),
            "outputs": {**resource.inputs, **resource.outputs, "id": resource.id},
            "retainOnDelete": resource.retain_on_delete,
        }

    def _write(self, op: str, urn: str, state: dict[str, Resource], old: Resource | None, new: Resource | None) -> None:
        tenant = self._tenant()
        sp_urn = self._urn(service_principal.TYPE, service_principal.NAME)
        if op == "delete":
            assert old is not None
            if not old.retain_on_delete:
                if old.type == delegated_grant.TYPE:
                    tenant.delete_grant(old.id)
                elif old.type == app_role_assignment.TYPE:
                    tenant.delete_app_role_assignment(old.id)
                elif old.type == service_principal.TYPE:
                    # Never deleted: one that was found gets assignment-required back as found.
                    sp = tenant.service_principals.get(old.id)
                    before = old.outputs.get("before")
                    if sp is not None and old.outputs.get("origin") == service_principal.ORIGIN_FOUND and before:
                        sp.app_role_assignment_required = bool(before["appRoleAssignmentRequired"])
            del state[urn]
            return
        assert new is not None
        inputs = dict(new.inputs)
        sp_id = state[sp_urn].id if sp_urn in state else ""
        for key in ("servicePrincipalObjectId", "principalObjectId", "resourceObjectId"):
            if inputs.get(key) == UNKNOWN:
                inputs[key] = sp_id
        outputs: dict[str, Any] = {}
        if new.type == service_principal.TYPE:
            # The tool's own provider (infra/program/service_principal_provider.py): found or created, and only
            # appRoleAssignmentRequired changed; where it came from and what was found are recorded.
            wanted = bool(inputs["appRoleAssignmentRequired"])
            existing = tenant.service_principal_by_app_id(str(inputs["clientId"]))
            if op == "create" and existing is None:
                existing = tenant.create_service_principal(str(inputs["clientId"]), app_role_assignment_required=wanted)
                outputs = {"origin": service_principal.ORIGIN_CREATED, "before": None}
            elif op == "create":
                assert existing is not None
                was = existing.app_role_assignment_required
                outputs = {"origin": service_principal.ORIGIN_FOUND, "before": {"appRoleAssignmentRequired": was}}
            else:
                assert old is not None and existing is not None
                outputs = dict(old.outputs)
            existing.app_role_assignment_required = wanted
            resource_id = existing.id
        elif new.type == delegated_grant.TYPE:
            scope = " ".join(inputs["claimValues"])
            if op == "update":
                assert old is not None
                resource_id = tenant.update_grant(old.id, scope).id
            else:
                user = inputs.get("userObjectId")
                consent_type = "Principal" if user else "AllPrincipals"
                grant = tenant.create_grant(
                    inputs["servicePrincipalObjectId"],
                    consent_type,
                    user,
                    inputs["resourceServicePrincipalObjectId"],
                    scope,
                )
                resource_id = grant.id
        else:
            if op == "update" and old is not None:
                tenant.delete_app_role_assignment(old.id)
            assignment = tenant.create_app_role_assignment(
                inputs["principalObjectId"], inputs["resourceObjectId"], inputs["appRoleId"]
            )
            resource_id = assignment.id
        state[urn] = Resource(new.type, new.name, inputs, resource_id, new.retain_on_delete, outputs)


_SERVICE_PRINCIPAL_DIFFED = ("tenantId", "clientId", "appRoleAssignmentRequired")
"""What the tool's service principal provider's diff compares (infra/program/service_principal_provider.py): its other
inputs (what the program saw, the provider reference) change nothing in the tenant."""


def _differs(old: Resource, new: Resource) -> bool:
    """Whether the provider's diff would report a change: every input, as pulumi-azuread's diff compares them, or
    the tool's own provider's few."""
    known = {k: (old.inputs.get(k) if v == UNKNOWN else v) for k, v in new.inputs.items()}
    if new.type == service_principal.TYPE:
        return any(old.inputs.get(k) != known.get(k) for k in _SERVICE_PRINCIPAL_DIFFED)
    return old.inputs != known
