from __future__ import annotations

from pathlib import Path

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import check_out, emit, is_debug, say
from taxcalc_consent.cli.ui.options import CloudOpt, GraphEndpointOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg
from taxcalc_consent.infra.model.audit_documents import ADOPT_FORMAT, AdoptDocument, AdoptFailedTenant, AdoptTenant


def adopt(
    ctx: typer.Context,
    paths: PathsArg,
    json_output: JsonOpt = False,
    out: OutOpt = None,
    parallel: ParallelOpt = 4,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Adopt consent granted by hand: record existing Graph objects in each tenant's stack config.

    The next apply imports them instead of failing with "Permission entry already exists". Exits 1 when a
    tenant lacks a user or group its file names (naming the tenant's near name). Reads Graph only; writes only
    stacks/Pulumi.<tenant>.yaml (key taxcalc-consent:adopt) under the workspace root ($TAXCALC_CONSENT_ROOT,
    else the current folder), the file apply reads. A second run changes nothing.
    """
    from taxcalc_consent.cli.fleet.graph_reads import per_tenant
    from taxcalc_consent.cli.fleet.pipeline import load_plans
    from taxcalc_consent.infra.graph.adopt import adoption_to_dict, plan_adoption, write_adoption
    from taxcalc_consent.infra.graph.client import GraphError
    from taxcalc_consent.infra.model.workspace import ADOPT_KEY, current_workspace

    check_out(out)
    plans = load_plans(paths, notify=say)
    check_out(out)  # again, now that the files are read: an --out naming one is refused before any is written
    workspace = current_workspace()
    # adopt needs no consent settings: it reads without Policy.Read.All (docs/ci.md).
    results = per_tenant(plans, cloud, graph_endpoint, parallel, plan_adoption, debug=is_debug(ctx), policies=False)
    # Said once the reads are done (a mistyped option or endpoint is refused before, with its one line).
    for notice in workspace.notices(plan.file for plan in plans):
        say(notice)
    reports: list[AdoptTenant | AdoptFailedTenant] = []
    for plan, adoption in results:
        config_file = _shown(workspace.stack_settings_file(plan.tenant))
        if isinstance(adoption, GraphError):
            reports.append({"tenant": plan.tenant, "stack_config": str(config_file), "error": str(adoption)})
            continue
        changed = write_adoption(config_file, ADOPT_KEY, adoption.mapping)
        reports.append(adoption_to_dict(adoption, str(config_file), changed))
    document: AdoptDocument = {"format": ADOPT_FORMAT, "tenants": reports}
    emit(document, json_output=json_output, out=out)
    for report in reports:
        _render(report)
    missing = [r for r in reports if r.get("missing")]
    if missing:
        say(
            f"{len(missing)} tenant(s) name users or groups their tenant does not have: apply would fail there; "
            "correct the names (see 'missing' above) and run adopt again"
        )
    return ExitCode.FAILED if any("error" in r for r in reports) or missing else ExitCode.OK


def _render(report: AdoptTenant | AdoptFailedTenant) -> None:
    if "error" in report:
        say(f"{report['tenant']}: failed: {report['error']}")
        return
    where = report["stack_config"]
    status = f"updated {where}" if report["changed"] else f"{where} already up to date: nothing changed"
    say(f"{report['tenant']}: {status}")
    for item in report["adopted"]:
        say(f"  adopted   {item['name']} <- {item['import_id']}  ({item['what']})")
    for change in report["apply_changes"]:
        say(f"  on apply  {change}")
    for note in report["not_adopted"]:
        say(f"  left      {note}")
    for name in report["missing"]:
        say(f"  missing   {name}")
    if not report["adopted"]:
        say("  nothing to adopt")


def _shown(path: Path) -> Path:
    """Relative to the current folder when inside it: shorter, and the same on every machine."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path
