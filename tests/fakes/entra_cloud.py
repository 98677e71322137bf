"""An emulated Microsoft cloud on 127.0.0.1, over TLS: metadata, sign-in and Microsoft Graph for several tenants.

The real pulumi-azuread provider (terraform-provider-azuread 3.x) learns its endpoints from an Azure
Metadata Service when ``metadata_host`` / ``ARM_METADATA_HOSTNAME`` is set (internal/provider/provider.go,
go-azure-sdk ``environments.FromEndpoint``), signs in with the client-credentials grant at the login
endpoint, and sends every Graph request with that bearer token; the tool's own Graph calls do the same
through azure-identity (MSAL). This server plays all three parts, https only as the real ones are (a
throwaway CA, ``tests.fakes.tls``), so the test provider, the program, ``audit`` and ``adopt`` sign in here
for real, each in its own way:
- ``GET /metadata/endpoints?api-version=2022-09-01``: the metadata document, naming this server as login
  endpoint and Microsoft Graph;
- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID configuration, which MSAL
  reads before asking for a token (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri);
  an unknown tenant is 400 AADSTS90002;
- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant
  (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow) with a client
  secret or a client assertion; an assertion is another issuer's token, accepted only when one of the
  app's federated identity credentials names its issuer, subject and audience exactly (case-sensitive)
  and the issuer's signature holds (https://learn.microsoft.com/entra/workload-id/workload-identity-federation,
  https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). The token's claims are
  Entra's for an app-only v1.0 access token
  (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference): ``aud`` the resource
  asked for, ``tid``, ``oid``, ``appid``, ``idtyp: app`` and ``roles``, the application permissions the app
  holds on that resource in that tenant when the token is issued. Errors are Entra's AADSTS ones
  (https://learn.microsoft.com/entra/identity-platform/reference-error-codes);
- ``/v1.0/...`` and ``/beta/...``: the tenant's ``GraphEmulator``, chosen by the token's ``tid``. Each
  request is judged by the token it carries, not by whoever signed in last: its signature, its lifetime,
  its audience (a token for another resource, or for another cloud's Graph, is 401
  ``InvalidAuthenticationToken``, https://learn.microsoft.com/graph/resolve-auth-errors#401-unauthorized-error-is-your-token-valid),
  then its ``roles`` against the route's permissions (403, as before).
Tokens are signed ES256 with the cloud's own key (Entra signs RS256 with keys it publishes; clients do not
check either, Graph checks both). Other issuers an app may trust (GitHub Actions, a Kubernetes cluster) are
``Issuer`` objects that sign their own tokens; ``trust`` hands the cloud an issuer's key, which Entra would
fetch from the issuer's OpenID discovery document.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.entra import FakeTenant
from tests.fakes.gdap import AZURE_CLI_CLIENT_ID, AZURE_CLI_GRAPH_SCOPES, Engineer, Partner
from tests.fakes.graph_emulator import Caller, GraphEmulator, RecordedRequest, _error, serve_handler
from tests.fakes.tls import Certificates, certificates
from tests.fakes.user_signin import (
    DEVICE_CODE_GRANT,
    AuthorizationCode,
    DeviceCode,
    UserSignIns,
    aadsts,
    client_info,
    resource_of,
    scope_problem,
)

SIGN_IN_AUDIENCES = frozenset({"organizations", "common"})
"""Authorities that are no tenant: the person's home tenant is the one signed in to (v2-protocols, "Endpoints")."""

AUTOMATION_APP_ID = "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"
AUTOMATION_NAME = "MSP automation (taxcalc-consent)"
AUTOMATION_ROLES = [
    # What pulumi-azuread's docs ask of an app-only identity for these resources and data sources.
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Group.Read.All",
    "User.Read.All",
    # What audit reads (the tenant's consent settings), with the same identity.
    "Policy.Read.All",
]
APPLY_ROLES = [
    # docs/ci.md: what `apply` needs of the automation identity, with the two consent-settings permissions.
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.ConsentRequest",
]
METADATA_API_VERSION = "2022-09-01"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ARM_RESOURCE = "https://management.azure.com"
ARM_APP_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
"""Azure Resource Manager: another resource Entra issues tokens for, whose tokens Graph refuses."""
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class FederatedCredential:
    """A federatedIdentityCredential of the automation app: which outside tokens Entra takes as the app."""

    issuer: str
    subject: str
    audiences: tuple[str, ...] = (TOKEN_EXCHANGE_AUDIENCE,)


