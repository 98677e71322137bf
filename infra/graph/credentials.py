"""Bearer tokens for one tenant's Microsoft Graph: who signs in, and how the token is asked for.

Who signs in, and where: exactly as the stack's azuread provider (``infra.graph.signin``: the tenant file's
``auth`` block and the provider's ``ARM_*`` variables; ``endpoints.provider_endpoints``: ``ARM_METADATA_HOSTNAME``
or ``ARM_ENVIRONMENT``), through azure-identity; ``audit`` and ``adopt`` also take a ready token
(``TAXCALC_CONSENT_GRAPH_TOKEN``). A credential that cannot be made is a ``CredentialError`` (exit 2, before
anything is read); one refused at sign-in is a ``GraphError`` for that tenant. Tokens are never logged, printed
or put in an error message.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from taxcalc_consent.infra.graph import prompts
from taxcalc_consent.infra.graph.endpoints import CloudEndpoints, is_loopback
from taxcalc_consent.infra.graph.signin import AZURE_CLI_APP_ID, CredentialError, SignIn, next_step, sign_in
from taxcalc_consent.infra.graph.transport import GraphError, TokenSource, first_line, origin, token_claims
from taxcalc_consent.infra.model.profiles import INTERACTIVE_METHODS
from taxcalc_consent.infra.model.spec import AuthSection

TOKEN_ENV = "TAXCALC_CONSENT_GRAPH_TOKEN"
GITHUB_TOKEN_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
ENTRA_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Entra expects on a federated credential's token (Entra admin centre > Certificates &
secrets > Federated credentials, "Audience"), asked of the CI's token service as ``audience=``."""
ADO_OIDC_API_VERSION = "7.1"
"""The Azure DevOps OIDC token API version go-azure-sdk asks for (sdk/auth/ado_pipeline_oidc_authorizer.go)."""
IMDS_ENDPOINT = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
"""go-azure-sdk's managed identity request (sdk/auth/managed_identity_authorizer.go): this endpoint unless
``ARM_MSI_ENDPOINT`` names another, this API version, the resource, and the client id when there is one."""


def token_source(
    tenant_id: str,
    auth: AuthSection,
    endpoints: CloudEndpoints,
    graph_base: str,
    environ: Mapping[str, str] | None = None,
    *,
    ready_token: bool = False,
) -> TokenSource:
    """Where bearer tokens for ``graph_base`` come from, for one tenant. Nothing is requested yet.

    Signs in as the stack's azuread provider does (``infra.graph.signin.sign_in``), at ``endpoints``' sign-in
    endpoint, for the Graph at ``graph_base`` (the token's audience must be the Graph it is sent to).
    ``ready_token``: ``TAXCALC_CONSENT_GRAPH_TOKEN`` serves first when set (``audit`` and ``adopt`` only).
    Raises ``CredentialError`` when the auth block and the environment cannot make a credential.
    """
    env = os.environ if environ is None else environ
    ready = env.get(TOKEN_ENV) if ready_token else None
    if ready:
        token = ready.strip()
        _check_ready_token(token, tenant_id, graph_base)
        return lambda: token
    scope = graph_base.rstrip("/") + "/.default"
    found = sign_in(tenant_id, auth, env)
    if found.method in INTERACTIVE_METHODS:
        return _reused(found, lambda: engineer_sign_in(found.method, endpoints).token(scope, tenant_id))
    # Made now, so a value azure-identity refuses is a CredentialError before anything is read.
    unused = [_credential(found, endpoints)]

    def ask() -> Any:
        credential = unused.pop() if unused else _credential(found, endpoints)
        try:
            return credential.get_token(scope, tenant_id=tenant_id)
        finally:
            # One credential per token (a token outlives any run): its connections close with it, none is
            # left for the garbage collector. A later token, if one is needed, signs in afresh.
            close = getattr(credential, "close", None)
            if callable(close):
                close()

    return _reused(found, ask)


