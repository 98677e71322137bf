from __future__ import annotations

from taxcalc_consent.cli.console import print_json
from taxcalc_consent.infra.schema import tenant_file_schema


def schema() -> None:
    """Print the JSON Schema of the tenant file (generated from the model) for editors and CI."""
    print_json(tenant_file_schema())
