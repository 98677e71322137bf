"""``AzureADProvider``: the engine's gRPC calls mapped onto the resources and data sources of this package."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
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
from tests.fakes.azuread_provider.graph import (
    CLOUDS,
    GraphClient,
    ProviderError,
    azure_cli_token,
    discover,
    github_assertion,
    sign_in,
    sign_in_with_assertion,
)
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


# Go's strconv.ParseBool, which terraform-plugin-sdk applies to a boolean's DefaultFunc value.
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOLS.update({"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False})


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
        """Sign in as terraform-provider-azuread does (internal/provider/provider.go providerConfigure): each
        argument the program gives, else its environment variable, then go-azure-sdk's order
        (sdk/auth/auth.go NewAuthorizerFromCredentials). Emulated: client secret, an OIDC token in hand,
        GitHub Actions' OIDC and the Azure CLI; a client certificate, Azure DevOps' OIDC or a managed identity
        is refused by name (they are what the real provider would pick there, and are not emulated)."""
        args = plain_map(request.args)

        def given(name: str) -> Any:
            value = args.get(name)
            if value is None or value is UNKNOWN:
                value = request.variables.get(f"azuread:config:{name}")
            return value

        def setting(name: str, *envs: str) -> str:
            """A string argument, else the first of its DefaultFunc variables that is not empty."""
            value = given(name)
            if value is None:
                value = next((os.environ[e] for e in envs if os.environ.get(e)), "")
            return str(value or "").strip()

        def flag(name: str, env: str, default: bool = False) -> bool:
            """A boolean argument, else its variable read as Go's strconv.ParseBool reads it, else the default."""
            value = given(name)
            if value is None:
                raw = os.environ.get(env, "")
                if raw and raw not in _GO_BOOLS:
                    raise ProviderError(f'strconv.ParseBool: parsing "{raw}": invalid syntax ({env})')
                return _GO_BOOLS.get(raw, default)
            return _flag(value)

        def with_file(value: str, env: str, what: str) -> str:
            """helpers.go getClientId/getClientSecret/getOidcToken."""
            path = os.environ.get(env, "")
            if not path:
                return value
            try:
                from_file = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ProviderError(f"reading {what} from file {path!r}: {exc}") from None
            if value and value != from_file:
                raise ProviderError(f"mismatch between supplied {what} and supplied {what} file contents")
            return from_file

        self._http = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        metadata_host = setting("metadataHost", "ARM_METADATA_HOSTNAME")
        environment = setting("environment", "ARM_ENVIRONMENT") or "global"
        certificate = setting("clientCertificate", "ARM_CLIENT_CERTIFICATE")
        certificate_path = setting("clientCertificatePath", "ARM_CLIENT_CERTIFICATE_PATH")
        oidc_token = with_file(setting("oidcToken", "ARM_OIDC_TOKEN"), "ARM_OIDC_TOKEN_FILE_PATH", "OIDC Token")
        client_secret = with_file(
            setting("clientSecret", "ARM_CLIENT_SECRET"), "ARM_CLIENT_SECRET_FILE_PATH", "Client Secret"
        )
        client_id = with_file(setting("clientId", "ARM_CLIENT_ID"), "ARM_CLIENT_ID_FILE_PATH", "Client ID")
        tenant_id = setting("tenantId", "ARM_TENANT_ID")
        use_aks = flag("useAksWorkloadIdentity", "ARM_USE_AKS_WORKLOAD_IDENTITY")
        if use_aks and os.environ.get("AZURE_TENANT_ID") and tenant_id and os.environ["AZURE_TENANT_ID"] != tenant_id:
            raise ProviderError("mismatch between supplied Tenant ID and that provided by AKS Workload Identity")
        if metadata_host:
            endpoints = await discover(metadata_host, self._http)
        elif environment.lower() in CLOUDS:
            endpoints = CLOUDS[environment.lower()]
        else:
            raise ProviderError(f"no environment was found with the name {environment!r}")
        use_oidc = flag("useOidc", "ARM_USE_OIDC") or use_aks
        request_url = setting(
            "oidcRequestUrl", "ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL", "SYSTEM_OIDCREQUESTURI"
        )
        request_token = setting(
            "oidcRequestToken", "ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SYSTEM_ACCESSTOKEN"
        )
        connection = setting(
            "adoPipelineServiceConnectionId",
            "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID",
            "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID",
        )
        use_msi = flag("useMsi", "ARM_USE_MSI")
        use_cli = (
            flag("useCli", "ARM_USE_CLI") if given("useCli") is not None or os.environ.get("ARM_USE_CLI") else True
        )

        not_emulated = "is what the azuread provider would sign in with here; the test provider does not emulate it"
        if tenant_id and client_id and (certificate or certificate_path):
            raise ProviderError(f"a client certificate {not_emulated}")
        if tenant_id and client_id and client_secret:
            token = await sign_in(endpoints, tenant_id, client_id, client_secret, self._http)
        elif use_oidc and tenant_id and client_id and oidc_token:
            token = await sign_in_with_assertion(endpoints, tenant_id, client_id, oidc_token, self._http)
        elif use_oidc and tenant_id and client_id and request_url and request_token and connection:
            raise ProviderError(f"Azure DevOps' OIDC {not_emulated}")
        elif use_oidc and tenant_id and client_id and request_url and request_token:
            assertion = await github_assertion(request_url, request_token, self._http)
            token = await sign_in_with_assertion(endpoints, tenant_id, client_id, assertion, self._http)
        elif use_msi:
            raise ProviderError(f"a managed identity {not_emulated}")
        elif use_cli:
            if not tenant_id:
                raise ProviderError("azure-cli could not determine tenant ID to use")
            token = await azure_cli_token(endpoints, tenant_id)
        else:
            raise ProviderError(
                "building client: unable to build authorizer: no Authorizer could be configured, please check "
                "your configuration"
            )
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
