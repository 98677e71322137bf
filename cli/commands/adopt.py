from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from taxcalc_consent.cli.commands.audit import CloudName, CloudOption, GraphEndpointOption, per_tenant
from taxcalc_consent.cli.commands.validate import PathsArg
from taxcalc_consent.cli.console import err, is_debug, print_json, user_errors
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.pipeline import load_plans
from taxcalc_consent.infra.adopt import ADOPT_FORMAT, adoption_to_dict, find_project, plan_adoption, write_adoption
from taxcalc_consent.infra.graph import GraphError


def adopt(
    ctx: typer.Context,
    paths: PathsArg,
    project_dir: Annotated[
        Path | None,
        typer.Option("--project-dir", help="The Pulumi project (folder with Pulumi.yaml); default: found upwards."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    graph_endpoint: GraphEndpointOption = None,
    cloud: CloudOption = CloudName.public,
) -> None:
    """Adopt consent granted by hand: record existing Graph objects in each tenant's stack config.

    The next apply imports them instead of failing with "Permission entry already exists". Reads Graph
    only; writes only stacks/Pulumi.<tenant>.yaml (key taxcalc-consent:adopt). A second run changes nothing.
    """
    debug = is_debug(ctx)
    with user_errors(debug):
        plans = load_plans(paths)
        project = find_project(project_dir)
        results = per_tenant(plans, cloud, graph_endpoint, debug, plan_adoption)
        reports: list[dict[str, Any]] = []
        failed = 0
        for plan, adoption in results:
            config_file = _shown(project.stack_config_file(plan.tenant))
            if isinstance(adoption, GraphError):
                failed += 1
                reports.append({"tenant": plan.tenant, "stack_config": str(config_file), "error": str(adoption)})
                continue
            changed = write_adoption(config_file, project.adopt_key, adoption.mapping)
            reports.append(adoption_to_dict(adoption, str(config_file), changed))
    if json_output:
        print_json({"format": ADOPT_FORMAT, "tenants": reports})
    for report in reports:
        _render(report)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _render(report: dict[str, Any]) -> None:
    say = err.print
    if "error" in report:
        say(f"{report['tenant']}: failed: {report['error']}", markup=False, highlight=False)
        return
    where = report["stack_config"]
    status = f"updated {where}" if report["changed"] else f"{where} already up to date: nothing changed"
    say(f"{report['tenant']}: {status}", markup=False, highlight=False)
    for item in report["adopted"]:
        say(f"  adopted   {item['name']} <- {item['import_id']}  ({item['what']})", markup=False, highlight=False)
    for change in report["apply_changes"]:
        say(f"  on apply  {change}", markup=False, highlight=False)
    for note in report["not_adopted"]:
        say(f"  left      {note}", markup=False, highlight=False)
    if not report["adopted"]:
        say("  nothing to adopt", markup=False)


def _shown(path: Path) -> Path:
    """Relative to the current folder when inside it: shorter, and the same on every machine."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path
