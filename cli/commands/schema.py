from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from taxcalc_consent.cli.fleet.exit_codes import ExitCode
from taxcalc_consent.cli.ui.console import check_out, emit
from taxcalc_consent.cli.ui.options import OutOpt


class SchemaName(StrEnum):
    tenant = "tenant"
    plan = "plan"
    validate = "validate"
    run = "run"
    review = "review"
    audit = "audit"
    adopt = "adopt"
    discover = "discover"


def schema(
    ctx: typer.Context,
    name: Annotated[
        SchemaName,
        typer.Argument(
            metavar="[NAME]",
            help="tenant (the tenant file), or a document: plan, validate, run, review, audit, adopt, discover.",
        ),
    ] = SchemaName.tenant,
    out: OutOpt = None,
) -> ExitCode:
    """Print a JSON Schema (generated from the code): the tenant file's, or one of the tool's JSON documents."""
    check_out(out)
    emit(schema_document(name), json_output=out is None, out=out)
    return ExitCode.OK


def schema_document(name: SchemaName) -> dict[str, object]:
    if name is SchemaName.tenant:
        from taxcalc_consent.infra.model.schema import tenant_file_schema

        return tenant_file_schema()
    from taxcalc_consent.infra.model.document_json import document_schema

    return document_schema(name.value)
