"""The one module that runs Pulumi: one stack per tenant, driven through the Automation API.

``pulumi.automation`` is imported only inside the functions that need it, so importing this module
(as ``cli.main`` does, through the commands) stays fast and works where the Pulumi SDK is absent.

The seam tests replace is the *stack factory*: a callable that returns an object with the Automation
API ``Stack`` methods used here (``get_all_config``, ``set_all_config``, ``remove_all_config``,
``preview``, ``up``, ``preview_destroy``, ``destroy``). The real one opens a ``LocalWorkspace`` on the
project directory, so every tenant runs the ``infra/`` program in its own engine process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.infra import kinds
from taxcalc_consent.infra.documents import ResourceChangeEntry
from taxcalc_consent.infra.errors import TaxcalcConsentError
from taxcalc_consent.infra.kinds import ChangeOp, logical_name, service_principal
from taxcalc_consent.infra.plan import ConsentPlan

if TYPE_CHECKING:
    from pulumi.automation import ConfigValue, EngineEvent, PulumiCommand, StepEventMetadata

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Where Pulumi.yaml lives (program ``infra/``, stack configs in ``stacks/``)."""

CONFIG_NS = "taxcalc-consent"
TENANT_FILE_KEY = f"{CONFIG_NS}:tenantFile"

# Provider settings this driver owns in each stack's config. Keys it does not own (for example
# ``taxcalc-consent:adopt``, written by ``adopt``) are never touched.
_MANAGED_PROVIDER_KEYS = ("azuread:tenantId", "azuread:clientId", "azuread:useCli", "azuread:useOidc", "azuread:useMsi")

# Environment variables whose values are secrets wherever they appear: never printed, never reported.
SECRET_ENV_VARS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "ARM_CLIENT_SECRET",
    "ARM_OIDC_TOKEN",
    "ARM_OIDC_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_KEY",
)

STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

Step = Literal["preview", "up", "drift", "preview-destroy", "destroy"]
CHANGE_OPS: tuple[ChangeOp, ...] = ("create", "update", "delete", "replace", "import")

# How the engine names each operation; "same", "read" and "refresh" steps change nothing in Entra.
_OPS: dict[str, ChangeOp] = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "import": "import",
    "import-replacement": "import",
}

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


class EngineUnavailable(TaxcalcConsentError):
    """The Pulumi CLI is missing or too old: nothing can run, but it is not the user's input."""

    exit_code = ExitCode.FAILED


class EngineSetupError(TaxcalcConsentError):
    """Backend or credentials are not set up (passphrase, secret variable): nothing was touched."""

    exit_code = ExitCode.INVALID


PULUMI_MISSING = (
    "the Pulumi CLI (`pulumi`) is not on PATH; install it (https://www.pulumi.com/docs/iac/download-install/, "
    "for example `curl -fsSL https://get.pulumi.com | sh`) and run again; "
    "`taxcalc-consent plan --offline` works without it"
)


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ResourceChange:
    """One resource step from the engine, said in Entra terms."""

    op: ChangeOp
    kind: str
    name: str
    description: str
    status: Literal["planned", "done", "failed"] = "planned"

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


