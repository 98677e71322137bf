from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "tenants"

CLIENT_ID = "5a1e0000-7ac0-4c1c-9000-00000000c0de"
TENANT_ID = "6e2b1a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@pytest.fixture
def tenants_dir(tmp_path: Path) -> Path:
    """An empty tenants folder whose _defaults.yaml supplies TaxCalc-Hub's client id."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "_defaults.yaml").write_text(f"app:\n  client_id: {CLIENT_ID}\n", encoding="utf-8")
    return folder
