"""The tenant's admin consent workflow: its adminConsentRequestPolicy.

Entra admin centre > Enterprise applications > Consent and permissions > Admin consent settings. One per
tenant (``admin-consent-workflow``), applied by the tool's own consent settings provider
(``infra.settings_provider``): pulumi-azuread has no resource for it. The policy always exists, so there
is nothing to import: the first apply reads it, records it (output ``before``) and sets the file's values.
Reviewers travel as Graph queries (``infra.consent_settings.reviewer_query``), with ``reviewerNames`` beside
them for the words below. The file owns only the properties it names: the others are absent from the inputs
and kept as the tenant has them (Graph's update is a PUT of the whole policy, so the provider merges).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from taxcalc_consent.infra.model.consent_settings import describe_reviewer, parse_reviewer_query
from taxcalc_consent.infra.model.kinds.base import ResourceKind, Step

TYPE = "pulumi-python:dynamic/taxcalc-consent:AdminConsentWorkflow"
"""``pulumi.dynamic.Resource`` subclass with module ``taxcalc-consent``, name ``AdminConsentWorkflow``."""
NAME = "admin-consent-workflow"
LABEL = "admin consent workflow"
TENANT_WIDE = "tenant-wide"

# The admin centre's words for each field (Admin consent settings), in the order it shows them.
FIELDS: dict[str, str] = {
    "isEnabled": "Users can request admin consent to apps they are unable to consent to",
    "reviewers": "Who can review admin consent requests",
    "notifyReviewers": "Selected users will receive email notifications for requests",
    "remindersEnabled": "Selected users will receive request expiration reminders",
    "requestDurationInDays": "Consent request expires after (days)",
}


def claims(name: str) -> bool:
    return name == NAME


def reviewer_queries(value: object) -> list[str]:
    """The reviewer queries of a policy as the engine shows it (a list of accessReviewReviewerScope), read
    through any list-like and mapping-like view (the policy pack sees proxies, not lists and dicts)."""
    if value is None or isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return []
    return [str(r.get("query") or "") for r in value if callable(getattr(r, "get", None))]


def same_reviewers(first: object, second: object) -> bool:
    return sorted(q.strip().lower() for q in reviewer_queries(first)) == sorted(
        q.strip().lower() for q in reviewer_queries(second)
    )


def reviewer_words(policy: Mapping[str, Any]) -> str:
    """Reviewers in words: the file's names where the program gave them, else what the query says."""
    queries = reviewer_queries(policy.get("reviewers"))
    names = policy.get("reviewerNames")
    if isinstance(names, list | tuple) and len(names) == len(queries):
        return ", ".join(str(n) for n in names) or "none"
    out = []
    for query in queries:
        parsed = parse_reviewer_query(query)
        out.append(describe_reviewer(*parsed) if parsed else f"query {query}")
    return ", ".join(out) or "none"


def value_words(field: str, policy: Mapping[str, Any]) -> str:
    value = policy.get(field)
    if field == "reviewers":
        return reviewer_words(policy)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # the engine carries numbers as doubles
    return "(not known)" if value is None else str(value)


MANAGED_FIELDS = "managedFields"
"""Output: every property the file has owned since the first apply, so a restore puts back those only.
A state written before the tool kept the rest lacks it: that version wrote every property."""


def owned(inputs: Mapping[str, Any]) -> list[str]:
    """The properties the file names (Graph's names, the admin centre's order): the ones present in the inputs."""
    return [field for field in FIELDS if inputs.get(field) is not None]


def kept(inputs: Mapping[str, Any]) -> list[str]:
    """The properties the file leaves out, kept as the tenant has them."""
    return [field for field in FIELDS if inputs.get(field) is None]


def managed(outputs: Mapping[str, Any]) -> list[str]:
    """The properties the tool has written, by the state (every one for a state that does not say)."""
    recorded = outputs.get(MANAGED_FIELDS)
    if recorded is None or isinstance(recorded, str | bytes) or not isinstance(recorded, Iterable):
        return list(FIELDS)
    names = {str(name) for name in recorded}
    return [field for field in FIELDS if field in names]


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The fields (Graph's names) whose values differ; reviewers compare as sets of queries."""
    out = []
    for field in FIELDS:
        if field == "reviewers":
            if not same_reviewers(old.get(field), new.get(field)):
                out.append(field)
        elif old.get(field) != new.get(field):
            out.append(field)
    return out


def _settings(policy: Mapping[str, Any], fields: Sequence[str] = tuple(FIELDS)) -> str:
    return "; ".join(f"{FIELDS[f]}: {value_words(f, policy)}" for f in fields)


def _kept_words(inputs: Mapping[str, Any], live: Mapping[str, Any] | None = None) -> str:
    """``; kept as the tenant has them: ...``, with today's values when they are known; empty when none is kept."""
    fields = kept(inputs)
    if not fields:
        return ""
    shown = _settings(live, fields) if live else ", ".join(FIELDS[f] for f in fields)
    return f"; kept as the tenant has them: {shown}"


def describe(step: Step) -> str:
    live: Mapping[str, Any] = step.old_outputs or step.old
    before = step.old_outputs.get("before")
    if step.op == "delete":
        if step.drift:
            return f"{TENANT_WIDE}: the admin consent workflow is no longer in the file: apply would leave it as it is"
        if step.restore and isinstance(before, Mapping):
            return (
                f"{TENANT_WIDE}: restore the admin consent workflow as it was before the first apply "
                f"({_settings(before, managed(step.old_outputs))})"
            )
        return (
            f"{TENANT_WIDE}: stop managing the admin consent workflow; it stays as it is "
            "(offboard --restore-consent-settings puts back what it was before the first apply)"
        )
    named = owned(step.new)
    if step.op in ("create", "import"):
        if step.drift:
            return (
                f"{TENANT_WIDE}: the admin consent workflow was never set by the tool; "
                f"the file says {_settings(step.new, named)}"
            )
        return (
            f"{TENANT_WIDE}: set the admin consent workflow ({_settings(step.new, named)}{_kept_words(step.new)}; "
            "Enterprise applications > Consent and permissions; the policy found is recorded first, for "
            "offboard --restore-consent-settings)"
        )
    wanted = {**live, **{f: step.new[f] for f in named}}
    fields = changed_fields(live, wanted) or [f for f in step.diffs if f in named] or named
    if step.drift:
        return (
            f"{TENANT_WIDE}: the admin consent workflow differs in the tenant (changed outside the file): "
            + "; ".join(
                f"{FIELDS[f]}: {value_words(f, live)}, the file says {value_words(f, step.new)}" for f in fields
            )
        )
    return (
        f"{TENANT_WIDE}: change the admin consent workflow: "
        + "; ".join(f"{FIELDS[f]}: {value_words(f, live)} -> {value_words(f, step.new)}" for f in fields)
        + _kept_words(step.new, live)
    )


KIND = ResourceKind(TYPE, LABEL, claims, describe)
