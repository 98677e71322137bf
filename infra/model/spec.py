"""The tenant file (format v1) as a pydantic model: types, formats and normalisation.

Cross-field and catalog checks that need to know where a value came from live in ``validation``;
this module only says what a well-formed tenant file looks like. A message may quote part of a value
(the GUID inside braces, the address after "mailto:") to say what to write instead; every message
passes through ``errors.redact`` before it is shown, so a secret pasted into the wrong key is not echoed.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
)

from taxcalc_consent.infra.model.characters import describe_char, invisible_char
from taxcalc_consent.infra.model.consent_settings import (
    DIRECTORY_ROLES,
    LEAVE_AS_IS,
    MAX_REQUEST_DAYS,
    ManagedUserConsent,
)
from taxcalc_consent.infra.model.errors import did_you_mean, quote
from taxcalc_consent.infra.model.guid import GUID_PATTERN, NIL_GUID, guid_problem, is_guid, looks_like_guid
from taxcalc_consent.infra.model.profiles import AuthMethod, ConsentMode

# A DNS name as Entra verifies one: ASCII letters, digits and hyphens, labels of at most 63, at least two labels.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# What Entra allows in a user principal name ("Username policies" in "Password policies and account
# restrictions in Microsoft Entra ID", https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy):
# A-Z a-z 0-9 and ' . - _ ! # ^ ~; one @, separating the username from the domain; no . right before the @;
# at most 64 characters before the @, 48 after it, 113 in all. Guest accounts (alice_fabrikam.com#EXT#@...)
# fit these rules too. Anything else (a space, a slash, "mailto:", a Cyrillic look-alike letter) is no UPN.
UPN_DOCS = "https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy#username-policies"
_UPN_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~")
_UPN_ALLOWED = "A-Z a-z 0-9 and ' . - _ ! # ^ ~"
# The same rules as one pattern, for the common case; user_ref_problem says what is wrong otherwise.
_UPN = re.compile(rf"[A-Za-z0-9'._!#^~-]{{0,63}}[A-Za-z0-9'_!#^~-]@(?=.{{1,48}}\Z)(?:{_LABEL}\.)+{_LABEL}", re.ASCII)


def _guid_validator(what: str, placeholder_hint: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = guid_problem(value, what)
        if problem is not None:
            raise ValueError(f"{problem}: {placeholder_hint}" if value == NIL_GUID else problem)
        return value.lower()

    return AfterValidator(check)


def user_ref_problem(value: str) -> str | None:
    """Why ``value`` is neither a user principal name Entra accepts nor an object id; None when it is one."""
    if looks_like_guid(value):
        return guid_problem(value, "user object id")
    if value != value.strip():
        return "remove the spaces or line break around the address"
    if value[:7].casefold() == "mailto:":
        return f"write the address without 'mailto:': {value[7:]}"
    hidden = invisible_char(value)
    if hidden is not None:
        return hidden
    if "@" not in value:
        return "expected a user principal name (alice@contoso.com) or an object id (GUID)"
    local, _, domain = value.rpartition("@")
    for index, char in enumerate(local):
        if char == "@":
            return "a user principal name has one @, between the username and the domain"
        if char not in _UPN_LOCAL_CHARS:
            what = describe_char(char) if not char.isascii() else repr(char)
            look_alike = " (a letter from another alphabet is a different address)" if char.isalpha() else ""
            return (
                f"{what} at position {index + 1} is not allowed in a user principal name{look_alike}: "
                f"Entra allows {_UPN_ALLOWED} before the @"
            )
    if not local:
        return "nothing before the @: write the whole user principal name, such as alice@contoso.com"
    if local.endswith("."):
        return "Entra does not allow a . right before the @; check the address"
    if len(local) > 64:
        return f"{len(local)} characters before the @; Entra allows at most 64"
    if len(domain) > 48:
        return f"{len(domain)} characters after the @; Entra allows at most 48"
    return _domain_problem(domain, after_at=True)


def _user_ref(value: str) -> str:
    if _UPN.fullmatch(value) is not None:
        return value.lower()
    problem = user_ref_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.lower()


def _group_ref(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("expected a group display name or object id, not an empty string")
    if looks_like_guid(value):
        problem = guid_problem(value, "group object id")
        if problem is not None:
            raise ValueError(problem)
        return value.lower()
    if len(value) > 256:
        raise ValueError(f"{len(value)} characters; Entra group display names have at most 256")
    return value


def _domain_problem(value: str, after_at: bool = False) -> str | None:
    where = "after the @, " if after_at else ""
    for char in value:
        if not char.isascii():
            return (
                f"{where}{describe_char(char)} is not allowed in a domain name here: retype it in plain ASCII "
                "(a look-alike letter is a different domain; an internationalised domain goes in its xn-- form)"
            )
    if _DOMAIN.fullmatch(value) is None:
        return f"{where}expected a domain name such as contoso.com (letters, digits and -, labels joined by .)"
    return None


def domain_problem(value: str) -> str | None:
    """Why ``value`` is not a domain name such as contoso.com; None when it is."""
    return _domain_problem(value)


def _domain(value: str) -> str:
    problem = _domain_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.lower()


def _env_var_name(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
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


def _rule_id(value: str) -> str:
    if _RULE_ID.fullmatch(value) is None:
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")
        hint = f"; did you mean {quote(suggestion)}?" if suggestion and suggestion != value else ""
        raise ValueError(f"expected a policy rule id: lower-case words joined by -, such as high-risk-app-roles{hint}")
    return value


_RELATIONSHIP_ID = re.compile(rf"{GUID_PATTERN}(?:-{GUID_PATTERN})?")


def _relationship_id(value: str) -> str:
    # Graph's examples: "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836"
    # (https://learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadminrelationships).
    if _RELATIONSHIP_ID.fullmatch(value) is None:
        raise ValueError(
            "expected a GDAP relationship id as Partner Center and discover write it: a GUID, or two joined by -"
        )
    return value.lower()


RelationshipId = Annotated[
    str,
    AfterValidator(_relationship_id),
    WithJsonSchema({"type": "string", "pattern": f"^{_RELATIONSHIP_ID.pattern}$"}),
]
TenantId = Annotated[
    str, _guid_validator("tenant id", "copy the Directory (tenant) ID from Entra admin centre > Identity > Overview")
]
AppId = Annotated[
    str,
    _guid_validator(
        "application id",
        "copy TaxCalc-Hub's Application ID from Entra admin centre > Enterprise applications in a tenant using it",
    ),
]
AutomationAppId = Annotated[
    str, _guid_validator("application id", "copy the automation app's Application (client) ID from its registration")
]
UserRef = Annotated[str, AfterValidator(_user_ref)]
GroupRef = Annotated[str, AfterValidator(_group_ref)]
Domain = Annotated[str, AfterValidator(_domain)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name)]
RedirectUri = Annotated[str, AfterValidator(_redirect_uri)]
RuleId = Annotated[str, AfterValidator(_rule_id), WithJsonSchema({"type": "string", "pattern": _RULE_ID.pattern})]
Enforcement = Literal["mandatory", "advisory", "disabled"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelationshipSection(_Section):
    id: RelationshipId = Field(
        description="The GDAP relationship (delegatedAdminRelationship) through which the MSP reaches this tenant."
    )
    ends: StrictDate | None = Field(default=None, description="YYYY-MM-DD: when it ends, as discover read it.")


class TenantInfo(_Section):
    id: TenantId = Field(description="Entra tenant (directory) id.")
    name: str | None = Field(default=None, description="Display name, for people.")
    domain: Domain | None = Field(default=None, description="Primary domain, for people.")
    relationship: RelationshipSection | None = Field(
        default=None,
        description="The MSP's GDAP relationship with this client (written by discover): plan and apply under an "
        "engineer's sign-in check it first.",
    )


class AppSection(_Section):
    profile: str = Field(default="taxcalc-hub", description="Built-in application profile.")
    client_id: AppId | None = Field(
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
    client_id: AutomationAppId | None = Field(default=None, description="The automation identity's client id.")
    client_secret_env: EnvVarName | None = Field(
        default=None, description="Name of the environment variable holding the client secret."
    )


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _strict_date(value: object) -> object:
    """A calendar date, written YYYY-MM-DD (YAML reads it as a date; quoted, it is text of that form), and
    nothing else: pydantic would take a number as a Unix timestamp (1735689600: 2024-12-31) and a date-time
    whose time is midnight as its date, so an exception could expire on a day nobody wrote."""
    if isinstance(value, datetime):
        raise ValueError("expected a date as YYYY-MM-DD, without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("expected a real date as YYYY-MM-DD") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("expected a date as YYYY-MM-DD, not a number (a Unix timestamp is not read as a date)")
    raise ValueError("expected a date as YYYY-MM-DD")


def _not_blank(what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"{what}, not {'an empty text' if not value else 'only blanks'}")
        return value

    return AfterValidator(check)


StrictDate = Annotated[date, BeforeValidator(_strict_date), WithJsonSchema({"type": "string", "format": "date"})]


class PolicyException(_Section):
    rule: RuleId
    permission: Annotated[str, _not_blank("expected the permission the exception is for")] = Field(
        json_schema_extra={"pattern": r"\S"}
    )
    reason: Annotated[
        str, _not_blank("expected the reason for the exception (who approved it and why, e.g. a change number)")
    ] = Field(json_schema_extra={"pattern": r"\S"})
    expires: StrictDate = Field(description="YYYY-MM-DD; an expired exception is itself a violation.")


class Acknowledgement(_Section):
    """An advisory rule's warning, read and accepted for this tenant: it stops repeating until ``expires``."""

    rule: RuleId = Field(description="An advisory rule's id, such as tenant-wide-consent.")
    reason: Annotated[
        str, _not_blank("expected why the warning is accepted for this tenant (who decided, and why)")
    ] = Field(json_schema_extra={"pattern": r"\S"})
    expires: StrictDate = Field(description="YYYY-MM-DD; after it, the warning shows again.")


