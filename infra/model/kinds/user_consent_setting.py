"""The tenant's user consent setting: the self-consent entry of the authorization policy.

Entra admin centre > Enterprise applications > Consent and permissions > User consent settings. One per
tenant (``user-consent-setting``), applied by the tool's own consent settings provider
(``infra.settings_provider``): pulumi-azuread has no resource for it. Only the
``ManagePermissionGrantsForSelf.*`` entry of ``defaultUserRolePermissions.permissionGrantPoliciesAssigned``
is changed; every other entry stays as found. The policy always exists, so there is nothing to import:
the first apply reads it, records it (output ``before``) and sets the file's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from taxcalc_consent.infra.model.consent_settings import USER_CONSENT_LABELS, UserConsent
from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

TYPE = "pulumi-python:dynamic/taxcalc-consent:UserConsentSetting"
"""``pulumi.dynamic.Resource`` subclass with module ``taxcalc-consent``, name ``UserConsentSetting``
(pulumi sdk/python/lib/pulumi/dynamic/dynamic.py, ``Resource.__init_subclass__``)."""
NAME = "user-consent-setting"
LABEL = "user consent setting"
SETTING_WORDS = "User consent for applications"
"""The admin centre's heading for the setting (Consent and permissions > User consent settings)."""
TENANT_WIDE = "tenant-wide"


def claims(name: str) -> bool:
    return name == NAME


def label(setting: object) -> str:
    """The admin centre's words for a setting value, quoted; the value itself when it is not one."""
    if setting is None:
        return "(not known)"
    words = USER_CONSENT_LABELS.get(cast(UserConsent, setting)) if isinstance(setting, str) else None
    return f"'{words}'" if words else f"'{setting}'"


def _before(outputs: Mapping[str, Any]) -> object:
    before = outputs.get("before")
    return before.get("setting") if isinstance(before, Mapping) else None


def describe(step: Step) -> str:
    new = step.new.get("setting")
    live = step.old_outputs.get("setting", step.old.get("setting"))
    if step.op == "delete":
        if step.drift:
            return f"{TENANT_WIDE}: {SETTING_WORDS} is no longer in the file: apply would leave it {label(live)}"
        if step.restore and _before(step.old_outputs) is not None:
            return (
                f"{TENANT_WIDE}: restore {SETTING_WORDS} to {label(_before(step.old_outputs))}, as it was before "
                f"the first apply (now {label(live)})"
            )
        return (
            f"{TENANT_WIDE}: stop managing {SETTING_WORDS}; it stays {label(live)} "
            f"(offboard --restore-consent-settings puts back {label(_before(step.old_outputs))})"
        )
    if step.drift:
        if step.op == "create":
            return f"{TENANT_WIDE}: {SETTING_WORDS} was never set by the tool; the file says {label(new)}"
        return (
            f"{TENANT_WIDE}: {SETTING_WORDS} is {label(live)} in the tenant (changed outside the file); "
            f"the file says {label(new)}"
        )
    if step.op in ("create", "import"):
        return (
            f"{TENANT_WIDE}: set {SETTING_WORDS} to {label(new)} (Enterprise applications > Consent and "
            "permissions; the setting found is recorded first, for offboard --restore-consent-settings)"
        )
    return f"{TENANT_WIDE}: change {SETTING_WORDS} from {label(live)} to {label(new)}"


KIND = ResourceKind(TYPE, LABEL, claims, describe)
