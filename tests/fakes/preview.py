"""What a `pulumi preview` shows the policy pack for a ConsentPlan: resources with camelCase inputs.

This mirrors how the Pulumi program (infra/) maps a plan onto pulumi-azuread resources (issue 3):
one ServicePrincipal for TaxCalc-Hub, one ServicePrincipalDelegatedPermissionGrant per consent
(AllPrincipals, or one per user with userObjectId), one AppRoleAssignment per application permission
(appRoleId: Graph's role id) and per access assignment (the default role id); and the tool's own
consent settings resources (issue 14) when the file manages the tenant's consent settings. Property names are the
provider's wire names; inputs the engine cannot know during a preview (the object id of a service
principal that does not exist yet) are the engine's unknown sentinel, so a policy reading them sees
what it would see for real.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from taxcalc_consent.infra.model.catalog import graph_catalog
from taxcalc_consent.infra.model.consent_settings import (
    DIRECTORY_ROLES,
    REVIEWER_QUERY_TYPE,
    describe_reviewer,
    reviewer_query,
)
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.kinds import (
    access_assignment,
    admin_consent_workflow,
    app_role_assignment,
    delegated_grant,
    service_principal,
    user_consent_setting,
)
from taxcalc_consent.infra.model.plan import ConsentPlan

GRAPH_SP_OBJECT_ID = "9b2e0c1e-6f0a-4a53-9c6e-3c4d1f00b7aa"
"""Microsoft Graph's service principal in the fake tenant: looked up, so known during a preview."""


@dataclass(frozen=True)
class PreviewResource:
    resource_type: str
    name: str
    props: dict[str, Any]

    @property
    def urn(self) -> str:
        return f"urn:pulumi:{STACK}::taxcalc-consent::{self.resource_type}::{self.name}"


STACK = "tenant"


def object_id(principal: str) -> str:
    """A user's or group's object id: as written when it is one, else a stable stand-in for the lookup."""
    return principal if is_guid(principal) else str(uuid.uuid5(uuid.NAMESPACE_URL, principal.casefold()))


def preview_resources(plan: ConsentPlan, group_members: dict[str, list[str]] | None = None) -> list[PreviewResource]:
    catalog = graph_catalog()
    sp_id = UNKNOWN_STRING_VALUE  # a new service principal's object id is only known after apply
    out = [
        PreviewResource(
            service_principal.TYPE,
            service_principal.NAME,
            {
                "clientId": plan.app.client_id,
                "useExisting": True,
                "appRoleAssignmentRequired": plan.service_principal.assignment_required,
            },
        )
    ]
    for grant in plan.grants:
        props: dict[str, Any] = {
            "servicePrincipalObjectId": sp_id,
            "resourceServicePrincipalObjectId": GRAPH_SP_OBJECT_ID,
            "claimValues": list(grant.scopes),
        }
        if grant.principal is None:
            out.append(PreviewResource(delegated_grant.TYPE, delegated_grant.ORGANIZATION_NAME, props))
        else:
            user = object_id(grant.principal)
            out.append(
                PreviewResource(delegated_grant.TYPE, delegated_grant.user_name(user), {**props, "userObjectId": user})
            )
    for group_grant in plan.group_grants:
        for member in (group_members or {}).get(group_grant.group, [object_id(f"member-of-{group_grant.group}")]):
            out.append(
                PreviewResource(
                    delegated_grant.TYPE,
                    delegated_grant.user_name(member),
                    {
                        "servicePrincipalObjectId": sp_id,
                        "resourceServicePrincipalObjectId": GRAPH_SP_OBJECT_ID,
                        "claimValues": list(group_grant.scopes),
                        "userObjectId": member,
                    },
                )
            )
    for role in plan.app_role_assignments:
        permission = catalog.get("application", role.role)
        out.append(
            PreviewResource(
                app_role_assignment.TYPE,
                app_role_assignment.name(role.role),
                {
                    "appRoleId": permission.id if permission else role.role,
                    "principalObjectId": sp_id,
                    "resourceObjectId": GRAPH_SP_OBJECT_ID,
                },
            )
        )
    for assignment in plan.assignments:
        principal = object_id(assignment.principal)
        out.append(
            PreviewResource(
                app_role_assignment.TYPE,
                access_assignment.name(assignment.principal_type, principal),
                {
                    "appRoleId": access_assignment.DEFAULT_ROLE_ID,
                    "principalObjectId": principal,
                    "resourceObjectId": sp_id,
                },
            )
        )
    settings = plan.consent_settings
    if settings.user_consent is not None:
        out.append(
            PreviewResource(
                user_consent_setting.TYPE,
                user_consent_setting.NAME,
                {"tenantId": plan.tenant_id, "setting": settings.user_consent},
            )
        )
    workflow = settings.admin_consent_workflow
    if workflow is not None:
        props: dict[str, Any] = {
            "tenantId": plan.tenant_id,
            "isEnabled": workflow.enabled,
            "notifyReviewers": workflow.notify_reviewers,
            "remindersEnabled": workflow.reminders,
            "requestDurationInDays": workflow.request_duration_in_days,
        }
        if workflow.reviewers is not None:
            ids = [
                DIRECTORY_ROLES.get(r.reference, r.reference) if r.reviewer_type == "role" else object_id(r.reference)
                for r in workflow.reviewers
            ]
            props["reviewers"] = [
                {"query": reviewer_query(r.reviewer_type, i), "queryType": REVIEWER_QUERY_TYPE, "queryRoot": None}
                for r, i in zip(workflow.reviewers, ids, strict=True)
            ]
            props["reviewerNames"] = [
                describe_reviewer(r.reviewer_type, i, r.reference) for r, i in zip(workflow.reviewers, ids, strict=True)
            ]
        # As the program sends it (infra/program/settings_provider.py AdminConsentWorkflow): a key the file leaves
        # out is absent, kept as the tenant has it.
        out.append(
            PreviewResource(
                admin_consent_workflow.TYPE,
                admin_consent_workflow.NAME,
                {key: value for key, value in props.items() if value is not None},
            )
        )
    return out


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource_args(resource: PreviewResource, config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.resource_type,
        unknown_checking_proxy(dict(resource.props)),
        resource.urn,
        resource.name,
        _options(),
        None,
        config,
    )


def stack_resources(resources: list[PreviewResource]) -> list[PolicyResource]:
    return [
        PolicyResource(
            r.resource_type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, _options(), None, None, [], {}
        )
        for r in resources
    ]
