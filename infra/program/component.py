"""``TenantConsent``: one tenant's ConsentPlan made real as pulumi-azuread resources, and the tool's own
resources for TaxCalc-Hub's service principal (``infra.service_principal_provider``: one property managed, so
an enterprise application that predates the tool keeps everything else) and for the tenant-wide consent
settings the file manages (``infra.settings_provider``).

The component maps the plan 1:1 and decides nothing of its own: the plan says which scopes, which
users and groups, which app roles; the directory says which object ids those are. Logical names and
import ids come from ``infra.kinds`` (shared with ``adopt``, the driver and the pack) and are keyed by
object id, so reordering a list or a user's UPN changing renames nothing. See docs/how-it-works.md for
the KB step each resource replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_azuread as azuread

from taxcalc_consent.infra.model.catalog import GRAPH_APP_ID
from taxcalc_consent.infra.model.consent_settings import DIRECTORY_ROLES, describe_reviewer, reviewer_query
from taxcalc_consent.infra.model.kinds import (
    access_assignment,
    admin_consent_workflow,
    app_registration,
    app_role_assignment,
    delegated_grant,
    service_principal,
    user_consent_setting,
)
from taxcalc_consent.infra.model.plan import AccessAssignment, ConsentPlan, Reviewer
from taxcalc_consent.infra.program.directory import Directory, ResourceServicePrincipal
from taxcalc_consent.infra.program.service_principal_provider import HubServicePrincipal, HubServicePrincipalArgs
from taxcalc_consent.infra.program.settings_provider import (
    AdminConsentWorkflow,
    AdminConsentWorkflowArgs,
    ReviewerArg,
    UserConsentSetting,
    UserConsentSettingArgs,
)

COMPONENT_TYPE = "taxcalc-consent:index:TenantConsent"
SIGN_IN_AUDIENCE = "AzureADMultipleOrgs"
"""Multi-tenant: the registration in the home tenant is what client tenants consent to."""
ALL_PRINCIPALS = "AllPrincipals"

ImportId = Callable[[str], str]
"""Turns an adopted Graph object id into the id pulumi-azuread imports that resource by."""


@dataclass(frozen=True)
class TenantConsentArgs:
    """What a ``TenantConsent`` needs: the plan, the tenant's provider, and hand-made objects to adopt."""

    plan: ConsentPlan
    provider: pulumi.ProviderResource
    adopt: Mapping[str, str] = field(default_factory=dict)
    """Logical resource name -> Graph object id of an object that already exists (stack config
    ``taxcalc-consent:adopt``); that resource is imported instead of created."""
    environ: Mapping[str, str] | None = None
    """The environment the program's own Graph reads sign in from: the tenant's engine environment when the
    program runs inside the tool (an inline program), else (None) the process's own."""


