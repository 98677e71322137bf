"""Where output goes: machine-readable documents on stdout (or --out), everything for people on stderr.

Also the one edge between a command and the process (``exits``): commands return an ExitCode, and a
user-facing failure raised anywhere below is printed here, located, without a traceback unless --debug.
Nothing a user wrote or Graph returned is ever read as console markup: text is printed with
``markup=False`` or as ``rich.text.Text``. And nothing reaches the terminal as a control: every line and
every text the console prints passes through ``errors.printable`` (an escape sequence in a file name or a
group name is shown as ``\x1b``, never sent), the same escaping every message and path gets on its way in.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.infra.model.errors import Problem, SpecError, TaxcalcConsentError, printable
from taxcalc_consent.infra.model.files import (
    NotARegularFile,
    ReadByThisRun,
    TargetRefused,
    atomic_writer,
    writable_target,
)

if TYPE_CHECKING:
    from rich.console import Console, ConsoleRenderable, RenderHook
    from rich.table import Table
    from rich.text import Text

    from taxcalc_consent.infra.model.documents import ValidateDocument

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
        from taxcalc_consent.cli.ui.layout import people_console

        # Tables stack and prose wraps at spaces to the width (cli.ui.layout); piped, that is $COLUMNS when set.
        _console = people_console(
            stderr=True,
            highlight=False,
            soft_wrap=True,
            markup=False,
            emoji=False,
            width=None if sys.stderr.isatty() else columns_given() or NOT_A_TERMINAL_WIDTH,
        )
        _console.push_render_hook(_escaping())
    return _console


def columns_given() -> int | None:
    """``$COLUMNS`` as a width, when it is one: what a pipe into ``less`` or a CI log of known width asks for."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= NOT_A_TERMINAL_WIDTH else None


