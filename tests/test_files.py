"""The one reader of files the tool did not make refuses a file over its limit itself (infra/model/files.py),
and each reader of such a file still says it in its own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taxcalc_consent.cli.fleet import review
from taxcalc_consent.infra.graph.signin import CREDENTIAL_FILE_LIMIT, CredentialError, sign_in
from taxcalc_consent.infra.model import files
from taxcalc_consent.infra.model.errors import TaxcalcConsentError
from taxcalc_consent.infra.model.spec import AuthSection
from taxcalc_consent.infra.model.workspace import MAX_SETTINGS_BYTES, read_stack_settings
from tests.conftest import TENANT_ID

APP = "8a3c4d2e-5b6f-4a7b-9c8d-0e1f2a3b4c5d"


def test_a_file_at_the_limit_is_read_whole_and_one_over_it_is_refused_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 10)
    assert files.read_regular_file(path, 10) == b"x" * 10
    path.write_bytes(b"x" * 25)
    with pytest.raises(files.TooLarge) as raised:
        files.read_regular_file(path, 10, expected="a small file")
    assert (raised.value.size, raised.value.limit) == (25, 10)
    assert str(raised.value) == "larger than 10 bytes; not a small file"
    assert isinstance(raised.value, files.Unreadable)  # a caller catching Unreadable refuses it too


def test_the_head_of_a_file_is_read_whatever_its_size(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.yaml"
    path.write_bytes(b"name: x\n" + b"#" * 10_000)
    assert files.read_file_head(path, 8) == b"name: x\n"
    assert files.read_file_head(tmp_path / "Pulumi.yaml", 100_000) == path.read_bytes()


def test_a_reviewed_plan_over_the_limit_is_refused_naming_the_file_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "MAX_DOCUMENT_BYTES", 16)
    path = tmp_path / "plan.json"
    path.write_text('{"format": "taxcalc-consent/review@1"}', encoding="utf-8")
    message = f"--plan {path}: larger than 16 bytes; not the file `plan --out` wrote"
    with pytest.raises(review.ReviewError, match=re.escape(message) + "$"):
        review.read_review(path)


def test_stack_settings_over_one_mib_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_bytes(b"#" * (MAX_SETTINGS_BYTES + 1))
    message = f"{path}: larger than 1 MiB; expected a Pulumi stack config file"
    with pytest.raises(TaxcalcConsentError, match=re.escape(message) + "$"):
        read_stack_settings(path)


def test_a_credential_file_over_its_limit_is_refused_naming_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"x" * (CREDENTIAL_FILE_LIMIT + 1))
    message = f"ARM_OIDC_TOKEN_FILE_PATH: {path} is larger than a OIDC token can be ({CREDENTIAL_FILE_LIMIT} bytes)"
    with pytest.raises(CredentialError, match=re.escape(message) + "$"):
        sign_in(TENANT_ID, AuthSection(method="oidc", client_id=APP), {"ARM_OIDC_TOKEN_FILE_PATH": str(path)})
