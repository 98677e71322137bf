"""What an engine run needs before it starts: backend and environment, secret redaction, preflight checks,
and the stack settings written for each tenant. No Pulumi import here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.infra.graph import provider_settings, signin
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.files import TooLarge, Unreadable, read_regular_file
from taxcalc_consent.infra.model.plan import ConsentPlan
from taxcalc_consent.infra.model.profiles import INTERACTIVE_METHODS
from taxcalc_consent.infra.model.tenant_files import tenant_name_problem
from taxcalc_consent.infra.model.workspace import TENANT_FILE_KEY, Workspace, current_workspace

PYTHON_CMD_ENV = "PULUMI_PYTHON_CMD"
"""The interpreter the engine runs the program and the policy pack with. Pulumi's Python toolchain looks
this up before ``python3``/``python`` on PATH (pulumi/pulumi sdk/python/toolchain/pip.go, ``CommandPath``,
used by the pip toolchain when the project names no virtualenv); the tool sets it to its own interpreter."""

# Provider settings the tool owns in each stack's config. Keys it does not own (for example
# ``taxcalc-consent:adopt``, written by ``adopt``) are never touched.
MANAGED_PROVIDER_KEYS = provider_settings.STACK_CONFIG_KEYS

# Environment variables whose values are secrets wherever they appear: never printed, never reported.
SECRET_ENV_VARS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    *provider_settings.SECRET_VARIABLES,
    "AZURE_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_KEY",
)


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


@dataclass(frozen=True)
class EngineSettings:
    workspace: Workspace
    backend_url: str
    env_vars: Mapping[str, str]
    """Passed to every Pulumi process on top of the inherited environment (backend, passphrase)."""
    policy_pack: Path

    @property
    def project_dir(self) -> Path:
        """Where the engine runs: the folder holding Pulumi.yaml."""
        return self.workspace.project_dir

    @property
    def backend_display(self) -> str:
        """The backend URL without any user:password part, fit for output."""
        parts = urlsplit(self.backend_url)
        if "@" not in parts.netloc:
            return self.backend_url
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


SHORTEST_SECRET = 6
"""Values shorter than this are not redacted: they would blank out ordinary words, and Pulumi passphrases
and Entra client secrets are far longer."""
_FEW_PREFIXES = 128
"""Up to this many distinct secret prefixes, each is looked for with ``str.find`` (C speed); beyond it one
pass over the text looks every position up in a set, so a call costs the same whatever the number of secrets
(they cost about the same, some 14 us for a 100-character text, at about 128 prefixes)."""


class Redactor:
    """Replaces every known secret value with ``[secret]`` in text bound for output or a report.

    Every occurrence of every secret is covered: at one position the longest secret wins, and occurrences
    that overlap become one ``[secret]``. The work per call is linear in the text, not in the number of
    secrets (a fleet of thousands of tenants has a client secret each): a secret can start only where the
    text holds one of the secrets' first ``SHORTEST_SECRET`` characters, and only the secrets sharing
    those are compared there.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._by_prefix: dict[str, list[str]] = {}
        for secret in sorted({s for s in secrets if len(s) >= SHORTEST_SECRET}, key=len, reverse=True):
            self._by_prefix.setdefault(secret[:SHORTEST_SECRET], []).append(secret)

    def __call__(self, text: str) -> str:
        if not self._by_prefix or len(text) < SHORTEST_SECRET:
            return text
        pieces: list[str] = []
        done = start = end = 0
        for position in self._candidates(text):
            for secret in self._by_prefix[text[position : position + SHORTEST_SECRET]]:
                if text.startswith(secret, position):
                    if position < end:  # overlaps the occurrence before it: one span
                        end = max(end, position + len(secret))
                    else:
                        if end:
                            pieces += (text[done:start], "[secret]")
                            done = end
                        start, end = position, position + len(secret)
                    break
        if not end:
            return text
        pieces += (text[done:start], "[secret]", text[end:])
        return "".join(pieces)

    def _candidates(self, text: str) -> list[int]:
        """Positions, in order, where the text holds the first characters of some secret."""
        if len(self._by_prefix) <= _FEW_PREFIXES:
            found: list[int] = []
            for prefix in self._by_prefix:
                position = text.find(prefix)
                while position >= 0:
                    found.append(position)
                    position = text.find(prefix, position + 1)
            return sorted(found)
        prefixes = self._by_prefix
        return [i for i in range(len(text) - SHORTEST_SECRET + 1) if text[i : i + SHORTEST_SECRET] in prefixes]


def secret_values(
    plans: Iterable[ConsentPlan], environ: Mapping[str, str], settings: EngineSettings | None
) -> Redactor:
    names = set(SECRET_ENV_VARS) | {p.auth.client_secret_env for p in plans if p.auth.client_secret_env}
    values = [environ[n] for n in names if environ.get(n)]
    values.extend(signin.secret_values(environ))  # the secret and token files the provider reads
    if settings is not None:
        values.extend(v for k, v in settings.env_vars.items() if k in SECRET_ENV_VARS)
        passphrase_file = settings.env_vars.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if passphrase_file:
            with contextlib.suppress(EngineSetupError):  # resolve_settings read it already; gone since: nothing to hide
                values.append(passphrase_from_file(passphrase_file))
    return Redactor(values)