ConsentSettingKey = Literal["user_consent", "admin_consent_workflow"]


class PolicyConfig(_Section):
    """Consent policy settings; allowed in _defaults.yaml only, so a tenant cannot loosen its own policy."""

    allowed_scopes: list[str] | None = Field(
        default=None, description="Delegated scopes any tenant may grant; default: the profile's scopes."
    )
    enforcement: dict[RuleId, Enforcement] = Field(
        default_factory=dict, description="Per-rule level: mandatory, advisory or disabled."
    )
    consent_settings_in_tenant_files: list[ConsentSettingKey] = Field(
        default_factory=list,
        description="Which consent_settings keys a tenant file may set or override; default: none, so the "
        "tenant-wide consent settings are set in _defaults.yaml only.",
    )
    acknowledgeable: list[RuleId] | None = Field(
        default=None,
        description="Which advisory rules a tenant file may acknowledge (tenant files' acknowledged: list); "
        "default: every advisory rule. [] lets none be acknowledged.",
    )
    client_id_in_tenant_files: StrictBool = Field(
        default=False,
        description="Whether a tenant file may replace the app.client_id this _defaults.yaml sets; default: no, so "
        "consent goes to the application reviewed here.",
    )


# ------------------------------------------------------------------------------------ consent settings
# Tenant-wide: Entra admin centre > Enterprise applications > Consent and permissions. Absent (or
# leave-as-is) means the tool never touches the setting.


