from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, is_debug, print_json, user_errors
from cli.pipeline import load_plans
from infra.errors import SpecError

PathsArg = Annotated[list[Path], typer.Argument(help="Tenant files or folders of tenant files.", show_default=False)]


def validate(
    ctx: typer.Context,
    paths: PathsArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Check tenant files: schema, scopes, users, duplicates, secrets. Exit 2 on any problem."""
    with user_errors(is_debug(ctx)):
        try:
            plans = load_plans(paths)
        except SpecError as exc:
            if json_output:
                print_json(
                    {
                        "format": "taxcalc-consent/validate@1",
                        "valid": False,
                        "problems": [
                            {
                                "file": p.file,
                                "line": p.line,
                                "col": p.col,
                                "key": p.key_path,
                                "message": p.message,
                            }
                            for p in exc.problems
                        ],
                    }
                )
            raise
    if json_output:
        print_json(
            {
                "format": "taxcalc-consent/validate@1",
                "valid": True,
                "problems": [],
                "tenants": [p.tenant for p in plans],
            }
        )
    for plan in plans:
        err.print(f"ok  {plan.tenant}  ({plan.file})", markup=False, highlight=False)
    err.print(f"{len(plans)} tenant file(s) valid", markup=False)
