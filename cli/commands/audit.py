from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import UsageError, check_out, emit, is_debug, say, write_out
from taxcalc_consent.cli.ui.options import CloudOpt, GraphEndpointOpt, JsonOpt, OutOpt, ParallelOpt, PathsArg
from taxcalc_consent.infra.model.audit_documents import AuditDocument, AuditTenant, FailedTenant


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
            help="The report's form: table (people, on stderr); md (to --out FILE, else stdout); html (to --out "
            "DIR: one page per client and index.html). --out with table writes the audit@1 JSON.",
        ),
    ] = ReportFormat.table,
    out: OutOpt = None,
    prepared_by: Annotated[
        str,
        typer.Option(
            "--prepared-by",
            metavar="NAME",
            envvar="TAXCALC_CONSENT_PREPARED_BY",
            help="Who the HTML report says prepared it (your firm's name), on every page.",
        ),
    ] = "your IT provider",
    parallel: ParallelOpt = 4,
    graph_endpoint: GraphEndpointOpt = None,
    cloud: CloudOpt = None,
) -> ExitCode:
    """Read each tenant's consent posture from Microsoft Graph (read-only) and compare it with its file.

    Exit 0 when every tenant matches its file, 3 when there are differences, 1 when Graph failed for a
    tenant (the others still run), 2 on invalid input.
    """
    from taxcalc_consent.cli.fleet.graph_reads import per_tenant
    from taxcalc_consent.cli.ui.audit_render import render_markdown, render_table
    from taxcalc_consent.infra.graph.audit import audit_document, audit_tenant
    from taxcalc_consent.infra.graph.client import GraphError

    textual = output_format is not ReportFormat.table
    if json_output and textual and out is None:
        raise UsageError("--json prints JSON on stdout; write the md/html report with --out FILE")
    from taxcalc_consent.cli.fleet.pipeline import load_plans

    if output_format is ReportFormat.html:
        check_report_folder(out)
    else:
        check_out(out)
    plans = load_plans(paths, notify=say)
    results = per_tenant(plans, cloud, graph_endpoint, parallel, audit_tenant, debug=is_debug(ctx))
    tenants: list[AuditTenant | FailedTenant] = [
        {
            "tenant": plan.tenant,
            "file": plan.file,
            "tenant_id": plan.tenant_id,
            "name": plan.tenant_name,
            "domain": plan.tenant_domain,
            "error": str(result),
        }
        if isinstance(result, GraphError)
        else result
        for plan, result in results
    ]
    document: AuditDocument = audit_document(tenants)
    if json_output or textual:
        # The table says each failure under its tenant; otherwise one line a tenant, in the files' order.
        for entry in tenants:
            if "error" in entry:
                say(f"{entry['tenant']}: failed: {entry['error']}")
    if output_format is ReportFormat.html:
        assert out is not None  # check_report_folder refused none
        if all("error" in t for t in tenants):
            say(f"no tenant could be read, so no report was written to {out}: see each tenant's error above")
            emit(document, json_output=json_output, out=None)
            return ExitCode.FAILED
        write_report(out, document, prepared_by)
        emit(document, json_output=json_output, out=None)
    elif textual:
        text = render_markdown(document)
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


def check_report_folder(out: Path | None) -> None:
    """The HTML report is a folder (a page per client and an index): refuse, before any read, what cannot be one."""
    if out is None:
        raise UsageError("--format html writes a folder: name it with --out DIR (a page per client and index.html)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: --format html writes a folder, and {out} is a file")
    if not out.exists() and out.suffix.lower() in (".html", ".htm"):
        raise UsageError(
            f"--out {out}: --format html writes a folder (a page per client and index.html): name the folder, "
            f"e.g. --out {out.with_suffix('')}"
        )
    if not out.exists() and not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")


def write_report(folder: Path, document: AuditDocument, prepared_by: str) -> None:
    """The client pages and the index, each written atomically; the folder is made if missing."""
    from datetime import UTC, datetime

    from taxcalc_consent.cli.ui.audit_html import INDEX, render_pages

    folder.mkdir(exist_ok=True)
    pages = render_pages(document, prepared_by, datetime.now(UTC))
    for name, text in pages.items():
        write_out(folder / name, text)
    say(f"report for {len(pages) - 1} client(s): open {folder / INDEX}")
