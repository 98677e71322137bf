"""The tool's own resources for a tenant's consent settings: a Pulumi dynamic provider over Microsoft Graph.

pulumi-azuread has no resource for the authorization policy's user consent setting or for the admin
consent request policy, so the program declares two of its own (``UserConsentSetting``,
``AdminConsentWorkflow``; their names, type tokens and words live in ``infra.kinds``). Each is a
``pulumi.dynamic.Resource``: the engine runs the provider below through the ``pulumi-resource-pulumi-python``
plugin, in a Python process started with the tool's own interpreter, which imports this module by name.
Why dynamic rather than a provider plugin of our own: docs/how-it-works.md, "The consent settings provider".

Both policies are singletons that always exist, so there is nothing to create or import: ``create`` reads
the policy, records it (output ``before``) and writes the file's values when they differ; ``read`` (refresh,
drift) reads it again; ``update`` writes what the file says now; ``delete`` (offboard, or the section removed
from the file) leaves the tenant as it is, unless ``offboard --restore-consent-settings`` asked to put the
recorded values back (``RESTORE_ENV`` in the engine's environment). Only the self-consent entry of
``permissionGrantPoliciesAssigned`` is ever changed; every other entry is written back as found. Likewise
only the workflow properties the file names are changed: the rest of the policy is written back as found.

The logic is written once over ``ConsentPolicies`` (the two policies' reads and writes): the provider runs
it against Graph (``infra.policy_writer``), the tests' mock runtime against the in-memory tenant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import pulumi
import pulumi.dynamic

from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.model.consent_settings import (
    DEFAULT_REQUEST_DAYS,
    MANAGED_USER_CONSENT,
    MAX_REQUEST_DAYS,
    RESTORE_ENV,
    REVIEWER_QUERY_TYPE,
    ManagedUserConsent,
    classify_user_consent,
    parse_reviewer_query,
    same_entries,
    self_consent_entries,
    with_self_consent_entries,
    with_user_consent,
)
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.kinds import admin_consent_workflow
from taxcalc_consent.infra.model.spec import AuthSection

if TYPE_CHECKING:
    from taxcalc_consent.infra.graph.policy_writer import PolicyWriter

AUTHORIZATION_POLICY_ID = "authorizationPolicy"
ADMIN_CONSENT_REQUEST_POLICY_ID = "adminConsentRequestPolicy"
"""The resources' ids: each policy's own name in Graph (one per tenant)."""


class ConsentPolicies(Protocol):
    """A tenant's two consent policies, read and written as Graph reads and writes them."""

    def permission_grant_policies_assigned(self) -> list[str]: ...

    def set_permission_grant_policies_assigned(self, assigned: list[str]) -> None: ...

    def admin_consent_request_policy(self) -> dict[str, Any]: ...

    def set_admin_consent_request_policy(self, policy: Mapping[str, Any]) -> None: ...


# ------------------------------------------------------------------------------- user consent setting


