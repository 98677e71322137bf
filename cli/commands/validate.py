from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.console import err, is_debug, print_json, user_errors
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.pipeline import load_checked_plans
from taxcalc_consent.infra.errors import SpecError
from taxcalc_consent.infra.plan import plan_to_dict

PathsArg = Annotated[list[Path], typer.Argument(help="Tenant files or folders of tenant files.", show_default=False)]


def validate(
    ctx: typer.Context,
    paths: PathsArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Check tenant files (schema, scopes, users, duplicates, secrets) and consent policy.

    Exit 2 on any problem or mandatory policy violation; advisory violations are warnings.
    """
    with user_errors(is_debug(ctx)):
        try:
            checked = load_checked_plans(paths)
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
    plans = [plan for plan, _ in checked]
    mandatory = [v for p in plans for v in p.violations if v.severity == "mandatory"]
    if json_output:
        print_json(
            {
                "format": "taxcalc-consent/validate@1",
                "valid": not mandatory,
                "problems": [],
                "tenants": [p.tenant for p in plans],
                "violations": [
                    {"tenant": p.tenant, **violation} for p in plans for violation in plan_to_dict(p)["violations"]
                ],
            }
        )
    for plan, located in checked:
        failed = any(lv.violation.severity == "mandatory" for lv in located)
        err.print(f"{'FAIL' if failed else 'ok'}  {plan.tenant}  ({plan.file})", markup=False, highlight=False)
        for lv in located:
            style = "red" if lv.violation.severity == "mandatory" else "yellow"
            err.print(f"  {lv.where}", style=style, markup=False, highlight=False)
    if mandatory:
        err.print(
            f"{len(mandatory)} mandatory policy violation(s); fix them or change policy in _defaults.yaml",
            markup=False,
        )
        raise typer.Exit(int(ExitCode.INVALID))
    advisory = sum(len(p.violations) for p in plans)
    warnings = f", {advisory} advisory warning(s)" if advisory else ""
    err.print(f"{len(plans)} tenant file(s) valid{warnings}", markup=False)
