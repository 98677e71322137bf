"""The start-up baseline: a Typer app of taxcalc-consent's shape (nine commands, the same kinds of
arguments and options). ``--help`` of the real tool is measured against this one's.

Its ``validate`` and ``plan`` only parse the tenant files with PyYAML's CSafeLoader, as the parse-only
baseline does: the floor the command-line framework sets for any Typer tool that reads the same files
(Typer 0.29 coerces every parameter through pydantic, so running a command loads pydantic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(name="typer-only", no_args_is_help=True, add_completion=False, rich_markup_mode=None)

Paths = Annotated[list[Path], typer.Argument(metavar="PATH...", help="Tenant files or folders.")]
Json = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
Out = Annotated[Path | None, typer.Option("--out", "--report", metavar="FILE", help="Write it here.")]
Parallel = Annotated[int, typer.Option("--parallel", min=1, max=64, help="At once.")]
Shard = Annotated[str | None, typer.Option("--shard", metavar="K/N", help="Shard.")]
Backend = Annotated[str | None, typer.Option("--backend", metavar="URL", help="Backend.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Go ahead.")]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Tracebacks.")] = False) -> None:
    """Pre-consent an app's Microsoft Graph permissions in client tenants."""


@app.command()
def init(name: str, tenant_id: Annotated[str, typer.Option("--tenant-id")], users: list[str] | None = None) -> None:
    """Write a tenant file."""


@app.command()
def validate(paths: Paths, json_output: Json = False, out: Out = None) -> None:
    """Check tenant files."""
    _parse(paths)


@app.command()
def plan(
    paths: Paths,
    offline: bool = False,
    parallel: Parallel = 4,
    shard: Shard = None,
    backend: Backend = None,
    json_output: Json = False,
    out: Out = None,
) -> None:
    """Preview."""
    _parse(paths)


@app.command()
def apply(
    paths: Paths,
    yes: Yes = False,
    parallel: Parallel = 4,
    shard: Shard = None,
    backend: Backend = None,
    json_output: Json = False,
    out: Out = None,
) -> None:
    """Apply."""


@app.command()
def drift(
    paths: Paths, parallel: Parallel = 4, shard: Shard = None, backend: Backend = None, json_output: Json = False
) -> None:
    """Drift."""


@app.command()
def offboard(
    paths: Paths, yes: Yes = False, parallel: Parallel = 4, shard: Shard = None, json_output: Json = False
) -> None:
    """Offboard."""


@app.command()
def audit(paths: Paths, json_output: Json = False, out: Out = None, parallel: Parallel = 4) -> None:
    """Read tenants."""


@app.command()
def adopt(paths: Paths, json_output: Json = False, out: Out = None, parallel: Parallel = 4) -> None:
    """Adopt tenants."""


@app.command()
def schema(name: str = "tenant", out: Out = None) -> None:
    """Print a schema."""


def _parse(paths: list[Path]) -> None:
    import yaml

    for folder in paths:
        for path in sorted(folder.glob("*.yaml")):
            yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


if __name__ == "__main__":
    app()