def apply_user_consent(
    policies: ConsentPolicies, inputs: Mapping[str, Any], state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Set the user consent setting ``inputs`` asks for; the outputs record what was there before: the
    ``state``'s record (an update), else what is read now (a create)."""
    before = state.get("before") if state is not None else None
    assigned = policies.permission_grant_policies_assigned()
    wanted = with_user_consent(assigned, cast(ManagedUserConsent, inputs["setting"]))
    if wanted != assigned:
        policies.set_permission_grant_policies_assigned(wanted)
    if before is None:
        before = {"setting": classify_user_consent(assigned)[0], "permissionGrantPoliciesAssigned": assigned}
    return _user_consent_outputs(inputs, wanted, before)


def read_user_consent(policies: ConsentPolicies, state: Mapping[str, Any]) -> dict[str, Any]:
    return _user_consent_outputs(state, policies.permission_grant_policies_assigned(), state.get("before"))


def restore_user_consent(policies: ConsentPolicies, state: Mapping[str, Any]) -> None:
    """Put back the self-consent entries recorded before the first apply; every other entry as it is today."""
    before = state.get("before")
    if not isinstance(before, Mapping):
        return
    assigned = policies.permission_grant_policies_assigned()
    recorded = self_consent_entries(before.get("permissionGrantPoliciesAssigned") or [])
    restored = with_self_consent_entries(assigned, recorded)
    if not same_entries(restored, assigned):
        policies.set_permission_grant_policies_assigned(restored)


def _user_consent_outputs(inputs: Mapping[str, Any], assigned: list[str], before: Any) -> dict[str, Any]:
    return {
        "tenantId": inputs["tenantId"],
        "setting": classify_user_consent(assigned)[0],
        "permissionGrantPoliciesAssigned": list(assigned),
        "before": before,
        "auth": inputs.get("auth"),
    }


def user_consent_changes(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    return ["setting"] if olds.get("setting") != news.get("setting") else []


# ---------------------------------------------------------------------------- admin consent workflow
# Graph documents the update as a PUT of the whole policy, every property required
# (https://learn.microsoft.com/graph/api/adminconsentrequestpolicy-update): a body built from the file alone
# would reset whatever the file does not name (reviewers an administrator chose in the admin centre). The
# file owns only the properties it names (the program leaves the others out of the inputs); the provider
# reads the policy, lays the owned ones over it and writes the result, so the rest stays as found.


class WorkflowRefused(Exception):
    """The merged policy is one the tool will not write; the message says what to change in the file."""


owned_fields = admin_consent_workflow.owned
"""The policy's properties the file names (the program sends only those; ``isEnabled`` always)."""
managed_fields = admin_consent_workflow.managed


def _owned_values(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The file's values for the properties it owns, in the shape the update takes: reviewers as the docs'
    example writes them (``query`` and ``queryType``)."""
    shape = {
        "isEnabled": bool,
        "notifyReviewers": bool,
        "remindersEnabled": bool,
        "requestDurationInDays": int,
        "reviewers": lambda value: [
            {"query": str(r["query"]), "queryType": str(r.get("queryType") or REVIEWER_QUERY_TYPE)} for r in value or []
        ],
    }
    return {name: shape[name](inputs[name]) for name in owned_fields(inputs)}  # type: ignore[operator]


def merged_workflow(found: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The policy to PUT: the tenant's, as found, with the properties the file owns laid over it."""
    return {**_recordable(found), **_owned_values(inputs)}


def apply_admin_consent_workflow(
    policies: ConsentPolicies, inputs: Mapping[str, Any], state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Set the properties ``inputs`` owns, keep the rest as found; the outputs record what was there before (the
    ``state``'s record on an update, else what is read now) and the properties owned so far (the ``state``'s,
    plus the ones owned now)."""
    before = state.get("before") if state is not None else None
    managed = managed_fields(state) if state is not None else ()
    found = policies.admin_consent_request_policy()
    recorded = _recordable(found)
    wanted = merged_workflow(found, inputs)
    if wanted["isEnabled"] and not wanted["reviewers"] and "reviewers" not in owned_fields(inputs):
        # The admin-consent-reviewers rule judges reviewers the file names; kept ones are only known here.
        raise WorkflowRefused(
            "consent_settings.admin_consent_workflow: the file turns the workflow on and keeps the tenant's "
            "reviewers, but the tenant has none, so users' requests for approval would reach nobody: name "
            "reviewers under consent_settings.admin_consent_workflow.reviewers, or set enabled: false"
        )
    live = found
    if admin_consent_workflow.changed_fields(recorded, wanted):
        policies.set_admin_consent_request_policy(wanted)
        live = policies.admin_consent_request_policy()
    owned_now = [field for field in admin_consent_workflow.FIELDS if field in {*managed, *owned_fields(inputs)}]
    return _workflow_outputs(inputs, live, recorded if before is None else before, owned_now)


def read_admin_consent_workflow(policies: ConsentPolicies, state: Mapping[str, Any]) -> dict[str, Any]:
    return _workflow_outputs(state, policies.admin_consent_request_policy(), state.get("before"), managed_fields(state))


def restore_admin_consent_workflow(policies: ConsentPolicies, state: Mapping[str, Any]) -> None:
    """Put back what was found before the first apply, for the properties the file has owned; any other
    property stays as it is today (the tool never wrote it)."""
    before = state.get("before")
    if not isinstance(before, Mapping):
        return
    live = _recordable(policies.admin_consent_request_policy())
    recorded = _recordable(before)
    restored = {**live, **{name: recorded[name] for name in managed_fields(state)}}
    if admin_consent_workflow.changed_fields(live, restored):
        policies.set_admin_consent_request_policy(restored)


def _recordable(policy: Mapping[str, Any]) -> dict[str, Any]:
    """A policy as read, in the shape the update takes (so it can be put back as it was)."""
    return {
        "isEnabled": bool(policy.get("isEnabled")),
        "notifyReviewers": bool(policy.get("notifyReviewers")),
        "remindersEnabled": bool(policy.get("remindersEnabled")),
        # A tenant that never saved the workflow may hold no duration; 30 is the admin centre's default.
        "requestDurationInDays": int(policy.get("requestDurationInDays") or DEFAULT_REQUEST_DAYS),
        "reviewers": [
            {"query": str(r.get("query") or ""), "queryType": str(r.get("queryType") or REVIEWER_QUERY_TYPE)}
            for r in policy.get("reviewers") or []
            if isinstance(r, Mapping)
        ],
    }


def _workflow_outputs(
    inputs: Mapping[str, Any], live: Mapping[str, Any], before: Any, managed: Sequence[str]
) -> dict[str, Any]:
    return {
        "tenantId": inputs["tenantId"],
        **_recordable(live),
        # The file's words for its reviewers; none when it keeps the tenant's (the queries are described).
        "reviewerNames": list(inputs.get("reviewerNames") or []) if "reviewers" in owned_fields(inputs) else [],
        "before": before,
        admin_consent_workflow.MANAGED_FIELDS: list(managed),
        "auth": inputs.get("auth"),
    }


def workflow_changes(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The owned properties whose value in the tenant (the state, refreshed) differs from the file's."""
    return admin_consent_workflow.changed_fields(olds, {**olds, **_owned_values(news)})


# ------------------------------------------------------------------------------------------- checks


def _tenant_failures(news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    tenant_id = news.get("tenantId")
    if isinstance(tenant_id, str) and is_guid(tenant_id):
        return []
    return [pulumi.dynamic.CheckFailure("tenantId", "expected the tenant id, a GUID")]


def user_consent_failures(news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    failures = _tenant_failures(news)
    if news.get("setting") not in MANAGED_USER_CONSENT:
        failures.append(pulumi.dynamic.CheckFailure("setting", f"expected one of {', '.join(MANAGED_USER_CONSENT)}"))
    return failures


def workflow_failures(news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """``isEnabled`` always; each other property only when the file names it (absent: kept as found)."""
    failures = _tenant_failures(news)
    for key in ("isEnabled", "notifyReviewers", "remindersEnabled"):
        if (key == "isEnabled" or news.get(key) is not None) and not isinstance(news.get(key), bool):
            failures.append(pulumi.dynamic.CheckFailure(key, "expected true or false"))
    days = news.get("requestDurationInDays")
    # Pulumi carries every number as a double (protobuf Value): 14 arrives as 14.0.
    whole = isinstance(days, int | float) and not isinstance(days, bool) and float(days).is_integer()
    if days is not None and (not whole or not 1 <= float(days or 0) <= MAX_REQUEST_DAYS):
        failures.append(pulumi.dynamic.CheckFailure("requestDurationInDays", f"expected 1 to {MAX_REQUEST_DAYS} days"))
    reviewers = news.get("reviewers")
    if reviewers is not None and not isinstance(reviewers, list):
        failures.append(pulumi.dynamic.CheckFailure("reviewers", "expected a list of reviewer queries"))
    else:
        for index, reviewer in enumerate(reviewers or []):
            query = reviewer.get("query") if isinstance(reviewer, Mapping) else None
            if not isinstance(query, str) or parse_reviewer_query(query) is None:
                failures.append(
                    pulumi.dynamic.CheckFailure(
                        f"reviewers[{index}]", "expected a user, group or directory role reviewer query"
                    )
                )
    return failures


# ---------------------------------------------------------------------------------- dynamic providers


@contextmanager
def graph_writer(inputs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Iterator[PolicyWriter]:
    """The tool's Graph writer for the tenant ``inputs`` name (``tenantId``), signed in as the tenant file's
    ``auth`` block says (``provider_settings.engine_auth``); the connections close when the block ends. Shared
    by every provider of the tool's own."""
    # Imported here: the writer pulls in the program's directory module (and pulumi-azuread), which the
    # provider process needs only once a call reaches Graph.
    from taxcalc_consent.infra.graph.policy_writer import policy_writer

    environ = os.environ if environ is None else environ
    tenant_id = str(inputs["tenantId"])
    # As the file says now (the tool's runs give it to the engine), else as the resource's inputs or state
    # recorded it (a hand-run ``pulumi up``): a refresh or a delete is handed the state of the last update.
    auth = provider_settings.engine_auth(environ, tenant_id) or provider_settings.auth_from_inputs(inputs.get("auth"))
    with policy_writer(tenant_id, auth, environ) as writer:
        yield writer


graph_policies: Callable[..., AbstractContextManager[ConsentPolicies]] = graph_writer
"""The tenant's two consent policies in Microsoft Graph (the writer implements ``ConsentPolicies``)."""


def _restore_requested() -> bool:
    return os.environ.get(RESTORE_ENV, "") == "1"


@dataclass(frozen=True)
class ConsentSetting:
    """One tenant-wide consent setting, as the provider serves it: a row of its table."""

    policy_id: str
    """The resource's id: the policy's own name in Graph (one per tenant)."""
    failures: Callable[[Mapping[str, Any]], list[pulumi.dynamic.CheckFailure]]
    """What ``check`` refuses in the inputs, as Pulumi reports it."""
    changes: Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]
    """The inputs whose change is a change in the tenant."""
    apply: Callable[[ConsentPolicies, Mapping[str, Any], Mapping[str, Any] | None], dict[str, Any]]
    """Set what the inputs ask (given the state before an update, None on create); the outputs."""
    read: Callable[[ConsentPolicies, Mapping[str, Any]], dict[str, Any]]
    restore: Callable[[ConsentPolicies, Mapping[str, Any]], None]
    """Put back what the state recorded (``offboard --restore-consent-settings``)."""


USER_CONSENT = ConsentSetting(
    AUTHORIZATION_POLICY_ID,
    user_consent_failures,
    user_consent_changes,
    apply_user_consent,
    read_user_consent,
    restore_user_consent,
)
ADMIN_CONSENT_WORKFLOW = ConsentSetting(
    ADMIN_CONSENT_REQUEST_POLICY_ID,
    workflow_failures,
    workflow_changes,
    apply_admin_consent_workflow,
    read_admin_consent_workflow,
    restore_admin_consent_workflow,
)


class SettingsProvider(pulumi.dynamic.ResourceProvider):
    """The provider of the tenant's consent settings, one ``ConsentSetting`` (``setting``) per subclass: Graph
    from the inputs, no secret captured, no import step.

    An instance is pickled (by reference to its importable class: dill serialises a class defined in a module
    by name) into the stack's state, so it holds nothing, and the subclasses' names are what existing stacks'
    state refers to: the provider's code is the installed package's, and credentials are read when a call
    needs them.
    """

    serialize_as_secret_always = False
    """It captures no secret, so the reference to it need not be encrypted in state."""

    setting: ConsentSetting

    def policies(self, props: Mapping[str, Any]) -> AbstractContextManager[ConsentPolicies]:
        return graph_policies(props)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, self.setting.failures(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        if str(olds.get("tenantId", "")).lower() != str(news.get("tenantId", "")).lower():
            # Another tenant's policy is another resource: the old one is released (left as it is).
            return pulumi.dynamic.DiffResult(changes=True, replaces=["tenantId"], delete_before_replace=True)
        return pulumi.dynamic.DiffResult(changes=bool(self.setting.changes(olds, news)))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        with self.policies(props) as policies:
            return pulumi.dynamic.CreateResult(self.setting.policy_id, self.setting.apply(policies, props, None))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        with self.policies(props) as policies:
            return pulumi.dynamic.ReadResult(id_, self.setting.read(policies, props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        with self.policies(news) as policies:
            return pulumi.dynamic.UpdateResult(self.setting.apply(policies, news, olds))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if _restore_requested():
            with self.policies(props) as policies:
                self.setting.restore(policies, props)


class UserConsentSettingProvider(SettingsProvider):
    setting = USER_CONSENT


class AdminConsentWorkflowProvider(SettingsProvider):
    setting = ADMIN_CONSENT_WORKFLOW


# ------------------------------------------------------------------------------------------ resources


@dataclass(frozen=True)
class UserConsentSettingArgs:
    tenant_id: str
    setting: ManagedUserConsent
    auth: AuthSection
    """How the provider signs in: the tenant file's ``auth`` block (names only, never a secret)."""


class UserConsentSetting(pulumi.dynamic.Resource, module="taxcalc-consent", name="UserConsentSetting"):
    """User consent for applications (tenant-wide); type token ``user_consent_setting.TYPE``."""

    def __init__(self, name: str, args: UserConsentSettingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"tenantId": args.tenant_id, "setting": args.setting, "auth": provider_settings.auth_inputs(args.auth)}
        super().__init__(UserConsentSettingProvider(), name, props, opts)


@dataclass(frozen=True)
class ReviewerArg:
    query: str
    name: str
    """How output names the reviewer: ``user alice@contoso.com``, ``role Global Administrator``."""


@dataclass(frozen=True)
class AdminConsentWorkflowArgs:
    """The properties the file names; None: left out of the inputs, so kept as the tenant has it."""

    tenant_id: str
    enabled: bool
    reviewers: Sequence[ReviewerArg] | None
    notify_reviewers: bool | None
    reminders: bool | None
    request_duration_in_days: int | None
    auth: AuthSection


class AdminConsentWorkflow(pulumi.dynamic.Resource, module="taxcalc-consent", name="AdminConsentWorkflow"):
    """The admin consent workflow (tenant-wide); type token ``admin_consent_workflow.TYPE``."""

    def __init__(self, name: str, args: AdminConsentWorkflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        reviewers = args.reviewers
        props: dict[str, Any] = {
            "tenantId": args.tenant_id,
            "isEnabled": args.enabled,
            "notifyReviewers": args.notify_reviewers,
            "remindersEnabled": args.reminders,
            "requestDurationInDays": args.request_duration_in_days,
            "auth": provider_settings.auth_inputs(args.auth),
        }
        if reviewers is not None:
            props["reviewers"] = [{"query": r.query, "queryType": REVIEWER_QUERY_TYPE} for r in reviewers]
            props["reviewerNames"] = [r.name for r in reviewers]
        # A property the file leaves out is not sent at all (Pulumi drops None inputs), so the provider keeps it.
        props = {key: value for key, value in props.items() if value is not None}
        super().__init__(AdminConsentWorkflowProvider(), name, props, opts)
