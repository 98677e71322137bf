from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.example_tenants import copy_examples
from tests.fakes.ids import HUB_CLIENT_ID

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "tenants"

CLIENT_ID = HUB_CLIENT_ID
TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def tenants_dir(tmp_path: Path) -> Path:
    """An empty tenants folder whose _defaults.yaml supplies TaxCalc-Hub's client id."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def hub_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/tenants copied once for the run with TaxCalc-Hub's test id, the one the emulated tenants know:
    for tests that deploy the examples (the bundled folder's placeholder is known to no tenant, as in Entra)."""
    return copy_examples(tmp_path_factory.mktemp("examples") / "tenants")


def no_notices(notice: str) -> None:
    """A load's ``notify`` for folders that hold no near-miss file: a notice there is a test's mistake."""
    raise AssertionError(f"unexpected notice: {notice}")
