from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from taxcalc_consent.cli.audit_render import render_html, render_markdown, render_table
from taxcalc_consent.cli.commands.validate import PathsArg
from taxcalc_consent.cli.console import err, fail, is_debug, print_json, user_errors
from taxcalc_consent.cli.exit_codes import ExitCode
from taxcalc_consent.cli.pipeline import load_plans
from taxcalc_consent.infra.audit import TenantSnapshot, audit_document, audit_tenant, read_tenant
from taxcalc_consent.infra.graph import Cloud, GraphError, client_for_tenant, graph_base_url
from taxcalc_consent.infra.plan import ConsentPlan

GraphEndpointOption = Annotated[
    str | None,
    typer.Option(
        "--graph-endpoint",
        metavar="URL",
        help="Microsoft Graph root to use instead of the cloud's (sovereign clouds, or a local emulator).",
    ),
]


class CloudName(StrEnum):
    public = "public"
    usgov = "usgov"
    china = "china"


class ReportFormat(StrEnum):
    table = "table"
    md = "md"
    html = "html"


CloudOption = Annotated[CloudName, typer.Option("--cloud", help="Microsoft cloud (Graph and sign-in endpoints).")]

T = TypeVar("T")


def per_tenant(
    plans: list[ConsentPlan],
    cloud: CloudName,
    endpoint: str | None,
    debug: bool,
    work: Callable[[ConsentPlan, TenantSnapshot], T],
) -> list[tuple[ConsentPlan, T | GraphError]]:
    """Run ``work(plan, snapshot)`` for every tenant; a Graph failure is recorded and the others still run."""
    selected: Cloud = "usgov" if cloud is CloudName.usgov else "china" if cloud is CloudName.china else "public"
    try:
        graph_base_url(selected, endpoint)
    except GraphError as exc:
        fail(str(exc))
    results: list[tuple[ConsentPlan, T | GraphError]] = []
    for plan in plans:
        try:
            with client_for_tenant(plan.tenant_id, plan.auth, selected, endpoint) as client:
                results.append((plan, work(plan, read_tenant(client, plan))))
        except GraphError as exc:
            if debug:
                raise
            err.print(f"{plan.tenant}: {exc}", markup=False, highlight=False)
            results.append((plan, exc))
    return results


def audit(
    ctx: typer.Context,
    paths: PathsArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print the audit@1 JSON document on stdout.")] = False,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Human report: table (terminal), md or html.")
    ] = ReportFormat.table,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the md/html report here.")] = None,
    graph_endpoint: GraphEndpointOption = None,
    cloud: CloudOption = CloudName.public,
) -> None:
    """Read each tenant's consent posture from Microsoft Graph (read-only) and compare it with its file.

    Exit 0 when every tenant matches its file, 3 when there are differences, 1 when Graph failed for a
    tenant (the others still run), 2 on invalid input.
    """
    if json_output and output_format is not ReportFormat.table and out is None:
        fail("--json prints JSON on stdout; write the md/html report with --out FILE")
    debug = is_debug(ctx)
    with user_errors(debug):
        plans = load_plans(paths)
        results = per_tenant(plans, cloud, graph_endpoint, debug, audit_tenant)
    tenants: list[dict[str, Any]] = []
    for plan, result in results:
        if isinstance(result, GraphError):
            tenants.append(
                {"tenant": plan.tenant, "file": plan.file, "tenant_id": plan.tenant_id, "error": str(result)}
            )
        else:
            tenants.append(result)
    document = audit_document(tenants)
    if json_output:
        print_json(document)
    if output_format is ReportFormat.table and not json_output:
        render_table(document)
    elif output_format is not ReportFormat.table:
        text = render_markdown(document) if output_format is ReportFormat.md else render_html(document)
        if out is None:
            typer.echo(text, nl=False)
        else:
            _write_report(out, text)
            err.print(f"wrote {out}", markup=False, highlight=False)
    failed = sum(1 for t in tenants if "error" in t)
    differing = sum(1 for t in tenants if t.get("differences"))
    err.print(f"{len(tenants)} tenant(s) audited: {differing} with differences, {failed} failed", markup=False)
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))
    if differing:
        raise typer.Exit(int(ExitCode.CHANGES))


def _write_report(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror}", ExitCode.FAILED)