PASSPHRASE_FILE_LIMIT = 64 * 1024
"""A passphrase file holds one line; anything larger is not one (and is not read whole into every redaction)."""


def passphrase_from_file(path: str) -> str:
    """The passphrase in ``PULUMI_CONFIG_PASSPHRASE_FILE``, read as every file the tool reads from a user
    (``files.read_regular_file``): a FIFO or a device there is refused instead of hanging the run or flooding it.
    Raises EngineSetupError (exit 2) naming the variable and the file, never its content."""
    variable = "PULUMI_CONFIG_PASSPHRASE_FILE"
    try:
        data = read_regular_file(path, PASSPHRASE_FILE_LIMIT, expected="a passphrase file")
    except TooLarge:
        raise EngineSetupError(
            f"{variable}: {path} is larger than a passphrase file can be ({PASSPHRASE_FILE_LIMIT} bytes)"
        ) from None
    except Unreadable as exc:
        raise EngineSetupError(f"{variable}: cannot read the passphrase from {path}: {exc}") from None
    return data.decode("utf-8", errors="replace").strip()


def resolve_settings(
    backend: str | None, environ: Mapping[str, str], workspace: Workspace | None = None
) -> EngineSettings:
    """Backend URL and the environment every engine process gets. Raises EngineSetupError (exit 2).

    ``workspace`` defaults to the one ``$TAXCALC_CONSENT_ROOT`` (else the current folder) names, the same
    one ``adopt`` uses.
    """
    workspace = workspace or current_workspace(environ)
    url = backend or environ.get("PULUMI_BACKEND_URL") or workspace.default_backend_url
    env: dict[str, str] = {
        "PULUMI_BACKEND_URL": url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The pack and the tool's dynamic providers import the installed package: run them with the interpreter
        # it is in. (The program runs in the tool's own process, and the pack gets the plan: neither needs R.)
        PYTHON_CMD_ENV: sys.executable,
    }
    # Pulumi Cloud encrypts stack secrets itself; every self-managed backend (file, azblob, s3, gs)
    # uses the passphrase provider, and without a passphrase the CLI would prompt, which hangs CI.
    if not url.startswith(("https://", "http://")):
        passphrase = environ.get("PULUMI_CONFIG_PASSPHRASE")
        passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if passphrase is not None:
            env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
        elif passphrase_file:
            passphrase_from_file(passphrase_file)  # refused now, named, rather than by the engine mid-run
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = passphrase_file
        else:
            raise EngineSetupError(
                "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): the passphrase that encrypts "
                f"stack secrets in {_display(url)}; it is never prompted for"
            )
    return EngineSettings(workspace=workspace, backend_url=url, env_vars=env, policy_pack=policy_pack_dir())


def policy_pack_dir() -> Path:
    """The policy pack: the installed package's ``policies/`` folder (with PulumiPolicy.yaml), wherever it is."""
    from taxcalc_consent import policies

    return Path(policies.__file__).parent


def _display(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def prerequisites(
    backend: str | None, plans: Iterable[ConsentPlan], environ: Mapping[str, str]
) -> tuple[EngineSettings | None, list[str]]:
    """The engine settings, and every problem with the user's setup that would stop a run, all of them:
    the backend's passphrase and each tenant's credentials (a newcomer should not need a run per problem)."""
    problems: list[str] = []
    settings = None
    try:
        settings = resolve_settings(backend, environ)
    except EngineSetupError as exc:
        problems.append(str(exc))
    problems.extend(preflight_problems(plans, environ))
    return settings, problems


def preflight_problems(plans: Iterable[ConsentPlan], environ: Mapping[str, str]) -> list[str]:
    """Problems that would stop a tenant's engine run before it starts, one line each."""
    problems: list[str] = []
    for plan in plans:
        # The loader refuses these already; asked again here so no name the engine would refuse gets this far.
        name_problem = tenant_name_problem(plan.tenant)
        if name_problem is not None:
            problems.append(f"{plan.file}: {name_problem}")
        if plan.auth.method in INTERACTIVE_METHODS:
            problems.append(
                f"{plan.file}: auth.method: {plan.auth.method} signs in the tool's own Microsoft Graph calls (connect, "
                "audit, adopt), not the engine's azuread provider, which signs an engineer in only through the "
                "Azure CLI: run `az login` (or `az login --use-device-code`) and set auth.method: cli"
            )
            continue
        # Each tenant signs in as its azuread provider will (infra.graph.signin): a way to sign in that the provider
        # would not find stops the tenant's engine run, so it is said now, with every other problem.
        try:
            signin.sign_in(plan.tenant_id, plan.auth, environ)
        except signin.CredentialError as exc:
            problems.append(f"{plan.file}: {exc.reason}")
    return problems


def stack_config(plan: ConsentPlan, workspace: Workspace) -> dict[str, str]:
    """The stack config the tool writes for a tenant: the tenant file and provider settings, no secret
    (a client secret reaches the provider as ARM_CLIENT_SECRET in its engine process only)."""
    return {
        TENANT_FILE_KEY: workspace.tenant_file_setting(plan.file),
        **provider_settings.provider_arguments(plan.tenant_id, plan.auth).stack_config(),
    }
