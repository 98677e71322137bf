"""An engineer's interactive sign-in at the emulated cloud: the device code flow and the authorization code flow.

What azure-identity's ``DeviceCodeCredential`` and ``InteractiveBrowserCredential`` (MSAL's public client) ask of
Entra, and what a person at a browser does in between:
- device code (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code): ``POST
  /{tenant}/oauth2/v2.0/devicecode`` with ``client_id`` and ``scope`` gives ``device_code``, ``user_code``,
  ``verification_uri``, ``expires_in``, ``interval`` and ``message``; the client then polls the token endpoint with
  ``grant_type=urn:ietf:params:oauth:grant-type:device_code``, answered ``authorization_pending`` (AADSTS70016)
  until the person has entered the code and signed in, ``authorization_declined`` when they declined,
  ``expired_token`` (AADSTS70019 CodeExpired) after ``expires_in``, ``bad_verification_code`` (AADSTS70018
  BadVerificationCode) for a code Entra never gave; the AADSTS numbers from
  https://learn.microsoft.com/entra/identity-platform/reference-error-codes, which lists none for a declined
  request (70017 here is a stand-in);
- authorization code with PKCE (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow):
  the browser opens ``GET /{tenant}/oauth2/v2.0/authorize?client_id&response_type=code&redirect_uri&scope&state
  &code_challenge&code_challenge_method=S256``; once the person has signed in, Entra redirects to
  ``redirect_uri?code=…&state=…``; the client redeems the code at the token endpoint with the same
  ``redirect_uri`` and the ``code_verifier`` whose SHA-256 is the challenge (AADSTS501481 when it does not match,
  AADSTS70000 for a code that is unknown, used or expired: codes are single use, ten minutes at most);
- both answer, on success, an access token for the one resource the ``.default`` scope names, an ``id_token``
  (``openid``), a ``refresh_token`` (``offline_access``) and ``client_info`` (MSAL asks ``client_info=1``:
  base64url JSON ``{"uid": <object id>, "utid": <home tenant>}``, from which it keys its cache). Signed in at
  ``organizations`` (or ``common``), the tokens are for the person's home tenant.
The scopes ``openid``, ``profile`` and ``offline_access`` may ride along with a resource's ``.default`` (MSAL always
adds them); a second resource's scope is refused (AADSTS28000: one resource per token).

A client tenant's token then comes from the refresh token at that tenant's token endpoint (the refresh grant in
``entra_cloud``), as CIPP gets each GDAP client's (KelvinTegelaar/CIPP-API,
Modules/CIPPCore/Public/GraphHelper/Get-GraphToken.ps1).

Here the person is an ``Engineer`` of the MSP's tenant (tests/fakes/gdap.py). ``Person`` plays them: approving
each device code shown to them (as typing it at https://microsoft.com/devicelogin would) or, as their browser,
following the authorize URL with a session already signed in.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.fakes.gdap import AZURE_CLI_CLIENT_ID, Engineer

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
"""OpenID Connect scopes Entra takes beside a resource's (https://learn.microsoft.com/entra/identity-platform/scopes-oidc#openid-connect-scopes)."""
DEVICE_CODE_LIFETIME = 900
"""``expires_in`` of Entra's device code answer (the documented example: 900 seconds)."""
POLL_INTERVAL = 1
"""``interval``: Entra answers 5 seconds; 1 here keeps each test a second long, not five (MSAL waits as told)."""
CODE_LIFETIME = 600
"""An authorization code lives ten minutes at most (v2-oauth2-auth-code-flow, "Successful response")."""
VERIFICATION_URI = "https://microsoft.com/devicelogin"
"""Where the person enters the code (the documented ``verification_uri``)."""
ENTRA_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def aadsts(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
    """The token endpoint's error shape, for every flow the emulated cloud serves
    (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response)."""
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {text}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    authority_tenant: str
    expires_at: float
    approved_by: Engineer | None = None
    declined: bool = False
    redeemed: bool = False


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    authority_tenant: str
    engineer: Engineer
    expires_at: float
    nonce: str = ""
    """The authorize request's ``nonce``, which Entra puts in the id token (MSAL checks it)."""
    redeemed: bool = False


@dataclass
class UserSignIns:
    """The codes the cloud has handed out, and who has signed in against them."""

    device_codes: dict[str, DeviceCode] = field(default_factory=dict)
    authorization_codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    browser_session: Engineer | None = None
    """Who the browser is signed in as (Entra's session cookie): the authorize URL then needs no password."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------------------ device code flow

    def start_device_code(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client_id = form.get("client_id", "").lower()
        if client_id != AZURE_CLI_CLIENT_ID:
            # The public clients an engineer signs in with here: Microsoft Azure CLI's id, azure-identity's default.
            return aadsts(
                400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."
            )
        problem = scope_problem(form.get("scope", ""))
        if problem:
            return problem
        user_code = "".join(secrets.choice(ENTRA_USER_CODE_ALPHABET) for _ in range(9))
        device_code = secrets.token_urlsafe(32)
        with self._lock:
            self.device_codes[device_code] = DeviceCode(
                device_code, user_code, client_id, form["scope"], tenant, time.time() + DEVICE_CODE_LIFETIME
            )
        uri = VERIFICATION_URI
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_LIFETIME,
            "interval": POLL_INTERVAL,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
            "to authenticate.",
        }

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [d.user_code for d in self.device_codes.values() if d.approved_by is None and not d.declined]

    def enter_user_code(self, user_code: str, engineer: Engineer | None) -> None:
        """The person types the code at the verification page and signs in (``None``: they decline)."""
        with self._lock:
            for device in self.device_codes.values():
                if device.user_code == user_code:
                    device.approved_by, device.declined = engineer, engineer is None
                    return
        raise KeyError(user_code)

    def redeem_device_code(self, form: dict[str, str]) -> DeviceCode | tuple[int, dict[str, Any]]:
        with self._lock:
            device = self.device_codes.get(form.get("device_code", ""))
            if device is None or device.redeemed or device.client_id != form.get("client_id", "").lower():
                return aadsts(400, "bad_verification_code", 70018, "Invalid verification code.")
            if time.time() > device.expires_at:
                expired = "Verification code expired."
                return aadsts(400, "expired_token", 70019, expired)
            if device.declined:
                return aadsts(400, "authorization_declined", 70017, "The end user denied the authorization request.")
            if device.approved_by is None:
                return aadsts(
                    400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending."
                )
            device.redeemed = True
            return device

    # ----------------------------------------------------------------------- authorization code flow

    def authorize(self, tenant: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """The authorize endpoint, for a browser whose session is signed in: the answer's status, headers and page.

        ``response_mode=form_post`` (what azure-identity asks) answers a page whose form the browser posts to the
        redirect URI with ``code`` and ``state``; otherwise a redirect carries them in the query
        (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code)."""
        redirect_uri = query.get("redirect_uri", "")
        client_id = query.get("client_id", "").lower()
        if client_id != AZURE_CLI_CLIENT_ID or not redirect_uri.startswith(("http://localhost", "http://127.0.0.1")):
            # AADSTS50011: the redirect URI is not one registered for the public client (native apps use loopback).
            return 400, {}, "AADSTS50011: The redirect URI specified in the request does not match."
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, {}, "AADSTS900144: The request body must contain the following parameter: 'code_challenge'."
        engineer = self.browser_session
        state = query.get("state", "")
        if engineer is None or scope_problem(query.get("scope", "")):
            return _answer(redirect_uri, query.get("response_mode", ""), {"error": "access_denied", "state": state})
        code = secrets.token_urlsafe(32)
        with self._lock:
            self.authorization_codes[code] = AuthorizationCode(
                code,
                client_id,
                redirect_uri,
                query.get("scope", ""),
                query.get("code_challenge", ""),
                tenant,
                engineer,
                time.time() + CODE_LIFETIME,
                query.get("nonce", ""),
            )
        return _answer(redirect_uri, query.get("response_mode", ""), {"code": code, "state": state})

    def redeem_authorization_code(self, form: dict[str, str]) -> AuthorizationCode | tuple[int, dict[str, Any]]:
        with self._lock:
            granted = self.authorization_codes.get(form.get("code", ""))
            if (
                granted is None
                or granted.redeemed
                or time.time() > granted.expires_at
                or granted.client_id != form.get("client_id", "").lower()
                or granted.redirect_uri != form.get("redirect_uri", "")
            ):
                invalid = "The provided authorization code or refresh token is invalid."
                return aadsts(400, "invalid_grant", 70000, invalid)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != granted.challenge:
                return aadsts(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge.")
            granted.redeemed = True
            return granted


def _answer(redirect_uri: str, mode: str, fields: dict[str, str]) -> tuple[int, dict[str, str], str]:
    if mode == "form_post":
        inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}"/>' for k, v in fields.items())
        page = (
            f'<html><body onload="document.forms[0].submit()"><form method="POST" action="{html.escape(redirect_uri)}">'
            f"{inputs}</form></body></html>"
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page
    separator = "&" if "?" in redirect_uri else "?"
    return 302, {"Location": f"{redirect_uri}{separator}{urlencode(fields)}"}, ""


def scope_problem(scope: str) -> tuple[int, dict[str, Any]] | None:
    """One resource's ``.default`` and any OpenID Connect scopes, as Entra takes them for these clients."""
    resources = [s for s in scope.split() if s not in RESERVED_SCOPES]
    if len(resources) != 1:
        return aadsts(
            400,
            "invalid_request",
            28000,
            "Provided value for the input parameter scope is not valid because it contains more than one resource.",
        )
    return None


def resource_of(scope: str) -> str:
    """The resource a scope list names (its one non-OpenID scope, without ``/.default``)."""
    return next((s for s in scope.split() if s not in RESERVED_SCOPES), "").removesuffix("/.default")


def client_info(engineer: Engineer, home_tenant: str) -> str:
    raw = f'{{"uid":"{engineer.object_id}","utid":"{home_tenant}"}}'.encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Person:
    """The engineer at their browser, while a test runs the tool: each device code the tool shows them is entered
    and signed in for (or declined), as they would at the verification page."""

    sign_ins: UserSignIns
    engineer: Engineer | None
    """None: they decline."""
    seen: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Person:
        def watch() -> None:
            while not self._stop.wait(0.05):
                for user_code in self.sign_ins.pending_user_codes():
                    if user_code not in self.seen:
                        self.seen.append(user_code)
                        self.sign_ins.enter_user_code(user_code, self.engineer)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class Browser:
    """The engineer's browser, signed in to Entra already (``UserSignIns.browser_session``), as the tool's
    ``webbrowser.open`` reaches it: it loads the authorize URL and follows Entra's redirect to the tool's loopback
    listener, in its own thread, as a browser would while the tool waits."""

    opened: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def open(self, url: str, *_: object, **__: object) -> bool:
        self.opened.append(url)
        threading.Thread(target=self._visit, args=(url,), daemon=True).start()
        return True

    def _visit(self, url: str) -> None:
        try:
            with httpx.Client(timeout=30.0) as client:  # trusts the cloud's CA through SSL_CERT_FILE, as set
                answer = client.get(url)
                if answer.status_code == 302:
                    client.get(answer.headers["location"])
                    return
                form = re.search(r'<form method="POST" action="([^"]+)">', answer.text)
                if answer.status_code != 200 or form is None:
                    self.failures.append(f"authorize answered {answer.status_code}: {answer.text[:200]}")
                    return
                # The page's onload posts its form, as a browser runs it.
                fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"/>', answer.text))
                client.post(html.unescape(form.group(1)), data={k: html.unescape(v) for k, v in fields.items()})
        except httpx.HTTPError as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
