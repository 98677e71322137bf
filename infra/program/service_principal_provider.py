"""TaxCalc-Hub's service principal through the tool's own provider: one property managed, nothing else owned.

Why not pulumi-azuread's ``ServicePrincipal``: with ``use_existing`` its create runs its update on a service
principal it did not make, and that update PATCHes every property it manages, unset ones included:
``accountEnabled: true``, ``description``/``notes``/``loginUrl``/``preferredSingleSignOnMode`` as null,
``alternativeNames: []``, ``notificationEmailAddresses: []``, ``samlSingleSignOnSettings: {}`` and tags from
its feature flags; and ``owners`` (Optional, not Computed) differs from state after the first read, so the next
update removes every owner (hashicorp/terraform-provider-azuread
``internal/services/serviceprincipals/service_principal_resource.go``: the schema, ``servicePrincipalResourceUpdate``
and its owners branch). On an enterprise application a first user's consent or an administrator made, that
re-enables a disabled app and wipes its owners, notes, notification addresses and SSO settings.

So the program declares ``HubServicePrincipal`` (kind ``infra.kinds.service_principal``), a
``pulumi.dynamic.Resource`` run by the engine's ``pulumi-resource-pulumi-python`` plugin with the tool's own
interpreter, like the consent settings (``infra.settings_provider``), signed in the same way:
- ``create`` looks the service principal up by application id. Found: it records ``appRoleAssignmentRequired``
  as found (output ``before``, origin ``found``) and PATCHes that one property when the file says otherwise.
  Not found: it POSTs one (origin ``created``), retrying while Graph says the application does not exist yet
  (an application registered by the same stack replicates first), then waits until the new object reads back,
  so that what depends on it (pulumi-azuread's grants and assignments read it first, with no retry on 404:
  go-azure-sdk ``sdk/client/client.go`` retries a 404 only where the resource gives a retry function;
  terraform-provider-azuread#1811) finds it.
- ``read`` (refresh, drift) reads it again; gone, it leaves the state, and the next preview says it is missing.
- ``update`` PATCHes ``appRoleAssignmentRequired`` alone.
- ``delete`` (offboard) never deletes the service principal: one that was found gets ``appRoleAssignmentRequired``
  back as it was found; one the tool created stays as it is.

The logic is written once over ``ServicePrincipals`` (these four Graph calls): the provider runs it against Graph
(``infra.policy_writer``), tests against the Graph emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi.dynamic
import tenacity
from pulumi.output import Unknown

from taxcalc_consent.infra.graph import provider_settings
from taxcalc_consent.infra.graph.client import GraphError
from taxcalc_consent.infra.model.guid import is_guid
from taxcalc_consent.infra.model.kinds.service_principal import ORIGIN_CREATED, ORIGIN_FOUND
from taxcalc_consent.infra.model.spec import AuthSection
from taxcalc_consent.infra.program.settings_provider import graph_writer

APPLICATION_REPLICATION_SECONDS = 120.0
"""How long a create retries while Graph does not know the application id yet, when the same stack registered
the application: terraform-provider-azuread retries that answer until its create timeout for the same reason
(``CreateServicePrincipalOperationOptions.RetryFunc``)."""
FOREIGN_APPLICATION_SECONDS = 20.0
"""The same for an application registered elsewhere (TaxCalc-Hub, multi-tenant): nothing replicates here, so a
mistyped ``app.client_id`` fails in seconds, naming the id, not after minutes."""
READABLE_SECONDS = 120.0
"""How long a create waits for a new service principal to read back before saying so."""
READ_INTERVAL_SECONDS = 0.5
READS_IN_A_ROW = 2
"""A new object counts as readable after this many reads in a row find it: Graph may answer from a replica that
has it and then from one that has not (https://learn.microsoft.com/graph/best-practices-concept, "Handling
replication delays")."""
_UNKNOWN_APPLICATION = "does not reference a valid application object"
"""Graph's 400 for a service principal of an application it does not know (yet): "The appId '...' of the service
principal does not reference a valid application object." (service_principal_resource.go, RetryFunc)."""


class ServicePrincipals(Protocol):
    """The four Graph calls the resource makes (``infra.policy_writer.PolicyWriter`` implements them)."""

    def service_principal_by_app_id(self, app_id: str) -> dict[str, Any] | None: ...

    def service_principal(self, object_id: str) -> dict[str, Any] | None: ...

    def create_service_principal(self, app_id: str, assignment_required: bool) -> dict[str, Any]: ...

    def set_assignment_required(self, object_id: str, required: bool) -> None: ...


@dataclass(frozen=True)
class Waits:
    """How long creating waits on replication; tests shorten it."""

    application_registered_here: float = APPLICATION_REPLICATION_SECONDS
    application_elsewhere: float = FOREIGN_APPLICATION_SECONDS
    readable: float = READABLE_SECONDS
    interval: float = READ_INTERVAL_SECONDS
    sleep: Callable[[float], None] | None = None


WAITS = Waits()


class ServicePrincipalError(Exception):
    """A create or update that cannot go on, said in the tenant file's words (Pulumi prints the message)."""


# ------------------------------------------------------------------------------------------------ logic


def adopt_or_create(
    sps: ServicePrincipals, inputs: Mapping[str, Any], waits: Waits | None = None
) -> tuple[str, dict[str, Any]]:
    """Find TaxCalc-Hub's service principal or create it; set ``appRoleAssignmentRequired`` only.

    Returns the object id and the outputs (what it holds now, where it came from, what was found)."""
    waits = waits or WAITS
    app_id = str(inputs["clientId"]).lower()
    wanted = bool(inputs["appRoleAssignmentRequired"])
    found = sps.service_principal_by_app_id(app_id)
    if found is not None:
        object_id = str(found["id"]).lower()
        was = bool(found.get("appRoleAssignmentRequired"))
        if was != wanted:
            sps.set_assignment_required(object_id, wanted)
        return object_id, _outputs(inputs, object_id, wanted, found, ORIGIN_FOUND, {"appRoleAssignmentRequired": was})
    created = _create(sps, app_id, wanted, inputs, waits)
    object_id = str(created["id"]).lower()
    _wait_until_readable(sps, object_id, waits)
    return object_id, _outputs(inputs, object_id, wanted, created, ORIGIN_CREATED, None)


def _create(
    sps: ServicePrincipals, app_id: str, wanted: bool, inputs: Mapping[str, Any], waits: Waits
) -> dict[str, Any]:
    registered_here = bool(inputs.get("applicationRegisteredHere"))
    seconds = waits.application_registered_here if registered_here else waits.application_elsewhere
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_unknown_application),
        wait=tenacity.wait_exponential(multiplier=waits.interval, max=10),
        stop=tenacity.stop_after_delay(seconds),
        sleep=waits.sleep or tenacity.nap.sleep,
        reraise=True,
    )
    try:
        return retrying(sps.create_service_principal, app_id, wanted)
    except GraphError as exc:
        if not _unknown_application(exc):
            raise
        where = "registered by this stack" if registered_here else "app.client_id (in _defaults.yaml or the file)"
        raise ServicePrincipalError(
            f"Microsoft Graph knows no application {app_id} in tenant {inputs['tenantId']} after {seconds:g} s: "
            f"check the application id {where}"
        ) from None