def _reused(found: SignIn, ask: Callable[[], Any]) -> TokenSource:
    """Tokens from ``ask`` (an azure-identity ``AccessToken``), each reused until 5 minutes before it expires (some
    credentials, the Azure CLI's, run a process per call); a failure said in one line with the next step."""
    cached: list[Any] = []
    # One tenant's reads may run at once (GraphClient.reads): one of them asks for a token, the others wait for it.
    lock = threading.Lock()

    def fetch() -> str:
        from azure.core.exceptions import AzureError
        from azure.identity import AuthenticationRequiredError

        with lock:
            if cached and cached[0].expires_on - 300 > time.time():
                return str(cached[0].token)
            try:
                cached[:] = [ask()]
                return str(cached[0].token)
            except (GraphError, CredentialError):
                raise  # the CI's token request failed: already said in one line
            except AuthenticationRequiredError as exc:
                # An engineer signed in, but Entra gives no token for this tenant from it (no usable GDAP
                # relationship reaches it): azure-identity says only that it would have to ask again; Entra's own
                # words are in its answer.
                failure = _entra_error(exc) or "Entra gave no token for this tenant from your sign-in"
            except (AzureError, OSError, ValueError) as exc:
                # azure-identity messages name the credential that failed and why (an AADSTS code from Entra);
                # they carry no secret. One line: the rest is a troubleshooting link.
                failure = first_line(exc)
            raise GraphError(
                f"could not get a token for tenant {found.tenant_id}: {failure}; next: {next_step(found, failure)}"
            ) from None

    return fetch


@dataclass
class EngineerSignIn:
    """An engineer's one interactive sign-in for the whole run (``auth.method: browser`` or ``device-code``), in
    their own, the MSP's, tenant, and a token for each client tenant from it without asking again.

    azure-identity's ``InteractiveBrowserCredential`` or ``DeviceCodeCredential`` as the Azure CLI's application
    (azure-identity's default public client; https://learn.microsoft.com/cli/azure/authenticate-azure-cli-interactively),
    at ``organizations``: the person's home tenant. ``authenticate`` asks them once; each client tenant's token then
    comes silently from the refresh token MSAL keeps (``additionally_allowed_tenants``), carrying the roles their
    GDAP relationship gives there. Automatic prompting is off, so a tenant the sign-in does not reach fails as
    that tenant's error instead of asking the person again, once per client.
    """

    credential: Any
    _signed_in: bool = False
    _refused: BaseException | None = None
    """Why the one sign-in failed (declined, expired, refused): every tenant's token fails with it, and the person
    is not asked again for each."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, scope: str, tenant_id: str) -> Any:
        with self._lock:
            if self._refused is not None:
                raise self._refused
            if not self._signed_in:
                try:
                    self.credential.authenticate(scopes=[scope])
                except Exception as exc:
                    self._refused = _without_frames(exc)
                    raise
                self._signed_in = True
        return self.credential.get_token(scope, tenant_id=tenant_id)


def _without_frames(exc: BaseException) -> BaseException:
    """``exc`` kept for later without the frames of the failed sign-in (their sockets and servers with them)."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc


_ENGINEER_SIGN_INS: dict[tuple[str, str], EngineerSignIn] = {}
_ENGINEER_SIGN_INS_LOCK = threading.Lock()


def engineer_sign_in(method: str, endpoints: CloudEndpoints) -> EngineerSignIn:
    """The run's sign-in of this kind at this cloud: made on first use, then shared by every tenant."""
    from azure import identity

    key = (method, endpoints.login)
    with _ENGINEER_SIGN_INS_LOCK:
        found = _ENGINEER_SIGN_INS.get(key)
        if found is not None:
            return found
        options: dict[str, Any] = {
            "authority": endpoints.login,
            "tenant_id": "organizations",
            "client_id": AZURE_CLI_APP_ID,
            "additionally_allowed_tenants": ["*"],
            "disable_automatic_authentication": True,
        }
        if not endpoints.known_to_microsoft:
            options["disable_instance_discovery"] = True
        if method == "device-code":

            def prompt(verification_uri: str, user_code: str, expires_on: Any) -> None:
                until = f" before {expires_on:%H:%M}" if hasattr(expires_on, "strftime") else ""
                prompts.say(
                    f"To sign in as the MSP's engineer, open {verification_uri} and enter the code {user_code}{until}"
                )

            credential: Any = identity.DeviceCodeCredential(prompt_callback=prompt, **options)
        else:
            credential = identity.InteractiveBrowserCredential(**options)
        found = _ENGINEER_SIGN_INS[key] = EngineerSignIn(credential)
        return found