def _role_ref(value: str) -> str:
    text = value.strip()
    if is_guid(text):
        return text.lower()
    by_fold = {name.casefold(): name for name in DIRECTORY_ROLES}
    if text.casefold() in by_fold:
        return by_fold[text.casefold()]
    hint = did_you_mean(text, DIRECTORY_ROLES, known="known roles")
    raise ValueError(f"unknown directory role{hint}; or give the role's definition id (a GUID)")


def _leave_as_is(value: object) -> object:
    """``leave-as-is`` for the workflow means no mapping at all: the tool leaves the policy untouched."""
    if value == LEAVE_AS_IS:
        return None
    if value is not None and not isinstance(value, dict):
        # YAML reads a bare off/no/false as a boolean: say what the key takes instead of "not a mapping".
        raise ValueError(f"expected {LEAVE_AS_IS}, or a mapping with enabled: true or false")
    return value


RoleRef = Annotated[str, AfterValidator(_role_ref)]
UserConsentChoice = Literal["leave-as-is", "disabled", "verified-publishers-low-impact", "microsoft-managed", "all"]


class ReviewersSection(_Section):
    users: list[UserRef] = Field(default_factory=list, description="UPNs or object ids (tenant files only).")
    groups: list[GroupRef] = Field(
        default_factory=list, description="Display names or object ids: every user in the group, nested ones too."
    )
    roles: list[RoleRef] = Field(
        default_factory=list,
        description="Directory roles by name (" + ", ".join(DIRECTORY_ROLES) + ") or role definition id.",
    )

    @property
    def count(self) -> int:
        return len(self.users) + len(self.groups) + len(self.roles)