@dataclass(frozen=True)
class EngineSettings:
    project_root: Path
    backend_url: str
    env_vars: Mapping[str, str]
    """Passed to every Pulumi process on top of the inherited environment (backend, passphrase)."""
    policy_pack: Path

    @property
    def backend_display(self) -> str:
        """The backend URL without any user:password part, fit for output."""
        parts = urlsplit(self.backend_url)
        if "@" not in parts.netloc:
            return self.backend_url
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class Redactor:
    """Replaces every known secret value with ``[secret]`` in text bound for output or a report."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Very short values would blank out ordinary words; Pulumi passphrases and Entra secrets are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        return text


def secret_values(
    plans: Iterable[ConsentPlan], environ: Mapping[str, str], settings: EngineSettings | None
) -> Redactor:
    names = set(SECRET_ENV_VARS) | {p.auth.client_secret_env for p in plans if p.auth.client_secret_env}
    values = [environ[n] for n in names if environ.get(n)]
    if settings is not None:
        values.extend(v for k, v in settings.env_vars.items() if k in SECRET_ENV_VARS)
        passphrase_file = settings.env_vars.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if passphrase_file:
            with contextlib.suppress(OSError):
                values.append(Path(passphrase_file).read_text(encoding="utf-8").strip())
    return Redactor(values)


# -------------------------------------------------------------------------------------------- set-up


def resolve_settings(
    backend: str | None, environ: Mapping[str, str], project_root: Path | None = None
) -> EngineSettings:
    """Backend URL and the environment every engine process gets. Raises EngineSetupError (exit 2)."""
    project_root = project_root or PROJECT_ROOT
    if not (project_root / "Pulumi.yaml").is_file():
        raise EngineSetupError(f"{project_root}: no Pulumi.yaml here; the tool must run from its project directory")
    url = backend or environ.get("PULUMI_BACKEND_URL") or ""
    if not url:
        url = f"file://{project_root / '.pulumi-state'}"
    env: dict[str, str] = {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    # Pulumi Cloud encrypts stack secrets itself; every self-managed backend (file, azblob, s3, gs)
    # uses the passphrase provider, and without a passphrase the CLI would prompt, which hangs CI.
    if not url.startswith(("https://", "http://")):
        passphrase = environ.get("PULUMI_CONFIG_PASSPHRASE")
        passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if passphrase is not None:
            env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
        elif passphrase_file:
            if not Path(passphrase_file).is_file():
                raise EngineSetupError(f"PULUMI_CONFIG_PASSPHRASE_FILE: {passphrase_file}: no such file")
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = passphrase_file
        else:
            raise EngineSetupError(
                "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): the passphrase that encrypts "
                f"stack secrets in {_display(url)}; it is never prompted for. Nothing was changed"
            )
    return EngineSettings(
        project_root=project_root, backend_url=url, env_vars=env, policy_pack=project_root / "policies"
    )


def _display(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def preflight_problems(plans: Iterable[ConsentPlan], environ: Mapping[str, str]) -> list[str]:
    """Problems that would stop a tenant's engine run before it starts, one line each."""
    problems: list[str] = []
    for plan in plans:
        if not STACK_NAME.match(plan.tenant):
            problems.append(
                f"{plan.file}: tenant name {plan.tenant!r} is not a valid stack name (letters, digits, _ . - only)"
            )
        env_name = plan.auth.client_secret_env
        if plan.auth.method == "client-secret" and not env_name:
            problems.append(f"{plan.file}: auth.method is client-secret but auth.client_secret_env is not set")
        elif env_name and not environ.get(env_name):
            problems.append(f"{plan.file}: auth.client_secret_env names {env_name}, which is not set or empty")
    return problems


