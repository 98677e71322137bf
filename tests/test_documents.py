"""The output layer: each document's schema is generated from its type and committed, current, and closed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxcalc_consent.cli.commands.schema import SchemaName, schema_document
from taxcalc_consent.cli.main import app
from taxcalc_consent.infra.model.document_json import encode_item, to_json, write_encoded
from taxcalc_consent.infra.model.documents import PLAN_FORMAT
from tests.documents import SCHEMA_DIR, check_document

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", list(SchemaName))
def test_the_committed_schema_is_the_one_the_code_generates(name: SchemaName) -> None:
    committed = (SCHEMA_DIR / f"{name.value}.schema.json").read_text("utf-8")
    assert committed == to_json(schema_document(name)), (
        f"schema/{name.value}.schema.json is stale: run `taxcalc-consent schema {name.value} --out "
        f"schema/{name.value}.schema.json` and review the change"
    )


@pytest.mark.parametrize("golden", ["plan-examples.json", "audit-fabrikam.json"])
def test_golden_documents_match_their_schema(golden: str) -> None:
    check_document(json.loads((GOLDEN / golden).read_text("utf-8")))


def test_a_key_the_type_does_not_name_fails_the_schema() -> None:
    document = json.loads((GOLDEN / "plan-examples.json").read_text("utf-8"))
    document["tenants"][0]["app"]["display_name"] = "TaxCalc-Hub"
    with pytest.raises(AssertionError, match="display_name"):
        check_document(document)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_streamed_document_is_byte_identical_to_the_whole_one(count: int) -> None:
    tenants = [{"tenant": f"t{i}", "grants": [{"scopes": ["a", "b"]}], "empty": [], "none": None} for i in range(count)]
    stream = io.StringIO()
    write_encoded(stream, {"format": PLAN_FORMAT}, (encode_item(t) for t in tenants))
    whole = to_json({"format": PLAN_FORMAT, "tenants": tenants})
    assert stream.getvalue() == whole
    assert whole == json.dumps({"format": PLAN_FORMAT, "tenants": tenants}, indent=2, ensure_ascii=False) + "\n"


def test_schema_command_writes_with_out_and_prints_without(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["schema", "run"])
    assert printed.exit_code == 0
    assert json.loads(printed.stdout)["$id"].endswith("/run.schema.json")
    target = tmp_path / "run.schema.json"
    written = runner.invoke(app, ["schema", "run", "--out", str(target)])
    assert written.exit_code == 0 and written.stdout == ""
    assert target.read_text("utf-8") == printed.stdout
