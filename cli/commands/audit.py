from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from taxcalc_consent.cli.console import UsageError, check_out, emit, is_debug, say, write_out
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.options import CloudName, CloudOpt, GraphEndpointOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg
from taxcalc_consent.infra.documents import AuditDocument, AuditTenant, FailedTenant


class ReportFormat(StrEnum):
    table = "table"
    md = "md"
    html = "html"


def audit(
    ctx: typer.Context,
    paths: PathsArg,
    json_output: JsonOpt = False,
    output_format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help="The report's form: table (people, on stderr), md or html (to --out FILE, else stdout). "
            "--out with table writes the audit@1 JSON.",
        ),
    ] = ReportFormat.table,
    out: OutOpt = None,
    parallel: ParallelOpt = 4,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = CloudName.public,
) -> ExitCode:
    """Read each tenant's consent posture from Microsoft Graph (read-only) and compare it with its file.

    Exit 0 when every tenant matches its file, 3 when there are differences, 1 when Graph failed for a
    tenant (the others still run), 2 on invalid input.
    """
    from taxcalc_consent.cli.audit_render import render_html, render_markdown, render_table
    from taxcalc_consent.cli.graph_reads import per_tenant
    from taxcalc_consent.infra.audit import audit_document, audit_tenant
    from taxcalc_consent.infra.graph import GraphError

    textual = output_format is not ReportFormat.table
    if json_output and textual and out is None:
        raise UsageError("--json prints JSON on stdout; write the md/html report with --out FILE")
    from taxcalc_consent.cli.pipeline import load_plans

    check_out(out)
    plans = load_plans(paths)
    results = per_tenant(plans, cloud, graph_endpoint, parallel, audit_tenant, debug=is_debug(ctx))
    tenants: list[AuditTenant | FailedTenant] = [
        {"tenant": plan.tenant, "file": plan.file, "tenant_id": plan.tenant_id, "error": str(result)}
        if isinstance(result, GraphError)
        else result
        for plan, result in results
    ]
    document: AuditDocument = audit_document(tenants)
    if textual:
        text = render_markdown(document) if output_format is ReportFormat.md else render_html(document)
        if out is not None:
            write_out(out, text)
        elif not json_output:
            sys.stdout.write(text)
        emit(document, json_output=json_output, out=None)
    else:
        emit(document, json_output=json_output, out=out)
        if not json_output:
            render_table(document)
    failed = sum(1 for t in tenants if "error" in t)
    differing = sum(1 for t in tenants if t.get("differences"))
    say(f"{len(tenants)} tenant(s) audited: {differing} with differences, {failed} failed")
    if failed:
        return ExitCode.FAILED
    if differing:
        return ExitCode.CHANGES
    return ExitCode.OK
