"""Where output goes: machine-readable documents on stdout (or --out), everything for people on stderr.

Also the one edge between a command and the process (``exits``): commands return an ExitCode, and a
user-facing failure raised anywhere below is printed here, located, without a traceback unless --debug.
Nothing a user wrote or Graph returned is ever read as console markup: text is printed with
``markup=False`` or as ``rich.text.Text``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import typer

from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.infra.errors import Problem, SpecError, TaxcalcConsentError
from taxcalc_consent.infra.files import atomic_writer, write_atomically

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from taxcalc_consent.infra.documents import ValidateDocument

    err: Console

NOT_A_TERMINAL_WIDTH = 10_000
"""Columns for tables written to a file or CI log: wide enough that no cell (a UPN, a scope list, an
address) is ever folded across lines; a terminal gets its own width."""

_console: Console | None = None


def stderr_console() -> Console:
    """The rich console for people's output, made on first use (rich costs start-up time otherwise).

    Nothing a user wrote or Graph returned is ever interpreted: a group named "Finance [/]" or a UPN
    holding "[link=...]" prints as written. So plain strings are never read as console markup or
    :emoji: codes; styled output is built from rich.text.Text, whose plain parts are literal.
    """
    global _console
    if _console is None:
        from rich.console import Console

        terminal = sys.stderr.isatty()
        _console = Console(
            stderr=True,
            highlight=False,
            soft_wrap=True,
            markup=False,
            emoji=False,
            width=None if terminal else NOT_A_TERMINAL_WIDTH,
        )
    return _console


def __getattr__(name: str) -> Any:
    if name == "err":  # ``from ...console import err``: the console, made when first asked for
        return stderr_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def literal_row(table: Table, *cells: str | Text) -> None:
    """Add a table row whose plain-text cells print as written (a UPN or group name is never markup)."""
    from rich.text import Text

    table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


class UsageError(TaxcalcConsentError):
    """Options that cannot work together: nothing was touched."""

    exit_code = ExitCode.INVALID


class OutputError(TaxcalcConsentError):
    """The work was done but its document could not be written (exit 1)."""

    exit_code = ExitCode.FAILED


def say(text: str) -> None:
    """One line for people, on stderr, printed exactly as given (no markup, no wrapping, no styling)."""
    sys.stderr.write(text + "\n")


def say_styled(text: str, style: str) -> None:
    """Like ``say``, in colour at a terminal (rich is loaded only then)."""
    if sys.stderr.isatty():
        stderr_console().print(text, style=style)
    else:
        say(text)


def say_lines(lines: Iterable[tuple[str, str | None]]) -> None:
    """Many lines for people, each with its style (or None): in colour at a terminal, else written at once
    (a line at a time would cost a write to stderr each, thousands for a fleet)."""
    if sys.stderr.isatty():
        for text, style in lines:
            if style:
                say_styled(text, style)
            else:
                say(text)
    else:
        sys.stderr.write("".join(f"{text}\n" for text, _ in lines))


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, nothing else there."""
    from taxcalc_consent.infra.documents import to_json

    sys.stdout.write(to_json(document))
    sys.stdout.flush()


def check_out(out: Path | None) -> None:
    """Refuse an --out path that cannot be written, before any work is done."""
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")


def write_out(out: Path, text: str) -> None:
    try:
        write_atomically(out, text)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}")


def emit(document: Any, *, json_output: bool, out: Path | None) -> None:
    """A command's document: to --out FILE and/or, with --json, on stdout."""
    from taxcalc_consent.infra.documents import to_json

    if out is not None:
        write_out(out, to_json(document))
    if json_output:
        print_json(document)


def emit_plans(bodies: Sequence[str], *, json_output: bool, out: Path | None) -> None:
    """The plan@1 document from each tenant's entry, encoded by ``documents.encode_item``: written entry by
    entry (thousands of tenants are never one string), to --out and/or, with --json, on stdout."""
    from taxcalc_consent.infra.documents import PLAN_FORMAT, write_encoded

    head = {"format": PLAN_FORMAT}
    if out is not None:
        try:
            with atomic_writer(out) as stream:
                write_encoded(stream, head, bodies)
        except OSError as exc:
            raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
        say(f"wrote {out}")
    if json_output:
        write_encoded(sys.stdout, head, bodies)
        sys.stdout.flush()


def problems_document(problems: list[Problem]) -> ValidateDocument:
    from taxcalc_consent.infra.documents import VALIDATE_FORMAT

    return {
        "format": VALIDATE_FORMAT,
        "valid": False,
        "problems": [
            {"file": p.file, "line": p.line, "col": p.col, "key": p.key_path, "message": p.message} for p in problems
        ],
    }


@contextmanager
def user_errors(debug: bool = False, json_output: bool = False) -> Iterator[None]:
    """Turn user-facing failures into located lines and their exit code; a traceback only with --debug.

    With --json, invalid input still gives stdout one document: validate@1 with ``valid: false``.
    """
    try:
        yield
    except SpecError as exc:
        if debug:
            raise
        if json_output:
            print_json(problems_document(list(exc.problems)))
        for problem in exc.problems:
            say(str(problem))
        files = len({p.file for p in exc.problems})
        say(f"{exc.total:,} problem(s) in {files} file(s); nothing was changed")
        raise typer.Exit(int(ExitCode.INVALID)) from None
    except TaxcalcConsentError as exc:
        if debug:
            raise
        say(f"error: {exc}")
        raise typer.Exit(int(getattr(exc, "exit_code", ExitCode.INVALID))) from None


def given(ctx: typer.Context, parameter: str) -> bool:
    """Whether the user wrote this option, rather than it taking its default."""
    source = ctx.get_parameter_source(parameter)
    return source is not None and source.name != "DEFAULT"


def is_debug(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("debug"))


P = ParamSpec("P")


def exits(command: Callable[P, ExitCode]) -> Callable[P, None]:
    """Wrap a command that returns an ExitCode (as pipx's commands do) for Typer.

    The wrapper also gives every command the --debug option (declared once, as ``options.DebugOpt``), so
    it works after the command name as well as before it.
    """
    from taxcalc_consent.cli.options import DebugOpt

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        # Not isinstance(ctx, typer.Context): Typer 0.29 passes its vendored click Context, of another class.
        ctx: Any = kwargs.get("ctx")
        root = ctx.find_root() if hasattr(ctx, "find_root") else None
        if kwargs.pop("debug", False) and root is not None:
            root.obj = {**(root.obj or {}), "debug": True}
        debug = root is not None and bool(root.obj and root.obj.get("debug"))
        with user_errors(debug, json_output=bool(kwargs.get("json_output"))):
            code = command(*args, **kwargs)
        raise typer.Exit(int(code))

    signature = inspect.signature(command, eval_str=True)
    debug_option = inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), debug_option]
    )
    return run
