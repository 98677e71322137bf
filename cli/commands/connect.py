from __future__ import annotations

from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import say
from taxcalc_consent.cli.ui.options import PathsArg, YesOpt
from taxcalc_consent.infra.model.profiles import EngineerMethod


def connect(
    ctx: typer.Context,
    paths: PathsArg,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the automation identity (its service principal) instead.")
    ] = False,
    yes: YesOpt = False,
    sign_in: Annotated[
        EngineerMethod,
        typer.Option(
            "--sign-in",
            help="How you sign in, once, as the MSP's engineer: cli (the Azure CLI's account, after az login), "
            "browser, or device-code (a code to enter at https://microsoft.com/devicelogin on any device).",
        ),
    ] = "cli",
) -> ExitCode:
    """Put the MSP's automation identity into each client tenant, through your GDAP sign-in.

    In each tenant: the automation app's service principal (auth.client_id) and exactly the Microsoft Graph
    application permissions that tenant's file needs, previewed first; what it holds beyond them is revoked.
    Needs Cloud Application Administrator and Privileged Role Administrator through the tenant's GDAP relationship.
    A tenant whose file records no relationship (a direct customer) gets its admin-consent URL instead.
    Exit 0 when done or nothing to do, 1 when a tenant failed, 3 when changes were previewed and not made.
    """
    from taxcalc_consent.cli.fleet import connect as connecting
    from taxcalc_consent.cli.fleet.pipeline import load_plans
    from taxcalc_consent.cli.ui.fleet_display import is_interactive

    plans = load_plans(paths, notify=say)
    connections = connecting.preview(plans, remove, sign_in=sign_in)
    try:
        pending = []
        for c in connections:
            tenant = c.plan.tenant
            if c.error is not None:
                say(f"{tenant}: failed: {c.error}")
            elif c.admin_consent_url is not None:
                say(
                    f"{tenant}: no GDAP relationship recorded (a direct customer): a Privileged Role Administrator or "
                    f"Global Administrator of the tenant opens {c.admin_consent_url} ; it grants what the automation "
                    "app's registration lists under API permissions; this tenant's file needs exactly: "
                    f"{', '.join(c.needed)}"
                )
            elif c.change is not None and c.change.empty:
                say(f"{tenant}: the automation identity holds exactly what the file needs: nothing to change")
            elif c.change is not None:
                pending.append(c)
                _say_change(tenant, c.app_id or "", c.change)
        if pending and not yes and not (is_interactive() and typer.confirm(f"Change {len(pending)} tenant(s)?")):
            say("nothing was changed" + ("" if is_interactive() else ": run again with --yes to go ahead"))
            return ExitCode.CHANGES if not any(c.error for c in connections) else ExitCode.FAILED
        connecting.apply(pending)
        for c in pending:
            if c.done:
                say(f"{c.plan.tenant}: {'removed' if remove else 'connected'}")
            else:
                say(f"{c.plan.tenant}: failed: {c.error}")
    finally:
        connecting.close(connections)
    return ExitCode.FAILED if any(c.error for c in connections) else ExitCode.OK


def _say_change(tenant: str, app_id: str, change: object) -> None:
    from taxcalc_consent.infra.graph.automation_identity import ConnectChange

    assert isinstance(change, ConnectChange)
    if change.remove_service_principal:
        say(f"{tenant}: - remove the automation identity's service principal (application {app_id})")
    if change.create_service_principal:
        say(f"{tenant}: + create the automation identity's service principal (application {app_id})")
    for permission in change.grant:
        say(f"{tenant}: + grant the Microsoft Graph application permission {permission}")
    for permission in change.revoke:
        say(f"{tenant}: - revoke the Microsoft Graph application permission {permission}")
