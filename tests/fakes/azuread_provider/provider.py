"""``AzureADProvider``: the engine's gRPC calls mapped onto the resources and data sources of this package."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    InvokeRequest,
    InvokeResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from tests.fakes.azuread_provider import resources
from tests.fakes.azuread_provider.data_sources import DATA_SOURCES
from tests.fakes.azuread_provider.graph import CLOUDS, GraphClient, ProviderError, discover, sign_in
from tests.fakes.azuread_provider.schema import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    DELEGATED_PERMISSION_GRANT,
    SCHEMAS,
    SERVICE_PRINCIPAL,
    ResourceSchema,
    changed_properties,
)
from tests.fakes.azuread_provider.values import UNKNOWN, plain, plain_map, wrap_map

TIMEOUT_ENV = "TAXCALC_TEST_AZUREAD_TIMEOUT"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# The resources' Timeouts blocks (seconds): create, read, update, delete.
TIMEOUTS = {
    SERVICE_PRINCIPAL.token: (600, 300, 600, 300),
    APPLICATION.token: (600, 300, 600, 300),
    DELEGATED_PERMISSION_GRANT.token: (300, 300, 300, 300),
    APP_ROLE_ASSIGNMENT.token: (300, 300, 300, 300),
}
DATA_SOURCE_TIMEOUT = 300

# Properties whose value is only known after create, per resource (unknown in a preview).
COMPUTED = {
    SERVICE_PRINCIPAL.token: (
        "objectId",
        "displayName",
        "appRoleIds",
        "oauth2PermissionScopeIds",
        "applicationTenantId",
    ),
    APPLICATION.token: ("clientId", "objectId", "publisherDomain", "appRoleIds", "oauth2PermissionScopeIds"),
    DELEGATED_PERMISSION_GRANT.token: (),
    APP_ROLE_ASSIGNMENT.token: ("principalDisplayName", "principalType", "resourceDisplayName"),
}


def _deadline(default: float, requested: float) -> float:
    """The operation's deadline: the engine's custom timeout when set, else the resource's; capped by
    ``TAXCALC_TEST_AZUREAD_TIMEOUT`` (a test-only knob, stated in the package docstring)."""
    seconds = requested if requested and requested > 0 else default
    cap = os.environ.get(TIMEOUT_ENV)
    if cap:
        seconds = min(seconds, float(cap))
    return time.monotonic() + seconds


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class AzureADProvider(Provider):
    """The engine's view: configure once per provider resource, then CRUD and invokes against its tenant."""

    def __init__(self) -> None:
        self._graph: GraphClient | None = None
        self._http: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------------------- configuration

    async def check_config(self, request: CheckRequest) -> CheckResponse:
        failures = []
        tenant = plain(request.new_inputs["tenantId"]) if "tenantId" in request.new_inputs else None
        if isinstance(tenant, str) and tenant and not GUID.match(tenant):
            failures.append(CheckFailure("tenantId", f'expected "tenant_id" to be a valid UUID, got {tenant}'))
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff_config(self, request: DiffRequest) -> DiffResponse:
        olds, news = plain_map(request.old_state), plain_map(request.new_inputs)
        keys = sorted(k for k in set(olds) | set(news) if not k.startswith("__") and olds.get(k) != news.get(k))
        return DiffResponse(changes=bool(keys), diffs=keys)

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        args = plain_map(request.args)

        def setting(name: str, env: str) -> str:
            value = args.get(name)
            if value is None or value is UNKNOWN:
                value = request.variables.get(f"azuread:config:{name}") or os.environ.get(env, "")
            return str(value or "")

        self._http = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        metadata_host = setting("metadataHost", "ARM_METADATA_HOSTNAME")
        environment = setting("environment", "ARM_ENVIRONMENT") or "global"
        tenant_id = setting("tenantId", "ARM_TENANT_ID")
        client_id = setting("clientId", "ARM_CLIENT_ID")
        client_secret = setting("clientSecret", "ARM_CLIENT_SECRET")
        if any(
            _flag(args.get(k)) or _flag(os.environ.get(e))
            for k, e in (("useMsi", "ARM_USE_MSI"), ("useOidc", "ARM_USE_OIDC"))
        ):
            raise ProviderError(
                "the test azuread provider signs in with a client secret only (use_msi/use_oidc are not emulated)"
            )
        if _flag(args.get("useCli")) and not client_secret:
            raise ProviderError(
                "the test azuread provider signs in with a client secret only (use_cli is not emulated)"
            )
        if not tenant_id:
            raise ProviderError("building AzureAD client: a tenant ID is required (tenant_id or ARM_TENANT_ID)")
        if not client_id or not client_secret:
            raise ProviderError(
                "building AzureAD client: no authentication method could be configured: set client_id and "
                "client_secret (or ARM_CLIENT_ID and ARM_CLIENT_SECRET)"
            )
        if metadata_host:
            endpoints = await discover(metadata_host, self._http)
        elif environment.lower() in CLOUDS:
            endpoints = CLOUDS[environment.lower()]
        else:
            raise ProviderError(f"unknown environment {environment!r}")
        token = await sign_in(endpoints, tenant_id, client_id, client_secret, self._http)
        self._graph = GraphClient(endpoints, token, self._http)
        if not self._graph.caller_object_id:
            raise ProviderError("parsing claims in access token: oid claim is empty")
        return ConfigureResponse(
            accept_secrets=True, supports_preview=True, accept_resources=False, accept_outputs=False
        )

    async def cancel(self) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            raise ProviderError("the azuread provider was not configured")
        return self._graph

    # ------------------------------------------------------------------------------------ invokes

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        handler = DATA_SOURCES.get(request.tok)
        if handler is None:
            raise ProviderError(f"the test azuread provider does not serve {request.tok}")
        args = {k: v for k, v in plain_map(request.args).items() if v is not None}
        result = await handler(self.graph, args, time.monotonic() + DATA_SOURCE_TIMEOUT)
        return InvokeResponse(return_value=wrap_map(result))

    # ---------------------------------------------------------------------------------- resources

    def _schema(self, urn: str) -> ResourceSchema:
        token = urn.split("::")[-2].split("$")[-1]
        schema = SCHEMAS.get(token)
        if schema is None:
            raise ProviderError(f"the test azuread provider does not serve {token}")
        return schema

    async def check(self, request: CheckRequest) -> CheckResponse:
        schema = self._schema(request.urn)
        inputs = plain_map(request.new_inputs)
        failures = []
        for name, value in inputs.items():
            if name.startswith("__"):
                continue
            prop = schema.prop(name)
            if prop is None:
                failures.append(CheckFailure(name, f"{name} is not supported by the test azuread provider"))
            elif prop.uuid and isinstance(value, str) and value and not GUID.match(value):
                failures.append(CheckFailure(name, f'expected "{name}" to be a valid UUID, got {value}'))
        for prop in schema.props:
            if prop.required and inputs.get(prop.name) in (None, "", []):
                failures.append(
                    CheckFailure(prop.name, f'Missing required argument: The argument "{prop.name}" is required')
                )
        if schema is DELEGATED_PERMISSION_GRANT and any(
            not v for v in inputs.get("claimValues") or [] if v is not UNKNOWN
        ):
            failures.append(CheckFailure("claimValues", "claim_values: expected not to be an empty string"))
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        schema = self._schema(request.urn)
        olds = plain_map(request.old_state)
        news = plain_map(request.new_inputs)
        diffs, replaces = changed_properties(schema, olds, news)
        unknown = [p.name for p in schema.props if news.get(p.name) is UNKNOWN and p.name not in diffs]
        diffs += unknown
        replaces += [name for name in unknown if (schema.prop(name) and schema.prop(name).force_new)]  # type: ignore[union-attr]
        detailed = {
            name: PropertyDiff(PropertyDiffKind.UPDATE_REPLACE if name in replaces else PropertyDiffKind.UPDATE, True)
            for name in diffs
        }
        return DiffResponse(changes=bool(diffs), replaces=replaces, diffs=diffs, detailed_diff=detailed)

    async def create(self, request: CreateRequest) -> CreateResponse:
        schema = self._schema(request.urn)
        inputs = plain_map(request.properties)
        if request.preview:
            outputs = {**inputs, **dict.fromkeys(COMPUTED[schema.token], UNKNOWN)}
            return CreateResponse(resource_id="", properties=wrap_map(outputs))
        deadline = _deadline(TIMEOUTS[schema.token][0], request.timeout)
        creators: dict[str, Callable[[GraphClient, dict[str, Any], float], Awaitable[resources.Result]]] = {
            SERVICE_PRINCIPAL.token: resources.service_principal_create,
            APPLICATION.token: resources.application_create,
            DELEGATED_PERMISSION_GRANT.token: resources.grant_create,
            APP_ROLE_ASSIGNMENT.token: resources.assignment_create,
        }
        resource_id, outputs = await creators[schema.token](self.graph, inputs, deadline)
        if not resource_id:
            raise ProviderError(f"{schema.token}: the new object could not be read back")
        return CreateResponse(resource_id=resource_id, properties=wrap_map({**outputs, **_echo(schema, inputs)}))

    async def read(self, request: ReadRequest) -> ReadResponse:
        schema = self._schema(request.urn)
        olds = plain_map(request.properties)
        old_inputs = plain_map(request.inputs)
        deadline = _deadline(TIMEOUTS[schema.token][1], 0)
        resource_id, outputs = await self._read(schema, request.resource_id, olds, deadline)
        if not resource_id:
            return ReadResponse(resource_id="", properties={}, inputs={})
        outputs = {**outputs, **_echo(schema, {**olds, **old_inputs})}
        # The bridge's ExtractInputsFromOutputs: an import gets every input property the object has; a
        # refresh keeps the program's inputs, updated to what the tenant now holds.
        names = [p.name for p in schema.props] if not old_inputs else [k for k in old_inputs if schema.prop(k)]
        inputs = {name: outputs[name] for name in names if name in outputs and outputs[name] not in (None, "", [])}
        inputs.update({k: v for k, v in old_inputs.items() if schema.prop(k) is None})
        return ReadResponse(resource_id=resource_id, properties=wrap_map(outputs), inputs=wrap_map(inputs))

    async def _read(
        self, schema: ResourceSchema, resource_id: str, olds: dict[str, Any], deadline: float
    ) -> resources.Result:
        if schema is SERVICE_PRINCIPAL:
            return await resources.service_principal_read(self.graph, resource_id, olds, deadline)
        if schema is APPLICATION:
            return await resources.application_read(self.graph, resource_id, deadline)
        if schema is DELEGATED_PERMISSION_GRANT:
            return await resources.grant_read(self.graph, resource_id, deadline)
        return await resources.assignment_read(self.graph, resource_id, deadline)

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        schema = self._schema(request.urn)
        olds = plain_map(request.olds)
        news = plain_map(request.news)
        if request.preview:
            return UpdateResponse(properties=wrap_map({**olds, **news}))
        deadline = _deadline(TIMEOUTS[schema.token][2], request.timeout)
        if schema is SERVICE_PRINCIPAL:
            _, outputs = await resources.service_principal_update(self.graph, request.resource_id, news, olds, deadline)
        elif schema is APPLICATION:
            _, outputs = await resources.application_update(self.graph, request.resource_id, news, deadline)
        elif schema is DELEGATED_PERMISSION_GRANT:
            _, outputs = await resources.grant_update(self.graph, request.resource_id, news, deadline)
        else:
            raise ProviderError("an app role assignment cannot be updated: every property forces a new one")
        return UpdateResponse(properties=wrap_map({**outputs, **_echo(schema, news)}))

    async def delete(self, request: DeleteRequest) -> None:
        schema = self._schema(request.urn)
        olds = plain_map(request.properties)
        deadline = _deadline(TIMEOUTS[schema.token][3], request.timeout)
        if schema is SERVICE_PRINCIPAL:
            await resources.service_principal_delete(self.graph, request.resource_id, olds, deadline)
        elif schema is APPLICATION:
            await resources.application_delete(self.graph, request.resource_id, deadline)
        elif schema is DELEGATED_PERMISSION_GRANT:
            await resources.grant_delete(self.graph, request.resource_id, deadline)
        else:
            await resources.assignment_delete(self.graph, request.resource_id, deadline)


def _echo(schema: ResourceSchema, inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs Graph does not hold but the state keeps (Terraform keeps them in state): ``useExisting``."""
    if schema is SERVICE_PRINCIPAL and inputs.get("useExisting") is not None:
        return {"useExisting": inputs["useExisting"]}
    return {}
