"""The Pulumi program of a tenant stack: a ConsentPlan in, one ``TenantConsent`` and its outputs out.

Two ways in, one program:
- the tool's runs: the driver has read, validated and planned the tenant file already, and runs
  :func:`inline_program` of that plan in its own process (an Automation API inline program,
  ``cli.fleet.automation``): the plan crosses into the engine as data, and nothing reads the file again;
- by hand, ``pulumi up -s <stack>`` at the repository root: ``__main__`` calls :func:`main`, which reads the
  tenant file the stack's settings name with :func:`infra.model.plan.read_plan`, the function the policy pack
  reads it with in a hand-run preview.

Stack config (``stacks/Pulumi.<stack>.yaml``):
- ``taxcalc-consent:tenantFile``: the tenant file (for a hand-run ``pulumi up``), absolute or relative to
  the workspace root R (``infra.model.workspace``: found from the Pulumi project's folder);
- ``taxcalc-consent:adopt`` (optional): logical resource name -> Graph object id of objects that already
  exist (consent granted by hand), imported instead of created; read by both ways in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from taxcalc_consent.infra.model import workspace
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.plan import ConsentPlan, read_plan
from taxcalc_consent.infra.program.component import TenantConsent, TenantConsentArgs
from taxcalc_consent.infra.program.provider import tenant_provider

CONFIG_NAMESPACE = workspace.CONFIG_NAMESPACE
TENANT_FILE_KEY = workspace.TENANT_FILE_KEY.removeprefix(f"{CONFIG_NAMESPACE}:")
ADOPT_KEY = workspace.ADOPT_KEY.removeprefix(f"{CONFIG_NAMESPACE}:")
COMPONENT_NAME = "tenant-consent"
"""Logical name of the component: a constant, so renaming a tenant file renames no resource."""


def deploy(
    plan: ConsentPlan,
    adopt: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    signed_in_by_engine: bool = False,
) -> TenantConsent:
    """Declare the tenant's provider and its ``TenantConsent``, and export the stack outputs. ``environ``: where
    the provider's secret and the program's own Graph reads come from (default: the process's environment).
    ``signed_in_by_engine``: the tool put the sign-in in the engine's environment (``tenant_provider``)."""
    provider = tenant_provider(plan, environ, signed_in_by_engine=signed_in_by_engine)
    args = TenantConsentArgs(plan=plan, provider=provider, adopt=adopt or {}, environ=environ)
    consent = TenantConsent(COMPONENT_NAME, args)
    pulumi.export("servicePrincipalObjectId", consent.service_principal_object_id)
    pulumi.export("grantIds", consent.grant_ids)
    pulumi.export("summary", consent.summary)
    return consent


def workspace_root() -> Path:
    """R, as the engine's program sees it: ``$TAXCALC_CONSENT_ROOT``, else from the Pulumi project's folder."""
    project_dir = pulumi.get_root_directory()  # None under the mock runtime and before Pulumi 3.1xx
    return workspace.engine_root(os.environ, Path(project_dir) if project_dir else Path.cwd())


def tenant_file_path(value: str, root: Path | None = None) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root or workspace_root()) / path


def load_plan(tenant_file: str, root: Path | None = None) -> ConsentPlan:
    """Load and validate one tenant file exactly as ``validate`` does (its folder's _defaults.yaml included).

    A relative path is relative to ``root`` (default: the workspace root R). Every problem becomes one
    ``pulumi.RunError`` listing them located, which Pulumi prints without a traceback.
    """
    path = tenant_file_path(tenant_file, root)
    if path.is_dir():
        raise pulumi.RunError(
            f"{CONFIG_NAMESPACE}:{TENANT_FILE_KEY} is the folder {path}: a stack deploys one tenant, "
            "so name one tenant file"
        )
    try:
        return read_plan(path)
    except TaxcalcConsentError as exc:
        raise pulumi.RunError(f"tenant file {tenant_file} is not valid:\n{exc}") from None


def adopt_map(value: Any) -> dict[str, str]:
    """The ``adopt`` config as a mapping of logical name to object id, or a clear error."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise pulumi.RunError(
            f"{CONFIG_NAMESPACE}:{ADOPT_KEY} must be a map from logical resource name to Graph object id, "
            "e.g. graph-grant-all-principals: <oauth2PermissionGrant id>"
        )
    return dict(value)


def configured_adopt(config: pulumi.Config) -> dict[str, str]:
    """The stack's ``adopt`` setting, checked."""
    try:
        adopt = config.get_object(ADOPT_KEY)
    except pulumi.ConfigTypeError:
        adopt = "not JSON"
    return adopt_map(adopt)


def main() -> TenantConsent:
    """Read the stack config and deploy its tenant file (a hand-run ``pulumi up``)."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    tenant_file = config.get(TENANT_FILE_KEY)
    if not tenant_file:
        raise pulumi.RunError(
            f"stack {pulumi.get_stack()!r} has no {CONFIG_NAMESPACE}:{TENANT_FILE_KEY}: run "
            f"`pulumi config set {CONFIG_NAMESPACE}:{TENANT_FILE_KEY} tenants/<tenant>.yaml -s {pulumi.get_stack()}`"
        )
    adopt = configured_adopt(config)
    return deploy(load_plan(tenant_file), adopt)


def inline_program(plan: ConsentPlan, engine_environment: Mapping[str, str]) -> Callable[[], None]:
    """The program of one tenant's engine run, as the driver runs it in its own process: the plan it made, and
    the adopt map from the stack's settings, as a hand-run reads it.

    ``engine_environment`` is what the tenant's engine processes get on top of the inherited environment (the
    backend's settings, and how to sign in to the tenant: the provider's own variables, the secret the tenant
    file names); the program, running in the tool's process, reads the same, never another tenant's.
    """

    def program() -> None:
        environ = {**os.environ, **engine_environment}
        deploy(plan, configured_adopt(pulumi.Config(CONFIG_NAMESPACE)), environ, signed_in_by_engine=True)

    return program
