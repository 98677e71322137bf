from __future__ import annotations

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import check_out, emit, say, say_lines
from taxcalc_consent.cli.ui.options import JsonOpt, OutOpt, PathsArg
from taxcalc_consent.infra.model.documents import VALIDATE_FORMAT, ValidateDocument


def validate(ctx: typer.Context, paths: PathsArg, json_output: JsonOpt = False, out: OutOpt = None) -> ExitCode:
    """Check tenant files (schema, scopes, users, duplicates, secrets) and consent policy.

    Exit 2 on any problem or mandatory policy violation; advisory violations are warnings.
    """
    from taxcalc_consent.cli.fleet.pipeline import load_checked

    check_out(out)
    checked = load_checked(paths, notify=say)
    mandatory = [v for c in checked for v in c.violations if v.severity == "mandatory"]
    document: ValidateDocument = {
        "format": VALIDATE_FORMAT,
        "valid": not mandatory,
        "problems": [],
        "tenants": [c.tenant for c in checked],
        "violations": [
            {"tenant": c.tenant, "rule": v.rule, "severity": v.severity, "message": v.message}
            for c in checked
            for v in c.violations
        ],
    }
    emit(document, json_output=json_output, out=out)
    lines: list[tuple[str, str | None]] = []
    for tenant in checked:
        failed = any(lv.violation.severity == "mandatory" for lv in tenant.located)
        lines.append((f"{'FAIL' if failed else 'ok'}  {tenant.tenant}  ({tenant.file})", None))
        for lv in tenant.located:
            lines.append((f"  {lv.where}", "red" if lv.violation.severity == "mandatory" else "yellow"))
    say_lines(lines)
    if mandatory:
        say(f"{len(mandatory)} mandatory policy violation(s); fix them or change policy in _defaults.yaml")
        return ExitCode.INVALID
    advisory = sum(len(c.violations) for c in checked)
    warnings = f", {advisory} advisory warning(s)" if advisory else ""
    say(f"{len(checked)} tenant file(s) valid{warnings}")
    return ExitCode.OK
