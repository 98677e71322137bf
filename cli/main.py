"""The Typer app: global options and command wiring. Commands live in ``cli/commands/<verb>.py``.

Importing this module must not import pulumi: ``--help`` and ``validate`` stay fast and work where
the Pulumi SDK is broken or absent. Commands that drive Pulumi import it inside their bodies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from taxcalc_consent.cli.commands.adopt import adopt
from taxcalc_consent.cli.commands.apply import apply
from taxcalc_consent.cli.commands.audit import audit
from taxcalc_consent.cli.commands.connect import connect
from taxcalc_consent.cli.commands.discover import discover
from taxcalc_consent.cli.commands.drift import drift
from taxcalc_consent.cli.commands.init import init
from taxcalc_consent.cli.commands.offboard import offboard
from taxcalc_consent.cli.commands.plan import plan
from taxcalc_consent.cli.commands.schema import schema
from taxcalc_consent.cli.commands.validate import validate
from taxcalc_consent.cli.ui.console import exits, say
from taxcalc_consent.cli.ui.options import DebugOpt
from taxcalc_consent.infra.graph import prompts
from taxcalc_consent.infra.model.errors import redact


@contextmanager
def _usage_errors_redacted() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        _redacted_usage_error(exc)
        raise


def _redacted_usage_error(exc: Exception) -> None:
    """Typer's usage errors quote what was typed ("Invalid value for '--shard': 'Xy7...'", "No such command
    'Xy7...'"): they go through the same redaction as every other message, so a secret pasted on the
    command line is not printed back. Typer checks choices through pydantic, whose "Value error, " prefix
    ("Invalid value for '--cloud': Value error, 'mars' is not one of ...") is dropped: library words."""
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        exc.message = redact(message.removeprefix("Value error, "))  # type: ignore[attr-defined]


class RedactingGroup(TyperGroup):
    """The app's command group: its usage errors ("No such command ...") are redacted."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _usage_errors_redacted():
            return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        with _usage_errors_redacted():
            return super().resolve_command(ctx, args)


class PlainHelpCommand(TyperCommand):
    """Typer's command, with each argument shown in --help by its metavar (PATH..., NAME) instead of
    ``{NAME}`` and a raw type name such as ``<list[Path]>``; a list of choices is kept. (The context and
    formatter are Typer's vendored click types, which it does not export: hence ``Any``.)"""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument" and param.metavar:
                optional = not param.required and not param.metavar.startswith("[")
                pieces.append(f"[{param.metavar}]" if optional else param.metavar)
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _usage_errors_redacted():
            return super().parse_args(ctx, args)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name, help_text = record
                if param.metavar and "|" not in name:
                    name = param.metavar
                arguments.append((name, help_text))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    name="taxcalc-consent",
    help=(
        "Pre-consent TaxCalc-Hub's Microsoft Graph permissions in client tenants, from one YAML file per tenant.\n\n"
        "Exit codes: 0 ok / no changes, 1 an operation failed, 2 invalid input or policy violation "
        "(nothing touched), 3 changes pending or drift found."
    ),
    cls=RedactingGroup,
    no_args_is_help=True,
    add_completion=False,
    # Locals in tracebacks could print a secret; tracebacks at all only with --debug.
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("taxcalc-consent")
        except PackageNotFoundError:  # run from a checkout that was never installed
            installed = "unknown (not installed)"
        typer.echo(f"taxcalc-consent {installed}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: DebugOpt = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}
    prompts.say_with(say)  # a device code to enter, mid-call, is said as every other line is


# In the order of the command-line contract (README, Commands), which is also --help's order. Each command
# returns an ExitCode; ``exits`` turns it (and any user-facing error) into the process's exit status.
for command in (init, discover, connect, validate, plan, apply, drift, offboard, audit, adopt, schema):
    app.command(cls=PlainHelpCommand)(exits(command))


def run() -> None:
    """The console script. pydantic looks for plugins in every installed distribution's metadata the
    first time it builds a schema; the tool uses none, so its process skips that scan (a user who wants
    one sets PYDANTIC_DISABLE_PLUGINS themselves). Library callers of the core are not affected."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()
