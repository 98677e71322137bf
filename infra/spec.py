"""The tenant file (format v1) as a pydantic model: types, formats and normalisation.

Cross-field and catalog checks that need to know where a value came from live in ``loader``;
this module only says what a well-formed tenant file looks like. Validation messages never
include the offending value, so a secret pasted into the wrong key is not echoed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from taxcalc_consent.infra.profiles import ConsentMode

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UPN = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# C0 controls have no Unicode name; these are the ones people meet in pasted text.
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED", 0x1B: "ESC"}


def describe_char(char: str) -> str:
    """A character named so a person can find it even when it is invisible: "U+200B (ZERO WIDTH SPACE)"."""
    code = ord(char)
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code, "")
    if not name:
        name = "a control character" if unicodedata.category(char) == "Cc" else "an unnamed character"
    return f"U+{code:04X} ({name})"


# Characters that print as nothing, or as something else: format characters (zero-width space, joiners,
# bidirectional overrides), controls, line and paragraph separators, private-use and unassigned code points.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def invisible_char(value: str) -> str | None:
    """A message naming the first invisible character in ``value``, or None when there is none."""
    for index, char in enumerate(value):
        if char not in _ALLOWED_CONTROLS and unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return (
                f"contains the invisible character {describe_char(char)} at position {index + 1}: "
                "delete it (retype the value rather than pasting it)"
            )
    return None


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def _guid(value: str) -> str:
    if not is_guid(value):
        raise ValueError("expected a GUID such as 00000000-0000-0000-0000-000000000000")
    return value.lower()


def _user_ref(value: str) -> str:
    if is_guid(value) or _UPN.match(value):
        return value.lower()
    raise ValueError("expected a user principal name (alice@contoso.com) or an object id (GUID)")


def _group_ref(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("expected a group display name or object id, not an empty string")
    return value.lower() if is_guid(value) else value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError("expected a domain name such as contoso.com")
    return value.lower()


def _env_var_name(value: str) -> str:
    if not _ENV_VAR.match(value):
        raise ValueError(
            "expected the NAME of an environment variable (letters, digits, _) that holds the secret, "
            "never the secret itself"
        )
    return value


def _redirect_uri(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    local = parts.hostname in {"localhost", "127.0.0.1"}
    if not parts.netloc or parts.scheme not in ({"https", "http"} if local else {"https"}):
        raise ValueError("expected an absolute https:// URL (http:// only for localhost)")
    return value


Guid = Annotated[str, AfterValidator(_guid)]
UserRef = Annotated[str, AfterValidator(_user_ref)]
GroupRef = Annotated[str, AfterValidator(_group_ref)]
Domain = Annotated[str, AfterValidator(_domain)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name)]
RedirectUri = Annotated[str, AfterValidator(_redirect_uri)]
RuleId = Annotated[str, Field(pattern=_RULE_ID.pattern)]
AuthMethod = Literal["cli", "client-secret", "oidc", "msi"]
Enforcement = Literal["mandatory", "advisory", "disabled"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantInfo(_Section):
    id: Guid = Field(description="Entra tenant (directory) id.")
    name: str | None = Field(default=None, description="Display name, for people.")
    domain: Domain | None = Field(default=None, description="Primary domain, for people.")


class AppSection(_Section):
    profile: str = Field(default="taxcalc-hub", description="Built-in application profile.")
    client_id: Guid | None = Field(
        default=None,
        description="The app's application (client) id; required unless the profile or defaults give it.",
    )
    # Named register_app in Python: BaseModel's metaclass already has a ``register`` attribute.
    register_app: StrictBool = Field(
        default=False,
        alias="register",
        description="Create the multi-tenant app registration in this tenant (home or lab tenants).",
    )
    redirect_uris: list[RedirectUri] = Field(default_factory=list, description="Only with register: true.")


class ConsentSection(_Section):
    mode: ConsentMode = Field(description="organization: one AllPrincipals grant; users: one Principal grant per user.")
    scopes: list[str] | None = Field(default=None, description="Delegated Graph scopes; default: the profile's.")
    users: list[UserRef] = Field(default_factory=list, description="users mode: UPNs or object ids.")
    groups: list[GroupRef] = Field(default_factory=list, description="users mode: every user member gets a grant.")
    app_roles: list[str] = Field(default_factory=list, description="Graph application permissions (policy-guarded).")


class AccessSection(_Section):
    assignment_required: StrictBool = Field(default=False, description="Only assigned users and groups may sign in.")
    users: list[UserRef] = Field(default_factory=list)
    groups: list[GroupRef] = Field(default_factory=list)


class AuthSection(_Section):
    method: AuthMethod | None = Field(default=None, description="Default: from the environment.")
    client_id: Guid | None = Field(default=None, description="The automation identity's client id.")
    client_secret_env: EnvVarName | None = Field(
        default=None, description="Name of the environment variable holding the client secret."
    )


class PolicyException(_Section):
    rule: RuleId
    permission: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date = Field(description="YYYY-MM-DD; an expired exception is itself a violation.")


class PolicyConfig(_Section):
    """Consent policy settings; allowed in _defaults.yaml only, so a tenant cannot loosen its own policy."""

    allowed_scopes: list[str] | None = Field(
        default=None, description="Delegated scopes any tenant may grant; default: the profile's scopes."
    )
    enforcement: dict[RuleId, Enforcement] = Field(
        default_factory=dict, description="Per-rule level: mandatory, advisory or disabled."
    )


class TenantSpec(_Section):
    """One client tenant: what TaxCalc-Hub may do there, and who may use it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="taxcalc-consent tenant file (v1)",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    tenant: TenantInfo
    app: AppSection = Field(default_factory=AppSection)
    consent: ConsentSection
    access: AccessSection = Field(default_factory=AccessSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    exceptions: list[PolicyException] = Field(default_factory=list)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
