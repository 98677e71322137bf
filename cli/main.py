"""The Typer app: global options and command wiring. Commands live in ``cli/commands/<verb>.py``.

Importing this module must not import pulumi: ``--help`` and ``validate`` stay fast and work where
the Pulumi SDK is broken or absent. Commands that drive Pulumi import it inside their bodies.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from taxcalc_consent.cli.commands.adopt import adopt
from taxcalc_consent.cli.commands.apply import apply
from taxcalc_consent.cli.commands.audit import audit
from taxcalc_consent.cli.commands.drift import drift
from taxcalc_consent.cli.commands.init import init
from taxcalc_consent.cli.commands.offboard import offboard
from taxcalc_consent.cli.commands.plan import plan
from taxcalc_consent.cli.commands.schema import schema
from taxcalc_consent.cli.commands.validate import validate
from taxcalc_consent.cli.console import exits

app = typer.Typer(
    name="taxcalc-consent",
    help=(
        "Pre-consent TaxCalc-Hub's Microsoft Graph permissions in client tenants, from one YAML file per tenant.\n\n"
        "Exit codes: 0 ok / no changes, 1 an operation failed, 2 invalid input or policy violation "
        "(nothing touched), 3 changes pending or drift found."
    ),
    no_args_is_help=True,
    add_completion=False,
    # Locals in tracebacks could print a secret; tracebacks at all only with --debug.
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    ctx.obj = {"debug": debug}


# In the order of the command-line contract (DESIGN.md), which is also --help's order. Each command
# returns an ExitCode; ``exits`` turns it (and any user-facing error) into the process's exit status.
for command in (init, validate, plan, apply, drift, offboard, audit, adopt, schema):
    app.command()(exits(command))


def run() -> None:
    """The console script. pydantic looks for plugins in every installed distribution's metadata the
    first time it builds a schema; the tool uses none, so its process skips that scan (a user who wants
    one sets PYDANTIC_DISABLE_PLUGINS themselves). Library callers of the core are not affected."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()
