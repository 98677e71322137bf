"""The Pulumi program of a tenant stack: stack config in, one ``TenantConsent`` and its outputs out.

``__main__`` (run by ``pulumi up -s <stack>``) calls :func:`main`; tests and an Automation API inline
program call :func:`deploy` with a plan directly.

Stack config (``stacks/Pulumi.<stack>.yaml``):
- ``taxcalc-consent:tenantFile``: the tenant file, absolute or relative to the workspace root R
  (``infra.workspace``: ``$TAXCALC_CONSENT_ROOT``, which the tool sets for the engine, else found from
  the Pulumi project's folder);
- ``taxcalc-consent:adopt`` (optional): logical resource name -> Graph object id of objects that already
  exist (consent granted by hand), imported instead of created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from taxcalc_consent.infra.model import workspace
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.loader import load_tenants
from taxcalc_consent.infra.model.plan import ConsentPlan, build_plan
from taxcalc_consent.infra.program.component import TenantConsent, TenantConsentArgs
from taxcalc_consent.infra.program.provider import tenant_provider

CONFIG_NAMESPACE = workspace.CONFIG_NAMESPACE
TENANT_FILE_KEY = workspace.TENANT_FILE_KEY.removeprefix(f"{CONFIG_NAMESPACE}:")
ADOPT_KEY = workspace.ADOPT_KEY.removeprefix(f"{CONFIG_NAMESPACE}:")
COMPONENT_NAME = "tenant-consent"
"""Logical name of the component: a constant, so renaming a tenant file renames no resource."""


def deploy(plan: ConsentPlan, adopt: Mapping[str, str] | None = None) -> TenantConsent:
    """Declare the tenant's provider and its ``TenantConsent``, and export the stack outputs."""
    provider = tenant_provider(plan)
    consent = TenantConsent(COMPONENT_NAME, TenantConsentArgs(plan=plan, provider=provider, adopt=adopt or {}))
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
        tenants = load_tenants([path])
    except TaxcalcConsentError as exc:
        raise pulumi.RunError(f"tenant file {tenant_file} is not valid:\n{exc}") from None
    return build_plan(tenants[0])


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


def main() -> TenantConsent:
    """Read the stack config and deploy its tenant file."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    tenant_file = config.get(TENANT_FILE_KEY)
    if not tenant_file:
        raise pulumi.RunError(
            f"stack {pulumi.get_stack()!r} has no {CONFIG_NAMESPACE}:{TENANT_FILE_KEY}: run "
            f"`pulumi config set {CONFIG_NAMESPACE}:{TENANT_FILE_KEY} tenants/<tenant>.yaml -s {pulumi.get_stack()}`"
        )
    try:
        adopt = config.get_object(ADOPT_KEY)
    except pulumi.ConfigTypeError:
        adopt = "not JSON"
    return deploy(load_plan(tenant_file), adopt_map(adopt))