def escaped(text: Text) -> Text:
    """``text`` with every character a terminal would not show as itself written as an escape, its styles
    kept (``errors.printable``, for rich text)."""
    from rich.text import Text

    plain = text.plain
    if plain.isprintable():
        return text
    out = Text(style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
    start = 0
    for index, char in enumerate(plain):
        shown = printable(char)
        if shown != char:
            out.append_text(text[start:index])
            out.append(shown)
            start = index + 1
    out.append_text(text[start:])
    return out


def _escaping() -> RenderHook:
    """A rich render hook: every text printed on the console is escaped (tables escape their cells in
    ``literal_row``)."""
    from rich.console import RenderHook
    from rich.text import Text

    class Escaping(RenderHook):
        def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
            return [escaped(r) if isinstance(r, Text) else r for r in renderables]

    return Escaping()


def __getattr__(name: str) -> Any:
    if name == "err":  # ``from ...console import err``: the console, made when first asked for
        return stderr_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def literal_row(table: Table, *cells: str | Text) -> None:
    """Add a table row whose plain-text cells print as written (a UPN or group name is never markup)."""
    from rich.text import Text

    table.add_row(*(escaped(cell) if isinstance(cell, Text) else Text(printable(cell)) for cell in cells))


class UsageError(TaxcalcConsentError):
    """Options that cannot work together: nothing was touched."""

    exit_code = ExitCode.INVALID


class OutputError(TaxcalcConsentError):
    """The work was done but its document could not be written (exit 1)."""

    exit_code = ExitCode.FAILED


def say(text: str) -> None:
    """One line for people, on stderr, printed as given (no markup, no styling), escaped: a line break or an
    escape sequence in it is shown, not obeyed. At a terminal it wraps at spaces to the terminal's width (a
    path or a UPN is never split); elsewhere it stays one line, as a located problem must for grep."""
    if sys.stderr.isatty():
        from rich.text import Text

        stderr_console().print(Text(printable(text)))
    else:
        sys.stderr.write(printable(text) + "\n")


def say_styled(text: str, style: str) -> None:
    """Like ``say``, in colour at a terminal (rich is loaded only then)."""
    if sys.stderr.isatty():
        from rich.text import Text

        stderr_console().print(Text(printable(text), style=style))
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
        sys.stderr.write("".join(f"{printable(text)}\n" for text, _ in lines))


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, nothing else there."""
    from taxcalc_consent.infra.model.document_json import to_json

    sys.stdout.write(to_json(document))
    sys.stdout.flush()


class OutputNamesAnInput(TaxcalcConsentError):
    """--out names a file the run read: nothing was written, and no tenant was touched."""

    exit_code = ExitCode.INVALID


def check_out(out: Path | None) -> None:
    """Refuse an --out path that cannot be written (exit 1) or that names a file this run read (exit 2).

    Called before any work is done, and again by commands that change something (the fleet, adopt) once
    the tenant files are read, before anything is changed; the write itself checks once more."""
    if out is None:
        return
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise OutputError(f"--out {out}: folder {out.parent} is not writable by this user; choose another")
    try:
        writable_target(out, inputs_protected=True)
    except TargetRefused as exc:
        raise _refusal(out, exc) from None


def _refusal(out: Path, exc: TargetRefused) -> TaxcalcConsentError:
    if isinstance(exc, ReadByThisRun):
        return OutputNamesAnInput(
            f"--out {out}: {exc}; name a new file for the document (nothing was written, nothing changed)"
        )
    if isinstance(exc, NotARegularFile):
        return OutputError(
            f"--out {out}: {exc}; to pass the document to a program, use --json and a pipe "
            "(taxcalc-consent ... --json | jq .)"
        )
    return OutputError(f"--out {out}: {exc}")


def write_document(out: Path, write: Callable[[TextIO], None]) -> None:
    """The one writer of --out documents: ``write`` fills the file, which then replaces ``out`` whole
    (``files.atomic_writer``), never over a device, a pipe or anything this run read."""
    try:
        with atomic_writer(out, inputs_protected=True) as stream:
            write(stream)
    except TargetRefused as exc:
        raise _refusal(out, exc) from None
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}")


def write_out(out: Path, text: str) -> None:
    def write(stream: TextIO) -> None:
        stream.write(text)

    write_document(out, write)


def emit(document: Any, *, json_output: bool, out: Path | None) -> None:
    """A command's document: to --out FILE and/or, with --json, on stdout."""
    from taxcalc_consent.infra.model.document_json import to_json

    if out is not None:
        write_out(out, to_json(document))
    if json_output:
        print_json(document)


def emit_plans(bodies: Sequence[str], *, json_output: bool, out: Path | None) -> None:
    """The plan@1 document from each tenant's entry, encoded by ``document_json.encode_item``: written entry by
    entry (thousands of tenants are never one string), to --out and/or, with --json, on stdout."""
    from taxcalc_consent.infra.model.document_json import write_encoded
    from taxcalc_consent.infra.model.documents import PLAN_FORMAT

    head = {"format": PLAN_FORMAT}
    if out is not None:
        write_document(out, lambda stream: write_encoded(stream, head, bodies))
    if json_output:
        write_encoded(sys.stdout, head, bodies)
        sys.stdout.flush()


def problems_document(problems: list[Problem]) -> ValidateDocument:
    from taxcalc_consent.infra.model.documents import VALIDATE_FORMAT

    return {
        "format": VALIDATE_FORMAT,
        "valid": False,
        "problems": [
            {"file": p.file, "line": p.line, "col": p.col, "key": p.key_path, "message": p.message} for p in problems
        ],
    }


@contextmanager
def user_errors(debug: bool = False, json_output: bool = False, out: Path | None = None) -> Iterator[None]:
    """Turn user-facing failures into located lines and their exit code; a traceback only with --debug.

    With --json, invalid input still gives stdout one document: validate@1 with ``valid: false``; and --out
    gets that same document, so a file an earlier run wrote (``valid: true``, say) never outlives a failed
    run for a CI gate to read.
    """
    try:
        yield
    except SpecError as exc:
        if debug:
            raise
        document = problems_document(list(exc.problems))
        if json_output:
            print_json(document)
        for problem in exc.problems:
            say(str(problem))
        if out is not None and not out.is_dir():  # a folder is audit's HTML report: no document goes there
            _write_failure(out, document)
        files = len({p.file for p in exc.problems})
        say(f"{exc.total:,} problem(s) in {files} file(s); nothing was changed")
        raise typer.Exit(int(ExitCode.INVALID)) from None
    except TaxcalcConsentError as exc:
        if debug:
            raise
        # One line a problem: an error that gathers several (a credential per tenant) holds one per line.
        for line in str(exc).splitlines() or [""]:
            say(f"error: {line}")
        raise typer.Exit(int(getattr(exc, "exit_code", ExitCode.INVALID))) from None


def _write_failure(out: Path, document: ValidateDocument) -> None:
    from taxcalc_consent.infra.model.document_json import to_json

    try:
        write_out(out, to_json(document))
    except TaxcalcConsentError as exc:
        say(f"error: {exc}")


def given(ctx: typer.Context, parameter: str) -> bool:
    """Whether the user wrote this option, rather than it taking its default."""
    source = ctx.get_parameter_source(parameter)
    return source is not None and source.name != "DEFAULT"


def is_debug(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("debug"))


P = ParamSpec("P")


def library_logs(debug: bool) -> None:
    """azure-identity logs each credential it tries at WARNING (``AzureCliCredential.get_token failed: ...``), and
    Python prints an unhandled WARNING on stderr: a second, longer line for a failure the tool already says in one,
    with what to do. Those logs show only with --debug."""
    import logging

    logger = logging.getLogger("azure")
    quiet = [handler for handler in logger.handlers if isinstance(handler, logging.NullHandler)]
    if debug:
        for handler in quiet:
            logger.removeHandler(handler)
        logger.propagate = True
    else:
        if not quiet:
            logger.addHandler(logging.NullHandler())  # a handler found: Python's last-resort stderr one is not used
        logger.propagate = False


def exits(command: Callable[P, ExitCode]) -> Callable[P, None]:
    """Wrap a command that returns an ExitCode (as pipx's commands do) for Typer.

    The wrapper also gives every command the --debug option (declared once, as ``options.DebugOpt``), so
    it works after the command name as well as before it.
    """
    from taxcalc_consent.cli.ui.options import DebugOpt

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        # Not isinstance(ctx, typer.Context): Typer 0.29 passes its vendored click Context, of another class.
        ctx: Any = kwargs.get("ctx")
        root = ctx.find_root() if hasattr(ctx, "find_root") else None
        if kwargs.pop("debug", False) and root is not None:
            root.obj = {**(root.obj or {}), "debug": True}
        debug = root is not None and bool(root.obj and root.obj.get("debug"))
        library_logs(debug)
        out = kwargs.get("out")
        with user_errors(
            debug, json_output=bool(kwargs.get("json_output")), out=out if isinstance(out, Path) else None
        ):
            code = command(*args, **kwargs)
        raise typer.Exit(int(code))

    signature = inspect.signature(command, eval_str=True)
    debug_option = inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), debug_option]
    )
    return run
