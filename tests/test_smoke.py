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


def test_a_mistyped_choice_is_said_in_plain_words() -> None:
    """Typer checks choices through pydantic, whose messages begin "Value error, ": that is library
    vocabulary, not something the user typed or can act on, so the usage line leaves it out."""
    cases = [
        (["schema", "bogus"], "Error: Invalid value for '[NAME]': 'bogus' is not one of"),
        (["audit", "--cloud", "mars", str(EXAMPLES)], "Error: Invalid value for '--cloud': 'mars' is not one of"),
        (["audit", "--format", "pdf", str(EXAMPLES)], "Error: Invalid value for '--format': 'pdf' is not one of"),
    ]
    for args, expected in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr, result.stderr
        assert "Value error" not in result.output


def test_version_prints_the_installed_version_and_exits_0() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"taxcalc-consent {version('taxcalc-consent')}\n"