class StackLike(Protocol):
    """The part of ``pulumi.automation.Stack`` the driver uses; a test fake implements the same."""

    def get_all_config(self) -> Mapping[str, ConfigValue]: ...

    def set_all_config(self, config: dict[str, ConfigValue], *, path: bool = False) -> None: ...

    def remove_all_config(self, keys: list[str], *, path: bool = False) -> None: ...

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
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...

    def preview_destroy(
        self,
        *,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...

    def destroy(
        self,
        *,
        color: str | None = None,
        on_event: Callable[[EngineEvent], Any] | None = None,
        suppress_progress: bool | None = None,
    ) -> object: ...


StackFactory = Callable[[str, Mapping[str, str]], StackLike]
"""(stack name, extra environment for its engine process) -> stack."""


def connect(settings: EngineSettings) -> Engine:
    """An Engine over real LocalWorkspaces. Raises EngineUnavailable (exit 1) without a usable Pulumi CLI."""
    if shutil.which("pulumi") is None:
        raise EngineUnavailable(PULUMI_MISSING)
    if settings.backend_url == f"file://{settings.project_root / '.pulumi-state'}":
        # The default backend's folder; the CLI does not create a file backend's root itself.
        (settings.project_root / ".pulumi-state").mkdir(exist_ok=True)
    from pulumi import automation as auto

    try:
        # One `pulumi version` check for the whole run, shared by every tenant's workspace.
        command = auto.PulumiCommand()
    except (OSError, auto.InvalidVersionError, auto.CommandError) as exc:
        raise EngineUnavailable(f"{PULUMI_MISSING} ({str(exc).strip().splitlines()[0]})") from None
    return Engine(settings, _local_stack_factory(settings, command))


def _local_stack_factory(settings: EngineSettings, command: PulumiCommand) -> StackFactory:
    from pulumi import automation as auto

    def open_stack(stack_name: str, env_vars: Mapping[str, str]) -> StackLike:
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(settings.project_root),
            env_vars={**settings.env_vars, **env_vars},
            pulumi_command=command,
        )
        stack: StackLike = auto.create_or_select_stack(stack_name, work_dir=str(settings.project_root), opts=opts)
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
            recorder = _EventRecorder(step, redact, outcome, on_change)
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
        from pulumi import automation as auto

        env_vars: dict[str, str] = {}
        if plan.auth.client_secret_env:
            # The azuread provider reads ARM_CLIENT_SECRET from its environment: the secret reaches only
            # this tenant's engine process, and is never written to stack config or passed on a command line.
            env_vars["ARM_CLIENT_SECRET"] = self._environ.get(plan.auth.client_secret_env, "")
        stack = self._open(plan.tenant, env_vars)
        wanted = stack_config(plan, self.settings.project_root)
        existing = stack.get_all_config()
        stale = [k for k in _MANAGED_PROVIDER_KEYS if k in existing and k not in wanted]
        if stale:
            stack.remove_all_config(stale)
        changed = {k: v for k, v in wanted.items() if k not in existing or existing[k].value != v.value}
        if changed:
            stack.set_all_config({k: auto.ConfigValue(value=v.value, secret=v.secret) for k, v in changed.items()})
        with self._lock:
            self._stacks[plan.tenant] = stack
        return stack

    def _invoke(self, stack: StackLike, step: Step, on_event: Callable[[EngineEvent], None], plan: ConsentPlan) -> None:
        if step in ("preview", "drift", "up"):
            with self._pack_config(plan) as config_path:
                packs, configs = [str(self.settings.policy_pack)], [config_path]
                if step == "up":
                    stack.up(
                        policy_packs=packs,
                        policy_pack_configs=configs,
                        color="never",
                        on_event=on_event,
                        suppress_progress=True,
                    )
                else:
                    # drift: refresh first, so the preview compares the file with what the tenant holds now,
                    # not with what the last run left in state.
                    stack.preview(
                        policy_packs=packs,
                        policy_pack_configs=configs,
                        refresh=step == "drift" or None,
                        color="never",
                        on_event=on_event,
                        suppress_progress=True,
                    )
        elif step == "preview-destroy":
            stack.preview_destroy(color="never", on_event=on_event, suppress_progress=True)
        else:
            stack.destroy(color="never", on_event=on_event, suppress_progress=True)

    @contextmanager
    def _pack_config(self, plan: ConsentPlan) -> Iterator[str]:
        """A ``--policy-pack-config`` file with this tenant's rule levels and tenant file.

        The engine fixes each policy's enforcement level when it configures the pack, so without this a
        rule that ``_defaults.yaml`` makes mandatory, advisory or disabled would keep its default level
        in the preview while ``validate`` honoured the configured one.
        """
        from taxcalc_consent.policies.rules import pack_config

        document = pack_config(plan.policy, tenant_file_setting(plan, self.settings.project_root))
        handle, path = tempfile.mkstemp(prefix=f"taxcalc-consent-policy-{plan.tenant}-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream)
            yield path
        finally:
            os.unlink(path)


@dataclass(frozen=True)
class _Setting:
    value: str
    secret: bool = False


def tenant_file_setting(plan: ConsentPlan, project_root: Path) -> str:
    """The tenant file as stack config names it: relative to the project root when inside it, else absolute."""
    tenant_file = Path(plan.file).resolve()
    try:
        return str(tenant_file.relative_to(project_root.resolve()))
    except ValueError:
        return str(tenant_file)


def stack_config(plan: ConsentPlan, project_root: Path) -> dict[str, _Setting]:
    """The stack config this driver writes for a tenant: the tenant file and provider settings, no secret."""
    config = {
        TENANT_FILE_KEY: _Setting(tenant_file_setting(plan, project_root)),
        "azuread:tenantId": _Setting(plan.tenant_id),
    }
    if plan.auth.client_id:
        config["azuread:clientId"] = _Setting(plan.auth.client_id)
    flag = {"cli": "azuread:useCli", "oidc": "azuread:useOidc", "msi": "azuread:useMsi"}.get(plan.auth.method or "")
    if flag:
        config[flag] = _Setting("true")
    return config


def _command_error_summary(text: str) -> str:
    """The useful lines of a CommandError's text (`code: / stdout: / stderr:`): stderr, else stdout's tail."""
    stdout, _, stderr = text.partition("\n stderr:")
    stdout = stdout.split("\n stdout:", 1)[-1]
    for section in (stderr, stdout):
        lines = [_strip_ansi(line).strip() for line in section.splitlines() if line.strip()]
        if lines:
            return "; ".join(lines[-3:])
    return "the Pulumi engine failed without a message"


# ----------------------------------------------------------------------------------- events -> Entra


class _EventRecorder:
    def __init__(
        self,
        step: Step,
        redact: Callable[[str], str],
        outcome: StepOutcome,
        on_change: Callable[[ResourceChange], None] | None,
    ) -> None:
        self._step = step
        self._redact = redact
        self._outcome = outcome
        self._on_change = on_change
        self._index: dict[str, int] = {}
        self._errors: list[str] = []
        self.created_service_principal = False
        self.state_seen = False
        self._steps: list[StepEventMetadata] = []
        """Whether any step had a prior state: a drift check on an empty stack finds only 'never applied'."""

    def on_event(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            if meta.old is not None:
                self.state_seen = True
            change = describe_step(meta, drift=self._step == "drift")
            if change is not None:
                change = ResourceChange(
                    change.op, change.kind, change.name, self._redact(change.description), change.status
                )
                self._index[meta.urn] = len(self._outcome.changes)
                self._outcome.changes.append(change)
                self._steps.append(meta)
                if self._on_change:
                    self._on_change(change)
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if meta.type == service_principal.TYPE and meta.op == "create" and self._step == "up":
                self.created_service_principal = True
            self._mark(meta.urn, "done" if self._step in ("up", "destroy") else "planned")
        elif event.res_op_failed_event is not None:
            self._mark(event.res_op_failed_event.metadata.urn, "failed")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = self._redact(_strip_ansi(diag.message).strip())
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

    def _mark(self, urn: str, status: Literal["planned", "done", "failed"]) -> None:
        index = self._index.get(urn)
        if index is not None:
            old = self._outcome.changes[index]
            self._outcome.changes[index] = ResourceChange(old.op, old.kind, old.name, old.description, status)

    def never_applied(self) -> list[ResourceChange]:
        """The recorded changes said as a plan would say them, marked as never applied."""
        changes: list[ResourceChange] = []
        for meta in self._steps:
            change = describe_step(meta)
            if change is not None:
                text = self._redact(f"never applied: {change.description}")
                changes.append(ResourceChange(change.op, change.kind, change.name, text, change.status))
        return changes

    def error_text(self) -> str:
        return "; ".join(dict.fromkeys(self._errors))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[a-z]*%\}>")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def describe_step(meta: StepEventMetadata, *, drift: bool = False) -> ResourceChange | None:
    """Say what one engine step does in Entra terms (the resource's kind module says it); None for steps
    that change nothing in Entra."""
    op = _OPS.get(str(getattr(meta.op, "value", meta.op)))
    if op is None:
        return None
    name = logical_name(meta.urn)
    step = kinds.Step(
        op,
        name,
        old=_mapping(getattr(meta.old, "inputs", None)),
        new=_mapping(getattr(meta.new, "inputs", None)),
        old_outputs=_mapping(getattr(meta.old, "outputs", None)),
        diffs=tuple(meta.diffs or ()),
        retained=bool(getattr(meta.old, "retain_on_delete", False)),
        drift=drift,
    )
    kind = kinds.kind_of(meta.type, name)
    if kind is not None:
        return ResourceChange(op, kind.label, name, kind.describe(step))
    label = meta.type.rsplit(":", 1)[-1] or meta.type
    return ResourceChange(op, label, name, f"{op} {label} {name}")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
