from __future__ import annotations

from typer.testing import CliRunner

from taxcalc_consent.cli.main import app
from tests.conftest import EXAMPLES
from tests.documents import parse_document


def test_examples_validate_and_plan() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["plan", "--offline", "--json", str(EXAMPLES)])
    assert result.exit_code == 0
    document = parse_document(result.stdout)
    assert [t["tenant"] for t in document["tenants"]] == ["contoso", "fabrikam", "lab", "northwind"]