def _entra_error(exc: Any) -> str | None:
    """Entra's ``error_description`` (its AADSTS code and text, no secret) from a failed token answer, first line."""
    response: Any = getattr(exc, "response", None)
    try:
        answer = json.loads(response.text()) if response is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
    description = answer.get("error_description") if isinstance(answer, dict) else None
    return description.splitlines()[0].strip() if isinstance(description, str) and description.strip() else None


def _check_ready_token(token: str, tenant_id: str, graph_base: str) -> None:
    """A ready token acts on one tenant only: the one whose id it carries (its ``tid`` claim).

    Every run names its tenants in files, and a token from the environment applies to all of them; without
    this check, one client's token would read (and adopt record) that client's objects under another
    client's name. Entra access tokens are JWTs whose payload names the tenant
    (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#payload-claims).
    The signature is Graph's to check, not ours: this only refuses a token aimed at another tenant. A
    token that is no JWT is never one Entra issued, so it is accepted only by a Graph on this machine (a
    local emulator, as the tests use).
    """
    issued_for = token_claims(token).get("tid")
    if not isinstance(issued_for, str):
        if is_loopback(graph_base):
            return
        raise CredentialError(
            f"{TOKEN_ENV} is not an Entra access token naming its tenant (no tid claim): "
            "unset it, or set it to a token issued for this tenant"
        )
    if issued_for.lower() != tenant_id.lower():
        raise CredentialError(
            f"{TOKEN_ENV} was issued for tenant {issued_for}, not {tenant_id} (the file's tenant.id): "
            f"a ready token serves one tenant; run one tenant file at a time with it, or unset it"
        )


def _credential(signin: SignIn, endpoints: CloudEndpoints) -> Any:
    """An azure-identity credential that signs in the way ``signin`` says, at ``endpoints``' sign-in endpoint.

    Each asks Entra what go-azure-sdk asks it (the client-credentials grant at the tenant's v2.0 token
    endpoint) with the same values; MSAL first reads the tenant's OpenID configuration there. Instance
    discovery is off for a cloud from a metadata document, as azure-identity advises for private clouds and
    Azure Stack (go-azure-sdk never does instance discovery at all).
    """
    # Imported here: azure.identity is slow to import and only needed when a real token is wanted.
    from azure import identity

    authority = endpoints.login
    options: dict[str, Any] = {"authority": authority}
    if not endpoints.known_to_microsoft:
        options["disable_instance_discovery"] = True
    tenant, client_id = signin.tenant_id, signin.client_id
    try:
        if signin.method == "client-certificate":
            if signin.certificate:
                return identity.CertificateCredential(
                    tenant,
                    client_id,
                    certificate_data=signin.certificate,
                    password=signin.certificate_password or None,
                    **options,
                )
            return identity.CertificateCredential(
                tenant,
                client_id,
                certificate_path=signin.certificate_path,
                password=signin.certificate_password or None,
                **options,
            )
        if signin.method == "client-secret":
            return identity.ClientSecretCredential(tenant, client_id, signin.client_secret, **options)
        if signin.method == "oidc-token":
            token = signin.oidc_token
            return identity.ClientAssertionCredential(tenant, client_id, lambda: token, **options)
        if signin.method == "ado-pipeline-oidc":
            url, request_token, connection = (
                signin.oidc_request_url,
                signin.oidc_request_token,
                signin.ado_service_connection_id,
            )
            return identity.ClientAssertionCredential(
                tenant, client_id, lambda: ado_pipeline_id_token(url, request_token, connection), **options
            )
        if signin.method == "github-oidc":
            url, request_token = signin.oidc_request_url, signin.oidc_request_token
            return identity.ClientAssertionCredential(
                tenant, client_id, lambda: github_actions_id_token(url, request_token), **options
            )
        if signin.method == "msi":
            return ImdsCredential(client_id, signin.msi_endpoint)
        return identity.AzureCliCredential(tenant_id=tenant)
    except (ValueError, OSError) as exc:
        # azure-identity validates its arguments in the constructor (a malformed value, an unreadable certificate).
        raise CredentialError(f"signing in with {signin.describe()}: {first_line(exc)}") from None