KEPT = "Not set: kept as the tenant has it."


class AdminConsentWorkflowSection(_Section):
    """The admin consent workflow: the file owns the keys it names; the others stay as the tenant has them."""

    # Graph's update is a PUT of the whole policy (https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-
    # update), so the tool reads the policy, lays the named keys over it and writes it back
    # (infra/program/settings_provider).

    enabled: StrictBool = Field(description="Users can request admin consent to apps they are unable to consent to.")
    reviewers: ReviewersSection | None = Field(
        default=None,
        description="Who reviews requests: users, groups or directory roles; named, they replace the tenant's "
        f"reviewers. {KEPT}",
    )
    notify_reviewers: StrictBool | None = Field(
        default=None, description=f"Reviewers get an email for each request. {KEPT}"
    )
    reminders: StrictBool | None = Field(
        default=None, description=f"Reviewers get reminders before a request expires. {KEPT}"
    )
    request_expires_in_days: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_REQUEST_DAYS,
        description=f"Consent request expires after (days): 1 to {MAX_REQUEST_DAYS}. {KEPT}",
    )


class ConsentSettingsSection(_Section):
    """The tenant's own consent settings, which apply to every app, not only TaxCalc-Hub."""

    user_consent: UserConsentChoice = Field(
        default="leave-as-is",
        description="User consent for applications: disabled, verified-publishers-low-impact, microsoft-managed, "
        "all, or leave-as-is (the default: the tool does not touch it).",
    )
    admin_consent_workflow: Annotated[AdminConsentWorkflowSection | None, BeforeValidator(_leave_as_is)] = Field(
        default=None,
        description="The admin consent workflow, or leave-as-is (the default: the tool does not touch it).",
    )

    @property
    def managed_user_consent(self) -> ManagedUserConsent | None:
        """The setting the file asks for; None when it leaves the tenant's as it is."""
        return None if self.user_consent == LEAVE_AS_IS else self.user_consent  # type: ignore[return-value]


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
    acknowledged: list[Acknowledgement] = Field(
        default_factory=list,
        description="Advisory warnings read and accepted for this tenant, each with a reason and an expiry.",
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    consent_settings: ConsentSettingsSection = Field(
        default_factory=ConsentSettingsSection,
        description="Tenant-wide consent settings (Enterprise applications > Consent and permissions); "
        "absent means left as they are.",
    )