@dataclass
class AutomationApp:
    """The MSP's multi-tenant automation app: one client id, a secret and federated credentials, a service
    principal per tenant."""

    client_id: str = AUTOMATION_APP_ID
    client_secret: str = "emulated-automation-secret-7Qm2-kX9v"
    federated: list[FederatedCredential] = field(default_factory=list)


class Issuer:
    """An OIDC token issuer outside Entra (GitHub Actions, a Kubernetes cluster): signs tokens with its own key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex
        self.public_key = self._key.public_key()

    def token(self, subject: str, audience: str = TOKEN_EXCHANGE_AUDIENCE, lifetime: int = 600) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, as the log keeps it (never a secret or a token)."""

    tenant_id: str
    client_id: str
    credential: str
    """``client_secret`` or ``client_assertion``."""
    assertion_issuer: str | None
    resource: str
    library: str
    """The client library's own header (MSAL sends ``x-client-sku``); empty for the azuread provider."""
    agent: str
    """The User-Agent header: who asked (azure-identity, the test provider's httpx, the test ``az``)."""
    issued: bool


@dataclass
class EmulatedCloud:
    """The running cloud: one ``GraphEmulator`` per tenant id, behind one base URL."""

    tenants: dict[str, GraphEmulator]
    automation: AutomationApp
    certificates: Certificates
    base_url: str = ""
    token_requests: list[TokenRequest] = field(default_factory=list)
    issuers: dict[str, Issuer] = field(default_factory=dict)
    partner: Partner | None = None
    """The MSP's tenant, its GDAP relationships and engineers (tests/fakes/gdap.py), when the test has one."""
    sign_ins: UserSignIns = field(default_factory=UserSignIns)
    """An engineer's interactive sign-ins: device codes, authorization codes, the browser's session."""
    _key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    _kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def metadata_host(self) -> str:
        """What ``ARM_METADATA_HOSTNAME`` (the provider's ``metadata_host``) is set to: host and port."""
        return self.base_url.split("://", 1)[1]

    def tenant(self, tenant_id: str) -> FakeTenant:
        return self.tenants[tenant_id].tenant

    def writes(self, tenant_id: str | None = None) -> list[RecordedRequest]:
        emulators = [self.tenants[tenant_id]] if tenant_id else list(self.tenants.values())
        return [w for e in emulators for w in e.writes()]

    def trust(self, issuer: Issuer) -> Issuer:
        """Let Entra verify ``issuer``'s tokens (it would read the issuer's keys from its discovery document)."""
        self.issuers[issuer.url] = issuer
        return issuer

    def grant_only(self, tenant_id: str, *roles: str) -> None:
        """An administrator leaves the automation app exactly these Graph application permissions in the
        tenant; tokens issued from now on carry them (tokens already issued keep theirs until they expire)."""
        tenant = self.tenant(tenant_id)
        sp = tenant.service_principal_by_app_id(self.automation.client_id)
        assert sp is not None
        for assignment in list(tenant.app_role_assignments.values()):
            if assignment.principal_id == sp.id and assignment.resource_id == tenant.graph.id:
                tenant.delete_app_role_assignment(assignment.id)
        for role in roles:
            tenant.create_app_role_assignment(sp.id, tenant.graph.id, tenant.graph.app_roles[role])

    def automation_principal(self, tenant_id: str) -> str:
        """The automation app's service principal in a tenant (its object id)."""
        sp = self.tenant(tenant_id).service_principal_by_app_id(self.automation.client_id)
        assert sp is not None
        return sp.id

    def sign(self, claims: dict[str, Any]) -> str:
        """A token signed by this cloud (for tests that need a token Entra never issues as such)."""
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self._kid, "typ": "JWT"})

    def token_for(self, tenant_id: str) -> str:
        """A token for the automation identity in ``tenant_id``, through the token endpoint's own rules."""
        status, body = self.issue_token(
            tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": self.automation.client_id,
                "client_secret": self.automation.client_secret,
                "scope": f"{self.base_url}/.default",
            },
        )
        assert status == 200, body
        return str(body["access_token"])

    def refresh_token(self, engineer: Engineer) -> str:
        """What ``az login`` keeps for an engineer: a refresh token the cloud redeems for their access tokens in any
        tenant they may reach (opaque to clients, as Entra's are; here a token this cloud signed)."""
        assert self.partner is not None, "an engineer belongs to the MSP's tenant: serve_cloud(partner=...)"
        now = int(time.time())
        claims = {"typ": "refresh", "sub": engineer.object_id, "home": self.partner.tenant_id, "iat": now}
        return self.sign(claims)

    def graph_audiences(self) -> frozenset[str]:
        """What Graph here takes as its own audience: its URI (with or without the trailing slash a v1.0
        resource may carry) and Microsoft Graph's application id."""
        return frozenset({self.base_url, f"{self.base_url}/", GRAPH_APP_ID})

    # ------------------------------------------------------------------------------------ endpoints

    def metadata(self) -> dict[str, Any]:
        """The Azure Metadata Service document go-azure-sdk reads (sdk/internal/metadata/client.go)."""
        root = f"{self.base_url}/"
        return {
            "name": "EmulatedCloud",
            "portal": root,
            "resourceManager": root,
            "microsoftGraphResourceId": root,
            "graph": root,
            "graphAudience": root,
            "authentication": {
                "loginEndpoint": root,
                "audiences": [root],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {},
        }

    def openid_configuration(self, tenant_id: str) -> tuple[int, dict[str, Any]]:
        """A tenant's v2.0 OpenID configuration: the endpoints MSAL takes from it."""
        if tenant_id.lower() in SIGN_IN_AUDIENCES:
            # Entra's answer at organizations/common: the endpoints there, an issuer naming no tenant yet.
            tenant, issuer_tenant = tenant_id.lower(), "{tenantid}"
        else:
            emulator = self.tenants.get(tenant_id.lower())
            if emulator is None:
                return _tenant_not_found(tenant_id)
            tenant = issuer_tenant = emulator.tenant.tenant_id
        root = f"{self.base_url}/{tenant}"
        return 200, {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{self.base_url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.base_url}/{issuer_tenant}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulated",
        }

    def issue_token(
        self, tenant_id: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The v2.0 token endpoint, client-credentials grant only (what the provider and azure-identity use)."""
        client_id = form.get("client_id", "").lower()
        assertion = form.get("client_assertion", "")
        grant = form.get("grant_type", "")
        user_grants = {"refresh_token": "refresh_token", DEVICE_CODE_GRANT: "device_code"}
        user_grants["authorization_code"] = "authorization_code"
        credential = user_grants.get(grant) or ("client_assertion" if assertion else "client_secret")
        scope = form.get("scope", "")
        resource = resource_of(scope)
        issuer = _unverified_issuer(assertion) if assertion else None
        library = (headers or {}).get("x-client-sku", "")
        agent = (headers or {}).get("user-agent", "")
        status, body = self._issue(tenant_id, form, client_id, assertion, scope, resource)
        with self._lock:
            self.token_requests.append(
                TokenRequest(tenant_id.lower(), client_id, credential, issuer, resource, library, agent, status == 200)
            )
        return status, body

    def _issue(
        self, tenant_id: str, form: dict[str, str], client_id: str, assertion: str, scope: str, resource: str
    ) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        if grant in (DEVICE_CODE_GRANT, "authorization_code"):
            return self._issue_for_sign_in(tenant_id, form, client_id)
        if grant == "refresh_token":
            tenant_id = self._answering(tenant_id)
        emulator = self.tenants.get(tenant_id.lower())
        if emulator is None:
            return _tenant_not_found(tenant_id)
        if grant == "refresh_token":
            return self._issue_for_user(emulator, form, client_id, scope, resource)
        if form.get("grant_type") != "client_credentials":
            return aadsts(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        tenant = emulator.tenant
        sp = tenant.service_principal_by_app_id(client_id) if client_id else None
        if client_id != self.automation.client_id or sp is None:
            return aadsts(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
            )
        if assertion:
            refused = self._check_assertion(assertion, form.get("client_assertion_type", ""))
            if refused is not None:
                return refused
        elif not form.get("client_secret"):
            return aadsts(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        elif form["client_secret"] != self.automation.client_secret:
            return aadsts(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        if not scope.endswith("/.default"):
            # v2-oauth2-client-creds-grant-flow: "the value passed for the scope parameter ... should be the
            # resource identifier (application ID URI) of the resource you want, affixed with the .default suffix".
            return aadsts(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        known = resource.rstrip("/")
        if known in {self.base_url, GRAPH_APP_ID}:
            roles = tenant.roles_of(sp.id)
        elif known in {ARM_RESOURCE, ARM_APP_ID}:
            roles = []
        else:
            return aadsts(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant.tenant_id}. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant.",
            )
        claims = self._claims(tenant.tenant_id, sp.id, resource, f"{self.base_url}/{tenant.tenant_id}/")
        claims |= {
            "appid": client_id,
            "app_displayname": sp.display_name,
            "idtyp": "app",
            "ver": "1.0",
        }
        if roles:  # Entra leaves the claim out when the app holds no role on the resource
            claims["roles"] = roles
        return 200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME - 1, "access_token": self.sign(claims)}

    def _issue_for_user(
        self, emulator: GraphEmulator, form: dict[str, str], client_id: str, scope: str, resource: str
    ) -> tuple[int, dict[str, Any]]:
        """The refresh-token grant the Azure CLI makes for a signed-in engineer
        (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token):
        a user token for this tenant carrying the directory roles the engineer holds here (tests/fakes/gdap.py)."""
        tenant = emulator.tenant
        if client_id != AZURE_CLI_CLIENT_ID:
            return aadsts(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.tenant_id}'.",
            )
        engineer = self._engineer(form.get("refresh_token", ""))
        if engineer is None or self.partner is None:
            return aadsts(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        return self._user_token(emulator, engineer, client_id, scope, resource)

    def _answering(self, authority: str) -> str:
        """The tenant a person's token comes from: the one the authority names, or at organizations/common their
        home tenant, the MSP's (https://learn.microsoft.com/entra/identity-platform/v2-protocols#endpoints)."""
        if authority.lower() in SIGN_IN_AUDIENCES and self.partner is not None:
            return self.partner.tenant_id
        return authority

    def _claims(self, tenant_id: str, subject: str, audience: str, issuer: str) -> dict[str, Any]:
        """What every token here carries: audience, issuer, lifetime from now, tenant and subject
        (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference,
        https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference)."""
        now = int(time.time())
        return {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "tid": tenant_id,
            "oid": subject,
            "sub": subject,
        }

    def _issue_for_sign_in(self, tenant_id: str, form: dict[str, str], client_id: str) -> tuple[int, dict[str, Any]]:
        """A device code or an authorization code redeemed (tests/fakes/user_signin.py): the person's tokens, for
        the tenant the code's authority names, or their home tenant at organizations/common."""
        redeemed: DeviceCode | AuthorizationCode | tuple[int, dict[str, Any]]
        if form.get("grant_type") == DEVICE_CODE_GRANT:
            redeemed = self.sign_ins.redeem_device_code(form)
        else:
            redeemed = self.sign_ins.redeem_authorization_code(form)
        if isinstance(redeemed, tuple):
            return redeemed
        engineer = redeemed.approved_by if isinstance(redeemed, DeviceCode) else redeemed.engineer
        assert engineer is not None and self.partner is not None
        tenant_id = self._answering(redeemed.authority_tenant)
        emulator = self.tenants.get(tenant_id.lower())
        if emulator is None:
            return _tenant_not_found(tenant_id)
        nonce = redeemed.nonce if isinstance(redeemed, AuthorizationCode) else ""
        return self._user_token(emulator, engineer, client_id, redeemed.scope, resource_of(redeemed.scope), nonce)

    def _user_token(
        self, emulator: GraphEmulator, engineer: Engineer, client_id: str, scope: str, resource: str, nonce: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """An engineer's tokens for one tenant: an access token carrying the directory roles they hold there, and,
        as the OpenID scopes asked, an id token, a refresh token and ``client_info``."""
        assert self.partner is not None
        tenant = emulator.tenant
        problem = scope_problem(scope)
        if problem:
            return problem
        defaults = [s for s in scope.split() if s.endswith("/.default")]
        if not defaults or resource.rstrip("/") not in {self.base_url, GRAPH_APP_ID}:
            return aadsts(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant.tenant_id}.",
            )
        roles = self.partner.roles_in(engineer, tenant.tenant_id)
        if roles is None:
            # https://learn.microsoft.com/entra/identity-platform/reference-error-codes: AADSTS50020
            # UserUnauthorizedInvalidIdentityProvider, "User account from identity provider does not exist in tenant
            # and cannot access the application". (That a partner user without a usable relationship gets exactly
            # this code is not documented.)
            return aadsts(
                400,
                "invalid_grant",
                50020,
                f"User account '{engineer.upn}' from identity provider '{self.base_url}/{self.partner.tenant_id}/' "
                f"does not exist in tenant '{tenant.tenant_id}' and cannot access the application "
                f"'{AZURE_CLI_CLIENT_ID}'(Microsoft Azure CLI) in that tenant.",
            )
        claims = self._claims(tenant.tenant_id, engineer.object_id, resource, f"{self.base_url}/{tenant.tenant_id}/")
        claims |= {
            "upn": engineer.upn,
            "idp": f"{self.base_url}/{self.partner.tenant_id}/",
            "appid": AZURE_CLI_CLIENT_ID,
            "idtyp": "user",
            "scp": " ".join(AZURE_CLI_GRAPH_SCOPES),
            "ver": "1.0",
        }
        if roles:  # "Claims are present only if a value exists to fill it" (access-token-claims-reference)
            claims["wids"] = roles
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": TOKEN_LIFETIME - 1,
            "access_token": self.sign(claims),
        }
        asked = set(scope.split())
        home = self.partner.tenant_id
        if "offline_access" in asked:
            answer["refresh_token"] = self.refresh_token(engineer)
        if "openid" in asked:
            # https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference: aud is the client.
            identity = self._claims(
                tenant.tenant_id, engineer.object_id, client_id, f"{self.base_url}/{tenant.tenant_id}/v2.0"
            )
            identity |= {"preferred_username": engineer.upn, "ver": "2.0", **({"nonce": nonce} if nonce else {})}
            answer["id_token"] = self.sign(identity)
            answer["client_info"] = client_info(engineer, home)
        return 200, answer

    def _engineer(self, refresh_token: str) -> Engineer | None:
        try:
            claims = jwt.decode(refresh_token, self._key.public_key(), algorithms=["ES256"])
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != "refresh" or self.partner is None:
            return None
        return self.partner.engineers.get(str(claims.get("sub", "")))

    def _check_assertion(self, assertion: str, assertion_type: str) -> tuple[int, dict[str, Any]] | None:
        """A client assertion from another issuer, as workload identity federation checks it."""
        if assertion_type != JWT_BEARER:
            return aadsts(
                400,
                "invalid_request",
                7000219,
                "'client_assertion' or 'client_secret' is required for the 'client_credentials' grant type.",
            )
        issuer_url = _unverified_issuer(assertion) or ""
        credentials = [c for c in self.automation.federated if c.issuer == issuer_url]
        issuer = self.issuers.get(issuer_url)
        if not credentials or issuer is None:
            return aadsts(
                401,
                "invalid_client",
                700211,
                f"No matching federated identity record found for presented assertion issuer '{issuer_url}'. Please "
                "check your federated identity credential Subject, Audience and Issuer against the presented "
                "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
            )
        try:
            claims = jwt.decode(
                assertion,
                issuer.public_key,
                algorithms=["ES256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return aadsts(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        now = time.time()
        if not float(claims.get("nbf", 0)) - 300 <= now <= float(claims.get("exp", 0)):
            return aadsts(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        subject = str(claims.get("sub", ""))
        # Case-sensitive since 2024 (learn.microsoft.com/entra/identity-platform/reference-breaking-changes).
        matching = [c for c in credentials if c.subject == subject]
        if not matching:
            return aadsts(
                401,
                "invalid_client",
                700213,
                f"No matching federated identity record found for presented assertion subject '{subject}'. Check "
                "your federated identity credential Subject, Audience and Issuer against the presented assertion. "
                "https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
            )
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in c.audiences for c in matching for a in audiences):
            return aadsts(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion audience '{audience}'. "
                "Please check your federated identity credential Subject, Audience and Issuer against the "
                "presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
            )
        return None

    def route(self, token: str) -> tuple[GraphEmulator, Caller] | str:
        """The tenant's Graph and the caller a bearer token names, or why Graph refuses the token (401)."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["ES256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return "Invalid JWT token. The token is malformed or its signature is not valid."
        if header.get("kid") != self._kid:
            return "Invalid JWT token. The token is malformed or its signature is not valid."
        if float(claims.get("exp", 0)) < time.time():
            return "Lifetime validation failed, the token is expired."
        if claims.get("aud") not in self.graph_audiences():
            return "Access token validation failure. Invalid audience."
        emulator = self.tenants.get(str(claims.get("tid", "")).lower())
        if emulator is None:
            return "Access token validation failure."
        if claims.get("idtyp") == "user":
            # A signed-in user: their scopes (scp) and directory roles (wids) decide, tests/fakes/gdap.py.
            scopes = str(claims.get("scp") or "").split()
            return emulator, Caller(
                app_only=False, permissions=frozenset(scopes), roles=frozenset(claims.get("wids") or [])
            )
        roles = claims.get("roles") or []
        return emulator, Caller(app_only=claims.get("idtyp") == "app", permissions=frozenset(roles))


def _unverified_issuer(assertion: str) -> str | None:
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def _tenant_not_found(tenant_id: str) -> tuple[int, dict[str, Any]]:
    return aadsts(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud.",
    )


# ------------------------------------------------------------------------------------------ server


def _handler(cloud: EmulatedCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, every answer would wait
        # ~40 ms for the client's delayed ACK, a latency Graph does not add and every test would pay.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            if self.command == "GET" and segments == ["metadata", "endpoints"]:
                query = dict(parse_qsl(parts.query))
                if query.get("api-version") != METADATA_API_VERSION:
                    self._send(400, {}, {"error": {"code": "InvalidApiVersion", "message": "unsupported api-version"}})
                else:
                    self._send(200, {}, cloud.metadata())
                return
            if self.command == "GET" and segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                status, answer = cloud.openid_configuration(segments[0])
                self._send(status, {}, answer)
                return
            if self.command == "POST" and len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "devicecode"]:
                form = dict(parse_qsl(body.decode()))
                status, answer = cloud.sign_ins.start_device_code(segments[0], form)
                self._send(status, {}, answer)
                return
            if self.command == "GET" and len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "authorize"]:
                status, headers, page = cloud.sign_ins.authorize(segments[0], dict(parse_qsl(parts.query)))
                data = page.encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                return
            if self.command == "POST" and len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
                form = dict(parse_qsl(body.decode()))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = cloud.issue_token(segments[0], form, headers)
                self._send(status, {}, answer)
                return
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
            routed = cloud.route(token) if token else "Access token is empty."
            if isinstance(routed, str):
                status, headers, payload = _error(401, "InvalidAuthenticationToken", routed)
            else:
                emulator, caller = routed
                status, headers, payload = emulator.handle(
                    self.command, self.path, body, headers=dict(self.headers.items()), caller=caller
                )
            self._send(status, headers, payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def serve_cloud(
    tenants: Iterable[FakeTenant],
    published_apps: dict[str, str] | None = None,
    automation: AutomationApp | None = None,
    page_size: int = 100,
    roles: Iterable[str] = AUTOMATION_ROLES,
    partner: Partner | None = None,
    unconnected: Iterable[str] = (),
) -> Iterator[EmulatedCloud]:
    """Serve ``tenants`` over https on an ephemeral port; each gets the automation identity with ``roles``
    (unless it has one already, or its id is in ``unconnected``: nobody has put the automation app there yet)
    and sees ``published_apps`` (multi-tenant apps registered elsewhere, app id -> name; the automation app is
    one). ``partner``: the MSP's tenant (one of ``tenants``) with its GDAP relationships and engineers.
    Clients must trust ``cloud.certificates`` (``trust_environment()``)."""
    automation = automation or AutomationApp()
    left_out = {tenant_id.lower() for tenant_id in unconnected}
    emulators: dict[str, GraphEmulator] = {}
    for tenant in tenants:
        tenant.published_apps.update({k.lower(): v for k, v in (published_apps or {}).items()})
        tenant.published_apps.setdefault(automation.client_id.lower(), AUTOMATION_NAME)
        if (
            tenant.service_principal_by_app_id(automation.client_id) is None
            and tenant.tenant_id.lower() not in left_out
        ):
            tenant.add_automation_identity(automation.client_id, AUTOMATION_NAME, list(roles))
        emulator = GraphEmulator(tenant, page_size)
        emulator.partner = partner
        emulator.directory = partner.directory if partner is not None else None
        emulators[tenant.tenant_id.lower()] = emulator
    tls = certificates()
    cloud = EmulatedCloud(emulators, automation, tls, partner=partner)
    with serve_handler(_handler(cloud), "entra-cloud", tls.server_context()) as base_url:
        cloud.base_url = base_url
        for emulator in emulators.values():
            emulator.base_url = base_url
        yield cloud
