"""Where output goes: machine-readable documents on stdout, everything for people on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.infra.errors import SpecError, TaxcalcConsentError

# Nothing a user wrote or Graph returned is ever interpreted: a group named "Finance [/]" or a UPN holding
# "[link=...]" prints as written. So plain strings are never read as console markup or :emoji: codes here;
# styled output is built from rich.text.Text, whose plain parts are literal.
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def literal_row(table: Table, *cells: str | Text) -> None:
    """Add a table row whose plain-text cells print as written (a UPN or group name is never markup)."""
    table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, nothing else there."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: ExitCode = ExitCode.INVALID) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(int(code))


@contextmanager
def user_errors(debug: bool = False) -> Iterator[None]:
    """Turn user-facing failures into located lines and exit 2; a traceback only with --debug."""
    try:
        yield
    except SpecError as exc:
        if debug:
            raise
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False)
        files = len({p.file for p in exc.problems})
        err.print(f"{len(exc.problems)} problem(s) in {files} file(s); nothing was changed", markup=False)
        raise typer.Exit(int(ExitCode.INVALID)) from None
    except TaxcalcConsentError as exc:
        if debug:
            raise
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(int(getattr(exc, "exit_code", ExitCode.INVALID))) from None


def is_debug(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("debug"))