def _unknown_application(exc: BaseException) -> bool:
    return isinstance(exc, GraphError) and exc.status == 400 and _UNKNOWN_APPLICATION in str(exc)


def _wait_until_readable(sps: ServicePrincipals, object_id: str, waits: Waits) -> None:
    def readable() -> bool:
        return all(sps.service_principal(object_id) is not None for _ in range(READS_IN_A_ROW))

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda done: not done),
        wait=tenacity.wait_fixed(waits.interval),
        stop=tenacity.stop_after_delay(waits.readable),
        sleep=waits.sleep or tenacity.nap.sleep,
        retry_error_callback=lambda _state: False,
    )
    if not retrying(readable):
        raise ServicePrincipalError(
            f"the new service principal {object_id} did not read back within {waits.readable:g} s (Entra "
            "replication); run apply again: it will be found, not created twice"
        )


def read_service_principal(sps: ServicePrincipals, object_id: str, state: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the tenant holds now; None when the service principal is gone."""
    live = sps.service_principal(object_id)
    if live is None:
        return None
    required = bool(live.get("appRoleAssignmentRequired"))
    return _outputs(state, object_id, required, live, state.get("origin"), state.get("before"))


def update_service_principal(
    sps: ServicePrincipals, object_id: str, olds: Mapping[str, Any], news: Mapping[str, Any]
) -> dict[str, Any]:
    live = sps.service_principal(object_id)
    if live is None:
        raise ServicePrincipalError(
            f"TaxCalc-Hub's service principal {object_id} is no longer in tenant {news['tenantId']}: run "
            "`taxcalc-consent apply` again (it refreshes first, and finds or creates it)"
        )
    wanted = bool(news["appRoleAssignmentRequired"])
    if bool(live.get("appRoleAssignmentRequired")) != wanted:
        sps.set_assignment_required(object_id, wanted)
    return _outputs(news, object_id, wanted, live, olds.get("origin"), olds.get("before"))


def release_service_principal(sps: ServicePrincipals, object_id: str, state: Mapping[str, Any]) -> None:
    """Offboarding: a service principal that was found gets assignment-required back as found; none is deleted."""
    before = state.get("before")
    if state.get("origin") != ORIGIN_FOUND or not isinstance(before, Mapping):
        return
    live = sps.service_principal(object_id)
    was = bool(before.get("appRoleAssignmentRequired"))
    if live is not None and bool(live.get("appRoleAssignmentRequired")) != was:
        sps.set_assignment_required(object_id, was)


def _outputs(
    inputs: Mapping[str, Any],
    object_id: str,
    required: bool,
    live: Mapping[str, Any],
    origin: object,
    before: object,
) -> dict[str, Any]:
    return {
        "tenantId": inputs["tenantId"],
        "clientId": str(inputs["clientId"]).lower(),
        "applicationRegisteredHere": bool(inputs.get("applicationRegisteredHere")),
        "appRoleAssignmentRequired": required,
        "objectId": object_id,
        "displayName": str(live.get("displayName") or ""),
        "accountEnabled": live.get("accountEnabled") is not False,
        "origin": origin,
        "before": before,
        "auth": inputs.get("auth"),
    }


def failures(news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    found = []
    for key, what in (("tenantId", "the tenant id"), ("clientId", "TaxCalc-Hub's application id")):
        value = news.get(key)
        if isinstance(value, pulumi.Output | Unknown):
            # Not known until apply (register mode: the application registered in the same run): the plugin
            # hands the check an unknown (pulumi/dynamic/__main__.py, Check, keep_unknowns): an Output for an
            # output value, ``pulumi.output.Unknown`` for the plain unknown sentinel (runtime/rpc.py).
            continue
        if not isinstance(value, str) or not is_guid(value):
            found.append(pulumi.dynamic.CheckFailure(key, f"expected {what}, a GUID"))
    if not isinstance(news.get("appRoleAssignmentRequired"), bool):
        found.append(pulumi.dynamic.CheckFailure("appRoleAssignmentRequired", "expected true or false"))
    return found


# ------------------------------------------------------------------------------------------- provider


class HubServicePrincipalProvider(pulumi.dynamic.ResourceProvider):
    """The dynamic provider. Pickled by reference into state (it holds nothing); credentials are read per call."""

    serialize_as_secret_always = False
    """It captures no secret, so the reference to it need not be encrypted in state."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, failures(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        moved = [
            key for key in ("tenantId", "clientId") if str(olds.get(key, "")).lower() != str(news.get(key, "")).lower()
        ]
        if moved:
            # Another tenant's or another application's service principal is another object: the old one is
            # released (as offboarding releases it) before the new one is found or created.
            return pulumi.dynamic.DiffResult(changes=True, replaces=moved, delete_before_replace=True)
        changed = bool(olds.get("appRoleAssignmentRequired")) != bool(news.get("appRoleAssignmentRequired"))
        return pulumi.dynamic.DiffResult(changes=changed)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        with graph_writer(props) as sps:
            object_id, outputs = adopt_or_create(sps, props)
        return pulumi.dynamic.CreateResult(object_id, outputs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        with graph_writer(props) as sps:
            outputs = read_service_principal(sps, id_, props)
        # An empty id tells the engine the resource is gone (pulumi/dynamic/__main__.py, Read).
        return pulumi.dynamic.ReadResult(id_, outputs) if outputs is not None else pulumi.dynamic.ReadResult("", {})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        with graph_writer(news) as sps:
            return pulumi.dynamic.UpdateResult(update_service_principal(sps, id_, olds, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with graph_writer(props) as sps:
            release_service_principal(sps, id_, props)


@dataclass(frozen=True)
class HubServicePrincipalArgs:
    tenant_id: str
    client_id: pulumi.Input[str]
    assignment_required: bool
    application_registered_here: bool
    auth: AuthSection
    found_in_tenant: bool | None = None
    """What the program saw when it ran: the tenant has one already (True), has none (False), or the application
    id is not known yet (None, register mode). Said in the plan; the provider finds or creates all the same."""


class HubServicePrincipal(pulumi.dynamic.Resource, module="taxcalc-consent", name="HubServicePrincipal"):
    """TaxCalc-Hub's service principal (enterprise application); type token ``service_principal.TYPE``."""

    object_id: pulumi.Output[str]
    origin: pulumi.Output[str]

    def __init__(self, name: str, args: HubServicePrincipalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {
            "tenantId": args.tenant_id,
            "clientId": args.client_id,
            "appRoleAssignmentRequired": args.assignment_required,
            "applicationRegisteredHere": args.application_registered_here,
            "foundInTenant": args.found_in_tenant,
            "auth": provider_settings.auth_inputs(args.auth),
            # Outputs the program reads, declared so the engine resolves them (by their Python names: the SDK
            # keys each output's resolver by the name given here, after translate_output_property).
            "object_id": None,
            "origin": None,
        }
        super().__init__(HubServicePrincipalProvider(), name, props, opts)

    def translate_output_property(self, prop: str) -> str:
        return {"objectId": "object_id"}.get(prop, prop)