@dataclass
class ImdsCredential:
    """A managed identity's token, asked as go-azure-sdk asks (sdk/auth/managed_identity_authorizer.go):
    ``GET <endpoint>?api-version=2018-02-01&resource=<Graph>[&client_id=<id>]`` with ``Metadata: true``, at
    ``ARM_MSI_ENDPOINT`` or the Azure Instance Metadata Service; the answer holds ``access_token`` and
    ``expires_in``. (azure-identity's ManagedIdentityCredential picks another endpoint by other variables.)"""

    client_id: str
    endpoint: str = ""
    timeout: float = 30.0

    def get_token(self, *scopes: str, tenant_id: str | None = None) -> Any:
        from azure.core.credentials import AccessToken

        resource = scopes[0].removesuffix("/.default") if scopes else ""
        query = {"api-version": IMDS_API_VERSION, "resource": resource}
        if self.client_id:
            query["client_id"] = self.client_id
        url = self.endpoint or IMDS_ENDPOINT
        where = f"the managed identity endpoint {origin(url)}"
        response = _token_service(
            "GET", url, "a managed identity token", where, self.timeout, {"Metadata": "true"}, query
        )
        try:
            answer = response.json()
            token = str(answer["access_token"])
            lifetime = int(str(answer.get("expires_in") or "0"))
        except (ValueError, KeyError, TypeError):
            raise GraphError(f"could not get a managed identity token: {where} answered without a token") from None
        return AccessToken(token, int(time.time()) + lifetime)


def github_actions_id_token(request_url: str, request_token: str, timeout: float = 30.0) -> str:
    """The runner's OIDC token for Entra, asked as go-azure-sdk asks (sdk/auth/github_oidc_authorizer.go,
    githubAssertion): GET the request URL, ``audience=api://AzureADTokenExchange`` added when the URL names
    no audience, ``Authorization: Bearer <request token>``; the answer is ``{"value": "<JWT>"}``. Neither
    token ever appears in an error message."""
    params = {"audience": ENTRA_TOKEN_EXCHANGE_AUDIENCE}
    what = "the GitHub Actions OIDC token"
    return _ci_id_token("GET", request_url, params, request_token, timeout, what, ("value", "value"))


def ado_pipeline_id_token(
    request_url: str, request_token: str, service_connection_id: str, timeout: float = 30.0
) -> str:
    """An Azure DevOps pipeline's OIDC token for Entra, asked as go-azure-sdk asks
    (sdk/auth/ado_pipeline_oidc_authorizer.go, adoPipelineAssertion): POST the request URL with
    ``api-version=7.1``, ``serviceConnectionId`` and ``audience`` added where missing, ``Authorization: Bearer
    <SYSTEM_ACCESSTOKEN>``; the answer is ``{"oidcToken": "<JWT>"}``."""
    params = {
        "api-version": ADO_OIDC_API_VERSION,
        "serviceConnectionId": service_connection_id,
        "audience": ENTRA_TOKEN_EXCHANGE_AUDIENCE,
    }
    what = "the Azure DevOps OIDC token"
    return _ci_id_token("POST", request_url, params, request_token, timeout, what, ("oidcToken", "token"))


def _ci_id_token(
    method: str,
    request_url: str,
    params: dict[str, str],
    request_token: str,
    timeout: float,
    what: str,
    found_at: tuple[str, str],
) -> str:
    """A CI's OIDC token: ``params`` added to the request URL where it names none of them; the token is the JSON
    answer's ``found_at[0]``, called ``found_at[1]`` when it is missing."""
    key, noun = found_at
    try:
        url = httpx.URL(request_url)
        url = url.copy_merge_params({k: v for k, v in params.items() if not url.params.get(k)})
    except (httpx.InvalidURL, TypeError):
        raise CredentialError("the OIDC token request URL is not a URL") from None
    headers = {"Authorization": f"Bearer {request_token}", "Accept": "application/json"}
    response = _token_service(method, url, what, f"{url.scheme}://{url.host}", timeout, headers)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        raise GraphError(f"could not get {what}: {origin(str(url))} answered without a {noun}")
    return value


def _token_service(
    method: str,
    url: httpx.URL | str,
    what: str,
    where: str,
    timeout: float,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One request for a token (``what``) to a token service (``where``), answered 2xx; nothing secret is said."""
    try:
        response = httpx.request(method, url, params=params, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise GraphError(f"could not get {what}: {type(exc).__name__} from {where}") from None
    if not 200 <= response.status_code <= 299:
        raise GraphError(f"could not get {what}: HTTP {response.status_code} from {where}")
    return response
