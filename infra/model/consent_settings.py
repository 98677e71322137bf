"""A tenant's consent settings in Entra's own terms, and what a user sees because of them.

Two tenant-wide settings decide what a user meets when an app asks for scopes nobody granted yet
(Entra admin centre > Enterprise applications > Consent and permissions):
- the user consent setting: the ``ManagePermissionGrantsForSelf.*`` entries of the authorization policy's
  ``defaultUserRolePermissions.permissionGrantPoliciesAssigned``
  (https://learn.microsoft.com/entra/identity/enterprise-apps/configure-user-consent);
- the admin consent workflow: the ``adminConsentRequestPolicy``, whose reviewers are Microsoft Graph
  queries (https://learn.microsoft.com/graph/api/resources/adminconsentrequestpolicy).

Pure data and functions, shared by the tenant file model's checks, the plan, the rules, the kinds, the
consent settings provider and ``audit``: one vocabulary for the file, the plan, the preview and the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from taxcalc_consent.infra.model.catalog import graph_catalog
from taxcalc_consent.infra.model.guid import GUID_PATTERN

UserConsent = Literal["disabled", "verified-publishers-low-impact", "all", "microsoft-managed", "custom"]
"""The user consent setting as read from a tenant (``custom``: a consent policy of the tenant's own)."""
ManagedUserConsent = Literal["disabled", "verified-publishers-low-impact", "microsoft-managed", "all"]
"""The admin centre's choices a tenant file may set."""
MANAGED_USER_CONSENT: tuple[ManagedUserConsent, ...] = (
    "disabled",
    "verified-publishers-low-impact",
    "microsoft-managed",
    "all",
)
LEAVE_AS_IS = "leave-as-is"
RESTORE_ENV = "TAXCALC_CONSENT_RESTORE_CONSENT_SETTINGS"
"""Set to ``1`` in the engine's environment by ``offboard --restore-consent-settings``: deleting a consent
settings resource then puts back what the tenant had before the first apply, instead of leaving it."""
"""What a tenant file writes (or leaves unwritten) for a setting the tool must not touch."""

Experience = Literal["no prompt", "consent prompt", "admin approval required", "unknown"]
"""What a user sees when TaxCalc-Hub asks for its scopes; ``unknown`` when a setting the file leaves as it
is decides it, so only the tenant (``audit``) can say."""

SELF_CONSENT_PREFIX = "managepermissiongrantsforself."
"""Compared case-insensitively: Graph's own examples write ``managePermissionGrantsForSelf.``
(https://learn.microsoft.com/entra/identity/enterprise-apps/configure-user-consent)."""
SELF_CONSENT_WRITTEN = "ManagePermissionGrantsForSelf."
"""How the tool writes the prefix: as Graph returns it when read, so a write reads back unchanged."""
LEGACY_POLICY = "microsoft-user-default-legacy"
LOW_IMPACT_POLICY = "microsoft-user-default-low"
RECOMMENDED_POLICY = "microsoft-user-default-recommended"
"""Built-in policy "Permissions consentable based on Microsoft's current recommendations"; the admin
centre's "Let Microsoft manage your consent settings"."""

USER_CONSENT_LABELS: dict[UserConsent, str] = {
    "disabled": "Do not allow user consent",
    "verified-publishers-low-impact": "Allow user consent for apps from verified publishers, for selected permissions",
    "all": "Allow user consent for apps",
    "microsoft-managed": "Let Microsoft manage your consent settings",
    "custom": "Custom app consent policy",
}
"""The admin centre's words for each setting (Enterprise apps > Consent and permissions > User consent settings)."""

SELF_CONSENT_POLICIES: dict[ManagedUserConsent, tuple[str, ...]] = {
    # configure-user-consent ("Disable user consent": no ManagePermissionGrantsForSelf.* entry; "Allow user
    # consent subject to an app consent policy": one entry naming the built-in policy).
    "disabled": (),
    "verified-publishers-low-impact": (SELF_CONSENT_WRITTEN + LOW_IMPACT_POLICY,),
    "microsoft-managed": (SELF_CONSENT_WRITTEN + RECOMMENDED_POLICY,),
    "all": (SELF_CONSENT_WRITTEN + LEGACY_POLICY,),
}
"""The self-consent entries each choice leaves in ``permissionGrantPoliciesAssigned``."""


def is_self_consent(entry: str) -> bool:
    return entry.lower().startswith(SELF_CONSENT_PREFIX)


def classify_user_consent(policies: Iterable[str]) -> tuple[UserConsent, list[str]]:
    """authorizationPolicy.defaultUserRolePermissions.permissionGrantPoliciesAssigned -> the admin centre's setting.

    "Do not allow user consent" leaves no ManagePermissionGrantsForSelf.* entry (others, such as
    ManagePermissionGrantsForOwnedResource.DeveloperConsent, may remain). Prefix and policy ids compare
    case-insensitively; the ids are reported as Graph spelled them.
    """
    own = [p[len(SELF_CONSENT_PREFIX) :] for p in policies if is_self_consent(p)]
    ids = [p.lower() for p in own]
    if not own:
        return "disabled", []
    if LEGACY_POLICY in ids:
        return "all", own
    if ids == [LOW_IMPACT_POLICY]:
        return "verified-publishers-low-impact", own
    if RECOMMENDED_POLICY in ids:
        # Tenants seen with this setting also list microsoft-user-default-allow-consent-apps beside it; the
        # built-in recommended policy is what names the setting.
        return "microsoft-managed", own
    return "custom", own


def with_user_consent(assigned: Sequence[str], setting: ManagedUserConsent) -> list[str]:
    """``permissionGrantPoliciesAssigned`` with the user consent setting ``setting`` and every other entry
    (``ManagePermissionGrantsForOwnedResource.*`` and the like) exactly as found, in its place.

    A list that already says ``setting`` comes back unchanged, whatever its spelling: Graph compares
    these values case-insensitively, so rewriting ``managePermissionGrantsForSelf.`` would change nothing.
    """
    if classify_user_consent(assigned)[0] == setting:
        return list(assigned)
    return [*SELF_CONSENT_POLICIES[setting], *(entry for entry in assigned if not is_self_consent(entry))]


def with_self_consent_entries(assigned: Sequence[str], entries: Sequence[str]) -> list[str]:
    """``assigned`` with its self-consent entries replaced by ``entries`` (recorded earlier, as Graph spelled
    them), every other entry as found: how a recorded setting is put back."""
    return [*entries, *(entry for entry in assigned if not is_self_consent(entry))]


def self_consent_entries(assigned: Iterable[str]) -> list[str]:
    return [entry for entry in assigned if is_self_consent(entry)]


def same_entries(first: Iterable[str], second: Iterable[str]) -> bool:
    """Whether two ``permissionGrantPoliciesAssigned`` lists hold the same entries (case-insensitive, any order)."""
    return sorted(e.lower() for e in first) == sorted(e.lower() for e in second)


# ------------------------------------------------------------------------------- admin consent workflow

ReviewerType = Literal["user", "group", "role"]

REVIEWER_QUERY_TYPE = "MicrosoftGraph"
"""accessReviewReviewerScope.queryType for every reviewer the admin centre sets
(https://learn.microsoft.com/graph/api/resources/accessreviewreviewerscope)."""

DEFAULT_REQUEST_DAYS = 30
MAX_REQUEST_DAYS = 30
"""The admin centre's "Consent request expires after (days)" offers 1 to 30 (its default 30). Graph's
docs give no range for requestDurationInDays; the tool keeps to the admin centre's."""

DIRECTORY_ROLES: dict[str, str] = {
    # Built-in role template ids (https://learn.microsoft.com/entra/identity/role-based-access-control/
    # permissions-reference): the roles that can grant admin consent, which reviewers need to approve.
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
}
"""Directory roles a tenant file may name as reviewers; any other role by its role definition id."""

ROLE_NAMES = {role_id: name for name, role_id in DIRECTORY_ROLES.items()}

_USER_QUERY = re.compile(rf"^/users/({GUID_PATTERN})$")
_GROUP_QUERY = re.compile(rf"^/groups/({GUID_PATTERN})/transitiveMembers/microsoft\.graph\.user$", re.IGNORECASE)
_ROLE_QUERY = re.compile(
    rf"^(?:/beta|/v1\.0)?/roleManagement/directory/roleAssignments\?\$filter=roleDefinitionId\s+eq\s+'({GUID_PATTERN})'$",
    re.IGNORECASE,
)


def reviewer_query(reviewer_type: ReviewerType, object_id: str) -> str:
    """The Graph query that names one reviewer, in the forms the admin centre writes: a user by id, a group's
    users (transitive members, cast to user), or everyone assigned a directory role. The role form is the
    admin centre's ``/beta/...`` path, read back as such by Microsoft365DSC
    (MSFT_AADAdminConsentRequestPolicy.psm1, Get-TargetResource)."""
    if reviewer_type == "user":
        return f"/users/{object_id.lower()}"
    if reviewer_type == "group":
        return f"/groups/{object_id.lower()}/transitiveMembers/microsoft.graph.user"
    return f"/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{object_id.lower()}'"


def parse_reviewer_query(query: str) -> tuple[ReviewerType, str] | None:
    """(type, object id) of a reviewer query in one of the admin centre's forms; None for any other query."""
    text = query.strip()
    for reviewer_type, pattern in (("user", _USER_QUERY), ("group", _GROUP_QUERY), ("role", _ROLE_QUERY)):
        found = pattern.match(text)
        if found:
            return reviewer_type, found.group(1).lower()  # type: ignore[return-value]
    return None


def describe_reviewer(reviewer_type: ReviewerType, object_id: str, shown: str | None = None) -> str:
    """A reviewer in words: ``user alice@contoso.com``, ``group Consent Reviewers``, ``role Global Administrator``."""
    if reviewer_type == "role":
        return f"role {ROLE_NAMES.get(object_id.lower(), shown or object_id)}"
    return f"{reviewer_type} {shown or object_id}"


# ------------------------------------------------------------------------------------- the user's view


def predict_experience(
    requested: Sequence[str],
    granted: Iterable[str],
    consent: UserConsent | None,
    admin_consent_workflow: bool | None,
    assignment_required: bool = False,
) -> tuple[Experience, str]:
    """What a user sees when TaxCalc-Hub asks for ``requested`` and their grants hold ``granted``.

    ``consent`` or ``admin_consent_workflow`` None: the setting is not known here (a tenant file that leaves
    it as it is, planned offline); the prediction then says what it depends on.
    """
    held = set(granted)
    missing = [s for s in requested if s not in held]
    if not missing:
        return "no prompt", "the grants cover every scope TaxCalc-Hub requests at sign-in"
    catalog = graph_catalog()
    need_admin = [s for s in missing if (p := catalog.get("delegated", s)) is None or p.admin_consent]
    not_low = [s for s in missing if (p := catalog.get("delegated", s)) is None or p.risk != "low"]
    missing_text = ", ".join(missing)
    if admin_consent_workflow is None:
        wall = "whether the user can request approval depends on the admin consent workflow, left as it is"
    elif admin_consent_workflow:
        wall = "the user can request approval (admin consent workflow is on)"
    else:
        wall = "the user sees Need admin approval and cannot request it (admin consent workflow is off)"
    if assignment_required:
        # https://learn.microsoft.com/entra/identity/enterprise-apps/configure-user-consent: "Applications that
        # require users to be assigned to the application must have their permissions consented by an
        # administrator, even if the user consent policies ... would otherwise allow" it.
        return (
            "admin approval required",
            f"a user cannot consent for themselves to an app that requires assignment: an administrator must "
            f"grant {missing_text}; {wall}",
        )
    if need_admin:
        return "admin approval required", f"{', '.join(need_admin)} need admin consent; {wall}"
    if consent is None:
        return (
            "unknown",
            f"not yet granted: {missing_text}; whether the user may consent depends on the tenant's user consent "
            "setting, which the file leaves as it is (audit reads it)",
        )
    if consent == "all":
        return "consent prompt", f"not yet granted: {missing_text}; user consent is allowed"
    if consent == "verified-publishers-low-impact" and not not_low:
        return (
            "consent prompt",
            f"not yet granted: {missing_text}; allowed if TaxCalc-Hub's publisher is verified and these are "
            "classified low impact",
        )
    if consent == "verified-publishers-low-impact":
        return "admin approval required", f"{', '.join(not_low)} are not low impact; {wall}"
    if consent == "microsoft-managed" and not not_low:
        return (
            "consent prompt",
            f"not yet granted: {missing_text}; Microsoft manages the consent settings: allowed if its current "
            "recommendations let users consent to these low-risk scopes (TaxCalc-Hub's publisher verified)",
        )
    if consent == "microsoft-managed":
        return (
            "admin approval required",
            f"{', '.join(not_low)} are not low risk, which Microsoft's managed consent settings leave to an "
            f"administrator; {wall}",
        )
    if consent == "custom":
        return "admin approval required", f"custom consent policies are not evaluated; not yet granted: {missing_text}"
    return "admin approval required", f"user consent is disabled; not yet granted: {missing_text}; {wall}"