class TenantConsent(pulumi.ComponentResource):
    """TaxCalc-Hub's service principal, its delegated grants on Microsoft Graph, app roles and assignments."""

    application: azuread.Application | None
    service_principal: HubServicePrincipal
    grants: dict[str, azuread.ServicePrincipalDelegatedPermissionGrant]
    """Keyed by principal: ``AllPrincipals``, or the user's object id."""
    app_role_assignments: dict[str, azuread.AppRoleAssignment]
    """Keyed by Graph application permission (app role value)."""
    access_assignments: dict[str, azuread.AppRoleAssignment]
    """Keyed by logical name (``access-user-<id>``, ``access-group-<id>``)."""
    user_consent_setting: UserConsentSetting | None
    """The tenant's user consent setting, when the file manages it (the tool's own resource)."""
    admin_consent_workflow: AdminConsentWorkflow | None
    """The tenant's admin consent workflow, when the file manages it (the tool's own resource)."""
    service_principal_object_id: pulumi.Output[str]
    grant_ids: pulumi.Output[dict[str, str]]
    summary: dict[str, Any]

    def __init__(self, name: str, args: TenantConsentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        plan = args.plan
        self._plan = plan
        self._provider = args.provider
        self._adopt = {key: value.strip() for key, value in args.adopt.items()}
        self._declared: set[str] = set()
        self._auth = plan.auth
        directory = Directory(plan, args.provider, parent=self, environ=args.environ)
        graph = directory.graph()

        self.application = self._application(graph) if plan.app.register else None
        client_id: pulumi.Input[str] = (
            self.application.client_id if self.application is not None else str(plan.app.client_id)
        )
        # When the tenant already has it, its object id is known now: what depends on it (grants, assignments)
        # is planned against that id, so a preview says "same" for them rather than an unknown id that reads as
        # a replacement, and a stack applied before 0.2 moves to the tool's resource without its grants moving.
        found = None if plan.app.register else directory.existing_service_principal_id(str(plan.app.client_id))
        # The tool's own resource, never pulumi-azuread's ServicePrincipal: an enterprise application that is
        # already in the tenant keeps its owners, notes, SSO settings, tags and enabled state; only
        # appRoleAssignmentRequired is the file's (infra/program/service_principal_provider.py says why). It signs in as
        # the consent settings do, and waits until a service principal it creates reads back.
        self.service_principal = HubServicePrincipal(
            service_principal.NAME,
            HubServicePrincipalArgs(
                tenant_id=plan.tenant_id,
                client_id=client_id,
                assignment_required=plan.service_principal.assignment_required,
                application_registered_here=plan.app.register,
                auth=self._auth,
                found_in_tenant=None if plan.app.register else found is not None,
            ),
            # Under the component, not on the azuread provider: the engine runs it with the tool's own Python.
            pulumi.ResourceOptions(parent=self),
        )
        self._declared.add(service_principal.NAME)
        hub: pulumi.Output[str] = (
            pulumi.Output.from_input(found) if found is not None else self.service_principal.object_id
        )

        self.grants = self._grants(directory, graph, hub)
        self.app_role_assignments = {
            a.role: azuread.AppRoleAssignment(
                app_role_assignment.name(a.role),
                app_role_id=_permission_ids([a.role], graph.role_ids, "application permission", plan)[a.role],
                principal_object_id=hub,
                resource_object_id=graph.object_id,
                opts=self._opts(
                    app_role_assignment.name(a.role),
                    import_id=lambda assignment_id: app_role_assignment.import_id(graph.object_id, assignment_id),
                ),
            )
            for a in plan.app_role_assignments
        }
        self.access_assignments = self._access_assignments(directory, plan.assignments, hub)
        self.user_consent_setting, self.admin_consent_workflow = self._consent_settings(directory)

        for unused in sorted(set(self._adopt) - self._declared - {service_principal.NAME}):
            pulumi.log.warn(
                f"taxcalc-consent:adopt names {unused!r}, which this tenant file does not declare; ignored",
                resource=self,
            )

        self.service_principal_object_id = hub
        # Output.all() of nothing is a list, so a users-mode file whose groups hold no users needs its own case.
        self.grant_ids = (
            pulumi.Output.all(**{p: g.id for p, g in self.grants.items()}).apply(
                lambda ids: {str(k): str(v) for k, v in ids.items()}
            )
            if self.grants
            else pulumi.Output.from_input({})
        )
        self.summary = {
            "tenant": plan.tenant,
            "tenant_id": plan.tenant_id,
            "mode": plan.mode,
            "scopes": " ".join(plan.scopes),
            "grants": len(self.grants),
            "app_roles": sorted(self.app_role_assignments),
            "assignment_required": plan.service_principal.assignment_required,
            "assignments": len(self.access_assignments),
            "registered_app": plan.app.register,
            "user_consent": plan.consent_settings.user_consent,
            "admin_consent_workflow": None
            if plan.consent_settings.admin_consent_workflow is None
            else plan.consent_settings.admin_consent_workflow.enabled,
        }
        self.register_outputs(
            {
                "service_principal_object_id": self.service_principal_object_id,
                "grant_ids": self.grant_ids,
                "summary": self.summary,
            }
        )

    # ------------------------------------------------------------------------------------- resources

    def _application(self, graph: ResourceServicePrincipal) -> azuread.Application:
        """The multi-tenant app registration (register: true), asking for exactly the planned permissions."""
        plan = self._plan
        scope_ids = _permission_ids(plan.scopes, graph.scope_ids, "delegated scope", plan)
        role_ids = _permission_ids([a.role for a in plan.app_role_assignments], graph.role_ids, "app role", plan)
        access = azuread.ApplicationRequiredResourceAccessResourceAccessArgs
        accesses = [
            *(access(id=scope_id, type="Scope") for scope_id in scope_ids.values()),
            *(access(id=role_id, type="Role") for role_id in role_ids.values()),
        ]
        return azuread.Application(
            app_registration.NAME,
            display_name=plan.app.display_name,
            sign_in_audience=SIGN_IN_AUDIENCE,
            # TaxCalc is a desktop app: its redirect URIs (e.g. .../oauth2/nativeclient) are public-client
            # ones, where Entra expects no client secret, not web ones.
            public_client=azuread.ApplicationPublicClientArgs(redirect_uris=list(plan.app.redirect_uris))
            if plan.app.redirect_uris
            else None,
            required_resource_accesses=[
                azuread.ApplicationRequiredResourceAccessArgs(resource_app_id=GRAPH_APP_ID, resource_accesses=accesses)
            ],
            opts=self._opts(app_registration.NAME, import_id=app_registration.import_id),
        )

    def _grants(
        self, directory: Directory, graph: ResourceServicePrincipal, hub: pulumi.Output[str]
    ) -> dict[str, azuread.ServicePrincipalDelegatedPermissionGrant]:
        plan = self._plan
        # Graph checks every scope against its own oauth2PermissionScopes; say which one is missing first.
        _permission_ids(plan.scopes, graph.scope_ids, "delegated scope", plan)
        claim_values = sorted(plan.scopes)
        principals: dict[str, str | None]
        if plan.mode == "organization":
            principals = {ALL_PRINCIPALS: None}
        else:
            listed = [directory.user(g.principal, "consent.users") for g in plan.grants if g.principal is not None]
            members = directory.group_users((g.group for g in plan.group_grants), "consent.groups")
            # One grant per user: Graph holds one Principal grant per (client, resource, user), so a user
            # listed and also in a group (or in two groups) gets exactly one.
            principals = {oid: oid for oid in sorted({*listed, *members})}
        grants = {}
        for key, user in principals.items():
            name = delegated_grant.ORGANIZATION_NAME if user is None else delegated_grant.user_name(user)
            grants[key] = azuread.ServicePrincipalDelegatedPermissionGrant(
                name,
                service_principal_object_id=hub,
                resource_service_principal_object_id=graph.object_id,
                claim_values=claim_values,
                user_object_id=user,
                opts=self._opts(name, import_id=delegated_grant.import_id),
            )
        return grants

    def _access_assignments(
        self, directory: Directory, assignments: Sequence[AccessAssignment], hub: pulumi.Output[str]
    ) -> dict[str, azuread.AppRoleAssignment]:
        """Users and groups assigned to TaxCalc-Hub with the default role (who may sign in when required)."""
        by_name: dict[str, str] = {}
        for a in assignments:
            if a.principal_type == "User":
                oid = directory.user(a.principal, "access.users")
            else:
                oid = directory.group(a.principal, "access.groups").object_id
            # The same user by UPN and by object id is one assignment: Graph refuses a duplicate.
            by_name.setdefault(access_assignment.name(a.principal_type, oid), oid)
        out = {}
        for name, oid in sorted(by_name.items()):
            out[name] = azuread.AppRoleAssignment(
                name,
                app_role_id=access_assignment.DEFAULT_ROLE_ID,
                principal_object_id=oid,
                resource_object_id=hub,
                opts=self._opts(name, import_id=self._hub_assignment_import_id(directory)),
            )
        return out

    def _consent_settings(self, directory: Directory) -> tuple[UserConsentSetting | None, AdminConsentWorkflow | None]:
        """The tenant-wide consent settings the file manages, through the tool's own provider (pulumi-azuread
        has no resource for either). Not the azuread provider: they sign in as the file's ``auth`` says."""
        plan = self._plan
        settings = plan.consent_settings
        auth = self._auth
        opts = pulumi.ResourceOptions(parent=self)
        user_consent = None
        if settings.user_consent is not None:
            user_consent = UserConsentSetting(
                user_consent_setting.NAME, UserConsentSettingArgs(plan.tenant_id, settings.user_consent, auth), opts
            )
        workflow = settings.admin_consent_workflow
        if workflow is None:
            return user_consent, None
        reviewers: dict[str, ReviewerArg] = {}
        for reviewer in workflow.reviewers or ():
            resolved = self._reviewer(directory, reviewer)
            # The same person by UPN and by object id is one reviewer.
            reviewers.setdefault(resolved.query, resolved)
        args = AdminConsentWorkflowArgs(
            tenant_id=plan.tenant_id,
            enabled=workflow.enabled,
            # Reviewers the file does not name are the tenant's, kept as found (None: not sent).
            reviewers=None if workflow.reviewers is None else list(reviewers.values()),
            notify_reviewers=workflow.notify_reviewers,
            reminders=workflow.reminders,
            request_duration_in_days=workflow.request_duration_in_days,
            auth=auth,
        )
        return user_consent, AdminConsentWorkflow(admin_consent_workflow.NAME, args, opts)

    def _reviewer(self, directory: Directory, reviewer: Reviewer) -> ReviewerArg:
        """A reviewer as the Graph query the admin centre writes, looked up like every other principal."""
        where = f"consent_settings.admin_consent_workflow.reviewers.{reviewer.reviewer_type}s"
        if reviewer.reviewer_type == "user":
            object_id = directory.user(reviewer.reference, where)
            shown = reviewer.reference
        elif reviewer.reviewer_type == "group":
            group = directory.group(reviewer.reference, where)
            object_id, shown = group.object_id, group.display_name
        else:
            object_id = DIRECTORY_ROLES.get(reviewer.reference, reviewer.reference).lower()
            shown = reviewer.reference
        name = describe_reviewer(reviewer.reviewer_type, object_id, shown)
        return ReviewerArg(reviewer_query(reviewer.reviewer_type, object_id), name)

    # --------------------------------------------------------------------------------------- options

    def _opts(self, logical_name: str, *, import_id: ImportId | None = None) -> pulumi.ResourceOptions:
        """Every pulumi-azuread child: parented here, on the tenant's provider, imported when ``adopt`` names it."""
        self._declared.add(logical_name)
        adopted = self._adopt.get(logical_name)
        return pulumi.ResourceOptions(
            parent=self,
            provider=self._provider,
            import_=_provider_id(adopted, import_id) if adopted else None,
        )

    def _hub_assignment_import_id(self, directory: Directory) -> ImportId:
        def build(assignment_id: str) -> str:
            adopted = self._adopt.get(service_principal.NAME)
            hub = service_principal.object_id(adopted) if adopted else None
            if hub is None and self._plan.app.client_id is not None:
                hub = directory.service_principal_id(self._plan.app.client_id, "app.client_id")
            if hub is None:
                raise pulumi.RunError(
                    f"{self._plan.file}: taxcalc-consent:adopt: adopting an assignment needs the service principal's "
                    f"object id too: add {service_principal.NAME!r} to the adopt map"
                )
            return access_assignment.import_id(hub, assignment_id)

        return build


def _provider_id(adopted: str, import_id: ImportId | None) -> str:
    """The provider's import id for a Graph object id; an id already in the provider's form passes as is."""
    if adopted.startswith("/") or import_id is None:
        return adopted
    return import_id(adopted)


def _permission_ids(names: Iterable[str], published: Mapping[str, str], kind: str, plan: ConsentPlan) -> dict[str, str]:
    """Ids of ``names`` from the resource's published table; fail naming any this tenant's Graph lacks."""
    wanted = list(names)
    missing = [n for n in wanted if n not in published]
    if missing:
        raise pulumi.RunError(
            f"{plan.file}: Microsoft Graph's service principal in tenant {plan.tenant_id} publishes no "
            f"{kind} {', '.join(repr(m) for m in missing)}; Graph would refuse it"
        )
    return {n: published[n] for n in wanted}
